"""Forms of the retention and classification-review pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, RadioField, SelectField, StringField, SubmitField
from wtforms.validators import InputRequired, Length

from protection.forms import (
    REQUIRED,
    FlexibleDateField,
    KeyAssertionFields,
    RequiredUnlessKey,
    WholeForm,
)
from protection.identity import CLEARANCE_LABELS, Clearance


class PurgeForm(KeyAssertionFields, FlaskForm):
    """Confirmed twice: the reference typed again, then the supervisor's own password or code."""

    reference = StringField(_l("Nhập lại số hồ sơ để xác nhận lần thứ nhất"),
                            validators=[InputRequired(REQUIRED), Length(max=32)],
                            render_kw={"autocomplete": "off"})
    secret = PasswordField(_l("Xác nhận lần thứ hai: mật khẩu hoặc mã xác thực 6 số"),
                           validators=[RequiredUnlessKey(), Length(max=1024)],
                           render_kw={"autocomplete": "current-password"})
    submit = SubmitField(_l("Hủy vĩnh viễn nội dung hồ sơ"))


class ClassificationDecisionForm(WholeForm):
    decision = RadioField(_l("Quyết định"), validators=[InputRequired(REQUIRED)])
    new_end = FlexibleDateField(_l("Ngày hết hạn bảo vệ mới (khi gia hạn)"))
    to_level = SelectField(_l("Độ mật mới (khi giảm độ mật)"), validate_choice=False)
    submit = SubmitField(_l("Ghi quyết định"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Set after construction, as the other forms do (wtforms warns about tuple choices
        # passed to the field's constructor).
        self.decision.choices = [("extend", _l("Gia hạn thời hạn bảo vệ")), ("downgrade", _l("Giảm độ mật")),
                                 ("declassify", _l("Giải mật"))]
        self.to_level.choices = [("", "—")] + [(level.value, label) for level, label in CLEARANCE_LABELS.items()
                                               if level not in (Clearance.UNCLASSIFIED, Clearance.TOP_SECRET)]

    def cross_checks(self):
        # What each decision needs (classification.decide), asked together with the rest.
        if self.decision.data == "extend" and not self.new_end.errors and self.new_end.parsed is None:
            yield "new_end", _l("Hãy nhập ngày hết hạn bảo vệ mới.")
        if self.decision.data == "downgrade" and not self.to_level.data:
            yield "to_level", _l("Hãy chọn độ mật mới.")
