"""Re-checks of a signed-in user's password or code (password change, second-factor
re-enrolment, approval, purge) are treated like sign-ins: each refusal is counted towards
the lockout, rate-limited, audited in a transaction of its own, and the refusal that locks
the account ends its sessions. A code already used is told apart from a wrong one. The
trail tells the password step from the completed sign-in."""

from __future__ import annotations

import math
import re
import uuid
from datetime import date

import pyotp
import pytest
from sqlalchemy import func, select

from audit.trail import detail_of
from cases.conclusions import operations as conclusions
from cases.models import Case
from protection.clock import utcnow
from protection.db import db
from protection.identity import User
from protection.lockout import LoginFailure
from protection.sessions import AuthSession
from tests.conftest import audit_entries, post_form
from tests.factories import make_subject, open_review, submit_conclusion, to_conclusion
from tests.pages import field_error_lines

WRONG_PASSWORD = "Sai-mat-khau-hoan-toan-99"
LOCKED_MESSAGE = ("Tài khoản đã bị tạm khóa 15 phút vì nhập sai mật khẩu hoặc mã xác thực nhiều lần; "
                  "mọi phiên làm việc của tài khoản đã kết thúc. Hãy đăng nhập lại sau.")
USED_CODE = re.compile(r"Mã này đã được dùng; hãy chờ mã tiếp theo \(còn (\d+) giây\)\.")
ENROL = "/account/two-factor/enrol"


@pytest.fixture(autouse=True)
def _generous_rate_limit(app_config):
    # The lockout tests make more attempts than the default limit; the limit has its own test.
    app_config.setdefault("HOSO_LOGIN_RATE_LIMIT", "1000 per minute")


# --- helpers --------------------------------------------------------------------------


def failures(app, user_id) -> list[str]:
    with app.app_context():
        stages = list(db.session.scalars(select(LoginFailure.stage).where(LoginFailure.user_id == user_id)))
        db.session.commit()
    return stages


def open_sessions(app, user_id) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(AuthSession).where(
            AuthSession.user_id == user_id, AuthSession.ended_at.is_(None)))
        db.session.commit()
    return count


def recheck_failures(app) -> list[tuple[str, str]]:
    return [(detail_of(entry)["purpose"], detail_of(entry)["reason"])
            for entry in audit_entries(app, "auth.recheck.failed")]


def change_password(client, current: str):
    return post_form(client, "/account/password", {
        "current_password": current, "new_password": "Mua-xuan-tren-dinh-Fansipan-7",
        "confirm_password": "Mua-xuan-tren-dinh-Fansipan-7"})


def submitted_case(app, officer_id) -> uuid.UUID:
    """A review whose conclusion waits for a supervisor's approval."""
    with app.app_context():
        officer = db.session.get(User, officer_id)
        case = to_conclusion(open_review(officer, make_subject(officer, "Trần Văn Phê Duyệt", date(1970, 1, 2))),
                             by=officer)
        submit_conclusion(case, by=officer)
        db.session.commit()
        return case.id


def conclusion_state(app, case_id) -> str:
    with app.app_context():
        state = conclusions.current(db.session.get(Case, case_id)).state
        db.session.commit()
    return state


# --- item 1: counted, audited, locked, signed out -----------------------------------------

def test_wrong_current_password_counts_towards_the_lock_and_is_audited(app, client, login_as):
    user = login_as("officer")
    response = change_password(client, WRONG_PASSWORD)
    assert response.status_code == 200
    assert field_error_lines(response.get_data(as_text=True), "current_password") == ["Mật khẩu hiện tại không đúng."]
    assert failures(app, user.id) == ["recheck"]
    [entry] = audit_entries(app, "auth.recheck.failed")
    assert (entry.actor_id, entry.target_id, entry.outcome) == (user.id, str(user.id), "failure")
    assert detail_of(entry) == {"purpose": "password_change", "reason": "wrong_password"}
    assert WRONG_PASSWORD not in entry.detail


