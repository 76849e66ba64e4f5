"""The audit sequencer (issue 22): links committed entries into the chain, in batches.

Recording is the action's business: its transaction inserts the entry and nothing else of
the chain. Linking is this module's, on PostgreSQL (SQLite links in the recording
transaction, audit/trail.py). One sequencer is active at a time: it holds a session-level
advisory lock for its life, and a second one waits on it (and takes over if the first dies).

Each pass is one transaction:
1. read the head and the next entries after its position in the order
   (generation, xact_id, id), taking only entries of an older generation or of a transaction
   older than every transaction still running in this database (`pg_snapshot_xmin`, less
   the transactions of the server's other databases, `_XMIN`): such a transaction has
   finished, so no entry can still appear before the ones taken — the sequenced trail is a
   prefix of the final order, whatever commits later;
2. if there are any, lock the head (FOR UPDATE), check it has not moved, hash the entries with
   chain.entry_hash and insert their links with consecutive numbers from head + 1, move the
   head and sign a checkpoint when one is due (trail.link_entries); commit.

The order is the transaction id, then the entry id: an action's entries stay together and in
the order it recorded them, and two actions are chained in the order their transactions
began writing. A batch is at most HOSO_AUDIT_SEQUENCE_BATCH entries (500: one pass links them
in a few milliseconds, and a full batch is followed at once by the next); otherwise the
sequencer polls every HOSO_AUDIT_SEQUENCE_POLL_MS (100 ms), which bounds the time from commit
to link when nothing holds a transaction open. (Starting the next pass at once after any pass
that linked entries halves that time under load but costs the sequencer about 35 µs more CPU
per entry in smaller batches; python -m bench.audit, 16 workers: p99 0.36 s against 0.52 s.)

A long transaction in this database holds `pg_snapshot_xmin` back, and with it every entry
recorded after it began: it delays sequencing, never reorders or loses (a long transaction in
another database of the server does not: see _XMIN). PostgreSQL's
`idle_in_transaction_session_timeout` (README) ends a session forgotten inside a transaction.

A restore into another cluster can bring the trail back to a database whose transaction ids
are lower than the last sequenced one: entries recorded there would sort before entries
already chained. The audit_entry_stamp trigger refuses such entries, and the next pass
starts a new generation (the head's `generation` + 1). It does too when an entry of the
current generation carries a transaction id this database has not reached (recorded by the
old cluster after its last sequenced one, and restored with it): the xmin test would hold it
back until this database's ids caught up, perhaps millions of transactions later. Then the
pass waits until every transaction that may still commit an entry of the old generation has
ended (where the position was behind this database, the trigger refused nothing), and the
old generation's entries are taken without the xmin test, then the new generation's in its
own transaction order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from protection.db import db

from .chain import HASHED_FIELDS
from .models import AuditEntry, ChainHead
from .trail import HEAD_ID, Recorded, link_entries, read_head

logger = logging.getLogger(__name__)

# pg_advisory_lock's key: "HosoSeq" in ASCII, so it does not meet another application's.
ADVISORY_KEY = 0x486F736F536571
_ENTRIES = AuditEntry.__table__
_HEAD = ChainHead.__table__
_ORDER = (_ENTRIES.c.generation, _ENTRIES.c.xact_id, _ENTRIES.c.id)
# The oldest transaction still running in this database: the running transactions of the
# statement's snapshot (pg_current_snapshot), less those pg_stat_activity shows working in
# another database of the cluster; the snapshot's xmax when none is left. Transaction ids are
# the cluster's, so pg_snapshot_xmin alone would let a long transaction of any other
# application on the server hold the trail back, though it can never write an entry here.
# Only a transaction positively seen in another database is left out (a backend stays in its
# database, and an id is never reused while it runs): an unknown one (a prepared transaction,
# a backend without a database) still holds the sequencer back, as before.
_XMIN = literal_column("""(SELECT coalesce(min(running::text::bigint), pg_snapshot_xmax(pg_current_snapshot())::text::bigint)
    FROM pg_snapshot_xip(pg_current_snapshot()) AS running
    WHERE running::text::bigint % 4294967296 NOT IN (
        SELECT backend_xid::text::bigint FROM pg_stat_activity
        WHERE backend_xid IS NOT NULL
        AND datid <> (SELECT oid FROM pg_database WHERE datname = current_database())))""")
_NEXT_XACT = literal_column("pg_snapshot_xmax(pg_current_snapshot())::text::bigint")


class SequencerUnavailable(RuntimeError):
    """The sequencer does not run on this database (SQLite links as it records)."""


@dataclass(frozen=True)
class PassResult:
    linked: int
    head_seq: int
    new_generation: int | None = None
    moved: bool = False  # the head moved between reading and locking it: nothing done, try again


def sequencer_engine() -> Engine:
    """The sequencer's own login when HOSO_AUDIT_SEQUENCER_DATABASE_URL names one (the README's
    role that may write links, the head and checkpoints), else the app's."""
    url = current_app.config.get("HOSO_AUDIT_SEQUENCER_DATABASE_URL")
    if url:
        return create_engine(url, poolclass=NullPool, hide_parameters=True)
    return db.engine


def _ready_entries(connection: Connection, head, batch: int) -> list[Recorded]:
    position = (head.sequenced_generation, head.sequenced_xact, head.sequenced_entry)
    rows = connection.execute(
        select(_ENTRIES)
        .where(tuple_(*_ORDER) > tuple_(*position))
        .where(or_(_ENTRIES.c.generation < head.generation, _ENTRIES.c.xact_id < _XMIN))
        .order_by(*_ORDER).limit(batch)).mappings().all()
    return [Recorded(row["id"], row["generation"], row["xact_id"], {name: row[name] for name in HASHED_FIELDS})
            for row in rows]


