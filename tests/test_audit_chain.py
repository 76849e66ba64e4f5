"""The chain's arithmetic: the verifier's fast path hashes exactly what chain.entry_hash
(the definition) hashes, for every kind of value an entry can hold; and verify() on its
own, fed rows as a backup would hold them, names each kind of damage."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from audit.chain import (
    GENESIS_HASH,
    HASHED_FIELDS,
    SORTED_FIELDS,
    canonical_json,
    entry_hash,
    entry_payload,
    link_hash,
    payload_of_text,
    payload_text,
)
from audit.verify import ENTRY_COLUMNS, row_tuple, verify

AWKWARD_TEXT = [
    "auth.login.failed",
    'quote " and backslash \\ and slash /',
    "control \x00\x01\x1f \b\f\n\r\t and DEL \x7f",
    "Nguyễn Thị Kiểm Thử — tiếng Việt",
    "emoji 🙂 and astral 𝔘",
    "\u2028\u2029 line separators",
    "",
]


def fields(**overrides) -> dict:
    base = {
        "occurred_at": datetime(2026, 11, 28, 1, 2, 3, 456789, tzinfo=UTC),
        "actor_id": uuid.UUID("12345678-1234-5678-9abc-def012345678"),
        "actor_role": "officer", "actor_unit": "BTCTU", "action": "user.view",
        "target_type": "user", "target_id": str(uuid.UUID(int=7)), "outcome": "success",
        "client_address": "127.0.0.1", "request_id": "ABCD1234",
        "detail": canonical_json({"fields": ["display_name"]}).decode(),
    }
    return {**base, **overrides}


def fast_payload(values: dict) -> str:
    payload = entry_payload(values)
    return payload_of_text(*(payload[name] for name in SORTED_FIELDS))


@pytest.mark.parametrize("text", AWKWARD_TEXT)
@pytest.mark.parametrize("name", [n for n in HASHED_FIELDS if n not in ("occurred_at", "actor_id")])
def test_fast_payload_is_the_canonical_json_for_any_text(name, text):
    values = fields(**{name: text})
    assert fast_payload(values).encode() == canonical_json(entry_payload(values))
    assert link_hash(GENESIS_HASH, fast_payload(values)) == entry_hash(GENESIS_HASH, values)


@pytest.mark.parametrize("name", ["actor_id", "actor_role", "actor_unit", "target_type", "target_id",
                                  "client_address", "request_id"])
def test_fast_payload_writes_null_for_none(name):
    values = fields(**{name: None})
    assert link_hash("ab" * 32, fast_payload(values)) == entry_hash("ab" * 32, values)


def test_general_payload_matches_for_values_that_are_not_text():
    values = entry_payload(fields())
    ordered = [values[name] for name in SORTED_FIELDS]
    ordered[SORTED_FIELDS.index("target_id")] = 42
    mapping = dict(zip(SORTED_FIELDS, ordered, strict=True))
    assert payload_text(ordered).encode() == canonical_json(mapping)
    with pytest.raises(TypeError):
        payload_of_text(*ordered)


def test_the_hash_format_is_pinned():
    """A known entry's hash, computed once: changing the format breaks every stored chain."""
    assert entry_hash(GENESIS_HASH, fields()) == entry_hash(GENESIS_HASH, dict(reversed(fields().items())))
    assert entry_hash(GENESIS_HASH, fields()) == (
        hashlib.sha256(
            (GENESIS_HASH + "\n" + '{"action":"user.view","actor_id":"12345678-1234-5678-9abc-def012345678",'
             '"actor_role":"officer","actor_unit":"BTCTU","client_address":"127.0.0.1",'
             '"detail":"{\\"fields\\":[\\"display_name\\"]}","occurred_at":"2026-11-28T01:02:03.456789Z",'
             '"outcome":"success","request_id":"ABCD1234","target_id":"00000000-0000-0000-0000-000000000007",'
             '"target_type":"user"}').encode()
        ).hexdigest()
    )


# --- verify() on rows as a backup holds them ------------------------------------------------

