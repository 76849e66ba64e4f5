"""Server-side sign-in sessions, kept in the database so every worker and server agrees.

The browser holds only a random token inside Flask's signed cookie; the database holds
its SHA-256. Ending a row ends the sign-in everywhere at the next request.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Boolean, ForeignKey, String, Uuid, event, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from sqlalchemy.orm.attributes import set_committed_value

from . import hooks
from .clock import UTCDateTime, utcnow
from .db import db
from .identity import User
from .notices import any_unread

# last_seen_at is written at most this often, so a page of parallel requests does not
# queue on one row; the idle timeout is therefore exact to within this many seconds.
TOUCH_INTERVAL = timedelta(seconds=30)
# The touch is written as the request commits, not when the session is read at its start:
# a page's transaction holds no write lock while it reads (protection/db.py), and an early
# write would take the lock for the whole page. A request that fails writes no touch.
_TOUCH = "hoso.sessions.touch"


class EndReason(enum.StrEnum):
    SIGNED_OUT = "signed_out"
    IDLE = "idle_timeout"
    EXPIRED = "absolute_timeout"
    ENDED_BY_USER = "ended_by_user"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - an event name
    ACCOUNT_CHANGED = "account_changed"
    ACCOUNT_DISABLED = "account_disabled"
    LOCKED = "locked"
    ROTATED = "rotated"


class AuthSession(db.Model):
    __tablename__ = "auth_sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(32))
    # False until the second factor is verified (or enrolled) for this sign-in.
    second_factor_passed: Mapped[bool] = mapped_column(Boolean, default=False)
    # A TOTP secret being enrolled in this session, shown as a QR code until confirmed.
    pending_totp_secret: Mapped[str | None] = mapped_column(String(64))
    client_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))

    user: Mapped[User] = relationship(lazy="joined")

    @property
    def is_open(self) -> bool:
        return self.ended_at is None


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _idle_limit() -> timedelta:
    return timedelta(minutes=current_app.config["HOSO_IDLE_TIMEOUT_MINUTES"])


def _absolute_limit() -> timedelta:
    return timedelta(hours=current_app.config["HOSO_SESSION_LIFETIME_HOURS"])


def start_session(user: User, *, client_address: str | None, user_agent: str | None,
                  second_factor_passed: bool) -> tuple[AuthSession, str]:
    token = secrets.token_urlsafe(32)
    auth_session = AuthSession(
        id=uuid.uuid4(),
        token_hash=_hash_token(token),
        user=user,
        second_factor_passed=second_factor_passed,
        client_address=(client_address or "")[:64] or None,
        user_agent=(user_agent or "")[:200] or None,
    )
    db.session.add(auth_session)
    db.session.flush()
    return auth_session, token


def rotate_token(auth_session: AuthSession) -> str:
    """A fresh token when privilege rises (second factor passed, password changed)."""
    token = secrets.token_urlsafe(32)
    auth_session.token_hash = _hash_token(token)
    db.session.flush()
    return token


@dataclass(frozen=True)
class SessionCheck:
    auth_session: AuthSession | None
    ended_reason: EndReason | None = None
    # Whether the user had an unread security notice, asked in the same query (notices.py).
    unread_notices: bool | None = None
    # How many unread notifications the domain holds for them (the bell), asked in the same
    # query through the UNREAD_COUNT hook; None when no layer registered one.
    unread_notifications: int | None = None


def resolve_session(token: str) -> SessionCheck:
    """Find the open session for a cookie token, ending it if it has timed out."""
    if not token:
        return SessionCheck(None)
    columns = [AuthSession, any_unread(AuthSession.user_id)]
    count_unread = hooks.get(current_app, hooks.UNREAD_COUNT)
    if count_unread is not None:
        columns.append(count_unread(AuthSession.user_id))
    found = db.session.execute(select(*columns).where(AuthSession.token_hash == _hash_token(token))).first()
    if found is None or not found[0].is_open:
        return SessionCheck(None)
    auth_session, unread = found[0], found[1]
    notifications = found[2] if count_unread is not None else None
    now = utcnow()
    reason = None
    if not auth_session.user.active:
        reason = EndReason.ACCOUNT_DISABLED
    elif now - auth_session.created_at >= _absolute_limit():
        reason = EndReason.EXPIRED
    elif now - auth_session.last_seen_at >= _idle_limit():
        reason = EndReason.IDLE
    if reason is not None:
        end_session(auth_session, reason)
        return SessionCheck(None, reason)
    if now - auth_session.last_seen_at >= TOUCH_INTERVAL:
        db.session.info[_TOUCH] = (auth_session, now)
    return SessionCheck(auth_session, unread_notices=bool(unread), unread_notifications=notifications)


def end_session(auth_session: AuthSession, reason: EndReason) -> None:
    if auth_session.ended_at is None:
        auth_session.ended_at = utcnow()
        auth_session.end_reason = reason.value
        auth_session.pending_totp_secret = None
    db.session.flush()


def end_user_sessions(user: User, reason: EndReason, *, keep: AuthSession | None = None) -> int:
    """End every open session of `user` (but `keep`); returns how many ended."""
    statement = (
        update(AuthSession)
        .where(AuthSession.user_id == user.id, AuthSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason.value, pending_totp_secret=None)
        .execution_options(synchronize_session="fetch")
    )
    if keep is not None:
        statement = statement.where(AuthSession.id != keep.id)
    return db.session.execute(statement).rowcount


def open_sessions(user: User) -> list[AuthSession]:
    """The user's sessions that are still usable, newest first."""
    now = utcnow()
    rows = db.session.scalars(
        select(AuthSession)
        .where(AuthSession.user_id == user.id, AuthSession.ended_at.is_(None))
        .order_by(AuthSession.last_seen_at.desc())
    ).all()
    return [
        row for row in rows
        if now - row.created_at < _absolute_limit() and now - row.last_seen_at < _idle_limit()
    ]


def find_own_session(user: User, session_id: uuid.UUID) -> AuthSession | None:
    return db.session.scalar(
        select(AuthSession).where(AuthSession.id == session_id, AuthSession.user_id == user.id)
    )


@event.listens_for(Session, "before_commit")
def _write_touch(session: Session) -> None:
    touch = session.info.pop(_TOUCH, None)
    if touch is None:
        return
    auth_session, now = touch
    session.execute(update(AuthSession).where(AuthSession.id == auth_session.id).values(last_seen_at=now),
                    execution_options={"synchronize_session": False})
    set_committed_value(auth_session, "last_seen_at", now)


@event.listens_for(Session, "after_transaction_end")
def _forget_touch(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_TOUCH, None)
