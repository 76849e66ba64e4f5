"""Forms of the kernel: sign-in, second factor, password, administration; and the one way a
form runs a change (`submit_form`, `run_form`, `press`), which cases/actions.py builds on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Protocol

from flask import abort, flash
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import HiddenField, PasswordField, SelectField, StringField, SubmitField, widgets
from wtforms.validators import (
    InputRequired,
    Length,
    Optional,
    Regexp,
    StopValidation,
    ValidationError,
)

from .db import db
from .i18n import LANGUAGE_NAMES
from .identity import CLEARANCE_ORDER, Role, UnitKind

REQUIRED = _l("Trường này là bắt buộc.")


def show_error(form, message: str, field_name: str | None) -> None:
    """Put an operation's refusal beside the field it names, or flash it for the form."""
    field = getattr(form, field_name, None) if field_name else None
    if field is not None:
        field.errors = [*field.errors, message]
    else:
        flash(message, "danger")


# --- running a change from a form ----------------------------------------------------------
#
# One shape for every form that changes something: the form passes its checks, one operation
# runs, and either the user is told what happened and sent on, or the operation's refusal is
# shown. What differs between forms is said by the caller, never by a copy of the shape:
# - `refusal`: the exception class (or tuple) an operation refuses with: AccountError here,
#   CaseError or SubjectError in the domain; each carries `.message` and `.field` (Refusal);
# - where a refusal goes: beside the field it names, on the same page with the input kept
#   (`submit_form`, `run_form`: the view renders the form again), or flashed on the page the
#   button sends back to (`press`);
# - `rollback`: whether a refusal undoes the request's work. Off by default: a refusal may carry
#   an audit entry or a counted failed re-authentication that must commit with the request;
# - `stale`: refusals that mean the form was out of date (the record changed since it was
#   shown): rolled back, flashed, and answered with `back()`, where the user sees what changed;
# - `to`: the answer once the change is done, a function of the operation's result (it may
#   remember or commit first); `done`: what to flash then (a text, a function of the result,
#   or None when `to` says it itself).


class Refusal(Protocol):
    """An operation's refusal: a message for the user (it names no protected value) and the
    form field it belongs beside, if any."""

    message: str
    field: str | None


Done = str | Callable[[Any], str] | None
Refusals = type[Exception] | tuple[type[Exception], ...]


def require_submitted(form) -> None:
    """A button's form (CSRF token and perhaps a version): 400 when it is not ours."""
    if not form.validate_on_submit():
        abort(400)


def submit_form(form, change: Callable[[], Any], refusal: Refusals, *, to: Callable[[Any], Response],
                done: Done = None, rollback: bool = False, stale: Refusals = (),
                back: Callable[[], Response] | None = None) -> Response | None:
    """Submit `form` to `change` (one operation): the answer once it is done (or the form was
    stale); None when the view is to show the form again (not submitted, invalid, or
    refused, with the refusal beside its field)."""
    if not form.validate_on_submit():
        return None
    return run_form(form, change, refusal, to=to, done=done, rollback=rollback, stale=stale, back=back)


def run_form(form, change: Callable[[], Any], refusal: Refusals, *, to: Callable[[Any], Response],
             done: Done = None, rollback: bool = False, stale: Refusals = (),
             back: Callable[[], Response] | None = None) -> Response | None:
    """`submit_form` for a form that has passed its checks already."""
    try:
        result = change()
    except stale as error:
        db.session.rollback()
        flash(error.message, "danger")
        return back()
    except refusal as error:
        if rollback:
            db.session.rollback()
        show_error(form, error.message, error.field)
        return None
    return _done(result, done, to)


def press(change: Callable[[], Any], refusal: Refusals, *, to: Callable[[Any], Response], done: Done = None,
          back: Callable[[], Response] | None = None, rollback: bool = False) -> Response:
    """A button whose form the view has checked (`require_submitted`): run `change`; a refusal
    is flashed and answered with `back()` (by default `to(None)`: the same page as success)."""
    try:
        result = change()
    except refusal as error:
        if rollback:
            db.session.rollback()
        flash(error.message, "danger")
        return back() if back is not None else to(None)
    return _done(result, done, to)


def _done(result: Any, done: Done, to: Callable[[Any], Response]) -> Response:
    # Said once `to` has answered: after whatever it remembers, and never lost to a session
    # that `to` renews (a new sign-in clears the cookie session).
    answer = to(result)
    if done is not None:
        flash(done(result) if callable(done) else done, "success")
    return answer


def parse_date(text: str | None) -> date | None:
    """dd/mm/yyyy as written in Vietnam, or ISO yyyy-mm-dd; None when neither."""
    text = (text or "").strip()
    for pattern in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


