"""Forms of the domain: subjects (the people under review) and their relatives."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from cases.subjects.relations import RELATIONS, SEXES
from cases.subjects.roster import normalise_id_number
from protection.forms import REQUIRED, FlexibleDateField


def _id_number_check(form, field):
    if field.data and normalise_id_number(field.data) is None:
        raise ValidationError(_l("Số định danh gồm 12 chữ số (CCCD) hoặc 9 chữ số (CMND)."))


def _past_date(form, field):
    if field.parsed and (field.parsed > date.today() or field.parsed.year < 1900):
        raise ValidationError(_l("Ngày không hợp lý."))


class SubjectForm(FlaskForm):
    full_name = StringField(_l("Họ và tên"), validators=[InputRequired(REQUIRED), Length(max=200)])
    other_names = StringField(_l("Tên gọi khác"), validators=[Optional(), Length(max=200)])
    date_of_birth = FlexibleDateField(_l("Ngày sinh"), validators=[InputRequired(REQUIRED), _past_date],
                                      render_kw={"placeholder": "dd/mm/yyyy"})
    sex = SelectField(_l("Giới tính"), validators=[Optional()])
    id_number = StringField(_l("Số định danh (CCCD/CMND)"),
                            validators=[InputRequired(REQUIRED), Length(max=20), _id_number_check],
                            render_kw={"inputmode": "numeric"})
    native_place = StringField(_l("Quê quán"), validators=[Optional(), Length(max=300)])
    residence = StringField(_l("Nơi thường trú"), validators=[Optional(), Length(max=300)])
    ethnicity = StringField(_l("Dân tộc"), validators=[Optional(), Length(max=60)])
    religion = StringField(_l("Tôn giáo"), validators=[Optional(), Length(max=60)])
    current_unit = StringField(_l("Đơn vị công tác hiện nay"), validators=[Optional(), Length(max=300)])
    position = StringField(_l("Chức vụ"), validators=[Optional(), Length(max=200)])
    party_admission_date = FlexibleDateField(_l("Ngày vào Đảng"), validators=[Optional(), _past_date],
                                             render_kw={"placeholder": "dd/mm/yyyy"})
    party_official_date = FlexibleDateField(_l("Ngày chính thức"), validators=[Optional(), _past_date],
                                            render_kw={"placeholder": "dd/mm/yyyy"})
    notes = TextAreaField(_l("Ghi chú"), validators=[Optional(), Length(max=4000)])
    submit = SubmitField(_l("Lưu"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Choices set here, as the kernel's forms do: WTForms 3.3 deprecates tuples given
        # to the field's constructor (a warning, an error under the test settings).
        self.sex.choices = [("", "—"), *SEXES.items()]

    def validate_party_official_date(self, field):
        if field.parsed and self.party_admission_date.parsed and field.parsed < self.party_admission_date.parsed:
            raise ValidationError(_l("Ngày chính thức phải sau ngày vào Đảng."))


class RelativeForm(FlaskForm):
    relation = SelectField(_l("Quan hệ"), validators=[InputRequired(REQUIRED)])
    full_name = StringField(_l("Họ và tên"), validators=[InputRequired(REQUIRED), Length(max=200)])
    birth_year = IntegerField(_l("Năm sinh"), validators=[Optional(), NumberRange(min=1850, max=date.today().year,
                                                                               message=_l("Năm sinh không hợp lý."))])
    residence = StringField(_l("Nơi ở hiện nay"), validators=[Optional(), Length(max=300)])
    occupation = StringField(_l("Nghề nghiệp"), validators=[Optional(), Length(max=200)])
    party_member = BooleanField(_l("Là đảng viên"))
    id_number = StringField(_l("Số định danh (nếu biết; để tránh xung đột lợi ích khi phân công)"),
                            validators=[Optional(), Length(max=20)])
    submit = SubmitField(_l("Lưu"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A blank first choice, required: a preselected "Ông nội" was saved unread (issue 17).
        self.relation.choices = [("", _l("— Chọn quan hệ —")), *RELATIONS.items()]


class SubjectSearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Tìm theo họ tên, số định danh, hoặc họ tên kèm ngày sinh"), validators=[Optional(), Length(max=200)],
                    render_kw={"placeholder": _l("Ví dụ: trần văn; hòa 01/02/1980; 001080000001")})
    submit = SubmitField(_l("Tìm"))
