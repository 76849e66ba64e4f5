"""Forms of the API clients' admin pages. Each takes its choices in the constructor; the
service (cases/partners/clients.py) makes the real checks and names the field it refuses
beside (ClientError.field), so the forms check only what a browser can get wrong."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from cases.casework.forms import ChoiceField
from cases.partners.clients import GRACE_HOURS_MAX, NAME_MAX
from protection.forms import REQUIRED, FlexibleDateField
from protection.i18n import LANGUAGE_NAMES
from protection.identity import CLEARANCE_ORDER, Clearance


class ClientForm(FlaskForm):
    """A new API client. Field names are create_client's (body, name, expires_on, networks,
    clearance, locale), so a refusal lands beside its field."""

    body = ChoiceField(_l("Cơ quan phối hợp"), validators=[InputRequired(REQUIRED)])
    name = StringField(_l("Tên máy khách (hệ thống của cơ quan)"),
                       validators=[InputRequired(REQUIRED), Length(max=NAME_MAX)],
                       render_kw={"placeholder": _l("Ví dụ: Hệ thống nghiệp vụ Công an tỉnh")})
    clearance = ChoiceField(_l("Mức tiếp cận bí mật của tài khoản API"), validators=[InputRequired(REQUIRED)],
                            default=Clearance.CONFIDENTIAL.value)
    expires_on = FlexibleDateField(_l("Ngày hết hạn (ngày cuối cùng còn dùng được; để trống: không hết hạn)"),
                                   validators=[Optional()])
    networks = TextAreaField(_l("Địa chỉ được phép gọi (mỗi dòng một địa chỉ hoặc dải mạng, ví dụ 10.1.2.0/24; "
                                "để trống: mọi địa chỉ)"), validators=[Optional(), Length(max=2000)])
    locale = ChoiceField(_l("Ngôn ngữ của thông báo lỗi"), validators=[Optional()], default="vi")
    submit = SubmitField(_l("Đăng ký và cấp mã truy cập"))

    def __init__(self, *args, bodies=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.body.choices = [("", _l("— Chọn cơ quan —"))] + [(unit.code, f"{unit.code} — {unit.name}")
                                                               for unit in bodies]
        self.clearance.choices = [(level.value, level.label) for level in CLEARANCE_ORDER]
        self.locale.choices = list(LANGUAGE_NAMES.items())

    def network_lines(self) -> list[str]:
        return (self.networks.data or "").splitlines()


class RotateForm(FlaskForm):
    grace_hours = IntegerField(_l("Mã cũ còn dùng được thêm (giờ)"),
                               validators=[InputRequired(REQUIRED), NumberRange(
                                   min=0, max=GRACE_HOURS_MAX,
                                   message=_l("Từ 0 đến %(max)d giờ.", max=GRACE_HOURS_MAX))])
    submit = SubmitField(_l("Cấp mã mới"))
