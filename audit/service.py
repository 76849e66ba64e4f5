"""Reading the trail: verification runs, filtered queries, streamed exports."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.orm import aliased

from protection import paging
from protection.clock import utcnow
from protection.db import db
from protection.identity import User
from protection.spreadsheets import csv_writer

from . import parallel, signing
from .chain import GENESIS_HASH, timestamp_text
from .models import AuditEntry, AuditLink, ChainHead, Checkpoint
from .reader import Reader
from .trail import keys_dir, record
from .verify import Problem, Report, verify


@contextmanager
def _reader() -> Iterator[Reader]:
    connection = db.engine.raw_connection()
    try:
        yield Reader(connection, db.engine.dialect.name)
    finally:
        connection.rollback()
        connection.close()


def stored_checkpoint_lines() -> list[signing.CheckpointLine]:
    with _reader() as reader:
        return reader.checkpoint_lines()


def head_seq() -> int:
    with _reader() as reader:
        head = reader.head()
    return head[0] if head else 0


def run_verification(*, from_seq: int | None = None, extra_lines: Sequence[signing.CheckpointLine] = (),
                     progress=None) -> Report:
    """Verify the stored log (optionally from `from_seq`) against stored checkpoints and
    any given lines, as it stood when verification began (entries appended meanwhile
    are the next verification's)."""
    start_seq = max(from_seq or 1, 1)
    with _reader() as reader:
        head_seq_, head_hash, newest = reader.head() or (0, GENESIS_HASH, None)
        if newest is not None and newest.__class__ is not int:  # SQLite stores what it is given
            return Report(problem=Problem(head_seq_ + 1, "inserted",
                                          "an entry was added with a sequence number that is not a whole number"))
        start_prev_hash = GENESIS_HASH
        if start_seq > 1:
            previous = reader.entry_hash_at(start_seq - 1)
            if previous is None:
                return Report(problem=Problem(start_seq - 1, "missing",
                                              f"entry {start_seq - 1}, where verification starts, is missing"))
            start_prev_hash = previous
        # Read to the newest entry present, not only to the head: rows past the head were
        # not appended by the chain writer, and verify() names them.
        read_to = max(head_seq_, newest or 0)
        lines = [*reader.checkpoint_lines(), *extra_lines]
        public_key = signing.load_public_key(keys_dir())
        ranges = _parallel_ranges(reader, start_seq, head_seq_, start_prev_hash, lines)
        if ranges:
            report = parallel.verify_in_parallel(
                database_url=db.engine.url.render_as_string(hide_password=False),
                public_key_bytes=public_key.public_bytes_raw() if public_key is not None else None,
                ranges=ranges, head=(head_seq_, head_hash), read_to=read_to,
                workers=parallel.worker_count(current_app.config["HOSO_AUDIT_VERIFY_WORKERS"]), progress=progress)
            if report is not None:
                return _with_sequencing(reader, report)
            progress = None  # a range failed: the sequential walk below names the first problem
        report = verify(
            reader.entries(start_seq, read_to, progress),
            checkpoints=lines,
            public_key=public_key,
            start_prev_hash=start_prev_hash,
            start_seq=start_seq,
            head_seq=head_seq_,
            head_hash=head_hash,
            find_seq_of_hash=reader.seq_of_hash,
        )
        return _with_sequencing(reader, report)


def _with_sequencing(reader: Reader, report: Report) -> Report:
    """The states the chain's walk cannot see: an entry before the sequenced position that
    has no link (unlinked), and the entries still waiting for the sequencer (pending)."""
    if report.ok:
        unlinked = reader.unlinked_entry()
        if unlinked is not None:
            report.problem = Problem(unlinked, "unlinked", f"entry {unlinked} was recorded before the sequenced "
                                                           "part of the trail but has no link")
    report.pending, report.pending_oldest = reader.backlog()
    if report.pending_oldest is not None:
        waited = (utcnow() - report.pending_oldest).total_seconds()
        report.pending_late = waited > current_app.config["HOSO_AUDIT_PENDING_WARN_SECONDS"]
    return report


def _parallel_ranges(reader: Reader, start_seq: int, head_seq_: int, start_prev_hash: str,
                     lines: Sequence[signing.CheckpointLine]) -> list[parallel.Range]:
    """The ranges for a parallel pass, or [] when the log is short, one worker is set, or a
    cut's entry is missing (then the sequential walk reports it)."""
    workers = parallel.worker_count(current_app.config["HOSO_AUDIT_VERIFY_WORKERS"])
    if workers < 2 or head_seq_ - start_seq + 1 < current_app.config["HOSO_AUDIT_VERIFY_PARALLEL_FROM"]:
        return []
    # More ranges than workers: the progress bar moves, and a slow range does not idle the rest.
    spans = parallel.cuts(start_seq, head_seq_, workers * 4)
    ranges: list[parallel.Range] = []
    previous_hash = start_prev_hash
    for index, (first, last) in enumerate(spans):
        final = index == len(spans) - 1
        end_hash = None if final else reader.entry_hash_at(last)
        if not final and end_hash is None:
            return []
        own = tuple(line for line in lines
                    if (first <= line.seq <= last) or (final and line.seq > last) or (index == 0 and line.seq < first))
        ranges.append(parallel.Range(first, last, previous_hash, end_hash, own))
        previous_hash = end_hash
    return ranges


def record_verification(report: Report) -> None:
    record("audit.verify", target_type="audit_log", outcome="success" if report.ok else "failure",
           entries=report.entries_checked,
           first_bad_seq=report.problem.seq if report.problem else None,
           problem=report.problem.kind if report.problem else None)


def chain_status() -> dict[str, Any]:
    """The head, the newest checkpoint, the last verification's entry and the entries waiting
    for the sequencer (PostgreSQL), in one statement."""
    newest_checkpoint = select(func.max(Checkpoint.seq)).scalar_subquery()
    last_verify = select(func.max(AuditEntry.id)).where(AuditEntry.action == "audit.verify").scalar_subquery()
    statement = (select(ChainHead, Checkpoint, AuditEntry).select_from(ChainHead)
                 .outerjoin(Checkpoint, Checkpoint.seq == newest_checkpoint)
                 .outerjoin(AuditEntry, AuditEntry.id == last_verify)
                 .where(ChainHead.id == 1))
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    if postgresql:
        # Entries after the head's sequenced position: correlated to the head row.
        waiting = aliased(AuditEntry)
        after_head = tuple_(waiting.generation, waiting.xact_id, waiting.id) > tuple_(
            ChainHead.sequenced_generation, ChainHead.sequenced_xact, ChainHead.sequenced_entry)
        statement = statement.add_columns(
            select(func.count()).select_from(waiting).where(after_head).scalar_subquery(),
            select(func.min(waiting.occurred_at)).where(after_head).scalar_subquery())
    row = db.session.execute(statement).first()
    head, last_checkpoint, last_verification_entry = row[:3] if row is not None else (None, None, None)
    pending, oldest, late = 0, None, False
    if row is not None and postgresql:
        pending, oldest = row[3], row[4]
        late = oldest is not None and (utcnow() - oldest).total_seconds() > \
            current_app.config["HOSO_AUDIT_PENDING_WARN_SECONDS"]
    return {"head": head, "last_checkpoint": last_checkpoint, "last_verification": last_verification_entry,
            "pending": pending, "pending_oldest": oldest, "pending_late": late}


@dataclass(frozen=True)
class TrailFilter:
    actor: uuid.UUID | None = None  # the user's id (the form turned the username into it)
    action: str | None = None  # exact or prefix ending in "."
    target_type: str | None = None
    target_id: str | None = None
    outcome: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def describe(self) -> dict[str, Any]:
        """Detail for the search's or export's own audit entry: which filters were used, with
        the values of those that are vocabulary (action, target type, outcome). Keys are
        prefixed: `action` and `target_type` are record()'s own parameters."""
        used = [name for name, value in self.__dict__.items() if value not in (None, "")]
        return {f"filter_{name}": str(getattr(self, name)) for name in ("action", "target_type", "outcome")
                if name in used} | {"filters": used}


def _local_midnight_utc(day: date) -> datetime:
    zone = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Ho_Chi_Minh"))
    return datetime.combine(day, time.min, tzinfo=zone)


def filtered(trail_filter: TrailFilter) -> Select:
    statement = select(AuditEntry)
    if trail_filter.actor:
        statement = statement.where(AuditEntry.actor_id == trail_filter.actor)
    if trail_filter.action:
        action = trail_filter.action.strip()
        if action.endswith("."):
            statement = statement.where(AuditEntry.action.startswith(action, autoescape=True))
        else:
            statement = statement.where(AuditEntry.action == action)
    if trail_filter.target_type:
        statement = statement.where(AuditEntry.target_type == trail_filter.target_type.strip())
    if trail_filter.target_id:
        statement = statement.where(AuditEntry.target_id == trail_filter.target_id.strip())
    if trail_filter.outcome:
        statement = statement.where(AuditEntry.outcome == trail_filter.outcome)
    if trail_filter.date_from:
        statement = statement.where(AuditEntry.occurred_at >= _local_midnight_utc(trail_filter.date_from))
    if trail_filter.date_to:
        statement = statement.where(
            AuditEntry.occurred_at < _local_midnight_utc(trail_filter.date_to + timedelta(days=1)))
    return statement


@dataclass(frozen=True)
class RecordHistory:
    """The trail filtered on one record: its access history, refused attempts included."""

    target: tuple[str, str]
    refusals: int


def record_history(trail_filter: TrailFilter) -> RecordHistory | None:
    if not (trail_filter.target_type and trail_filter.target_id):
        return None
    refusals = paging.exact_count(filtered(TrailFilter(target_type=trail_filter.target_type,
                                                       target_id=trail_filter.target_id, outcome="denied")))
    return RecordHistory((trail_filter.target_type, trail_filter.target_id), refusals)


def usernames_for(entries: Sequence[AuditEntry], also: Iterable[uuid.UUID] = ()) -> dict[uuid.UUID, str]:
    """The usernames of the entries' actors, and of the users `also` names (the trail page's
    user targets: one query for both)."""
    ids = {entry.actor_id for entry in entries if entry.actor_id is not None} | set(also)
    if not ids:
        return {}
    return {user_id: username for user_id, username in
            db.session.execute(select(User.id, User.username).where(User.id.in_(ids)))}


EXPORT_COLUMNS = ("entry", "seq", "occurred_at", "actor", "actor_role", "actor_unit", "action", "target_type",
                  "target_id", "outcome", "client_address", "request_id", "detail", "entry_hash")


def export_csv(statement: Select, batch: int = 2000) -> Iterator[str]:
    """Stream CSV lines in batches: an export over years of entries never sits in memory."""
    buffer = io.StringIO()
    writer = csv_writer(buffer)  # every cell through spreadsheet_cell: never a formula
    writer.writerow(EXPORT_COLUMNS)
    yield buffer.getvalue()
    last_id = 0
    while True:
        rows = db.session.scalars(statement.where(AuditEntry.id > last_id)
                                  .order_by(AuditEntry.id).limit(batch)).all()
        if not rows:
            break
        names = usernames_for(rows)
        # The batch's own links (by id: a filtered batch's ids may lie far apart).
        links = {entry_id: (seq, link) for entry_id, seq, link in db.session.execute(
            select(AuditLink.entry_id, AuditLink.seq, AuditLink.entry_hash)
            .where(AuditLink.entry_id.in_([entry.id for entry in rows])))}
        # A short read transaction per batch: on SQLite every transaction holds the write
        # lock (BEGIN IMMEDIATE), and a long export must not stall everyone's writes.
        db.session.rollback()
        buffer.seek(0)
        buffer.truncate()
        for entry in rows:
            seq, link = links.get(entry.id, ("", ""))  # none yet: waiting for the sequencer
            writer.writerow((entry.id, seq, timestamp_text(entry.occurred_at),
                             names.get(entry.actor_id, entry.actor_id or ""), entry.actor_role or "",
                             entry.actor_unit or "", entry.action, entry.target_type or "",
                             entry.target_id or "", entry.outcome, entry.client_address or "",
                             entry.request_id or "", entry.detail, link))
        yield buffer.getvalue()
        last_id = rows[-1].id
