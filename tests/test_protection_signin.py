"""Signing in and out: every role, one refusal message for every failure, the `next`
target, sign-out ending the server-side session, a fresh cookie at every sign-in, and the
per-address rate limit on sign-in attempts."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from protection.db import db
from protection.sessions import AuthSession
from tests.conftest import CSRF_PATTERN, PASSWORD, csrf_token, next_totp_code, post_form
from tests.pages import field_error_lines, input_value

COOKIE = "hoso"
WRONG_PASSWORD = "Sai-mat-khau-hoan-toan-99"
GENERIC_REFUSAL = (
    "Tên đăng nhập hoặc mật khẩu không đúng, hoặc tài khoản đang bị tạm khóa. "
    "Sau 5 lần sai trong 15 phút, tài khoản bị khóa 15 phút."
)
ROLE_LABELS = {
    "officer": "Cán bộ thẩm định",
    "liaison": "Cán bộ phối hợp",
    "supervisor": "Lãnh đạo phê duyệt",
    "auditor": "Kiểm tra viên nhật ký",
    "admin": "Quản trị hệ thống",
}


# --- helpers --------------------------------------------------------------------------


def in_layout(page: str) -> bool:
    return bool(re.search(r'<a class="navbar-brand[^"]*"[^>]*>Hồ sơ</a>', page)) and "</footer>" in page


@dataclass(frozen=True)
class SessionRow:
    id: uuid.UUID
    ended_at: object
    end_reason: str | None
    second_factor_passed: bool


def auth_sessions(app, user_id=None) -> list[SessionRow]:
    with app.app_context():
        query = select(AuthSession).order_by(AuthSession.created_at)
        if user_id is not None:
            query = query.where(AuthSession.user_id == user_id)
        rows = [SessionRow(row.id, row.ended_at, row.end_reason, row.second_factor_passed)
                for row in db.session.scalars(query)]
        db.session.commit()
    return rows


def count_auth_sessions(app) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(AuthSession))
        db.session.commit()
    return count


def attempt(client, username: str, password: str, **kwargs):
    return post_form(client, "/login", {"username": username, "password": password}, **kwargs)


def copy_cookie(app, source):
    """A second browser holding the same session cookie as `source`."""
    other = app.test_client()
    other.set_cookie(COOKIE, source.get_cookie(COOKIE).value)
    return other


def assert_sent_to_login(response) -> None:
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


# --- success for every role -----------------------------------------------------------

@pytest.mark.parametrize("role", ["officer", "liaison"])
def test_role_without_second_factor_lands_on_home(app, client, make_user, role):
    user = make_user(role)
    response = attempt(client, user.username, user.password)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Xin chào, Nguyễn Thị Kiểm Thử" in text
    assert ROLE_LABELS[role] in text
    [row] = auth_sessions(app, user.id)
    assert row.ended_at is None and row.second_factor_passed is True


@pytest.mark.parametrize("role", ["supervisor", "auditor", "admin"])
def test_role_with_second_factor_needs_a_code_before_home(app, client, make_user, role):
    user = make_user(role)
    response = attempt(client, user.username, user.password)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login/second-factor"
    half = client.get("/")
    assert half.status_code == 303
    assert half.headers["Location"] == "/login/second-factor"
    [row] = auth_sessions(app, user.id)
    assert row.second_factor_passed is False

    response = post_form(client, "/login/second-factor", {"code": next_totp_code(app, user)})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert ROLE_LABELS[role] in page.get_data(as_text=True)
    [row] = auth_sessions(app, user.id)
    assert row.ended_at is None and row.second_factor_passed is True


def test_username_is_matched_without_case_or_surrounding_spaces(client, make_user):
    user = make_user("officer", username="tran.van.an")
    response = attempt(client, "  Tran.Van.An ", user.password)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


# --- one message for every refusal ----------------------------------------------------

def test_unknown_user_wrong_password_and_disabled_user_get_the_same_page(app, client, make_user):
    known = make_user("officer")
    disabled = make_user("officer", active=False)
    attempts = {
        "unknown user": ("khong.ton.tai", PASSWORD),
        "wrong password": (known.username, WRONG_PASSWORD),
        "disabled user": (disabled.username, disabled.password),
    }
    normalised = {}
    for label, (username, password) in attempts.items():
        response = attempt(client, username, password)
        assert response.status_code == 200, label
        page = response.get_data(as_text=True)
        assert field_error_lines(page, "password") == [GENERIC_REFUSAL], label
        assert field_error_lines(page, "username") == [], label
        assert input_value(page, "username") == username, label
        assert input_value(page, "password") == "", label
        assert password not in page, label
        # Nothing else on the page may differ either (a flash, a hint, a field).
        page = CSRF_PATTERN.sub('name="csrf_token" value="TOKEN"', page)
        normalised[label] = page.replace(f'value="{username}"', 'value="USERNAME"')
    assert len(set(normalised.values())) == 1
    assert count_auth_sessions(app) == 0


def test_empty_fields_are_refused_beside_each_field(app, client):
    response = attempt(client, "", "")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert field_error_lines(page, "username") == ["Trường này là bắt buộc."]
    assert field_error_lines(page, "password") == ["Trường này là bắt buộc."]
    assert count_auth_sessions(app) == 0


# --- the `next` target ----------------------------------------------------------------

def test_next_from_a_protected_page_is_honoured(client, make_user):
    user = make_user("officer")
    response = client.get("/account/sessions")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query) == {"next": ["/account/sessions"]}
    client.get(response.headers["Location"])
    response = attempt(client, user.username, user.password)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/sessions"


def test_next_is_kept_through_the_second_factor(app, client, make_user):
    user = make_user("supervisor")
    client.get("/login", query_string={"next": "/account/"})
    response = attempt(client, user.username, user.password)
    assert response.headers["Location"] == "/login/second-factor"
    response = post_form(client, "/login/second-factor", {"code": next_totp_code(app, user)})
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/"


@pytest.mark.parametrize("target", [
    "//evil.example",
    "///evil.example",
    "http://evil.example/",
    "https://evil.example/account/",
    "/\\evil",
    "/\\/evil.example",
    "/\t/evil.example",
    "javascript:alert(1)",
    "evil.example",
])
def test_next_to_another_site_is_ignored(client, make_user, target):
    user = make_user("officer")
    assert client.get("/login", query_string={"next": target}).status_code == 200
    response = attempt(client, user.username, user.password)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


# --- sign-out -------------------------------------------------------------------------

def test_sign_out_needs_post_with_csrf_and_ends_the_server_side_session(app, client, login_as):
    user = login_as("officer")
    other = copy_cookie(app, client)
    assert other.get("/").status_code == 200  # the copy is the same sign-in

    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200

    response = post_form(client, "/logout", token_from="/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "Bạn đã đăng xuất." in client.get("/login").get_data(as_text=True)
    assert_sent_to_login(client.get("/"))

    # The old cookie, replayed from elsewhere, no longer signs anyone in.
    assert_sent_to_login(other.get("/"))
    [row] = auth_sessions(app, user.id)
    assert row.ended_at is not None
    assert row.end_reason == "signed_out"


def test_half_signed_in_user_can_cancel_the_sign_in(app, client, make_user):
    user = make_user("supervisor")
    attempt(client, user.username, user.password)
    page = client.get("/login/second-factor").get_data(as_text=True)
    assert "Hủy đăng nhập" in page
    response = post_form(client, "/logout", token_from="/login/second-factor")
    assert response.status_code == 302
    assert_sent_to_login(client.get("/login/second-factor"))
    [row] = auth_sessions(app, user.id)
    assert row.end_reason == "signed_out"


# --- a new cookie at every sign-in (no session fixation) ------------------------------

def test_sign_in_issues_a_new_session_cookie(app, client, make_user):
    user = make_user("officer")
    token = csrf_token(client)
    before = client.get_cookie(COOKIE).value
    response = client.post("/login", data={"csrf_token": token, "username": user.username,
                                           "password": user.password})
    assert response.status_code == 302
    after = client.get_cookie(COOKIE).value
    assert after != before
    assert client.get("/").status_code == 200

    # A cookie planted before the sign-in (by someone else) did not become signed in.
    planted = app.test_client()
    planted.set_cookie(COOKIE, before)
    assert_sent_to_login(planted.get("/"))


def test_passing_the_second_factor_issues_a_new_session_token(app, client, make_user):
    user = make_user("supervisor")
    attempt(client, user.username, user.password)
    half_signed_in = copy_cookie(app, client)
    assert half_signed_in.get("/").status_code == 303  # same half-finished sign-in

    response = post_form(client, "/login/second-factor", {"code": next_totp_code(app, user)})
    assert response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    # Whoever copied the cookie before the code was typed holds a dead token now.
    assert_sent_to_login(half_signed_in.get("/"))
    assert_sent_to_login(half_signed_in.get("/login/second-factor"))


# --- rate limit -----------------------------------------------------------------------

def test_sign_in_attempts_are_rate_limited_per_address(app_config, request):
    app_config["HOSO_LOGIN_RATE_LIMIT"] = "3 per minute"
    app = request.getfixturevalue("app")
    client = request.getfixturevalue("client")
    user = request.getfixturevalue("make_user")("officer")

    for _ in range(3):
        assert attempt(client, user.username, WRONG_PASSWORD).status_code == 200
    response = attempt(client, user.username, user.password)
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert in_layout(page)
    assert "Quá nhiều yêu cầu" in page
    assert "Mã tham chiếu" in page
    assert count_auth_sessions(app) == 0  # even the right password did not get through

    assert client.get("/login").status_code == 200  # only attempts (POST) are limited

    elsewhere = app.test_client()
    response = attempt(elsewhere, user.username, user.password,
                       environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
