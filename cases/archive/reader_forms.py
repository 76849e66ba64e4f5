"""The reader page's one form: the button that recognises a scan's text now. (The register's
forms are the register's; this file is the reader's, so the two never edit one file.)"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SubmitField
from wtforms.validators import InputRequired

NEVER = "never"


def recognition_state(scan) -> str:
    """What the user saw: "never", or when the text was last recognised. Two readers pressing
    the button together recognise once; the second is told it was just done."""
    return scan.recognised_at.isoformat() if scan.recognised_at else NEVER


class RecogniseForm(FlaskForm):
    seen = HiddenField(validators=[InputRequired()])
    submit = SubmitField(_l("Nhận dạng chữ"))
