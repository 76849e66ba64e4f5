"""Account operations: sign-in, second factor, passwords, user and unit administration.

Each operation checks, changes, announces (for the audit trail) and flushes. None commits:
the request boundary does, so a change and its audit entry land together or not at all.
Errors the user can fix raise AccountError with a translated one-line message that never
contains a protected value.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass

from flask import current_app, g
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from . import (
    api_tokens,
    directory,
    hooks,
    lockout,
    notices,
    passwords,
    ratelimit,
    security_keys,
    signals,
    totp,
)
from .clock import utcnow
from .db import db, take_write_lock
from .i18n import SUPPORTED_LOCALES
from .identity import Clearance, DirectoryRequest, Role, Unit, UnitKind, User
from .sessions import (
    AuthSession,
    EndReason,
    end_session,
    end_user_sessions,
    rotate_token,
    start_session,
)


class AccountError(ValueError):
    """A refusal the user can act on; `field` names the form field it belongs beside."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class LockedOut(Exception):  # noqa: N818 - an outcome, as the user reads it
    """A wrong password or code typed by a signed-in user locked the account, and every
    session of it has ended. Not an AccountError: no form shows it; the web layer signs
    the browser out and sends it to the sign-in page (protection/web.py)."""


def _app():
    return current_app._get_current_object()


def normalise_username(username: str) -> str:
    return (username or "").strip().lower()


def find_user(username: str) -> User | None:
    return db.session.scalar(select(User).where(User.username == normalise_username(username)))


def find_unit(code: str) -> Unit | None:
    return db.session.scalar(select(Unit).where(func.upper(Unit.code) == (code or "").strip().upper()))


# --- sign-in --------------------------------------------------------------------------

class SignInOutcome(enum.Enum):
    OK = "ok"
    REFUSED = "refused"  # one outcome for unknown user, bad password, disabled, locked


@dataclass(frozen=True)
class SignInResult:
    outcome: SignInOutcome
    user: User | None = None
    auth_session: AuthSession | None = None
    token: str | None = None
    # A refusal the person may be told plainly (the directory is down, their directory
    # account awaits an admin...): None for the refusals that share one message.
    message: str | None = None


# Where a directory account's password hash would be: no password matches it (the
# directory's password is never stored here).
DIRECTORY_PASSWORD = "!directory"  # noqa: S105 - a marker, not a password


def has_second_factor(user: User) -> bool:
    """A TOTP app or at least one security key (issue 23): either makes a second factor."""
    return user.second_factor_enabled or security_keys.has_keys(user)


def second_factor_required(user: User) -> bool:
    return (user.second_factor_enabled or user.role.requires_second_factor or security_keys.required_for(user)
            or security_keys.has_keys(user))


def unfinished_step(user: User, auth_session: AuthSession) -> str | None:
    """What the user must still do before they are signed in: "second_factor",
    "enrolment" (a TOTP app), "key_registration" (a security key, for a role that requires
    one), "password_change" (a temporary password), or None when signed in."""
    key_required = security_keys.required_for(user)
    if not auth_session.second_factor_passed:
        if has_second_factor(user):
            return "second_factor"
        return "key_registration" if key_required else "enrolment"
    if key_required and not security_keys.has_keys(user):
        # Signed in with the TOTP app they had before keys were required: a key now.
        return "key_registration"
    if user.must_change_password:
        return "password_change"
    return None


def _after_step(user: User, auth_session: AuthSession) -> None:
    """The sign-in is complete only when no step is left: "signed in" in the trail means
    fully signed in, never "the password was right, a code is still to come"."""
    if unfinished_step(user, auth_session) is None:
        _complete(user, auth_session)


def sign_in(username: str, password: str, *, client_address: str | None,
            user_agent: str | None) -> SignInResult:
    user = find_user(username)
    if directory.enabled() and (user is None or user.auth_source == "directory"):
        return _directory_sign_in(user, username, password, client_address=client_address, user_agent=user_agent)
    # Always verify (against a dummy hash for unknown users and service accounts, whose
    # marker is no hash) so response time does not tell which usernames exist.
    usable_hash = user.password_hash if user is not None and not user.service_account else None
    password_ok = passwords.verify_password(usable_hash, password)
    if user is None:
        signals.sign_in_failed.send(_app(), user=None, reason="unknown_user")
        return SignInResult(SignInOutcome.REFUSED)
    if user.service_account:
        # A partner system's account (issue 21) acts only through its API token: never on
        # the web, whatever its password field holds.
        signals.sign_in_failed.send(_app(), user=user, reason="service_account")
        return SignInResult(SignInOutcome.REFUSED)
    if not user.active:
        signals.sign_in_failed.send(_app(), user=user, reason="disabled")
        return SignInResult(SignInOutcome.REFUSED)
    if lockout.is_locked(user):
        signals.sign_in_failed.send(_app(), user=user, reason="locked")
        return SignInResult(SignInOutcome.REFUSED)
    if not password_ok:
        _count_failure(user, "password")
        return SignInResult(SignInOutcome.REFUSED)

    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    return _start(user, client_address=client_address, user_agent=user_agent)


