"""`flask --app app init | users ... | demo`, run through Flask's CLI runner on the real database."""

from __future__ import annotations

import os
import re
import runpy
import sqlite3
import stat
from contextlib import contextmanager

import pytest
from click.testing import Result
from sqlalchemy import func, select

from app import create_app
from protection import accounts
from protection.cli import describe_database
from protection.db import db
from protection.demo import DEMO_PASSWORD, DEMO_USERS
from protection.identity import Role, Unit, User
from protection.schema import current_revision, head_revision
from protection.sessions import AuthSession
from tests.conftest import PASSWORD, post_form

DEMO_ROW = re.compile(r"^(\S+)\s+(officer|liaison|supervisor|auditor|admin)\s+(\S+)\s*$", re.M)


def run(runner, *args: str, input: str | None = None) -> Result:
    """Invoke a command; a crash (anything but a clean exit) fails the test at once."""
    result = runner.invoke(args=list(args), input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        pytest.fail(f"{args} crashed: {type(result.exception).__name__}: {result.exception}\n{result.output}")
    assert "Traceback" not in result.output
    return result


def refused_with_one_line(result: Result) -> str:
    assert result.exit_code != 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def user_count(app) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(User))
        db.session.commit()
    return count


# --- init -------------------------------------------------------------------------------

def test_init_writes_secret_config_and_keys_and_brings_schema_to_head(app, runner, make_unit):
    make_unit()  # data already there must survive: init on a migrated database is a no-op
    instance = app.instance_path
    config_path = os.path.join(instance, "config.py")
    assert not os.path.exists(config_path)

    result = run(runner, "init")
    assert result.exit_code == 0, result.output
    assert "Database ready" in result.output

    assert stat.S_IMODE(os.stat(config_path).st_mode) == 0o600
    secret_key = runpy.run_path(config_path)["SECRET_KEY"]
    assert isinstance(secret_key, str) and len(secret_key) >= 32
    keys = os.path.join(instance, "keys")
    assert os.path.isdir(keys)
    assert stat.S_IMODE(os.stat(keys).st_mode) == 0o700
    with app.app_context():
        assert current_revision() == head_revision() is not None
        assert db.session.scalar(select(Unit.code)) == "BTCTU"
        db.session.commit()


def test_second_init_refuses_and_leaves_the_secrets_alone(app, runner):
    assert run(runner, "init").exit_code == 0
    config_path = os.path.join(app.instance_path, "config.py")
    with open(config_path, "rb") as handle:
        original = handle.read()

    line = refused_with_one_line(run(runner, "init"))
    assert "refusing to overwrite" in line
    with open(config_path, "rb") as handle:
        assert handle.read() == original

    result = run(runner, "init", "--exist-ok")
    assert result.exit_code == 0, result.output
    assert "Database ready" in result.output
    with open(config_path, "rb") as handle:
        assert handle.read() == original


@contextmanager
def umask(mask: int):
    """The usual 022, whatever the test runner's: it is what made the files world-readable."""
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_init_creates_the_sqlite_database_and_its_wal_files_owner_only(app_config, tmp_path):
    """Another local account must not read the database (ciphertext, but also every plain
    column and the audit trail), its write-ahead log or its shared-memory index."""
    instance = tmp_path / "fresh-instance"
    app_config.update(HOSO_INSTANCE_PATH=str(instance), HOSO_DATABASE_URL=None)
    with umask(0o022):
        application = create_app(app_config)
        try:
            result = run(application.test_cli_runner(), "init")
            assert result.exit_code == 0, result.output
            assert mode_of(instance) == 0o700
            with application.app_context():
                accounts.create_unit(code="BTCTU", name="Ban Tổ chức Tỉnh ủy", kind="organisation",
                                     parent_code=None, by=None)
                db.session.commit()  # a write: the -wal and -shm files exist while the pool holds a connection
                for suffix in ("", "-wal", "-shm"):
                    assert mode_of(instance / f"hoso.db{suffix}") == 0o600, suffix
        finally:
            with application.app_context():
                db.session.remove()
                db.engine.dispose()


