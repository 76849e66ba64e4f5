"""The print form: how many numbered copies of an approved conclusion to print."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, SubmitField, TextAreaField
from wtforms.validators import ValidationError

from cases.printing.operations import MAX_COPIES
from protection.forms import REQUIRED


class PrintForm(FlaskForm):
    # One print per rendered form: a double click does not issue a second set of copies.
    form_token = HiddenField()
    copies = StringField(_l("Số bản in"), render_kw={"inputmode": "numeric", "autocomplete": "off"},
                         description=_l("Mỗi bản được đánh số riêng (Bản số k/N) và ghi vào sổ theo dõi bản in."))
    recipients = TextAreaField(_l("Nơi nhận"), render_kw={"rows": 4},
                               description=_l("Mỗi dòng một nơi nhận, in ở cuối văn bản dưới mục “Nơi nhận:”; "
                                              "dòng cuối thường là nơi lưu."))
    submit = SubmitField(_l("In kết luận (tải tệp PDF)"))

    def __init__(self, *args, required: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.required = required
        self.parsed: int | None = None

    def validate_copies(self, field) -> None:
        text = (field.data or "").strip()
        if not text:
            if self.required:
                raise ValidationError(REQUIRED)
            return
        if not text.isascii() or not text.isdigit():
            raise ValidationError(_l("Số bản in phải là một số nguyên."))
        number = int(text)
        if not 1 <= number <= MAX_COPIES:
            raise ValidationError(_l("Số bản in từ 1 đến %(max)d.", max=MAX_COPIES))
        self.parsed = number
