"""Logical, database-independent backups: every table of the app's metadata, in one snapshot.

The content (inside format.py's sealed stream) is JSON lines:

    {"kind": "hoso-backup", "format": 1, "revision": ..., "tables": [[name, [columns]], ...]}
    {"t": "units", "r": [value, ...]}               one line per row, tables in dependency order
    {"kind": "end", "rows": {"units": 3, ...}}

Values go through each column's SQLAlchemy type, so every dialect converts its own way
(a UUID is 32-hex text on SQLite and `uuid` on PostgreSQL; booleans, datetimes likewise),
and a backup taken on SQLite restores into PostgreSQL. Encrypted columns are read and
written as the ciphertexts they are: nothing is decrypted, and the master and index keys
are not in the backup — a restore needs the same keys as the database it came from.
"""

from __future__ import annotations

import base64
import enum
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from flask import current_app
from sqlalchemy import Connection, Table, create_engine, event, func, insert, select, text
from sqlalchemy.pool import NullPool

from .. import signals
from ..crypto import current_keyring
from ..db import SQLITE_BUSY_TIMEOUT_MS, db
from ..fields import EncryptedType, Sealed
from ..schema import current_revision, head_revision, upgrade_schema
from .format import BackupError, SealedWriter, lines, open_content

FORMAT = 1
BATCH = 500
# Rows the migrations or the first start put in an otherwise empty database: the chain's
# genesis head and the key pins. A restore replaces them with the backup's.
PRESET_TABLES = ("audit_chain_head", "keyring")


def tables() -> list[Table]:
    return list(db.metadata.sorted_tables)


# --- values ---------------------------------------------------------------------------------

def encode_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float) and not isinstance(value, enum.Enum):
        return value
    if isinstance(value, enum.Enum):
        return {"$e": value.name}
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, datetime):
        return {"$t": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, time):
        return {"$h": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"$u": value.hex}
    if isinstance(value, Decimal):
        return {"$n": str(value)}
    if isinstance(value, dict | list):
        return {"$j": value}
    raise BackupError(f"a value of type {type(value).__name__} cannot be backed up")


