"""Audit tables. Rows of the entries, the links and the checkpoints are only ever inserted:
database triggers reject UPDATE and DELETE (see the migrations), and the README shows the
PostgreSQL roles: the app's may insert entries, only the sequencer's may write links, the
head and checkpoints.

Recording and sequencing are separate (issue 22). An action's transaction inserts its
entry and nothing else of the chain; the chain itself is the links: link `seq` says that
entry `entry_id` follows the link before it, `entry_hash = SHA-256(prev_hash, the entry's
fields)` (audit/chain.py). On SQLite the link is written in the entry's own transaction; on
PostgreSQL the sequencer (audit/sequencer.py) links committed entries in batches, in the
order (generation, xact_id, id).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from protection.clock import UTCDateTime
from protection.db import db

# SQLite assigns a rowid only to a column declared exactly INTEGER PRIMARY KEY.
ENTRY_ID = BigInteger().with_variant(Integer(), "sqlite")


class AuditEntry(db.Model):
    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_target", "target_type", "target_id"),
        Index("ix_audit_entries_actor", "actor_id"),
        Index("ix_audit_entries_occurred_at", "occurred_at"),
        Index("ix_audit_entries_action", "action"),
        Index("ix_audit_entries_order", "generation", "xact_id", "id"),
    )

    # Entries recorded before issue 22 keep the number their link has (their old `seq`).
    id: Mapped[int] = mapped_column(ENTRY_ID, primary_key=True, autoincrement=True)
    # The sequencing order. On PostgreSQL a trigger stamps both (the head's generation and
    # pg_current_xact_id()) unless a restore brings them; on SQLite xact_id is 0.
    generation: Mapped[int] = mapped_column(Integer)
    xact_id: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_role: Mapped[str | None] = mapped_column(String(16))
    actor_unit: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    client_address: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text)  # canonical JSON; identifiers and field names only


class AuditLink(db.Model):
    """One entry's place in the chain."""

    __tablename__ = "audit_links"

    # Assigned under the chain-head lock from head + 1, never by a database sequence:
    # sequence values are not rolled back, and a gap must mean a deletion.
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry_id: Mapped[int] = mapped_column(BigInteger, unique=True)  # no entry is linked twice
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


class ChainHead(db.Model):
    """One row: the newest link, the last checkpoint, and where sequencing stands. The
    sequencer (or, on SQLite, the recording transaction) locks it, so the chain never forks."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    entry_hash: Mapped[str] = mapped_column(String(64))
    last_checkpoint_seq: Mapped[int] = mapped_column(BigInteger)
    last_checkpoint_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The generation new entries are stamped with. The sequencer starts a new one when the
    # database's transaction ids are behind the trail (a restore into another cluster).
    generation: Mapped[int] = mapped_column(Integer)
    # The last sequenced entry's place in the order (generation, xact_id, id): every entry
    # at or before it has a link, every entry after it is pending.
    sequenced_generation: Mapped[int] = mapped_column(Integer)
    sequenced_xact: Mapped[int] = mapped_column(BigInteger)
    sequenced_entry: Mapped[int] = mapped_column(BigInteger)


class Checkpoint(db.Model):
    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[str] = mapped_column(String(128))
