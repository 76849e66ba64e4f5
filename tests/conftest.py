"""Fixtures: a real app on a real database (SQLite by default, PostgreSQL with
TEST_DATABASE_URL), a test client, the CLI runner, and factories that return objects.

One database per test session, migrated once with Alembic. Each test gets a fresh app
and, afterwards, every table is emptied. (Not a rolled-back outer transaction: denials
and failed sign-ins commit in transactions of their own, and a test of atomicity must
see what really committed.)
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import time_machine
from sqlalchemy import select, text, tuple_, update
from sqlalchemy.engine import make_url

from app import create_app
from audit.models import AuditEntry, AuditLink
from audit.sequencer import sequence_all
from protection.clock import utcnow
from protection.db import Base, db
from protection.errors import RequestIdFilter
from protection.schema import upgrade_schema
from protection.sessions import AuthSession
from tests import factories, pages, scenes
from tests.factories import PASSWORD, MadeUser  # noqa: F401 - PASSWORD: tests import it from here too
from tests.pages import CSRF_PATTERN, csrf_token, next_totp_code, post_form  # noqa: F401 - tests import them from here too

TEST_MASTER_KEY = "dGVzdC1tYXN0ZXIta2V5LW5vdC1mb3ItcHJvZCEhISE="  # 32 bytes, base64
TEST_INDEX_KEY = "dGVzdC1pbmRleC1rZXktbm90LWZvci1wcm9kISEhISE="  # 32 bytes, base64

for _name in [name for name in os.environ if name.startswith("HOSO_")]:
    del os.environ[_name]


def _worker_database(server_url: str) -> str | None:
    """Under pytest-xdist each worker runs on a PostgreSQL database of its own beside the
    one TEST_DATABASE_URL names (`<name>_gw0`, ...), created empty here and dropped when the
    worker ends. TEST_DATABASE_URL is pointed at it, so everything that derives a database
    from it (the browser server's `<name>_browser`, scratch databases) stays per worker.
    SQLite needs nothing: each worker has its own temporary folder."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or not server_url.startswith("postgresql"):
        return None
    url = make_url(server_url)
    name = f"{url.database}_{worker}"
    with psycopg.connect(**_admin_connect(url)) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def _admin_connect(url) -> dict:
    return {"host": url.host or "127.0.0.1", "port": url.port or 5432, "user": url.username,
            "password": url.password, "dbname": url.database, "autocommit": True}


def pytest_configure(config):
    server = os.environ.get("TEST_DATABASE_URL", "")
    own = _worker_database(server)
    if own:
        config.hoso_worker_database = (server, own)
        os.environ["TEST_DATABASE_URL"] = own


def pytest_unconfigure(config):
    databases = getattr(config, "hoso_worker_database", None)
    if databases:
        server, own = databases
        os.environ["TEST_DATABASE_URL"] = server
        with psycopg.connect(**_admin_connect(make_url(server))) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{make_url(own).database}" WITH (FORCE)')


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'hoso-test.db'}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = _database_url(tmp_path_factory)
    app = create_app(_config(url, tmp_path_factory.mktemp("instance")))
    with app.app_context():
        if url.startswith("postgresql"):
            with db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        upgrade_schema()
        db.engine.dispose()
    return url


def _config(url: str, instance_path) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "HOSO_DATABASE_URL": url,
        "HOSO_INSTANCE_PATH": str(instance_path),
        "HOSO_ARGON2_PROFILE": "insecure-fast-for-tests",
        "HOSO_LOG_LEVEL": "WARNING",
        # Fixed test keys, injected (never written to a file); see protection/crypto.py.
        "HOSO_MASTER_KEY": TEST_MASTER_KEY,
        "HOSO_INDEX_KEY": TEST_INDEX_KEY,
    }


@pytest.fixture
def app_config(database_url, tmp_path):
    """Override entries in a test (before `app` is first used) to change settings."""
    return _config(database_url, tmp_path / "instance")


@pytest.fixture
def app(app_config):
    application = create_app(app_config)
    yield application
    with application.app_context():
        db.session.remove()
        _empty_all_tables()
        db.engine.dispose()


