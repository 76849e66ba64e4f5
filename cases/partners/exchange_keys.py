"""Registering a partner body's exchange key (issue 21 §B.4), and the body's exchange account.

An admin pastes the public line the body's `hoso-exchange keygen` printed, after comparing
its fingerprint with the body by phone or on paper. Packages to the body are encrypted to
that key and its answers must be signed by it. A new key replaces the old one; the old row
stays (`replaced_at`), so which key was trusted when stays readable. Replacing is audited and
told to the admins and to the officers with open requests to the body that went out as
packages (an answer signed with the old key will now be refused).

The body's exchange account is a liaison of the body with `service_account` set: imported
findings name it as their author and the imported steps as their actor. It has a password
hash that never verifies (no web sign-in), and the clearance the admin chose: what a package
to the body may carry is what that account may see on the liaison page.
"""

from __future__ import annotations

import uuid

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from audit.trail import record
from cases.casework.operations import CaseError
from cases.coordination import exchange
from cases.coordination import operations as coordination
from cases.notifications import events
from cases.partners.models import ExchangeKey
from protection import accounts, policy
from protection.accounts import AccountError, NewUser
from protection.clock import utcnow
from protection.db import db
from protection.exchange import keys
from protection.identity import Clearance, Role, Unit, User

# Not an argon2 hash: protection/passwords.verify_password answers False for it whatever is
# typed, so the account can never sign in on the web.
UNUSABLE_PASSWORD_HASH = "!exchange-service-account: no password"  # noqa: S105 - a marker, not a secret


def exchange_username(unit: Unit) -> str:
    return f"exchange.{unit.code.lower()}"


def body_rows() -> list[tuple[Unit, ExchangeKey | None]]:
    """Each body a request can be addressed to, with its current key (or None)."""
    bodies = coordination.addressable_bodies()
    current = {row.unit_id: row for row in db.session.scalars(
        select(ExchangeKey).where(ExchangeKey.replaced_at.is_(None),
                                  ExchangeKey.unit_id.in_([unit.id for unit in bodies])))} if bodies else {}
    return [(unit, current.get(unit.id)) for unit in bodies]


def load_body(unit_id: uuid.UUID) -> Unit:
    """A body a request can be addressed to; 404 for any other unit."""
    unit = db.session.get(Unit, unit_id)
    if unit is None or unit not in coordination.addressable_bodies():
        policy.deny("partners.manage", status=404)
    return unit


def key_history(unit: Unit) -> list[ExchangeKey]:
    return list(db.session.scalars(select(ExchangeKey).where(ExchangeKey.unit_id == unit.id)
                                   .order_by(ExchangeKey.registered_at.desc())))


def exchange_account(unit: Unit) -> User | None:
    user = accounts.find_user(exchange_username(unit))
    return user if user is not None and user.service_account else None


def register_key(unit: Unit, public_line: str, clearance: str, *, by: User) -> ExchangeKey:
    """Register `public_line` as the body's key (replacing the current one), with its
    exchange account at `clearance`. The same key again only changes the clearance.
    CaseError beside the field otherwise: not a public line, the organisation's own key, a
    key another body registered, an unknown clearance."""
    try:
        public = keys.parse_public((public_line or "").strip())
    except keys.KeyError_ as error:
        raise CaseError(str(error), "public_key") from None
    if public.fingerprint == exchange.organisation_public().fingerprint:
        raise CaseError(_("Đây là khóa của chính Tỉnh ủy, không phải khóa của cơ quan phối hợp."), "public_key")
    taken = db.session.scalar(select(ExchangeKey.unit_id).where(
        ExchangeKey.fingerprint == public.fingerprint, ExchangeKey.replaced_at.is_(None),
        ExchangeKey.unit_id != unit.id).limit(1))
    if taken is not None:
        raise CaseError(_("Khóa này đang được đăng ký cho một cơ quan khác: mỗi cơ quan có khóa riêng."),
                        "public_key")
    try:
        level = Clearance(clearance)
    except ValueError:
        raise CaseError(_("Mức tiếp cận bí mật không hợp lệ."), "clearance") from None
    current = exchange.current_key(unit.id)
    if current is not None and current.fingerprint == public.fingerprint \
            and current.service_user.clearance == level:
        raise CaseError(_("Khóa này đã được đăng ký cho cơ quan, với cùng mức tiếp cận."), "public_key")
    account = _ensure_account(unit, level, by=by)
    if current is not None and current.fingerprint == public.fingerprint:
        return current  # only the clearance changed (audited as the account's update)
    now = utcnow()
    if current is not None:
        current.replaced_at = now
    row = ExchangeKey(id=uuid.uuid4(), unit_id=unit.id, public_key=public.line, fingerprint=public.fingerprint,
                      service_user_id=account.id, registered_at=now, registered_by_id=by.id)
    db.session.add(row)
    db.session.flush()
    record("exchange_key.replace" if current is not None else "exchange_key.register", target_type="unit",
           target_id=unit.id, actor=by, key=row.id, fingerprint=row.fingerprint,
           old_fingerprint=current.fingerprint if current is not None else None, clearance=level.value,
           account=account.id)
    if current is not None:
        events.exchange_key_changed(unit, row, exchange.open_exported_requests(unit.id), by=by)
    return row


def _ensure_account(unit: Unit, level: Clearance, *, by: User) -> User:
    """The body's exchange account at `level`: made at the first registration, its
    clearance changed (and audited, as any account's) when the admin chose another."""
    username = exchange_username(unit)
    user = accounts.find_user(username)
    try:
        if user is None:
            with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE", "vi")):
                name = _("Trao đổi gói — %(unit)s", unit=unit.name)[:200]
            user, _password = accounts.create_user(NewUser(username, name, unit.code, Role.LIAISON.value, level.value),
                                                   password=None, by=by, must_change_password=False)
            user.service_account = True
            user.password_hash = UNUSABLE_PASSWORD_HASH
            db.session.flush()
            return user
        if not user.service_account or user.unit_id != unit.id or user.role != Role.LIAISON:
            raise CaseError(_("Tên đăng nhập %(username)s đã được dùng cho một tài khoản khác: hãy đổi tên tài "
                              "khoản đó trước.", username=username), "public_key")
        if user.clearance != level:
            accounts.update_user(user, by=by, display_name=user.display_name, unit_code=unit.code,
                                 role=Role.LIAISON.value, clearance=level.value)
    except AccountError as error:
        raise CaseError(error.message, "clearance") from None
    return user
