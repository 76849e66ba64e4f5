"""`flask --app app doctor`, the serving path's refusals, and /healthz, /readyz (issue 25)."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from flask_migrate import downgrade
from sqlalchemy import event

from app import create_app
from protection.db import db
from protection.doctor import (
    DISK_FAIL_BYTES,
    check_backups,
    check_clock,
    check_redis,
    check_restore_drill,
    clock_result,
    disk_result,
    startup_refusal,
)
from protection.keystore import INDEX_KEY_ENV, INDEX_KEY_FILE, MASTER_KEY_ENV, MASTER_KEY_FILE
from protection.schema import MIGRATIONS, upgrade_schema
from protection.serving import KEY_FILES
from tests.conftest import TEST_INDEX_KEY, TEST_MASTER_KEY, audit_entries

ROOT = Path(__file__).resolve().parent.parent


def _lines(output: str) -> dict[str, str]:
    """check name -> status, from the text output."""
    found = {}
    for line in output.splitlines():
        status, _, rest = line.partition(" ")
        if ":" in rest and status in ("OK", "WARN", "FAIL", "SKIP"):
            found[rest.strip().split(":", 1)[0]] = status
    return found


def _verify_record(instance: Path, *, ok: bool = True, hours_ago: float = 1) -> None:
    when = datetime.now(UTC) - timedelta(hours=hours_ago)
    (instance / "backup-verify.json").write_text(json.dumps(
        {"file": "/srv/hoso/backups/hoso-20261207.hosobak", "verified_at": when.isoformat(), "ok": ok}))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when this returns: nothing listens there


@pytest.fixture
def healthy(app_config, tmp_path):
    """An instance folder (0700) with a fresh backup and a fresh good restore drill."""
    instance = Path(app_config["HOSO_INSTANCE_PATH"])
    instance.mkdir(mode=0o700)
    backups = tmp_path / "backups"
    backups.mkdir()
    (backups / "hoso-20261207-0300.hosobak").write_bytes(b"backup")
    _verify_record(instance)
    app_config["HOSO_BACKUP_DIR"] = str(backups)
    return instance


def test_a_healthy_instance_passes_and_json_parses(healthy, app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["doctor"])
    assert result.exit_code == 0, result.output
    statuses = _lines(result.output)
    expected = {"settings", "keys", "instance", "database", "schema", "clock", "disk_instance", "backups",
                "restore_drill", "redis", "audit_sequencing", "audit_checkpoint"}
    assert expected <= statuses.keys(), result.output
    assert set(statuses.values()) <= {"OK", "SKIP"}, result.output
    postgresql = app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    assert statuses["clock"] == ("OK" if postgresql else "SKIP")
    assert "keys: master key injected by the tests" in result.output
    assert result.output.splitlines()[-1].startswith("OK: 0 failed, 0 warnings")

    result = runner.invoke(args=["doctor", "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["status"] == "OK"
    assert {check["name"] for check in document["checks"]} >= expected
    assert all(set(check) == {"name", "status", "detail"} for check in document["checks"])
    assert startup_refusal(app) is None


def test_a_key_file_or_folder_open_to_others_fails_and_refuses_to_serve(app_config):
    instance = Path(app_config["HOSO_INSTANCE_PATH"])
    keys = instance / "keys"
    keys.mkdir(parents=True, mode=0o700)
    os.chmod(instance, 0o700)
    for name, value in (("master.key", app_config.pop("HOSO_MASTER_KEY")),
                        ("index.key", app_config.pop("HOSO_INDEX_KEY"))):
        (keys / name).write_text(value + "\n")
        os.chmod(keys / name, 0o600)
    application = create_app(app_config)
    try:
        runner = application.test_cli_runner()
        result = runner.invoke(args=["doctor"])
        assert _lines(result.output)["keys"] == "OK", result.output
        assert f"{keys / 'master.key'} (600)" in result.output
        key_text = base64.b64decode(TEST_MASTER_KEY)
        assert TEST_MASTER_KEY not in result.output and key_text.hex() not in result.output

        os.chmod(keys / "index.key", 0o644)
        result = runner.invoke(args=["doctor"])
        assert result.exit_code == 1
        assert _lines(result.output)["keys"] == "FAIL"
        assert f"{keys / 'index.key'} has mode 644: run `chmod 600" in result.output
        refusal = startup_refusal(application)
        assert refusal.startswith("Hoso refuses to start: keys: ") and "\n" not in refusal

        os.chmod(keys / "index.key", 0o600)
        os.chmod(keys, 0o755)  # noqa: S103 - the misconfiguration under test
        result = runner.invoke(args=["doctor", "--format", "json"])
        assert result.exit_code == 1
        document = json.loads(result.output)
        assert document["status"] == "FAIL"
        [keys_check] = [check for check in document["checks"] if check["name"] == "keys"]
        assert keys_check["status"] == "FAIL" and "chmod 700" in keys_check["detail"]

        os.chmod(keys, 0o700)
        os.chmod(instance, 0o755)  # noqa: S103 - it holds keys/: nobody else may read it
        result = runner.invoke(args=["doctor"])
        assert result.exit_code == 1 and _lines(result.output)["instance"] == "FAIL", result.output
    finally:
        with application.app_context():
            db.engine.dispose()


@pytest.fixture
def one_migration_behind(app_config, tmp_path):
    """A scratch SQLite database one migration behind the code (whatever the suite runs on)."""
    app_config["HOSO_DATABASE_URL"] = f"sqlite:///{tmp_path / 'behind.db'}"
    application = create_app(app_config)
    with application.app_context():
        upgrade_schema()
        downgrade(directory=str(MIGRATIONS), revision="-1")
        db.engine.dispose()
    yield application
    with application.app_context():
        db.engine.dispose()


def test_a_database_behind_the_code_fails_refuses_and_is_not_ready(one_migration_behind):
    application = one_migration_behind
    result = application.test_cli_runner().invoke(args=["doctor"])
    assert result.exit_code == 1
    assert _lines(result.output)["schema"] == "FAIL"
    assert "run `flask --app app db upgrade`" in result.output
    assert startup_refusal(application).startswith("Hoso refuses to start: schema: at migration ")

    client = application.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "fail", "checks": {"database": "ok", "schema": "fail"}}
    assert "Set-Cookie" not in response.headers
    assert client.get("/healthz").status_code == 200


def _serve(env: dict, log_path: Path) -> int:
    """gunicorn as a deployment starts it, until it exits (it must refuse, not serve)."""
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
            [sys.executable, "-m", "gunicorn", "app:create_app()", "--bind", "127.0.0.1:0", "--workers", "1"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = process.wait(timeout=90)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=20)
    return code


def _served_environment(database_url: str, instance: Path, **keys: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("HOSO_")},
            "HOSO_SECRET_KEY": "doctor-test-secret", "HOSO_DATABASE_URL": database_url,
            "HOSO_INSTANCE_PATH": str(instance), **keys}


def test_gunicorn_refuses_to_serve_a_database_behind_the_code(one_migration_behind, tmp_path):
    """The serving path (gunicorn.conf.py's post_worker_init): one line, and the master stops
    with gunicorn's boot-error status instead of serving."""
    env = _served_environment(one_migration_behind.config["SQLALCHEMY_DATABASE_URI"], tmp_path / "served",
                              HOSO_MASTER_KEY=TEST_MASTER_KEY, HOSO_INDEX_KEY=TEST_INDEX_KEY)
    log_path = tmp_path / "gunicorn.log"
    code = _serve(env, log_path)
    log = log_path.read_text()
    assert code == 3, log
    refusals = [line for line in log.splitlines() if "Hoso refuses to start: schema: at migration" in line]
    assert len(refusals) == 1, log
    assert "Traceback" not in log


def test_gunicorn_refuses_a_missing_or_exposed_key_file_before_loading_the_app(database_url, tmp_path):
    """gunicorn.conf.py's on_starting, in the master: one line, before any worker loads the app."""
    assert {(MASTER_KEY_ENV, MASTER_KEY_FILE), (INDEX_KEY_ENV, INDEX_KEY_FILE)} == set(KEY_FILES)
    instance = tmp_path / "instance"
    keys = instance / "keys"
    keys.mkdir(parents=True, mode=0o700)
    (keys / "master.key").write_text(TEST_MASTER_KEY + "\n")
    os.chmod(keys / "master.key", 0o644)  # noqa: S103 - the misconfiguration under test
    env = _served_environment(database_url, instance)  # the keys from files: index.key is missing
    code = _serve(env, tmp_path / "gunicorn.log")
    log = (tmp_path / "gunicorn.log").read_text()
    assert code != 0, log
    [refusal] = [line for line in log.splitlines() if "Hoso refuses to start" in line]
    assert f"keys: {keys / 'master.key'} has mode 644: run `chmod 600" in refusal
    assert f"{keys / 'index.key'} is missing and HOSO_INDEX_KEY is not set" in refusal
    assert "Booting worker" not in log and "Traceback" not in log and TEST_MASTER_KEY not in log


def test_backups_and_the_restore_drill(app, tmp_path):
    instance = Path(app.instance_path)
    instance.mkdir(mode=0o700, exist_ok=True)
    app.config["HOSO_BACKUP_DIR"] = None
    result = check_backups(app)
    assert (result.status, result.detail.split(":")[0]) == ("WARN", "not configured")

    backups = tmp_path / "backups"
    backups.mkdir()
    app.config["HOSO_BACKUP_DIR"] = str(backups)
    assert check_backups(app).status == "WARN"  # configured, nothing written yet
    old = backups / "hoso-20261201-0300.hosobak"
    old.write_bytes(b"backup")
    thirty_hours_ago = time.time() - 30 * 3600
    os.utime(old, (thirty_hours_ago, thirty_hours_ago))
    result = check_backups(app)
    assert result.status == "WARN" and "hoso-20261201-0300.hosobak, 30.0 h old" in result.detail
    (backups / "hoso-20261207-0300.hosobak").write_bytes(b"backup")
    assert check_backups(app).status == "OK"

    assert check_restore_drill(app).status == "WARN"  # never run
    _verify_record(instance, hours_ago=2)
    assert check_restore_drill(app).status == "OK"
    _verify_record(instance, hours_ago=30)
    assert check_restore_drill(app).status == "WARN"
    _verify_record(instance, ok=False)
    result = check_restore_drill(app)
    assert result.status == "FAIL" and result.detail.startswith("the last drill failed: hoso-20261207.hosobak")
    (instance / "backup-verify.json").write_text("{not json")
    assert check_restore_drill(app).status == "FAIL"

    _verify_record(instance, ok=False)
    result = app.test_cli_runner().invoke(args=["doctor"])
    assert result.exit_code == 1 and _lines(result.output)["restore_drill"] == "FAIL"


class FakeRedis:
    """A loopback listener answering AUTH and PING as Redis does (RESP), one connection at a time."""

    def __init__(self, password: str | None = None):
        self.password = password
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                authorised = self.password is None
                while data := connection.recv(1024):
                    if b"AUTH" in data:
                        authorised = self.password.encode() in data
                        connection.sendall(b"+OK\r\n" if authorised else b"-WRONGPASS invalid password\r\n")
                    elif b"PING" in data:
                        connection.sendall(b"+PONG\r\n" if authorised else b"-NOAUTH Authentication required.\r\n")

    def close(self) -> None:
        self.server.close()


def test_redis_when_configured(app):
    # Set after start-up: the venv has no redis client for Flask-Limiter's storage, and the
    # check reads the setting when it runs.
    port = _closed_port()
    app.config["HOSO_RATELIMIT_STORAGE_URI"] = f"redis://:s3cret-redis@127.0.0.1:{port}/0"
    result = check_redis(app)
    assert result.status == "FAIL" and result.detail.startswith(f"127.0.0.1:{port} not reachable")
    assert startup_refusal(app).startswith(f"Hoso refuses to start: redis: 127.0.0.1:{port} not reachable")
    doctor = app.test_cli_runner().invoke(args=["doctor"])
    assert doctor.exit_code == 1 and _lines(doctor.output)["redis"] == "FAIL"
    assert "s3cret-redis" not in doctor.output

    server = FakeRedis(password="s3cret-redis")
    try:
        app.config["HOSO_RATELIMIT_STORAGE_URI"] = f"redis://:s3cret-redis@127.0.0.1:{server.port}/0"
        assert check_redis(app).status == "OK"
        app.config["HOSO_RATELIMIT_STORAGE_URI"] = f"redis://127.0.0.1:{server.port}/0"
        result = check_redis(app)
        assert result.status == "FAIL" and "password" in result.detail
        app.config["HOSO_RATELIMIT_STORAGE_URI"] = f"redis://:wrong@127.0.0.1:{server.port}/0"
        result = check_redis(app)
        assert result.status == "FAIL" and "wrong" not in result.detail
    finally:
        server.close()
    app.config["HOSO_RATELIMIT_STORAGE_URI"] = "memory://"
    assert check_redis(app).status == "SKIP"


def test_a_machine_clock_a_minute_off_the_database_refuses_to_serve(app):
    """PostgreSQL has a clock of its own to compare with; SQLite has not (the check says so)."""
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=60), tick=True), app.app_context():
        result = check_clock(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        assert result.status == "FAIL" and "ahead of the database server" in result.detail
        with time_machine.travel(datetime.now(UTC) + timedelta(seconds=60), tick=True):
            assert startup_refusal(app).startswith("Hoso refuses to start: clock: this machine is 6")
    else:
        assert result.status == "SKIP" and "SQLite" in result.detail
        assert startup_refusal(app) is None


def test_clock_and_disk_thresholds():
    now = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    assert clock_result(now, now - timedelta(seconds=5)).status == "OK"
    late = clock_result(now, now + timedelta(seconds=31))
    assert late.status == "FAIL" and "31.0 s behind the database server" in late.detail
    assert clock_result(now, now - timedelta(seconds=45)).status == "FAIL"

    folder = Path("/srv/hoso")
    tera = 1024**4
    assert disk_result("disk", folder, 500 * 1024**3, tera).status == "OK"
    assert disk_result("disk", folder, 50 * 1024**3, tera).status == "WARN"  # under 10 %
    assert disk_result("disk", folder, 3 * 1024**3, 20 * 1024**3).status == "OK"
    assert disk_result("disk", folder, int(1.5 * 1024**3), 10 * 1024**3).status == "WARN"  # under 2 GB
    assert disk_result("disk", folder, DISK_FAIL_BYTES - 1, tera).status == "FAIL"


def test_healthz_and_readyz_are_public_cheap_and_unaudited(app, client, login_as):
    statements = []

    def count(_connection, _cursor, statement, *_args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    before = len(audit_entries(app))
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.get("/healthz")
        healthz_statements = len(statements)
        ready = client.get("/readyz")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert (response.status_code, response.get_data(as_text=True)) == (200, "ok\n")
    assert healthz_statements == 0
    assert "Set-Cookie" not in response.headers and "Set-Cookie" not in ready.headers
    assert ready.status_code == 200, ready.get_data(as_text=True)
    body = ready.get_json()
    assert body["status"] == "ok" and set(body["checks"].values()) == {"ok"}
    assert {"database", "schema"} <= body["checks"].keys()
    assert len(statements) <= 4, statements
    assert len(audit_entries(app)) == before

    login_as("officer")  # a signed-in browser gets the same answers
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_readyz_answers_503_when_the_database_is_unreachable(app_config, tmp_path):
    app_config["HOSO_DATABASE_URL"] = f"sqlite:///{tmp_path / 'no-such-folder' / 'hoso.db'}"
    application = create_app(app_config)
    try:
        response = application.test_client().get("/readyz")
        assert response.status_code == 503
        assert response.get_json() == {"status": "fail", "checks": {"database": "fail", "schema": "fail"}}
        assert application.test_client().get("/healthz").status_code == 200
        result = application.test_cli_runner().invoke(args=["doctor"])
        assert result.exit_code == 1 and _lines(result.output)["database"] == "FAIL"
        assert startup_refusal(application).startswith("Hoso refuses to start: database: not reachable")
    finally:
        with application.app_context():
            db.engine.dispose()


def test_audit_entries_waiting_too_long_for_the_sequencer_fail_and_are_not_ready(app, client, make_user):
    """PostgreSQL: entries recorded with no sequencer running wait; two minutes later (over
    HOSO_AUDIT_PENDING_WARN_SECONDS=60) the doctor fails and /readyz says not ready. SQLite
    links each entry as it is recorded."""
    make_user("officer")  # its creation is audited
    postgresql = app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=2), tick=True):
        result = app.test_cli_runner().invoke(args=["doctor", "--format", "json"])
        ready = client.get("/readyz")
    checks = {check["name"]: check for check in json.loads(result.output)["checks"]}
    if postgresql:
        assert checks["audit_sequencing"]["status"] == "FAIL", checks["audit_sequencing"]
        assert "entries waiting, the oldest for " in checks["audit_sequencing"]["detail"]
        assert ready.status_code == 503 and ready.get_json()["checks"]["audit_sequencing"] == "fail"
    else:
        assert checks["audit_sequencing"]["status"] == "SKIP"
        assert ready.status_code == 200 and "audit_sequencing" not in ready.get_json()["checks"]
