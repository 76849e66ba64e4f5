"""Reading the trail for verification, outside the ORM and Flask: the app's verifier and
the parallel pass's worker processes (audit/parallel.py) read it the same way."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from . import signing
from .chain import timestamp_text
from .verify import ENTRY_COLUMNS

VERIFY_BATCH = 5000


class Reader:
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
        self.postgresql = postgresql
        # On PostgreSQL the UUID and the timestamp come as the server's text: the chain
        # hashes text, and parsing a datetime only to print it again cost the verifier
        # more than hashing did (verify() pads the fraction PostgreSQL trims).
        as_text = {"actor_id": "CAST(e.actor_id AS TEXT)", "occurred_at": "CAST(e.occurred_at AS TEXT)"}
        link_columns = ("seq", "prev_hash", "entry_hash")
        columns = ", ".join(f"l.{name}" if name in link_columns else
                            as_text.get(name, f"e.{name}") if postgresql else f"e.{name}" for name in ENTRY_COLUMNS)
        # A range of sequence numbers per batch, not LIMIT: the scan reads one batch's
        # rows whatever plan the database picks (with stale statistics PostgreSQL may
        # otherwise scan and sort everything up to the end, for every batch).
        # The links in order, each with its entry's fields (all None for a link whose entry
        # is gone: verify() names it missing).
        self.batch_sql = (f"SELECT {columns} FROM audit_links l "  # noqa: S608 - fixed column names
                          f"LEFT JOIN audit_entries e ON e.id = l.entry_id "
                          f"WHERE l.seq >= {self.mark} AND l.seq < {self.mark} ORDER BY l.seq")
        if postgresql:
            self.cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            self.cursor.execute("SET LOCAL DateStyle = 'ISO, MDY'")  # the form verify() expects
        else:
            self.cursor.execute("BEGIN")

    def one(self, sql: str, *params: Any) -> Any:
        self.cursor.execute(sql.replace("?", self.mark), params)
        return self.cursor.fetchone()

    def head(self) -> tuple[int, str, int | None] | None:
        """The chain head and the newest link's sequence number present."""
        return self.one("SELECT seq, entry_hash, (SELECT max(seq) FROM audit_links) "
                        "FROM audit_chain_head WHERE id = 1")

    def position(self) -> tuple[int, int, int]:
        """The last sequenced entry's place in the order (generation, xact_id, id)."""
        return self.one("SELECT sequenced_generation, sequenced_xact, sequenced_entry FROM audit_chain_head "
                        "WHERE id = 1")

    def unlinked_entry(self) -> int | None:
        """The first entry that should have a link and has none: at or before the sequenced
        position on PostgreSQL; any entry on SQLite, where entries are linked as they are
        recorded and nothing would ever link one later."""
        where = "" if not self.postgresql else "(e.generation, e.xact_id, e.id) <= (?, ?, ?) AND "
        row = self.one("SELECT min(e.id) FROM audit_entries e WHERE " + where +  # noqa: S608 - fixed text
                       "NOT EXISTS (SELECT 1 FROM audit_links l WHERE l.entry_id = e.id)",
                       *(self.position() if self.postgresql else ()))
        return row[0] if row else None

    def backlog(self) -> tuple[int, Any]:
        """PostgreSQL: entries after the sequenced position, waiting for the sequencer, and the
        time the oldest of them was recorded."""
        if not self.postgresql:
            return 0, None
        count, oldest = self.one("SELECT count(*), min(occurred_at) FROM audit_entries "
                                 "WHERE (generation, xact_id, id) > (?, ?, ?)", *self.position())
        return count, (_utc(oldest) if oldest is not None else None)

    def entry_hash_at(self, seq: int) -> str | None:
        row = self.one("SELECT entry_hash FROM audit_links WHERE seq = ?", seq)
        return row[0] if row else None

    def seq_of_hash(self, value: str) -> int | None:
        row = self.one("SELECT seq FROM audit_links WHERE entry_hash = ?", value)
        return row[0] if row else None

    def checkpoint_lines(self) -> list[signing.CheckpointLine]:
        self.cursor.execute("SELECT seq, entry_hash, signed_at, key_id, signature FROM audit_checkpoints ORDER BY seq")
        return [signing.CheckpointLine(seq, value, timestamp_text(_utc(signed_at)), key, signature)
                for seq, value, signed_at, key, signature in self.cursor.fetchall()]

    def entries(self, start_seq: int, end_seq: int, progress=None) -> Iterator[tuple]:
        """Rows start_seq..end_seq in sequence order, VERIFY_BATCH sequence numbers at a time."""
        if self.postgresql:
            yield from self._pipelined_entries(start_seq, end_seq, progress)
            return
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
                following = self.one("SELECT min(seq) FROM audit_links WHERE seq >= ?", batch_end)
                if following is None or following[0].__class__ is not int:
                    return
                next_seq = following[0]

    def _pipelined_entries(self, start_seq: int, end_seq: int, progress=None) -> Iterator[tuple]:
        """PostgreSQL: the next batch is asked for before this one is hashed (psycopg's
        pipeline mode), so the server reads it while this process hashes: the two took
        turns before. The batches are ranges, so a gap needs no special case: the rows
        there are not, and verify() names what is missing."""
        driver = self.connection.driver_connection
        with driver.pipeline():
            pending = None
            for first in range(start_seq, end_seq + 1, VERIFY_BATCH):
                cursor = driver.cursor()
                cursor.execute(self.batch_sql, (first, min(first + VERIFY_BATCH, end_seq + 1)))
                if pending is not None:
                    yield from self._drain(pending, progress)
                pending = cursor
            if pending is not None:
                yield from self._drain(pending, progress)

    @staticmethod
    def _drain(cursor, progress) -> Iterator[tuple]:
        rows = cursor.fetchall()
        cursor.close()
        yield from rows
        if progress is not None and rows:
            progress(len(rows))


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
