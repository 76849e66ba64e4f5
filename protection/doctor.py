"""`flask --app app doctor`, the serving path's start-up refusals, and /healthz, /readyz.

Each check answers with a `Result`: OK, WARN (look at it soon), FAIL (Hoso is not safe to
run like this) or SKIP (nothing to check here, with the reason). The kernel's checks live
here; the audit layer adds its own (sequencing lag, checkpoint age) through the
``hooks.DOCTOR_CHECKS`` hook, and its readiness (the lag) through ``hooks.READINESS_CHECKS``.

The same functions serve three callers:

* ``flask --app app doctor [--format json]``: every check, one line each; exit 1 on any FAIL.
* gunicorn's ``post_worker_init`` (gunicorn.conf.py) asks ``startup_refusal``: a key file or
  folder open to others, the database unreachable or not at the migrations' head, the clock
  more than 30 s off the database server's, a configured Redis that does not answer. The
  worker then exits with gunicorn's boot-error status and one line, and gunicorn stops
  instead of serving half-configured. The CLI never asks: `db upgrade` must still run.
* ``/readyz`` asks the database, the schema and the readiness hooks only (a couple of
  queries); ``/healthz`` asks nothing.

No detail names a protected value, a password or a key: paths, modes, counts, ages and kinds.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import ssl
import stat
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import click
from flask import Blueprint, Flask, Response, current_app
from flask.cli import with_appcontext
from sqlalchemy import text
from sqlalchemy.engine import make_url

from . import hooks
from .clock import utcnow
from .db import db
from .policy import public
from .schema import current_revision, head_revision
from .serving import key_file_problems

log = logging.getLogger(__name__)

OK, WARN, FAIL, SKIP = "OK", "WARN", "FAIL", "SKIP"

# TOTP codes are valid for 30 s either side (protection/totp.py) and deadlines are stamped
# by the machine: a clock further off than this from the database's is an error.
CLOCK_TOLERANCE_SECONDS = 30
# Free space: warn below either, fail below the last.
DISK_WARN_FRACTION = 0.10
DISK_WARN_BYTES = 2 * 1024**3
DISK_FAIL_BYTES = 1 * 1024**3
# The backup timer runs daily: a day and two hours of slack before the newest is "old".
BACKUP_MAX_AGE_HOURS = 26
BACKUP_PATTERN = "hoso-*.hosobak"
# Written by `flask --app app backup verify` (the restore drill).
VERIFY_RECORD = "backup-verify.json"
REDIS_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Result:
    name: str
    status: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<4} {self.name}: {self.detail}"


# --- the kernel's checks --------------------------------------------------------------------

def check_settings(app: Flask) -> Result:
    """Start-up validated every setting already; say which mode this instance runs in."""
    if app.config.get("HOSO_UNINITIALISED"):
        return Result("settings", FAIL, "Hoso is not initialised: run `flask --app app init`")
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    kind = "postgresql" if url.get_backend_name() == "postgresql" else "sqlite"
    sequencer = app.config["HOSO_AUDIT_SEQUENCER"] if kind == "postgresql" else "inline (SQLite)"
    limits = "redis" if _redis_url(app) else "memory (one server only)"
    return Result("settings", OK, f"database {kind}, audit sequencer {sequencer}, "
                  f"mail {'on' if app.config['HOSO_SMTP_URL'] else 'off'}, rate-limit counters {limits}, "
                  f"https {'on' if app.config['HOSO_HTTPS'] else 'off'}")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def check_keys(app: Flask) -> Result:
    """The master and index keys: from the environment, or owner-only files in an owner-only folder."""
    sources = app.extensions.get("hoso_key_sources")
    injected = dict(sources.injected) if sources is not None else {}
    problems, found = key_file_problems(Path(app.instance_path) / "keys", {**os.environ, **injected})
    found = [item.replace("from the environment", "injected by the tests") if any(name in item for name in injected)
             else item for item in found]
    if problems:
        return Result("keys", FAIL, "; ".join(problems))
    refused = app.extensions.get("hoso_keyring_error")
    if refused is not None:
        return Result("keys", FAIL, str(refused))
    return Result("keys", OK, "; ".join(found))


def check_instance(app: Flask) -> Result:
    """The instance folder holds config.py and keys/: nobody but its owner may read or change it."""
    instance = Path(app.instance_path)
    if not instance.is_dir():
        return Result("instance", WARN, f"{instance} does not exist (settings and keys from the environment?)")
    mode = _mode(instance)
    secrets = [name for name in ("config.py", "keys") if (instance / name).exists()]
    problems = []
    if mode & 0o022:
        problems.append(f"{instance} is writable by others (mode {mode:o})")
    elif secrets and mode & 0o077:
        problems.append(f"{instance} holds {' and '.join(secrets)} and is open to others (mode {mode:o})")
    config = instance / "config.py"
    if config.is_file() and _mode(config) & 0o077:
        problems.append(f"{config} has mode {_mode(config):o}")
    if problems:
        return Result("instance", FAIL, "; ".join(problems) + f": run `chmod -R go-rwx {instance}`")
    return Result("instance", OK, f"{instance} ({mode:o})")


def check_database(app: Flask) -> Result:
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - any failure to reach it is the answer
        return Result("database", FAIL, f"not reachable ({type(error).__name__})")
    return Result("database", OK, f"reachable ({db.engine.dialect.name})")


def check_schema(app: Flask) -> Result:
    try:
        current, head = current_revision(), head_revision()
    except Exception as error:  # noqa: BLE001 - the database check names the cause
        return Result("schema", FAIL, f"could not read the migration state ({type(error).__name__})")
    if current is None:
        return Result("schema", FAIL, "the database has no schema yet: run `flask --app app init`")
    if current != head:
        return Result("schema", FAIL, f"at migration {current}, the code needs {head}: "
                      "run `flask --app app db upgrade`")
    return Result("schema", OK, f"at head ({head})")


def clock_result(machine: datetime, database: datetime) -> Result:
    offset = (machine - database).total_seconds()
    detail = f"this machine is {abs(offset):.1f} s {'ahead of' if offset >= 0 else 'behind'} the database server"
    if abs(offset) > CLOCK_TOLERANCE_SECONDS:
        return Result("clock", FAIL, f"{detail} (more than {CLOCK_TOLERANCE_SECONDS} s: "
                      "sign-in codes and deadlines depend on it; check NTP on both)")
    return Result("clock", OK, detail)


def check_clock(app: Flask) -> Result:
    if db.engine.dialect.name != "postgresql":
        return Result("clock", SKIP, "SQLite has no server clock of its own to compare with")
    try:
        with db.engine.connect() as connection:
            before = utcnow()
            database = connection.execute(text("SELECT clock_timestamp()")).scalar_one()
            after = utcnow()
    except Exception as error:  # noqa: BLE001 - the database check names the cause
        return Result("clock", FAIL, f"could not ask the database's clock ({type(error).__name__})")
    return clock_result(before + (after - before) / 2, database.astimezone(UTC))


def disk_result(name: str, folder: Path, free: int, total: int) -> Result:
    gb = free / 1024**3
    detail = f"{folder}: {gb:.1f} GB free ({free / total:.0%})"
    if free < DISK_FAIL_BYTES:
        return Result(name, FAIL, detail)
    if free < DISK_WARN_BYTES or free < total * DISK_WARN_FRACTION:
        return Result(name, WARN, detail)
    return Result(name, OK, detail)


def check_disk(app: Flask) -> list[Result]:
    folders = {"disk_instance": Path(app.instance_path)}
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite" and url.database:
        folders["disk_database"] = Path(url.database).parent
    if app.config.get("HOSO_BACKUP_DIR") and Path(app.config["HOSO_BACKUP_DIR"]).is_dir():
        folders["disk_backups"] = Path(app.config["HOSO_BACKUP_DIR"])  # a missing one: the backups check says so
    results = []
    for name, folder in folders.items():
        while not folder.exists() and folder.parent != folder:
            folder = folder.parent  # not made yet (before `init`): the disk it will be on
        try:
            usage = shutil.disk_usage(folder)
        except OSError as error:
            results.append(Result(name, FAIL, f"{folder}: {error.strerror or type(error).__name__}"))
            continue
        results.append(disk_result(name, folder, usage.free, usage.total))
    return results


def _age_text(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.1f} h" if hours >= 1 else f"{seconds / 60:.0f} min"


def check_backups(app: Flask) -> Result:
    folder = app.config.get("HOSO_BACKUP_DIR")
    if not folder:
        return Result("backups", WARN, "not configured: set HOSO_BACKUP_DIR to the folder the backup timer writes to")
    folder = Path(folder)
    if not folder.is_dir():
        return Result("backups", FAIL, f"{folder} (HOSO_BACKUP_DIR) is not a folder")
    newest = max(folder.glob(BACKUP_PATTERN), key=lambda path: path.stat().st_mtime, default=None)
    if newest is None:
        return Result("backups", WARN, f"no {BACKUP_PATTERN} in {folder} yet")
    age = utcnow().timestamp() - newest.stat().st_mtime
    detail = f"newest {newest.name}, {_age_text(age)} old"
    if age > BACKUP_MAX_AGE_HOURS * 3600:
        return Result("backups", WARN, f"{detail} (more than {BACKUP_MAX_AGE_HOURS} h: is the backup timer running?)")
    return Result("backups", OK, detail)


def check_restore_drill(app: Flask) -> Result:
    path = Path(app.instance_path) / VERIFY_RECORD
    if not path.is_file():
        return Result("restore_drill", WARN, "no restore drill yet: run `flask --app app backup verify FILE`")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        verified_at = datetime.fromisoformat(str(record["verified_at"]).replace("Z", "+00:00"))
        if verified_at.tzinfo is None:
            verified_at = verified_at.replace(tzinfo=UTC)
        passed = record["ok"]
    except (OSError, ValueError, KeyError, TypeError):
        return Result("restore_drill", FAIL, f"{path} is not a restore drill's record")
    name = Path(str(record.get("file", "?"))).name
    age = (utcnow() - verified_at).total_seconds()
    detail = f"{name} checked {_age_text(max(age, 0))} ago"
    if passed is not True:
        return Result("restore_drill", FAIL, f"the last drill failed: {detail}")
    if age > BACKUP_MAX_AGE_HOURS * 3600:
        return Result("restore_drill", WARN, f"{detail} (more than {BACKUP_MAX_AGE_HOURS} h)")
    return Result("restore_drill", OK, detail)


def _redis_url(app: Flask) -> str | None:
    uri = str(app.config.get("HOSO_RATELIMIT_STORAGE_URI") or "")
    return uri if uri.startswith(("redis://", "rediss://")) else None


def _redis_command(*words: str) -> bytes:
    encoded = [word.encode() for word in words]
    return b"".join([f"*{len(encoded)}\r\n".encode(), *(b"$%d\r\n%s\r\n" % (len(word), word) for word in encoded)])


def redis_ping(url: str, timeout: float = REDIS_TIMEOUT_SECONDS) -> str | None:
    """PING Redis over a raw socket (RESP; no client library in the venv). None when it
    answers PONG, else why not: never the password."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            sock = ssl.create_default_context().wrap_socket(raw, server_hostname=host) \
                if parts.scheme == "rediss" else raw
            with sock:
                if parts.password is not None:
                    words = [unquote(parts.username)] if parts.username else []
                    sock.sendall(_redis_command("AUTH", *words, unquote(parts.password)))
                    if not sock.recv(256).startswith(b"+OK"):
                        return "refused the password"
                sock.sendall(_redis_command("PING"))
                answer = sock.recv(256)
    except OSError as error:
        return f"not reachable ({error.strerror or type(error).__name__})"
    if not answer.startswith(b"+PONG"):
        return "answered the PING with an error (a password needed?)" if answer.startswith(b"-") \
            else "did not answer the PING as Redis does"
    return None


