"""Start-up refuses bad settings with one line; SQLite runs with its safety pragmas; the
migrations build exactly the models' schema on an empty database, and go down and up."""

from __future__ import annotations

import os
import uuid

import click
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import Uuid, bindparam, func, inspect, select, table, text

from app import create_app
from protection.db import SQLITE_CACHE_KIB, Base, db
from protection.schema import MIGRATIONS, current_revision, head_revision, upgrade_schema
from protection.settings import ConfigurationError
from tests.conftest import scratch_postgresql_database

BAD_SETTINGS = [
    ("HOSO_IDLE_TIMEOUT_MINUTES", "abc"),
    ("HOSO_IDLE_TIMEOUT_MINUTES", "0"),
    ("HOSO_IDLE_TIMEOUT_MINUTES", "-5"),
    ("HOSO_HTTPS", "maybe"),
    ("HOSO_DATABASE_URL", "mysql://x"),
    ("HOSO_LOCKOUT_THRESHOLD", "many"),
    ("HOSO_PROXY_HOPS", "-1"),
    ("HOSO_LOG_LEVEL", "LOUD"),
    ("HOSO_ARGON2_PROFILE", "fastest"),
    ("HOSO_HOLIDAYS", "31/12/2026"),
    ("HOSO_DEADLINE_RULES", "{not json"),
    ("HOSO_DEADLINE_RULES", '[{"key": "reflection", "days": 10}]'),
    ("HOSO_CONCLUSION_VALIDITY_MONTHS", "0"),
    ("HOSO_DOCUMENT_PLACE", "Thành phố " * 7),
    ("HOSO_DATABASE_WAIT_SECONDS", "soon"),
    ("HOSO_DATABASE_WAIT_SECONDS", "0"),
    ("HOSO_DATABASE_WAIT_SECONDS", "nan"),
    ("HOSO_DATABASE_WAIT_SECONDS", "86400"),
]


def assert_one_line(error: ConfigurationError, *words: str) -> None:
    message = str(error)
    assert message and "\n" not in message
    for word in words:
        assert word in message, message


def dispose(application) -> None:
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


