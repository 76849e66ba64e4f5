"""Directory users waiting for an admin (issue 23): the list, confirming and refusing.

A right directory password proves who someone is, not that Hoso should know them: the first
sign-in only leaves a request (protection/accounts.py), and an admin confirms it with the
unit and clearance Hoso keeps itself. The role is the one the directory's groups map to,
and the admin cannot pick another: the directory must never give more than it says, and
Hoso never gives more than the directory says (each sign-in checks the group again).
"""

from __future__ import annotations

import uuid

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from . import signals
from .accounts import DIRECTORY_PASSWORD, AccountError, _parse_clearance, find_unit, find_user
from .clock import utcnow
from .db import db
from .identity import DirectoryRequest, User


def pending() -> list[DirectoryRequest]:
    return list(db.session.scalars(select(DirectoryRequest).where(DirectoryRequest.decision.is_(None))
                                   .order_by(DirectoryRequest.first_seen_at, DirectoryRequest.username)))


def by_id(request_id: uuid.UUID) -> DirectoryRequest | None:
    return db.session.get(DirectoryRequest, request_id)


def _still_pending(request: DirectoryRequest) -> None:
    if request.decision is not None:
        raise AccountError(_("Yêu cầu này đã được xử lý."))


def confirm(request: DirectoryRequest, *, unit_code: str, clearance: str, by: User) -> User:
    """Make the directory user's Hoso account: their mapped role, the unit and clearance given."""
    _still_pending(request)
    level = _parse_clearance(clearance)
    unit = find_unit(unit_code)
    if unit is None or not unit.active:
        raise AccountError(_("Không có đơn vị với mã này."), "unit")
    if find_user(request.username) is not None:
        raise AccountError(_("Tên đăng nhập đã được dùng cho một tài khoản Hoso khác."))
    user = User(id=uuid.uuid4(), username=request.username, display_name=request.display_name, unit=unit,
                role=request.mapped_role, clearance=level, active=True, password_hash=DIRECTORY_PASSWORD,
                must_change_password=False, auth_source="directory")
    db.session.add(user)
    db.session.flush()
    request.decision, request.decided_by, request.decided_at, request.user = "confirmed", by, utcnow(), user
    db.session.flush()
    app = current_app._get_current_object()
    signals.user_changed.send(app, user=user, by=by, change="created",
                              fields=("username", "display_name", "unit", "role", "clearance", "auth_source"))
    signals.directory_request_changed.send(app, request=request, by=by, change="confirmed")
    return user


def refuse(request: DirectoryRequest, *, by: User) -> None:
    """No account; later sign-ins with the right password are told the admin said no."""
    _still_pending(request)
    request.decision, request.decided_by, request.decided_at = "refused", by, utcnow()
    db.session.flush()
    signals.directory_request_changed.send(current_app._get_current_object(), request=request, by=by,
                                           change="refused")