def check_redis(app: Flask) -> Result:
    url = _redis_url(app)
    if url is None:
        return Result("redis", SKIP, "not configured (rate-limit counters in memory)")
    parts = urlsplit(url)
    where = f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"
    problem = redis_ping(url)
    if problem:
        return Result("redis", FAIL, f"{where} {problem}")
    return Result("redis", OK, f"{where} answered PING")


KERNEL_CHECKS: tuple[Callable[[Flask], Result | list[Result]], ...] = (
    check_settings, check_keys, check_instance, check_database, check_schema, check_clock,
    check_disk, check_backups, check_restore_drill, check_redis,
)
# What the serving path refuses to start with (gunicorn.conf.py's post_worker_init): a key file
# missing or open to others, the database unreachable or at another migration, the clock off,
# a configured Redis silent. The instance folder's own mode is the doctor's to report, not a
# reason to stop serving: the key files and keys/ carry their own modes, checked here.
STARTUP_CHECKS = (check_keys, check_database, check_schema, check_clock, check_redis)


def _flatten(answers: Iterable[Result | list[Result]]) -> list[Result]:
    results = []
    for answer in answers:
        results.extend(answer if isinstance(answer, list) else [answer])
    return results


def _safely(check: Callable[[Flask], Result | list[Result]], app: Flask) -> Result | list[Result]:
    try:
        return check(app)
    except Exception as error:  # noqa: BLE001 - a check that breaks is itself a failure to report
        log.warning("doctor check %s raised %s", getattr(check, "__name__", check), type(error).__name__)
        return Result(getattr(check, "__name__", "check").removeprefix("check_"), FAIL,
                      f"the check itself failed ({type(error).__name__})")