def _start(user: User, *, client_address: str | None, user_agent: str | None) -> SignInResult:
    """The password (local or directory) was right: open the session, whose next step is the
    second factor or its enrolment when the user or their role has one."""
    auth_session, token = start_session(
        user, client_address=client_address, user_agent=user_agent,
        second_factor_passed=not second_factor_required(user),
    )
    next_step = unfinished_step(user, auth_session)
    if next_step is None:
        _complete(user, auth_session)
    else:
        signals.password_step_passed.send(_app(), user=user, auth_session=auth_session, next_step=next_step)
    return SignInResult(SignInOutcome.OK, user, auth_session, token)


def _refused(user: User | None, reason: str, message: str | None = None) -> SignInResult:
    signals.sign_in_failed.send(_app(), user=user, reason=reason)
    return SignInResult(SignInOutcome.REFUSED, message=message)


def _directory_unavailable() -> str:
    return _("Không kết nối được máy chủ thư mục; hãy thử lại sau hoặc liên hệ quản trị.")


def _directory_sign_in(user: User | None, username: str, password: str, *, client_address: str | None,
                       user_agent: str | None) -> SignInResult:
    """Sign-in of a directory account, or of a name no Hoso account has (which may be a
    directory user's first sign-in). The directory checks the password; Hoso decides the rest.

    Hoso's own refusals (disabled, locked) come before the directory is asked, so guessing
    at a locked account costs the directory nothing and cannot trip the directory's own
    lockout policy (which would lock the person out of every system, not just Hoso)."""
    if user is None:
        try:
            username = _validate_username(username)
        except AccountError:
            # Filter syntax, spaces, accents: no directory query is built from it (issue 23).
            return _refused(None, "invalid_username", _(
                "Tên đăng nhập chỉ gồm chữ không dấu, số, dấu chấm, gạch ngang, gạch dưới."))
    else:
        if not user.active:
            return _refused(user, "disabled")
        if lockout.is_locked(user):
            return _refused(user, "locked")
    # The argon2 work a local sign-in does, done here too: a name that has no local account
    # should not answer faster than one that has.
    passwords.verify_password(None, password)
    try:
        result = directory.authenticate(user.username if user else username, password)
    except directory.DirectoryUnavailable as error:
        current_app.logger.warning("directory sign-in: the directory is unavailable: %s", error)
        # Not counted towards the lockout: the person did nothing wrong.
        return _refused(user, "directory_unavailable", _directory_unavailable())
    if not result.found:
        # Not (or no longer) in the directory: deleted there, or a typo.
        return _refused(user, "unknown_user" if user is None else "directory_missing")
    if not result.password_ok:
        if user is None:
            return _refused(None, "bad_password")
        _count_failure(user, "password")  # a directory account's wrong password counts as any
        return SignInResult(SignInOutcome.REFUSED)
    if user is None:
        return _first_directory_sign_in(username, result)
    if user.role.value not in result.roles:
        # The directory took the person out of the group that stands for their Hoso role.
        return _refused(user, "directory_group", _(
            "Máy chủ thư mục không còn xếp tài khoản này vào nhóm ứng với vai trò của bạn trong Hoso; "
            "hãy liên hệ quản trị."))
    return _start(user, client_address=client_address, user_agent=user_agent)


def _first_directory_sign_in(username: str, result: directory.DirectoryResult) -> SignInResult:
    """A right directory password for a name with no Hoso account: a request that an admin
    confirms (or refuses); no account and no session until then."""
    if result.role is None:
        return _refused(None, "directory_no_group", _(
            "Tài khoản thư mục của bạn không thuộc nhóm nào được dùng Hoso; hãy liên hệ quản trị."))
    request = db.session.scalar(select(DirectoryRequest).where(DirectoryRequest.username == username))
    if request is not None and request.decision is not None:
        return _refused(None, "directory_refused", _(
            "Quản trị đã không chấp nhận tài khoản thư mục này cho Hoso; hãy liên hệ quản trị."))
    now = utcnow()
    if request is None:
        request = DirectoryRequest(id=uuid.uuid4(), username=username, display_name=result.display_name,
                                   mapped_role=Role(result.role), first_seen_at=now, last_seen_at=now)
        try:
            with db.session.begin_nested():  # two first sign-ins at once: the second finds the first's
                db.session.add(request)
        except IntegrityError:
            return _refused(None, "directory_pending", _directory_pending())
        signals.directory_request_changed.send(_app(), request=request, by=None, change="created")
    else:
        # What the directory says today is what the admin decides on.
        request.display_name, request.mapped_role, request.last_seen_at = (
            result.display_name, Role(result.role), now)
    db.session.flush()
    return _refused(None, "directory_pending", _directory_pending())


