"""The one database handle, the declarative base, and SQLite's connection settings."""

from __future__ import annotations

import enum
import logging
import os
import re
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

from flask import Flask, g, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Connection, Engine, Enum, MetaData, event, text
from sqlalchemy import exc as sqlalchemy_exc
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


# --- transactions that read first --------------------------------------------------------
#
# SQLite has one write lock per database. A transaction that begins IMMEDIATE takes it at
# BEGIN and holds it to COMMIT; one that begins DEFERRED takes none while it only reads (in WAL
# mode a reader blocks nobody and sees one snapshot). But a deferred transaction cannot safely
# turn into a writer: if another connection committed since its snapshot, its first write fails
# at once with SQLITE_BUSY (the busy handler is not consulted for that upgrade).
#
# So requests that only read (GET and HEAD pages) begin DEFERRED, and at their first write —
# in practice the audit entry appended at commit, and now and then a session's last-seen
# touch — the read snapshot is ended and the same SQLAlchemy transaction carries on in a
# fresh BEGIN IMMEDIATE, which waits its turn on the busy handler like any writer. What the
# page read before that point was read in a consistent snapshot; what it writes is written
# under the lock. A safe-method request must therefore never write something computed from
# what it read (read-modify-write belongs in a POST, whose transaction is IMMEDIATE from the
# start): the audit trail, which must link to the newest head, takes the lock
# (`take_write_lock`) before it reads the head.
_READS_FIRST: ContextVar[bool] = ContextVar("hoso_reads_first", default=False)
_DEFERRED = "hoso.sqlite.deferred"
# Statements that cannot change the database; anything else (INSERT, UPDATE, DELETE,
# SAVEPOINT, a CTE of unknown kind ...) ends a read-first transaction's snapshot first.
_READ_ONLY_STATEMENT = re.compile(r"\s*(SELECT|PRAGMA\s+\w+\s*$)", re.IGNORECASE)


def begin_reading_first(enabled: bool = True) -> Token:
    """From now on (in this context), new SQLite transactions begin DEFERRED and take the
    write lock only when they first write. Returns the token for `end_reading_first`."""
    return _READS_FIRST.set(enabled)


def end_reading_first(token: Token) -> None:
    _READS_FIRST.reset(token)


@contextmanager
def reading_first() -> Iterator[None]:
    """`begin_reading_first` for a block (e.g. an error page drawn while the write lock is
    out of reach: it reads, and must not queue for the lock it just failed to get)."""
    token = begin_reading_first()
    try:
        yield
    finally:
        end_reading_first(token)


def take_write_lock(connection: Connection) -> None:
    """Make sure this SQLite transaction holds the write lock: if it began DEFERRED and has
    not written yet, end its read snapshot and go on in BEGIN IMMEDIATE (waiting, as any
    writer does, up to the busy timeout). A no-op on PostgreSQL and for IMMEDIATE transactions."""
    if connection.info.pop(_DEFERRED, False):
        _upgrade(connection.connection.dbapi_connection)


def _upgrade(dbapi_connection) -> None:
    # COMMIT, not ROLLBACK: nothing was written, and a ROLLBACK would abort a result set the
    # caller is still reading (SQLITE_ABORT_ROLLBACK); a COMMIT leaves it readable.
    dbapi_connection.execute("COMMIT")
    dbapi_connection.execute("BEGIN IMMEDIATE")


def configure_sqlite(engine: Engine, *, wait_seconds: float = SQLITE_BUSY_TIMEOUT_MS / 1000) -> None:
    """WAL, foreign keys, a busy timeout, and the transaction mode: BEGIN IMMEDIATE for
    every transaction, except DEFERRED (until the first write) while `begin_reading_first`
    is on — see above.

    A deferred SQLite transaction that reads first and writes later fails at once with
    SQLITE_BUSY when another worker committed in between (the busy timeout does not
    help then). So a transaction that may write takes the write lock up front and waits
    its turn instead: the recipe from SQLAlchemy's pysqlite docs ("Serializable isolation
    / Savepoints"). `wait_seconds` bounds that wait (HOSO_DATABASE_WAIT_SECONDS).
    """
    if engine.dialect.name != "sqlite":
        return
    path = sqlite_file(engine)
    busy_timeout_ms = max(1, int(wait_seconds * 1000))

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
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
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
        if _READS_FIRST.get():
            connection.exec_driver_sql("BEGIN")
            connection.info[_DEFERRED] = True
        else:
            # Cleared here too, not only when a transaction ends: a mark left behind on a
            # pooled connection would make this writer's first write end its transaction.
            connection.info.pop(_DEFERRED, None)
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine, "before_cursor_execute")
    def _lock_before_first_write(connection, cursor, statement, _parameters, _context, _executemany):
        if connection.info.get(_DEFERRED) and not _READ_ONLY_STATEMENT.match(statement):
            del connection.info[_DEFERRED]
            _upgrade(cursor.connection)

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _transaction_ended(connection):
        connection.info.pop(_DEFERRED, None)


def configure_postgresql(engine: Engine, *, wait_seconds: float) -> None:
    """A statement that waits longer than `wait_seconds` for a row or table lock fails
    (lock_timeout) instead of holding its request, and the request is answered 503."""
    if engine.dialect.name != "postgresql":
        return
    lock_timeout_ms = max(1, int(wait_seconds * 1000))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised by every PG test
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True  # a SET outside any transaction lasts the session
        dbapi_connection.execute(f"SET lock_timeout = {lock_timeout_ms}")
        dbapi_connection.autocommit = autocommit


# SQLite's primary result codes for "the database is busy" and "a table is locked": the
# busy timeout ran out (extended codes such as SQLITE_BUSY_SNAPSHOT share the low byte).
_SQLITE_BUSY_CODES = {5: "the SQLite write lock was not free in time", 6: "an SQLite table was locked"}
# PostgreSQL: lock_timeout, statement_timeout, a deadlock victim, a serialisation failure.
_POSTGRESQL_BUSY_STATES = {
    "55P03": "a PostgreSQL lock was not free in time (lock_timeout)",
    "57014": "a PostgreSQL statement ran out of time (statement_timeout)",
    "40P01": "PostgreSQL chose this transaction as a deadlock victim",
    "40001": "PostgreSQL could not serialise this transaction",
}


def database_busy(error: BaseException) -> str | None:
    """Why `error` means the database could not be had in time (a reason for the log, never
    a value), or None when it is some other failure. Such a request is answered 503: it did
    nothing wrong, and trying again later works."""
    if isinstance(error, sqlalchemy_exc.TimeoutError):
        return "no database connection was free in the pool in time"
    original = getattr(error, "orig", None) or error
    code = getattr(original, "sqlite_errorcode", None)
    if isinstance(original, sqlite3.OperationalError) and code is not None:
        return _SQLITE_BUSY_CODES.get(code & 0xFF)
    return _POSTGRESQL_BUSY_STATES.get(getattr(original, "sqlstate", None) or "")


# Methods that change nothing but the audit trail and session bookkeeping (RFC 9110 §9.2.1).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def configure_request_transactions(app: Flask) -> None:
    """Pages (safe methods) read first: their transaction holds no write lock until the audit
    entry is appended at its end. Every other request writes under the lock from its start."""

    @app.before_request
    def _reads_first_if_safe():
        if request.method in SAFE_METHODS:
            g.hoso_reads_first = begin_reading_first()

    @app.teardown_request
    def _end_reads_first(_error):
        token = g.pop("hoso_reads_first", None)
        if token is not None:
            end_reading_first(token)
