"""API clients of partner bodies: creating, rotating and revoking them, with their audit
entries (issue 21 §A.1). The CLI (cli.py) and the admin pages (views.py) are thin over this.

A client acts as its own service account: a liaison of the body, with the clearance the
admin chose, no password that could ever verify and no web sign-in (accounts.sign_in
refuses it). Its token (protection/api_tokens.py) is returned once to the caller, which
shows it once; the trail records ids and counts, never the token.

Each function checks everything before it writes, so a refusal (ClientError) leaves
nothing behind; none commits: the request (or the CLI command) does.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import unicodedata
import uuid
from collections.abc import Iterable
from datetime import date

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from audit.trail import record
from protection import api_tokens
from protection.accounts import find_unit
from protection.api_tokens import ApiClient, live_tokens
from protection.db import db
from protection.i18n import SUPPORTED_LOCALES, local_today
from protection.identity import Clearance, Role, Unit, UnitKind, User

# The bodies a coordination request can be addressed to (coordination.coordinating_bodies):
# any active unit but a district committee. The organisation's own committee sends the
# requests; it is not a partner whose system answers them.
NOT_PARTNER_KINDS = frozenset({UnitKind.ORGANISATION, UnitKind.DISTRICT})
NAME_MAX = 200
NETWORKS_MAX = 20
# A rotation's grace longer than a month is a second token, not a switch-over.
GRACE_HOURS_MAX = 24 * 30
# The argon2 verifier refuses anything that is not one of its hashes: this never verifies,
# and sign_in refuses a service account before it would be asked anyway.
NO_PASSWORD = "!service-account"  # noqa: S105 - a marker that no password matches
SHORT_ID = 8


class ClientError(ValueError):
    """A refusal the admin can act on; `field` names the form field it belongs beside."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


# --- checks ---------------------------------------------------------------------------------

def partner_body(code: str) -> Unit:
    unit = find_unit(code)
    if unit is None:
        raise ClientError(_("Không có đơn vị với mã này."), "body")
    if not unit.active:
        raise ClientError(_("Đơn vị này đã ngừng hoạt động."), "body")
    if unit.kind in NOT_PARTNER_KINDS:
        raise ClientError(_("Chỉ đăng ký máy khách API cho cơ quan phối hợp nhận yêu cầu xác minh "
                            "(không phải cấp ủy huyện hay chính Ban)."), "body")
    return unit


def partner_bodies() -> list[Unit]:
    """The units a client can be registered for, for a form's choices."""
    return list(db.session.scalars(select(Unit).where(Unit.active.is_(True), Unit.kind.not_in(NOT_PARTNER_KINDS))
                                   .order_by(Unit.name)))


def _clean_name(name: str) -> str:
    text = " ".join((name or "").split())
    if not text:
        raise ClientError(_("Hãy nhập tên máy khách."), "name")
    # A NUL cannot be stored in PostgreSQL's text (a 500 there), and an escape sequence
    # would reach the terminal of whoever runs `api-clients list`.
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise ClientError(_("Tên máy khách không được chứa ký tự điều khiển."), "name")
    if len(text) > NAME_MAX:
        raise ClientError(_("Tên máy khách dài tối đa %(n)d ký tự.", n=NAME_MAX), "name")
    return text


def parse_networks(networks: Iterable[str]) -> list[str]:
    """Addresses or CIDR networks, written the standard way ("10.1.2.0/24"); a host bit
    set in a network ("10.1.2.3/24") is taken as the network it belongs to."""
    parsed: list[str] = []
    for text in networks:
        text = (text or "").strip()
        if not text:
            continue
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ClientError(_("Địa chỉ hoặc dải mạng không hợp lệ (ví dụ 10.1.2.0/24)."), "networks") from None
        if str(network) not in parsed:
            parsed.append(str(network))
    if len(parsed) > NETWORKS_MAX:
        raise ClientError(_("Nhiều nhất %(n)d địa chỉ hoặc dải mạng.", n=NETWORKS_MAX), "networks")
    return parsed


def _check_expiry(expires_on: date | None) -> None:
    if expires_on is not None and expires_on < local_today():
        raise ClientError(_("Ngày hết hạn đã qua."), "expires_on")


def _check_locale(locale: str | None) -> str | None:
    if locale in (None, ""):
        return None
    if locale not in SUPPORTED_LOCALES:
        raise ClientError(_("Ngôn ngữ không hợp lệ."), "locale")
    return locale


def _service_username(unit: Unit, client_id: uuid.UUID) -> str:
    code = re.sub(r"[^a-z0-9_-]", "-", unit.code.lower())
    return f"api.{code}.{client_id.hex[:SHORT_ID]}"


def _live(client: ApiClient) -> None:
    if client.revoked_at is not None:
        raise ClientError(_("Máy khách này đã bị thu hồi."), "client")


# --- operations -----------------------------------------------------------------------------