# --- settings ---------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS)
def test_bad_setting_passed_to_create_app_stops_start_up(app_config, name, value):
    with pytest.raises(ConfigurationError) as caught:
        create_app({**app_config, name: value})
    assert_one_line(caught.value, name)


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS)
def test_bad_setting_in_the_environment_stops_start_up(app_config, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    config = {key: item for key, item in app_config.items() if key != name}
    with pytest.raises(ConfigurationError) as caught:
        create_app(config)
    assert_one_line(caught.value, name)


def test_insecure_password_hashing_is_refused_outside_tests(app_config, monkeypatch):
    config = {key: item for key, item in app_config.items() if key != "TESTING"}
    with pytest.raises(ConfigurationError) as caught:
        create_app(config)
    assert_one_line(caught.value, "HOSO_ARGON2_PROFILE")

    monkeypatch.setenv("HOSO_ARGON2_PROFILE", "insecure-fast-for-tests")
    config.pop("HOSO_ARGON2_PROFILE")
    with pytest.raises(ConfigurationError) as caught:
        create_app(config)
    assert_one_line(caught.value, "HOSO_ARGON2_PROFILE")


def test_settings_from_the_environment_are_used(app_config, monkeypatch):
    monkeypatch.setenv("HOSO_IDLE_TIMEOUT_MINUTES", "30")
    monkeypatch.setenv("HOSO_HTTPS", "yes")
    application = create_app(app_config)
    try:
        assert application.config["HOSO_IDLE_TIMEOUT_MINUTES"] == 30
        assert application.config["SESSION_COOKIE_SECURE"] is True
        assert application.config["SESSION_COOKIE_NAME"] == "__Host-hoso"
    finally:
        dispose(application)


def test_create_app_without_a_secret_key_says_to_run_init(app_config):
    config = {key: item for key, item in app_config.items() if key != "SECRET_KEY"}
    assert "HOSO_SECRET_KEY" not in os.environ
    with pytest.raises(ConfigurationError) as caught:
        create_app(config)
    assert_one_line(caught.value, "init")


def test_without_a_secret_key_the_cli_still_loads_but_the_web_answers_503(app_config):
    config = {key: item for key, item in app_config.items() if key != "SECRET_KEY"}
    with click.Context(click.Command("init")):
        application = create_app(config)
    try:
        assert application.config["HOSO_UNINITIALISED"] is True
        response = application.test_client().get("/login")
        assert response.status_code == 503
        assert "Mã tham chiếu" in response.get_data(as_text=True)
    finally:
        dispose(application)


def test_secret_key_from_instance_config(app_config, tmp_path):
    instance = tmp_path / "configured-instance"
    instance.mkdir()
    (instance / "config.py").write_text("SECRET_KEY = 'from-the-instance-config-file'\n")
    config = {key: item for key, item in app_config.items() if key != "SECRET_KEY"}
    config["HOSO_INSTANCE_PATH"] = str(instance)
    application = create_app(config)
    try:
        assert application.config["SECRET_KEY"] == "from-the-instance-config-file"
    finally:
        dispose(application)


# --- SQLite pragmas ---------------------------------------------------------------------

def test_sqlite_runs_with_foreign_keys_wal_a_busy_timeout_and_a_large_page_cache(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite pragmas")
        foreign_keys = db.session.execute(text("PRAGMA foreign_keys")).scalar()
        journal_mode = db.session.execute(text("PRAGMA journal_mode")).scalar()
        busy_timeout = db.session.execute(text("PRAGMA busy_timeout")).scalar()
        cache_size = db.session.execute(text("PRAGMA cache_size")).scalar()
        db.session.rollback()
    assert foreign_keys == 1
    assert journal_mode.lower() == "wal"
    assert busy_timeout > 0
    assert cache_size == -SQLITE_CACHE_KIB  # SQLite's default is -2000 (2 MB)


# --- migrations -------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path):
    """A database with no schema at all: a new SQLite file, or a new PostgreSQL database
    on the TEST_DATABASE_URL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with scratch_postgresql_database("hoso_mig", "set TEST_DATABASE_URL to a PostgreSQL database to test its migrations") as url:
        yield url


def schema_differences(application) -> list:
    with application.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                               "compare_server_default": True})
        return compare_metadata(context, Base.metadata)


def table_names(application) -> set[str]:
    with application.app_context():
        return set(inspect(db.engine).get_table_names())


def test_migrations_build_the_models_schema_and_go_down_and_up(app_config, empty_database_url):
    application = create_app({**app_config, "HOSO_DATABASE_URL": empty_database_url})
    try:
        model_tables = set(Base.metadata.tables)
        assert {"users", "units", "auth_sessions", "login_failures", "security_notices"} <= model_tables
        assert table_names(application) == set()
        with application.app_context():
            assert current_revision() is None

        with application.app_context():
            upgrade_schema()
            assert current_revision() == head_revision() is not None
        assert table_names(application) == model_tables | {"alembic_version"}
        assert schema_differences(application) == []

        with application.app_context():
            downgrade(directory=str(MIGRATIONS), revision="base")
            assert current_revision() is None
        assert table_names(application) <= {"alembic_version"}

        with application.app_context():
            upgrade_schema()
            assert current_revision() == head_revision()
        assert table_names(application) == model_tables | {"alembic_version"}
        assert schema_differences(application) == []
    finally:
        dispose(application)


def test_the_differences_check_can_fail(app_config, tmp_path):
    """compare_metadata does see a schema that is not the models' (here: none at all)."""
    application = create_app({**app_config, "HOSO_DATABASE_URL": f"sqlite:///{tmp_path / 'bare.db'}"})
    try:
        differences = schema_differences(application)
        added = {item[1].name for item in differences if item[0] == "add_table"}
        assert added == set(Base.metadata.tables)
    finally:
        dispose(application)


def test_a_database_with_accounts_in_it_migrates_down_and_up_across_issue_23(app_config, empty_database_url):
    """Issue 23 adds a column to `users`, which sessions, cases and the trail point at.
    SQLite alters it by rebuilding the table; with rows that reference it, the rebuild needs
    foreign keys off for the migration (migrations/env.py), and every reference must still
    hold afterwards. Both ways, on both databases, with an account that has a session."""
    application = create_app({**app_config, "HOSO_DATABASE_URL": empty_database_url})
    unit_id, user_id = uuid.uuid4(), uuid.uuid4()
    ids = (bindparam("unit", type_=Uuid), bindparam("user", type_=Uuid), bindparam("session", type_=Uuid))
    try:
        with application.app_context():
            upgrade(directory=str(MIGRATIONS), revision="9a0d5e1c2201")
            db.session.execute(text(
                "INSERT INTO units (id, code, name, kind, active, created_at) "
                "VALUES (:unit, 'BTCTU', 'Ban Tổ chức', 'organisation', :yes, CURRENT_TIMESTAMP)").bindparams(*ids[:1]),
                {"unit": unit_id, "yes": True})
            db.session.execute(text(
                "INSERT INTO users (id, username, display_name, unit_id, role, clearance, active, password_hash, "
                "password_changed_at, must_change_password, demo_account, service_account, created_at) "
                "VALUES (:user, 'canbo.a', 'Cán bộ A', :unit, 'officer', 'secret', :yes, 'x', CURRENT_TIMESTAMP, "
                ":no, :no, :no, CURRENT_TIMESTAMP)").bindparams(*ids[:2]),
                {"user": user_id, "unit": unit_id, "yes": True, "no": False})
            db.session.execute(text(
                "INSERT INTO auth_sessions (id, token_hash, user_id, created_at, last_seen_at, second_factor_passed) "
                "VALUES (:session, 'h', :user, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, :no)").bindparams(*ids[1:]),
                {"session": uuid.uuid4(), "user": user_id, "no": False})
            db.session.commit()

            upgrade_schema()
            assert current_revision() == head_revision()
            assert db.session.execute(text("SELECT username, auth_source FROM users")).all() == [("canbo.a", "local")]
            db.session.commit()
            downgrade(directory=str(MIGRATIONS), revision="9a0d5e1c2201")
            upgrade_schema()
            assert db.session.scalar(text("SELECT count(*) FROM auth_sessions")) == 1
            if empty_database_url.startswith("sqlite"):
                assert db.session.execute(text("PRAGMA foreign_key_check")).all() == []
            db.session.commit()
        assert schema_differences(application) == []
        with application.app_context():
            if empty_database_url.startswith("sqlite"):
                # Enforced again on the app's connections after the migration.
                assert db.session.scalar(text("PRAGMA foreign_keys")) == 1
    finally:
        dispose(application)


PREVIOUS_RELEASE = "ff5a84eefac1"  # the migration head of the release before issue 24 (issue 23)


def _row_counts(names) -> dict[str, int]:
    return {name: db.session.scalar(select(func.count()).select_from(table(name))) for name in names}


def test_a_demo_database_of_the_previous_release_upgrades_and_keeps_its_trail(app_config, empty_database_url):
    """The README's upgrade procedure on a database holding the demo organisation at the
    previous release's migration head: `db upgrade` brings it to head without losing a row,
    the trail verifies, the new release's demo data seeds on top, and the old dossiers open.
    (The demo is seeded with this code, then the schema is taken back to the previous head —
    which drops only this release's tables — so the database is what that release had.)"""
    application = create_app({**app_config, "HOSO_DATABASE_URL": empty_database_url})
    runner = application.test_cli_runner()
    old_tables = ("users", "units", "subjects", "cases", "audit_entries", "blobs", "data_keys")
    try:
        with application.app_context():
            upgrade_schema()
        assert runner.invoke(args=["demo"]).exit_code == 0
        with application.app_context():
            downgrade(directory=str(MIGRATIONS), revision=PREVIOUS_RELEASE)
            assert current_revision() == PREVIOUS_RELEASE
            assert "archive_documents" not in table_names(application)
            before = _row_counts(old_tables)
            db.session.commit()
        assert all(before.values()), before

        upgraded = runner.invoke(args=["db", "upgrade"])
        assert upgraded.exit_code == 0, upgraded.output
        with application.app_context():
            assert current_revision() == head_revision()
            after = _row_counts(old_tables)
            db.session.commit()
        assert after == before
        assert schema_differences(application) == []

        reseeded = runner.invoke(args=["demo"])
        assert reseeded.exit_code == 0, reseeded.output
        verified = runner.invoke(args=["audit", "verify"])
        assert verified.exit_code == 0 and "OK" in verified.output, verified.output
        with application.app_context():
            assert db.session.scalar(text("SELECT count(*) FROM archive_documents")) > 0
            db.session.commit()
    finally:
        dispose(application)
