"""The auditor's filter form (GET, no CSRF: it changes nothing)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import Length, Optional, Regexp, ValidationError

from protection.forms import FlexibleDateField

from .targets import TargetLookupError, resolve_target, user_id_for

# A year like 1 or 9999 overflows once turned into a UTC moment for the query (and is a typo).
FIRST_YEAR, LAST_YEAR = 1900, 9998
TOO_LONG = _l("Không được dài quá %(max)d ký tự.")
IDENTIFIER = Regexp(r"^[A-Za-z0-9_.:@-]*$", message=_l("Chỉ gồm chữ không dấu, số và . _ - :"))


class TrailFilterForm(FlaskForm):
    class Meta:
        csrf = False

    actor = StringField(_l("Người thực hiện (tên đăng nhập)"), validators=[Optional(), Length(max=64, message=TOO_LONG), IDENTIFIER])
    action = StringField(_l("Hành động"), validators=[Optional(), Length(max=64, message=TOO_LONG), IDENTIFIER],
                         description=_l("Ví dụ: auth.login.failed; kết thúc bằng dấu chấm để lọc theo nhóm, như auth."))
    target_type = StringField(_l("Loại đối tượng"), validators=[Optional(), Length(max=32, message=TOO_LONG), IDENTIFIER],
                              render_kw={"list": "target-kinds"})
    target_id = StringField(_l("Đối tượng"), validators=[Optional(), Length(max=64, message=TOO_LONG), IDENTIFIER],
                            description=_l("Số hồ sơ (như BVCT-2026-000014), tên đăng nhập với loại user, "
                                           "hoặc mã của đối tượng."))
    outcome = SelectField(_l("Kết quả"), validators=[Optional()])
    date_from = FlexibleDateField(_l("Từ ngày"), validators=[Optional()], render_kw={"placeholder": "dd/mm/yyyy"})
    date_to = FlexibleDateField(_l("Đến ngày"), validators=[Optional()], render_kw={"placeholder": "dd/mm/yyyy"})
    submit = SubmitField(_l("Lọc"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Set here, not in the field's declaration: WTForms warns (deprecated) about
        # choices given as pairs there, and tests run with warnings as errors.
        self.outcome.choices = [("", _l("Tất cả")), ("success", _l("Thành công")),
                                ("failure", _l("Thất bại")), ("denied", _l("Bị từ chối"))]
        self.outcome.validate_choice = False  # checked below, with the message in Vietnamese

    # Whom and what the filters name, as the trail stores them (ids), once the fields are
    # valid: a username or a reference that names nothing is an error beside its field,
    # not an empty table that reads as "nobody did anything".
    def validate_actor(self, field):
        field.resolved = None
        if field.data and not field.errors:
            field.resolved = user_id_for(field.data)
            if field.resolved is None:
                raise ValidationError(_l("Không có người dùng nào có tên đăng nhập này."))

    def validate_target_id(self, field):
        field.resolved = None
        if field.data and not field.errors and not self.target_type.errors:
            try:
                field.resolved = resolve_target(self.target_type.data or None, field.data)
            except TargetLookupError as error:
                raise ValidationError(error.message) from None

    def validate_outcome(self, field):
        if field.data not in {value for value, _label in field.choices}:
            raise ValidationError(_l("Kết quả không hợp lệ."))

    def validate_date_from(self, field):
        _check_year(field)

    def validate_date_to(self, field):
        _check_year(field)
        start = getattr(self.date_from, "parsed", None)
        end = getattr(field, "parsed", None)
        if start and end and end < start:
            raise ValidationError(_l("Ngày kết thúc phải sau ngày bắt đầu."))


def _check_year(field) -> None:
    parsed = getattr(field, "parsed", None)
    if parsed is not None and not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise ValidationError(_l("Năm phải nằm trong khoảng %(first)d–%(last)d.", first=FIRST_YEAR, last=LAST_YEAR))