def test_an_existing_world_readable_database_is_made_owner_only_on_first_connect(app_config, tmp_path):
    path = tmp_path / "old.db"
    app_config["HOSO_DATABASE_URL"] = f"sqlite:///{path}"
    sqlite3.connect(path).close()
    os.chmod(path, 0o644)
    application = create_app(app_config)
    try:
        with application.app_context():
            assert current_revision() is None  # connects
            assert mode_of(path) == 0o600
    finally:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


def test_init_never_prints_a_database_password():
    shown = describe_database("postgresql+psycopg://hoso:hunter2-db-password@db.internal/hoso")
    assert "hunter2-db-password" not in shown
    assert "db.internal/hoso" in shown


# --- users ------------------------------------------------------------------------------

def test_users_create_then_list(app, runner, make_unit):
    make_unit()
    make_unit("HU-SONHA", "Huyện ủy Sơn Hà", "district", parent="BTCTU")
    result = run(runner, "users", "create", "Canbo.CLI", "--role", "supervisor", "--unit", "hu-sonha",
                 "--clearance", "secret", "--display-name", "Cán Bộ Dòng Lệnh", "--password-stdin",
                 input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "Created canbo.cli (supervisor, HU-SONHA, secret)." in result.output
    assert "Two-factor sign-in is required" in result.output

    result = run(runner, "users", "list")
    assert result.exit_code == 0
    row = re.search(r"^canbo\.cli\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", result.output, re.M)
    assert row, result.output
    assert row.groups() == ("supervisor", "HU-SONHA", "secret", "no", "active")
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "canbo.cli"))
        assert (user.display_name, user.must_change_password, user.demo_account) == (
            "Cán Bộ Dòng Lệnh", False, False)
        db.session.commit()


