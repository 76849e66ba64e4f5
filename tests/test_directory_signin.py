"""Directory sign-in (issue 23): people sign in with their directory password, checked by a
real OpenLDAP server (the session's `directory_server`, tests/servers.py); Hoso keeps its own
accounts, roles, units, clearance, second factor and lockout, and an admin confirms each
new directory user first. Each test uses directory names of its own: the server is shared."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from app import create_app
from protection import accounts
from protection.db import db
from protection.identity import DirectoryRequest, User
from protection.lockout import LoginFailure
from protection.settings import ConfigurationError
from tests.conftest import _config, audit_entries, post_form

DIRECTORY_PASSWORD = "Mat-khau-thu-muc-Tam-Dao-71"
PENDING = "đang chờ quản trị xác nhận"
UNAVAILABLE = "Không kết nối được máy chủ thư mục"
GENERIC = "Tên đăng nhập hoặc mật khẩu không đúng"
INVALID_NAME = "Tên đăng nhập chỉ gồm chữ không dấu"


@pytest.fixture
def directory(directory_server, app_config):
    """The app is pointed at the session's directory. Settings are read when `app` is made:
    tests list this fixture (and the others that change settings) before `app`."""
    app_config.update(directory_server.settings(), HOSO_LOGIN_RATE_LIMIT="1000 per minute")
    return directory_server


@pytest.fixture
def lockout_of_three(app_config):
    app_config["HOSO_LOCKOUT_THRESHOLD"] = 3


@pytest.fixture
def directory_down(directory, app_config):
    """Configured like the real directory, but at a loopback port nobody listens on."""
    app_config["HOSO_LDAP_URL"] = "ldap://127.0.0.1:9"
    return directory


def _sign_in(client, username: str, password: str = DIRECTORY_PASSWORD):
    return post_form(client, "/login", {"username": username, "password": password})


def _text(response) -> str:
    return response.get_data(as_text=True)


def _count(app, model, *where) -> int:
    with app.app_context():
        found = db.session.scalar(select(func.count()).select_from(model).where(*where))
        db.session.commit()
    return found


def _request_id(app, username: str) -> uuid.UUID:
    with app.app_context():
        found = db.session.scalar(select(DirectoryRequest.id).where(DirectoryRequest.username == username))
        db.session.commit()
    return found


def _reasons(app) -> list[str]:
    return [entry.detail for entry in audit_entries(app, "auth.login.failed")]


def _confirmed_account(app, directory, admin_client, uid: str, group: str, *, clearance: str = "confidential"):
    """A directory person whose first sign-in an admin confirmed through the pages."""
    directory.add_person(uid, DIRECTORY_PASSWORD, name="Lê Văn Thư Mục", groups=(group,))
    assert PENDING in _text(_sign_in(app.test_client(), uid))
    page = f"/admin/directory/{_request_id(app, uid)}"
    response = post_form(admin_client, page, {"unit": "BTCTU", "clearance": clearance, "role": "admin"})
    assert response.status_code == 302, _text(response)[:800]
    return response


def test_first_sign_in_waits_for_an_admin_who_confirms_with_the_mapped_role(directory, app, client, login_as):
    directory.add_person("tran.thi.a", DIRECTORY_PASSWORD, name="Trần Thị A", groups=("tham-dinh", "khac"))
    person = app.test_client()

    first = _sign_in(person, "Tran.Thi.A")
    assert first.status_code == 200 and PENDING in _text(first)
    assert _sign_in(person, "tran.thi.a").status_code == 200  # again: the same request, seen again
    assert _count(app, DirectoryRequest) == 1 and _count(app, User) == 0
    created = audit_entries(app, "directory_request.created")
    assert len(created) == 1 and created[0].actor_id is None and "Trần" not in created[0].detail
    assert [r for r in _reasons(app) if "directory_pending" in r] and len(_reasons(app)) == 2

    admin = login_as("admin")
    listing = client.get("/admin/directory")
    assert "tran.thi.a" in _text(listing) and "Trần Thị A" in _text(listing)
    assert len(audit_entries(app, "directory_request.list")) == 1
    page = f"/admin/directory/{_request_id(app, 'tran.thi.a')}"
    form = client.get(page)
    viewed = audit_entries(app, "directory_request.view")
    assert len(viewed) == 1 and viewed[0].target_id == str(_request_id(app, "tran.thi.a"))
    assert 'data-mapped-role="officer"' in _text(form) and 'name="role"' not in _text(form)
    # Bad input: an unknown unit is refused beside its field, nothing made.
    refused = post_form(client, page, {"unit": "KHONG-CO", "clearance": "secret"})
    assert refused.status_code == 200 and "Không có đơn vị với mã này." in _text(refused)
    assert _count(app, User, User.username == "tran.thi.a") == 0
    # A role typed into the form is ignored: the directory's group decides it.
    done = post_form(client, page, {"unit": "BTCTU", "clearance": "secret", "role": "admin"})
    assert done.status_code == 302

    with app.app_context():
        made = db.session.scalar(select(User).where(User.username == "tran.thi.a"))
        assert (made.auth_source, made.role.value, made.clearance.value, made.unit.code, made.display_name) == (
            "directory", "officer", "secret", "BTCTU", "Trần Thị A")
        assert made.password_hash == accounts.DIRECTORY_PASSWORD and DIRECTORY_PASSWORD not in made.password_hash
        made_id = made.id
        db.session.commit()
    confirmed = audit_entries(app, "directory_request.confirmed")
    assert len(confirmed) == 1 and confirmed[0].actor_id == admin.id
    assert [e for e in audit_entries(app, "user.created") if e.target_id == str(made_id)]
    assert 'data-auth-source="directory"' in _text(client.get("/admin/users"))
    assert client.get(page).status_code == 200 and "đã được xử lý" in _text(client.get(page))

    # Now the directory password signs in (an officer: no second factor required).
    signed_in = _sign_in(person, "tran.thi.a")
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/"
    assert [e for e in audit_entries(app, "auth.signed_in") if e.target_id == str(made_id)]
    # The directory's password is the directory's: Hoso neither resets nor changes it.
    reset = post_form(client, f"/admin/users/{made_id}/reset-password", token_from=f"/admin/users/{made_id}",
                      follow_redirects=True)
    assert "do máy chủ thư mục quản lý" in _text(reset)
    assert not audit_entries(app, "auth.password.reset")
    change = post_form(person, "/account/password", {"current_password": DIRECTORY_PASSWORD,
                                                     "new_password": "Mot-mat-khau-moi-Ba-Vi-93",
                                                     "confirm_password": "Mot-mat-khau-moi-Ba-Vi-93"})
    assert change.status_code == 200 and "do máy chủ thư mục quản lý" in _text(change)


def test_a_supervisor_from_the_directory_enrols_a_second_factor_and_rechecks_against_the_directory(
        directory, app, client, login_as):
    login_as("admin")
    _confirmed_account(app, directory, client, "pham.lanh.dao", "lanh-dao")
    person = app.test_client()
    response = _sign_in(person, "pham.lanh.dao")
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/two-factor/enrol")

    with app.test_request_context():
        user = accounts.find_user("pham.lanh.dao")
        accounts.recheck(user, DIRECTORY_PASSWORD, purpose="test", field="secret", accept_code=False)
        with pytest.raises(accounts.AccountError):
            accounts.recheck(user, "Khong-phai-mat-khau-1", purpose="test", field="secret", accept_code=False)
        db.session.commit()
    assert [e for e in audit_entries(app, "auth.recheck.failed") if "wrong_password" in e.detail]


def test_a_wrong_directory_password_counts_towards_the_lockout(lockout_of_three, directory, app, client, login_as):
    login_as("admin")
    _confirmed_account(app, directory, client, "vo.sai.mat.khau", "tham-dinh")
    person = app.test_client()
    for _attempt in range(3):
        refused = _sign_in(person, "vo.sai.mat.khau", "Sai-mat-khau-Ha-Long-12")
        assert refused.status_code == 200 and GENERIC in _text(refused)
    assert len(audit_entries(app, "auth.lockout")) == 1
    # Locked: even the right password waits, and the directory is not asked.
    locked = _sign_in(person, "vo.sai.mat.khau")
    assert locked.status_code == 200 and GENERIC in _text(locked)
    assert "locked" in _reasons(app)[-1]
    # Unknown to the directory and to Hoso: the one message, nothing made.
    unknown = _sign_in(person, "khong.ai.ca")
    assert GENERIC in _text(unknown) and "unknown_user" in _reasons(app)[-1]
    assert _count(app, DirectoryRequest, DirectoryRequest.username == "khong.ai.ca") == 0


def test_leaving_the_mapped_group_or_the_directory_shuts_the_account(directory, app, client, login_as):
    login_as("admin")
    _confirmed_account(app, directory, client, "dang.roi.nhom", "tham-dinh")
    person = app.test_client()
    assert _sign_in(person, "dang.roi.nhom").status_code == 302
    directory.leave_group("dang.roi.nhom", "tham-dinh")
    moved = _sign_in(app.test_client(), "dang.roi.nhom")
    assert moved.status_code == 200 and "không còn xếp tài khoản này vào nhóm" in _text(moved)
    assert "directory_group" in _reasons(app)[-1]
    directory.delete_person("dang.roi.nhom")
    gone = _sign_in(app.test_client(), "dang.roi.nhom")
    assert gone.status_code == 200 and GENERIC in _text(gone)
    assert "directory_missing" in _reasons(app)[-1]
    # A directory person in no mapped group is told so, and no request is made.
    directory.add_person("ngoai.nhom", DIRECTORY_PASSWORD, name="Ngoài Nhóm", groups=("khac",))
    outside = _sign_in(app.test_client(), "ngoai.nhom")
    assert "không thuộc nhóm nào" in _text(outside)
    assert _count(app, DirectoryRequest, DirectoryRequest.username == "ngoai.nhom") == 0


INJECTIONS = ("*)(uid=*", "admin)(|(uid=*", "*", "tran\\2a", "a b")


@pytest.mark.parametrize(("index", "username"), list(enumerate(INJECTIONS)))
def test_a_filter_injection_in_the_username_is_refused_and_audited(directory, app, index, username):
    # A real admin in the directory, whom a filter that matched everyone would find.
    directory.add_person(f"nan.nhan.{index}", DIRECTORY_PASSWORD, name="Nạn Nhân", groups=("quan-tri",))
    response = _sign_in(app.test_client(), username)
    assert response.status_code == 200 and INVALID_NAME in _text(response)
    assert len(_reasons(app)) == 1 and "invalid_username" in _reasons(app)[0]
    assert username not in audit_entries(app, "auth.login.failed")[0].detail
    assert (_count(app, DirectoryRequest), _count(app, User), _count(app, LoginFailure)) == (0, 0, 0)


def test_a_directory_that_is_down_says_so_and_local_admins_still_sign_in(directory_down, app, make_user,
                                                                         sign_in):
    admin = make_user("admin")
    officer = make_user("officer", username="ngo.thu.muc")
    with app.app_context():  # an account confirmed earlier, as directory_requests.confirm makes them
        user = db.session.get(User, officer.id)
        user.auth_source, user.password_hash = "directory", accounts.DIRECTORY_PASSWORD
        db.session.commit()
    person = app.test_client()
    for name in ("ngo.thu.muc", "nguoi.moi"):
        refused = _sign_in(person, name)
        assert refused.status_code == 200 and UNAVAILABLE in _text(refused)
    assert len(_reasons(app)) == 2 and all("directory_unavailable" in reason for reason in _reasons(app))
    assert _count(app, LoginFailure) == 0 and _count(app, DirectoryRequest) == 0
    # The local admin's password is Hoso's own: the directory being down does not matter.
    assert sign_in(admin, target=app.test_client()).status_code == 302


@pytest.fixture(params=["start_tls", "ldaps"])
def directory_without_tls(request, directory, app_config):
    """The test server speaks no TLS: asking for it must fail closed, never fall back to plain."""
    if request.param == "start_tls":
        app_config["HOSO_LDAP_START_TLS"] = True
    else:
        app_config["HOSO_LDAP_URL"] = directory.url.replace("ldap://", "ldaps://")
    return directory


def test_tls_that_cannot_be_had_is_a_directory_that_is_down(directory_without_tls, app):
    uid = f"khong.tls.{uuid.uuid4().hex[:6]}"  # a real person, whose right password is not enough
    directory_without_tls.add_person(uid, DIRECTORY_PASSWORD, name="Không TLS", groups=("tham-dinh",))
    refused = _sign_in(app.test_client(), uid)
    assert refused.status_code == 200 and UNAVAILABLE in _text(refused)
    assert "directory_unavailable" in _reasons(app)[0] and _count(app, DirectoryRequest) == 0


def test_without_the_setting_nothing_changes(app, client, directory_server, login_as):
    directory_server.add_person("chi.thu.muc", DIRECTORY_PASSWORD, name="Chỉ Thư Mục", groups=("tham-dinh",))
    refused = _sign_in(app.test_client(), "chi.thu.muc")
    assert refused.status_code == 200 and GENERIC in _text(refused) and PENDING not in _text(refused)
    assert "unknown_user" in _reasons(app)[0] and _count(app, DirectoryRequest) == 0
    login_as("officer")  # local accounts, as before
    assert client.get("/admin/directory").status_code == 403


BIND_SECRET = "Bind-secret-never-shown-7"
GROUPS = "cn=tham-dinh,ou=groups,dc=tinhuy,dc=vn=officer"


@pytest.mark.parametrize(("settings", "expected"), [
    ({"HOSO_LDAP_URL": "http://dc.tinhuy.vn"}, "HOSO_LDAP_URL must be an ldap:// or ldaps:// address"),
    ({"HOSO_LDAP_URL": "ldap://dc", "HOSO_LDAP_GROUP_ROLES": GROUPS}, "HOSO_LDAP_BASE_DN must be set"),
    ({"HOSO_LDAP_URL": "ldap://dc", "HOSO_LDAP_BASE_DN": "ou=people,dc=x"}, "HOSO_LDAP_GROUP_ROLES must be set"),
    ({"HOSO_LDAP_GROUP_ROLES": "cn=a,dc=x=boss"}, "unknown role 'boss'"),
    ({"HOSO_LDAP_GROUP_ROLES": "officer"}, "must look like cn=group"),
    ({"HOSO_LDAP_GROUP_ROLES": "cn=A, dc=x=officer;CN=a,DC=x=admin"}, "named twice"),
    ({"HOSO_LDAP_BIND_DN": None}, "HOSO_LDAP_BIND_PASSWORD is set without HOSO_LDAP_BIND_DN"),
    ({"HOSO_LDAP_USER_FILTER": "(uid=fixed)", "HOSO_LDAP_URL": "ldap://dc", "HOSO_LDAP_BASE_DN": "dc=x",
      "HOSO_LDAP_GROUP_ROLES": GROUPS}, "HOSO_LDAP_USER_FILTER must be an LDAP filter holding {username}"),
], ids=["scheme", "base", "groups", "role", "pair", "twice", "password-alone", "filter"])
def test_directory_settings_are_checked_at_start_up(database_url, tmp_path, settings, expected):
    config = {**_config(database_url, tmp_path), "HOSO_LDAP_BIND_DN": "cn=hoso,dc=x",
              "HOSO_LDAP_BIND_PASSWORD": BIND_SECRET, **settings}
    with pytest.raises(ConfigurationError) as raised:
        create_app(config)
    message = str(raised.value)
    assert expected in message and "\n" not in message and BIND_SECRET not in message


def test_a_refused_request_makes_no_account_and_says_so(directory, app, client, login_as):
    directory.add_person("bi.tu.choi", DIRECTORY_PASSWORD, name="Bị Từ Chối", groups=("quan-tri",))
    person = app.test_client()
    assert PENDING in _text(_sign_in(person, "bi.tu.choi"))
    admin = login_as("admin")
    page = f"/admin/directory/{_request_id(app, 'bi.tu.choi')}"
    response = post_form(client, f"{page}/refuse", token_from=page)
    assert response.status_code == 302 and "bi.tu.choi" not in _text(client.get("/admin/directory"))
    refused = audit_entries(app, "directory_request.refused")
    assert len(refused) == 1 and refused[0].actor_id == admin.id
    again = _sign_in(person, "bi.tu.choi")
    assert again.status_code == 200 and "không chấp nhận" in _text(again)
    assert "directory_refused" in _reasons(app)[-1]
    assert _count(app, User, User.username == "bi.tu.choi") == 0
    # Deciding twice: refused with a message, nothing changed.
    twice = post_form(client, page, {"unit": "BTCTU", "clearance": "secret"}, token_from="/admin/users")
    assert twice.status_code == 200 and "đã được xử lý" in _text(twice)
    assert _count(app, User, User.username == "bi.tu.choi") == 0


@pytest.fixture
def group_dns_as_people_type_them(app_config):
    app_config["HOSO_LDAP_GROUP_ROLES"] = "CN=Tham-Dinh, OU=Groups ,dc=tinhuy,dc=vn = Officer"


def test_group_dns_are_compared_as_ldap_does(directory, group_dns_as_people_type_them, app):
    assert app.config["HOSO_LDAP_GROUP_ROLES"] == {"cn=tham-dinh,ou=groups,dc=tinhuy,dc=vn": "officer"}
    directory.add_person("hoa.chu", DIRECTORY_PASSWORD, name="Hoa Chữ", groups=("tham-dinh",))
    assert PENDING in _text(_sign_in(app.test_client(), "hoa.chu"))