def _directory_pending() -> str:
    return _("Tài khoản thư mục của bạn đang chờ quản trị xác nhận.")


def _count_failure(user: User, stage: str, reason: str = "wrong_code") -> bool:
    locked_now = lockout.record_failure(user, stage)
    if stage == "password":
        signals.sign_in_failed.send(_app(), user=user, reason="bad_password")
    else:
        signals.second_factor_failed.send(_app(), user=user, reason=reason)
    if locked_now:
        # The owner's open sessions stay open: otherwise anyone could sign any officer
        # out by typing five wrong passwords for them. New sign-ins wait for the lock.
        notices.notify(user, notices.NoticeKind.ACCOUNT_LOCKED)
        signals.account_locked.send(_app(), user=user)
    return locked_now


def _complete(user: User, auth_session: AuthSession) -> None:
    lockout.clear_failures(user)
    user.last_sign_in_at = utcnow()
    signals.sign_in_succeeded.send(_app(), user=user, auth_session=auth_session)
    db.session.flush()


def verify_second_factor(user: User, auth_session: AuthSession, code: str) -> str:
    """Check a TOTP code for a half-finished sign-in; returns the new session token."""
    if lockout.is_locked(user):
        end_session(auth_session, EndReason.LOCKED)  # only this half-finished sign-in
        raise AccountError(_("Tài khoản đang tạm khóa do nhập sai nhiều lần. Hãy thử lại sau."), "code")
    if security_keys.required_for(user) and security_keys.has_keys(user):
        # Without a key yet, the TOTP app signs them in, and a key is registered next.
        signals.second_factor_failed.send(_app(), user=user, reason="key_required")
        raise AccountError(_("Vai trò của bạn phải dùng khóa bảo mật để đăng nhập."), "code")
    check = totp.check_code(user, code)
    if check.outcome is totp.CodeOutcome.REUSED:
        # Not counted towards the lock (see _code_reused), but recorded: a replayed code
        # is worth seeing in the trail.
        signals.second_factor_failed.send(_app(), user=user, reason="code_reused")
        raise AccountError(_code_reused(check), "code")
    if not check.accepted:
        if _count_failure(user, "totp"):
            end_session(auth_session, EndReason.LOCKED)  # the half-finished sign-in ends with the lock
        raise AccountError(_("Mã xác thực không đúng hoặc đã hết hạn."), "code")
    auth_session.second_factor_passed = True
    _after_step(user, auth_session)
    return rotate_token(auth_session)


def verify_second_factor_key(user: User, auth_session: AuthSession, assertion: str) -> str:
    """Check a security key's assertion for a half-finished sign-in; returns the new session
    token. A refused assertion counts towards the lock as a wrong code does."""
    if lockout.is_locked(user):
        end_session(auth_session, EndReason.LOCKED)
        raise AccountError(_("Tài khoản đang tạm khóa do nhập sai nhiều lần. Hãy thử lại sau."), "assertion")
    try:
        key = security_keys.verify_assertion(user, auth_session.id, assertion, purpose=security_keys.SIGN_IN,
                                             target=None)
    except security_keys.KeyRefused as refused:
        if _count_failure(user, "security_key", reason=f"key_{refused.reason}"):
            end_session(auth_session, EndReason.LOCKED)
        raise AccountError(refused.message, "assertion") from None
    signals.security_key_used.send(_app(), user=user, purpose=security_keys.SIGN_IN, target=None, key_id=key.id)
    auth_session.second_factor_passed = True
    _after_step(user, auth_session)
    return rotate_token(auth_session)


def _code_reused(check: totp.CodeCheck) -> str:
    """A right code whose time step was already used (most often: the code that signed
    the user in a moment ago, typed again to approve). It does NOT count towards the
    lock: it is not a guess (only someone who holds the factor, or saw a code, can type
    one), counting it would lock out a supervisor who approves right after signing in,
    and telling "used" from "wrong" gives a guesser nothing, since a used step never
    opens again. Re-checks are still rate-limited and audited."""
    return _("Mã này đã được dùng; hãy chờ mã tiếp theo (còn %(n)d giây).", n=check.wait_seconds)


