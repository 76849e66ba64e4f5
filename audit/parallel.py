"""Verifying a long trail on every CPU.

The log is cut into ranges of sequence numbers. Before any worker starts, the parent
reads — in one snapshot — the stored hash at each cut. Each worker then runs the very
same verify() over its range as a complete log: starting from the hash at the cut
before it, and ending at the hash at its own cut as its "chain head". So two adjacent
ranges agree on the one hash between them by construction, and every entry, link and
checkpoint signature is checked exactly once, as a sequential pass would check it.

Only the verdict "intact" is taken from here. Any problem — or a cut that cannot be
read — sends the caller back to the sequential verifier, which names the first bad
sequence number and the kind of tampering precisely (the parallel pass only knows that
some range failed, and a problem near a cut is best described by one continuous walk).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from .reader import Reader
from .signing import CheckpointLine
from .verify import Report, verify

MAX_WORKERS = 8


@dataclass(frozen=True)
class Range:
    first: int
    last: int
    start_prev_hash: str
    end_hash: str | None  # the stored hash at `last`; None for the final range
    lines: tuple[CheckpointLine, ...]


@dataclass(frozen=True)
class Outcome:
    ok: bool
    entries: int
    checkpoints: int
    last_checkpoint: int | None
    last_seq: int | None


def worker_count(setting: int) -> int:
    return min(os.cpu_count() or 1, MAX_WORKERS) if setting == 0 else setting


def cuts(first: int, last: int, pieces: int) -> list[tuple[int, int]]:
    """`pieces` contiguous ranges covering first..last (fewer when the log is short)."""
    total = last - first + 1
    size = max(1, -(-total // pieces))
    return [(start, min(start + size - 1, last)) for start in range(first, last + 1, size)]


def _verify_range(database_url: str, public_key_bytes: bytes | None, item: Range, final_head: tuple | None,
                  read_to: int) -> Outcome:
    # A process of its own: its own engine and connection, nothing shared with the parent.
    engine = create_engine(database_url, poolclass=NullPool)
    connection = engine.raw_connection()
    try:
        reader = Reader(connection, engine.dialect.name)
        head_seq, head_hash = final_head if final_head is not None else (item.last, item.end_hash)
        report = verify(
            reader.entries(item.first, read_to),
            checkpoints=item.lines,
            public_key=Ed25519PublicKey.from_public_bytes(public_key_bytes) if public_key_bytes else None,
            start_prev_hash=item.start_prev_hash,
            start_seq=item.first,
            head_seq=head_seq,
            head_hash=head_hash,
        )
    finally:
        connection.rollback()
        connection.close()
        engine.dispose()
    return Outcome(report.ok, report.entries_checked, report.checkpoints_checked, report.last_checkpoint_seq,
                   report.last_seq)


def verify_in_parallel(*, database_url: str, public_key_bytes: bytes | None, ranges: Sequence[Range],
                       head: tuple[int, str], read_to: int, workers: int,
                       progress: Callable[[int], None] | None = None) -> Report | None:
    """A Report when every range is intact; None when any is not (verify sequentially)."""
    jobs = []
    for index, item in enumerate(ranges):
        final = index == len(ranges) - 1
        jobs.append((database_url, public_key_bytes, item, head if final else None,
                     read_to if final else item.last))
    outcomes: list[Outcome] = []
    # spawn, not fork: the parent holds pooled connections and may run threads. Every range
    # runs to its end even after one fails (each is bounded): a pool torn down mid-task can
    # hang its parent, and the walk that follows a failure costs more than the wait.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as executor:
        for item, outcome in zip(ranges, executor.map(_verify_range, *zip(*jobs, strict=True)), strict=True):
            outcomes.append(outcome)
            if progress is not None:
                progress(item.last - item.first + 1)
    if not all(outcome.ok for outcome in outcomes):
        return None
    checkpoints = [outcome.last_checkpoint for outcome in outcomes if outcome.last_checkpoint is not None]
    return Report(entries_checked=sum(outcome.entries for outcome in outcomes), first_seq=ranges[0].first,
                  last_seq=outcomes[-1].last_seq,
                  checkpoints_checked=sum(outcome.checkpoints for outcome in outcomes),
                  last_checkpoint_seq=max(checkpoints) if checkpoints else None)