def sequence_pass(connection: Connection, batch: int) -> PassResult:
    """One pass in one transaction on `connection` (which holds the advisory lock)."""
    with connection.begin():
        head = read_head(connection)
        if not _behind(connection, head):
            entries = _ready_entries(connection, head, batch)
            if not entries:
                return PassResult(0, head.seq)
            locked = read_head(connection, lock=True)
            if (locked.seq, locked.sequenced_entry) != (head.seq, head.sequenced_entry):
                return PassResult(0, locked.seq, moved=True)  # moved meanwhile: read again
            return PassResult(len(entries), link_entries(connection, locked, entries))
        # The database's transaction ids are behind the trail: a restore into another cluster.
        generation = head.generation + 1
        read_head(connection, lock=True)
        connection.execute(update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(generation=generation))
        logger.warning("audit sequencer: transaction ids are behind the trail (a restore?): "
                       "generation %s starts", generation)
    _outlive_older_transactions(connection)
    return PassResult(0, head.seq, generation)


def _behind(connection: Connection, head) -> bool:
    """The database's transaction ids are behind the trail: the next one is not after the
    last sequenced, or an entry of the current generation carries one not reached yet (the
    old cluster recorded it and had not linked it when the trail was copied). In one
    statement, so in one snapshot: a committed entry of this database is always below its
    xmax, and no new one can look ahead."""
    ahead = (select(_ENTRIES.c.xact_id)  # ORDER BY ... LIMIT 1: an index range scan in any plan
             .where(_ENTRIES.c.generation == head.generation, _ENTRIES.c.xact_id >= _NEXT_XACT)
             .order_by(_ENTRIES.c.generation, _ENTRIES.c.xact_id).limit(1).scalar_subquery())
    next_xact, first_ahead = connection.execute(select(_NEXT_XACT, ahead)).one()
    return first_ahead is not None or (head.sequenced_generation == head.generation
                                       and next_xact <= head.sequenced_xact)


def _outlive_older_transactions(connection: Connection) -> None:
    """After a new generation began, before the old one's entries are taken without the xmin
    test: a transaction that read the old generation (where no entry was refused: the
    sequenced position was behind this database) may still commit an entry stamped with it.
    Such a transaction had its id before this one: wait until all of them have ended."""
    with connection.begin():
        now = connection.execute(text("SELECT pg_current_xact_id()::text::bigint")).scalar()
    while True:
        with connection.begin():
            if connection.execute(select(_XMIN)).scalar() > now:
                return
        time.sleep(0.01)


def sequence_all(connection: Connection, batch: int) -> int:
    """Passes until nothing is ready; returns how many entries were linked."""
    total = 0
    while True:
        result = sequence_pass(connection, batch)
        total += result.linked
        if result.linked == 0 and result.new_generation is None and not result.moved:
            return total


def check_postgresql(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        raise SequencerUnavailable("SQLite links each entry in the transaction that records it: "
                                   "no sequencer is needed")


def hold_lock(connection: Connection, wait: Callable[[], None] | None = None, *, block: bool = True,
              stopping: Callable[[], bool] = lambda: False, poll_seconds: float = 1.0) -> bool:
    """Take the advisory lock for this connection's life; `wait` is told once if another
    sequencer holds it, then this one tries again every `poll_seconds` until it is free (or,
    not `block`ing or `stopping`, gives up: False). Tries, not pg_advisory_lock: a statement
    blocked on the lock holds its snapshot, and with it VACUUM's horizon on the whole server,
    for as long as the other sequencer runs — days, for a second app server's; and a process
    blocked in it does not see SIGTERM."""
    told = False
    while True:
        taken = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}).scalar()
        connection.commit()  # no transaction, no snapshot, while waiting
        if taken:
            return True
        if not told and wait is not None:
            wait()
        told = True
        if not block or stopping():
            return False
        time.sleep(poll_seconds)


@dataclass
class Runner:
    """The long-running loop of `flask --app app audit sequence`."""

    engine: Engine
    batch: int
    poll_seconds: float
    once: bool = False
    stopping: Callable[[], bool] = lambda: False
    on_wait: Callable[[], None] | None = None
    on_pass: Callable[[PassResult], None] | None = None
    retry_seconds: float = 2.0

    def run(self) -> int:
        linked = 0
        while not self.stopping():
            try:
                linked += self._session()
                if self.once:
                    return linked
            except DBAPIError as error:
                # The database went away or refused: the transaction rolled back, nothing was
                # half-linked. Wait and start again (the lock was the connection's, and is gone).
                if self.once:
                    raise
                logger.warning("audit sequencer: %s; retrying in %s s", type(error.orig).__name__,
                               self.retry_seconds)
                time.sleep(self.retry_seconds)
        return linked

    def _session(self) -> int:
        linked = 0
        with self.engine.connect() as connection:
            if not hold_lock(connection, self.on_wait, block=not self.once, stopping=self.stopping,
                             poll_seconds=max(self.poll_seconds, 1.0)):
                return 0  # --once beside a running sequencer (that one links them), or stopped waiting
            while not self.stopping():
                result = sequence_pass(connection, self.batch)
                linked += result.linked
                if self.on_pass is not None and (result.linked or result.new_generation):
                    self.on_pass(result)
                if result.linked >= self.batch or result.new_generation is not None or result.moved:
                    continue  # more may be ready now
                if self.once:
                    break
                time.sleep(self.poll_seconds)
        return linked
