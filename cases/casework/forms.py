"""Forms of case work: lists, opening reviews and petitions, the case page's actions,
conclusions and their approval. Each form takes its context (choices) in the constructor;
the operations in cases.* make the real checks and name the field they refuse."""

from __future__ import annotations

import re
import secrets

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
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


# --- opening ------------------------------------------------------------------------------

class ReviewForm(WholeForm):
    form_token = HiddenField()
    # Chosen on the subject's dossier ("Mở thẩm định"): the form never lists dossiers.
    subject_id = HiddenField()
    purpose = ChoiceField(_l("Mục đích thẩm định"), validators=[InputRequired(REQUIRED)])
    classification = ChoiceField(_l("Độ mật"), validators=[InputRequired(REQUIRED)])
    title = StringField(_l("Tiêu đề (không bắt buộc)"), validators=[Optional(), Length(max=300)])
    summary = TextAreaField(_l("Nội dung, yêu cầu thẩm định"), validators=[Optional(), Length(max=10000)])
    due_on = FlexibleDateField(_l("Hạn xử lý (không bắt buộc)"), validators=[Optional()],
                               render_kw={"placeholder": "dd/mm/yyyy"},
                               description=_l("Để trống: 30 ngày kể từ ngày mở hồ sơ."))
    submit = SubmitField(_l("Mở hồ sơ thẩm định"))

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.purpose.choices = [("", _l("— Chọn mục đích —"))] + labels.choices(labels.PURPOSES)
        self.classification.choices = clearance_choices(user)

    def cross_checks(self):
        # The case opens today (operations.open_review says the same).
        if self.due_on.parsed and self.due_on.parsed < local_today():
            yield "due_on", _l("Hạn xử lý không được trước ngày mở hồ sơ.")


class PetitionForm(WholeForm):
    form_token = HiddenField()
    received_on = FlexibleDateField(_l("Ngày nhận đơn"), validators=[InputRequired(REQUIRED)],
                                    render_kw={"placeholder": "dd/mm/yyyy"})
    channel = ChoiceField(_l("Hình thức nhận"), validators=[InputRequired(REQUIRED)])
    petition_type = ChoiceField(_l("Loại đơn"), validators=[InputRequired(REQUIRED)])
    anonymous = BooleanField(_l("Đơn không ký tên / mạo danh"))
    petitioner_name = StringField(_l("Họ tên người gửi đơn"), validators=[Optional(), Length(max=200)])
    petitioner_address = StringField(_l("Địa chỉ người gửi đơn"), validators=[Optional(), Length(max=300)])
    petitioner_contact = StringField(_l("Điện thoại, thư điện tử"), validators=[Optional(), Length(max=200)])
    subject_id_numbers = TextAreaField(_l("Số định danh của người bị phản ánh đã có hồ sơ (mỗi dòng một số)"),
                                       validators=[Optional(), Length(max=2000)])
    named_people = TextAreaField(_l("Người bị phản ánh khác (mỗi dòng một người)"),
                                 validators=[Optional(), Length(max=4000)])
    title = StringField(_l("Tiêu đề (không bắt buộc)"), validators=[Optional(), Length(max=300)])
    summary = TextAreaField(_l("Tóm tắt nội dung đơn"), validators=[InputRequired(REQUIRED), Length(max=20000)])
    classification = ChoiceField(_l("Độ mật"), validators=[InputRequired(REQUIRED)])
    repeat_of_reference = StringField(_l("Đơn trùng với đơn số (nếu có)"), validators=[Optional(), Length(max=32)],
                                      render_kw={"placeholder": "DT-2026-000012"})
    submit = SubmitField(_l("Tiếp nhận đơn"))

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.channel.choices = [("", _l("— Chọn —"))] + labels.choices(labels.CHANNELS)
        self.petition_type.choices = [("", _l("— Chọn —"))] + labels.choices(labels.PETITION_TYPES)
        self.classification.choices = clearance_choices(user)

    def cross_checks(self):
        # As petitions.receive_petition refuses them, but all in one pass.
        if self.received_on.parsed and self.received_on.parsed > local_today():
            yield "received_on", _l("Ngày nhận đơn không được ở tương lai.")
        if not self.anonymous.data:
            if not (self.petitioner_name.data or "").strip():
                yield "petitioner_name", _l("Hãy nhập họ tên người gửi đơn, hoặc đánh dấu đơn không ký tên.")
            if not (self.subject_id_numbers.data or "").strip() and not (self.named_people.data or "").strip():
                yield "named_people", _l("Hãy cho biết đơn liên quan đến ai (chọn đối tượng hoặc ghi tên).")


