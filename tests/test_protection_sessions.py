"""Server-side sessions: idle and absolute timeouts (and their settings), the user's list
of open sessions and ending them, disabled accounts losing their sessions, and the
session cookie's attributes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, update

from protection import accounts
from protection.clock import utcnow
from protection.db import db
from protection.identity import User
from protection.sessions import AuthSession
from tests.conftest import CSRF_PATTERN, post_form

IDLE_MESSAGE = "Phiên làm việc đã kết thúc vì không hoạt động quá lâu. Hãy đăng nhập lại."
EXPIRED_MESSAGE = "Phiên làm việc đã hết thời hạn tối đa. Hãy đăng nhập lại."
DISABLED_MESSAGE = "Phiên làm việc đã kết thúc. Hãy đăng nhập lại."


# --- helpers --------------------------------------------------------------------------

@dataclass(frozen=True)
class SessionRow:
    id: uuid.UUID
    user_agent: str | None
    ended_at: object
    end_reason: str | None


def auth_sessions(app, user_id) -> list[SessionRow]:
    with app.app_context():
        rows = [SessionRow(row.id, row.user_agent, row.ended_at, row.end_reason)
                for row in db.session.scalars(select(AuthSession).where(AuthSession.user_id == user_id)
                                              .order_by(AuthSession.created_at))]
        db.session.commit()
    return rows


def session_for_agent(app, user_id, agent: str) -> SessionRow:
    [row] = [row for row in auth_sessions(app, user_id) if row.user_agent == agent]
    return row


def sign_in_with_agent(client, user, agent: str):
    response = post_form(client, "/login", {"username": user.username, "password": user.password},
                         headers={"User-Agent": agent})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    return response


def assert_sent_to_login(response, *, next_path: str | None = None) -> None:
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    if next_path is not None:
        assert parse_qs(location.query) == {"next": [next_path]}


def set_cookie_headers(response, name: str) -> list[str]:
    return [value for value in response.headers.getlist("Set-Cookie") if value.startswith(f"{name}=")]


def cookie_attributes(header: str) -> dict[str, str]:
    """Set-Cookie attributes after the name=value pair, names lower-cased."""
    attributes = {}
    for part in header.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        attributes[key.lower()] = value
    return attributes


# --- timeouts -------------------------------------------------------------------------

def test_idle_session_ends_and_says_why(app, client, login_as, age_sessions):
    user = login_as("officer")
    age_sessions(user, idle_minutes=14)
    assert client.get("/").status_code == 200  # not yet idle long enough

    age_sessions(user, idle_minutes=16)
    response = client.get("/account/")
    assert_sent_to_login(response, next_path="/account/")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert IDLE_MESSAGE in page
    [row] = auth_sessions(app, user.id)
    assert row.ended_at is not None
    assert row.end_reason == "idle_timeout"
    # Coming back does not revive it.
    assert_sent_to_login(client.get("/"))


def test_a_request_keeps_the_session_alive(app, client, login_as, age_sessions):
    user = login_as("officer")
    age_sessions(user, idle_minutes=10)
    assert client.get("/").status_code == 200
    with app.app_context():
        last_seen = db.session.scalar(select(AuthSession.last_seen_at).where(AuthSession.user_id == user.id))
        db.session.commit()
    assert utcnow() - last_seen < timedelta(minutes=5)


def test_session_ends_after_its_absolute_lifetime_even_when_active(app, client, login_as, age_sessions):
    user = login_as("officer")
    age_sessions(user, since_sign_in_minutes=8 * 60 - 1)
    assert client.get("/").status_code == 200

    age_sessions(user, since_sign_in_minutes=8 * 60 + 1)
    response = client.get("/")
    assert_sent_to_login(response)
    assert EXPIRED_MESSAGE in client.get(response.headers["Location"]).get_data(as_text=True)
    [row] = auth_sessions(app, user.id)
    assert row.ended_at is not None
    assert row.end_reason == "absolute_timeout"


def test_idle_timeout_follows_the_setting(app_config, request):
    app_config["HOSO_IDLE_TIMEOUT_MINUTES"] = 1
    app = request.getfixturevalue("app")
    client = request.getfixturevalue("client")
    age_sessions = request.getfixturevalue("age_sessions")
    user = request.getfixturevalue("login_as")("officer")

    age_sessions(user, idle_minutes=2)
    assert_sent_to_login(client.get("/"))
    assert auth_sessions(app, user.id)[0].end_reason == "idle_timeout"


def test_absolute_lifetime_follows_the_setting(app_config, request):
    app_config["HOSO_SESSION_LIFETIME_HOURS"] = 1
    app = request.getfixturevalue("app")
    client = request.getfixturevalue("client")
    age_sessions = request.getfixturevalue("age_sessions")
    user = request.getfixturevalue("login_as")("officer")

    age_sessions(user, since_sign_in_minutes=61)
    assert_sent_to_login(client.get("/"))
    assert auth_sessions(app, user.id)[0].end_reason == "absolute_timeout"


def test_default_idle_timeout_tolerates_two_minutes(app, client, login_as, age_sessions):
    # The counterpart of test_idle_timeout_follows_the_setting with the default (15 min).
    user = login_as("officer")
    age_sessions(user, idle_minutes=2)
    assert client.get("/").status_code == 200
    assert auth_sessions(app, user.id)[0].ended_at is None


# --- the user's open sessions ---------------------------------------------------------

def test_sessions_page_lists_only_the_users_own_open_sessions(app, client, make_user):
    user = make_user("officer")
    stranger = make_user("officer")
    sign_in_with_agent(client, user, "Trinh-duyet-A")
    sign_in_with_agent(app.test_client(), user, "Trinh-duyet-B")
    sign_in_with_agent(app.test_client(), stranger, "Trinh-duyet-nguoi-khac")
    sign_in_with_agent(app.test_client(), user, "Trinh-duyet-da-nghi")
    idle = session_for_agent(app, user.id, "Trinh-duyet-da-nghi")
    with app.app_context():
        db.session.execute(update(AuthSession).where(AuthSession.id == idle.id)
                           .values(last_seen_at=utcnow() - timedelta(minutes=20)))
        db.session.commit()

    page = client.get("/account/sessions").get_data(as_text=True)
    assert "Trinh-duyet-A" in page
    assert "Trinh-duyet-B" in page
    assert "Trinh-duyet-nguoi-khac" not in page
    assert "Trinh-duyet-da-nghi" not in page
    assert page.count("Phiên này") == 1
    other = session_for_agent(app, user.id, "Trinh-duyet-B")
    mine = session_for_agent(app, user.id, "Trinh-duyet-A")
    assert f'action="/account/sessions/{other.id}/end"' in page
    assert f'action="/account/sessions/{mine.id}/end"' not in page
    assert 'action="/account/sessions/end-others"' in page


def test_end_other_sessions_signs_the_other_browser_out(app, client, make_user):
    user = make_user("officer")
    sign_in_with_agent(client, user, "Trinh-duyet-A")
    elsewhere = app.test_client()
    sign_in_with_agent(elsewhere, user, "Trinh-duyet-B")
    assert elsewhere.get("/").status_code == 200

    response = post_form(client, "/account/sessions/end-others", token_from="/account/sessions")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/sessions"
    page = client.get("/account/sessions").get_data(as_text=True)
    assert "Đã kết thúc 1 phiên khác." in page
    assert "Bạn không có phiên nào khác đang mở." in page

    assert_sent_to_login(elsewhere.get("/"))
    assert client.get("/").status_code == 200
    assert session_for_agent(app, user.id, "Trinh-duyet-B").end_reason == "ended_by_user"
    assert session_for_agent(app, user.id, "Trinh-duyet-A").ended_at is None


def test_end_one_session_by_id(app, client, make_user):
    user = make_user("officer")
    sign_in_with_agent(client, user, "Trinh-duyet-A")
    second, third = app.test_client(), app.test_client()
    sign_in_with_agent(second, user, "Trinh-duyet-B")
    sign_in_with_agent(third, user, "Trinh-duyet-C")
    target = session_for_agent(app, user.id, "Trinh-duyet-B")

    response = post_form(client, f"/account/sessions/{target.id}/end", token_from="/account/sessions")
    assert response.status_code == 302
    assert "Đã kết thúc phiên." in client.get("/account/sessions").get_data(as_text=True)

    assert_sent_to_login(second.get("/"))
    assert third.get("/").status_code == 200
    assert client.get("/").status_code == 200
    assert session_for_agent(app, user.id, "Trinh-duyet-B").end_reason == "ended_by_user"

    # Ending it again: it is no longer open.
    response = post_form(client, f"/account/sessions/{target.id}/end", token_from="/account/sessions")
    assert response.status_code == 404


def test_the_current_session_is_ended_by_signing_out_not_from_the_list(app, client, make_user):
    user = make_user("officer")
    sign_in_with_agent(client, user, "Trinh-duyet-A")
    mine = session_for_agent(app, user.id, "Trinh-duyet-A")
    response = post_form(client, f"/account/sessions/{mine.id}/end", token_from="/account/sessions")
    assert response.status_code == 302
    assert "Để kết thúc phiên hiện tại, hãy đăng xuất." in client.get(response.headers["Location"]).get_data(as_text=True)
    assert session_for_agent(app, user.id, "Trinh-duyet-A").ended_at is None


def test_another_users_session_id_gives_404_and_is_left_alone(app, client, make_user):
    user = make_user("officer")
    stranger = make_user("officer")
    sign_in_with_agent(client, user, "Trinh-duyet-A")
    theirs = app.test_client()
    sign_in_with_agent(theirs, stranger, "Trinh-duyet-nguoi-khac")
    target = session_for_agent(app, stranger.id, "Trinh-duyet-nguoi-khac")

    response = post_form(client, f"/account/sessions/{target.id}/end", token_from="/account/sessions")
    assert response.status_code == 404
    assert post_form(client, f"/account/sessions/{uuid.uuid4()}/end",
                     token_from="/account/sessions").status_code == 404

    assert session_for_agent(app, stranger.id, "Trinh-duyet-nguoi-khac").ended_at is None
    assert theirs.get("/").status_code == 200


# --- disabled accounts ----------------------------------------------------------------

def test_disabling_a_user_ends_their_sessions(app, client, login_as):
    user = login_as("officer")
    assert client.get("/").status_code == 200
    with app.app_context():
        accounts.set_user_active(db.session.get(User, user.id), by=None, active=False)
        db.session.commit()

    assert_sent_to_login(client.get("/"))
    [row] = auth_sessions(app, user.id)
    assert row.end_reason == "account_disabled"


def test_admin_disabling_a_user_ends_their_sessions(app, client, login_as, make_user, sign_in):
    user = login_as("officer")
    admin = make_user("admin")
    admin_client = app.test_client()
    assert sign_in(admin, target=admin_client).headers["Location"] == "/"

    response = post_form(admin_client, f"/admin/users/{user.id}/disable", token_from=f"/admin/users/{user.id}")
    assert response.status_code == 302
    assert_sent_to_login(client.get("/"))
    [row] = auth_sessions(app, user.id)
    assert row.end_reason == "account_disabled"


def test_account_found_disabled_at_the_next_request_ends_the_session(app, client, login_as):
    # However the flag was cleared (another tool, a direct update), the next request
    # notices and ends the session.
    user = login_as("officer")
    with app.app_context():
        db.session.execute(update(User).where(User.id == user.id).values(active=False))
        db.session.commit()

    response = client.get("/")
    assert_sent_to_login(response)
    assert DISABLED_MESSAGE in client.get(response.headers["Location"]).get_data(as_text=True)
    [row] = auth_sessions(app, user.id)
    assert row.ended_at is not None
    assert row.end_reason == "account_disabled"


# --- cookie attributes ----------------------------------------------------------------

def test_session_cookie_attributes_by_default(app, client, make_user, sign_in):
    user = make_user("officer")
    response = sign_in(user)
    [header] = set_cookie_headers(response, "hoso")
    attributes = cookie_attributes(header)
    assert "httponly" in attributes
    assert attributes["samesite"] == "Lax"
    assert attributes["path"] == "/"
    assert "secure" not in attributes
    assert "domain" not in attributes
    assert "expires" not in attributes and "max-age" not in attributes  # ends with the browser
    assert set_cookie_headers(response, "__Host-hoso") == []
    assert set_cookie_headers(response, "remember_token") == []


def test_session_cookie_over_https_uses_the_host_prefix(app_config, request):
    app_config["HOSO_HTTPS"] = True
    client = request.getfixturevalue("client")
    user = request.getfixturevalue("make_user")("officer")
    https = {"base_url": "https://localhost"}

    page = client.get("/login", **https)
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    token = CSRF_PATTERN.search(page.get_data(as_text=True)).group(1)
    response = client.post("/login", data={"csrf_token": token, "username": user.username,
                                           "password": user.password},
                           headers={"Referer": "https://localhost/login"}, **https)
    assert response.status_code == 302
    assert set_cookie_headers(response, "hoso") == []
    [header] = set_cookie_headers(response, "__Host-hoso")
    attributes = cookie_attributes(header)
    assert "secure" in attributes
    assert "httponly" in attributes
    assert attributes["samesite"] == "Lax"
    assert attributes["path"] == "/"
    assert "domain" not in attributes
    assert client.get("/", **https).status_code == 200


@pytest.mark.parametrize("path", ["/", "/account/sessions"])
def test_signed_in_pages_are_not_cached(client, login_as, path):
    login_as("officer")
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
