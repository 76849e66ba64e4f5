"""User and unit administration through the admin pages, as an admin would click it."""

from __future__ import annotations

import re
import uuid

import pyotp
import pytest
from sqlalchemy import func, select

from protection.db import db
from protection.identity import Role, Unit, User
from protection.sessions import AuthSession
from tests.conftest import MadeUser, post_form
from tests.factories import count_rows
from tests.pages import field_errors, input_value, selected_option

NEW_PASSWORD = "Song-Huong-chay-qua-cau-Trang-Tien-7"
TEMPORARY = re.compile(r'class="hoso-temp-password[^"]*">\s*([^<\s]+)\s*<')


def temporary_password(page: str) -> str:
    match = TEMPORARY.search(page)
    assert match, "no temporary password on the page"
    return match.group(1)


def load_user(app, user_id) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.commit()
    return user


def open_sessions_of(app, user_id) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(AuthSession).where(
            AuthSession.user_id == user_id, AuthSession.ended_at.is_(None)))
        db.session.commit()
    return count


def user_action(client, user: MadeUser | uuid.UUID, action: str):
    user_id = user.id if isinstance(user, MadeUser) else user
    return post_form(client, f"/admin/users/{user_id}/{action}", token_from=f"/admin/users/{user_id}")


# --- creating users ---------------------------------------------------------------------

