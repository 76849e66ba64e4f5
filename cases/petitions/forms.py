"""Forms of petitions: receiving one, the intake decision, extending its deadline. Each
takes its context (choices) in the constructor; cases.petitions.operations makes the real
checks and names the field it refuses."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional

from cases import labels
from cases.casework.forms import ChoiceField, RadioChoiceField, VersionedForm, clearance_choices
from protection.forms import (
    REQUIRED,
    FlexibleDateField,
    KeyAssertionFields,
    RequiredUnlessKey,
    WholeForm,
)
from protection.i18n import local_today


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


# --- the release of the petitioner's identity (issue 23) ----------------------------------------

class ReleaseAskForm(FlaskForm):
    reason = TextAreaField(_l("Lý do cần biết danh tính người gửi đơn"),
                           validators=[InputRequired(REQUIRED), Length(max=2000)])
    submit = SubmitField(_l("Gửi đề nghị"))


class ReleaseApproveForm(KeyAssertionFields, FlaskForm):
    # Named `secret` as every re-authentication field (accounts.confirm_identity); a security
    # key's answer, in `assertion`, may stand in for it.
    secret = PasswordField(_l("Nhập lại mật khẩu hoặc mã xác thực 6 số"), validators=[RequiredUnlessKey()],
                           render_kw={"autocomplete": "current-password"})
    submit = SubmitField(_l("Phê duyệt mở danh tính"))


class ReleaseRefuseForm(FlaskForm):
    note = TextAreaField(_l("Lý do từ chối (không bắt buộc)"), validators=[Optional(), Length(max=2000)])
    submit = SubmitField(_l("Từ chối"))


class ReleaseButtonForm(FlaskForm):
    """A bare button (withdrawing one's ask): the CSRF token only."""
