"""Forms of conclusions: the draft, and the supervisor's approval (re-entering a password
or a TOTP code) or return. cases.conclusions.operations makes the real checks and names
the field it refuses."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from cases import labels
from cases.casework.forms import RadioChoiceField, VersionedForm
from protection.forms import REQUIRED, KeyAssertionFields, RequiredUnlessKey


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


class ApproveForm(KeyAssertionFields, VersionedForm):
    secret = PasswordField(_l("Nhập lại mật khẩu hoặc mã xác thực 6 số"), validators=[RequiredUnlessKey()],
                           render_kw={"autocomplete": "current-password"})
    submit = SubmitField(_l("Phê duyệt và ký"))


class ReturnForm(VersionedForm):
    comment = TextAreaField(_l("Ý kiến trả lại để cán bộ chỉnh sửa"),
                            validators=[InputRequired(REQUIRED), Length(max=10000)])
    submit = SubmitField(_l("Trả lại"))
