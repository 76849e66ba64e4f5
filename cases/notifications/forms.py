"""The notifications' forms: a bare button (open, mark all read) and the preferences."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import Length

from . import service


class ButtonForm(FlaskForm):
    """A button that changes something: the CSRF token and nothing else."""


class PreferencesForm(FlaskForm):
    """One choice per kind of event (fields `kind_<kind>`, added below) and the address."""

    mail_address = StringField(_l("Địa chỉ thư điện tử nhận thông báo"),
                               validators=[Length(max=service.ADDRESS_MAX)],
                               description=_l("Không bắt buộc. Để trống nếu không muốn nhận thư."))

    def kind_fields(self, kinds):
        return [getattr(self, field_name(kind)) for kind in kinds]

    def choices(self, sent, kinds) -> dict[str, str]:
        """The kinds the form sent (`sent`: the request's form data) among `kinds` (the user's
        role's); a kind left out of a hand-made POST keeps its choice rather than falling back
        to the default."""
        return {kind: getattr(self, field_name(kind)).data for kind in kinds if field_name(kind) in sent}

    def address(self, sent) -> str | None:
        """The address sent (empty: remove it); None when the POST did not carry the field."""
        return self.mail_address.data if "mail_address" in sent else None


def field_name(kind: str) -> str:
    return f"kind_{kind}"


def _delivery_choices():
    return [(code, label) for code, label in service.DELIVERY_LABELS.items()]


# A SelectField refuses a value outside its choices ("Not a valid choice"), beside the field.
for _kind in service.KINDS:
    setattr(PreferencesForm, field_name(_kind),
            SelectField(service.KIND_LABELS[_kind], choices=_delivery_choices, default=service.DEFAULT_DELIVERY))
