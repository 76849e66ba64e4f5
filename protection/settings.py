"""Settings from instance/config.py, then HOSO_* environment variables, validated at start-up.

Every setting has one name, used both as the config key and as the environment variable,
so `HOSO_IDLE_TIMEOUT_MINUTES=30` in the environment and `HOSO_IDLE_TIMEOUT_MINUTES = 30`
in instance/config.py mean the same thing. A bad value stops start-up with one line.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask

from protection.identity import Role
from protection.mail import parse_smtp_url


class ConfigurationError(RuntimeError):
    """A setting is missing or invalid; the message is one line meant for the operator."""


def _positive_int(name: str, raw: Any) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be greater than zero, got {value}")
    return value


def _non_negative_int(name: str, raw: Any) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise ConfigurationError(f"{name} must not be negative, got {value}")
    return value


def _boolean(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")


def _positive_seconds(name: str, raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 < value <= 3600:  # NaN fails this too
        raise ConfigurationError(f"{name} must be more than 0 and at most 3600 seconds, got {raw!r}")
    return value


def _text(name: str, raw: Any) -> str:
    text = str(raw).strip()
    if not text:
        raise ConfigurationError(f"{name} must not be empty")
    return text


def _place(name: str, raw: Any) -> str:
    """A place name for the date line of printed documents: one short line, or empty."""
    text = " ".join(str(raw or "").split())
    if len(text) > 60:
        raise ConfigurationError(f"{name} must be a place name of at most 60 characters")
    return text


def _date_list(name: str, raw: Any) -> tuple:
    """ISO dates, as a list or one comma-separated text (from the environment)."""
    items = raw if isinstance(raw, (list, tuple)) else [part for part in str(raw).split(",") if part.strip()]
    try:
        return tuple(sorted(item if isinstance(item, date) else date.fromisoformat(str(item).strip())
                            for item in items))
    except ValueError:
        raise ConfigurationError(f"{name} must be ISO dates (YYYY-MM-DD) separated by commas") from None


def _json_list(name: str, raw: Any) -> list:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ConfigurationError(f"{name} must be a JSON list") from None
    if not isinstance(raw, (list, tuple)):
        raise ConfigurationError(f"{name} must be a list")
    return list(raw)


def _choice(*allowed: str) -> Callable[[str, Any], str]:
    def parse(name: str, raw: Any) -> str:
        text = str(raw).strip()
        if text not in allowed:
            raise ConfigurationError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
        return text

    return parse


def _smtp_url(name: str, raw: Any) -> str:
    """Validated, and kept as written: the mailer parses it again when it sends. The error
    names no part of the URL (it may hold the relay's password)."""
    try:
        parse_smtp_url(str(raw))
    except ValueError as error:
        raise ConfigurationError(f"{name}: {error}") from None
    return str(raw).strip()


def _mail_address(name: str, raw: Any) -> str:
    text = str(raw).strip()
    if not re.fullmatch(r"[^@\s<>\"]+@[A-Za-z0-9.-]+", text):
        raise ConfigurationError(f"{name} must be a plain address like hoso@tinhuy.vn, got {raw!r}")
    return text


def _public_url(name: str, raw: Any) -> str:
    text = str(raw).strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError(f"{name} must be the address people open Hoso at, like https://hoso.tinhuy.vn")
    return text


def _hour(name: str, raw: Any) -> int:
    value = _non_negative_int(name, raw)
    if value > 23:
        raise ConfigurationError(f"{name} must be an hour from 0 to 23, got {value}")
    return value


def _metrics_token(name: str, raw: Any) -> str:
    """A bearer token: long, and printable without spaces (the message never shows it)."""
    text = str(raw).strip()
    if len(text) < 32 or not re.fullmatch(r"[A-Za-z0-9._~+/=-]+", text):
        raise ConfigurationError(f"{name} must be at least 32 letters, digits or -._~+/= "
                                 "(e.g. the output of: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return text


def _existing_file(name: str, raw: Any) -> str:
    text = str(raw).strip()
    if not Path(text).is_file():
        raise ConfigurationError(f"{name}: no file at {text}")
    return text


def _role_list(name: str, raw: Any) -> tuple[str, ...]:
    """Role names, as a list or one comma-separated text: supervisor,auditor,admin."""
    items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
    roles = tuple(dict.fromkeys(str(item).strip().lower() for item in items if str(item).strip()))
    known = {role.value for role in Role}
    unknown = [role for role in roles if role not in known]
    if unknown:
        raise ConfigurationError(f"{name}: unknown role {unknown[0]!r}; roles are {', '.join(sorted(known))}")
    return roles


def _approvals_by_type(name: str, raw: Any) -> dict[str, int]:
    """Approvals needed per petition type: a dict, or one text "denunciation=2,*=1" where "*"
    stands for every type not named. Each count from 1 to 5. (The petition types themselves
    are the domain's: cases/petitions checks the names at start-up.)"""
    if isinstance(raw, Mapping):
        pairs = list(raw.items())
    else:
        pairs = []
        for part in str(raw).split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            if not sep:
                raise ConfigurationError(f"{name} must look like denunciation=2,*=1, got {raw!r}")
            pairs.append((key, value))
    result: dict[str, int] = {}
    for key, value in pairs:
        key = str(key).strip().lower()
        try:
            count = int(str(value).strip())
        except ValueError:
            raise ConfigurationError(f"{name}: {key} needs a whole number of approvals, got {value!r}") from None
        if not 1 <= count <= 5:
            raise ConfigurationError(f"{name}: {key} needs 1 to 5 approvals, got {count}")
        if not key:
            raise ConfigurationError(f"{name} must look like denunciation=2,*=1, got {raw!r}")
        result[key] = count
    result.setdefault("*", 1)
    return result


def _rp_id(name: str, raw: Any) -> str:
    """A WebAuthn relying-party id: a bare host name (no scheme, port or path)."""
    text = str(raw).strip().lower()
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*", text):
        raise ConfigurationError(f"{name} must be a host name like hoso.tinhuy.vn (no scheme, port or path), "
                                 f"got {raw!r}")
    return text


def _group_roles(name: str, raw: Any) -> dict[str, str]:
    """Directory groups and the Hoso role each grants: a dict, or one text
    "cn=tham-dinh,ou=groups,dc=tinhuy,dc=vn=officer;cn=lanh-dao,ou=groups,dc=tinhuy,dc=vn=supervisor".
    A DN holds "=" and "," itself, so pairs are split on ";" and each at its LAST "=". Keys are
    the DNs lower-cased with the spaces around their separators removed, as LDAP compares them
    (RFC 4514: attribute types and, for the usual naming attributes, values ignore case)."""
    if isinstance(raw, Mapping):
        pairs = [(str(key), str(value)) for key, value in raw.items()]
    else:
        pairs = []
        for part in str(raw).split(";"):
            if not part.strip():
                continue
            group, sep, role = part.rpartition("=")
            if not sep or "=" not in group:
                raise ConfigurationError(f"{name} must look like cn=group,ou=groups,dc=example,dc=vn=officer;..., "
                                         f"got {part.strip()!r}")
            pairs.append((group, role))
    known = {role.value for role in Role}
    result: dict[str, str] = {}
    for group, role in pairs:
        dn, role = normalise_dn(group), role.strip().lower()
        if "=" not in dn:
            raise ConfigurationError(f"{name}: {group.strip()!r} is not a group DN like cn=group,ou=groups,dc=example,dc=vn")
        if role not in known:
            raise ConfigurationError(f"{name}: unknown role {role!r} for {dn}; roles are {', '.join(sorted(known))}")
        if dn in result:
            raise ConfigurationError(f"{name}: the group {dn} is named twice")
        result[dn] = role
    if not result:
        raise ConfigurationError(f"{name} must map at least one directory group to a role")
    return result


def normalise_dn(dn: str) -> str:
    """A DN as compared here: lower case, no spaces around "," and "=" (a DN whose values
    hold escaped commas keeps them: only the separators' surroundings are trimmed)."""
    return re.sub(r"\s*([,=])\s*", r"\1", str(dn).strip()).lower()


def _ldap_url(name: str, raw: Any) -> str:
    text = str(raw).strip()
    parts = urlsplit(text)
    if parts.scheme not in {"ldap", "ldaps"} or not parts.hostname:
        raise ConfigurationError(f"{name} must be an ldap:// or ldaps:// address like ldaps://dc.tinhuy.vn")
    return text


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    parse: Callable[[str, Any], Any]
    doc: str


SETTINGS: tuple[Setting, ...] = (
    Setting("HOSO_DATABASE_URL", None, _text,
            "SQLAlchemy URL; default an SQLite file instance/hoso.db. "
            "PostgreSQL: postgresql+psycopg://user@host/dbname"),
    Setting("HOSO_DATABASE_WAIT_SECONDS", 10, _positive_seconds,
            "how long a request waits for the database (SQLite's write lock, a PostgreSQL row lock) "
            "before it is answered 503 with nothing written"),
    Setting("HOSO_IDLE_TIMEOUT_MINUTES", 15, _positive_int,
            "a session with no request for this long ends"),
    Setting("HOSO_SESSION_LIFETIME_HOURS", 8, _positive_int,
            "a session ends this long after sign-in, active or not"),
    Setting("HOSO_LOCKOUT_THRESHOLD", 5, _positive_int,
            "failed sign-ins that lock an account"),
    Setting("HOSO_LOCKOUT_WINDOW_MINUTES", 15, _positive_int,
            "the window in which failures are counted, and how long a lock lasts"),
    Setting("HOSO_LOGIN_RATE_LIMIT", "10 per minute;100 per hour", _text,
            "sign-in attempts allowed per client address (Flask-Limiter syntax)"),
    Setting("HOSO_RATELIMIT_STORAGE_URI", "memory://", _text,
            "where rate-limit counters live; redis://127.0.0.1:6379 when several servers run"),
    Setting("HOSO_HTTPS", False, _boolean,
            "served over HTTPS: Secure cookies with the __Host- prefix, and HSTS"),
    Setting("HOSO_PROXY_HOPS", 0, _non_negative_int,
            "reverse proxies in front of the app whose X-Forwarded-* headers are trusted"),
    Setting("HOSO_MAX_REQUEST_MB", 26, _positive_int,
            "largest request body accepted, in MB (uploads plus form overhead)"),
    Setting("HOSO_MAX_UPLOAD_MB", 25, _positive_int,
            "largest attachment accepted, in MB (keep it below HOSO_MAX_REQUEST_MB)"),
    Setting("HOSO_PASSWORD_MIN_SCORE", 3, _non_negative_int,
            "minimum zxcvbn strength score (0-4) for a new password"),
    Setting("HOSO_ARGON2_PROFILE", "rfc9106-low-memory", _choice("rfc9106-low-memory", "insecure-fast-for-tests"),
            "argon2id cost profile; the fast one is refused outside tests"),
    Setting("HOSO_AUDIT_CHECKPOINT_EVERY_ENTRIES", 1000, _non_negative_int,
            "sign an audit checkpoint automatically after this many entries (0: never)"),
    Setting("HOSO_AUDIT_CHECKPOINT_EVERY_MINUTES", 60, _non_negative_int,
            "sign an audit checkpoint when the last is older than this, at the next entry (0: never)"),
    Setting("HOSO_AUDIT_VERIFY_WORKERS", 0, _non_negative_int,
            "processes that verify a long audit trail in parallel (0: one per CPU, at most 8; 1: never in parallel)"),
    Setting("HOSO_AUDIT_VERIFY_PARALLEL_FROM", 500_000, _positive_int,
            "audit trails at least this long are verified in parallel chunks"),
    Setting("HOSO_AUDIT_SEQUENCE_BATCH", 500, _positive_int,
            "PostgreSQL: most audit entries the sequencer links in one transaction"),
    Setting("HOSO_AUDIT_SEQUENCE_POLL_MS", 100, _positive_int,
            "PostgreSQL: how often an idle audit sequencer looks for committed entries, in milliseconds"),
    Setting("HOSO_AUDIT_SEQUENCER", "embedded", _choice("embedded", "external"),
            "PostgreSQL: gunicorn starts one audit sequencer beside its workers (embedded), or one runs "
            "as its own service (external)"),
    Setting("HOSO_AUDIT_SEQUENCER_DATABASE_URL", None, _text,
            "PostgreSQL: the sequencer's own login (may write links, the head and checkpoints); "
            "empty: the app's"),
    Setting("HOSO_AUDIT_PENDING_WARN_SECONDS", 60, _positive_int,
            "warn on the auditors' panel and in `audit verify` when an entry has waited this long to be linked"),
    Setting("HOSO_CONCLUSION_VALIDITY_MONTHS", 6, _positive_int,
            "months an approved conclusion stays valid; after that the subject needs re-review"),
    Setting("HOSO_DOCUMENT_NUMBER_FORMAT", "{number}-KL/{unit}", _text,
            "conclusion document numbers; {number} runs from 1 per unit and year, {unit} is the unit code, "
            "{year} the year"),
    Setting("HOSO_DOCUMENT_PLACE", "", _place,
            "the place in the date line of printed conclusions (\"Thanh Hóa, ngày ...\"); empty: a dotted "
            "line to fill in by hand"),
    Setting("HOSO_DUE_SOON_DAYS", 7, _positive_int,
            "work due within this many days is listed as due soon"),
    Setting("HOSO_HOLIDAYS", (), _date_list,
            "public holidays skipped when counting working days (ISO dates, comma-separated)"),
    Setting("HOSO_DEADLINE_RULES", [], _json_list,
            "extra deadline rules (JSON list of {key, start_event, days, working_days, max_extensions, "
            "extension_days, effective_from}); a rule with a later effective_from overrides the default"),
    Setting("HOSO_BREAK_GLASS_HOURS", 4, _positive_int,
            "how long a break-the-glass access to an unassigned case lasts"),
    Setting("HOSO_REQUIRE_SECURITY_KEY_ROLES", (), _role_list,
            "roles whose users must sign in and approve with a security key (WebAuthn), e.g. "
            "supervisor,auditor,admin; others may use a key or a TOTP code"),
    Setting("HOSO_WEBAUTHN_RP_ID", None, _rp_id,
            "the host name security keys are registered for (hoso.tinhuy.vn; localhost to try it); "
            "unset: the host of HOSO_PUBLIC_URL, else of the request"),
    Setting("HOSO_WEBAUTHN_ORIGINS", None, _text,
            "origins a key assertion may come from, comma-separated (https://hoso.tinhuy.vn); "
            "unset: HOSO_PUBLIC_URL, else the request's own"),
    Setting("HOSO_IDENTITY_RELEASE_HOURS", 24, _positive_int,
            "how long a released petitioner identity stays open to the officer who asked (and how long "
            "an ask waits for its approvals)"),
    Setting("HOSO_IDENTITY_RELEASE_APPROVALS", "denunciation=2,*=1", _approvals_by_type,
            "supervisors who must approve the release of a petitioner's identity, by petition type "
            "(\"*\": every other type)"),
    Setting("HOSO_LDAP_URL", None, _ldap_url,
            "directory sign-in: ldap://dc.tinhuy.vn or ldaps://...; unset: local accounts only"),
    Setting("HOSO_LDAP_BIND_DN", None, _text,
            "the DN Hoso binds as to look users up (unset: anonymous search)"),
    Setting("HOSO_LDAP_BIND_PASSWORD", None, _text,
            "that DN's password"),
    Setting("HOSO_LDAP_BASE_DN", None, _text,
            "where users are searched: ou=people,dc=tinhuy,dc=vn (required with HOSO_LDAP_URL)"),
    Setting("HOSO_LDAP_USER_FILTER", "(uid={username})", _text,
            "the search filter; {username} is replaced by the escaped user name"),
    Setting("HOSO_LDAP_GROUP_ROLES", None, _group_roles,
            "directory groups and the Hoso role each maps to: "
            "cn=tham-dinh,ou=groups,dc=tinhuy,dc=vn=officer;cn=lanh-dao,...=supervisor"),
    Setting("HOSO_LDAP_START_TLS", False, _boolean,
            "ldap://: upgrade the connection with StartTLS before binding"),
    Setting("HOSO_LDAP_CA_FILE", None, _existing_file,
            "a PEM file of the CA that signed the directory's certificate; unset: the system's CAs"),
    Setting("HOSO_LDAP_TIMEOUT_SECONDS", 5, _positive_seconds,
            "how long a sign-in waits for the directory"),
    Setting("HOSO_LOG_LEVEL", "INFO", _choice("DEBUG", "INFO", "WARNING", "ERROR"),
            "server log level"),
    Setting("HOSO_LOG_FORMAT", "text", _choice("text", "json"),
            "server log lines: text for people to read, or json (one object per line, with a line per "
            "request) for a log collector"),
    Setting("HOSO_METRICS_TOKEN", None, _metrics_token,
            "the bearer token a Prometheus server sends to /metrics (at least 32 characters); unset: "
            "/metrics answers 404"),
    Setting("HOSO_ARCHIVE_AFTER_DAYS", 365, _non_negative_int,
            "days after closing before `retention archive` makes a case read-only"),
    Setting("HOSO_RETENTION_YEARS_REVIEW", 20, _positive_int,
            "years a closed political-standard review is kept before it may be purged"),
    Setting("HOSO_RETENTION_YEARS_PETITION", 15, _positive_int,
            "years a closed petition is kept before it may be purged"),
    Setting("HOSO_CLASSIFICATION_YEARS_CONFIDENTIAL", 10, _positive_int,
            "protection period of a Mật item, in years from its classification"),
    Setting("HOSO_CLASSIFICATION_YEARS_SECRET", 20, _positive_int,
            "protection period of a Tối mật item, in years from its classification"),
    Setting("HOSO_CLASSIFICATION_YEARS_TOP_SECRET", 30, _positive_int,
            "protection period of a Tuyệt mật item, in years from its classification"),
    Setting("HOSO_CLASSIFICATION_REVIEW_DAYS", 90, _non_negative_int,
            "classified items whose protection period ends within this many days are due for review"),
    Setting("HOSO_SMTP_URL", None, _smtp_url,
            "the mail relay: smtp://relay:25, smtp://user:pass@relay:587?starttls=1 (or smtp+starttls://), "
            "smtps://relay:465; unset: nothing is mailed"),
    Setting("HOSO_MAIL_FROM", None, _mail_address,
            "the sender address of Hoso's mails (required with HOSO_SMTP_URL)"),
    Setting("HOSO_SMTP_CA_FILE", None, _existing_file,
            "a PEM file of the CA that signed the relay's certificate, when it is the organisation's own; "
            "unset: the system's CAs"),
    Setting("HOSO_SMTP_TIMEOUT_SECONDS", 30, _positive_seconds,
            "how long the mailer waits for the relay (connect, each command)"),
    Setting("HOSO_REMINDER_HOUR", 7, _hour,
            "the hour (Vietnam time, 0-23) from which `notify send-due` raises the day's reminders and sends "
            "the daily digests; earlier runs send immediate mails only"),
    Setting("HOSO_PUBLIC_URL", None, _public_url,
            "the address people open Hoso at (https://hoso.tinhuy.vn): the links in mails (required with "
            "HOSO_SMTP_URL)"),
    Setting("HOSO_API_RATE_LIMIT", "120 per minute;5000 per hour", _text,
            "calls allowed per API client token (Flask-Limiter syntax; counters in HOSO_RATELIMIT_STORAGE_URI)"),
    Setting("HOSO_API_REFUSED_RATE_LIMIT", "30 per minute", _text,
            "refused API tokens (401) allowed per client address before the address waits (Flask-Limiter syntax)"),
    Setting("HOSO_API_TOKEN_GRACE_HOURS", 24, _non_negative_int,
            "after `api-clients rotate`, how long the old token keeps working"),
    Setting("HOSO_API_PAGE_SIZE", 50, _positive_int,
            "largest page of requests an API list answers"),
    Setting("HOSO_API_IDEMPOTENCY_HOURS", 48, _positive_int,
            "how long an Idempotency-Key is remembered (a retry after that writes again)"),
    Setting("HOSO_BACKUP_DIR", None, _text,
            "the folder the backup timer writes hoso-*.hosobak files to: `flask doctor` reports the newest one's "
            "age and the free space there; unset: `doctor` warns that backups are not configured"),
    Setting("HOSO_OCR", "auto", _choice("auto", "off"),
            "text recognition of archive scans: auto = where Debian's tesseract-ocr with its Vietnamese data "
            "(tesseract-ocr-vie) is installed; off = never"),
)


def default_sqlite_url(instance_path: str | os.PathLike[str]) -> str:
    return f"sqlite:///{Path(instance_path) / 'hoso.db'}"


def load_settings(app: Flask, overrides: Mapping[str, Any] | None, env: Mapping[str, str]) -> None:
    """Fill app.config: defaults < instance/config.py < environment < overrides (tests)."""
    for setting in SETTINGS:
        app.config.setdefault(setting.name, setting.default)
    app.config.from_pyfile("config.py", silent=True)
    app.config["HOSO_INSTANCE_CONFIGURED"] = bool(app.config.get("SECRET_KEY"))

    for setting in SETTINGS:
        if setting.name in env:
            app.config[setting.name] = env[setting.name]
    if "HOSO_SECRET_KEY" in env:
        app.config["SECRET_KEY"] = env["HOSO_SECRET_KEY"]
    if overrides:
        app.config.update(overrides)

    for setting in SETTINGS:
        value = app.config[setting.name]
        if value is not None:
            app.config[setting.name] = setting.parse(setting.name, value)

    if app.config["HOSO_ARGON2_PROFILE"] == "insecure-fast-for-tests" and not app.config.get("TESTING"):
        raise ConfigurationError("HOSO_ARGON2_PROFILE=insecure-fast-for-tests is only allowed in tests")

    if app.config["HOSO_SMTP_URL"]:
        for needed in ("HOSO_MAIL_FROM", "HOSO_PUBLIC_URL"):
            if not app.config[needed]:
                raise ConfigurationError(f"{needed} must be set when HOSO_SMTP_URL is")

    _check_directory_settings(app.config)

    url = app.config["HOSO_DATABASE_URL"] or default_sqlite_url(app.instance_path)
    if not url.startswith(("sqlite", "postgresql")):
        raise ConfigurationError("HOSO_DATABASE_URL must be an sqlite:// or postgresql+psycopg:// URL")
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    # Parameters never appear in SQLAlchemy's exception text or logs: they can hold
    # protected values (even as ciphertext, they do not belong in a log). A pooled
    # PostgreSQL connection is pinged before use (the server may have restarted); an SQLite
    # file has no server to lose, and the ping would be one more statement per request.
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"hide_parameters": True,
                                                         "pool_pre_ping": url.startswith("postgresql")})

    https = app.config["HOSO_HTTPS"]
    app.config.update(
        SESSION_COOKIE_NAME="__Host-hoso" if https else "hoso",
        SESSION_COOKIE_SECURE=https,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        PREFERRED_URL_SCHEME="https" if https else "http",
        MAX_CONTENT_LENGTH=app.config["HOSO_MAX_REQUEST_MB"] * 1024 * 1024,
        RATELIMIT_STORAGE_URI=app.config["HOSO_RATELIMIT_STORAGE_URI"],
        RATELIMIT_HEADERS_ENABLED=False,
        WTF_CSRF_TIME_LIMIT=3600,
        WTF_CSRF_SSL_STRICT=https,
        BOOTSTRAP_SERVE_LOCAL=True,
        BABEL_DEFAULT_LOCALE="vi",
        BABEL_DEFAULT_TIMEZONE="Asia/Ho_Chi_Minh",
    )
    # Flask-Login's "remember me" cookie would outlive the server-side session; never set one.
    app.config["REMEMBER_COOKIE_DURATION"] = 0