class WholeForm(FlaskForm):
    """A form whose checks across fields ("a name, unless the petition is unsigned") run in
    the same pass as each field's own: one submit shows every error at once (issue 17),
    where the operation, run only once the form passes, would name its first refusal, and
    the next only after another submit. The operations keep their checks: they are the rule,
    these are the courtesy. `cross_checks` yields (field name, message)."""

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        for name, message in self.cross_checks():
            field = getattr(self, name)
            field.errors = [*field.errors, message]
            valid = False
        return valid

    def cross_checks(self):
        return ()


class BrowserDateInput(widgets.Input):
    """The browser's own date input: no script, a calendar to pick from, and the day shown
    in the page's language (<html lang="vi">: dd/mm/yyyy). It submits yyyy-mm-dd, and its
    value must be written so. A value that is not a date (typed dd/mm/yyyy by a client
    without date inputs, and wrong) comes back in a text box as typed: a date input would
    show it blank, and the error beside it would point at nothing."""

    input_type = "date"
    validation_attrs = ["required", "max", "min", "step"]

    def __call__(self, field, **kwargs):
        if field.parsed is None and (field.data or "").strip():
            kwargs["type"] = "text"
            kwargs.setdefault("placeholder", "dd/mm/yyyy")
        return super().__call__(field, **kwargs)


class FlexibleDateField(StringField):
    """A date from the browser's date input (yyyy-mm-dd) or typed dd/mm/yyyy; `parsed`
    holds the date once the form is read."""

    widget = BrowserDateInput()
    parsed: date | None = None

    def process_data(self, value):
        if isinstance(value, date):
            self.parsed = value
            self.data = value.isoformat()
        else:
            super().process_data(value)
            self.parsed = parse_date(self.data) if isinstance(self.data, str) else None

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        self.parsed = parse_date(self.data)

    def _value(self):
        # A date is written as the date input reads it (ISO), whichever way it was typed.
        return self.parsed.isoformat() if self.parsed else (self.data or "")

    def pre_validate(self, form):
        if (self.data or "").strip() and self.parsed is None:
            raise ValidationError(_l("Ngày không hợp lệ. Nhập theo dạng dd/mm/yyyy."))


class SignInForm(FlaskForm):
    username = StringField(_l("Tên đăng nhập"), validators=[InputRequired(REQUIRED), Length(max=64)],
                           render_kw={"autocomplete": "username", "autofocus": True})
    password = PasswordField(_l("Mật khẩu"), validators=[InputRequired(REQUIRED), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})
    submit = SubmitField(_l("Đăng nhập"))


class SecondFactorForm(FlaskForm):
    code = StringField(
        _l("Mã xác thực 6 chữ số"),
        validators=[InputRequired(REQUIRED), Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message=_l("Mã gồm 6 chữ số."))],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True},
    )
    submit = SubmitField(_l("Xác nhận"))


class CeremonyField(HiddenField):
    """A security key's answer, filled in by static/js/security-keys.js: never written back
    into a page shown again after a refusal (each answer is good once; a stale one left in
    the form would be sent again in place of the password typed next)."""

    def _value(self):
        return ""


class KeySignInForm(FlaskForm):
    """The second-factor page's other form: a security key's assertion, filled in by
    static/js/security-keys.js."""

    assertion = CeremonyField(validators=[InputRequired(REQUIRED), Length(max=16_000)])


class RequiredUnlessKey:
    """InputRequired for a re-authentication's password or code, unless the form carries a
    security key's assertion instead (the `assertion` field of KeyAssertionFields)."""

    def __call__(self, form, field):
        assertion = getattr(form, "assertion", None)
        if assertion is not None and (assertion.data or "").strip():
            raise StopValidation()
        if not (field.data or "").strip():
            raise StopValidation(REQUIRED)


class KeyAssertionFields:
    """Mixed into a form that re-authenticates before a weighty act (approval, purge,
    identity release): the hidden assertion that templates/_security_keys.html's
    `reauth_fields` macro fills when the user chooses their key. Its `secret` field takes
    RequiredUnlessKey instead of InputRequired; the operation passes both to
    accounts.confirm_identity(..., assertion=form.assertion.data)."""

    assertion = CeremonyField(validators=[Length(max=16_000)])


class SecurityKeyForm(FlaskForm):
    """Registering a key: its name, the password (removed by the view during sign-in), and
    the browser's answer, filled in by static/js/security-keys.js."""

    name = StringField(_l("Tên khóa"), validators=[InputRequired(REQUIRED), Length(max=100)],
                       description=_l("Để nhận ra khóa sau này, ví dụ “Khóa USB màu xanh” hoặc “Máy tính cơ quan”."))
    current_password = PasswordField(_l("Mật khẩu hiện tại"), validators=[InputRequired(REQUIRED)],
                                     render_kw={"autocomplete": "current-password"})
    credential = CeremonyField(validators=[
        InputRequired(_l("Trình duyệt chưa gửi khóa bảo mật: hãy bật JavaScript, bấm “Thêm khóa bảo mật” và chạm "
                         "vào khóa khi được hỏi.")), Length(max=16_000)])
    submit = SubmitField(_l("Thêm khóa bảo mật"))


