"""record(action, ...): append one entry to the chain inside the caller's transaction.

The caller's unit of work commits the action and its entry together, or neither.
Concurrent appenders are serialised on the chain-head row: PostgreSQL `SELECT ... FOR
UPDATE` under READ COMMITTED (under REPEATABLE READ a waiting writer would read a stale
head); on SQLite the entries are linked under the database's write lock, taken before the head
is read (`take_write_lock`, protection/db.py).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from flask import current_app, g, has_request_context, request
from flask_login import current_user
from sqlalchemy import event, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from protection.clock import utcnow
from protection.db import db, take_write_lock

from . import signing
from .chain import (
    GENESIS_HASH,
    HASHED_FIELDS,
    canonical_json,
    entry_hash,
    entry_payload,
    link_hash,
    timestamp_text,
)
from .models import AuditEntry, ChainHead, Checkpoint

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
    """An entry recorded in this transaction, linked into the chain when it commits;
    `seq` and `entry_hash` are known from then on."""

    fields: dict[str, Any]
    seq: int | None = None
    prev_hash: str | None = None
    entry_hash: str | None = None


_PENDING = "hoso.audit.pending"


def record(action: str, *, target_type: str | None = None, target_id: Any = None,
           outcome: str = "success", actor: Any = None, **detail: Any) -> PendingEntry:
    """Record an entry for `action` in the caller's transaction. It is linked into the
    chain by `_append_pending` as the transaction commits, so both commit or neither does."""
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


# Why at commit, not at record(): appenders queue on the chain-head lock, and the lock is
# held until COMMIT. Taken inside record() it was held through the rest of the request
# (template rendering included) — every audited write in the installation waited on that.
# On SQLite the entries are linked here (three statements; its writers are serialised by
# BEGIN IMMEDIATE anyway). On PostgreSQL they are handed to the commit itself
# (`_link_and_commit`), so the lock is held for no client round trip at all.
@event.listens_for(Session, "before_commit")
def _append_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        session.flush()  # the action's own changes first, outside the lock
        connection.info[_UNLINKED] = pending
        return
    # A page's transaction read in a snapshot without the lock; the head must be read under
    # it, or two pages would link to the same predecessor.
    take_write_lock(connection)
    session.flush()
    head_table = ChainHead.__table__
    seq, prev, last_checkpoint_seq, last_checkpoint_at = connection.execute(
        select(head_table.c.seq, head_table.c.entry_hash, head_table.c.last_checkpoint_seq,
               head_table.c.last_checkpoint_at).where(head_table.c.id == HEAD_ID)).one()
    rows = []
    for entry in pending:
        seq += 1
        link = entry_hash(prev, entry.fields)
        entry.seq, entry.prev_hash, entry.entry_hash = seq, prev, link
        rows.append({"seq": seq, "prev_hash": prev, "entry_hash": link, **entry.fields})
        prev = link
    connection.execute(insert(AuditEntry.__table__), rows)
    values = {"seq": seq, "entry_hash": prev}
    now = pending[-1].fields["occurred_at"]
    if _checkpoint_due(seq, last_checkpoint_seq, last_checkpoint_at, now):
        checkpoint = _signed_checkpoint_row(seq, prev, now)
        if checkpoint is not None:
            connection.execute(insert(Checkpoint.__table__), checkpoint)
            values.update(last_checkpoint_seq=seq, last_checkpoint_at=now)
    connection.execute(update(head_table).where(head_table.c.id == HEAD_ID).values(**values))


# --- PostgreSQL: linked by the commit ------------------------------------------------------
#
# One statement per entry locks the head, links the entry to it (SHA-256 in the server over
# the very bytes chain.entry_hash hashes: prev_hash, "\n", the canonical JSON made here
# before the lock), moves the head and inserts the entry. The statements and the COMMIT go
# to the server in one pipeline (psycopg pipeline mode), so from the moment the head is
# locked to the moment it is released the server never waits for this process: the lock is
# held for the statement and the WAL flush, not for a round trip plus however long a busy
# machine takes to schedule the client again. If a statement fails, the server skips the
# COMMIT and the whole transaction — action and entries — is rolled back.
# Data-modifying CTEs see one snapshot; under READ COMMITTED a writer that waited on FOR
# UPDATE reads the head as its predecessor committed it.
_UNLINKED = "hoso.audit.unlinked"
_HASH_CHECKED = "hoso.audit.server_hash_checked"
_FIELD_NAMES = tuple(HASHED_FIELDS)
_APPEND_SQL = f"""
WITH old AS (
    SELECT seq, entry_hash FROM audit_chain_head WHERE id = {HEAD_ID} FOR UPDATE
), head AS (
    UPDATE audit_chain_head AS h
    SET seq = old.seq + 1,
        entry_hash = encode(sha256(convert_to(old.entry_hash || E'\\n' || %(payload)s, 'UTF8')), 'hex')
    FROM old WHERE h.id = {HEAD_ID}
    RETURNING h.seq, h.entry_hash, old.entry_hash AS prev_hash, h.last_checkpoint_seq, h.last_checkpoint_at
), entry AS (
    INSERT INTO audit_entries (seq, prev_hash, entry_hash, {", ".join(_FIELD_NAMES)})
    SELECT head.seq, head.prev_hash, head.entry_hash, {", ".join(f"%({name})s" for name in _FIELD_NAMES)} FROM head
    RETURNING seq
)
SELECT head.seq, head.prev_hash, head.entry_hash, head.last_checkpoint_seq, head.last_checkpoint_at
FROM head JOIN entry ON entry.seq = head.seq
"""  # noqa: S608 - fixed column names; every value is a bound parameter
_HASH_PROBE_SQL = "SELECT encode(sha256(convert_to(%(prev)s || E'\\n' || %(payload)s, 'UTF8')), 'hex')"
_HASH_PROBE = (GENESIS_HASH, '{"đơn thư":"Nguyễn Văn Ấn — ½ ✓ 𝔄"}')


def _statement_parameters(entry: PendingEntry) -> dict[str, Any]:
    parameters = {name: entry.fields[name] for name in _FIELD_NAMES}
    parameters["occurred_at"] = parameters["occurred_at"].astimezone(UTC).replace(tzinfo=None)  # as UTCDateTime stores it
    parameters["payload"] = canonical_json(entry_payload(entry.fields)).decode("utf-8")
    return parameters


def _check_server_hash(driver_connection) -> None:
    """The server's SHA-256 must give chain.entry_hash's bytes, or every entry it links would
    fail verification: checked once per connection (encodings are per connection), before
    the first entry it links, inside the transaction and so outside the lock."""
    prev, payload = _HASH_PROBE
    server = driver_connection.execute(_HASH_PROBE_SQL, {"prev": prev, "payload": payload}).fetchone()[0]
    if server != link_hash(prev, payload):
        raise RuntimeError("the database's SHA-256 of an audit entry differs from chain.entry_hash")


@event.listens_for(Engine, "commit")
def _link_and_commit(connection) -> None:
    pending = connection.info.pop(_UNLINKED, None)
    if not pending:
        return
    driver_connection = connection.connection.driver_connection
    if not connection.info.get(_HASH_CHECKED):
        _check_server_hash(driver_connection)
        connection.info[_HASH_CHECKED] = True
    cursors = []
    try:
        with driver_connection.pipeline():
            for entry in pending:
                cursor = driver_connection.cursor()
                cursor.execute(_APPEND_SQL, _statement_parameters(entry))
                cursors.append(cursor)
            driver_connection.commit()  # SQLAlchemy's own COMMIT that follows finds nothing to do
    except connection.dialect.loaded_dbapi.Error as error:
        # Nothing was committed. Leave the connection idle, as a failed COMMIT would, and
        # raise what SQLAlchemy raises for a failed statement (IntegrityError, ...).
        driver_connection.rollback()
        raise DBAPIError.instance("audit append", None, error, connection.dialect.loaded_dbapi.Error,
                                  hide_parameters=True, dialect=connection.dialect) from error
    for entry, cursor in zip(pending, cursors, strict=True):
        entry.seq, entry.prev_hash, entry.entry_hash, last_checkpoint_seq, last_checkpoint_at = cursor.fetchone()
    last = pending[-1]
    if last_checkpoint_at is not None:
        last_checkpoint_at = last_checkpoint_at.replace(tzinfo=UTC)
    if _checkpoint_due(last.seq, last_checkpoint_seq, last_checkpoint_at, last.fields["occurred_at"]):
        _checkpoint_after_commit(driver_connection)


@event.listens_for(Engine, "rollback")
def _forget_unlinked(connection) -> None:
    connection.info.pop(_UNLINKED, None)


def _checkpoint_after_commit(driver_connection) -> None:
    """Sign the head in a short transaction of its own, right after the commit that made
    a checkpoint due. The entries are committed whatever happens here: a checkpoint attests
    to committed history, and the next entry retries one that failed."""
    try:
        with driver_connection.transaction():
            seq, link, last_checkpoint_seq, last_checkpoint_at = driver_connection.execute(
                f"SELECT seq, entry_hash, last_checkpoint_seq, last_checkpoint_at FROM audit_chain_head "  # noqa: S608
                f"WHERE id = {HEAD_ID} FOR UPDATE").fetchone()
            now = utcnow()
            if last_checkpoint_at is not None:
                last_checkpoint_at = last_checkpoint_at.replace(tzinfo=UTC)
            if seq == last_checkpoint_seq or not _checkpoint_due(seq, last_checkpoint_seq, last_checkpoint_at, now):
                return  # another process signed it meanwhile
            row = _signed_checkpoint_row(seq, link, now)
            if row is None:
                return
            stored_at = now.astimezone(UTC).replace(tzinfo=None)
            driver_connection.execute(
                "INSERT INTO audit_checkpoints (seq, entry_hash, signed_at, key_id, signature) "
                "VALUES (%s, %s, %s, %s, %s)", (seq, link, stored_at, row["key_id"], row["signature"]))
            driver_connection.execute(
                f"UPDATE audit_chain_head SET last_checkpoint_seq = %s, last_checkpoint_at = %s WHERE id = {HEAD_ID}",  # noqa: S608
                (seq, stored_at))
    except Exception:  # logged, never raised: the action it follows has committed
        logger.exception("audit: the checkpoint that was due could not be written; the next entry retries it")


@event.listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended: committed or rolled back
        session.info.pop(_PENDING, None)


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
    """A checkpoint due at an append, or None when it cannot be signed (the key unreadable):
    the failure is logged and the next append tries again, and the action is not refused —
    refusing every action in the installation over a key file would stop the work, while the
    chain itself still links every entry and the auditor's panel shows the checkpoint is late."""
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