def run_checks(app: Flask) -> list[Result]:
    """Every check, the kernel's then the upper layers', in an app context."""
    checks = [*KERNEL_CHECKS, *hooks.every(app, hooks.DOCTOR_CHECKS)]
    return _flatten(_safely(check, app) for check in checks)


def startup_refusal(app: Flask) -> str | None:
    """The one line the serving path refuses to start with, or None when it may serve."""
    with app.app_context():
        try:
            for result in _flatten(_safely(check, app) for check in STARTUP_CHECKS):
                if result.status == FAIL:
                    return f"Hoso refuses to start: {result.name}: {result.detail}"
            return None
        finally:
            db.session.remove()
            db.engine.dispose()  # the worker forks nothing, but opens its own pool when it serves


def _code_head(app: Flask) -> str | None:
    """The migrations' head, read from the scripts once per process (the code does not
    change under a running server; reading them costs more than the rest of /readyz)."""
    if "hoso.doctor.head" not in app.extensions:
        app.extensions["hoso.doctor.head"] = head_revision()
    return app.extensions["hoso.doctor.head"]


def readiness(app: Flask) -> dict[str, bool]:
    """The database reachable, the schema at head (one connection, two statements; not
    through Alembic, which logs a line each time it looks), then the readiness hooks."""
    answers = {"database": False, "schema": False}
    try:
        with db.engine.connect() as connection:
            answers["database"] = True
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            answers["schema"] = versions == [_code_head(app)]
    except Exception as error:  # noqa: BLE001 - unreachable, or no schema: not ready either way
        log.warning("readiness: %s %s", "schema" if answers["database"] else "database", type(error).__name__)
    for check in hooks.every(app, hooks.READINESS_CHECKS):
        for name, ready in (check(app).items() if answers["schema"] else ()):
            answers[name] = ready
    return answers