def test_the_refusal_that_locks_ends_every_session_and_sends_to_sign_in(app, client, login_as, sign_in):
    user = login_as("officer")
    elsewhere = app.test_client()
    assert sign_in(user, target=elsewhere).status_code == 302
    assert open_sessions(app, user.id) == 2

    for _ in range(4):
        assert change_password(client, WRONG_PASSWORD).status_code == 200
    assert open_sessions(app, user.id) == 2  # four failures do not lock
    response = change_password(client, WRONG_PASSWORD)
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert LOCKED_MESSAGE in client.get("/login").get_data(as_text=True)

    assert open_sessions(app, user.id) == 0
    assert client.get("/account/").status_code == 302  # this browser is signed out...
    assert elsewhere.get("/account/").headers["Location"].startswith("/login")  # ...and the other
    assert len(audit_entries(app, "auth.lockout")) == 1
    assert failures(app, user.id) == ["recheck"] * 5
    # The lock holds at the sign-in page too, even with the right password.
    refused = sign_in(user)
    assert refused.status_code == 200 and open_sessions(app, user.id) == 0


def test_sign_in_failures_and_rechecks_add_up(app, client, login_as):
    user = login_as("officer")
    other = app.test_client()
    for _ in range(3):
        post_form(other, "/login", {"username": user.username, "password": WRONG_PASSWORD})
    change_password(client, WRONG_PASSWORD)
    response = change_password(client, WRONG_PASSWORD)
    assert response.status_code == 303 and open_sessions(app, user.id) == 0


def test_wrong_password_at_second_factor_re_enrolment_counts(app, client, login_as):
    user = login_as("officer")
    page = client.get(ENROL).get_data(as_text=True)
    secret = re.search(r'<p class="hoso-secret">([A-Z2-7]+)</p>', page).group(1)
    response = post_form(client, ENROL, {"current_password": WRONG_PASSWORD, "code": pyotp.TOTP(secret).now()})
    assert field_error_lines(response.get_data(as_text=True), "current_password") == ["Mật khẩu hiện tại không đúng."]
    assert failures(app, user.id) == ["recheck"]
    assert recheck_failures(app) == [("second_factor_enrolment", "wrong_password")]


