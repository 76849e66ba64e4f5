"""Checking a password against the organisation's directory (LDAP, issue 23), with ldap3.

The directory answers three questions and no more: does this person exist there, is this
their password, and which of the configured groups are they in (each group maps to one Hoso
role). Everything else (whether they may use Hoso at all, their unit, clearance, second
factor, lockout) is Hoso's own: see protection/accounts.py.

How it asks, on one connection per check:
1. connect (ldaps://, or ldap:// upgraded with StartTLS when HOSO_LDAP_START_TLS), checking
   the server's certificate against HOSO_LDAP_CA_FILE or the system's CAs;
2. bind as HOSO_LDAP_BIND_DN (or anonymously) and search HOSO_LDAP_BASE_DN (whole subtree)
   with HOSO_LDAP_USER_FILTER, where {username} becomes the escaped user name. The name was
   checked against Hoso's own username rule before (letters, digits, . _ -), so no filter
   syntax can reach the directory; escaping is the second lock on the same door (RFC 4515);
3. bind as the DN found with the password typed. An empty password is refused before that:
   a bind with a DN and no password is an "unauthenticated bind" that many servers answer
   with success (RFC 4513 §5.1.2);
4. read group membership as the service account: for each group in HOSO_LDAP_GROUP_ROLES, a
   base search of that group for (|(member=DN)(uniqueMember=DN)(memberUid=uid)), which covers
   groupOfNames, groupOfUniqueNames (OpenLDAP, 389-ds) and posixGroup; plus the user entry's
   own memberOf values when the server keeps them (Active Directory, OpenLDAP's memberof
   overlay). Only the configured groups matter, so no group base or group filter is needed.

A server that cannot be reached, times out or breaks the TLS handshake raises
DirectoryUnavailable; a refusal (no such user, wrong password, a disabled account, which
directories refuse at bind) is an answer, not an error.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

from flask import current_app
from ldap3 import BASE, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException, LDAPInvalidCredentialsResult
from ldap3.utils.conv import escape_filter_chars

from .settings import normalise_dn

# Attributes read from the user's entry: the display name and the server-kept memberships.
_USER_ATTRIBUTES = ("displayName", "cn", "memberOf")


class DirectoryUnavailable(Exception):  # noqa: N818 - a state of the world, as the user reads it
    """The directory could not be asked (down, unreachable, timed out, TLS refused, the
    service account refused). The message names no password."""


@dataclass(frozen=True)
class DirectoryResult:
    found: bool  # the user name matched exactly one entry
    password_ok: bool = False
    display_name: str = ""
    roles: tuple[str, ...] = field(default=())  # Hoso roles of the user's groups, in the configured order

    @property
    def role(self) -> str | None:
        """The role a new account gets: that of the first configured group the user is in."""
        return self.roles[0] if self.roles else None


def enabled(config=None) -> bool:
    return bool((config or current_app.config).get("HOSO_LDAP_URL"))


def authenticate(username: str, password: str) -> DirectoryResult:
    """Look `username` up and bind as them with `password`. The caller has checked the name
    against Hoso's username rule; raises DirectoryUnavailable when the directory cannot answer."""
    config = current_app.config
    try:
        with _service_connection(config) as service:
            entry = _find_user(service, config, username)
            if entry is None:
                return DirectoryResult(found=False)
            dn, attributes = entry
            if not password or not _password_binds(config, dn, password):
                return DirectoryResult(found=True)
            groups = {normalise_dn(value) for value in _values(attributes, "memberOf")}
            groups |= _member_groups(service, config, dn, username)
    except LDAPException as error:
        raise DirectoryUnavailable(_describe(error)) from None
    mapping: dict[str, str] = config["HOSO_LDAP_GROUP_ROLES"]
    roles = tuple(dict.fromkeys(role for group, role in mapping.items() if group in groups))
    display_name = (_values(attributes, "displayName") or _values(attributes, "cn") or [username])[0]
    return DirectoryResult(found=True, password_ok=True, display_name=str(display_name).strip()[:200],
                           roles=roles)


def _server(config) -> Server:
    url = config["HOSO_LDAP_URL"]
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=config["HOSO_LDAP_CA_FILE"],
              version=ssl.PROTOCOL_TLS_CLIENT)
    timeout = config["HOSO_LDAP_TIMEOUT_SECONDS"]
    # get_info=NONE: no schema or root DSE read at connect, one round trip less per sign-in.
    return Server(url, tls=tls, connect_timeout=timeout, get_info=NONE)


def _connection(config, user: str | None = None, password: str | None = None) -> Connection:
    connection = Connection(_server(config), user=user, password=password,
                            receive_timeout=config["HOSO_LDAP_TIMEOUT_SECONDS"], raise_exceptions=False,
                            read_only=True, auto_referrals=False)
    connection.open()
    if config["HOSO_LDAP_START_TLS"] and not connection.start_tls():
        connection.unbind()
        raise DirectoryUnavailable("StartTLS was refused")
    return connection


def _service_connection(config) -> Connection:
    connection = _connection(config, config["HOSO_LDAP_BIND_DN"], config["HOSO_LDAP_BIND_PASSWORD"])
    if not connection.bind():
        result = connection.result or {}
        connection.unbind()
        # The service account's own bind failing is a configuration fault, not the user's:
        # they cannot sign in until it is fixed, as when the server is down.
        raise DirectoryUnavailable(f"the service bind was refused ({result.get('description', 'unknown')})")
    return connection


def _find_user(connection: Connection, config, username: str) -> tuple[str, dict] | None:
    search_filter = config["HOSO_LDAP_USER_FILTER"].replace("{username}", escape_filter_chars(username))
    connection.search(config["HOSO_LDAP_BASE_DN"], search_filter, search_scope=SUBTREE,
                      attributes=list(_USER_ATTRIBUTES), size_limit=2,
                      time_limit=max(1, int(config["HOSO_LDAP_TIMEOUT_SECONDS"])))
    entries = [item for item in connection.response or () if item.get("type") == "searchResEntry"]
    if len(entries) != 1:
        # None, or a filter that matches two people: never guess which one typed.
        return None
    return entries[0]["dn"], entries[0].get("attributes") or {}


def _password_binds(config, dn: str, password: str) -> bool:
    connection = _connection(config, dn, password)
    try:
        return bool(connection.bind())
    except LDAPInvalidCredentialsResult:
        return False
    finally:
        connection.unbind()


def _member_groups(connection: Connection, config, dn: str, username: str) -> set[str]:
    escaped_dn, escaped_name = escape_filter_chars(dn), escape_filter_chars(username)
    member_filter = f"(|(member={escaped_dn})(uniqueMember={escaped_dn})(memberUid={escaped_name}))"
    found = set()
    for group in config["HOSO_LDAP_GROUP_ROLES"]:
        connection.search(group, member_filter, search_scope=BASE, attributes=[])
        if any(item.get("type") == "searchResEntry" for item in connection.response or ()):
            found.add(group)
    return found


def _values(attributes: dict, name: str) -> list:
    for key, value in attributes.items():
        if key.lower() == name.lower():
            return list(value) if isinstance(value, (list, tuple)) else [value]
    return []


def _describe(error: LDAPException) -> str:
    # ldap3's messages name the server and the failure, never the bind password.
    return f"{type(error).__name__}: {error}"[:300]
