"""Account lockout: N failed sign-ins within a window lock the account for that window.

Failures are rows in the database, not counters in a worker's memory, so every worker
and server counts the same attempts.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ForeignKey, Index, String, Uuid, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from .clock import UTCDateTime, utcnow
from .db import db
from .identity import User


class LoginFailure(db.Model):
    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_user_at", "user_id", "failed_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    stage: Mapped[str] = mapped_column(String(16))  # "password" or "totp"


def _window() -> timedelta:
    return timedelta(minutes=current_app.config["HOSO_LOCKOUT_WINDOW_MINUTES"])


def _failure_times(user: User) -> list:
    # Two windows back covers every failure that can still hold a lock now.
    return list(db.session.scalars(
        select(LoginFailure.failed_at)
        .where(LoginFailure.user_id == user.id, LoginFailure.failed_at > utcnow() - 2 * _window())
        .order_by(LoginFailure.failed_at)
    ))


def locked_until(user: User):
    """When the current lock ends, or None. A lock starts at the failure that makes
    THRESHOLD failures within one window and lasts one full window from then, however the
    earlier failures were spread (issue 2: "5 failures in 15 minutes")."""
    return _lock_end(_failure_times(user), utcnow())


def _lock_end(times: list, now):
    """The end of the lock the failure times (in order) hold at `now`, or None."""
    threshold = current_app.config["HOSO_LOCKOUT_THRESHOLD"]
    window = _window()
    until = None
    for index in range(threshold - 1, len(times)):
        if times[index] - times[index - threshold + 1] < window:
            end = times[index] + window
            if end > now and (until is None or end > until):
                until = end
    return until


def active_lockouts() -> int:
    """How many accounts are locked now (for the metrics): one statement over the failures
    of the last two windows, the same rule as locked_until."""
    now = utcnow()
    rows = db.session.execute(
        select(LoginFailure.user_id, LoginFailure.failed_at)
        .where(LoginFailure.failed_at > now - 2 * _window())
        .order_by(LoginFailure.user_id, LoginFailure.failed_at)).all()
    by_user: dict = {}
    for user_id, failed_at in rows:
        by_user.setdefault(user_id, []).append(failed_at)
    return sum(1 for times in by_user.values() if _lock_end(times, now) is not None)


def is_locked(user: User) -> bool:
    return locked_until(user) is not None


def record_failure(user: User, stage: str) -> bool:
    """Record one failure; True when this failure locks the account."""
    was_locked = is_locked(user)
    db.session.add(LoginFailure(user_id=user.id, stage=stage))
    db.session.flush()
    return not was_locked and is_locked(user)


def clear_failures(user: User) -> None:
    db.session.execute(delete(LoginFailure).where(LoginFailure.user_id == user.id))