def chain(count: int, storage: str = "orm") -> list[tuple]:
    """`count` linked entries as tuples of ENTRY_COLUMNS, with values as the ORM (aware
    datetime, UUID), SQLite (text) or PostgreSQL (naive datetime, text UUID) return them."""
    rows, prev = [], GENESIS_HASH
    start = datetime(2026, 11, 28, tzinfo=UTC)
    for seq in range(1, count + 1):
        values = fields(occurred_at=start + timedelta(seconds=seq, microseconds=(0, 1, 500_000, 120_000)[seq % 4]),
                        target_id=str(seq), actor_id=uuid.uuid4() if seq % 3 else None)
        link = entry_hash(prev, values)
        stored = dict(values, seq=seq, prev_hash=prev, entry_hash=link)
        if storage == "sqlite":
            stored["occurred_at"] = values["occurred_at"].replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
            stored["actor_id"] = values["actor_id"].hex if values["actor_id"] else None
        elif storage == "postgresql":
            stored["occurred_at"] = values["occurred_at"].replace(tzinfo=None)
            stored["actor_id"] = str(values["actor_id"]) if values["actor_id"] else None
        elif storage == "postgresql_text":  # CAST(... AS TEXT): the fraction's trailing zeros trimmed
            text = values["occurred_at"].replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
            stored["occurred_at"] = text.rstrip("0").rstrip(".")
            stored["actor_id"] = str(values["actor_id"]) if values["actor_id"] else None
        rows.append(row_tuple(stored))
        prev = link
    return rows


@pytest.mark.parametrize("storage", ["orm", "sqlite", "postgresql", "postgresql_text"])
def test_an_intact_chain_verifies_whatever_the_driver_returns(storage):
    rows = chain(30, storage)
    report = verify(rows, head_seq=30, head_hash=rows[-1][2])
    assert report.ok, report.summary()
    assert (report.entries_checked, report.first_seq, report.last_seq) == (30, 1, 30)


def test_a_value_stored_in_another_spelling_of_the_same_moment_still_verifies():
    """The fast path expects SQLite's own spelling; any other is re-read as the ORM would
    read it before an entry is called altered."""
    rows = [list(row) for row in chain(5, "sqlite")]
    occurred = ENTRY_COLUMNS.index("occurred_at")
    actor = ENTRY_COLUMNS.index("actor_id")
    rows[2][occurred] = rows[2][occurred].replace(" ", "T") + "+00:00"
    rows[1][actor] = rows[1][actor].upper()
    assert verify([tuple(row) for row in rows], head_seq=5).ok


@pytest.mark.parametrize("damage, seq, kind", [
    ("edit", 4, "altered"),
    ("unreadable_time", 4, "altered"),
    ("blob", 4, "altered"),
    ("text_seq", 4, "altered"),
    ("drop", 4, "missing"),
    ("entry_gone", 4, "missing"),
    ("swap", 4, "reordered"),
    ("cut", 10, "truncated"),
])
def test_verify_names_the_damage(damage, seq, kind):
    rows = [list(row) for row in chain(12, "sqlite")]
    column = ENTRY_COLUMNS.index
    if damage == "edit":
        rows[3][column("outcome")] = "failure"
    elif damage == "unreadable_time":
        rows[3][column("occurred_at")] = "yesterday"
    elif damage == "blob":
        rows[3][column("detail")] = b"\xff\xfe"
    elif damage == "text_seq":
        rows[3][0] = "4"
    elif damage == "drop":
        del rows[3]
    elif damage == "entry_gone":  # the link is there, its entry not: the reader's LEFT JOIN gives None
        rows[3][3:] = [None] * (len(ENTRY_COLUMNS) - 3)
    elif damage == "swap":
        rows[3], rows[4] = rows[4], rows[3]
        rows[3][0], rows[4][0] = 4, 5
    elif damage == "cut":
        rows = rows[:9]
    by_hash = {row[2]: row[0] for row in rows}
    report = verify([tuple(row) for row in rows], head_seq=12, find_seq_of_hash=by_hash.get)
    assert not report.ok
    assert (report.problem.seq, report.problem.kind) == (seq, kind), report.summary()
    if damage == "entry_gone":
        assert report.problem.message == "link 4 points to an entry that is not in the trail"