def test_admin_creates_user_who_must_change_the_temporary_password(app, client, login_as, make_unit,
                                                                   sign_in):
    login_as("admin")
    make_unit("HU-SONHA", "Huyện ủy Sơn Hà", "district", parent="BTCTU")
    before = count_rows(app, User)

    response = post_form(client, "/admin/users/new", {
        "username": "Canbo.Moi", "display_name": "Trần Văn Mới", "unit": "HU-SONHA",
        "role": "officer", "clearance": "confidential",
    })
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Đã tạo tài khoản" in page
    temporary = temporary_password(page)
    assert len(temporary) >= 12
    assert count_rows(app, User) == before + 1

    with app.app_context():
        created = db.session.scalar(select(User).where(User.username == "canbo.moi"))
        assert (created.display_name, created.unit.code, created.role, created.clearance.value) == (
            "Trần Văn Mới", "HU-SONHA", Role.OFFICER, "confidential")
        assert created.must_change_password is True
        assert temporary not in created.password_hash
        db.session.commit()

    # Shown once: no other admin page repeats it.
    for path in ("/admin/users", f"/admin/users/{created.id}"):
        listing = client.get(path)
        assert listing.status_code == 200
        assert "canbo.moi" in listing.get_data(as_text=True)
        assert temporary not in listing.get_data(as_text=True)

    person = app.test_client()
    made = MadeUser(created.id, "canbo.moi", temporary, "officer", "HU-SONHA")
    response = sign_in(made, target=person)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/password"
    assert person.get("/").headers["Location"] == "/account/password"
    response = post_form(person, "/account/password", {
        "current_password": temporary, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert response.status_code == 302
    assert person.get("/").status_code == 200
    assert load_user(app, created.id).must_change_password is False


@pytest.mark.parametrize(("changes", "field", "message", "kept"), [
    ({"username": "Canbo.Trung"}, "username", "Tên đăng nhập đã được dùng.", "display_name"),
    ({"username": "nguyễn văn"}, "username", "Tên đăng nhập dài 3–64 ký tự", "display_name"),
    ({"username": "a;drop"}, "username", "Tên đăng nhập dài 3–64 ký tự", "display_name"),
    ({"display_name": ""}, "display_name", "Trường này là bắt buộc.", "username"),
    ({"display_name": "   "}, "display_name", "Hãy nhập họ và tên.", "username"),
    ({"unit": "KHONGCO"}, "unit", "Không có đơn vị với mã này.", "username"),
], ids=["duplicate", "accented", "punctuation", "empty-name", "blank-name", "unknown-unit"])
def test_bad_user_input_is_shown_beside_the_field_and_creates_nothing(app, client, login_as, make_user,
                                                                      changes, field, message, kept):
    login_as("admin")
    make_user("officer", username="canbo.trung")
    before = count_rows(app, User)
    data = {"username": "canbo.hop.le", "display_name": "Lê Thị Hợp Lệ", "unit": "BTCTU",
            "role": "liaison", "clearance": "secret", **changes}

    response = post_form(client, "/admin/users/new", data)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in (field_errors(page, field) or "")
    assert 'aria-invalid="true"' in re.search(rf'<(?:input|select)[^>]*\b(?:id|name)="{field}"[^>]*>', page).group(0)
    assert input_value(page, kept) == data[kept]
    assert selected_option(page, "role") == "liaison"
    assert selected_option(page, "clearance") == "secret"
    assert "hoso-temp-password" not in page
    assert count_rows(app, User) == before


# --- disabling, resetting ---------------------------------------------------------------

def test_admin_disables_a_user_whose_open_session_ends_then_enables_again(app, client, login_as,
                                                                          make_user, sign_in):
    login_as("admin")
    officer = make_user("officer")
    officer_client = app.test_client()
    assert sign_in(officer, target=officer_client).status_code == 302
    assert officer_client.get("/").status_code == 200

    response = user_action(client, officer, "disable")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/admin/users/{officer.id}"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Đã khóa tài khoản" in page
    assert load_user(app, officer.id).active is False
    assert open_sessions_of(app, officer.id) == 0

    response = officer_client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert officer_client.get("/account/").headers["Location"].startswith("/login")
    assert sign_in(officer, target=app.test_client()).status_code == 200  # refused while disabled

    response = user_action(client, officer, "enable")
    assert response.status_code == 302
    assert "Đã mở lại tài khoản." in client.get(response.headers["Location"]).get_data(as_text=True)
    assert load_user(app, officer.id).active is True
    again = app.test_client()
    response = sign_in(officer, target=again)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert again.get("/").status_code == 200


def test_reset_password_replaces_the_old_one_forces_a_change_and_tells_the_user(app, client, login_as,
                                                                               make_user, sign_in):
    login_as("admin")
    officer = make_user("officer")
    officer_client = app.test_client()
    assert sign_in(officer, target=officer_client).status_code == 302

    response = user_action(client, officer, "reset-password")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Đã đặt lại mật khẩu" in page
    temporary = temporary_password(page)
    assert temporary != officer.password

    # The officer's open session ended; the old password no longer works.
    assert officer_client.get("/").headers["Location"].startswith("/login")
    refused = sign_in(officer, target=officer_client)
    assert refused.status_code == 200
    assert "không đúng" in refused.get_data(as_text=True)

    response = sign_in(officer, password=temporary, target=officer_client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/password"
    assert officer_client.get("/").headers["Location"] == "/account/password"
    response = post_form(officer_client, "/account/password", {
        "current_password": temporary, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert response.status_code == 302
    home = officer_client.get("/").get_data(as_text=True)
    assert "Thông báo bảo mật" in home
    assert "Quản trị viên đã đặt lại mật khẩu của bạn." in home


def test_reset_two_factor_makes_a_supervisor_enrol_again(app, client, login_as, make_user, sign_in):
    login_as("admin")
    supervisor = make_user("supervisor")
    supervisor_client = app.test_client()
    assert sign_in(supervisor, target=supervisor_client).status_code == 302
    assert supervisor_client.get("/").status_code == 200

    response = user_action(client, supervisor, "reset-two-factor")
    assert response.status_code == 302
    assert "Đã gỡ xác thực hai lớp" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert load_user(app, supervisor.id).second_factor_enabled is False
    assert supervisor_client.get("/").headers["Location"].startswith("/login")

    response = sign_in(supervisor, target=supervisor_client, with_code=False)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/two-factor/enrol"
    assert supervisor_client.get("/").headers["Location"] == "/account/two-factor/enrol"

    page = supervisor_client.get("/account/two-factor/enrol").get_data(as_text=True)
    secret = re.search(r'class="hoso-secret">([A-Z2-7]+)<', page).group(1)
    assert secret != supervisor.totp_secret
    response = post_form(supervisor_client, "/account/two-factor/enrol", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302
    home = supervisor_client.get("/")
    assert home.status_code == 200
    assert "Quản trị viên đã gỡ xác thực hai lớp của bạn." in home.get_data(as_text=True)
    assert load_user(app, supervisor.id).totp_secret == secret


def test_admin_cannot_disable_reset_or_demote_themself(app, client, login_as):
    admin = login_as("admin")
    before = load_user(app, admin.id)
    own_page = client.get(f"/admin/users/{admin.id}").get_data(as_text=True)
    assert "Đây là tài khoản của bạn" in own_page
    assert f"/admin/users/{admin.id}/disable" not in own_page

    response = user_action(client, admin, "disable")
    assert response.status_code == 302
    assert "Bạn không thể tự khóa tài khoản của chính mình." in client.get(
        response.headers["Location"]).get_data(as_text=True)
    response = user_action(client, admin, "reset-password")
    assert response.status_code == 302
    assert "hoso-temp-password" not in client.get(response.headers["Location"]).get_data(as_text=True)
    response = user_action(client, admin, "reset-two-factor")
    assert response.status_code == 302

    response = post_form(client, f"/admin/users/{admin.id}", {
        "display_name": "Quản Trị Mới", "unit": "BTCTU", "role": "officer", "clearance": "secret"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Bạn không thể tự đổi vai trò hay đơn vị của chính mình." in (field_errors(page, "role") or "")
    assert input_value(page, "display_name") == "Quản Trị Mới"

    after = load_user(app, admin.id)
    assert (after.active, after.role, after.display_name, after.password_hash, after.totp_secret) == (
        True, Role.ADMIN, before.display_name, before.password_hash, before.totp_secret)
    assert client.get("/admin/users").status_code == 200  # still signed in, still admin


def test_admin_edits_another_user(app, client, login_as, make_user, make_unit):
    login_as("admin")
    make_unit("HU-SONHA", "Huyện ủy Sơn Hà", "district", parent="BTCTU")
    officer = make_user("officer", clearance="confidential")
    response = post_form(client, f"/admin/users/{officer.id}", {
        "display_name": "Tên Đã Sửa", "unit": "HU-SONHA", "role": "supervisor", "clearance": "secret"})
    assert response.status_code == 302
    assert "Đã lưu thay đổi." in client.get(response.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        user = db.session.get(User, officer.id)
        assert (user.display_name, user.unit.code, user.role, user.clearance.value) == (
            "Tên Đã Sửa", "HU-SONHA", Role.SUPERVISOR, "secret")
        db.session.commit()


# --- units ------------------------------------------------------------------------------

def test_admin_creates_a_unit_under_a_parent(app, client, login_as):
    login_as("admin")
    before = count_rows(app, Unit)
    response = post_form(client, "/admin/units", {
        "code": "hu-binhson", "name": "Huyện ủy Bình Sơn", "kind": "district", "parent": "BTCTU"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/units"
    page = client.get("/admin/units").get_data(as_text=True)
    assert "Đã thêm đơn vị HU-BINHSON." in page
    assert re.search(r"<td>HU-BINHSON</td>\s*<td>Huyện ủy Bình Sơn</td>\s*<td>[^<]+</td>\s*<td>BTCTU</td>", page)
    assert count_rows(app, Unit) == before + 1
    with app.app_context():
        unit = db.session.scalar(select(Unit).where(Unit.code == "HU-BINHSON"))
        assert unit.parent.code == "BTCTU"
        db.session.commit()
    # The new unit can be chosen for a user straight away.
    assert 'value="HU-BINHSON"' in client.get("/admin/users/new").get_data(as_text=True)


@pytest.mark.parametrize("code", ["BTCTU", "btctu"])
def test_duplicate_unit_code_is_refused_beside_the_field(app, client, login_as, code):
    login_as("admin")
    before = count_rows(app, Unit)
    response = post_form(client, "/admin/units", {
        "code": code, "name": "Ban trùng mã", "kind": "organisation", "parent": ""})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Mã đơn vị đã tồn tại." in (field_errors(page, "code") or "")
    assert input_value(page, "name") == "Ban trùng mã"
    assert selected_option(page, "kind") == "organisation"
    assert count_rows(app, Unit) == before


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"parent": "KHONGCO"}, "parent", "Không có đơn vị cấp trên với mã này."),
    ({"kind": "ministry"}, "kind", "Loại đơn vị không hợp lệ."),
    ({"code": "HỘI-ĐỒNG"}, "code", "Mã đơn vị dài 2–32 ký tự"),
    ({"name": "  "}, "name", "Hãy nhập tên đơn vị."),
], ids=["unknown-parent", "unknown-kind", "accented-code", "blank-name"])
def test_bad_unit_input_is_shown_beside_the_field_and_creates_nothing(app, client, login_as, changes,
                                                                      field, message):
    login_as("admin")
    before = count_rows(app, Unit)
    data = {"code": "HU-MOI", "name": "Huyện ủy Mới", "kind": "district", "parent": "BTCTU", **changes}
    response = post_form(client, "/admin/units", data)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in (field_errors(page, field) or "")
    kept = "name" if field != "name" else "code"
    assert input_value(page, kept) == data[kept]
    assert count_rows(app, Unit) == before


# --- not found --------------------------------------------------------------------------

def test_unknown_user_id_is_a_404_page_in_the_layout(client, login_as):
    login_as("admin")
    unknown = uuid.uuid4()
    response = client.get(f"/admin/users/{unknown}")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "Không tìm thấy" in page
    assert "Mã tham chiếu" in page
    assert 'class="navbar' in page and 'href="/admin/units"' in page  # the signed-in layout
    assert user_action(client, unknown, "disable").status_code == 404
    assert client.get("/admin/users/not-a-uuid").status_code == 404
