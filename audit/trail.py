"""record(action, ...): append one entry to the chain inside the caller's transaction.

The caller's unit of work commits the action and its entry together, or neither.
Concurrent appenders are serialised on the chain-head row: PostgreSQL `SELECT ... FOR
UPDATE` under READ COMMITTED (under REPEATABLE READ a waiting writer would read a stale
head); SQLite transactions already hold the write lock (`BEGIN IMMEDIATE`, protection/db.py).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import current_app, g, has_request_context, request
from flask_login import current_user
from sqlalchemy import BigInteger, String, bindparam, event, insert, select, text, update
from sqlalchemy.orm import Session

from protection.db import db
from protection.fields import utcnow

from . import signing
from .chain import HASHED_FIELDS, canonical_json, entry_hash, entry_payload, timestamp_text
from .models import AuditEntry, ChainHead, Checkpoint

HEAD_ID = 1

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
# Taken here it spans one statement (PostgreSQL) or three (SQLite, whose writers are
# serialised by BEGIN IMMEDIATE anyway) and the commit itself.
@event.listens_for(Session, "before_commit")
def _append_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    session.flush()  # the action's own changes first, outside the lock
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        for entry in pending:
            _append_in_one_statement(connection, entry)
        return
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
        connection.execute(insert(Checkpoint.__table__), _checkpoint_row(seq, prev, now))
        values.update(last_checkpoint_seq=seq, last_checkpoint_at=now)
    connection.execute(update(head_table).where(head_table.c.id == HEAD_ID).values(**values))


# One round trip under the lock: lock the head, link the entry to it (SHA-256 in the
# server over the very bytes chain.entry_hash hashes: prev_hash, "\n", the canonical JSON
# made here before the lock), move the head, insert the entry. Data-modifying CTEs see one
# snapshot; under READ COMMITTED a writer that waited on FOR UPDATE reads the head as its
# predecessor committed it.
_FIELD_NAMES = tuple(HASHED_FIELDS)
_APPEND_SQL = f"""
WITH old AS (
    SELECT seq, entry_hash FROM audit_chain_head WHERE id = {HEAD_ID} FOR UPDATE
), head AS (
    UPDATE audit_chain_head AS h
    SET seq = old.seq + 1,
        entry_hash = encode(sha256(convert_to(old.entry_hash || E'\\n' || :payload, 'UTF8')), 'hex')
    FROM old WHERE h.id = {HEAD_ID}
    RETURNING h.seq, h.entry_hash, old.entry_hash AS prev_hash, h.last_checkpoint_seq, h.last_checkpoint_at
), entry AS (
    INSERT INTO audit_entries (seq, prev_hash, entry_hash, {", ".join(_FIELD_NAMES)})
    SELECT head.seq, head.prev_hash, head.entry_hash, {", ".join(":" + name for name in _FIELD_NAMES)} FROM head
    RETURNING seq
)
SELECT head.seq, head.prev_hash, head.entry_hash, head.last_checkpoint_seq, head.last_checkpoint_at
FROM head JOIN entry ON entry.seq = head.seq
"""  # noqa: S608 - fixed column names; every value is a bound parameter


def _append_in_one_statement(connection, entry: PendingEntry) -> None:
    columns = AuditEntry.__table__.c
    statement = text(_APPEND_SQL).bindparams(
        bindparam("payload", canonical_json(entry_payload(entry.fields)).decode("utf-8")),
        *(bindparam(name, entry.fields[name], type_=columns[name].type) for name in _FIELD_NAMES),
    ).columns(seq=BigInteger, prev_hash=String, entry_hash=String, last_checkpoint_seq=BigInteger,
              last_checkpoint_at=ChainHead.__table__.c.last_checkpoint_at.type)
    seq, prev, link, last_checkpoint_seq, last_checkpoint_at = connection.execute(statement).one()
    # The server's hash must be the definition's, or the trail would not verify: refuse the
    # whole transaction rather than write an entry that does not.
    if link != entry_hash(prev, entry.fields):
        raise RuntimeError("the database's SHA-256 of an audit entry differs from chain.entry_hash")
    entry.seq, entry.prev_hash, entry.entry_hash = seq, prev, link
    now = entry.fields["occurred_at"]
    if _checkpoint_due(seq, last_checkpoint_seq, last_checkpoint_at, now):
        connection.execute(insert(Checkpoint.__table__), _checkpoint_row(seq, link, now))
        head_table = ChainHead.__table__
        connection.execute(update(head_table).where(head_table.c.id == HEAD_ID)
                           .values(last_checkpoint_seq=seq, last_checkpoint_at=now))


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
