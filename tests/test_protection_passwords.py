"""Changing a password: the current one is required, the new one is 12–128 characters and
not weak or common, both entries match; success signs out the user's other browsers and
leaves a notice. A temporary password must be changed before anything else. Hashes are
argon2id."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from protection.db import db
from protection.identity import User
from protection.sessions import AuthSession
from tests.conftest import next_totp_code, post_form
from tests.pages import field_error_lines, input_value

PAGE = "/account/password"
NEW_PASSWORD = "Trang-len-dinh-nui-Ba-Vi-7"
CHANGED_NOTICE = "Mật khẩu của bạn đã được đổi."
TOO_SHORT = "Mật khẩu phải có ít nhất 12 ký tự."
TOO_LONG = "Mật khẩu dài tối đa 128 ký tự."
TOO_WEAK = "Mật khẩu quá dễ đoán. Hãy dùng một cụm nhiều từ không liên quan đến tên hay đơn vị của bạn."


# --- helpers --------------------------------------------------------------------------


def change(client, current: str, new: str, confirm: str | None = None):
    return post_form(client, PAGE, {"current_password": current, "new_password": new,
                                    "confirm_password": new if confirm is None else confirm})


def password_hash(app, user_id) -> str:
    with app.app_context():
        value = db.session.scalar(select(User.password_hash).where(User.id == user_id))
        db.session.commit()
    return value


def attempt(client, username: str, password: str):
    return post_form(client, "/login", {"username": username, "password": password})


def assert_refused_beside(response, field: str, message: str) -> str:
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert field_error_lines(page, field) == [message]
    for other in {"current_password", "new_password", "confirm_password"} - {field}:
        assert field_error_lines(page, other) == [], other
    return page


# --- refusals -------------------------------------------------------------------------

def test_change_needs_the_right_current_password(app, client, login_as):
    user = login_as("officer")
    before = password_hash(app, user.id)
    response = change(client, "Sai-mat-khau-hoan-toan-99", NEW_PASSWORD)
    assert_refused_beside(response, "current_password", "Mật khẩu hiện tại không đúng.")
    assert password_hash(app, user.id) == before
    # The old password still signs in; the new one does not.
    assert attempt(app.test_client(), user.username, user.password).status_code == 302
    assert attempt(app.test_client(), user.username, NEW_PASSWORD).status_code == 200


@pytest.mark.parametrize(("new_password", "message"), [
    ("Ngan-qua-7", TOO_SHORT),
    ("Bon-mua-xa", TOO_SHORT),
    ("x" * 11, TOO_SHORT),
    ("Cay-tre-xanh-ben-bo-de-89-Song-Hong-" * 4, TOO_LONG),
    ("matkhau123456", TOO_WEAK),
    ("password1234", TOO_WEAK),
    ("qwertyuiop12", TOO_WEAK),
    ("aaaaaaaaaaaaaaaa", TOO_WEAK),
])
def test_weak_or_badly_sized_new_password_is_refused_beside_the_field(app, client, login_as,
                                                                      new_password, message):
    user = login_as("officer")
    before = password_hash(app, user.id)
    response = change(client, user.password, new_password)
    page = assert_refused_beside(response, "new_password", message)
    # Passwords are never written back into the page, whichever field was wrong.
    for field in ("current_password", "new_password", "confirm_password"):
        assert input_value(page, field) in (None, ""), field
    assert new_password not in page
    assert user.password not in page
    assert password_hash(app, user.id) == before


def test_password_built_from_the_users_own_name_is_refused(app, client, make_user, sign_in):
    user = make_user("officer", username="hoang.minh.duc", display_name="Hoàng Minh Đức")
    sign_in(user)
    response = change(client, user.password, "hoang.minh.duc2024")
    assert_refused_beside(response, "new_password", TOO_WEAK)


def test_confirmation_must_match(app, client, login_as):
    user = login_as("officer")
    before = password_hash(app, user.id)
    response = change(client, user.password, NEW_PASSWORD, confirm=NEW_PASSWORD + "!")
    assert_refused_beside(response, "confirm_password", "Hai lần nhập mật khẩu mới không khớp.")
    assert password_hash(app, user.id) == before


def test_new_password_must_differ_from_the_current_one(app, client, login_as):
    user = login_as("officer")
    response = change(client, user.password, user.password)
    assert_refused_beside(response, "new_password", "Mật khẩu mới phải khác mật khẩu hiện tại.")


def test_every_field_is_required(client, login_as):
    login_as("officer")
    response = post_form(client, PAGE, {})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for field in ("current_password", "new_password", "confirm_password"):
        assert field_error_lines(page, field) == ["Trường này là bắt buộc."], field


# --- success --------------------------------------------------------------------------

@pytest.mark.parametrize("new_password", [
    "Vx9#qLm2!tRz",  # 12 characters, the shortest allowed
    NEW_PASSWORD,
    ("Cay-tre-xanh-ben-bo-de-89-Song-Hong-" * 4)[:128],  # 128 characters, the longest allowed
])
def test_change_ends_other_sessions_and_leaves_a_notice(app, client, login_as, new_password):
    user = login_as("officer")
    elsewhere = app.test_client()
    assert attempt(elsewhere, user.username, user.password).status_code == 302
    assert elsewhere.get("/").status_code == 200

    response = change(client, user.password, new_password)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/"
    page = client.get("/account/").get_data(as_text=True)
    assert "Đã đổi mật khẩu. Các phiên đăng nhập khác của bạn đã được kết thúc." in page
    assert CHANGED_NOTICE in page

    response = elsewhere.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    with app.app_context():
        reasons = sorted(db.session.scalars(
            select(AuthSession.end_reason).where(AuthSession.user_id == user.id)
        ), key=lambda reason: reason or "")
        db.session.commit()
    assert reasons == [None, "password_changed"]  # this browser's session stays open

    assert attempt(app.test_client(), user.username, user.password).status_code == 200
    assert attempt(app.test_client(), user.username, new_password).status_code == 302


# --- forced change of a temporary password --------------------------------------------

def test_must_change_password_before_anything_else(app, client, make_user, sign_in):
    user = make_user("officer", must_change_password=True)
    response = sign_in(user)
    assert response.status_code == 302
    assert response.headers["Location"] == PAGE
    for path in ("/", "/account/", "/account/sessions", "/account/two-factor/enrol"):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["Location"] == PAGE, path
    page = client.get(PAGE).get_data(as_text=True)
    assert "Bạn đang dùng mật khẩu tạm thời." in page

    response = change(client, user.password, NEW_PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    with app.app_context():
        assert db.session.get(User, user.id).must_change_password is False
        db.session.commit()


def test_forced_change_comes_after_the_second_factor(app, client, make_user, sign_in):
    user = make_user("supervisor", must_change_password=True)
    response = sign_in(user, with_code=False)
    assert response.headers["Location"] == "/login/second-factor"
    assert client.get(PAGE).headers["Location"] == "/login/second-factor"
    response = post_form(client, "/login/second-factor", {"code": next_totp_code(app, user)})
    assert response.headers["Location"] == PAGE
    assert client.get("/").headers["Location"] == PAGE
    assert change(client, user.password, NEW_PASSWORD).headers["Location"] == "/"
    assert client.get("/").status_code == 200


def test_forced_change_refusal_still_blocks_the_rest(client, make_user, sign_in):
    user = make_user("officer", must_change_password=True)
    sign_in(user)
    assert_refused_beside(change(client, user.password, "password1234"), "new_password", TOO_WEAK)
    assert client.get("/").status_code == 303


# --- hashing --------------------------------------------------------------------------

def test_passwords_are_stored_as_argon2id(app, client, login_as):
    user = login_as("officer")
    before = password_hash(app, user.id)
    assert before.startswith("$argon2id$")
    assert user.password not in before
    assert change(client, user.password, NEW_PASSWORD).status_code == 302
    after = password_hash(app, user.id)
    assert after.startswith("$argon2id$")
    assert after != before
    assert NEW_PASSWORD not in after


def test_hash_with_outdated_parameters_is_upgraded_at_sign_in(app_config, request):
    app_config["HOSO_ARGON2_PROFILE"] = "rfc9106-low-memory"
    app = request.getfixturevalue("app")
    user = request.getfixturevalue("make_user")("officer")
    weak_hash = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(user.password)
    with app.app_context():
        db.session.execute(update(User).where(User.id == user.id).values(password_hash=weak_hash))
        db.session.commit()

    assert attempt(app.test_client(), user.username, user.password).status_code == 302
    upgraded = password_hash(app, user.id)
    assert upgraded != weak_hash
    assert upgraded.startswith("$argon2id$")
    assert PasswordHasher().check_needs_rehash(upgraded) is False
