"""Sign-in, second factor, sign-out and the user's own account pages."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import refresh as refresh_locale
from flask_login import LoginManager, current_user, login_user, logout_user

from . import accounts, notices, security_keys, totp
from .accounts import AccountError, SignInOutcome
from .db import db
from .forms import (
    ConfirmForm,
    EnrolForm,
    KeySignInForm,
    LanguageForm,
    PasswordChangeForm,
    RemoveKeyForm,
    SecondFactorForm,
    SecurityKeyForm,
    SignInForm,
    press,
    show_error,
    submit_form,
)
from .identity import User
from .policy import SIGN_IN_STEP, permission, public
from .ratelimit import limiter, login_rate_limit
from .sessions import AuthSession, EndReason, find_own_session, open_sessions, resolve_session

login_manager = LoginManager()
login_manager.session_protection = None  # the server-side session is the authority

auth = Blueprint("auth", __name__)
account = Blueprint("account", __name__, url_prefix="/account")

# While a sign-in is unfinished, only these endpoints answer; anything else sends the
# user back to the step they must complete.
SIGN_IN_STEPS = {
    "auth.second_factor": frozenset({"auth.second_factor", "auth.key_options", "auth.logout"}),
    # A role that needs a second factor may choose a security key instead of the TOTP app.
    "auth.enrol": frozenset({"auth.enrol", "auth.enrol_qr", "account.security_keys", "account.security_key_options",
                             "auth.logout"}),
    "account.security_keys": frozenset({"account.security_keys", "account.security_key_options", "auth.logout"}),
    "account.password": frozenset({"account.password", "auth.logout"}),
}
# accounts.unfinished_step's answer -> the page where the user completes it.
STEP_PAGES = {
    "second_factor": "auth.second_factor",
    "enrolment": "auth.enrol",
    "key_registration": "account.security_keys",
    "password_change": "account.password",
}

END_MESSAGES = {
    EndReason.IDLE: lambda: _("Phiên làm việc đã kết thúc vì không hoạt động quá lâu. Hãy đăng nhập lại."),
    EndReason.EXPIRED: lambda: _("Phiên làm việc đã hết thời hạn tối đa. Hãy đăng nhập lại."),
    EndReason.ACCOUNT_DISABLED: lambda: _("Phiên làm việc đã kết thúc. Hãy đăng nhập lại."),
    EndReason.LOCKED: lambda: _(
        "Tài khoản đã bị tạm khóa %(m)d phút vì nhập sai mật khẩu hoặc mã xác thực nhiều lần; "
        "mọi phiên làm việc của tài khoản đã kết thúc. Hãy đăng nhập lại sau.",
        m=current_app.config["HOSO_LOCKOUT_WINDOW_MINUTES"]),
}


def configure_auth(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    limiter.init_app(app)
    app.register_blueprint(auth)
    app.register_blueprint(account)
    app.context_processor(_inject_notices)
    app.register_error_handler(accounts.LockedOut, _signed_out_by_lockout)
    app.add_template_global(_has_security_key, "has_security_key")


def _has_security_key() -> bool:
    """For templates/_security_keys.html: offer the key button only to users who have one."""
    return current_user.is_authenticated and security_keys.has_keys(current_user)


def signed_in_user() -> User:
    """The signed-in user itself, not Flask-Login's `current_user` proxy: a page hands its
    user to operations and lists that read `.id`, `.role`, `.unit_id` dozens of times, and
    each read through the proxy costs three context lookups."""
    return current_user._get_current_object()


def pending_step(user: User, auth_session: AuthSession) -> str | None:
    step = accounts.unfinished_step(user, auth_session)
    return STEP_PAGES[step] if step is not None else None


@login_manager.user_loader
def _load_user(token: str) -> User | None:
    check = resolve_session(token)
    if check.auth_session is None:
        session.pop("_user_id", None)
        if check.ended_reason in END_MESSAGES:
            flash(END_MESSAGES[check.ended_reason](), "warning")
        return None
    user = check.auth_session.user
    user.session_token = token
    g.auth_session = check.auth_session
    g.unread_notices = check.unread_notices
    g.unread_notifications = check.unread_notifications
    step = pending_step(user, check.auth_session)
    g.sign_in_step = step
    g.sign_in_step_endpoints = SIGN_IN_STEPS.get(step, frozenset())
    return user


def _signed_out_by_lockout(_error: accounts.LockedOut):
    """Whichever form re-checked the password or code, the lock that it caused ends this
    browser's session too (the sessions were ended in the database already)."""
    logout_user()
    session.clear()
    flash(END_MESSAGES[EndReason.LOCKED](), "danger")
    return redirect(url_for("auth.login"), 303)


