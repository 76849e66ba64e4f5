"""The auditor's filter form (GET, no CSRF: it changes nothing)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import Length, Optional, Regexp, ValidationError

from protection.forms import FlexibleDateField

IDENTIFIER = Regexp(r"^[A-Za-z0-9_.:@-]*$", message=_l("Chỉ gồm chữ không dấu, số và . _ - :"))


class TrailFilterForm(FlaskForm):
    class Meta:
        csrf = False

    actor = StringField(_l("Người thực hiện (tên đăng nhập)"), validators=[Optional(), Length(max=64), IDENTIFIER])
    action = StringField(_l("Hành động"), validators=[Optional(), Length(max=64), IDENTIFIER],
                         description=_l("Ví dụ: auth.login.failed; kết thúc bằng dấu chấm để lọc theo nhóm, như auth."))
    target_type = StringField(_l("Loại đối tượng"), validators=[Optional(), Length(max=32), IDENTIFIER])
    target_id = StringField(_l("Mã đối tượng"), validators=[Optional(), Length(max=64), IDENTIFIER])
    outcome = SelectField(_l("Kết quả"), validators=[Optional()], choices=[
        ("", _l("Tất cả")), ("success", _l("Thành công")), ("failure", _l("Thất bại")), ("denied", _l("Bị từ chối")),
    ])
    date_from = FlexibleDateField(_l("Từ ngày"), validators=[Optional()], render_kw={"placeholder": "dd/mm/yyyy"})
    date_to = FlexibleDateField(_l("Đến ngày"), validators=[Optional()], render_kw={"placeholder": "dd/mm/yyyy"})
    submit = SubmitField(_l("Lọc"))

    def validate_date_to(self, field):
        start = getattr(self.date_from, "parsed", None)
        end = getattr(field, "parsed", None)
        if start and end and end < start:
            raise ValidationError(_l("Ngày kết thúc phải sau ngày bắt đầu."))
