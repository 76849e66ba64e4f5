"""The periodic report's form: a period and a unit of the viewer's scope (a GET form: the
report changes nothing, and its query string names no person)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SubmitField
from wtforms.validators import DataRequired, ValidationError

from cases.casework.forms import ChoiceField
from protection.forms import REQUIRED, FlexibleDateField
from protection.identity import Unit

# Longer periods are still cheap (everything is grouped in SQL), but a typo such as 2062
# for 2026 deserves a word rather than a report of empty years.
MAX_YEARS = 10


class ReportForm(FlaskForm):
    class Meta:
        csrf = False

    start = FlexibleDateField(_l("Từ ngày"), validators=[DataRequired(REQUIRED)],
                              render_kw={"placeholder": "dd/mm/yyyy"})
    end = FlexibleDateField(_l("Đến ngày"), validators=[DataRequired(REQUIRED)],
                            render_kw={"placeholder": "dd/mm/yyyy"})
    unit = ChoiceField(_l("Đơn vị (gồm cả đơn vị trực thuộc)"), validators=[DataRequired(REQUIRED)],
                       validate_choice=False)
    submit = SubmitField(_l("Xem báo cáo"))

    def __init__(self, *args, units: list[Unit], **kwargs):
        super().__init__(*args, **kwargs)
        self.units = {unit.code: unit for unit in units}
        self.unit.choices = [(unit.code, f"{unit.name} ({unit.code})") for unit in units]

    def validate_end(self, field):
        if field.parsed and self.start.parsed:
            if field.parsed < self.start.parsed:
                raise ValidationError(_l("Ngày kết thúc phải sau hoặc bằng ngày bắt đầu."))
            if (field.parsed - self.start.parsed).days > 366 * MAX_YEARS:
                raise ValidationError(_l("Kỳ báo cáo dài quá %(years)d năm.", years=MAX_YEARS))

    def validate_unit(self, field):
        if field.data not in self.units:
            raise ValidationError(_l("Đơn vị này không thuộc phạm vi bạn được xem báo cáo. Hãy chọn trong danh sách."))

    @property
    def chosen_unit(self) -> Unit:
        return self.units[self.unit.data]
