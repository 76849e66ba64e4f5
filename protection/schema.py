"""Alembic, driven from the app: bring the schema to head, or check it is there."""

from __future__ import annotations

from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import Migrate, upgrade

from .db import db

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

migrate = Migrate(directory=str(MIGRATIONS), render_as_batch=True, compare_type=True)


class SchemaNotReady(RuntimeError):
    pass


def upgrade_schema() -> None:
    upgrade(directory=str(MIGRATIONS))


def head_revision() -> str | None:
    config = current_app.extensions["migrate"].migrate.get_config(str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def current_revision() -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def ensure_schema_current() -> None:
    current = current_revision()
    if current is None:
        raise SchemaNotReady("the database has no schema yet: run `flask --app app init`")
    if current != head_revision():
        raise SchemaNotReady("the database schema is out of date: run `flask --app app db upgrade`")
