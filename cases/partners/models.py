"""What Hoso keeps about partner bodies' machines: exchange public keys, the ledger of
exchange packages sent and received, and the API's idempotency keys.

None of these holds a protected value: keys are public, the ledger holds ids and digests,
an idempotency row names the resource a retried call created.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from protection.clock import UTCDateTime, utcnow
from protection.db import db
from protection.identity import Unit, User


class ExchangeKey(db.Model):
    """A body's exchange public key (issue 21 §B.4): packages are encrypted to it and its
    answers verified with it. A new key replaces the old one (kept, with `replaced_at`, so
    the trail of which key was trusted when stays readable)."""

    __tablename__ = "exchange_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("units.id"), index=True)
    # The public bundle as `hoso-exchange keygen` prints it (protection/exchange/keys.py).
    public_key: Mapped[str] = mapped_column(String(400))
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    # The body's exchange account: the liaison service account its imported answers are
    # written as (findings name an author).
    service_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    registered_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    unit: Mapped[Unit] = relationship(lazy="joined")
    service_user: Mapped[User] = relationship(foreign_keys=[service_user_id])


class ExchangePackage(db.Model):
    """One package file, sent ("out") or imported ("in"). The package id is the primary key,
    so an answer package imported twice (a replay) is refused by the database as well as by
    the service."""

    __tablename__ = "exchange_packages"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("coordination_requests.id"), index=True)
    direction: Mapped[str] = mapped_column(String(4))  # "out" | "in"
    # The package an answer replies to (None for a request package).
    in_reply_to: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # SHA-256 of the package file as sent or received, hex: what the printout shows.
    sha256: Mapped[str] = mapped_column(String(64))
    key_fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))


class IdempotencyKey(db.Model):
    """An API write made with an `Idempotency-Key` header: the same key from the same client
    replays the first answer instead of writing again (issue 21 §A.2). Inserted in the
    write's own transaction, so a key exists iff its write committed."""

    __tablename__ = "api_idempotency_keys"
    __table_args__ = (UniqueConstraint("client_id", "key", name="uq_api_idempotency_client_key"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_clients.id"), index=True)
    key: Mapped[str] = mapped_column(String(200))
    # SHA-256 of method, path and body: the same key with another request is refused (422).
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