def _empty_all_tables() -> None:
    """Empty every table between tests, the audit trail included: its append-only
    triggers are set aside for this (as only a database administrator could), then
    restored, and the chain head goes back to genesis."""
    tables = [table for table in reversed(Base.metadata.sorted_tables) if table.name != "audit_chain_head"]
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Replica role sets aside the append-only and foreign-key triggers for this
            # transaction. Rows are deleted rather than truncated: a TRUNCATE of ~50 tables
            # takes ~220 ms (each table's files are replaced) against ~10 ms for DELETEs of the
            # few rows a test leaves, which was a third of the PostgreSQL suite's time.
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            for table in tables:
                connection.execute(table.delete())
            # Identities restart so that a test sees the ids a fresh database would give.
            connection.execute(text(
                "SELECT setval(oid::regclass, 1, false) FROM pg_class "
                "WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace"))
        else:
            triggers = connection.execute(text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
            for name, _sql in triggers:
                connection.execute(text(f'DROP TRIGGER "{name}"'))
            for table in tables:
                connection.execute(table.delete())
            for _name, sql in triggers:
                connection.execute(text(sql))
        connection.execute(text(
            "UPDATE audit_chain_head SET seq = 0, entry_hash = :genesis, last_checkpoint_seq = 0, "
            "last_checkpoint_at = NULL, generation = 1, sequenced_generation = 0, sequenced_xact = 0, "
            "sequenced_entry = 0"), {"genesis": "0" * 64})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# --- factories ------------------------------------------------------------------------

@pytest.fixture
def make_unit(app):
    """make_unit(code="BTCTU", name=..., kind=..., parent=None): the unit, created unless it exists."""
    def factory(code: str = "BTCTU", name: str = "Ban Tổ chức Tỉnh ủy", kind: str = "organisation",
                parent: str | None = None) -> str:
        return factories.make_unit(app, code, name, kind, parent)

    return factory


@pytest.fixture
def make_user(app):
    """make_user(role="officer", **options) -> MadeUser, named role1, role2, ... in a test."""
    counter = iter(range(1, 10_000))

    def factory(role: str = "officer", *, username: str | None = None, **options) -> MadeUser:
        return factories.make_user(app, role, username=username or f"{role}{next(counter)}", **options)

    return factory


@pytest.fixture
def gunicorn_server(database_url, tmp_path):
    """A gunicorn with three workers on the test database (tests/servers.py): (base URL, log path)."""
    # Imported here: tests/servers.py takes the test keys from this module.
    from tests.servers import start_gunicorn

    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as log_file:
        try:
            process, base = start_gunicorn(database_url, tmp_path / "instance", log_file)
        except RuntimeError:
            raise RuntimeError(log.read_text()) from None
        try:
            yield base, log
        finally:
            process.terminate()
            process.wait(timeout=20)


@pytest.fixture
def scene(app, client, make_unit, make_user, sign_in) -> scenes.Scene:
    """The coordination scene (tests/scenes.py): a review in verification, its officer signed
    in on `client`, and two bodies' liaisons signed in on clients of their own."""
    return scenes.coordination_scene(app, client, make_unit, make_user, sign_in)


# --- acting as a person ---------------------------------------------------------------

@pytest.fixture
def sign_in(app, client):
    """sign_in(user, password=None, with_code=True, target=client): through /login and, when
    the user has one, the second-factor page (tests/pages.py)."""
    def act(user: MadeUser, *, password: str | None = None, with_code: bool = True, target=None):
        return pages.sign_in(app, target or client, user, password=password, with_code=with_code)

    return act


@pytest.fixture
def login_as(make_user, sign_in):
    """Create a user of `role` and sign the client in as them, second factor included."""
    def act(role: str = "officer", **kwargs) -> MadeUser:
        user = make_user(role, **kwargs)
        response = sign_in(user)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return user

    return act


@pytest.fixture
def age_sessions(app):
    """Move a user's sessions back in time, as if minutes had passed without a request."""
    def act(user: MadeUser, *, idle_minutes: float = 0, since_sign_in_minutes: float = 0) -> None:
        with app.app_context():
            now = utcnow()
            values = {}
            if idle_minutes:
                values["last_seen_at"] = now - timedelta(minutes=idle_minutes)
            if since_sign_in_minutes:
                values["created_at"] = now - timedelta(minutes=since_sign_in_minutes)
            db.session.execute(update(AuthSession).where(AuthSession.user_id == user.id).values(**values))
            db.session.commit()

    return act


# --- the clock --------------------------------------------------------------------------

# Either side of midnight in Vietnam (UTC+7), on the last night of a year: the UTC calendar day
# is the same at both moments, the organisation's is not (a deadline, "today" in a form and the
# year all change). Tests that compare dates run at both (two CI failures came from comparing
# with the UTC day after 17:00 UTC).
VIETNAM_MIDNIGHT = {
    "2359-in-Vietnam": datetime(2026, 12, 31, 16, 59, 30, tzinfo=UTC),
    "0000-in-Vietnam": datetime(2026, 12, 31, 17, 0, 30, tzinfo=UTC),
}


@pytest.fixture(params=list(VIETNAM_MIDNIGHT.values()), ids=list(VIETNAM_MIDNIGHT))
def around_vietnam_midnight(request):
    """Pin the clock (time-machine, not ticking) at 23:59:30 or 00:00:30 in Vietnam on
    31 December/1 January; request it before `app` and sign-ins, so that sessions, TOTP
    steps and audit times all live in the pinned moment."""
    with time_machine.travel(request.param, tick=False):
        yield request.param


# --- the audit trail --------------------------------------------------------------------

def audit_entries(app, action: str | None = None) -> list[AuditEntry]:
    """Committed entries in the order they were recorded (all, or of one action; "auth." for
    a prefix)."""
    with app.app_context():
        statement = select(AuditEntry).order_by(AuditEntry.id)
        if action and action.endswith("."):
            statement = statement.where(AuditEntry.action.startswith(action))
        elif action:
            statement = statement.where(AuditEntry.action == action)
        entries = list(db.session.scalars(statement))
        db.session.commit()
    return entries


def sequenced(app) -> int:
    """Link every committed entry, as the audit sequencer does on PostgreSQL (its own code,
    one pass after another); nothing to do on SQLite, where entries are linked as they are
    recorded. Returns how many entries were linked."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            return 0
        with db.engine.connect() as connection:
            return sequence_all(connection, batch=app.config["HOSO_AUDIT_SEQUENCE_BATCH"])


def sequenced_all(app, timeout: float = 60) -> int:
    """`sequenced(app)` again until every entry waiting for the sequencer when called is
    linked (or a pass raises). A pass takes only entries of transactions older than every
    running one (pg_snapshot_xmin), and on PostgreSQL that horizon is the whole server's: a
    transaction open in another database (another test run on the same server) holds it
    back for a moment. Fails after `timeout` seconds; nothing to do on SQLite."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            return 0
        head = db.session.execute(text("SELECT sequenced_generation, sequenced_xact, sequenced_entry "
                                       "FROM audit_chain_head WHERE id = 1")).one()
        waiting = set(db.session.scalars(select(AuditEntry.id).where(
            tuple_(AuditEntry.generation, AuditEntry.xact_id, AuditEntry.id) > tuple_(*head))))
        db.session.commit()
    linked, deadline = 0, time.monotonic() + timeout
    while True:
        linked += sequenced(app)
        with app.app_context():
            waiting -= set(db.session.scalars(select(AuditLink.entry_id).where(AuditLink.entry_id.in_(waiting))))
            db.session.commit()
        if not waiting:
            return linked
        assert time.monotonic() < deadline, f"{len(waiting)} audit entries still not linked after {timeout} s"
        time.sleep(0.05)


def audit_links(app) -> list[AuditLink]:
    """The chain's links in sequence order (on PostgreSQL, `sequenced(app)` first links what
    is committed)."""
    with app.app_context():
        links = list(db.session.scalars(select(AuditLink).order_by(AuditLink.seq)))
        db.session.commit()
    return links


@contextmanager
def audit_tampering(app):
    """A connection on which the append-only triggers are set aside, as a database
    administrator could: PostgreSQL skips them for the transaction (replica mode), SQLite
    drops them and creates them again before commit. Commits at the end of the block."""
    with app.app_context(), db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            yield connection
        else:
            triggers = connection.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
            for name, _sql in triggers:
                connection.execute(text(f'DROP TRIGGER "{name}"'))
            try:
                yield connection
            finally:
                for _name, sql in triggers:
                    connection.execute(text(sql))


@contextmanager
def logger_into_caplog(caplog, name: str):
    """Our loggers ("hoso", "cases") do not propagate: hand their records to caplog directly,
    with the request reference id each production log line carries."""
    logger = logging.getLogger(name)
    request_ids = RequestIdFilter()
    caplog.handler.addFilter(request_ids)
    logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)
        caplog.handler.removeFilter(request_ids)