def begin_enrolment(auth_session: AuthSession) -> str:
    if not auth_session.pending_totp_secret:
        # Read, then write, from a page (GET), whose reads hold no lock (protection/db.py):
        # the secret is read again under the write lock, so two tabs opening the page at once
        # show the same QR code instead of the second replacing the first's.
        take_write_lock(db.session.connection())
        db.session.refresh(auth_session, ["pending_totp_secret"])
        if not auth_session.pending_totp_secret:
            auth_session.pending_totp_secret = totp.new_secret()
            db.session.flush()
    return auth_session.pending_totp_secret


def confirm_enrolment(user: User, auth_session: AuthSession, code: str,
                      current_password: str | None) -> str:
    """Make the pending secret the user's factor once they prove they hold it.

    A fully signed-in user replacing a factor must also give their password, so a
    borrowed unlocked screen is not enough to move the factor to another phone."""
    secret = auth_session.pending_totp_secret
    if not secret:
        raise AccountError(_("Phiên thiết lập đã hết. Hãy quét lại mã QR mới."), "code")
    if current_password is not None:
        recheck(user, current_password, purpose="second_factor_enrolment", field="current_password",
                accept_code=False)
    # A wrong code here is not counted: it is checked against the new secret on the
    # user's screen, not against anything that guards the account.
    counter = totp.matching_counter(secret, code)
    if counter is None:
        raise AccountError(_("Mã xác thực không đúng hoặc đã hết hạn."), "code")
    was_completing_sign_in = not auth_session.second_factor_passed
    user.totp_secret = secret
    user.totp_enabled_at = utcnow()
    user.totp_last_counter = counter
    auth_session.pending_totp_secret = None
    auth_session.second_factor_passed = True
    end_user_sessions(user, EndReason.ACCOUNT_CHANGED, keep=auth_session)
    notices.notify(user, notices.NoticeKind.SECOND_FACTOR_ENROLLED)
    signals.second_factor_changed.send(_app(), user=user, change="enrolled")
    if was_completing_sign_in:
        _after_step(user, auth_session)
    return rotate_token(auth_session)


# --- security keys --------------------------------------------------------------------

def _key_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > 100:
        raise AccountError(_("Hãy đặt tên cho khóa (tối đa 100 ký tự), ví dụ “Khóa USB màu xanh”."), "name")
    return name


def register_security_key(user: User, auth_session: AuthSession, name: str, credential: str,
                          current_password: str | None) -> str | None:
    """Keep a key the user's browser just created (security_keys.registration_options).

    A fully signed-in user gives their password too, as when replacing the TOTP app: a
    borrowed unlocked screen must not be enough to add a stranger's key. During sign-in
    (a role that requires keys) the password was typed a moment ago. Returns the new
    session token when the key completed a sign-in step, else None."""
    name = _key_name(name)
    if current_password is not None:
        recheck(user, current_password, purpose="security_key_registration", field="current_password",
                accept_code=False)
    was_signing_in = unfinished_step(user, auth_session) is not None
    try:
        key = security_keys.register(user, auth_session.id, name, credential)
    except security_keys.KeyRefused as refused:
        # Audited, not counted: the answer is checked against a challenge for a new key, not
        # against anything that guards the account (as a wrong code at TOTP enrolment).
        _refuse_recheck(user, "security_key_registration", f"key_{refused.reason}", count=False,
                        spent=(auth_session.id, security_keys.REGISTRATION, None))
        raise AccountError(refused.message, "name") from None
    notices.notify(user, notices.NoticeKind.SECURITY_KEY_ADDED)
    signals.security_key_changed.send(_app(), user=user, change="registered", by=user, key_id=key.id)
    if not was_signing_in:
        return None
    auth_session.second_factor_passed = True
    end_user_sessions(user, EndReason.ACCOUNT_CHANGED, keep=auth_session)
    _after_step(user, auth_session)
    return rotate_token(auth_session)


def remove_security_key(user: User, key_id: uuid.UUID, secret: str) -> None:
    key = security_keys.own_key(user, key_id)
    if key is None:
        raise AccountError(_("Không tìm thấy khóa bảo mật này."))
    recheck(user, secret, purpose="security_key_removal", field="secret", accept_code=True)
    if security_keys.required_for(user) and len(security_keys.keys_of(user)) == 1:
        raise AccountError(_("Vai trò của bạn bắt buộc dùng khóa bảo mật: hãy thêm khóa khác trước khi gỡ khóa "
                             "cuối cùng."), "secret")
    removed_id = key.id
    db.session.delete(key)
    notices.notify(user, notices.NoticeKind.SECURITY_KEY_REMOVED)
    signals.security_key_changed.send(_app(), user=user, change="removed", by=user, key_id=removed_id)
    db.session.flush()


def sign_out(user: User, auth_session: AuthSession) -> None:
    end_session(auth_session, EndReason.SIGNED_OUT)
    signals.signed_out.send(_app(), user=user, auth_session=auth_session, reason="signed_out")


