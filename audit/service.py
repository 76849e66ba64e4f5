"""Reading the trail: verification runs, filtered queries, streamed exports."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, select

from protection.db import db
from protection.identity import User

from . import signing
from .chain import GENESIS_HASH, timestamp_text
from .models import AuditEntry, ChainHead, Checkpoint
from .trail import keys_dir, record
from .verify import ENTRY_COLUMNS, Problem, Report, verify

VERIFY_BATCH = 5000


class _Reader:
    """Reads the trail for verification on a connection of its own, outside the ORM, in
    one read-only snapshot.

    Not the request's session: on SQLite every session transaction takes the write lock
    (BEGIN IMMEDIATE, protection/db.py), and a verification of millions of entries must
    not stall every other request for its duration. Here SQLite gets a plain deferred
    BEGIN (in WAL mode a reader blocks no writer) and PostgreSQL a REPEATABLE READ
    transaction, so the head, the checkpoints and the entries are read as of one moment
    while the app keeps appending. Plain driver values are hashed without building ORM
    objects (the verification rate in `python -m bench` depends on it).
    """

    def __init__(self, connection, dialect_name: str):
        self.connection = connection
        self.cursor = connection.cursor()
        postgresql = dialect_name == "postgresql"
        self.mark = "%s" if postgresql else "?"
        actor = "CAST(actor_id AS TEXT)" if postgresql else "actor_id"
        columns = ", ".join(actor if name == "actor_id" else name for name in ENTRY_COLUMNS)
        # A range of sequence numbers per batch, not LIMIT: the scan reads one batch's
        # rows whatever plan the database picks (with stale statistics PostgreSQL may
        # otherwise scan and sort everything up to the end, for every batch).
        self.batch_sql = (f"SELECT {columns} FROM audit_entries "  # noqa: S608 - fixed column names
                          f"WHERE seq >= {self.mark} AND seq < {self.mark} ORDER BY seq")
        if postgresql:
            self.cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        else:
            self.cursor.execute("BEGIN")

    def one(self, sql: str, *params: Any) -> Any:
        self.cursor.execute(sql.replace("?", self.mark), params)
        return self.cursor.fetchone()

    def head(self) -> tuple[int, str, int | None] | None:
        """The chain head and the newest sequence number present."""
        return self.one("SELECT seq, entry_hash, (SELECT max(seq) FROM audit_entries) "
                        "FROM audit_chain_head WHERE id = 1")

    def entry_hash_at(self, seq: int) -> str | None:
        row = self.one("SELECT entry_hash FROM audit_entries WHERE seq = ?", seq)
        return row[0] if row else None

    def seq_of_hash(self, value: str) -> int | None:
        row = self.one("SELECT seq FROM audit_entries WHERE entry_hash = ?", value)
        return row[0] if row else None

    def checkpoint_lines(self) -> list[signing.CheckpointLine]:
        self.cursor.execute("SELECT seq, entry_hash, signed_at, key_id, signature FROM audit_checkpoints ORDER BY seq")
        return [signing.CheckpointLine(seq, value, timestamp_text(_utc(signed_at)), key, signature)
                for seq, value, signed_at, key, signature in self.cursor.fetchall()]

    def entries(self, start_seq: int, end_seq: int, progress=None) -> Iterator[tuple]:
        """Rows start_seq..end_seq in sequence order, VERIFY_BATCH sequence numbers at a time."""
        next_seq = start_seq
        while next_seq <= end_seq:
            batch_end = min(next_seq + VERIFY_BATCH, end_seq + 1)
            self.cursor.execute(self.batch_sql, (next_seq, batch_end))
            rows = self.cursor.fetchall()
            if rows:
                yield from rows
                if progress is not None:
                    progress(len(rows))
                next_seq = batch_end
            else:  # a gap (verify() names it): go on at the next entry there is
                following = self.one("SELECT min(seq) FROM audit_entries WHERE seq >= ?", batch_end)
                if following is None or following[0].__class__ is not int:
                    return
                next_seq = following[0]


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@contextmanager
def _reader() -> Iterator[_Reader]:
    connection = db.engine.raw_connection()
    try:
        yield _Reader(connection, db.engine.dialect.name)
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
        return verify(
            reader.entries(start_seq, max(head_seq_, newest or 0), progress),
            checkpoints=[*reader.checkpoint_lines(), *extra_lines],
            public_key=signing.load_public_key(keys_dir()),
            start_prev_hash=start_prev_hash,
            start_seq=start_seq,
            head_seq=head_seq_,
            head_hash=head_hash,
            find_seq_of_hash=reader.seq_of_hash,
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
        """Detail for the search's or export's own audit entry: which filters were used, with
        the values of those that are vocabulary (action, target type, outcome). Keys are
        prefixed: `action` and `target_type` are record()'s own parameters."""
        used = [name for name, value in self.__dict__.items() if value not in (None, "")]
        return {f"filter_{name}": str(getattr(self, name)) for name in ("action", "target_type", "outcome")
                if name in used} | {"filters": used}


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
    return {user_id: username for user_id, username in
            db.session.execute(select(User.id, User.username).where(User.id.in_(ids)))}


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