def _inject_notices():
    if (current_user.is_authenticated and g.get("sign_in_step") is None
            and notices.may_have_unread(current_user, g.get("unread_notices"))):
        return {"security_notices": notices.unread_notices(current_user)}
    return {"security_notices": []}


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: never an absolute or scheme-relative URL (open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _establish(user: User, token: str) -> None:
    """A fresh cookie session for a new or elevated sign-in (no fixation)."""
    next_url = session.get("next_after_sign_in")
    session.clear()
    if next_url:
        session["next_after_sign_in"] = next_url
    user = getattr(user, "_get_current_object", lambda: user)()  # never the current_user proxy
    user.session_token = token
    login_user(user)


def _after_sign_in_redirect(user: User, auth_session: AuthSession):
    step = pending_step(user, auth_session)
    if step is not None:
        return redirect(url_for(step))
    return redirect(_safe_next(session.pop("next_after_sign_in", None)) or url_for("home"))


# --- sign-in --------------------------------------------------------------------------

@auth.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(login_rate_limit, methods=["POST"])
def login():
    if current_user.is_authenticated and g.get("sign_in_step") is None:
        return redirect(url_for("home"))
    form = SignInForm()
    if request.method == "GET" and _safe_next(request.args.get("next")):
        session["next_after_sign_in"] = _safe_next(request.args.get("next"))
    if form.validate_on_submit():
        result = accounts.sign_in(
            form.username.data, form.password.data,
            client_address=request.remote_addr,
            user_agent=request.user_agent.string,
        )
        if result.outcome is SignInOutcome.OK:
            _establish(result.user, result.token)
            return _after_sign_in_redirect(result.user, result.auth_session)
        # One message for every refusal that could tell a guesser something: unknown user,
        # wrong password, disabled, locked. The others (the directory is down, a directory
        # account awaits an admin, a name no directory query may be built from) say why.
        form.password.errors = [result.message] if result.message else [_(
            "Tên đăng nhập hoặc mật khẩu không đúng, hoặc tài khoản đang bị tạm khóa. "
            "Sau %(n)d lần sai trong %(m)d phút, tài khoản bị khóa %(m)d phút.",
            n=current_app.config["HOSO_LOCKOUT_THRESHOLD"], m=current_app.config["HOSO_LOCKOUT_WINDOW_MINUTES"],
        )]
        form.password.data = ""
    return render_template("auth/login.html", form=form)


@auth.route("/login/second-factor", methods=["GET", "POST"])
@permission(SIGN_IN_STEP)
@limiter.limit(login_rate_limit, methods=["POST"])
def second_factor():
    if g.get("sign_in_step") != "auth.second_factor":
        return redirect(url_for("home"))
    form = SecondFactorForm()
    key_form = KeySignInForm()
    if request.method == "POST" and "assertion" in request.form:
        # The key's form (static/js/security-keys.js filled in its assertion).
        if key_form.validate_on_submit():
            try:
                token = accounts.verify_second_factor_key(current_user, g.auth_session, key_form.assertion.data)
            except AccountError as error:
                show_error(key_form, error.message, error.field)
            else:
                _establish(current_user, token)
                return _after_sign_in_redirect(current_user, g.auth_session)
    elif form.validate_on_submit():
        try:
            token = accounts.verify_second_factor(current_user, g.auth_session, form.code.data)
        except AccountError as error:
            show_error(form, error.message, error.field)
            form.code.data = ""
        else:
            _establish(current_user, token)
            return _after_sign_in_redirect(current_user, g.auth_session)
    return render_template("auth/second_factor.html", form=form, key_form=key_form,
                           has_keys=security_keys.has_keys(current_user),
                           key_required=security_keys.required_for(current_user))


@auth.route("/login/key-options", methods=["POST"])
@permission(SIGN_IN_STEP)
def key_options():
    """The options for navigator.credentials.get() (static/js/security-keys.js): for the
    second factor while signing in, else for an approval named by purpose and record. The
    challenge is stored for this browser session, that purpose and that record only."""
    purpose = request.form.get("purpose", "")
    target = request.form.get("target") or None
    step = g.get("sign_in_step")
    if step == "auth.second_factor":
        allowed = purpose == security_keys.SIGN_IN and target is None
    else:
        allowed = step is None and security_keys.is_approval_purpose(purpose) and security_keys.valid_target(target)
    if not allowed:
        abort(400)
    try:
        options = security_keys.authentication_options(current_user, g.auth_session.id, purpose, target)
    except security_keys.KeyRefused:
        abort(404)  # no key registered
    return _json(options)


def _json(text: str) -> Response:
    response = Response(text, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


@auth.route("/account/two-factor/enrol", methods=["GET", "POST"])
@permission(SIGN_IN_STEP)
def enrol():
    completing_sign_in = g.get("sign_in_step") == "auth.enrol"
    form = EnrolForm()
    if completing_sign_in:
        del form.current_password  # typed a moment ago, on the sign-in page
    secret = accounts.begin_enrolment(g.auth_session)
    done = submit_form(form, lambda: accounts.confirm_enrolment(
        current_user, g.auth_session, form.code.data, None if completing_sign_in else form.current_password.data,
    ), AccountError, done=_("Đã kích hoạt xác thực hai lớp."), to=lambda token: _renewed(token, completing_sign_in))
    return done or render_template(
        "auth/enrol.html", form=form, secret=secret, completing_sign_in=completing_sign_in,
        uri=totp.provisioning_uri(secret, current_user.username),
    )


@auth.route("/account/two-factor/qr.svg")
@permission(SIGN_IN_STEP)
def enrol_qr():
    secret = g.auth_session.pending_totp_secret
    if not secret:
        abort(404)
    response = make_response(totp.qr_svg(totp.provisioning_uri(secret, current_user.username)))
    response.headers["Content-Type"] = "image/svg+xml"
    return response


@auth.route("/logout", methods=["POST"])
@permission(SIGN_IN_STEP)
def logout():
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    accounts.sign_out(current_user, g.auth_session)
    logout_user()
    session.clear()
    flash(_("Bạn đã đăng xuất."), "info")
    return redirect(url_for("auth.login"))


def _renewed(token: str, completing_sign_in: bool):
    """The user proved themselves again (a code, a password): a fresh session, then on to the
    next sign-in step, or back to their account."""
    _establish(current_user, token)
    if completing_sign_in:
        return _after_sign_in_redirect(current_user, g.auth_session)
    return redirect(url_for("account.overview"))


# --- the user's own account -----------------------------------------------------------

@account.route("/")
@permission("account.manage")
def overview():
    return render_template("account/overview.html", confirm_form=ConfirmForm(),
                           language_form=LanguageForm(locale=current_user.locale or ""))


@account.route("/language", methods=["POST"])
@permission("account.manage")
def language():
    form = LanguageForm()
    done = submit_form(form, lambda: accounts.set_language(current_user, form.locale.data or None), AccountError,
                       to=_language_saved)
    return done or render_template("account/overview.html", confirm_form=ConfirmForm(), language_form=form)


def _language_saved(changed: bool):
    refresh_locale()  # this answer already speaks the new language
    if changed:
        flash(_("Đã lưu ngôn ngữ giao diện."), "success")
    # The top bar's switch sends the page it was on: back there, if it is ours.
    return redirect(_safe_next(request.form.get("next")) or url_for("account.overview"))


@account.route("/password", methods=["GET", "POST"])
@permission("account.manage")
def password():
    form = PasswordChangeForm()
    forced = g.get("sign_in_step") == "account.password"
    done = submit_form(form, lambda: accounts.change_password(
        current_user, g.auth_session, form.current_password.data, form.new_password.data, form.confirm_password.data,
    ), AccountError, done=_("Đã đổi mật khẩu. Các phiên đăng nhập khác của bạn đã được kết thúc."),
        to=lambda token: _renewed(token, forced))
    return done or render_template("account/password.html", form=form, forced=forced)


@account.route("/security-keys", methods=["GET", "POST"], endpoint="security_keys")
@permission(SIGN_IN_STEP)
def security_keys_page():
    """The user's keys, and adding one: also the sign-in step of a role that requires keys."""
    completing_sign_in = g.get("sign_in_step") in ("account.security_keys", "auth.enrol")
    form = SecurityKeyForm()
    if completing_sign_in:
        del form.current_password  # typed a moment ago, on the sign-in page
    done = submit_form(form, lambda: accounts.register_security_key(
        current_user, g.auth_session, form.name.data, form.credential.data,
        None if completing_sign_in else form.current_password.data,
    ), AccountError, done=_("Đã thêm khóa bảo mật."), to=_key_added)
    return done or render_template("account/security_keys.html", form=form, completing_sign_in=completing_sign_in,
                                   keys=security_keys.keys_of(current_user), remove_form=RemoveKeyForm(),
                                   key_required=security_keys.required_for(current_user))


def _key_added(token: str | None):
    if token is not None:  # the key completed a sign-in step
        return _renewed(token, True)
    return redirect(url_for("account.security_keys"))


@account.route("/security-keys/options", methods=["POST"])
@permission(SIGN_IN_STEP)
def security_key_options():
    """The options for navigator.credentials.create(), with a challenge for this session."""
    return _json(security_keys.registration_options(current_user, g.auth_session.id))


@account.route("/security-keys/<uuid:key_id>/remove", methods=["POST"])
@permission("account.manage")
def remove_security_key(key_id: uuid.UUID):
    form = RemoveKeyForm()
    back = redirect(url_for("account.security_keys"))
    if not form.validate_on_submit():
        flash(_("Hãy nhập mật khẩu hoặc mã xác thực để gỡ khóa."), "danger")
        return back
    return press(lambda: accounts.remove_security_key(current_user, key_id, form.secret.data), AccountError,
                 done=_("Đã gỡ khóa bảo mật."), to=lambda _result: back)


@account.route("/sessions")
@permission("account.manage")
def sessions():
    return render_template("account/sessions.html", sessions=open_sessions(current_user),
                           idle_minutes=current_app.config["HOSO_IDLE_TIMEOUT_MINUTES"],
                           lifetime_hours=current_app.config["HOSO_SESSION_LIFETIME_HOURS"],
                           current_session_id=g.auth_session.id, confirm_form=ConfirmForm())


@account.route("/sessions/end-others", methods=["POST"])
@permission("account.manage")
def end_other_sessions():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    count = accounts.end_other_sessions(current_user, g.auth_session)
    flash(_("Đã kết thúc %(n)d phiên khác.", n=count), "success")
    return redirect(url_for("account.sessions"))


@account.route("/sessions/<uuid:session_id>/end", methods=["POST"])
@permission("account.manage")
def end_session(session_id: uuid.UUID):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    target = find_own_session(current_user, session_id)
    if target is None or not target.is_open:
        abort(404)  # another user's session id reveals nothing
    if target.id == g.auth_session.id:
        flash(_("Để kết thúc phiên hiện tại, hãy đăng xuất."), "warning")
        return redirect(url_for("account.sessions"))
    accounts.end_one_session(current_user, target)
    flash(_("Đã kết thúc phiên."), "success")
    return redirect(url_for("account.sessions"))


@account.route("/notices/read", methods=["POST"])
@permission("account.manage")
def read_notices():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    notices.mark_read(current_user)
    db.session.flush()
    return redirect(_safe_next(request.form.get("next")) or url_for("home"))