# --- passwords ------------------------------------------------------------------------

def _check_new_password(user_inputs: tuple[str, ...], new_password: str, confirm: str) -> None:
    verdict = passwords.check_strength(new_password, user_inputs=user_inputs)
    if not verdict.ok:
        raise AccountError(verdict.reason, "new_password")
    if new_password != confirm:
        raise AccountError(_("Hai lần nhập mật khẩu mới không khớp."), "confirm_password")


def change_password(user: User, auth_session: AuthSession, current_password: str,
                    new_password: str, confirm: str) -> str:
    if user.auth_source == "directory":
        raise AccountError(_directory_password_elsewhere(), "current_password")
    recheck(user, current_password, purpose="password_change", field="current_password", accept_code=False)
    if new_password == current_password:
        raise AccountError(_("Mật khẩu mới phải khác mật khẩu hiện tại."), "new_password")
    _check_new_password((user.username, user.display_name), new_password, confirm)
    was_signing_in = unfinished_step(user, auth_session) == "password_change"
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = utcnow()
    user.must_change_password = False
    end_user_sessions(user, EndReason.PASSWORD_CHANGED, keep=auth_session)
    notices.notify(user, notices.NoticeKind.PASSWORD_CHANGED)
    signals.password_changed.send(_app(), user=user, by=user)
    if was_signing_in:
        _after_step(user, auth_session)  # the temporary password was the last step of the sign-in
    return rotate_token(auth_session)


def set_language(user: User, locale: str | None) -> bool:
    """Save the user's interface language ("vi", "en"; None follows the browser).
    Returns whether it changed; only a change is recorded."""
    if locale is not None and locale not in SUPPORTED_LOCALES:
        raise AccountError(_("Ngôn ngữ này chưa được hỗ trợ."), "locale")
    if user.locale == locale:
        return False
    user.locale = locale
    signals.user_changed.send(_app(), user=user, by=user, change="language", fields=("locale",))
    db.session.flush()
    return True


def end_other_sessions(user: User, auth_session: AuthSession) -> int:
    count = end_user_sessions(user, EndReason.ENDED_BY_USER, keep=auth_session)
    signals.session_ended.send(_app(), user=user, auth_session=None, reason="ended_others")
    return count


def end_one_session(user: User, target: AuthSession) -> None:
    end_session(target, EndReason.ENDED_BY_USER)
    signals.session_ended.send(_app(), user=user, auth_session=target, reason="ended_by_user")


# --- administration -------------------------------------------------------------------

@dataclass(frozen=True)
class NewUser:
    username: str
    display_name: str
    unit_code: str
    role: str
    clearance: str = Clearance.UNCLASSIFIED.value


def _parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise AccountError(_("Vai trò không hợp lệ."), "role") from None


def _parse_clearance(value: str) -> Clearance:
    try:
        return Clearance(value)
    except ValueError:
        raise AccountError(_("Mức tiếp cận bí mật không hợp lệ."), "clearance") from None


def _validate_username(username: str) -> str:
    name = normalise_username(username)
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789._-")
    if not (3 <= len(name) <= 64) or not set(name) <= allowed:
        raise AccountError(
            _("Tên đăng nhập dài 3–64 ký tự, chỉ gồm chữ không dấu, số, dấu chấm, gạch ngang, gạch dưới."),
            "username",
        )
    return name


def create_user(spec: NewUser, *, password: str | None, by: User | None,
                must_change_password: bool) -> tuple[User, str]:
    """Create an account. With no password given, a temporary one is generated and returned."""
    username = _validate_username(spec.username)
    display_name = (spec.display_name or "").strip()
    if not display_name:
        raise AccountError(_("Hãy nhập họ và tên."), "display_name")
    role = _parse_role(spec.role)
    clearance = _parse_clearance(spec.clearance)
    unit = find_unit(spec.unit_code)
    if unit is None or not unit.active:
        raise AccountError(_("Không có đơn vị với mã này."), "unit")
    if find_user(username) is not None:
        raise AccountError(_("Tên đăng nhập đã được dùng."), "username")
    if password is None:
        password = passwords.generate_temporary_password()
    else:
        verdict = passwords.check_strength(password, user_inputs=(username, display_name))
        if not verdict.ok:
            raise AccountError(verdict.reason, "password")
    user = User(
        id=uuid.uuid4(), username=username, display_name=display_name, unit=unit,
        role=role, clearance=clearance, active=True,
        password_hash=passwords.hash_password(password),
        must_change_password=must_change_password,
    )
    db.session.add(user)
    db.session.flush()
    signals.user_changed.send(_app(), user=user, by=by, change="created",
                              fields=("username", "display_name", "unit", "role", "clearance"))
    return user, password


