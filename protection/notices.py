"""In-app notices that tell a user their password or second factor changed.

If someone else changed them, the real owner learns it at their next page view.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, ForeignKey, String, Uuid, exists, select, update
from sqlalchemy.orm import Mapped, mapped_column

from .clock import UTCDateTime, utcnow
from .db import db
from .identity import User


class NoticeKind(enum.StrEnum):
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - an event name
    PASSWORD_RESET = "password_reset"  # noqa: S105 - an event name
    SECOND_FACTOR_ENROLLED = "second_factor_enrolled"
    SECOND_FACTOR_RESET = "second_factor_reset"
    ACCOUNT_LOCKED = "account_locked"
    SECURITY_KEY_ADDED = "security_key_added"
    SECURITY_KEY_REMOVED = "security_key_removed"
    SECURITY_KEYS_RESET = "security_keys_reset"

    @property
    def message(self) -> str:
        return str(NOTICE_MESSAGES[self])


NOTICE_MESSAGES = {
    NoticeKind.PASSWORD_CHANGED: _l("Mật khẩu của bạn đã được đổi."),
    NoticeKind.PASSWORD_RESET: _l("Quản trị viên đã đặt lại mật khẩu của bạn."),
    NoticeKind.SECOND_FACTOR_ENROLLED: _l("Xác thực hai lớp (ứng dụng tạo mã) đã được thiết lập cho tài khoản của bạn."),
    NoticeKind.SECOND_FACTOR_RESET: _l("Quản trị viên đã gỡ xác thực hai lớp của bạn."),
    NoticeKind.ACCOUNT_LOCKED: _l("Tài khoản của bạn đã bị tạm khóa vì đăng nhập sai nhiều lần."),
    NoticeKind.SECURITY_KEY_ADDED: _l("Một khóa bảo mật mới đã được đăng ký cho tài khoản của bạn."),
    NoticeKind.SECURITY_KEY_REMOVED: _l("Một khóa bảo mật đã được gỡ khỏi tài khoản của bạn."),
    NoticeKind.SECURITY_KEYS_RESET: _l("Quản trị viên đã gỡ mọi khóa bảo mật của bạn."),
}


class SecurityNotice(db.Model):
    __tablename__ = "security_notices"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def message(self) -> str:
        try:
            return NoticeKind(self.kind).message
        except ValueError:
            return self.kind


_NOTIFIED = "hoso.notices.notified"


def notify(user: User, kind: NoticeKind) -> None:
    db.session.add(SecurityNotice(user_id=user.id, kind=kind.value))
    db.session.info.setdefault(_NOTIFIED, set()).add(user.id)


def any_unread(user_id: ColumnElement) -> ColumnElement[bool]:
    """SQL: whether the user has an unread notice. protection/sessions.py asks it in the
    query that resolves the sign-in, so a page queries the notices themselves only when
    there is one to show (almost never) instead of on every page view."""
    return exists().where(SecurityNotice.user_id == user_id, SecurityNotice.read_at.is_(None))


def may_have_unread(user: User, unread_at_sign_in_check: bool | None) -> bool:
    """Whether the page must look for the user's unread notices: there were some when the
    request resolved its sign-in (None: not known), or this request notified the user."""
    return unread_at_sign_in_check is not False or user.id in db.session.info.get(_NOTIFIED, ())


def unread_notices(user: User) -> list[SecurityNotice]:
    return list(db.session.scalars(
        select(SecurityNotice)
        .where(SecurityNotice.user_id == user.id, SecurityNotice.read_at.is_(None))
        .order_by(SecurityNotice.created_at)
    ))


def mark_read(user: User) -> None:
    db.session.execute(
        update(SecurityNotice)
        .where(SecurityNotice.user_id == user.id, SecurityNotice.read_at.is_(None))
        .values(read_at=utcnow())
    )
