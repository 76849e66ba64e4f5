"""The hash chain's arithmetic: pure functions shared by the writer and the verifier.

entry_hash = SHA-256( prev_hash || "\\n" || canonical JSON of the entry's fields )

Canonical JSON (sorted keys, no insignificant whitespace, UTF-8, as RFC 8785 does for
the value types we allow) makes the bytes reproducible on any machine. The sequence
number is deliberately *not* hashed: order is proven by the links themselves, so an
entry moved to another position is recognised as moved (its link points elsewhere),
and a renumbered sequence shows up as a gap or an inconsistency on its own.

`entry_hash` is the definition. `payload_text` + `link_hash` produce the same bytes
without building a dict or a JSON encoder per entry, for the verifier, which checks
millions of entries (tests/test_audit_chain.py holds the two to the same output).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

GENESIS_HASH = "0" * 64

HASHED_FIELDS = (
    "occurred_at", "actor_id", "actor_role", "actor_unit", "action", "target_type",
    "target_id", "outcome", "client_address", "request_id", "detail",
)
# The order canonical JSON writes them in (sorted keys).
SORTED_FIELDS = tuple(sorted(HASHED_FIELDS))
_PAYLOAD_TEMPLATE = "{" + ",".join(f'"{name}":%s' for name in SORTED_FIELDS) + "}"


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


# --- the same bytes, fast -------------------------------------------------------------

def _json_value(value: Any) -> str:
    # encode_basestring is the very function json.dumps(ensure_ascii=False) applies to str.
    if value.__class__ is str:
        return encode_basestring(value)
    if value is None:
        return "null"
    return canonical_json(value).decode("utf-8")


def payload_text(values: Sequence[Any]) -> str:
    """Canonical JSON of the payload, given its values in SORTED_FIELDS order and already
    in payload form (occurred_at as timestamp_text, actor_id as text)."""
    return _PAYLOAD_TEMPLATE % tuple(map(_json_value, values))


def payload_of_text(action, actor_id, actor_role, actor_unit, client_address, detail, occurred_at, outcome,
                    request_id, target_id, target_type) -> str:
    """payload_text for the common case where every value is text or None, spelled out
    (the verifier's inner loop); raises TypeError on any other value."""
    e = encode_basestring
    return (f'{{"action":{e(action)}'
            f',"actor_id":{"null" if actor_id is None else e(actor_id)}'
            f',"actor_role":{"null" if actor_role is None else e(actor_role)}'
            f',"actor_unit":{"null" if actor_unit is None else e(actor_unit)}'
            f',"client_address":{"null" if client_address is None else e(client_address)}'
            f',"detail":{e(detail)}'
            f',"occurred_at":{e(occurred_at)}'
            f',"outcome":{e(outcome)}'
            f',"request_id":{"null" if request_id is None else e(request_id)}'
            f',"target_id":{"null" if target_id is None else e(target_id)}'
            f',"target_type":{"null" if target_type is None else e(target_type)}}}')


def link_hash(prev_hash: str, payload: str) -> str:
    """entry_hash from a payload_text: SHA-256(prev_hash "\\n" payload)."""
    return hashlib.sha256(f"{prev_hash}\n{payload}".encode()).hexdigest()