def create_client(*, body: Unit, name: str, clearance: Clearance = Clearance.CONFIDENTIAL,
                  expires_on: date | None = None, networks: Iterable[str] = (),
                  locale: str | None = None, by: User | None = None) -> tuple[ApiClient, str]:
    """A client of `body`, its service account and its first token (returned once)."""
    if not body.active or body.kind in NOT_PARTNER_KINDS:
        partner_body(body.code)  # raises the reason
    name = _clean_name(name)
    clearance = Clearance(clearance)
    _check_expiry(expires_on)
    allowed = parse_networks(networks)
    locale = _check_locale(locale)
    client_id = uuid.uuid4()
    account = User(id=uuid.uuid4(), username=_service_username(body, client_id), display_name=name, unit=body,
                   role=Role.LIAISON, clearance=clearance, active=True, password_hash=NO_PASSWORD,
                   must_change_password=False, locale=locale, service_account=True)
    # The random short id could meet an existing name only by a one-in-four-billion chance.
    if db.session.scalar(select(User.id).where(User.username == account.username)) is not None:
        account.username = f"{account.username}{secrets.token_hex(2)}"
    db.session.add(account)
    client = ApiClient(id=client_id, name=name, unit=body, user=account, allowed_networks=allowed,
                       expires_on=expires_on, created_by_id=by.id if by is not None else None)
    db.session.add(client)
    db.session.flush()
    token = api_tokens.issue_token(client)
    record("user.created", target_type="user", target_id=account.id, actor=by,
           fields=["username", "display_name", "unit", "role", "clearance"], service_account=True)
    record("api_client.create", target_type="api_client", target_id=client.id, actor=by, body=body.id,
           user_id=account.id, clearance=clearance.value, networks=len(allowed),
           expires_on=expires_on.isoformat() if expires_on else None)
    return client, token


def grace_hours_or_default(grace_hours: int | None) -> int:
    if grace_hours is None:
        return int(current_app.config["HOSO_API_TOKEN_GRACE_HOURS"])
    if grace_hours < 0 or grace_hours > GRACE_HOURS_MAX:
        raise ClientError(_("Thời gian chuyển tiếp từ 0 đến %(n)d giờ.", n=GRACE_HOURS_MAX), "grace_hours")
    return grace_hours


def rotate_client(client: ApiClient, *, grace_hours: int | None = None, by: User | None = None) -> str:
    """A new token (returned once); the client's other live tokens work `grace_hours` more
    (HOSO_API_TOKEN_GRACE_HOURS when not given), then stop."""
    _live(client)
    hours = grace_hours_or_default(grace_hours)
    previous = len(live_tokens(client))
    token = api_tokens.rotate_token(client, grace_hours=hours)
    record("api_client.rotate", target_type="api_client", target_id=client.id, actor=by, body=client.unit_id,
           grace_hours=hours, previous_tokens=previous)
    return token


def old_tokens_end(client: ApiClient):
    """When the last of the client's tokens but the newest stops working (after a
    rotation), or None when there is no other live token."""
    ends = [token.expires_at for token in live_tokens(client) if token.expires_at is not None]
    return max(ends) if ends else None


def revoke_client(client: ApiClient, *, by: User | None = None) -> None:
    """Every token of the client stops working now; its service account is disabled."""
    _live(client)
    tokens = len(live_tokens(client))
    was_active = client.user.active
    api_tokens.revoke_client(client)
    if was_active:
        record("user.disabled", target_type="user", target_id=client.user_id, actor=by, fields=["active"])
    record("api_client.revoke", target_type="api_client", target_id=client.id, actor=by, body=client.unit_id,
           user_id=client.user_id, tokens=tokens)


def list_clients() -> list[ApiClient]:
    return list(db.session.scalars(select(ApiClient).order_by(ApiClient.created_at, ApiClient.id)).unique())


SHORTEST_PREFIX = 4


def find_client(text_id: str) -> ApiClient:
    """The client whose id is `text_id` or starts with it (at least four hex digits, dashes
    optional): unknown and ambiguous prefixes are refused."""
    wanted = (text_id or "").strip().lower().replace("-", "")
    if not re.fullmatch(rf"[0-9a-f]{{{SHORTEST_PREFIX},32}}", wanted):
        raise ClientError(_("Mã máy khách gồm ít nhất %(n)d chữ số hệ 16.", n=SHORTEST_PREFIX), "client")
    if len(wanted) == 32:
        client = db.session.get(ApiClient, uuid.UUID(hex=wanted))
        if client is None:
            raise ClientError(_("Không có máy khách API với mã này."), "client")
        return client
    # Few clients ever exist (one or two per body): the prefix is matched here, not in SQL,
    # where a UUID column's text form differs between SQLite and PostgreSQL.
    found = [client for client in list_clients() if client.id.hex.startswith(wanted)]
    if not found:
        raise ClientError(_("Không có máy khách API với mã này."), "client")
    if len(found) > 1:
        raise ClientError(_("Có nhiều máy khách API bắt đầu bằng mã này: hãy nhập dài hơn."), "client")
    return found[0]


def client_state(client: ApiClient) -> str:
    """"active", "revoked", "expired" or "disabled" (its account disabled by an admin)."""
    if client.revoked_at is not None:
        return "revoked"
    if api_tokens.client_expired(client):
        return "expired"
    if not client.user.active:
        return "disabled"
    return "active"
