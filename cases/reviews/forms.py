"""The form that opens a review of a subject's political standard. It takes its context
(the user, for the classification levels they may set) in the constructor; open_review
makes the real checks and names the field it refuses."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from cases import labels
from cases.casework.forms import ChoiceField, clearance_choices
from protection.forms import REQUIRED, FlexibleDateField, WholeForm
from protection.i18n import local_today


class ReviewForm(WholeForm):
    form_token = HiddenField()
    # Chosen on the subject's dossier ("Mở thẩm định"): the form never lists dossiers.
    subject_id = HiddenField()
    purpose = ChoiceField(_l("Mục đích thẩm định"), validators=[InputRequired(REQUIRED)])
    classification = ChoiceField(_l("Độ mật"), validators=[InputRequired(REQUIRED)])
    title = StringField(_l("Tiêu đề (không bắt buộc)"), validators=[Optional(), Length(max=300)])
    summary = TextAreaField(_l("Nội dung, yêu cầu thẩm định"), validators=[Optional(), Length(max=10000)])
    due_on = FlexibleDateField(_l("Hạn xử lý (không bắt buộc)"), validators=[Optional()],
                               render_kw={"placeholder": "dd/mm/yyyy"},
                               description=_l("Để trống: 30 ngày kể từ ngày mở hồ sơ."))
    submit = SubmitField(_l("Mở hồ sơ thẩm định"))

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.purpose.choices = [("", _l("— Chọn mục đích —"))] + labels.choices(labels.PURPOSES)
        self.classification.choices = clearance_choices(user)

    def cross_checks(self):
        # The case opens today (reviews.operations.open_review says the same).
        if self.due_on.parsed and self.due_on.parsed < local_today():
            yield "due_on", _l("Hạn xử lý không được trước ngày mở hồ sơ.")