def _check_directory_settings(config: Mapping[str, Any]) -> None:
    """The directory settings hang together (no message names the bind password's value)."""
    if config["HOSO_LDAP_BIND_PASSWORD"] and not config["HOSO_LDAP_BIND_DN"]:
        raise ConfigurationError("HOSO_LDAP_BIND_PASSWORD is set without HOSO_LDAP_BIND_DN")
    if config["HOSO_LDAP_BIND_DN"] and not config["HOSO_LDAP_BIND_PASSWORD"]:
        # A DN with no password is an "unauthenticated bind" (RFC 4513 §5.1.2): servers
        # either refuse it or treat it as anonymous; either way not what was meant.
        raise ConfigurationError("HOSO_LDAP_BIND_DN is set without HOSO_LDAP_BIND_PASSWORD")
    if not config["HOSO_LDAP_URL"]:
        return
    for needed in ("HOSO_LDAP_BASE_DN", "HOSO_LDAP_GROUP_ROLES"):
        if not config[needed]:
            raise ConfigurationError(f"{needed} must be set when HOSO_LDAP_URL is")
    if "{username}" not in config["HOSO_LDAP_USER_FILTER"] or not config["HOSO_LDAP_USER_FILTER"].startswith("("):
        raise ConfigurationError("HOSO_LDAP_USER_FILTER must be an LDAP filter holding {username}, like (uid={username})")
    if config["HOSO_LDAP_START_TLS"] and config["HOSO_LDAP_URL"].startswith("ldaps:"):
        raise ConfigurationError("HOSO_LDAP_START_TLS is for ldap:// addresses; ldaps:// is encrypted already")


def require_initialised(app: Flask) -> None:
    """Serving without a secret key would sign cookies with nothing: refuse to start."""
    if not app.config.get("SECRET_KEY"):
        raise ConfigurationError(
            "Hoso is not initialised: run `flask --app app init` (or set HOSO_SECRET_KEY)"
        )
