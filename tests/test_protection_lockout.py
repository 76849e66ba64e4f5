"""Account lockout: five failures (passwords or second-factor codes) within 15 minutes
lock the account for 15 minutes; failures live in the database, so every worker and every
server sees them; a success clears them; the owner is told afterwards."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import func, select, update

from app import create_app
from protection.clock import utcnow
from protection.db import db
from protection.lockout import LoginFailure
from protection.notices import SecurityNotice
from protection.sessions import AuthSession
from tests.conftest import next_totp_code, post_form
from tests.pages import field_error_lines

WRONG_PASSWORD = "Sai-mat-khau-hoan-toan-99"
GENERIC_REFUSAL = (
    "Tên đăng nhập hoặc mật khẩu không đúng, hoặc tài khoản đang bị tạm khóa. "
    "Sau 5 lần sai trong 15 phút, tài khoản bị khóa 15 phút."
)
WRONG_CODE_MESSAGE = "Mã xác thực không đúng hoặc đã hết hạn."
LOCKED_NOTICE = "Tài khoản của bạn đã bị tạm khóa vì đăng nhập sai nhiều lần."


@pytest.fixture(autouse=True)
def _rate_limit_out_of_the_way(app_config):
    # These tests make more sign-in attempts a minute than the per-address limit allows;
    # the limit has its own test (test_protection_signin.py).
    app_config["HOSO_LOGIN_RATE_LIMIT"] = "1000 per minute"


# --- helpers --------------------------------------------------------------------------


def attempt(client, username: str, password: str):
    return post_form(client, "/login", {"username": username, "password": password})


def assert_refused(response) -> None:
    assert response.status_code == 200
    assert field_error_lines(response.get_data(as_text=True), "password") == [GENERIC_REFUSAL]


def assert_signed_in(response) -> None:
    assert response.status_code == 302
    assert response.headers["Location"] in ("/", "/login/second-factor")


def fail_passwords(client, user, times: int) -> None:
    for _ in range(times):
        assert_refused(attempt(client, user.username, WRONG_PASSWORD))


def failures(app, user_id) -> list[str]:
    """The stages ('password' / 'totp') of the user's recorded failures."""
    with app.app_context():
        stages = list(db.session.scalars(
            select(LoginFailure.stage).where(LoginFailure.user_id == user_id).order_by(LoginFailure.failed_at)
        ))
        db.session.commit()
    return stages


def age_failures(app, user_id, minutes: float) -> None:
    with app.app_context():
        db.session.execute(
            update(LoginFailure).where(LoginFailure.user_id == user_id)
            .values(failed_at=utcnow() - timedelta(minutes=minutes))
        )
        db.session.commit()


def open_session_count(app, user_id) -> int:
    with app.app_context():
        count = db.session.scalar(
            select(func.count()).select_from(AuthSession)
            .where(AuthSession.user_id == user_id, AuthSession.ended_at.is_(None))
        )
        db.session.commit()
    return count


def wrong_code(user) -> str:
    """Six digits that are not the code of any time step the server would accept."""
    totp = pyotp.TOTP(user.totp_secret)
    now = totp.timecode(utcnow())
    acceptable = {totp.generate_otp(counter) for counter in range(now - 2, now + 3)}
    return next(code for code in (f"{digit}" * 6 for digit in range(10)) if code not in acceptable)


# --- the lock -------------------------------------------------------------------------

def test_four_failures_do_not_lock_but_five_do(app, client, make_user):
    user = make_user("officer")
    fail_passwords(client, user, 4)
    assert failures(app, user.id) == ["password"] * 4

    other = make_user("officer")
    fail_passwords(client, other, 5)
    assert failures(app, other.id) == ["password"] * 5

    # The right password, same message, no session: a guesser learns nothing.
    assert_refused(attempt(app.test_client(), other.username, other.password))
    assert open_session_count(app, other.id) == 0
    # Attempts while locked are refused without extending the lock.
    assert len(failures(app, other.id)) == 5

    assert_signed_in(attempt(app.test_client(), user.username, user.password))


def test_lock_expires_after_the_window(app, client, make_user):
    user = make_user("officer")
    fail_passwords(client, user, 5)

    age_failures(app, user.id, minutes=14)
    assert_refused(attempt(client, user.username, user.password))

    age_failures(app, user.id, minutes=16)
    response = attempt(client, user.username, user.password)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    assert failures(app, user.id) == []


def test_failures_are_counted_in_the_database_across_app_instances(app, app_config, client, make_user):
    user = make_user("officer")
    fail_passwords(client, user, 3)
    second_app = create_app(app_config)  # another worker or server on the same database
    try:
        fail_passwords(second_app.test_client(), user, 2)
        # Each instance now refuses the right password.
        assert_refused(attempt(second_app.test_client(), user.username, user.password))
        assert_refused(attempt(app.test_client(), user.username, user.password))
    finally:
        with second_app.app_context():
            db.session.remove()
            db.engine.dispose()
    assert failures(app, user.id) == ["password"] * 5


