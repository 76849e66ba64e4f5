"""Forms of the guidance library: publishing an item with its first version, a later version,
withdrawing, and confirming one has read a version. cases/oversight/guidance.py makes the
real checks and names the field it refuses; the cross-checks here only show every error at
once."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import BooleanField, HiddenField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from cases.casework.forms import ChoiceField, RadioChoiceField
from cases.oversight import guidance as operations
from protection.forms import REQUIRED, FlexibleDateField, WholeForm

FILES_LABEL = _l("Tệp văn bản (PDF, DOCX, ODT, JPEG, PNG, TIFF; chọn được nhiều tệp)")
NO_FILE = _l("Hãy đính kèm ít nhất một tệp.")


def chosen_files(field) -> list:
    return [item for item in (field.data or []) if getattr(item, "filename", None)]


class VersionFields(WholeForm):
    effective_on = FlexibleDateField(_l("Ngày có hiệu lực"), validators=[InputRequired(REQUIRED)],
                                     render_kw={"placeholder": "dd/mm/yyyy"})
    note = TextAreaField(_l("Điểm mới, nội dung thay đổi"), validators=[Optional(), Length(max=operations.NOTE_MAX)])
    files = MultipleFileField(FILES_LABEL)

    previous_effective_on: date | None = None

    def cross_checks(self):
        if not chosen_files(self.files):
            yield "files", NO_FILE
        day, previous = self.effective_on.parsed, self.previous_effective_on
        if day is not None and previous is not None and day < previous:
            yield "effective_on", _l("Ngày có hiệu lực không được trước ngày có hiệu lực của phiên bản trước "
                                     "(%(day)s).", day=previous.strftime("%d/%m/%Y"))


class GuidanceForm(VersionFields):
    form_token = HiddenField()  # one-time: a second submit of the same form publishes nothing twice
    kind = RadioChoiceField(_l("Loại văn bản"), validators=[InputRequired(REQUIRED)])
    title = StringField(_l("Tiêu đề"), validators=[InputRequired(REQUIRED), Length(max=operations.TITLE_MAX)])
    required_reading = BooleanField(_l("Bắt buộc đọc: mọi cán bộ nhận văn bản phải xác nhận đã đọc từng phiên bản"))
    submit = SubmitField(_l("Ban hành"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = list(operations.KINDS.items())


class VersionForm(VersionFields):
    submit = SubmitField(_l("Ban hành phiên bản mới"))

    def __init__(self, *args, previous=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.previous_effective_on = previous.effective_on if previous is not None else None


class WithdrawForm(FlaskForm):
    confirm = BooleanField(_l("Tôi xác nhận bãi bỏ hướng dẫn này: người nhận sẽ không còn được yêu cầu đọc"),
                           validators=[InputRequired(_l("Hãy đánh dấu để xác nhận bãi bỏ."))])
    submit = SubmitField(_l("Bãi bỏ"))


class ReadForm(FlaskForm):
    """The "I have read this version" button: its CSRF token only."""


class LibraryFilterForm(FlaskForm):
    class Meta:
        csrf = False

    kind = ChoiceField(_l("Loại văn bản"), validators=[Optional()])
    withdrawn = BooleanField(_l("Hướng dẫn đã bãi bỏ"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = [("", _l("— Tất cả —"))] + list(operations.KINDS.items())
