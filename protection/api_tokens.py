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

import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import Response, current_app, g, request
from flask.globals import request_ctx
from flask.sessions import SecureCookieSession
from flask_babel import gettext as _
from sqlalchemy import JSON, Date, ForeignKey, String, UniqueConstraint, Uuid, event, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from . import signals
from .clock import UTCDateTime, utcnow
from .db import db
from .i18n import local_today
from .identity import Unit, User
from .problems import problem

log = logging.getLogger(__name__)

TOKEN_PREFIX = "hoso_"  # noqa: S105 - the visible prefix of every token, not a secret
# hoso_<token id, 32 hex>_<secret: token_urlsafe(32), 43 characters of A-Z a-z 0-9 _ ->.
TOKEN_PATTERN = re.compile(r"^hoso_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$")
# A client's last use is written at most this often: a partner polling every second must not
# turn every read into a write of its client row.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# RFC 6750 §3: what a refused bearer token is told, whatever the reason.
CHALLENGE = 'Bearer realm="hoso", error="invalid_token"'

# A refused token, announced for the audit trail (the kernel never imports audit; the
# receiver is connected per app by cases/partners): client (or None), reason, endpoint.
# Sent inside a transaction of its own that the sender commits, as policy.record_denial
# does, because the 401 answer rolls the request's own unit of work back.


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
    client: ApiClient | None = None  # known once the token's id and secret matched




def _digest(token_text: str) -> str:
    return hashlib.sha256(token_text.encode("utf-8")).hexdigest()


def issue_token(client: ApiClient) -> str:
    """A new token for `client` (its row added to the session); the text is returned once
    and never stored."""
    token_id = uuid.uuid4()
    text = f"{TOKEN_PREFIX}{token_id.hex}_{secrets.token_urlsafe(32)}"
    db.session.add(ApiToken(id=token_id, client_id=client.id, token_hash=_digest(text)))
    db.session.flush()
    return text


def live_tokens(client: ApiClient, *, at: datetime | None = None) -> list[ApiToken]:
    """The client's tokens that still work at `at` (now): not revoked, not past a grace end."""
    moment = at or utcnow()
    tokens = db.session.scalars(select(ApiToken).where(ApiToken.client_id == client.id,
                                                       ApiToken.revoked_at.is_(None)))
    return [token for token in tokens if token.expires_at is None or token.expires_at > moment]


def rotate_token(client: ApiClient, *, grace_hours: int) -> str:
    """A new token; every other live token of the client now expires `grace_hours` from
    now (0: at once)."""
    now = utcnow()
    grace_end = now + timedelta(hours=grace_hours)
    for token in live_tokens(client, at=now):
        # A token already given a shorter grace by an earlier rotation keeps it.
        if token.expires_at is None or token.expires_at > grace_end:
            token.expires_at = grace_end
    return issue_token(client)


def revoke_client(client: ApiClient) -> None:
    """The client and all its tokens stop working now; its service account is disabled."""
    now = utcnow()
    client.revoked_at = now
    for token in db.session.scalars(select(ApiToken).where(ApiToken.client_id == client.id,
                                                           ApiToken.revoked_at.is_(None))):
        token.revoked_at = now
    client.user.active = False
    db.session.flush()


def client_of(user: User) -> ApiClient | None:
    """The API client a service account acts for (None for any other account)."""
    if not user.service_account:
        return None
    return db.session.scalar(select(ApiClient).where(ApiClient.user_id == user.id))


def revoked_client_of(user: User) -> bool:
    client = client_of(user)
    return client is not None and client.revoked_at is not None


def client_expired(client: ApiClient) -> bool:
    """`expires_on` is the last day the client works, a day of Vietnam's calendar."""
    return client.expires_on is not None and local_today() > client.expires_on


def address_allowed(networks: list | None, remote_address: str | None) -> bool:
    if not networks:
        return True
    try:
        address = ipaddress.ip_address((remote_address or "").split("%")[0])
    except ValueError:
        return False
    candidates = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)  # ::ffff:10.1.2.3 from a dual-stack listener
    for text in networks:
        network = ipaddress.ip_network(text, strict=False)
        if any(candidate.version == network.version and candidate in network for candidate in candidates):
            return True
    return False


