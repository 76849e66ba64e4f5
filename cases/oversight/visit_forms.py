"""Forms of inspection visits: recording a visit, a recommendation, a sub-unit's report (text
and files), and the inspectors' decisions. Each takes its choices in the constructor; the
operations (cases/oversight/visits.py) make the real checks and name the field they refuse
beside (VisitError.field): a unit outside the scope, a due date before the visit."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import MultipleFileField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from cases.casework.forms import ChoiceField, clearance_choices
from protection.forms import REQUIRED, FlexibleDateField, WholeForm


def _unit_choices(units) -> list[tuple[str, str]]:
    return [("", _l("— Chọn đơn vị —"))] + [(str(unit.id), f"{unit.code} — {unit.name}") for unit in units]


class VisitForm(WholeForm):
    # Any unit id is taken here: the operation answers one outside the supervisor's scope
    # beside the field, in words, rather than as "not a valid choice".
    sub_unit_id = ChoiceField(_l("Đơn vị được kiểm tra"), validators=[InputRequired(REQUIRED)], validate_choice=False)
    visited_on = FlexibleDateField(_l("Ngày kiểm tra"), validators=[InputRequired(REQUIRED)],
                                   render_kw={"placeholder": "dd/mm/yyyy"})
    team = StringField(_l("Đoàn kiểm tra"), validators=[InputRequired(REQUIRED), Length(max=2000)],
                       render_kw={"placeholder": _l("Ví dụ: Trưởng đoàn và các thành viên")})
    scope = TextAreaField(_l("Nội dung, phạm vi kiểm tra"), validators=[InputRequired(REQUIRED), Length(max=20000)])
    findings = TextAreaField(_l("Kết quả kiểm tra"), validators=[Optional(), Length(max=20000)])
    classification = ChoiceField(_l("Độ mật"), validators=[InputRequired(REQUIRED)])
    submit = SubmitField(_l("Ghi nhận đợt kiểm tra"))

    def __init__(self, *args, user=None, units=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.sub_unit_id.choices = _unit_choices(units)
        self.classification.choices = clearance_choices(user)


class RecommendationForm(WholeForm):
    text = TextAreaField(_l("Nội dung khuyến nghị"), validators=[InputRequired(REQUIRED), Length(max=20000)])
    due_on = FlexibleDateField(_l("Hạn thực hiện"), validators=[InputRequired(REQUIRED)],
                               render_kw={"placeholder": "dd/mm/yyyy"})
    # Any unit id is taken here, as VisitForm.sub_unit_id: the operation says why one is refused.
    responsible_unit_id = ChoiceField(_l("Đơn vị thực hiện"), validators=[InputRequired(REQUIRED)],
                                      validate_choice=False)
    submit = SubmitField(_l("Lưu khuyến nghị"))

    def __init__(self, *args, visit=None, units=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.visit = visit
        self.responsible_unit_id.choices = _unit_choices(units)

    def cross_checks(self):
        if self.visit is not None and self.due_on.parsed and self.due_on.parsed < self.visit.visited_on:
            yield "due_on", _l("Hạn thực hiện không được trước ngày kiểm tra.")


class ReportForm(FlaskForm):
    body = TextAreaField(_l("Kết quả thực hiện khuyến nghị"), validators=[InputRequired(REQUIRED), Length(max=20000)])
    files = MultipleFileField(_l("Tệp kèm theo (PDF, JPEG, PNG, TIFF, DOCX, ODT; không bắt buộc)"))
    submit = SubmitField(_l("Gửi báo cáo"))

    def chosen_files(self) -> list:
        return [item for item in (self.files.data or []) if getattr(item, "filename", None)]


class AcceptForm(FlaskForm):
    accept_note = TextAreaField(_l("Ý kiến khi chấp nhận (không bắt buộc)"), validators=[Optional(), Length(max=2000)])
    submit = SubmitField(_l("Chấp nhận kết quả"))


class SendBackForm(FlaskForm):
    note = TextAreaField(_l("Lý do trả lại"), validators=[InputRequired(REQUIRED), Length(max=2000)])
    submit = SubmitField(_l("Trả lại để thực hiện tiếp"))


class WaiveForm(FlaskForm):
    reason = TextAreaField(_l("Lý do miễn thực hiện"), validators=[InputRequired(REQUIRED), Length(max=2000)])
    submit = SubmitField(_l("Miễn thực hiện khuyến nghị"))


class VisitButtonForm(FlaskForm):
    """A bare button (closing a visit): the CSRF token only."""


class VisitFilterForm(FlaskForm):
    class Meta:
        csrf = False

    state = ChoiceField(_l("Trạng thái"), validators=[Optional()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.state.choices = [("", _l("— Tất cả —")), ("open", _l("Đang thực hiện")), ("closed", _l("Đã kết thúc"))]
