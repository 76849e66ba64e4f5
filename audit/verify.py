"""verify(): recompute the chain and check checkpoints. Pure Python, no Flask, no database:
the caller feeds rows in sequence order, so the same code checks a live log or a backup.

Each kind of tampering is named at the first sequence number where it shows:
- altered:   an entry's content no longer matches its hash, or its successor's link;
- missing:   a sequence number is absent and nothing links over the gap;
- inserted:  an entry sits between two entries that link to each other directly;
- reordered: an entry links to one that now sits later in the log;
- truncated: the log ends before a signed checkpoint (or the chain head) says it did;
- unlinked:  an entry recorded before the sequenced prefix has no link (service.py finds it);
- and a link whose entry is gone is `missing` at that link.

The log is the links in sequence order, each with its entry's fields: verify() does not care
whether the entry and its link live in one row or two (issue 22 made them two tables).

Rows are tuples in ENTRY_COLUMNS order holding what the database driver returns
(`row_tuple` makes one from an ORM entry or a mapping). The common case is hashed
without building a dict per entry; a row whose fast hash does not match is checked
again through `chain.entry_hash`, the definition, before it is called altered, so the
fast path can only ever be faster, never stricter or looser.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .chain import GENESIS_HASH, SORTED_FIELDS, entry_hash, payload_of_text, timestamp_text
from .signing import CheckpointLine, key_id, verify_signature

ENTRY_COLUMNS = ("seq", "prev_hash", "entry_hash", *SORTED_FIELDS)
_ACTOR = 3 + SORTED_FIELDS.index("actor_id")
_OCCURRED = 3 + SORTED_FIELDS.index("occurred_at")
if SORTED_FIELDS != ("action", "actor_id", "actor_role", "actor_unit", "client_address", "detail",
                     "occurred_at", "outcome", "request_id", "target_id", "target_type"):
    raise ImportError("verify()'s unpacking of a row no longer follows chain.SORTED_FIELDS")


@dataclass(frozen=True)
class Problem:
    seq: int
    kind: str
    message: str


@dataclass
class Report:
    entries_checked: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    checkpoints_checked: int = 0
    last_checkpoint_seq: int | None = None
    problem: Problem | None = None
    notes: list[str] = field(default_factory=list)
    # Entries committed but not linked yet (PostgreSQL, waiting for the sequencer): not a
    # problem, the next verification's; a warning when the oldest has waited too long.
    pending: int = 0
    pending_oldest: datetime | None = None
    pending_late: bool = False

    @property
    def ok(self) -> bool:
        return self.problem is None

    def summary(self) -> str:
        if self.problem:
            return (f"TAMPERED at seq {self.problem.seq}: {self.problem.kind} — {self.problem.message}")
        last = self.last_seq if self.last_seq is not None else 0
        checkpoint = self.last_checkpoint_seq if self.last_checkpoint_seq is not None else "none"
        text = (f"OK: {self.entries_checked} entries verified, last seq {last}, "
                f"{self.checkpoints_checked} checkpoints verified, last checkpoint at seq {checkpoint}")
        if self.pending:
            text += f"; pending {self.pending}, oldest {timestamp_text(self.pending_oldest)}"
            if self.pending_late:
                text += " (WARNING: is the audit sequencer running? a long transaction holds it back?)"
        return text


def row_tuple(row: Any) -> tuple:
    """An ORM entry, or a mapping of column names, as the tuple verify() reads."""
    if isinstance(row, Mapping):
        return tuple(row.get(name) for name in ENTRY_COLUMNS)
    return tuple(getattr(row, name) for name in ENTRY_COLUMNS)


# --- turning driver values into payload form ------------------------------------------

def _fast_occurred(value: Any) -> Any:
    if value.__class__ is str:
        # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff", naive UTC; PostgreSQL's text form
        # trims the fraction's trailing zeros ("...:05.12", or no fraction at all).
        if len(value) == 19:
            value += ".000000"
        elif 20 < len(value) < 26 and value[19] == ".":
            value = value.ljust(26, "0")
        return f"{value[:10]}T{value[11:]}Z"
    if value.__class__ is datetime and value.tzinfo is None:  # PostgreSQL `timestamp`, UTC
        return value.isoformat(timespec="microseconds") + "Z"
    if isinstance(value, datetime):
        return timestamp_text(value)
    return value


def _fast_actor(value: Any) -> Any:
    if value.__class__ is str and len(value) == 32:  # SQLite keeps a UUID as 32 hex digits
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    if value is None or value.__class__ is str:
        return value
    return str(value)


def _reference_hash(row: Sequence[Any]) -> str | None:
    """The hash as chain.entry_hash defines it, after reading values the way the ORM does
    (None when a value cannot be read at all: that entry was not written by Hoso)."""
    try:
        occurred = row[_OCCURRED]
        if isinstance(occurred, str):
            occurred = datetime.fromisoformat(occurred)
        if not isinstance(occurred, datetime):
            return None
        if occurred.tzinfo is None:
            occurred = occurred.replace(tzinfo=UTC)
        actor = row[_ACTOR]
        fields = dict(zip(SORTED_FIELDS, row[3:], strict=True))
        fields["occurred_at"] = occurred
        fields["actor_id"] = uuid.UUID(str(actor)) if actor is not None else None
        return entry_hash(row[1], fields)
    except (TypeError, ValueError, AttributeError, UnicodeError, OverflowError):
        return None


# --- the walk ---------------------------------------------------------------------------

def verify(
    entries: Iterable[Sequence[Any]],
    *,
    checkpoints: Iterable[CheckpointLine] = (),
    public_key: Ed25519PublicKey | None = None,
    start_prev_hash: str = GENESIS_HASH,
    start_seq: int = 1,
    head_seq: int | None = None,
    head_hash: str | None = None,
    find_seq_of_hash: Callable[[str], int | None] = lambda _hash: None,
) -> Report:
    report = Report()
    pending = sorted(checkpoints, key=lambda line: line.seq)
    expected_key = key_id(public_key) if public_key is not None else None
    for line in pending:
        if public_key is None:
            report.problem = Problem(line.seq, "bad_checkpoint", "no public key to check checkpoint signatures")
            return report
        if line.key_id != expected_key or not verify_signature(public_key, line.seq, line.entry_hash,
                                                                line.at_text, line.signature):
            report.problem = Problem(line.seq, "bad_checkpoint",
                                     f"checkpoint at seq {line.seq} has an invalid signature")
            return report
    checkpoint_hashes: dict[int, str] = {}
    for line in pending:
        if line.seq < start_seq:
            continue
        if checkpoint_hashes.setdefault(line.seq, line.entry_hash) != line.entry_hash:
            report.problem = Problem(line.seq, "bad_checkpoint",
                                     f"two validly signed checkpoints disagree about seq {line.seq}")
            return report

    prev_hash = start_prev_hash
    prev_prev_hash: str | None = None
    prev_seq = start_seq - 1
    checked = checkpoints_seen = 0
    last_checkpoint = None
    problem = None
    sha256 = hashlib.sha256
    for row in entries:
        (seq, linked_to, stored, action, actor, role, unit, address, detail, occurred, outcome,
         request_id, target_id, target_type) = row
        expected = prev_seq + 1
        if seq.__class__ is not int:
            problem = Problem(expected, "altered", f"the entry after seq {prev_seq} has no whole sequence number")
            break
        if checked == 0:
            report.first_seq = seq
        if action is None:  # NOT NULL in every entry: the link's entry is not there
            problem = Problem(seq, "missing", f"link {seq} points to an entry that is not in the trail")
            break
        # The fast path, spelled out (this loop runs once per entry of the whole log).
        try:
            payload = payload_of_text(
                action,
                f"{actor[:8]}-{actor[8:12]}-{actor[12:16]}-{actor[16:20]}-{actor[20:]}"
                if actor.__class__ is str and len(actor) == 32 else _fast_actor(actor),
                role, unit, address, detail,
                f"{occurred[:10]}T{occurred[11:]}Z" if occurred.__class__ is str and len(occurred) == 26
                else _fast_occurred(occurred),
                outcome, request_id, target_id, target_type)
            computed = sha256(f"{linked_to}\n{payload}".encode()).hexdigest()
        except (TypeError, ValueError, UnicodeError):
            computed = None
        if computed != stored and _reference_hash(row) != stored:
            problem = Problem(seq, "altered", f"entry {seq} does not match its own hash")
            break
        if linked_to != prev_hash:
            problem = _classify_break(seq, linked_to, prev_seq, prev_prev_hash, expected, find_seq_of_hash)
            break
        if seq != expected:
            kind = "missing" if seq > expected else "reordered"
            problem = Problem(expected, kind, f"sequence jumps from {prev_seq} to {seq} with an intact link")
            break
        if seq in checkpoint_hashes:
            if checkpoint_hashes[seq] != stored:
                problem = Problem(seq, "altered", f"the log up to seq {seq} differs from its signed checkpoint")
                break
            checkpoints_seen += 1
            last_checkpoint = seq
        prev_prev_hash, prev_hash, prev_seq = prev_hash, stored, seq
        checked += 1

    report.entries_checked = checked
    report.checkpoints_checked = checkpoints_seen
    report.last_checkpoint_seq = last_checkpoint
    report.last_seq = prev_seq if checked else None
    if problem is not None:
        report.problem = problem
        return report

    last = prev_seq
    beyond = [s for s in checkpoint_hashes if s > last]
    if beyond:
        report.problem = Problem(last + 1, "truncated",
                                 f"the log ends at seq {last} but a signed checkpoint covers seq {max(beyond)}")
    elif head_seq is not None and head_seq > last:
        report.problem = Problem(last + 1, "truncated",
                                 f"the log ends at seq {last} but the chain head records seq {head_seq}")
    elif head_seq is not None and head_seq < last:
        report.problem = Problem(head_seq + 1, "inserted",
                                 f"entries after seq {head_seq} were added outside the chain writer")
    elif head_seq == last and checked and head_hash is not None and head_hash != prev_hash:
        report.problem = Problem(last, "altered", f"entry {last} is not the entry the chain head records")
    return report


def _classify_break(seq: int, linked_to: str, prev_seq: int, prev_prev_hash: str | None, expected: int,
                    find_seq_of_hash: Callable[[str], int | None]) -> Problem:
    if prev_prev_hash is not None and linked_to == prev_prev_hash:
        return Problem(prev_seq, "inserted", f"entry {prev_seq} is not part of the chain: "
                                             f"entry {seq} links directly to the one before it")
    linked = find_seq_of_hash(linked_to)
    if linked is not None and linked > seq:
        return Problem(seq, "reordered", f"entry {seq} links to entry {linked}, which now sits after it")
    if linked is None and seq != expected:
        return Problem(expected, "missing", f"entries {expected} to {seq - 1} are missing")
    if linked is None:
        return Problem(prev_seq, "altered", f"entry {prev_seq} was rewritten (or the entry after it "
                                            f"removed): entry {seq} links to a hash no longer in the log")
    return Problem(seq, "reordered", f"entry {seq} links to entry {linked} instead of entry {prev_seq}")
