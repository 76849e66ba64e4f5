"""CSRF: a form posted without its token, or with a token from another browser's session,
is refused with a 400 page in the app's layout, and nothing it asked for happens."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from protection import notices, passwords
from protection.db import db
from protection.identity import User
from protection.sessions import AuthSession
from tests.conftest import csrf_token, post_form

CSRF_MESSAGE = "Biểu mẫu đã hết hạn hoặc không hợp lệ (mã chống giả mạo)."


def assert_csrf_refusal(response) -> None:
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert re.search(r'<a class="navbar-brand[^"]*"[^>]*>Hồ sơ</a>', page), "not in the layout"
    assert "Lỗi 400" in page
    assert CSRF_MESSAGE in page
    reference = re.search(r'Mã tham chiếu: <span class="hoso-secret">([^<]*)</span>', page)
    assert reference, "no reference on the error page"
    assert re.fullmatch(r"[0-9A-F]{8}", reference.group(1)), reference.group(1)


def open_sessions(app) -> int:
    with app.app_context():
        count = db.session.scalar(
            select(func.count()).select_from(AuthSession).where(AuthSession.ended_at.is_(None))
        )
        db.session.commit()
    return count


# --- sign-in --------------------------------------------------------------------------

def test_sign_in_without_token_is_refused_and_signs_nobody_in(app, client, make_user):
    user = make_user("officer")
    client.get("/login")
    response = client.post("/login", data={"username": user.username, "password": user.password})
    assert_csrf_refusal(response)
    assert open_sessions(app) == 0
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_sign_in_with_a_token_from_another_session_is_refused(app, client, make_user):
    user = make_user("officer")
    attacker = app.test_client()
    foreign_token = csrf_token(attacker)
    client.get("/login")  # the victim has a session of their own
    response = client.post("/login", data={"csrf_token": foreign_token, "username": user.username,
                                           "password": user.password})
    assert_csrf_refusal(response)
    assert open_sessions(app) == 0


def test_sign_in_with_a_forged_token_is_refused(app, client, make_user):
    user = make_user("officer")
    token = csrf_token(client)
    response = client.post("/login", data={"csrf_token": token[:-4] + "AAAA", "username": user.username,
                                           "password": user.password})
    assert_csrf_refusal(response)
    assert open_sessions(app) == 0


def test_sign_in_with_the_token_succeeds(app, client, make_user):
    # The counterpart of the refusals above: the same request with its own token works.
    user = make_user("officer")
    response = post_form(client, "/login", {"username": user.username, "password": user.password})
    assert response.status_code == 302
    assert open_sessions(app) == 1


# --- signed-in actions ----------------------------------------------------------------

def test_sign_out_without_token_is_refused_and_stays_signed_in(app, client, login_as):
    login_as("officer")
    assert_csrf_refusal(client.post("/logout"))
    assert client.get("/").status_code == 200
    assert open_sessions(app) == 1


def test_sign_out_with_a_token_from_another_session_is_refused(app, client, login_as):
    login_as("officer")
    foreign_token = csrf_token(app.test_client())
    assert_csrf_refusal(client.post("/logout", data={"csrf_token": foreign_token}))
    assert client.get("/").status_code == 200
    assert open_sessions(app) == 1


def test_the_token_from_before_sign_in_is_not_accepted_after_it(app, client, make_user):
    user = make_user("officer")
    before = csrf_token(client)
    response = client.post("/login", data={"csrf_token": before, "username": user.username,
                                           "password": user.password})
    assert response.status_code == 302
    # The cookie session was replaced at sign-in, its token with it.
    assert_csrf_refusal(client.post("/logout", data={"csrf_token": before}))
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("path", ["/account/sessions/end-others", "/account/notices/read", "/account/password"])
def test_account_forms_without_token_are_refused(app, client, login_as, make_user, sign_in, path):
    user = login_as("officer")
    elsewhere = app.test_client()
    sign_in(user, target=elsewhere)
    with app.app_context():
        notices.notify(db.session.get(User, user.id), notices.NoticeKind.PASSWORD_RESET)
        db.session.commit()
    response = client.post(path, data={"current_password": user.password,
                                       "new_password": "Trang-len-dinh-nui-Ba-Vi-7",
                                       "confirm_password": "Trang-len-dinh-nui-Ba-Vi-7"})
    assert_csrf_refusal(response)
    assert open_sessions(app) == 2
    assert elsewhere.get("/").status_code == 200
    with app.app_context():
        unchanged = db.session.get(User, user.id)
        assert passwords.verify_password(unchanged.password_hash, user.password)
        assert len(notices.unread_notices(unchanged)) == 1
        db.session.commit()