# --- the command -------------------------------------------------------------------------------

@click.command("doctor")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: a document for monitoring.")
@with_appcontext
def doctor_command(output: str) -> None:
    """Check this installation: settings, keys, folders, database, clock, disk, backups, audit."""
    app = current_app._get_current_object()
    results = run_checks(app)
    failed = any(result.status == FAIL for result in results)
    overall = FAIL if failed else WARN if any(result.status == WARN for result in results) else OK
    if output == "json":
        click.echo(json.dumps({"status": overall, "checks": [asdict(result) for result in results]}, indent=2))
    else:
        for result in results:
            click.echo(result.line())
        click.echo(f"{overall}: {sum(r.status == FAIL for r in results)} failed, "
                   f"{sum(r.status == WARN for r in results)} warnings, {len(results)} checks")
    db.session.remove()
    if failed:
        raise SystemExit(1)


# --- /healthz and /readyz ----------------------------------------------------------------------

health = Blueprint("health", __name__)


def _plain(body: str, status: int, mimetype: str) -> Response:
    response = Response(body, status=status, mimetype=mimetype)
    response.headers["Cache-Control"] = "no-store"
    return response


@health.get("/healthz")
@public
def healthz():
    """The process answers: no database, no detail."""
    return _plain("ok\n", 200, "text/plain")


@health.get("/readyz")
@public
def readyz():
    """Ready to serve: 200 or 503, with each check's name and ok/fail (no versions, paths or counts)."""
    app = current_app._get_current_object()
    try:
        answers = readiness(app)
    except Exception as error:  # noqa: BLE001 - never a 500: not ready is the answer
        log.warning("readiness check raised %s", type(error).__name__)
        answers = {"database": False}
    finally:
        db.session.rollback()
    ready = all(answers.values())
    body = json.dumps({"status": "ok" if ready else "fail",
                       "checks": {name: "ok" if value else "fail" for name, value in answers.items()}})
    return _plain(body, 200 if ready else 503, "application/json")


def configure_health(app: Flask) -> None:
    app.register_blueprint(health)
    app.cli.add_command(doctor_command)
