"""The TOTP second factor: forced enrolment at sign-in for the roles that need it, the QR
code, codes checked and accepted once, voluntary enrolment guarded by the password, and
the notice that a factor was set up."""

from __future__ import annotations

import re

import pyotp
import pytest
from sqlalchemy import select

from protection.clock import utcnow
from protection.db import db
from protection.identity import User
from protection.sessions import AuthSession
from tests.conftest import MadeUser, next_totp_code, post_form
from tests.pages import field_error_lines

ENROL = "/account/two-factor/enrol"
QR = "/account/two-factor/qr.svg"
SECOND_FACTOR = "/login/second-factor"
ENROLLED_NOTICE = "Xác thực hai lớp (ứng dụng tạo mã) đã được thiết lập cho tài khoản của bạn."
# A reused code is told apart from a wrong one, with the wait until the next code.
USED_CODE_MESSAGE = re.compile(r"Mã này đã được dùng; hãy chờ mã tiếp theo \(còn (\d+) giây\)\.")


def assert_told_code_was_used(page: str) -> None:
    errors = field_error_lines(page, "code")
    assert len(errors) == 1 and USED_CODE_MESSAGE.fullmatch(errors[0]), errors
    assert 1 <= int(USED_CODE_MESSAGE.fullmatch(errors[0]).group(1)) <= 60
WRONG_ENROL_CODE_MESSAGE = "Mã xác thực không đúng hoặc đã hết hạn."


# --- helpers --------------------------------------------------------------------------


def shown_secret(page: str) -> str:
    match = re.search(r'<p class="hoso-secret">([A-Z2-7]+)</p>', page)
    assert match, "no secret on the enrolment page"
    return match.group(1)


def pending_secrets(app, user_id) -> list[str | None]:
    with app.app_context():
        secrets = list(db.session.scalars(
            select(AuthSession.pending_totp_secret).where(AuthSession.user_id == user_id)
        ))
        db.session.commit()
    return secrets


def stored_factor(app, user_id) -> tuple[str | None, int | None]:
    with app.app_context():
        user = db.session.get(User, user_id)
        factor = (user.totp_secret, user.totp_last_counter)
        db.session.commit()
    return factor


def wrong_code(secret: str) -> str:
    totp = pyotp.TOTP(secret)
    now = totp.timecode(utcnow())
    acceptable = {totp.generate_otp(counter) for counter in range(now - 2, now + 3)}
    return next(code for code in (f"{digit}" * 6 for digit in range(10)) if code not in acceptable)


def attempt(client, user):
    return post_form(client, "/login", {"username": user.username, "password": user.password})


# --- forced enrolment at sign-in ------------------------------------------------------

@pytest.mark.parametrize("role", ["supervisor", "auditor", "admin"])
def test_role_needing_a_factor_without_one_must_enrol_before_anything_else(app, client, make_user, role):
    user = make_user(role, totp=False)
    response = attempt(client, user)
    assert response.status_code == 302
    assert response.headers["Location"] == ENROL

    for path in ("/", "/account/", "/account/sessions", "/account/password", SECOND_FACTOR):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["Location"] == ENROL, path

    page = client.get(ENROL)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Vai trò của bạn bắt buộc xác thực hai lớp" in text
    assert 'id="current_password"' not in text  # the password was typed a moment ago
    assert pending_secrets(app, user.id) == [shown_secret(text)]


@pytest.mark.parametrize("role", ["supervisor", "auditor", "admin"])
def test_role_with_a_factor_must_give_a_code(app, client, make_user, role):
    user = make_user(role)
    response = attempt(client, user)
    assert response.headers["Location"] == SECOND_FACTOR
    for path in ("/", "/account/", ENROL):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["Location"] == SECOND_FACTOR, path
    response = post_form(client, SECOND_FACTOR, {"code": next_totp_code(app, user)})
    assert response.headers["Location"] == "/"
    assert client.get("/").status_code == 200


def test_qr_code_is_an_svg_of_the_pending_secret(app, client, make_user):
    user = make_user("supervisor", totp=False)
    attempt(client, user)
    assert client.get(QR).status_code == 404  # nothing pending before the page is shown
    client.get(ENROL)
    response = client.get(QR)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/svg+xml"
    assert b"<svg" in response.data
    assert response.headers["Cache-Control"] == "no-store"