def update_user(target: User, *, by: User, display_name: str, unit_code: str, role: str,
                clearance: str) -> tuple[str, ...]:
    new_role = _parse_role(role)
    new_clearance = _parse_clearance(clearance)
    unit = find_unit(unit_code)
    if unit is None or not unit.active:
        raise AccountError(_("Không có đơn vị với mã này."), "unit")
    display_name = (display_name or "").strip()
    if not display_name:
        raise AccountError(_("Hãy nhập họ và tên."), "display_name")
    if target.id == by.id and (new_role != target.role or unit.id != target.unit_id):
        raise AccountError(_("Bạn không thể tự đổi vai trò hay đơn vị của chính mình."), "role")
    if target.service_account and (new_role != target.role or unit.id != target.unit_id):
        # It is its partner body's liaison, or its API client would answer for another body.
        raise AccountError(_("Tài khoản API luôn là cán bộ phối hợp của cơ quan mình: không đổi vai trò "
                             "hay đơn vị được."), "role")
    changed = []
    if display_name != target.display_name:
        target.display_name = display_name
        changed.append("display_name")
    if unit.id != target.unit_id:
        target.unit = unit
        changed.append("unit")
    if new_role != target.role:
        target.role = new_role
        changed.append("role")
    if new_clearance != target.clearance:
        target.clearance = new_clearance
        changed.append("clearance")
    if {"unit", "role", "clearance"} & set(changed):
        # What the user may see has changed: make them sign in again under the new rules.
        end_user_sessions(target, EndReason.ACCOUNT_CHANGED)
    if changed:
        signals.user_changed.send(_app(), user=target, by=by, change="updated", fields=tuple(changed))
    db.session.flush()
    return tuple(changed)


def set_citizen_id(target: User, number: str | None, *, by: User | None) -> bool:
    """Record the blind index of the user's citizen ID (never the number), computed by the
    domain's hook with the dossiers' own index key, so that the user is recused from cases
    about them or their family. Blank leaves it as it is; returns whether it changed."""
    number = (number or "").strip()
    compute = hooks.get(_app(), hooks.CITIZEN_INDEX)
    if not number or compute is None:
        return False
    try:
        index = compute(number)
    except ValueError:
        raise AccountError(_("Số CCCD gồm 12 chữ số (hoặc CMND 9 chữ số)."), "citizen_id") from None
    if index == target.citizen_index:
        return False
    target.citizen_index = index
    signals.user_changed.send(_app(), user=target, by=by, change="updated", fields=("citizen_index",))
    db.session.flush()
    return True


def _refuse_service_account(target: User) -> None:
    if target.service_account:
        raise AccountError(_("Đây là tài khoản API của một cơ quan phối hợp: không có mật khẩu hay xác thực "
                             "hai lớp để đặt lại. Hãy quản lý nó ở trang Máy khách API."))


def set_user_active(target: User, *, by: User | None, active: bool) -> None:
    if by is not None and by.id == target.id:
        raise AccountError(_("Bạn không thể tự khóa tài khoản của chính mình."))
    if active and target.service_account and api_tokens.revoked_client_of(target):
        # Revoking is final: a new client (and token) is registered instead.
        raise AccountError(_("Máy khách API của tài khoản này đã bị thu hồi: tài khoản không mở lại được."))
    if target.active == active:
        return
    target.active = active
    if not active:
        end_user_sessions(target, EndReason.ACCOUNT_DISABLED)
    signals.user_changed.send(_app(), user=target, by=by,
                              change="enabled" if active else "disabled", fields=("active",))
    db.session.flush()


def _directory_password_elsewhere() -> str:
    return _("Mật khẩu của tài khoản thư mục do máy chủ thư mục quản lý: hãy đổi hoặc đặt lại ở đó, "
             "không phải trong Hoso.")


def reset_password(target: User, *, by: User) -> str:
    if by.id == target.id:
        raise AccountError(_("Hãy dùng trang Đổi mật khẩu cho tài khoản của chính bạn."))
    _refuse_service_account(target)
    if target.auth_source == "directory":
        raise AccountError(_directory_password_elsewhere())
    temporary = passwords.generate_temporary_password()
    target.password_hash = passwords.hash_password(temporary)
    target.password_changed_at = utcnow()
    target.must_change_password = True
    lockout.clear_failures(target)
    end_user_sessions(target, EndReason.ACCOUNT_CHANGED)
    notices.notify(target, notices.NoticeKind.PASSWORD_RESET)
    signals.password_changed.send(_app(), user=target, by=by)
    db.session.flush()
    return temporary