def test_wrong_second_factor_codes_count_towards_the_lock(app, client, make_user):
    user = make_user("supervisor")
    fail_passwords(client, user, 3)
    # The right password starts a half-finished sign-in; the failures are not cleared
    # until the second factor is passed.
    response = attempt(client, user.username, user.password)
    assert response.headers["Location"] == "/login/second-factor"
    assert failures(app, user.id) == ["password"] * 3

    for _ in range(2):
        response = post_form(client, "/login/second-factor", {"code": wrong_code(user)})
        assert response.status_code == 200
        assert field_error_lines(response.get_data(as_text=True), "code") == [WRONG_CODE_MESSAGE]
    assert failures(app, user.id) == ["password"] * 3 + ["totp"] * 2

    # The lock ended the half-finished sign-in: the right code no longer helps.
    response = client.get("/login/second-factor")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    with app.app_context():
        reasons = list(db.session.scalars(select(AuthSession.end_reason).where(AuthSession.user_id == user.id)))
        db.session.commit()
    assert reasons == ["locked"]
    assert_refused(attempt(app.test_client(), user.username, user.password))


def test_five_wrong_codes_alone_lock_the_account(app, client, make_user):
    user = make_user("admin")
    assert attempt(client, user.username, user.password).headers["Location"] == "/login/second-factor"
    for _ in range(5):
        response = post_form(client, "/login/second-factor", {"code": wrong_code(user)})
        assert field_error_lines(response.get_data(as_text=True), "code") == [WRONG_CODE_MESSAGE]
    assert failures(app, user.id) == ["totp"] * 5
    assert open_session_count(app, user.id) == 0
    assert_refused(attempt(app.test_client(), user.username, user.password))


def test_lock_does_not_sign_the_owner_out(app, client, login_as):
    """Five wrong passwords typed by someone else must not end the owner's work: the
    lock refuses new sign-ins only (otherwise anyone could sign any officer out)."""
    user = login_as("officer")
    assert client.get("/").status_code == 200
    fail_passwords(app.test_client(), user, 5)
    assert client.get("/").status_code == 200
    assert open_session_count(app, user.id) == 1
    assert_refused(attempt(app.test_client(), user.username, user.password))


def test_failures_are_cleared_only_when_the_second_factor_is_passed(app, client, make_user):
    user = make_user("supervisor")
    fail_passwords(client, user, 4)
    attempt(client, user.username, user.password)
    assert len(failures(app, user.id)) == 4
    response = post_form(client, "/login/second-factor", {"code": next_totp_code(app, user)})
    assert response.headers["Location"] == "/"
    assert failures(app, user.id) == []


def test_locked_user_is_told_after_their_next_sign_in(app, client, make_user):
    user = make_user("officer")
    fail_passwords(app.test_client(), user, 5)
    with app.app_context():
        kinds = list(db.session.scalars(select(SecurityNotice.kind).where(SecurityNotice.user_id == user.id)))
        db.session.commit()
    assert kinds == ["account_locked"]

    age_failures(app, user.id, minutes=16)
    assert_signed_in(attempt(client, user.username, user.password))
    page = client.get("/").get_data(as_text=True)
    assert "Thông báo bảo mật" in page
    assert LOCKED_NOTICE in page

    response = post_form(client, "/account/notices/read", {"next": "/account/"}, token_from="/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/"
    assert LOCKED_NOTICE not in client.get("/").get_data(as_text=True)


def test_lock_lasts_a_full_window_from_the_locking_failure(app, make_user):
    """Failures spread over ten minutes still lock for the full fifteen from the fifth."""
    def shift(minutes: float, only_first: int | None = None) -> None:
        with app.app_context():
            rows = db.session.scalars(select(LoginFailure).where(LoginFailure.user_id == user.id)
                                      .order_by(LoginFailure.failed_at)).all()
            for row in rows[:only_first]:
                row.failed_at -= timedelta(minutes=minutes)
            db.session.commit()

    user = make_user("officer")
    fail_passwords(app.test_client(), user, 4)
    shift(10)  # the first four happened ten minutes ago
    fail_passwords(app.test_client(), user, 1)  # the fifth locks
    shift(6)  # six minutes later: the earliest failures are sixteen minutes old
    assert_refused(attempt(app.test_client(), user.username, user.password))
    shift(10)  # sixteen minutes after the locking failure
    assert attempt(app.test_client(), user.username, user.password).status_code == 302
