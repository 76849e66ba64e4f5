"""Forms of the archive register: a document's register fields, and a scan to upload.
The operations in cases/archive/register.py make the real checks (a date in the future, a
page count that is not positive, a level above the user's clearance) and name the field
they refuse, so the bulk import meets the same rules."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, IntegerField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from cases.archive import register
from cases.archive.vocabulary import document_type_choices
from cases.casework.forms import ChoiceField, clearance_choices
from protection.forms import REQUIRED, FlexibleDateField


class PageCountField(IntegerField):
    """A whole number, refused in Vietnamese when it is not one."""

    def process_formdata(self, valuelist):
        self.data = None
        if valuelist and valuelist[0].strip():
            try:
                self.data = int(valuelist[0].strip())
            except ValueError:
                self.data = None
                raise ValueError(_l("Số trang phải là số nguyên dương.")) from None


class DocumentForm(FlaskForm):
    doc_type = ChoiceField(_l("Loại văn bản"), validators=[InputRequired(REQUIRED)])
    number = StringField(_l("Số, ký hiệu"), validators=[Optional(), Length(max=register.MAX_NUMBER)],
                         render_kw={"placeholder": _l("Ví dụ: 125-QĐ/TU")})
    issued_on = FlexibleDateField(_l("Ngày ban hành"), validators=[Optional()], render_kw={"placeholder": "dd/mm/yyyy"})
    issuer = StringField(_l("Cơ quan ban hành"), validators=[Optional(), Length(max=register.MAX_ISSUER)])
    title = TextAreaField(_l("Trích yếu nội dung"), validators=[InputRequired(REQUIRED),
                                                               Length(max=register.MAX_TITLE)],
                          render_kw={"rows": 2})
    page_count = PageCountField(_l("Số trang"), validators=[Optional()], render_kw={"inputmode": "numeric"})
    # Only the levels the user's clearance covers are offered; any other value reaches the
    # operation, which refuses it beside this field with the reason.
    classification = ChoiceField(_l("Độ mật"), validators=[InputRequired(REQUIRED)], validate_choice=False)
    paper_original = BooleanField(_l("Có bản gốc giấy"), default=True)
    paper_location = StringField(_l("Nơi lưu bản gốc giấy"), validators=[Optional(), Length(max=register.MAX_LOCATION)],
                                 render_kw={"placeholder": _l("Ví dụ: Tủ 2, ngăn 3, hộp 15")})
    submit = SubmitField(_l("Lưu"))

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.doc_type.choices = [("", _l("— Chọn loại văn bản —")), *document_type_choices()]
        self.classification.choices = clearance_choices(user)

    def document_data(self) -> register.DocumentData:
        return register.DocumentData(
            doc_type=self.doc_type.data or "", title=self.title.data or "", number=self.number.data,
            issued_on=self.issued_on.parsed, issuer=self.issuer.data, page_count=self.page_count.data,
            classification=self.classification.data or "", paper_original=bool(self.paper_original.data),
            paper_location=self.paper_location.data)


class ScanForm(FlaskForm):
    file = FileField(_l("Tệp bản quét (PDF, TIFF, JPEG, PNG)"))
    submit = SubmitField(_l("Tải bản quét lên"))

    def validate_file(self, field):
        if not getattr(field.data, "filename", None):
            raise ValidationError(_l("Hãy chọn tệp."))
