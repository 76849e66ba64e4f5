"""Idempotency keys for the partner API's writes (IETF draft-ietf-httpapi-idempotency-key-header).

A partner's system that lost an answer (a timeout, a dropped connection) sends the same
POST again with the same `Idempotency-Key`. The first call's write and its key row commit
together (the key row is inserted in the write's own transaction, before the write), so:

- the key is known and the call is the same (method, path, body): the first answer is
  replayed, re-rendered from what it created; nothing is written again;
- the key is known and the call differs: 422, nothing written (the draft's "key reuse");
- the first call with this key is still running: its row is not committed yet, the second
  insert waits on the unique index and fails when the first commits: 409, nothing written;
- the key is older than HOSO_API_IDEMPOTENCY_HOURS: forgotten (deleted), the call writes.

Keys are per client (a body's two systems cannot collide) and hold no protected value: the
key the client chose, a digest of the call, and the id of what it created.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from cases.partners.models import IdempotencyKey
from protection.clock import utcnow
from protection.db import db

HEADER = "Idempotency-Key"
# Printable ASCII, at most the column's 200 characters; the draft's sf-string may come quoted.
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
PENDING_STATUS = 0


class KeyRefused(ValueError):
    """An Idempotency-Key header that cannot be used (empty, too long, not printable ASCII)."""


class KeyInUse(Exception):
    """Another call with the same key has not finished yet (or just committed)."""


@dataclass(frozen=True)
class Earlier:
    """What the first call with this key did."""

    same_call: bool
    status: int
    target_type: str | None
    target_id: uuid.UUID | None


def key_from_header(value: str | None) -> str | None:
    """The key the client sent, or None without the header; KeyRefused if unusable."""
    if value is None:
        return None
    key = value.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not _KEY.match(key):
        raise KeyRefused()
    return key


def call_fingerprint(method: str, path: str, body: Any) -> str:
    """SHA-256 of the call: method, path and the body's canonical form (a JSON object with
    sorted keys, or what a multipart body's parts were), not its bytes: the same call sent
    again by another library, with other spacing or another multipart boundary, is the same."""
    canonical = json.dumps({"method": method, "path": path, "body": body}, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=True, default=str)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def file_digest(stream) -> str:
    """SHA-256 of an uploaded file, for the fingerprint of its call; the stream is rewound
    for the operation that stores it."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1 << 16), b""):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def _lifetime() -> timedelta:
    return timedelta(hours=current_app.config["HOSO_API_IDEMPOTENCY_HOURS"])


def earlier_call(client_id: uuid.UUID, key: str, fingerprint: str) -> Earlier | None:
    """The first call made with `key`, if it committed and is still remembered. A key past
    its lifetime is deleted here, in this call's transaction: it is free again."""
    row = db.session.scalar(select(IdempotencyKey).where(IdempotencyKey.client_id == client_id,
                                                         IdempotencyKey.key == key))
    if row is None:
        return None
    if row.created_at < utcnow() - _lifetime():
        db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == row.id))
        return None
    return Earlier(same_call=row.fingerprint == fingerprint, status=row.status, target_type=row.target_type,
                   target_id=row.target_id)


def claim(client_id: uuid.UUID, key: str, fingerprint: str) -> IdempotencyKey:
    """Insert the key's row before the write, in its transaction: a concurrent call with the
    same key queues on the unique index and gets KeyInUse when this one commits. (The caller
    answers 409 and rolls back.)"""
    forget_expired(client_id)
    row = IdempotencyKey(id=uuid.uuid4(), client_id=client_id, key=key, fingerprint=fingerprint,
                         status=PENDING_STATUS, created_at=utcnow())
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:
        raise KeyInUse() from None
    return row


def settle(row: IdempotencyKey, status: int, target_type: str, target_id: uuid.UUID) -> None:
    """What the write made, so a retry can be answered from it."""
    row.status, row.target_type, row.target_id = status, target_type, target_id
    db.session.flush()


def forget_expired(client_id: uuid.UUID) -> int:
    """Delete the client's keys past their lifetime; how many."""
    result = db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.client_id == client_id,
                                                             IdempotencyKey.created_at < utcnow() - _lifetime()))
    return result.rowcount or 0