def test_user_created_on_the_command_line_can_sign_in(app, runner, make_unit, client):
    make_unit()
    assert run(runner, "users", "create", "canbo.dong.lenh", "--role", "officer", "--unit", "BTCTU",
               "--password-stdin", input=PASSWORD + "\n").exit_code == 0
    response = post_form(client, "/login", {"username": "canbo.dong.lenh", "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_users_list_on_an_empty_database(runner):
    result = run(runner, "users", "list")
    assert result.exit_code == 0
    assert "No users yet" in result.output


def test_users_create_unknown_role_is_a_usage_error(app, runner, make_unit):
    make_unit()
    result = run(runner, "users", "create", "canbo.x", "--role", "superuser", "--unit", "BTCTU",
                 "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 2
    assert "superuser" in result.output
    assert user_count(app) == 0


def test_users_create_unknown_unit_is_refused(app, runner, make_unit):
    make_unit()
    result = run(runner, "users", "create", "canbo.x", "--role", "officer", "--unit", "KHONGCO",
                 "--password-stdin", input=PASSWORD + "\n")
    assert "Không có đơn vị" in refused_with_one_line(result)
    assert user_count(app) == 0


@pytest.mark.parametrize("password", ["short", "matkhau123456", "canbo.yeu.123"])
def test_users_create_weak_password_is_refused(app, runner, make_unit, password):
    make_unit()
    result = run(runner, "users", "create", "canbo.yeu", "--role", "officer", "--unit", "BTCTU",
                 "--password-stdin", input=password + "\n")
    assert "Mật khẩu" in refused_with_one_line(result)
    assert password not in result.output  # never echoed back
    assert user_count(app) == 0


def test_users_create_duplicate_is_refused(app, runner, make_user):
    make_user("officer", username="canbo.trung")
    result = run(runner, "users", "create", "Canbo.Trung", "--role", "officer", "--unit", "BTCTU",
                 "--password-stdin", input=PASSWORD + "\n")
    assert "đã được dùng" in refused_with_one_line(result)
    assert user_count(app) == 1


def test_users_disable_ends_open_sessions(app, runner, client, make_user, sign_in):
    officer = make_user("officer")
    assert sign_in(officer).status_code == 302
    assert client.get("/").status_code == 200

    result = run(runner, "users", "disable", officer.username)
    assert result.exit_code == 0, result.output
    assert f"Disabled {officer.username}" in result.output
    with app.app_context():
        assert db.session.get(User, officer.id).active is False
        assert db.session.scalar(select(func.count()).select_from(AuthSession).where(
            AuthSession.user_id == officer.id, AuthSession.ended_at.is_(None))) == 0
        db.session.commit()
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert "disabled" in run(runner, "users", "list").output


def test_users_disable_unknown_username_is_refused(runner):
    line = refused_with_one_line(run(runner, "users", "disable", "khong.ai"))
    assert "khong.ai" in line


# --- demo -------------------------------------------------------------------------------

def demo_rows(output: str) -> dict[str, tuple[str, str]]:
    return {name: (role, secret) for name, role, secret in DEMO_ROW.findall(output)}


def test_demo_is_idempotent_and_covers_every_role(app, runner):
    first = run(runner, "demo")
    assert first.exit_code == 0, first.output
    assert DEMO_PASSWORD in first.output
    assert "/login" in first.output
    rows = demo_rows(first.output)
    assert set(rows) == {username for username, *_rest in DEMO_USERS}
    assert {role for role, _secret in rows.values()} == {role.value for role in Role}
    for role, secret in rows.values():
        assert (secret != "-") == Role(role).requires_second_factor
    count = user_count(app)
    assert count == len(DEMO_USERS)

    second = run(runner, "demo")
    assert second.exit_code == 0, second.output
    assert demo_rows(second.output) == rows
    assert user_count(app) == count


def test_demo_leaves_an_existing_non_demo_account_alone(app, runner, make_user):
    make_user("officer", username="canbo.an", display_name="Người Thật")
    result = run(runner, "demo")
    assert result.exit_code == 0
    assert re.search(r"^canbo\.an\s+\(exists and is not a demo account", result.output, re.M)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "canbo.an"))
        assert (user.display_name, user.demo_account) == ("Người Thật", False)
        db.session.commit()


def test_demo_supervisor_signs_in_with_printed_password_and_code(app, runner, client):
    output = run(runner, "demo").output
    password = re.search(r"Password for every demo account: (\S+)", output).group(1)
    supervisor = next(name for name, (role, _secret) in demo_rows(output).items() if role == "supervisor")

    response = post_form(client, "/login", {"username": supervisor, "password": password})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login/second-factor"

    result = run(runner, "demo", "code", supervisor)
    assert result.exit_code == 0, result.output
    code = re.search(r"^(\d{6})$", result.stdout, re.M).group(1)
    response = post_form(client, "/login/second-factor", {"code": code})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "Lãnh đạo phê duyệt" in home.get_data(as_text=True)


def test_demo_code_refuses_other_accounts(app, runner, make_user):
    run(runner, "demo")
    real = make_user("supervisor", username="lanhdao.that")  # has a second factor, not a demo account
    assert real.totp_secret
    for username in (real.username, "khong.ton.tai"):
        line = refused_with_one_line(run(runner, "demo", "code", username))
        assert username in line
    # A demo account without a second factor has no code either.
    officer = next(name for name, _display, _unit, role, _clearance in DEMO_USERS if role == "officer")
    refused_with_one_line(run(runner, "demo", "code", officer))


# --- no schema yet ----------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("users", "list"),
    ("users", "disable", "someone"),
    ("users", "create", "someone", "--role", "officer", "--unit", "BTCTU", "--password-stdin"),
    ("demo",),
    ("demo", "code", "lanhdao.minh"),
], ids=["list", "disable", "create", "demo", "demo-code"])
def test_commands_on_a_database_without_schema_say_to_run_init(app_config, tmp_path, args):
    app_config["HOSO_DATABASE_URL"] = f"sqlite:///{tmp_path / 'empty.db'}"
    application = create_app(app_config)
    try:
        result = run(application.test_cli_runner(), *args, input=PASSWORD + "\n")
        line = refused_with_one_line(result)
        assert "init" in line
        assert "no schema" in line
    finally:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
