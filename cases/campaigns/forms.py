"""Forms of review campaigns: creating one, adding nominees (a CSV or picked dossiers), the
board's filters, its bulk actions, and the summary's print. Each takes its choices in the
constructor; the operations (cases/campaigns/operations.py) make the real checks and name
the field they refuse beside (CampaignError.field)."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, StringField, SubmitField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from cases import labels
from cases.casework.forms import ChoiceField, clearance_choices, uuid_in
from cases.printing.forms import PrintForm
from protection.forms import REQUIRED, FlexibleDateField, WholeForm
from protection.i18n import local_today

# The largest list a board's bulk action takes at once: a page holds 50 rows, "select all
# matching" is not offered; a forged request with thousands of ids is cut to the first
# MAX_CHOSEN (a page's ticks always fit), never run in full.
MAX_CHOSEN = 500


class CampaignForm(WholeForm):
    """A new campaign. Field names are CampaignData's, so an operation's refusal lands beside
    the field it names."""

    form_token = HiddenField()
    purpose = ChoiceField(_l("Mục đích"), validators=[InputRequired(REQUIRED)])
    title = StringField(_l("Tên đợt thẩm định"), validators=[InputRequired(REQUIRED), Length(max=300)],
                        render_kw={"placeholder": _l("Ví dụ: Nhân sự Đại hội Đảng bộ tỉnh nhiệm kỳ 2025–2030")})
    owner_unit_id = ChoiceField(_l("Đơn vị chủ trì"), validators=[InputRequired(REQUIRED)])
    due_on = FlexibleDateField(_l("Hạn hoàn thành"), validators=[InputRequired(REQUIRED)],
                               render_kw={"placeholder": "dd/mm/yyyy"})
    classification = ChoiceField(_l("Độ mật"), validators=[InputRequired(REQUIRED)])
    submit = SubmitField(_l("Tạo đợt thẩm định"))

    def __init__(self, *args, user=None, purposes=(), units=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.purpose.choices = [("", _l("— Chọn mục đích —"))] + [
            (purpose.key, labels.CAMPAIGN_PURPOSES.get(purpose.key, purpose.key)) for purpose in purposes]
        self.owner_unit_id.choices = [(str(unit.id), f"{unit.code} — {unit.name}") for unit in units]
        self.classification.choices = clearance_choices(user)

    def cross_checks(self):
        if self.due_on.parsed and self.due_on.parsed < local_today():
            yield "due_on", _l("Hạn hoàn thành không được ở trong quá khứ.")


class NomineeFileForm(FlaskForm):
    file = FileField(_l("Tệp danh sách (CSV, UTF-8)"))
    skip_invalid = BooleanField(_l("Bỏ qua các dòng không hợp lệ, chỉ thêm các dòng đúng"))
    submit = SubmitField(_l("Thêm nhân sự từ tệp"))

    def validate_file(self, field):
        if not getattr(field.data, "filename", None):
            raise ValidationError(_l("Hãy chọn tệp."))


# The roster parser's reasons, for a row or the whole file (cases/subjects/roster.py), and the
# campaign's own (operations.ABOUT_YOURSELF) are English, for the command line;
# the page says them in the interface language. They name a column, never a value; one this
# table does not know is shown as it is.
_REASONS = (
    (re.compile(r"^(?P<column>\w+) is empty$"), _l("cột %(column)s để trống")),
    (re.compile(r"^(?P<column>\w+) is longer than (?P<count>\d+) characters$"), _l("cột %(column)s dài quá %(count)s ký tự")),
    (re.compile(r"^id_number must be"), _l("số định danh phải gồm 12 chữ số (CCCD) hoặc 9 chữ số (CMND)")),
    (re.compile(r"^date_of_birth must be"), _l("ngày sinh phải theo dạng dd/mm/yyyy")),
    (re.compile(r"^date_of_birth is not a plausible"), _l("ngày sinh không hợp lý")),
    (re.compile(r"^sex must be"), _l("giới tính phải là Nam hoặc Nữ")),
    (re.compile(r"^ID number repeats line (?P<line>\d+)$"), _l("số định danh trùng với dòng %(line)s")),
    (re.compile(r"^expected (?P<expected>\d+) fields, found (?P<found>\d+)$"), _l("cần %(expected)s cột, dòng này có %(found)s")),
    (re.compile(r"^not valid CSV"), _l("không đúng định dạng CSV")),
    (re.compile(r"^the file is not UTF-8"), _l("tệp không ở dạng UTF-8: hãy lưu lại dạng CSV UTF-8 rồi thử lại")),
    (re.compile(r"^the file is empty"), _l("tệp trống: cần có dòng tiêu đề")),
    (re.compile(r"^line 1: missing column\(s\): (?P<columns>.+)$"), _l("dòng 1: thiếu cột %(columns)s")),
    (re.compile(r"^line 1: unknown column\(s\): (?P<columns>.+)$"), _l("dòng 1: có cột không dùng được %(columns)s")),
    (re.compile(r"^line 1: column\(s\) given twice: (?P<columns>.+)$"), _l("dòng 1: cột bị lặp %(columns)s")),
    (re.compile(r"^line 1: not valid CSV"), _l("dòng 1: không đúng định dạng CSV")),
    (re.compile(r"^the nominee is you"), _l("người này là bạn hoặc thân nhân đã khai của bạn: người khác phải thêm dòng này")),
)


def problem_text(reason: str) -> str:
    """A refused row's reason in the interface language."""
    for pattern, text in _REASONS:
        match = pattern.match(reason)
        if match:
            return str(text) % match.groupdict()
    return reason


class DossierSearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Tìm hồ sơ đối tượng theo họ tên, số định danh, hoặc họ tên kèm ngày sinh"),
                    validators=[Optional(), Length(max=200)],
                    render_kw={"placeholder": _l("Ví dụ: trần văn; hòa 01/02/1980; 001080000001")})
    submit = SubmitField(_l("Tìm"))


class BoardFilterForm(FlaskForm):
    class Meta:
        csrf = False

    state = ChoiceField(_l("Tình trạng"), validators=[Optional()])
    unit = ChoiceField(_l("Đơn vị thẩm định"), validators=[Optional()])
    overdue = BooleanField(_l("Chỉ nhân sự quá hạn"))
    q = StringField(_l("Số định danh hoặc họ tên"), validators=[Optional(), Length(max=200)])
    submit = SubmitField(_l("Lọc"))

    def __init__(self, *args, units=(), **kwargs):
        super().__init__(*args, **kwargs)
        everything = [("", _l("— Tất cả —"))]
        self.state.choices = everything + labels.choices(labels.NOMINEE_STATES)
        self.unit.choices = everything + [(str(unit.id), unit.code) for unit in units]


def chosen_ids(values) -> list:
    """The ids ticked on the board (checkbox values), in order, each once; what is not an id
    is dropped (a forged value names nothing)."""
    seen, ids = set(), []
    for value in values[:MAX_CHOSEN]:
        found = uuid_in(value)
        if found is not None and found not in seen:
            seen.add(found)
            ids.append(found)
    return ids


class BulkForm(FlaskForm):
    """The board's bulk actions share one form (its CSRF token); which action, whom, and to
    whom come from the buttons' own addresses and the ticked boxes (request.form lists)."""

    unit = ChoiceField(_l("Đơn vị cấp dưới"), validators=[Optional()])
    group = ChoiceField(_l("Chia đều cho cán bộ của đơn vị"), validators=[Optional()])
    due_on = FlexibleDateField(_l("Hạn thẩm định (không muộn hơn hạn của đợt)"), validators=[Optional()],
                               render_kw={"placeholder": "dd/mm/yyyy"})

    def __init__(self, *args, units_below=(), groups=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.unit.choices = [("", _l("— Chọn đơn vị —"))] + [(str(unit.id), f"{unit.code} — {unit.name}")
                                                            for unit in units_below]
        self.group.choices = [("", _l("— Không —"))] + [(str(unit.id), f"{unit.code} — {unit.name}")
                                                       for unit in groups]


class CloseForm(FlaskForm):
    submit = SubmitField(_l("Kết thúc đợt thẩm định"))


class SummaryPrintForm(PrintForm):
    """Copies of the summary for the standing committee: the conclusion print's form, without
    its recipients (the list goes to the standing committee, whose copies the register counts)."""

    submit = SubmitField(_l("In danh sách tổng hợp (tải tệp PDF)"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, required=True, **kwargs)
        del self.recipients