# --- the case page's actions ------------------------------------------------------------------

class VersionedForm(WholeForm):
    """Every form that changes a case says which version of it the user saw."""

    version = HiddenField()
    submit = SubmitField(_l("Xác nhận"))


class TransitionForm(VersionedForm):
    action = HiddenField()


# The ways of handling a petition that need the officer's reason (petitions.decide).
NOTE_NEEDED = {
    "accept": _l("Hãy ghi lý do thụ lý."),
    "forward": _l("Hãy ghi lý do chuyển đơn."),
    "keep_for_monitoring": _l("Hãy ghi lý do lưu theo dõi."),
}


class DecisionForm(VersionedForm):
    action = RadioChoiceField(_l("Cách xử lý đơn"), validators=[InputRequired(REQUIRED)])
    reason = ChoiceField(_l("Lý do lưu đơn không xử lý"), validators=[Optional()])
    forwarded_to = ChoiceField(_l("Chuyển đến cơ quan"), validators=[Optional()])
    complex_case = BooleanField(_l("Vụ việc phức tạp (khiếu nại: thời hạn 45 ngày)"))
    note = TextAreaField(_l("Lý do, ghi chú"), validators=[Optional(), Length(max=10000)])
    submit = SubmitField(_l("Ghi quyết định"))

    def __init__(self, *args, units=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.action.choices = labels.choices(labels.DECISIONS)
        self.reason.choices = [("", "—")] + labels.choices(labels.FILING_REASONS)
        self.forwarded_to.choices = [("", "—")] + [(str(unit.id), f"{unit.code} — {unit.name}") for unit in units]

    def cross_checks(self):
        # What each way of handling needs (petitions.decide), asked for all at once.
        action, note = self.action.data, (self.note.data or "").strip()
        if action == "forward" and not self.forwarded_to.data:
            yield "forwarded_to", _l("Hãy chọn cơ quan có thẩm quyền để chuyển đơn.")
        if action == "file" and not self.reason.data:
            yield "reason", _l("Hãy chọn lý do lưu đơn không xử lý.")
        if not note and action in NOTE_NEEDED:
            yield "note", NOTE_NEEDED[action]


class ExtendForm(VersionedForm):
    note = TextAreaField(_l("Lý do gia hạn"), validators=[InputRequired(REQUIRED), Length(max=4000)])
    submit = SubmitField(_l("Gia hạn"))


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


class ConclusionForm(VersionedForm):
    outcome = RadioChoiceField(_l("Kết luận"), validators=[InputRequired(REQUIRED)])
    admission_eligible = RadioChoiceField(_l("Đối với kết nạp Đảng"), validators=[Optional()])
    reasoning = TextAreaField(_l("Căn cứ, lý do"), validators=[InputRequired(REQUIRED), Length(max=50000)])
    submit = SubmitField(_l("Lưu dự thảo"))

    def __init__(self, *args, admission: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.outcome.choices = labels.choices(labels.OUTCOMES)
        self.admission_eligible.choices = labels.choices(labels.ELIGIBILITY)
        if not admission:
            del self.admission_eligible

    def eligible(self) -> bool | None:
        field = getattr(self, "admission_eligible", None)
        if field is None or not field.data:
            return None
        return field.data == "yes"


class ApproveForm(VersionedForm):
    secret = PasswordField(_l("Nhập lại mật khẩu hoặc mã xác thực 6 số"), validators=[InputRequired(REQUIRED)],
                           render_kw={"autocomplete": "current-password"})
    submit = SubmitField(_l("Phê duyệt và ký"))


class ReturnForm(VersionedForm):
    comment = TextAreaField(_l("Ý kiến trả lại để cán bộ chỉnh sửa"),
                            validators=[InputRequired(REQUIRED), Length(max=10000)])
    submit = SubmitField(_l("Trả lại"))


class BreakGlassForm(FlaskForm):
    reason = TextAreaField(_l("Lý do cần mở hồ sơ"), validators=[InputRequired(REQUIRED), Length(max=2000)])
    submit = SubmitField(_l("Mở khẩn cấp"))