def authenticate(token_text: str | None, remote_address: str | None) -> ApiClient | Refusal:
    """The client a bearer token belongs to, or why it is refused: unknown, revoked,
    expired (the token's grace or the client's expiry), disabled account, or a client
    address outside its allowed networks."""
    if not token_text:
        return Refusal("missing")
    match = TOKEN_PATTERN.match(token_text)
    if match is None:
        return Refusal("malformed")
    token = db.session.get(ApiToken, uuid.UUID(hex=match.group(1)))
    # Compared in constant time: the row was found by its id, which is not secret.
    if token is None or not hmac.compare_digest(token.token_hash, _digest(token_text)):
        return Refusal("unknown")
    client = token.client
    if client.revoked_at is not None or token.revoked_at is not None:
        return Refusal("revoked", client)
    if (token.expires_at is not None and token.expires_at <= utcnow()) or client_expired(client):
        return Refusal("expired", client)
    if not client.user.active:
        return Refusal("disabled", client)
    if not address_allowed(client.allowed_networks, remote_address):
        return Refusal("address", client)
    return client


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _space, value = header.partition(" ")
    if not header:
        return None
    if scheme.lower() != "bearer":
        return "-"  # another scheme (Basic, a cookie copied in): malformed, never read
    return value.strip()


def forget_the_cookie_session() -> None:
    """This request has no cookie session and no signed-in web user: whatever cookie came
    with it is never read, and (the session being empty and unchanged) the answer sets none.
    For every request under /api/ (policy.enforce_request), the public reference pages too:
    their rendering must not load, touch or end the browser's web session."""
    # Flask-Login's per-request user, set before anything asks for current_user: with it
    # set, Flask-Login never loads a user from the cookie.
    g._login_user = current_app.login_manager.anonymous_user()
    # The context's own attribute: Flask offers no setter, and the cookie it opened must go.
    request_ctx._session = SecureCookieSession()


def authenticate_api_request() -> Response | None:
    """before_request for endpoints declaring an `api.*` permission (called by
    policy.enforce_request): reads `Authorization: Bearer`, never the session cookie. On
    success it makes the client's service account `current_user` for this request (and
    sets g.api_client); otherwise it answers 401 with a problem document."""
    forget_the_cookie_session()
    outcome = authenticate(_bearer_token(), request.remote_addr)
    if isinstance(outcome, Refusal):
        return _refuse(outcome)
    g._login_user = outcome.user
    g.api_client = outcome
    _note_use(outcome)
    return None


def _refuse(refusal: Refusal) -> Response:
    db.session.rollback()
    signals.api_token_refused.send(current_app._get_current_object(), client=refusal.client, reason=refusal.reason,
                           endpoint=request.endpoint)
    db.session.commit()
    log.info("API token refused: reason=%s client=%s endpoint=%s", refusal.reason,
             refusal.client.id if refusal.client is not None else "-", request.endpoint)
    # One detail for every reason: which check failed is for the audit trail, not the caller.
    return problem(401, _("Mã truy cập API không hợp lệ, đã hết hạn hoặc đã bị thu hồi."),
                   headers={"WWW-Authenticate": CHALLENGE})


# --- last use ------------------------------------------------------------------------------

_LAST_USED = "hoso.api.last_used"


def _note_use(client: ApiClient) -> None:
    """Remember to write the client's last use when the request commits (once a minute at
    most). Not an attribute change: an autoflush would take SQLite's write lock at the first
    query of a read, which the request's reads-first transaction avoids."""
    now = utcnow()
    if client.last_used_at is None or now - client.last_used_at >= LAST_USED_RESOLUTION:
        db.session.info[_LAST_USED] = (client.id, now)


@event.listens_for(Session, "before_commit")
def _write_last_use(session: Session) -> None:
    pending = session.info.pop(_LAST_USED, None)
    if pending is not None:
        client_id, moment = pending
        session.execute(update(ApiClient).where(ApiClient.id == client_id).values(last_used_at=moment))


@event.listens_for(Session, "after_rollback")
def _forget_last_use(session: Session) -> None:
    session.info.pop(_LAST_USED, None)
