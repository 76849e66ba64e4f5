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

import math
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import current_app

from .settings import normalise_dn

if TYPE_CHECKING:
    from ldap3 import Connection, Server

# ldap3 is imported on first use (_ldap3()), not with the kernel: an installation without a
# directory never loads it.

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
    ldap3 = _ldap3()
    try:
        with _open_service_connection(config) as service:
            entry = _find_user(service, config, username)
            if entry is None:
                return DirectoryResult(found=False)
            dn, attributes = entry
            if not password or not _password_binds(config, dn, password):
                return DirectoryResult(found=True)
            groups = {normalise_dn(value) for value in _values(attributes, "memberOf")}
            groups |= _member_groups(service, config, dn, username)
    except ldap3.core.exceptions.LDAPException as error:
        raise DirectoryUnavailable(_describe(error)) from None
    mapping: dict[str, str] = config["HOSO_LDAP_GROUP_ROLES"]
    roles = tuple(dict.fromkeys(role for group, role in mapping.items() if group in groups))
    display_name = (_values(attributes, "displayName") or _values(attributes, "cn") or [username])[0]
    return DirectoryResult(found=True, password_ok=True, display_name=str(display_name).strip()[:200],
                           roles=roles)


def _ldap3():
    import ldap3  # late: only an installation with a directory loads it (see the top)
    import ldap3.core.exceptions  # late: as above
    import ldap3.utils.conv  # late: as above

    return ldap3


def _server(config) -> Server:
    ldap3 = _ldap3()
    url = config["HOSO_LDAP_URL"]
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=config["HOSO_LDAP_CA_FILE"],
              version=ssl.PROTOCOL_TLS_CLIENT)
    timeout = config["HOSO_LDAP_TIMEOUT_SECONDS"]
    # get_info=NONE: no schema or root DSE read at connect, one round trip less per sign-in.
    return ldap3.Server(url, tls=tls, connect_timeout=timeout, get_info=ldap3.NONE)


def _connection(config, user: str | None = None, password: str | None = None) -> Connection:
    """Opened (and upgraded with StartTLS when configured), not yet bound; the caller unbinds."""
    connection = _ldap3().Connection(_server(config), user=user, password=password,
                            # whole seconds: ldap3 packs it into SO_RCVTIMEO as an integer
                            receive_timeout=max(1, math.ceil(config["HOSO_LDAP_TIMEOUT_SECONDS"])),
                            raise_exceptions=False,
                            read_only=True, auto_referrals=False)
    try:
        connection.open()
        if config["HOSO_LDAP_START_TLS"] and not connection.start_tls():
            raise DirectoryUnavailable("StartTLS was refused")
    except BaseException:
        connection.unbind()
        # ldap3 leaves the socket of a failed connect open (unbind() sees a closed connection):
        # closed here, or each sign-in while the directory is down would leak a descriptor.
        if getattr(connection, "socket", None) is not None:
            connection.socket.close()
        raise
    return connection


@contextmanager
def _open_service_connection(config) -> Iterator[Connection]:
    connection = _connection(config, config["HOSO_LDAP_BIND_DN"], config["HOSO_LDAP_BIND_PASSWORD"])
    try:
        if not connection.bind():
            result = connection.result or {}
            # The service account's own bind failing is a configuration fault, not the user's:
            # they cannot sign in until it is fixed, as when the server is down.
            raise DirectoryUnavailable(f"the service bind was refused ({result.get('description', 'unknown')})")
        yield connection
    finally:
        connection.unbind()


def _find_user(connection: Connection, config, username: str) -> tuple[str, dict] | None:
    ldap3 = _ldap3()
    search_filter = config["HOSO_LDAP_USER_FILTER"].replace("{username}", ldap3.utils.conv.escape_filter_chars(username))
    connection.search(config["HOSO_LDAP_BASE_DN"], search_filter, search_scope=ldap3.SUBTREE,
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
    except _ldap3().core.exceptions.LDAPInvalidCredentialsResult:
        return False
    finally:
        connection.unbind()


def _member_groups(connection: Connection, config, dn: str, username: str) -> set[str]:
    ldap3 = _ldap3()
    escape = ldap3.utils.conv.escape_filter_chars
    escaped_dn, escaped_name = escape(dn), escape(username)
    member_filter = f"(|(member={escaped_dn})(uniqueMember={escaped_dn})(memberUid={escaped_name}))"
    found = set()
    for group in config["HOSO_LDAP_GROUP_ROLES"]:
        connection.search(group, member_filter, search_scope=ldap3.BASE, attributes=[])
        if any(item.get("type") == "searchResEntry" for item in connection.response or ()):
            found.add(group)
    return found


def _values(attributes: dict, name: str) -> list:
    for key, value in attributes.items():
        if key.lower() == name.lower():
            return list(value) if isinstance(value, (list, tuple)) else [value]
    return []


def _describe(error: Exception) -> str:
    # ldap3's messages name the server and the failure, never the bind password.
    return f"{type(error).__name__}: {error}"[:300]
