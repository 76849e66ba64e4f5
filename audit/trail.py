"""record(action, ...): write one entry inside the caller's transaction.

The caller's unit of work commits the action and its entry together, or neither. The entry is
all the chain needs of the action's transaction: on PostgreSQL nothing else is written there
(no head lock, no sequence number) and the sequencer (audit/sequencer.py) links committed
entries in batches, so audited writes on every worker commit side by side (issue 22). On
SQLite, which has one writer at a time anyway, the entries are linked in the same
transaction, under the database's write lock (`take_write_lock`, protection/db.py), through
the very code the sequencer uses (`link_entries`).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from flask import current_app, g, has_request_context, request
from flask_login import current_user
from psycopg import errors as psycopg_errors
from psycopg import pq
from sqlalchemy import Connection, Engine, event, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from protection.clock import utcnow
from protection.db import db, take_write_lock

from . import signing
from .chain import HASHED_FIELDS, canonical_json, entry_hash, timestamp_text
from .models import AuditEntry, AuditLink, ChainHead, Checkpoint

HEAD_ID = 1
logger = logging.getLogger(__name__)

# Detail values are identifiers, field names, reasons and counts — never free text.
# A value that does not look like one is refused, so a name or a summary cannot slip
# into the trail by mistake (issue 4: "a small detail map that never holds a protected value").
_SAFE_TEXT = re.compile(r"^[A-Za-z0-9_.:/@+-]{0,80}$")


class AuditDetailError(ValueError):
    """A detail value that might be a protected value; the message names only the key."""


def _safe_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in detail.items():
        if value is None or isinstance(value, bool | int):
            clean[key] = value
        elif isinstance(value, uuid.UUID):
            clean[key] = str(value)
        elif isinstance(value, str) and _SAFE_TEXT.match(value):
            clean[key] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, str) and _SAFE_TEXT.match(v) for v in value):
            clean[key] = list(value)
        else:
            raise AuditDetailError(f"audit detail {key!r} is not an identifier-like value")
    return clean


def _actor(actor: Any) -> tuple[uuid.UUID | None, str | None, str | None]:
    if actor is None and has_request_context() and current_user and current_user.is_authenticated:
        actor = current_user
    if actor is None:
        return None, None, None
    role = getattr(actor, "role", None)
    unit = getattr(actor, "unit", None)
    return actor.id, (role.value if role is not None else None), (unit.code if unit is not None else None)


def _lock_head() -> ChainHead:
    statement = select(ChainHead).where(ChainHead.id == HEAD_ID)
    if db.session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    head = db.session.scalars(statement.execution_options(populate_existing=True)).one()
    return head


@dataclass
class PendingEntry:
    """An entry recorded in this transaction, written as the transaction commits."""

    fields: dict[str, Any]


_PENDING = "hoso.audit.pending"


def record(action: str, *, target_type: str | None = None, target_id: Any = None,
           outcome: str = "success", actor: Any = None, **detail: Any) -> PendingEntry:
    """Record an entry for `action` in the caller's transaction: written by `_append_pending`
    as the transaction commits, so both commit or neither does."""
    actor_id, actor_role, actor_unit = _actor(actor)
    if has_request_context():
        client_address = (request.remote_addr or "")[:64] or None
        request_id = g.get("request_id")
    else:
        client_address, request_id = "cli", None
    fields = {
        "occurred_at": utcnow(),
        "actor_id": actor_id,
        "actor_role": actor_role,
        "actor_unit": actor_unit,
        "action": action,
        "target_type": target_type,
        "target_id": str(target_id) if target_id is not None else None,
        "outcome": outcome,
        "client_address": client_address,
        "request_id": request_id,
        "detail": canonical_json(_safe_detail(detail)).decode("utf-8"),
    }
    entry = PendingEntry(fields)
    db.session.connection()  # inside a transaction, so a rollback of it forgets the entry
    db.session.info.setdefault(_PENDING, []).append(entry)
    return entry


# Written at commit, not at record(): after the action's own changes are flushed, all of a
# transaction's entries at once.
@event.listens_for(Session, "before_commit")
def _append_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        session.flush()
        # Sent with the COMMIT itself (_insert_and_commit, below).
        connection.info.setdefault(_UNSENT, []).extend(pending)
        return
    # A page's transaction read in a snapshot without the lock; the head must be read under
    # it, or two pages would link to the same predecessor.
    take_write_lock(connection)
    session.flush()
    head = read_head(connection)
    table = AuditEntry.__table__
    ids = connection.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                             [{"generation": head.generation, "xact_id": 0, **entry.fields} for entry in pending]
                             ).scalars().all()
    link_entries(connection, head, [Recorded(entry_id, head.generation, 0, entry.fields)
                                    for entry_id, entry in zip(ids, pending, strict=True)])


# --- PostgreSQL: the entries go with the COMMIT ----------------------------------------------
#
# The transaction's entries and its COMMIT go to the server in one pipeline: an audited
# transaction makes no more round trips than the same transaction without audit, and each
# round trip costs both the worker and the server a wake-up on CPUs they share with every
# other worker (python -m bench.audit). They are sent through the connection's libpq object
# (psycopg.pq): an INSERT per entry, then COMMIT, then one sync, the results read back in one
# blocking wait. CPU per audited write at 16 workers on 2 CPUs (client, server and sequencer
# processes, the bench's CPU meter), beside about 1,050 µs without audit: 2,090 µs with the
# INSERT sent before the COMMIT, 1,770 with both in psycopg's own pipeline mode, 1,500 so.
# No id, generation or transaction id is sent: the sequence and the audit_entry_stamp trigger
# give them (the migration 9a0d5e1c2201), so the app cannot choose an entry's place. If an
# INSERT fails (the trigger refuses it, a constraint), the server skips the COMMIT, the whole
# transaction — action and entries — is rolled back, and the commit raises what SQLAlchemy
# raises for a failed statement.
_UNSENT = "hoso.audit.unsent"
_INSERT_SQL = (f"INSERT INTO audit_entries ({', '.join(HASHED_FIELDS)}) "  # noqa: S608 - fixed column names
               f"VALUES ({', '.join(f'${number}' for number in range(1, len(HASHED_FIELDS) + 1))})").encode()
_OCCURRED = HASHED_FIELDS.index("occurred_at")


def _insert_values(entry: PendingEntry, encoding: str) -> list[bytes | None]:
    """The entry's fields as PostgreSQL's text input, in HASHED_FIELDS order."""
    values = [None if value is None else str(value).encode(encoding)
              for value in (entry.fields[name] for name in HASHED_FIELDS)]
    # As UTCDateTime stores it: naive UTC in a `timestamp`.
    values[_OCCURRED] = entry.fields["occurred_at"].astimezone(UTC).replace(tzinfo=None).isoformat(" ").encode()
    if any(value is not None and b"\x00" in value for value in values):
        # libpq would cut a text parameter at a NUL; psycopg refuses it, and so does this.
        raise psycopg_errors.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    return values


def _send_with_commit(pgconn, pending: list[PendingEntry], encoding: str):
    """The INSERTs and the COMMIT in one pipeline; the first failed statement's result, or
    None when all went through and the transaction is committed."""
    failed = None
    pgconn.nonblocking = 0  # libpq itself waits for the results (psycopg runs it non-blocking)
    pgconn.enter_pipeline_mode()
    try:
        for entry in pending:
            # Not a prepared statement of our own: psycopg deallocates every prepared statement
            # of the connection after a rollback (DEALLOCATE ALL), its own and any other.
            pgconn.send_query_params(_INSERT_SQL, _insert_values(entry, encoding))
        pgconn.send_query_params(b"COMMIT", None)
        pgconn.pipeline_sync()
        while True:
            result = pgconn.get_result()
            if result is None:  # the end of one statement's results
                if pgconn.status != pq.ConnStatus.OK:
                    raise psycopg_errors.OperationalError("the connection was lost during the audit commit")
                continue
            if result.status == pq.ExecStatus.PIPELINE_SYNC:
                break
            if result.status == pq.ExecStatus.FATAL_ERROR and failed is None:
                failed = result
        pgconn.exit_pipeline_mode()
    except BaseException:
        with suppress(psycopg_errors.Error):
            pgconn.exit_pipeline_mode()
        raise
    finally:
        with suppress(psycopg_errors.Error):  # fails only on a connection already lost
            pgconn.nonblocking = 1
    return failed


@event.listens_for(Engine, "commit")
def _insert_and_commit(connection: Connection) -> None:
    pending = connection.info.pop(_UNSENT, None)
    if not pending:
        return
    driver_connection = connection.connection.driver_connection
    pgconn = driver_connection.pgconn
    encoding = driver_connection.info.encoding
    dbapi_error = connection.dialect.loaded_dbapi.Error
    try:
        failed = _send_with_commit(pgconn, pending, encoding)
        if failed is not None:
            raise psycopg_errors.error_from_result(failed, encoding=encoding)
    except dbapi_error as error:
        # Nothing was committed. Leave the connection idle, as a failed COMMIT would (or, if
        # it is lost, invalidated, as SQLAlchemy does), and raise what SQLAlchemy raises for
        # a failed statement (IntegrityError, OperationalError, ...).
        lost = connection.dialect.is_disconnect(error, driver_connection, None)
        if not lost:
            with suppress(dbapi_error):
                driver_connection.rollback()
        wrapped = DBAPIError.instance("audit entries", None, error, dbapi_error, hide_parameters=True,
                                      connection_invalidated=lost, dialect=connection.dialect)
        if lost:
            connection.invalidate(wrapped)
        raise wrapped from error
    # SQLAlchemy's own COMMIT that follows finds the transaction ended, and does nothing.


@event.listens_for(Engine, "rollback")
def _forget_unsent(connection: Connection) -> None:
    connection.info.pop(_UNSENT, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended: committed or rolled back
        session.info.pop(_PENDING, None)


# --- linking: shared by SQLite's recording transaction and the sequencer -------------------

_HEAD = ChainHead.__table__


@dataclass(frozen=True)
class Recorded:
    """A committed (or, on SQLite, just written) entry to link: its place in the order and
    its hashed fields as Python values."""

    id: int
    generation: int
    xact_id: int
    fields: Mapping[str, Any]


def read_head(connection: Connection, *, lock: bool = False):
    statement = select(_HEAD).where(_HEAD.c.id == HEAD_ID)
    if lock:
        statement = statement.with_for_update()
    return connection.execute(statement).one()


def start_generation() -> int:
    """Entries recorded from now on belong to a new generation, sequenced after every entry of
    the older ones (a restore calls this; the sequencer does it itself when it finds the
    database's transaction ids behind the trail). In the caller's transaction."""
    head = _lock_head()
    head.generation += 1
    db.session.flush()
    return head.generation


_LINK_COLUMNS = ("seq", "entry_id", "prev_hash", "entry_hash")
_LINKS_FROM_ARRAYS = text(
    "INSERT INTO audit_links (seq, entry_id, prev_hash, entry_hash) SELECT * FROM unnest("
    "CAST(:seq AS bigint[]), CAST(:entry_id AS bigint[]), CAST(:prev_hash AS varchar[]), "
    "CAST(:entry_hash AS varchar[]))")


def link_entries(connection: Connection, head, entries: Sequence[Recorded]) -> int:
    """Link `entries`, in this order, after `head` (read under the lock), move the head and
    sign a checkpoint when one is due, all in the caller's transaction. Returns the new head
    sequence number. Consecutive numbers from head + 1 under the lock, one link per entry
    (unique), links and head in one commit: no gap, no fork, no entry twice."""
    seq, prev = head.seq, head.entry_hash
    links = []
    for entry in entries:
        seq += 1
        link = entry_hash(prev, entry.fields)
        links.append({"seq": seq, "entry_id": entry.id, "prev_hash": prev, "entry_hash": link})
        prev = link
    if connection.dialect.name == "postgresql":
        # The sequencer's batch in one statement: an executemany sends one per link, and
        # costs the sequencer and its server process several times the CPU.
        connection.execute(_LINKS_FROM_ARRAYS, {name: [link[name] for link in links] for name in _LINK_COLUMNS})
    else:
        connection.execute(insert(AuditLink.__table__), links)
    last = entries[-1]
    values = {"seq": seq, "entry_hash": prev, "sequenced_generation": last.generation,
              "sequenced_xact": last.xact_id, "sequenced_entry": last.id}
    now = utcnow()
    if _checkpoint_due(seq, head.last_checkpoint_seq, head.last_checkpoint_at, now):
        checkpoint = _signed_checkpoint_row(seq, prev, now)
        if checkpoint is not None:
            connection.execute(insert(Checkpoint.__table__), checkpoint)
            values.update(last_checkpoint_seq=seq, last_checkpoint_at=now)
    connection.execute(update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(**values))
    return seq


def keys_dir() -> Path:
    return Path(current_app.instance_path) / "keys"


def _checkpoint_due(seq: int, last_checkpoint_seq: int, last_checkpoint_at, now) -> bool:
    every_entries = current_app.config["HOSO_AUDIT_CHECKPOINT_EVERY_ENTRIES"]
    every_minutes = current_app.config["HOSO_AUDIT_CHECKPOINT_EVERY_MINUTES"]
    due_by_count = every_entries and seq - last_checkpoint_seq >= every_entries
    due_by_time = every_minutes and (
        last_checkpoint_at is None or now - last_checkpoint_at >= timedelta(minutes=every_minutes)
    )
    return bool(due_by_count or due_by_time)


def _signed_checkpoint_row(seq: int, link: str, now) -> dict[str, Any] | None:
    """A checkpoint due at a link, or None when it cannot be signed (the key unreadable):
    the failure is logged and the next link tries again, and nothing is refused — stopping
    the trail over a key file would stop the work, while the chain itself still links every
    entry and the auditor's panel shows the checkpoint is late."""
    try:
        return _checkpoint_row(seq, link, now)
    except Exception:
        logger.exception("audit: a checkpoint was due at seq %s but could not be signed", seq)
        return None


def _checkpoint_row(seq: int, link: str, now) -> dict[str, Any]:
    private_key = signing.ensure_signing_key(keys_dir())
    at_text, key, signature = signing.sign(private_key, seq, link, now)
    return {"seq": seq, "entry_hash": link, "signed_at": now, "key_id": key, "signature": signature}


def _write_checkpoint(head: ChainHead, now) -> Checkpoint:
    checkpoint = Checkpoint(**_checkpoint_row(head.seq, head.entry_hash, now))
    db.session.add(checkpoint)
    head.last_checkpoint_seq = head.seq
    head.last_checkpoint_at = now
    return checkpoint


def checkpoint_now() -> Checkpoint | None:
    """Sign the current head (the CLI's `audit checkpoint`). None when it is already signed."""
    head = _lock_head()
    if head.seq == 0:
        return None
    if head.last_checkpoint_seq == head.seq:
        return db.session.get(Checkpoint, head.seq)
    checkpoint = _write_checkpoint(head, utcnow())
    db.session.flush()
    return checkpoint


def checkpoint_line(checkpoint: Checkpoint) -> str:
    return signing.CheckpointLine(checkpoint.seq, checkpoint.entry_hash, timestamp_text(checkpoint.signed_at),
                                  checkpoint.key_id, checkpoint.signature).render()


def detail_of(entry: AuditEntry) -> dict[str, Any]:
    return json.loads(entry.detail or "{}")
