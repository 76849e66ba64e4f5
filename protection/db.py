"""The one database handle, the declarative base, and SQLite's connection settings."""

from __future__ import annotations

import enum
import logging
import os
import sqlite3
import stat

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Engine, Enum, MetaData, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase

# Named constraints so Alembic migrations are identical on SQLite and PostgreSQL
# (SQLite batch mode needs names to alter constraints).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})

def enum_column(enum_cls: type[enum.Enum], length: int = 16) -> Enum:
    """An enum column stored as VARCHAR of the value (not the member name) on every
    database, so SQLite and PostgreSQL share one schema and a renamed member never
    rewrites data."""
    return Enum(
        enum_cls,
        native_enum=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


SQLITE_BUSY_TIMEOUT_MS = 15_000
# Each connection's page cache. SQLite's default is 2 MB. Once the random-keyed indexes
# (UUIDs, data-key ids, blind indexes) outgrow it, every insert reads index pages back from
# the operating system. With 100k dossiers written, that cost protected writes 4.9 µs per
# field more than plain ones in SQL; with this cache, 1.0 µs. The cache fills only with
# pages a connection has used, up to this bound.
SQLITE_CACHE_KIB = 64 * 1024


SQLITE_ANALYSIS_LIMIT = 1000


def refresh_sqlite_statistics(dbapi_connection) -> None:
    """A bounded ANALYZE on a raw sqlite3 connection (outside any transaction)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}")
        cursor.execute("ANALYZE")
    except sqlite3.Error as error:  # statistics are an optimisation: never block start-up
        logging.getLogger(__name__).warning("planner statistics not refreshed: %s", type(error).__name__)
    finally:
        cursor.close()


def refresh_statistics(session) -> None:
    """After a bulk load: fresh planner statistics (SQLite; PostgreSQL analyses on its own)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}"))
        session.execute(text("ANALYZE"))


def insert_or_ignore(session, model, **values) -> None:
    """INSERT ... ON CONFLICT DO NOTHING in the session's dialect: the row exists afterwards,
    whoever inserted it (on PostgreSQL a concurrent inserter's row is waited for)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(model).values(**values).on_conflict_do_nothing())


# The database, its write-ahead log and its shared-memory index are readable by their owner
# only: besides the ciphertext they hold every plain column and the audit trail.
SQLITE_FILE_MODE = 0o600
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def sqlite_file(engine: Engine) -> str | None:
    """The database file's path; None for in-memory databases and `file:` URIs."""
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path


def create_sqlite_file_owner_only(path: str) -> None:
    """Create the empty database file with mode 0600 before SQLite opens it.

    SQLite creates a missing file with 0644 minus the umask, and gives the -wal, -shm and
    -journal files it makes later the main file's mode (os_unix.c, findCreateFileMode),
    so the main file's mode at creation decides all of them. An empty file is an empty
    database to SQLite. O_EXCL: an existing file is left alone here."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SQLITE_FILE_MODE))
    except FileExistsError:
        pass
    except OSError:
        pass  # e.g. a missing folder: SQLite's own connect reports it


def restrict_sqlite_files(path: str) -> None:
    """An instance made before files were created owner-only: take away group and other access."""
    for name in (path + suffix for suffix in SQLITE_COMPANIONS):
        try:
            mode = stat.S_IMODE(os.stat(name).st_mode)
            if mode & 0o077:
                os.chmod(name, mode & 0o700)
                logging.getLogger(__name__).warning("%s was readable by other users (mode %o): now %o",
                                                    name, mode, mode & 0o700)
        except FileNotFoundError:
            continue
        except OSError as error:  # not ours to change: say so, and keep serving
            logging.getLogger(__name__).warning("cannot make %s owner-only: %s", name, error.strerror)


def configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and BEGIN IMMEDIATE for every transaction.

    A deferred SQLite transaction that reads first and writes later fails at once with
    SQLITE_BUSY when another worker committed in between (the busy timeout does not
    help then). Almost every Hoso request writes (session touch, audit entry), so each
    transaction takes the write lock up front and waits its turn instead. This is the
    recipe from SQLAlchemy's pysqlite docs ("Serializable isolation / Savepoints").
    """
    if engine.dialect.name != "sqlite":
        return
    path = sqlite_file(engine)

    @event.listens_for(engine, "do_connect")
    def _owner_only(_dialect, _record, _cargs, _cparams):
        # Before SQLite opens (and so may create) the file. On every new connection (a few
        # system calls; the pool makes new connections rarely): the file may have been
        # removed or copied in since the last one.
        if path is not None:
            create_sqlite_file_owner_only(path)
            restrict_sqlite_files(path)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised by every test
        # Take transaction control away from the sqlite3 module; we emit BEGIN ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")  # negative: KiB, not pages
        cursor.close()

    @event.listens_for(engine, "first_connect")
    def _refresh_planner_statistics(dbapi_connection, _record):  # pragma: no cover - every test
        # SQLite plans from sqlite_stat1, which only ANALYZE writes; without it "my work"
        # probes every case of a unit instead of reading the user's few assignments (5x
        # slower at 100k cases). Once per process (each gunicorn worker, bounded by
        # analysis_limit so it takes milliseconds at any size) keeps the figures current as
        # the database grows; `import subjects` and `demo` refresh them after bulk loads.
        # PostgreSQL's autovacuum does the same on its own.
        refresh_sqlite_statistics(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
