"""Reading the trail: verification runs, filtered queries, streamed exports."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, select

from protection.db import db
from protection.identity import User

from . import signing
from .chain import GENESIS_HASH, timestamp_text
from .models import AuditEntry, ChainHead, Checkpoint
from .trail import keys_dir, record
from .verify import Report, verify

VERIFY_BATCH = 5000


def stored_checkpoint_lines() -> list[signing.CheckpointLine]:
    rows = db.session.scalars(select(Checkpoint).order_by(Checkpoint.seq))
    return [signing.CheckpointLine(row.seq, row.entry_hash, timestamp_text(row.signed_at), row.key_id,
                                   row.signature) for row in rows]


def run_verification(*, from_seq: int | None = None, extra_lines: Sequence[signing.CheckpointLine] = (),
                     progress=None) -> Report:
    """Verify the stored log (optionally from `from_seq`) against stored checkpoints and
    any given lines. Reads in batches so a long log never sits in memory at once."""
    start_seq = max(from_seq or 1, 1)
    start_prev_hash = GENESIS_HASH
    if start_seq > 1:
        previous = db.session.get(AuditEntry, start_seq - 1)
        start_prev_hash = previous.entry_hash if previous is not None else "missing"
    head = db.session.get(ChainHead, 1)
    rows = db.session.execute(
        select(AuditEntry).where(AuditEntry.seq >= start_seq).order_by(AuditEntry.seq)
        .execution_options(yield_per=VERIFY_BATCH)
    ).scalars()

    def find_seq_of_hash(value: str) -> int | None:
        return db.session.scalar(select(AuditEntry.seq).where(AuditEntry.entry_hash == value))

    return verify(
        rows,
        checkpoints=[*stored_checkpoint_lines(), *extra_lines],
        public_key=signing.load_public_key(keys_dir()),
        start_prev_hash=start_prev_hash,
        start_seq=start_seq,
        head_seq=head.seq if head is not None else None,
        find_seq_of_hash=find_seq_of_hash,
        progress=progress,
    )


def record_verification(report: Report) -> None:
    record("audit.verify", target_type="audit_log", outcome="success" if report.ok else "failure",
           entries=report.entries_checked,
           first_bad_seq=report.problem.seq if report.problem else None,
           problem=report.problem.kind if report.problem else None)


def last_verification() -> AuditEntry | None:
    return db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "audit.verify").order_by(AuditEntry.seq.desc()).limit(1)
    ).first()


def chain_status() -> dict[str, Any]:
    head = db.session.get(ChainHead, 1)
    last_checkpoint = db.session.scalars(select(Checkpoint).order_by(Checkpoint.seq.desc()).limit(1)).first()
    return {"head": head, "last_checkpoint": last_checkpoint, "last_verification": last_verification()}


@dataclass(frozen=True)
class TrailFilter:
    actor: str | None = None  # username
    action: str | None = None  # exact or prefix ending in "."
    target_type: str | None = None
    target_id: str | None = None
    outcome: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def describe(self) -> dict[str, Any]:
        """For the export's own audit entry: which filters, not their values' content."""
        return {name: (str(value) if value is not None else None) for name, value in self.__dict__.items()
                if name in ("action", "target_type", "outcome") and value is not None} | {
            "filters": [name for name, value in self.__dict__.items() if value not in (None, "")]
        }


def _local_midnight_utc(day: date) -> datetime:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Ho_Chi_Minh"))
    return datetime.combine(day, time.min, tzinfo=zone)


def filtered(trail_filter: TrailFilter) -> Select:
    statement = select(AuditEntry)
    if trail_filter.actor:
        user_id = db.session.scalar(select(User.id).where(User.username == trail_filter.actor.strip().lower()))
        statement = statement.where(AuditEntry.actor_id == (user_id or uuid.UUID(int=0)))
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


def usernames_for(entries: Sequence[AuditEntry]) -> dict[uuid.UUID, str]:
    ids = {entry.actor_id for entry in entries if entry.actor_id is not None}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.username).where(User.id.in_(ids))).tuples().all())


EXPORT_COLUMNS = ("seq", "occurred_at", "actor", "actor_role", "actor_unit", "action", "target_type",
                  "target_id", "outcome", "client_address", "request_id", "detail", "entry_hash")


def export_csv(statement: Select, batch: int = 2000) -> Iterator[str]:
    """Stream CSV lines in batches: an export over years of entries never sits in memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    yield buffer.getvalue()
    last_seq = 0
    while True:
        rows = db.session.scalars(statement.where(AuditEntry.seq > last_seq)
                                  .order_by(AuditEntry.seq).limit(batch)).all()
        if not rows:
            break
        names = usernames_for(rows)
        # A short read transaction per batch: on SQLite every transaction holds the write
        # lock (BEGIN IMMEDIATE), and a long export must not stall everyone's writes.
        db.session.rollback()
        buffer.seek(0)
        buffer.truncate()
        for entry in rows:
            writer.writerow((entry.seq, timestamp_text(entry.occurred_at),
                             names.get(entry.actor_id, entry.actor_id or ""), entry.actor_role or "",
                             entry.actor_unit or "", entry.action, entry.target_type or "",
                             entry.target_id or "", entry.outcome, entry.client_address or "",
                             entry.request_id or "", entry.detail, entry.entry_hash))
        yield buffer.getvalue()
        last_seq = rows[-1].seq
