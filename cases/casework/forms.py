"""Forms of case work: the lists' filter and the case page's actions (steps, assignment,
comments, files, findings, break-the-glass), and the pieces every case form is made of
(choice fields in Vietnamese, the version a changing form carries, one-time form tokens).
Each form takes its context (choices) in the constructor; the operations in cases.* make
the real checks and name the field they refuse."""

from __future__ import annotations

import re
import secrets
import uuid

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from cases import labels
from protection.forms import REQUIRED, FlexibleDateField, WholeForm
from protection.i18n import local_today
from protection.identity import CLEARANCE_ORDER, Clearance

NOT_A_CHOICE = _l("Lựa chọn không hợp lệ.")


def _allowed(field) -> set[str]:
    return {str(value) for value, _label in (field.choices or [])}


class ChoiceField(SelectField):
    """A select whose refusal of an unknown value is in Vietnamese."""

    def pre_validate(self, form):
        if self.validate_choice and self.data not in (None, "") and self.data not in _allowed(self):
            raise ValidationError(NOT_A_CHOICE)


class RadioChoiceField(RadioField):
    def pre_validate(self, form):
        if self.data not in (None, "") and self.data not in _allowed(self):
            raise ValidationError(NOT_A_CHOICE)


def clearance_choices(user, *, blank: bool = False) -> list[tuple[str, str]]:
    """The classification levels the user may set: those their clearance covers."""
    levels = [(level.value, level.label) for level in CLEARANCE_ORDER if Clearance(user.clearance).covers(level)]
    return ([("", _l("— Tất cả —"))] if blank else []) + levels


def new_form_token() -> str:
    return secrets.token_urlsafe(24)


FORM_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")


def form_token_in(text: str | None) -> str | None:
    """A one-time form token carried in a page's address (?form=...), if it looks like one."""
    return text if text and FORM_TOKEN_SHAPE.fullmatch(text) else None


def uuid_in(text) -> uuid.UUID | None:
    """An id carried in a form field or the page's address, if it is one."""
    try:
        return uuid.UUID(str(text)) if text else None
    except ValueError:
        return None


# --- lists --------------------------------------------------------------------------------

class CaseFilterForm(FlaskForm):
    class Meta:
        csrf = False

    kind = ChoiceField(_l("Loại hồ sơ"), validators=[Optional()])
    state = ChoiceField(_l("Trạng thái"), validators=[Optional()])
    classification = ChoiceField(_l("Độ mật"), validators=[Optional()])
    opened_from = FlexibleDateField(_l("Mở từ ngày"), validators=[Optional()], render_kw={"placeholder": "dd/mm/yyyy"})
    opened_to = FlexibleDateField(_l("Đến ngày"), validators=[Optional()], render_kw={"placeholder": "dd/mm/yyyy"})
    reference = StringField(_l("Số hiệu"), validators=[Optional(), Length(max=32)],
                            render_kw={"placeholder": "BVCT-2026-000123"})
    subject = StringField(_l("Đối tượng"), validators=[Optional(), Length(max=200)],
                          render_kw={"placeholder": _l("Họ tên, số định danh, hoặc họ tên, dd/mm/yyyy")})
    submit = SubmitField(_l("Lọc"))

    def __init__(self, *args, user=None, states=(), **kwargs):
        super().__init__(*args, **kwargs)
        everything = [("", _l("— Tất cả —"))]
        self.kind.choices = everything + labels.choices(labels.KINDS_SHORT)
        self.state.choices = everything + [(code, labels.state(code)) for code in states]
        self.classification.choices = clearance_choices(user, blank=True)

    def validate_opened_to(self, field):
        if field.parsed and self.opened_from.parsed and field.parsed < self.opened_from.parsed:
            raise ValidationError(_l("Ngày kết thúc phải sau hoặc bằng ngày bắt đầu."))


# --- the case page's actions ------------------------------------------------------------------

class VersionedForm(WholeForm):
    """Every form that changes a case says which version of it the user saw."""

    version = HiddenField()
    submit = SubmitField(_l("Xác nhận"))


class TransitionForm(VersionedForm):
    action = HiddenField()


class AssignForm(VersionedForm):
    officer = ChoiceField(_l("Cán bộ"), validators=[InputRequired(REQUIRED)])
    submit = SubmitField(_l("Phân công"))

    def __init__(self, *args, officers=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.officer.choices = [("", _l("— Chọn cán bộ —"))] + [(str(user.id), user.display_name) for user in officers]


class CommentForm(VersionedForm):
    body = TextAreaField(_l("Ý kiến"), validators=[InputRequired(REQUIRED), Length(max=10000)])
    submit = SubmitField(_l("Gửi ý kiến"))


class AttachmentForm(VersionedForm):
    file = FileField(_l("Tệp (PDF, JPEG, PNG, TIFF, DOCX, ODT)"))
    classification = ChoiceField(_l("Độ mật của tệp"), validators=[InputRequired(REQUIRED)])
    submit = SubmitField(_l("Tải lên"))

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.classification.choices = clearance_choices(user)

    def validate_file(self, field):
        if not getattr(field.data, "filename", None):
            raise ValidationError(_l("Hãy chọn tệp."))


class FindingForm(VersionedForm):
    person = ChoiceField(_l("Người được ghi nhận"), validators=[InputRequired(REQUIRED)])
    category = ChoiceField(_l("Loại nội dung"), validators=[InputRequired(REQUIRED)])
    text = TextAreaField(_l("Nội dung"), validators=[InputRequired(REQUIRED), Length(max=20000)])
    source = StringField(_l("Nguồn"), validators=[Optional(), Length(max=500)])
    found_on = FlexibleDateField(_l("Ngày ghi nhận"), validators=[Optional()], render_kw={"placeholder": "dd/mm/yyyy"})
    classification = ChoiceField(_l("Độ mật"), validators=[InputRequired(REQUIRED)])
    submit = SubmitField(_l("Lưu nội dung"))

    def __init__(self, *args, user=None, people=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.person.choices = [("", _l("— Chọn —"))] + list(people)
        self.category.choices = [("", _l("— Chọn —"))] + labels.choices(labels.FINDING_CATEGORIES)
        self.classification.choices = clearance_choices(user)

    def cross_checks(self):
        if self.found_on.parsed and self.found_on.parsed > local_today():
            yield "found_on", _l("Ngày ghi nhận không được ở tương lai.")


class BreakGlassForm(FlaskForm):
    reason = TextAreaField(_l("Lý do cần mở hồ sơ"), validators=[InputRequired(REQUIRED), Length(max=2000)])
    submit = SubmitField(_l("Mở khẩn cấp"))