@contextmanager
def scratch_postgresql_database(prefix: str, reason: str):
    """A new, empty PostgreSQL database on the TEST_DATABASE_URL server, dropped afterwards;
    the test is skipped with `reason` when the suite runs without PostgreSQL."""
    server = os.environ.get("TEST_DATABASE_URL", "")
    if not server.startswith("postgresql"):
        pytest.skip(reason)
    url = make_url(server)
    name = f"{prefix}_{secrets.token_hex(6)}"
    connect = _admin_connect(url)
    with psycopg.connect(**connect) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(**connect) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def directory_server(tmp_path_factory):
    """Debian's slapd on loopback with a throwaway configuration, started once for the session
    (tests/servers.py DirectoryServer): skipped when slapd is not installed, except in CI
    (CI=true), where that is a failure (.ci/run installs it)."""
    # Imported here: tests/servers.py takes the test keys from this module.
    from tests.servers import SLAPD, DirectoryServer

    if not SLAPD.is_file():
        reason = f"directory sign-in tests need OpenLDAP's server at {SLAPD} (Debian package slapd)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true, so they must run", pytrace=False)
        pytest.skip(reason)
    server = DirectoryServer(tmp_path_factory.mktemp("slapd"))
    try:
        yield server
    finally:
        server.stop()
