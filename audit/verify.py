"""verify(): recompute the chain and check checkpoints. Pure Python, no Flask, no database:
the caller feeds rows in sequence order, so the same code checks a live log or a backup.

Each kind of tampering is named at the first sequence number where it shows:
- altered:   an entry's content no longer matches its hash, or its successor's link;
- missing:   a sequence number is absent and nothing links over the gap;
- inserted:  an entry sits between two entries that link to each other directly;
- reordered: an entry links to one that now sits later in the log;
- truncated: the log ends before a signed checkpoint (or the chain head) says it did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .chain import GENESIS_HASH, HASHED_FIELDS, entry_hash
from .signing import CheckpointLine, key_id, verify_signature


class EntryRow(Protocol):
    seq: int
    prev_hash: str
    entry_hash: str


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

    @property
    def ok(self) -> bool:
        return self.problem is None

    def summary(self) -> str:
        if self.problem:
            return (f"TAMPERED at seq {self.problem.seq}: {self.problem.kind} — {self.problem.message}")
        last = self.last_seq if self.last_seq is not None else 0
        checkpoint = self.last_checkpoint_seq if self.last_checkpoint_seq is not None else "none"
        return (f"OK: {self.entries_checked} entries verified, last seq {last}, "
                f"{self.checkpoints_checked} checkpoints verified, last checkpoint at seq {checkpoint}")


def _fields(row: Any) -> Mapping[str, Any]:
    if isinstance(row, Mapping):
        return row
    return {name: getattr(row, name) for name in HASHED_FIELDS}


def verify(
    entries: Iterable[Any],
    *,
    checkpoints: Iterable[CheckpointLine] = (),
    public_key: Ed25519PublicKey | None = None,
    start_prev_hash: str = GENESIS_HASH,
    start_seq: int = 1,
    head_seq: int | None = None,
    find_seq_of_hash: Callable[[str], int | None] = lambda _hash: None,
    progress: Callable[[int], None] | None = None,
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
    checkpoint_hashes = {line.seq: line.entry_hash for line in pending if line.seq >= start_seq}

    prev_hash = start_prev_hash
    prev_prev_hash: str | None = None
    prev_seq = start_seq - 1
    for row in entries:
        seq = row.seq
        expected = prev_seq + 1
        if report.first_seq is None:
            report.first_seq = seq
        if entry_hash(row.prev_hash, _fields(row)) != row.entry_hash:
            report.problem = Problem(seq, "altered", f"entry {seq} does not match its own hash")
            return report
        if row.prev_hash != prev_hash:
            report.problem = _classify_break(row, prev_seq, prev_prev_hash, expected, find_seq_of_hash)
            return report
        if seq != expected:
            kind = "missing" if seq > expected else "reordered"
            report.problem = Problem(expected, kind, f"sequence jumps from {prev_seq} to {seq} with an intact link")
            return report
        if seq in checkpoint_hashes:
            if checkpoint_hashes[seq] != row.entry_hash:
                report.problem = Problem(seq, "altered",
                                         f"the log up to seq {seq} differs from its signed checkpoint")
                return report
            report.checkpoints_checked += 1
            report.last_checkpoint_seq = seq
        prev_prev_hash, prev_hash, prev_seq = prev_hash, row.entry_hash, seq
        report.entries_checked += 1
        report.last_seq = seq
        if progress is not None:
            progress(1)

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
    return report


def _classify_break(row: Any, prev_seq: int, prev_prev_hash: str | None, expected: int,
                    find_seq_of_hash: Callable[[str], int | None]) -> Problem:
    seq = row.seq
    if prev_prev_hash is not None and row.prev_hash == prev_prev_hash:
        return Problem(prev_seq, "inserted", f"entry {prev_seq} is not part of the chain: "
                                             f"entry {seq} links directly to the one before it")
    linked = find_seq_of_hash(row.prev_hash)
    if linked is not None and linked > seq:
        return Problem(seq, "reordered", f"entry {seq} links to entry {linked}, which now sits after it")
    if linked is None and seq != expected:
        return Problem(expected, "missing", f"entries {expected} to {seq - 1} are missing")
    if linked is None:
        return Problem(prev_seq, "altered", f"entry {prev_seq} was rewritten (or the entry after it "
                                            f"removed): entry {seq} links to a hash no longer in the log")
    return Problem(seq, "reordered", f"entry {seq} links to entry {linked} instead of entry {prev_seq}")