def test_wrong_password_at_approval_counts_and_the_lock_signs_out(app, client, make_user, sign_in):
    officer, supervisor = make_user("officer"), make_user("supervisor")
    case_id = submitted_case(app, officer.id)
    assert sign_in(supervisor).headers["Location"] == "/"
    approve = f"/cases/{case_id}/conclusion/approve"
    response = post_form(client, approve, {"secret": WRONG_PASSWORD})
    assert response.status_code == 200
    assert field_error_lines(response.get_data(as_text=True), "secret") == ["Mật khẩu hoặc mã xác thực không đúng."]
    assert recheck_failures(app) == [("conclusion_approval", "wrong_password")]
    assert detail_of(audit_entries(app, "conclusion.approve")[-1])["reason"] == "reauth_failed"
    for _ in range(4):
        response = post_form(client, approve, {"secret": WRONG_PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert open_sessions(app, supervisor.id) == 0
    assert conclusion_state(app, case_id) == "submitted"


@pytest.fixture
def three_attempts_a_minute(app_config):
    app_config["HOSO_LOGIN_RATE_LIMIT"] = "3 per minute"


def test_rechecks_are_rate_limited_per_account(three_attempts_a_minute, app, client, login_as):
    user = login_as("officer")
    with app.app_context():
        password_hash = db.session.get(User, user.id).password_hash
    for _ in range(3):
        change_password(client, WRONG_PASSWORD)
    response = change_password(client, user.password)  # even the right password waits
    assert field_error_lines(response.get_data(as_text=True), "current_password") == [
        "Bạn đã thử quá nhiều lần trong thời gian ngắn. Hãy đợi một lát rồi thử lại."]
    with app.app_context():
        assert db.session.get(User, user.id).password_hash == password_hash
    assert failures(app, user.id) == ["recheck"] * 3  # the refused attempt was not checked
    assert recheck_failures(app)[-1] == ("password_change", "rate_limited")


def test_right_answers_are_not_held_back_by_the_limit(three_attempts_a_minute, app, client, make_user,
                                                      sign_in):
    """Only failures count: a supervisor approving one conclusion after another is not guessing."""
    officer, supervisor = make_user("officer"), make_user("supervisor")
    cases = [submitted_case(app, officer.id) for _ in range(4)]
    assert sign_in(supervisor).headers["Location"] == "/"
    for case_id in cases:
        response = post_form(client, f"/cases/{case_id}/conclusion/approve", {"secret": supervisor.password})
        assert response.status_code in (302, 303), field_error_lines(response.get_data(as_text=True), "secret")
    assert [conclusion_state(app, case_id) for case_id in cases] == ["approved"] * 4
    assert recheck_failures(app) == []


# --- item 3: a code already used is not "wrong" ----------------------------------------------

def test_approving_with_the_code_just_used_to_sign_in_says_it_was_used(app, client, make_user):
    officer, supervisor = make_user("officer"), make_user("supervisor")
    case_id = submitted_case(app, officer.id)
    code = pyotp.TOTP(supervisor.totp_secret).now()
    post_form(client, "/login", {"username": supervisor.username, "password": supervisor.password})
    assert post_form(client, "/login/second-factor", {"code": code}).headers["Location"] == "/"

    before = utcnow().timestamp()
    response = post_form(client, f"/cases/{case_id}/conclusion/approve", {"secret": code})
    after = utcnow().timestamp()
    assert response.status_code == 200
    [error] = field_error_lines(response.get_data(as_text=True), "secret")
    match = USED_CODE.fullmatch(error)
    assert match, error
    # The wait is until the authenticator shows a step after the one just used, counted at a
    # moment between `before` and `after` (however slowly this machine answers). If that step
    # may have begun by then, the app promises the rest of the current step instead
    # (totp._seconds_until_fresh_code), as the phone's clock may lag the server's.
    totp = pyotp.TOTP(supervisor.totp_secret)
    with app.app_context():
        last = db.session.get(User, supervisor.id).totp_last_counter
    fresh_from = (last + 1) * totp.interval
    longest = fresh_from - before if after < fresh_from else totp.interval
    assert 1 <= int(match.group(1)) <= math.ceil(longest) <= 61
    # Not a guess: no failure counted; recorded all the same.
    assert failures(app, supervisor.id) == []
    assert recheck_failures(app) == [("conclusion_approval", "code_reused")]
    assert conclusion_state(app, case_id) == "submitted"


def test_a_reused_code_at_sign_in_is_told_and_not_counted(app, make_user):
    user = make_user("auditor")
    code = pyotp.TOTP(user.totp_secret).now()
    first, second = app.test_client(), app.test_client()
    for browser in (first, second):
        post_form(browser, "/login", {"username": user.username, "password": user.password})
    assert post_form(first, "/login/second-factor", {"code": code}).headers["Location"] == "/"
    response = post_form(second, "/login/second-factor", {"code": code})
    [error] = field_error_lines(response.get_data(as_text=True), "code")
    assert USED_CODE.fullmatch(error), error
    assert failures(app, user.id) == []
    assert detail_of(audit_entries(app, "auth.second_factor.failed")[-1])["reason"] == "code_reused"


# --- item 2: the password step is not "signed in" ----------------------------------------------

def test_password_step_and_completed_sign_in_are_separate_entries(app, client, make_user):
    user = make_user("supervisor")
    post_form(client, "/login", {"username": user.username, "password": user.password})
    [password_ok] = audit_entries(app, "auth.password_ok")
    assert detail_of(password_ok)["next"] == "second_factor"
    assert audit_entries(app, "auth.signed_in") == []

    code = pyotp.TOTP(user.totp_secret).now()
    assert post_form(client, "/login/second-factor", {"code": code}).headers["Location"] == "/"
    [signed_in] = audit_entries(app, "auth.signed_in")
    assert signed_in.id > password_ok.id and signed_in.actor_id == user.id


def test_a_temporary_password_is_signed_in_only_once_changed(app, client, make_user):
    user = make_user("officer", must_change_password=True)
    post_form(client, "/login", {"username": user.username, "password": user.password})
    assert detail_of(audit_entries(app, "auth.password_ok")[-1])["next"] == "password_change"
    assert audit_entries(app, "auth.signed_in") == []
    assert change_password(client, user.password).status_code == 302
    assert len(audit_entries(app, "auth.signed_in")) == 1


def test_a_sign_in_without_further_steps_is_signed_in_at_once(app, client, make_user):
    user = make_user("officer")
    post_form(client, "/login", {"username": user.username, "password": user.password})
    assert audit_entries(app, "auth.password_ok") == []
    assert len(audit_entries(app, "auth.signed_in")) == 1