def reset_second_factor(target: User, *, by: User) -> None:
    if by.id == target.id:
        raise AccountError(_("Bạn không thể tự gỡ xác thực hai lớp của chính mình."))
    _refuse_service_account(target)
    target.totp_secret = None
    target.totp_enabled_at = None
    target.totp_last_counter = None
    end_user_sessions(target, EndReason.ACCOUNT_CHANGED)
    notices.notify(target, notices.NoticeKind.SECOND_FACTOR_RESET)
    signals.second_factor_changed.send(_app(), user=target, change="reset", by=by)
    db.session.flush()


def reset_security_keys(target: User, *, by: User) -> int:
    """Remove every key of a user who lost theirs: as reset_second_factor, their sessions
    end and they are told; they register a new key at their next sign-in (if their role
    requires one) or sign in with their TOTP app."""
    if by.id == target.id:
        raise AccountError(_("Bạn không thể tự gỡ khóa bảo mật của chính mình ở đây; hãy dùng trang Khóa bảo mật."))
    _refuse_service_account(target)
    keys = security_keys.keys_of(target)
    if not keys:
        raise AccountError(_("Người dùng này chưa có khóa bảo mật nào."))
    for key in keys:
        db.session.delete(key)
    end_user_sessions(target, EndReason.ACCOUNT_CHANGED)
    notices.notify(target, notices.NoticeKind.SECURITY_KEYS_RESET)
    signals.security_key_changed.send(_app(), user=target, change="reset", by=by, count=len(keys))
    db.session.flush()
    return len(keys)


def create_unit(*, code: str, name: str, kind: str, parent_code: str | None, by: User | None) -> Unit:
    code = (code or "").strip().upper()
    if not (2 <= len(code) <= 32) or not all(ch.isalnum() or ch in "-_" for ch in code) or not code.isascii():
        raise AccountError(_("Mã đơn vị dài 2–32 ký tự, chỉ gồm chữ không dấu, số và gạch ngang."), "code")
    if find_unit(code) is not None:
        raise AccountError(_("Mã đơn vị đã tồn tại."), "code")
    name = (name or "").strip()
    if not name:
        raise AccountError(_("Hãy nhập tên đơn vị."), "name")
    try:
        unit_kind = UnitKind(kind)
    except ValueError:
        raise AccountError(_("Loại đơn vị không hợp lệ."), "kind") from None
    parent = None
    if parent_code:
        parent = find_unit(parent_code)
        if parent is None:
            raise AccountError(_("Không có đơn vị cấp trên với mã này."), "parent")
    unit = Unit(id=uuid.uuid4(), code=code, name=name, kind=unit_kind, parent=parent)
    db.session.add(unit)
    db.session.flush()
    signals.unit_changed.send(_app(), unit=unit, by=by, change="created", fields=("code", "name", "kind", "parent"))
    return unit


def confirm_identity(user: User, secret: str | None, *, purpose: str, target: str | None = None,
                     assertion: str | None = None) -> None:
    """Re-authentication before a weighty act (approving a conclusion, purging a case,
    releasing an identity): the user's password, a fresh TOTP code when they have one, or
    a security key's assertion (with user verification) made for this very `purpose` and
    `target` (the record's id), fetched by static/js/security-keys.js. A user whose role
    requires keys must use a key. Raises AccountError (beside the field "secret") or
    LockedOut, as recheck() does: a refused assertion is counted, limited and audited like
    a wrong password."""
    user = getattr(user, "_get_current_object", lambda: user)()
    if assertion:
        _confirm_with_key(user, assertion, purpose=purpose, target=target)
        return
    if security_keys.required_for(user):
        _refuse_recheck(user, purpose, "key_required", count=False)
        raise AccountError(_("Vai trò của bạn phải xác nhận bằng khóa bảo mật: bấm “Dùng khóa bảo mật”."), "secret")
    recheck(user, secret or "", purpose=purpose, field="secret", accept_code=True)


def _confirm_with_key(user: User, assertion: str, *, purpose: str, target: str | None) -> None:
    session_id = getattr(g.get("auth_session"), "id", None)
    if not ratelimit.recheck_allowed(user):
        _refuse_recheck(user, purpose, "rate_limited", count=False,
                        spent=(session_id, purpose, target))
        raise AccountError(_("Bạn đã thử quá nhiều lần trong thời gian ngắn. Hãy đợi một lát rồi thử lại."), "secret")
    if lockout.is_locked(user):
        _refuse_recheck(user, purpose, "locked", count=False, spent=(session_id, purpose, target))
        raise AccountError(_("Tài khoản đang tạm khóa do nhập sai nhiều lần. Hãy thử lại sau."), "secret")
    if not security_keys.is_approval_purpose(purpose) or not security_keys.valid_target(target):
        raise ValueError(f"not an approval purpose and record: {purpose!r}")
    try:
        key = security_keys.verify_assertion(user, session_id, assertion, purpose=purpose, target=target)
    except security_keys.KeyRefused as refused:
        ratelimit.count_failed_recheck(user)
        if _refuse_recheck(user, purpose, f"key_{refused.reason}", count=True, spent=(session_id, purpose, target)):
            raise LockedOut() from None
        raise AccountError(refused.message, "secret") from None
    signals.security_key_used.send(_app(), user=user, purpose=purpose, target=target, key_id=key.id)