def test_enrolment_at_sign_in_checks_the_code_and_completes_the_sign_in(app, client, make_user):
    user = make_user("supervisor", totp=False)
    attempt(client, user)
    page = client.get(ENROL).get_data(as_text=True)
    secret = shown_secret(page)
    assert pending_secrets(app, user.id) == [secret]
    # Reloading the page keeps the same secret (the phone may have scanned it already).
    assert shown_secret(client.get(ENROL).get_data(as_text=True)) == secret

    response = post_form(client, ENROL, {"code": wrong_code(secret)})
    assert response.status_code == 200
    assert field_error_lines(response.get_data(as_text=True), "code") == [WRONG_ENROL_CODE_MESSAGE]
    assert stored_factor(app, user.id) == (None, None)
    assert client.get("/").status_code == 303

    response = post_form(client, ENROL, {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Đã kích hoạt xác thực hai lớp." in text
    assert ENROLLED_NOTICE in text
    assert stored_factor(app, user.id)[0] == secret
    assert pending_secrets(app, user.id) == [None]


def test_a_code_is_accepted_only_once(app, client, make_user):
    user = make_user("supervisor", totp=False)
    attempt(client, user)
    secret = shown_secret(client.get(ENROL).get_data(as_text=True))
    code = pyotp.TOTP(secret).now()
    assert post_form(client, ENROL, {"code": code}).headers["Location"] == "/"

    # The same code for a second sign-in, from another browser: refused.
    other = app.test_client()
    assert attempt(other, user).headers["Location"] == SECOND_FACTOR
    response = post_form(other, SECOND_FACTOR, {"code": code})
    assert response.status_code == 200
    assert_told_code_was_used(response.get_data(as_text=True))
    assert other.get("/").status_code == 303

    # A code of a later time step works.
    enrolled = MadeUser(user.id, user.username, user.password, user.role, user.unit_code, secret)
    response = post_form(other, SECOND_FACTOR, {"code": next_totp_code(app, enrolled)})
    assert response.headers["Location"] == "/"


def test_the_same_code_cannot_finish_two_sign_ins(app, client, make_user):
    user = make_user("auditor")
    code = pyotp.TOTP(user.totp_secret).now()
    attempt(client, user)
    assert post_form(client, SECOND_FACTOR, {"code": code}).headers["Location"] == "/"

    other = app.test_client()
    attempt(other, user)
    response = post_form(other, SECOND_FACTOR, {"code": code})
    assert_told_code_was_used(response.get_data(as_text=True))
    assert other.get("/").status_code == 303


def test_malformed_code_is_refused_beside_the_field(app, client, make_user):
    user = make_user("supervisor")
    attempt(client, user)
    response = post_form(client, SECOND_FACTOR, {"code": "12ab56"})
    assert response.status_code == 200
    assert field_error_lines(response.get_data(as_text=True), "code") == ["Mã gồm 6 chữ số."]
    assert client.get("/").status_code == 303


# --- voluntary enrolment --------------------------------------------------------------

def test_officer_enrolment_from_the_account_page_needs_the_current_password(app, client, login_as):
    user = login_as("officer")
    elsewhere = app.test_client()
    assert attempt(elsewhere, user).headers["Location"] == "/"

    account = client.get("/account/").get_data(as_text=True)
    assert "Chưa bật xác thực hai lớp" in account
    assert f'href="{ENROL}"' in account
    page = client.get(ENROL).get_data(as_text=True)
    assert 'id="current_password"' in page
    secret = shown_secret(page)

    response = post_form(client, ENROL, {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 200
    assert field_error_lines(response.get_data(as_text=True), "current_password") == ["Trường này là bắt buộc."]

    response = post_form(client, ENROL, {"current_password": "Sai-mat-khau-hoan-toan-99",
                                         "code": pyotp.TOTP(secret).now()})
    assert response.status_code == 200
    assert field_error_lines(response.get_data(as_text=True), "current_password") == ["Mật khẩu hiện tại không đúng."]
    assert stored_factor(app, user.id) == (None, None)

    response = post_form(client, ENROL, {"current_password": user.password,
                                         "code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/"
    text = client.get("/account/").get_data(as_text=True)
    assert "Đã bật xác thực hai lớp" in text
    assert ENROLLED_NOTICE in text
    assert stored_factor(app, user.id)[0] == secret

    # Moving the factor signs out the user's other browsers...
    response = elsewhere.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    # ...and from now on this officer's sign-in asks for a code.
    later = app.test_client()
    assert attempt(later, user).headers["Location"] == SECOND_FACTOR


def test_wrong_code_at_voluntary_enrolment_keeps_the_old_state(app, client, login_as):
    user = login_as("liaison")
    secret = shown_secret(client.get(ENROL).get_data(as_text=True))
    response = post_form(client, ENROL, {"current_password": user.password, "code": wrong_code(secret)})
    assert response.status_code == 200
    assert field_error_lines(response.get_data(as_text=True), "code") == [WRONG_ENROL_CODE_MESSAGE]
    assert stored_factor(app, user.id) == (None, None)
    assert ENROLLED_NOTICE not in client.get("/").get_data(as_text=True)