def _decoder(column) -> Callable[[Any], Any]:
    sealed = isinstance(column.type, EncryptedType)
    enum_class = getattr(column.type, "enum_class", None)

    def decode(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        (tag, item), = value.items()
        if tag == "$b":
            raw = base64.b64decode(item)
            return Sealed(raw) if sealed else raw
        if tag == "$e":
            return enum_class[item] if enum_class is not None else item
        if tag == "$t":
            return datetime.fromisoformat(item)
        if tag == "$d":
            return date.fromisoformat(item)
        if tag == "$h":
            return time.fromisoformat(item)
        if tag == "$u":
            return uuid.UUID(hex=item)
        if tag == "$n":
            return Decimal(item)
        if tag == "$j":
            return item
        raise BackupError(f"the backup holds a value of unknown kind in column {column.table.name}.{column.name}")

    return decode


def _line(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


# --- one snapshot -----------------------------------------------------------------------------

def _sqlite_snapshot_engine(url):
    """A private engine whose transactions are plain deferred BEGINs: in WAL mode a reader
    sees one snapshot for its whole transaction and never blocks the writers (the app's
    own engine begins IMMEDIATE, which would hold the write lock for the whole backup)."""
    engine = create_engine(url, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    return engine


class Snapshot:
    """A read-only connection that sees the whole database as of one moment."""

    def __enter__(self) -> Connection:
        if db.engine.dialect.name == "sqlite":
            self._engine = _sqlite_snapshot_engine(db.engine.url)
            self._connection = self._engine.connect()
            self._connection.exec_driver_sql("BEGIN DEFERRED")
        else:
            self._engine = None
            self._connection = db.engine.connect().execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True)
        return self._connection

    def __exit__(self, *_exc) -> None:
        try:
            if self._engine is not None:
                self._connection.exec_driver_sql("ROLLBACK")
            self._connection.rollback()
        finally:
            self._connection.close()
            if self._engine is not None:
                self._engine.dispose()


def _self_referencing(table: Table) -> list:
    return [fk for fk in table.foreign_keys if fk.column.table is table]


def _parents_first(table: Table, rows: list) -> list:
    """Rows of a table that refers to itself (units, conclusions), each after its parent."""
    fks = _self_referencing(table)
    key = [column.name for column in table.primary_key.columns]
    if len(key) != 1:
        return rows
    key_name = key[0]
    by_id = {row._mapping[key_name]: row for row in rows}
    placed: set = set()
    ordered: list = []
    for row in rows:
        stack = [row]
        while stack:
            current = stack[-1]
            ident = current._mapping[key_name]
            if ident in placed:
                stack.pop()
                continue
            parents = [by_id[current._mapping[fk.parent.name]] for fk in fks
                       if current._mapping[fk.parent.name] in by_id
                       and current._mapping[fk.parent.name] not in placed
                       and current._mapping[fk.parent.name] != ident]
            if parents and all(parent not in stack for parent in parents):
                stack.extend(parents)
                continue
            placed.add(ident)
            ordered.append(current)
            stack.pop()
    return ordered


@dataclass
class DumpSummary:
    tables: int = 0
    rows: int = 0
    bytes: int = 0
    revision: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


def gather_anchors() -> dict[str, Any]:
    """What the upper layers keep outside the database and want this backup to remember
    (the purge ledger's head): a restore refuses their files unless they extend it.
    Receivers refuse with BackupError."""
    anchors: dict[str, Any] = {}
    for _receiver, given in signals.backup_starting.send(current_app._get_current_object()):
        anchors.update(given or {})
    return anchors


def dump(out: BinaryIO, raw_key: bytes, progress: Callable[[int], None] | None = None,
         on_total: Callable[[int], None] | None = None, anchors: dict[str, Any] | None = None) -> DumpSummary:
    """Write every row of every table, from one snapshot, sealed under the backup key."""
    summary = DumpSummary()
    writer = SealedWriter(out, raw_key)
    with Snapshot() as connection:
        summary.revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        if summary.revision != head_revision():
            raise BackupError("the database schema is not at this code's revision: "
                              "run `flask --app app db upgrade` first")
        all_tables = tables()
        totals = {table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
                  for table in all_tables}
        if on_total is not None:
            on_total(sum(totals.values()))
        writer.write(_line({"kind": "hoso-backup", "format": FORMAT, "revision": summary.revision,
                            "dialect": connection.dialect.name, "anchors": anchors or {},
                            "tables": [[table.name, [column.name for column in table.columns]]
                                       for table in all_tables]}))
        for table in all_tables:
            statement = select(table).order_by(*table.primary_key.columns)
            if _self_referencing(table):
                rows: Any = _parents_first(table, connection.execute(statement).all())
            else:
                rows = connection.execution_options(yield_per=BATCH).execute(statement)
            count = 0
            for row in rows:
                writer.write(_line({"t": table.name, "r": [encode_value(value) for value in row]}))
                count += 1
                if progress is not None:
                    progress(1)
            summary.counts[table.name] = count
            summary.rows += count
        summary.tables = len(all_tables)
        writer.write(_line({"kind": "end", "rows": summary.counts}))
    writer.close()
    summary.bytes = writer.bytes_written
    return summary


# --- restore ----------------------------------------------------------------------------------

@dataclass
class BackupContent:
    revision: str
    counts: dict[str, int]
    pins: dict[str, str]
    checkpoint_key: str | None = None  # the signing key id of the newest checkpoint
    anchors: dict[str, Any] = field(default_factory=dict)  # see gather_anchors


def _records(source: Callable[[], BinaryIO], raw_key: bytes, name: str) -> Iterator[dict]:
    with source() as handle:
        for raw_line in lines(open_content(handle, raw_key, name)):
            try:
                yield json.loads(raw_line)
            except ValueError:
                raise BackupError(f"{name} holds content that is not a Hoso backup") from None


def check_file(source: Callable[[], BinaryIO], raw_key: bytes, name: str,
               progress: Callable[[int], None] | None = None) -> BackupContent:
    """First pass: authenticate every chunk and check the content's shape, writing nothing."""
    records = _records(source, raw_key, name)
    first = next(records, None)
    if not isinstance(first, dict) or first.get("kind") != "hoso-backup":
        raise BackupError(f"{name} holds content that is not a Hoso backup")
    if first.get("format") != FORMAT:
        raise BackupError(f"{name} has content format {first.get('format')}; this Hoso reads {FORMAT}")
    expected = {table.name: [column.name for column in table.columns] for table in tables()}
    described = {table_name: columns for table_name, columns in first.get("tables", [])}
    if first.get("revision") != head_revision() or described != expected:
        raise BackupError(f"{name} was taken at schema revision {first.get('revision')}; this code is at "
                          f"{head_revision()}: restore it with the Hoso version that made it")
    counts: dict[str, int] = {}
    pins: dict[str, str] = {}
    keyring_columns = expected["keyring"]
    key_column = expected["audit_checkpoints"].index("key_id")
    checkpoint_key = None
    end = None
    for record in records:
        if end is not None:
            raise BackupError(f"{name} holds content after its end")
        if record.get("kind") == "end":
            end = record
            continue
        table_name = record.get("t")
        if table_name not in expected or len(record.get("r", ())) != len(expected[table_name]):
            raise BackupError(f"{name} holds a row that does not fit this schema")
        counts[table_name] = counts.get(table_name, 0) + 1
        if table_name == "keyring":
            row = dict(zip(keyring_columns, record["r"], strict=True))
            pins[row["name"]] = row["value"]
        elif table_name == "audit_checkpoints":
            checkpoint_key = record["r"][key_column]  # rows come in seq order
        if progress is not None:
            progress(1)
    if end is None or {key: value for key, value in end.get("rows", {}).items() if value} != counts:
        raise BackupError(f"{name} is incomplete: its row counts do not match its end marker")
    anchors = first.get("anchors", {})
    if not isinstance(anchors, dict):
        raise BackupError(f"{name} holds content that is not a Hoso backup")
    return BackupContent(first["revision"], counts, pins, checkpoint_key, anchors)


def prepare_target() -> None:
    """An empty database gets the schema; any other must already be at this code's head."""
    if current_revision() is None:
        upgrade_schema()
    if current_revision() != head_revision():
        raise BackupError("the target database schema is not at this code's revision: "
                          "run `flask --app app db upgrade` first")


def refuse_unless_empty(content: BackupContent) -> None:
    with db.engine.connect() as connection:
        for table in tables():
            if table.name in PRESET_TABLES:
                continue
            if connection.execute(select(table).limit(1)).first() is not None:
                raise BackupError("the target database is not empty: restore only into a new instance")
        pins = dict(connection.execute(text("SELECT name, value FROM keyring")).all())
        connection.rollback()
    for pin, value in pins.items():
        if content.pins.get(pin, value) != value:
            raise BackupError(f"the target database is pinned to other keys ({pin} differs from the backup's)")
    # The keys this instance holds must open the backup's data keys and indexes...
    current_keyring().check_pins(content.pins)
    # ...and the audit trail's own checks (its chain head at genesis, its checkpoint
    # signing key the backup's): audit/listeners.py raises BackupError.
    signals.restore_target_checking.send(current_app._get_current_object(),
                                         checkpoint_key=content.checkpoint_key)


def _reset_sequences(connection: Connection) -> None:
    """PostgreSQL: serial/identity counters continue after the restored rows."""
    if connection.dialect.name != "postgresql":
        return
    for table in tables():
        key = list(table.primary_key.columns)
        if len(key) != 1:
            continue
        sequence = connection.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                      {"t": table.name, "c": key[0].name}).scalar()
        if sequence:
            highest = select(func.max(key[0])).scalar_subquery()
            connection.execute(select(func.setval(sequence, func.coalesce(highest, 0) + 1, False)))


def load(source: Callable[[], BinaryIO], raw_key: bytes, name: str,
         progress: Callable[[int], None] | None = None) -> int:
    """Second pass: insert every row in one transaction (all or nothing), through Core so
    neither the ORM's sealing nor the audit listener runs. Each chunk is authenticated
    again as it is read: a file changed since the first pass rolls everything back."""
    by_name = {table.name: table for table in tables()}
    decoders = {table.name: [_decoder(column) for column in table.columns] for table in tables()}
    columns = {table.name: [column.name for column in table.columns] for table in tables()}
    inserted = 0
    with db.engine.begin() as connection:
        for table_name in PRESET_TABLES:
            connection.execute(by_name[table_name].delete())
        batch: list[dict] = []
        batch_table: str | None = None

        def flush() -> None:
            if batch:
                connection.execute(insert(by_name[batch_table]), batch)
                batch.clear()

        for record in _records(source, raw_key, name):
            table_name = record.get("t")
            if table_name is None:
                continue
            if table_name != batch_table or len(batch) >= BATCH:
                flush()
                batch_table = table_name
            batch.append({column: decode(value) for column, decode, value
                          in zip(columns[table_name], decoders[table_name], record["r"], strict=True)})
            inserted += 1
            if progress is not None:
                progress(1)
        flush()
        _reset_sequences(connection)
    return inserted


def check_anchors(content: BackupContent, *, never_purged: bool) -> None:
    """Before any row is written: the upper layers check their files outside the database
    (the purge ledger) against what the backup recorded; a receiver refuses with
    BackupError."""
    signals.restore_checking.send(current_app._get_current_object(), anchors=content.anchors,
                                  never_purged=never_purged)


def after_restore(progress_bar: Callable[[str, int], Any]) -> tuple[list[str], dict[str, Any]]:
    """Rows committed: the upper layers bring the restored data up to their files (the
    purge ledger shreds again what was purged after the backup), each showing its work on
    `progress_bar(label, length)`. Returns the lines to print and identifier-only detail
    for the restore's audit entry."""
    printed: list[str] = []
    detail: dict[str, Any] = {}
    for _receiver, (line, given) in signals.restore_loaded.send(current_app._get_current_object(),
                                                                 progress_bar=progress_bar):
        printed.append(line)
        detail.update(given)
    return printed, detail


def keys_dir() -> Path:
    return Path(current_app.instance_path) / "keys"
