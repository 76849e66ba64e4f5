"""API clients of partner bodies and their bearer tokens (issue 21 §A.1).

A client belongs to one body (a unit) and acts through its own service account: a liaison
user of that body with `service_account` set, no password and no web sign-in, so findings
and audit entries name the client that wrote them and every liaison rule of the policy
applies to it unchanged.

A token is shown once and stored only as its SHA-256 (a token is 256 random bits, so a
slow password hash would add nothing but latency). Its text is `hoso_<id>_<secret>`: the
id finds the row, the secret is compared in constant time. Rotation issues a new token and
lets the old one live for a grace period, so a partner's system can switch without
downtime. Revoking the client ends every token at once.

Nothing here imports the layers above: the CLI and the admin pages that create, rotate and
revoke clients (with their audit entries) live in cases/partners/.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from flask import Response
from sqlalchemy import JSON, Date, ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .clock import UTCDateTime, utcnow
from .db import db
from .identity import Unit, User

TOKEN_PREFIX = "hoso_"  # noqa: S105 - the visible prefix of every token, not a secret


class ApiClient(db.Model):
    __tablename__ = "api_clients"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # What the admin calls it ("Hệ thống nghiệp vụ Công an tỉnh"): not a protected value.
    name: Mapped[str] = mapped_column(String(200))
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("units.id"), index=True)
    # The service account the client acts as (role liaison, the body's unit, a clearance).
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), unique=True)
    # Client addresses or networks allowed to call ("10.1.2.0/24"); empty: any address.
    allowed_networks: Mapped[list] = mapped_column(JSON, default=list)
    expires_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    unit: Mapped[Unit] = relationship(lazy="joined")
    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")


class ApiToken(db.Model):
    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_clients.id"), index=True)
    # SHA-256 of the whole token text, hex.
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set on the old token when the client's token is rotated: it works until then.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[ApiClient] = relationship(lazy="joined")


@dataclass(frozen=True)
class Refusal:
    """Why a bearer token was not accepted: a code for the audit trail (never the token)."""

    reason: str  # "missing", "malformed", "unknown", "expired", "revoked", "address", "disabled"


def issue_token(client: ApiClient) -> str:
    """A new token for `client` (its row added to the session); the text is returned once
    and never stored."""
    raise NotImplementedError


def rotate_token(client: ApiClient, *, grace_hours: int) -> str:
    """A new token; every other live token of the client now expires `grace_hours` from
    now (0: at once)."""
    raise NotImplementedError


def revoke_client(client: ApiClient) -> None:
    """The client and all its tokens stop working now; its service account is disabled."""
    raise NotImplementedError


def authenticate(token_text: str | None, remote_address: str | None) -> ApiClient | Refusal:
    """The client a bearer token belongs to, or why it is refused: unknown, revoked,
    expired (the token's grace or the client's expiry), disabled account, or a client
    address outside its allowed networks."""
    raise NotImplementedError


def authenticate_api_request() -> Response | None:
    """before_request for endpoints declaring an `api.*` permission (called by
    policy.enforce_request): reads `Authorization: Bearer`, never the session cookie. On
    success it makes the client's service account `current_user` for this request (and
    sets g.api_client); otherwise it answers 401 with a problem document."""
    raise NotImplementedError