# --- re-checks of a signed-in user ---------------------------------------------------------

def recheck(user: User, secret: str, *, purpose: str, field: str, accept_code: bool) -> None:
    """Check the password (or, with accept_code, a TOTP code) of a user who is already
    signed in: before changing the password or the second factor, approving, purging.

    Every such prompt is a way to guess the password of whoever left a session open, so
    a refusal is treated as a failed sign-in: rate-limited per account, counted towards
    the lockout, and audited in a short transaction of its own (committed here, so that
    neither a later rollback of the request nor an error page loses it; whatever the
    request had done before the check is rolled back, as every caller checks first).
    The failure that locks the account ends all its sessions and raises LockedOut.

    `purpose` names the prompt in the trail ("password_change", "conclusion_approval"...).
    """
    user = getattr(user, "_get_current_object", lambda: user)()  # never the current_user proxy
    if not ratelimit.recheck_allowed(user):
        _refuse_recheck(user, purpose, "rate_limited", count=False)
        raise AccountError(_("Bạn đã thử quá nhiều lần trong thời gian ngắn. Hãy đợi một lát rồi thử lại."), field)
    if lockout.is_locked(user):
        # Locked by failed sign-ins elsewhere: refuse without checking. This session stays
        # open, as the owner's sessions do when strangers lock the account (_count_failure).
        _refuse_recheck(user, purpose, "locked", count=False)
        raise AccountError(_("Tài khoản đang tạm khóa do nhập sai nhiều lần. Hãy thử lại sau."), field)
    compact = (secret or "").strip().replace(" ", "")
    if accept_code and user.second_factor_enabled and compact.isdigit() and len(compact) == 6:
        check = totp.check_code(user, compact)
        if check.accepted:
            return
        if check.outcome is totp.CodeOutcome.REUSED:
            _refuse_recheck(user, purpose, "code_reused", count=False)  # why not counted: _code_reused
            raise AccountError(_code_reused(check), field)
        reason = "wrong_code"
    elif secret and _password_matches(user, secret, purpose=purpose, field=field):
        return
    else:
        reason = "wrong_password"  # noqa: S105 - a reason code, not a password
    ratelimit.count_failed_recheck(user)
    if _refuse_recheck(user, purpose, reason, count=True):
        raise LockedOut()
    if accept_code:
        raise AccountError(_("Mật khẩu hoặc mã xác thực không đúng."), field)
    raise AccountError(_("Mật khẩu hiện tại không đúng."), field)


def _password_matches(user: User, secret: str, *, purpose: str, field: str) -> bool:
    """The local hash, or for a directory account the directory itself (a bind as the user):
    the password it holds is the one the person types everywhere, and Hoso keeps no copy."""
    if user.auth_source != "directory":
        return passwords.verify_password(user.password_hash, secret)
    if not directory.enabled():
        return False
    try:
        result = directory.authenticate(user.username, secret)
    except directory.DirectoryUnavailable as error:
        current_app.logger.warning("directory re-check: the directory is unavailable: %s", error)
        _refuse_recheck(user, purpose, "directory_unavailable", count=False)
        raise AccountError(_directory_unavailable(), field) from None
    return result.password_ok


def _refuse_recheck(user: User, purpose: str, reason: str, *, count: bool,
                    spent: tuple | None = None) -> bool:
    """Record a refused re-check in its own transaction; True when it locked the account.
    `spent`: the (session id, purpose, target) of a key challenge that was answered: the
    rollback brings its row back, and it must stay used up."""
    db.session.rollback()
    if spent is not None:
        security_keys.forget_challenge(*spent)
    locked_now = lockout.record_failure(user, "recheck") if count else False
    signals.recheck_failed.send(_app(), user=user, purpose=purpose, reason=reason)
    if locked_now:
        # Unlike failed sign-ins (see _count_failure), these guesses come from inside a
        # session of the account: it and every other session of the account end.
        end_user_sessions(user, EndReason.LOCKED)
        notices.notify(user, notices.NoticeKind.ACCOUNT_LOCKED)
        signals.account_locked.send(_app(), user=user)
        signals.session_ended.send(_app(), user=user, auth_session=None, reason="locked")
    db.session.commit()
    return locked_now