class RemoveKeyForm(FlaskForm):
    secret = PasswordField(_l("Mật khẩu hoặc mã xác thực 6 số"), validators=[InputRequired(REQUIRED)],
                           render_kw={"autocomplete": "current-password"})
    submit = SubmitField(_l("Gỡ khóa"))


class EnrolForm(FlaskForm):
    """`current_password` is removed by the view during sign-in (just typed)."""

    current_password = PasswordField(_l("Mật khẩu hiện tại"), validators=[InputRequired(REQUIRED)],
                                     render_kw={"autocomplete": "current-password"})
    code = StringField(
        _l("Mã 6 chữ số trong ứng dụng"),
        validators=[InputRequired(REQUIRED), Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message=_l("Mã gồm 6 chữ số."))],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
    submit = SubmitField(_l("Kích hoạt"))


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("Mật khẩu hiện tại"), validators=[InputRequired(REQUIRED)],
                                     render_kw={"autocomplete": "current-password"})
    new_password = PasswordField(_l("Mật khẩu mới"), validators=[InputRequired(REQUIRED)],
                                 render_kw={"autocomplete": "new-password"},
                                 description=_l("Ít nhất 12 ký tự; nên dùng một cụm nhiều từ dễ nhớ với bạn, khó đoán với người khác."))
    confirm_password = PasswordField(_l("Nhập lại mật khẩu mới"), validators=[InputRequired(REQUIRED)],
                                     render_kw={"autocomplete": "new-password"})
    submit = SubmitField(_l("Đổi mật khẩu"))


class LanguageForm(FlaskForm):
    """The interface language; the blank choice follows the browser. A code that is not
    offered (a tampered form) fails SelectField's own choice check."""

    locale = SelectField(_l("Ngôn ngữ giao diện"),
                         description=_l("Theo trình duyệt: dùng ngôn ngữ mà trình duyệt của bạn ưu tiên."))
    submit = SubmitField(_l("Lưu ngôn ngữ"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.locale.choices = [("", _l("Theo trình duyệt")), *LANGUAGE_NAMES.items()]


class ConfirmForm(FlaskForm):
    """A button that changes something: CSRF token and nothing else."""

    submit = SubmitField(_l("Xác nhận"))


def _role_choices():
    return [(role.value, role.label) for role in Role]


def _clearance_choices():
    return [(level.value, level.label) for level in CLEARANCE_ORDER]


class UserForm(FlaskForm):
    username = StringField(_l("Tên đăng nhập"), validators=[InputRequired(REQUIRED), Length(max=64)])
    display_name = StringField(_l("Họ và tên"), validators=[InputRequired(REQUIRED), Length(max=200)])
    unit = SelectField(_l("Đơn vị"), validators=[InputRequired(REQUIRED)])
    role = SelectField(_l("Vai trò"), validators=[InputRequired(REQUIRED)])
    clearance = SelectField(_l("Mức tiếp cận bí mật"), validators=[InputRequired(REQUIRED)])
    citizen_id = StringField(_l("Số CCCD (không bắt buộc; chỉ lưu chỉ mục mù, để tự động tránh xung đột lợi ích)"),
                             validators=[Optional(), Length(max=20)])
    submit = SubmitField(_l("Lưu"))

    def __init__(self, *args, units=(), editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.unit.choices = [(unit.code, f"{unit.code} — {unit.name}") for unit in units]
        self.role.choices = _role_choices()
        self.clearance.choices = _clearance_choices()
        if editing:
            # The username is the account's identity in the audit trail: fixed once made.
            del self.username


class DirectoryConfirmForm(FlaskForm):
    """Confirming a directory user: the unit and clearance are Hoso's to give; the role is
    the directory group's (shown, not chosen)."""
    unit = SelectField(_l("Đơn vị"), validators=[InputRequired(REQUIRED)])
    clearance = SelectField(_l("Mức tiếp cận bí mật"), validators=[InputRequired(REQUIRED)])
    submit = SubmitField(_l("Xác nhận và tạo tài khoản"))

    def __init__(self, *args, units=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.unit.choices = [(unit.code, f"{unit.code} — {unit.name}") for unit in units]
        self.clearance.choices = _clearance_choices()
        for field in (self.unit, self.clearance):  # checked by the operation, in Vietnamese
            field.validate_choice = False


class UnitForm(FlaskForm):
    code = StringField(_l("Mã đơn vị"), validators=[InputRequired(REQUIRED), Length(max=32)])
    name = StringField(_l("Tên đơn vị"), validators=[InputRequired(REQUIRED), Length(max=200)])
    kind = SelectField(_l("Loại"), validators=[InputRequired(REQUIRED)])
    parent = SelectField(_l("Đơn vị cấp trên"), validators=[Optional()])
    submit = SubmitField(_l("Thêm đơn vị"))

    def __init__(self, *args, units=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = [(kind.value, kind.label) for kind in UnitKind]
        self.parent.choices = [("", "—")] + [(unit.code, f"{unit.code} — {unit.name}") for unit in units]
