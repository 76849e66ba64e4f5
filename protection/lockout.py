"""Account lockout: N failed sign-ins within a window lock the account for that window.

Failures are rows in the database, not counters in a worker's memory, so every worker
and server counts the same attempts.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import ForeignKey, Index, String, Uuid, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from .db import db
from .fields import UTCDateTime, utcnow
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


def _recent_failures(user: User) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.user_id == user.id, LoginFailure.failed_at > utcnow() - _window())
    ) or 0


def is_locked(user: User) -> bool:
    return _recent_failures(user) >= current_app.config["HOSO_LOCKOUT_THRESHOLD"]


def record_failure(user: User, stage: str) -> bool:
    """Record one failure; True when this failure locks the account."""
    db.session.add(LoginFailure(user_id=user.id, stage=stage))
    db.session.flush()
    return _recent_failures(user) == current_app.config["HOSO_LOCKOUT_THRESHOLD"]


def clear_failures(user: User) -> None:
    db.session.execute(delete(LoginFailure).where(LoginFailure.user_id == user.id))
