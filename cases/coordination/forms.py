"""Forms of coordination requests (phối hợp): the officer's request and decisions, the
liaison's acknowledgement, findings, files and answer. Each takes its context in the
constructor; the services decide, the forms only read and keep the input."""

from __future__ import annotations

import uuid

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from cases import labels, workflow
from cases.coordination.operations import SHAREABLE_RELATIVE_FIELDS, SHAREABLE_SUBJECT_FIELDS
from protection.forms import REQUIRED, FlexibleDateField
from protection.identity import CLEARANCE_ORDER, Clearance

# One vocabulary for both sides: the labels of cases/labels.py.
FINDING_CATEGORY_LABELS = labels.FINDING_CATEGORIES


class CheckboxListField(SelectMultipleField):
    """Several choices as checkboxes. Membership is checked by the form's own validator
    (a Vietnamese message) and again by the service."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("validate_choice", False)
        super().__init__(*args, **kwargs)


def _only_offered(form, field):
    offered = {value for value, _label in field.choices or ()}
    if not set(field.data or ()) <= offered:
        raise ValidationError(_l("Lựa chọn không hợp lệ."))


def _clearance_choices(*levels: Clearance) -> list[tuple[str, str]]:
    """Levels no higher than every one of `levels` (the user's clearance, the case's)."""
    ceiling = min(Clearance(level).rank for level in levels)
    return [(level.value, level.label) for level in CLEARANCE_ORDER if level.rank <= ceiling]


def parse_ids(values) -> list[uuid.UUID]:
    return [uuid.UUID(value) for value in values or ()]


class VersionedForm(FlaskForm):
    """A POST about a request: the version it was drawn from (optimistic locking)."""

    version = HiddenField()


class RequestForm(FlaskForm):
    """A new request: the body, the questions, the due date and the disclosure package."""

    body_unit_id = SelectField(_l("Cơ quan được đề nghị xác minh"), validators=[InputRequired(REQUIRED)])
    questions = TextAreaField(_l("Nội dung đề nghị xác minh"), validators=[InputRequired(REQUIRED), Length(max=10000)],
                              render_kw={"rows": 6})
    due_on = FlexibleDateField(_l("Hạn trả lời"), validators=[InputRequired(REQUIRED)],
                               render_kw={"placeholder": "dd/mm/yyyy"})
    subject_fields = CheckboxListField(_l("Thông tin đối tượng được chia sẻ"), validators=[_only_offered])
    relative_ids = CheckboxListField(_l("Người thân của đối tượng được chia sẻ"), validators=[_only_offered],
                                     description=_l("Cơ quan được đề nghị thấy quan hệ và họ tên của người thân được "
                                                    "chọn, cùng các thông tin đánh dấu dưới đây, và có thể ghi kết "
                                                    "quả xác minh về họ."))
    relative_fields = CheckboxListField(_l("Thông tin người thân được chia sẻ"), validators=[_only_offered])
    finding_ids = CheckboxListField(_l("Nội dung đã ghi nhận được chia sẻ"), validators=[_only_offered])
    attachment_ids = CheckboxListField(_l("Tệp đính kèm được chia sẻ"), validators=[_only_offered])
    version = HiddenField()
    form_token = HiddenField()
    submit = SubmitField(_l("Gửi yêu cầu"))

    def __init__(self, *args, bodies=(), findings=(), attachments=(), has_subject: bool = True, relatives=(),
                 finding_people=None, **kwargs):
        super().__init__(*args, **kwargs)
        finding_people = finding_people or {}
        self.relative_ids.choices = [(str(relative.id), label) for relative, label in relatives]
        self.relative_fields.choices = ([(name, str(label)) for name, label in SHAREABLE_RELATIVE_FIELDS.items()]
                                        if relatives else [])
        self.body_unit_id.choices = [("", "—")] + [(str(unit.id), f"{unit.code} — {unit.name}") for unit in bodies]
        self.subject_fields.choices = ([(name, str(label)) for name, label in SHAREABLE_SUBJECT_FIELDS.items()]
                                       if has_subject else [])
        self.finding_ids.choices = [(str(finding.id), _finding_choice(finding, finding_people.get(finding.id)))
                                    for finding in findings]
        self.attachment_ids.choices = [(str(item.id), item.blob.filename) for item in attachments]


def _finding_choice(finding, person: str | None = None) -> str:
    """Who it is about, category and the start of the text: this form is only shown to the
    case's officers."""
    text = " ".join((finding.text or "").split())
    short = text if len(text) <= 80 else text[:80] + "…"
    about = f"[{person}] " if person else ""
    return f"{about}{FINDING_CATEGORY_LABELS.get(finding.category, finding.category)}: {short}"


class FollowUpForm(VersionedForm):
    follow_up = TextAreaField(_l("Nội dung cần bổ sung"), validators=[InputRequired(REQUIRED), Length(max=10000)],
                              render_kw={"rows": 4})
    submit = SubmitField(_l("Yêu cầu bổ sung"))


class AcknowledgeForm(VersionedForm):
    submit = SubmitField(_l("Xác nhận đã nhận yêu cầu"))


class BodyFindingForm(VersionedForm):
    # Who may be named is decided by coordination.log_body_finding, which refuses with a
    # message beside this field; the form does not pre-empt it with a generic one.
    person = SelectField(_l("Người được ghi nhận"), validators=[Optional()], validate_choice=False)
    category = SelectField(_l("Loại nội dung"), validators=[InputRequired(REQUIRED)])
    text = TextAreaField(_l("Nội dung xác minh được"), validators=[InputRequired(REQUIRED), Length(max=10000)],
                         render_kw={"rows": 4})
    source = StringField(_l("Nguồn"), validators=[Optional(), Length(max=500)])
    found_on = FlexibleDateField(_l("Ngày ghi nhận"), validators=[Optional()],
                                 render_kw={"placeholder": "dd/mm/yyyy"})
    classification = SelectField(_l("Độ mật"), validators=[InputRequired(REQUIRED)])
    submit = SubmitField(_l("Ghi kết quả"))

    def __init__(self, *args, user_clearance=Clearance.UNCLASSIFIED, case_classification=Clearance.UNCLASSIFIED,
                 people=None, **kwargs):
        super().__init__(*args, **kwargs)
        # The people the body was told about (coordination.disclosed_people); a petition's
        # findings are about its content, not a person, so the field goes.
        if people:
            self.person.choices = list(people.items())
        else:
            del self.person
        self.category.choices = [(code, str(FINDING_CATEGORY_LABELS.get(code, code)))
                                 for code in workflow.FINDING_CATEGORIES]
        self.classification.choices = _clearance_choices(user_clearance, case_classification)


class AnswerFileForm(VersionedForm):
    file = FileField(_l("Tệp kèm theo trả lời"), validators=[FileRequired(REQUIRED)],
                     description=_l("PDF, JPEG, PNG, TIFF, DOCX hoặc ODT."))
    classification = SelectField(_l("Độ mật của tệp"), validators=[InputRequired(REQUIRED)])
    submit = SubmitField(_l("Tải tệp lên"))

    def __init__(self, *args, user_clearance=Clearance.UNCLASSIFIED, case_classification=Clearance.UNCLASSIFIED,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.classification.choices = _clearance_choices(user_clearance, case_classification)


class AnswerForm(VersionedForm):
    answer = TextAreaField(_l("Nội dung trả lời"), validators=[InputRequired(REQUIRED), Length(max=20000)],
                           render_kw={"rows": 6})
    submit = SubmitField(_l("Gửi trả lời"))
