"""The unit board's period (a GET form: the board changes nothing, and its query string names
no person)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SubmitField
from wtforms.validators import DataRequired, ValidationError

from cases.reports.forms import MAX_YEARS
from protection.forms import REQUIRED, FlexibleDateField


class BoardPeriodForm(FlaskForm):
    class Meta:
        csrf = False

    start = FlexibleDateField(_l("Từ ngày"), validators=[DataRequired(REQUIRED)],
                              render_kw={"placeholder": "dd/mm/yyyy"})
    end = FlexibleDateField(_l("Đến ngày"), validators=[DataRequired(REQUIRED)],
                            render_kw={"placeholder": "dd/mm/yyyy"})
    submit = SubmitField(_l("Xem"))

    def validate_end(self, field):
        if field.parsed and self.start.parsed:
            if field.parsed < self.start.parsed:
                raise ValidationError(_l("Ngày kết thúc phải sau hoặc bằng ngày bắt đầu."))
            if (field.parsed - self.start.parsed).days > 366 * MAX_YEARS:
                raise ValidationError(_l("Kỳ báo cáo dài quá %(years)d năm.", years=MAX_YEARS))
