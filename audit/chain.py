"""The hash chain's arithmetic: pure functions shared by the writer and the verifier.

entry_hash = SHA-256( prev_hash || "\\n" || canonical JSON of the entry's fields )

Canonical JSON (sorted keys, no insignificant whitespace, UTF-8, as RFC 8785 does for
the value types we allow) makes the bytes reproducible on any machine. The sequence
number is deliberately *not* hashed: order is proven by the links themselves, so an
entry moved to another position is recognised as moved (its link points elsewhere),
and a renumbered sequence shows up as a gap or an inconsistency on its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64

HASHED_FIELDS = (
    "occurred_at", "actor_id", "actor_role", "actor_unit", "action", "target_type",
    "target_id", "outcome", "client_address", "request_id", "detail",
)


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def timestamp_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_payload(fields: Mapping[str, Any]) -> dict[str, Any]:
    payload = {name: fields.get(name) for name in HASHED_FIELDS}
    occurred = payload["occurred_at"]
    if isinstance(occurred, datetime):
        payload["occurred_at"] = timestamp_text(occurred)
    if payload["actor_id"] is not None:
        payload["actor_id"] = str(payload["actor_id"])
    return payload


def entry_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical_json(entry_payload(fields)))
    return digest.hexdigest()
