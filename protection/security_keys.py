"""Security keys and platform passkeys (WebAuthn, issue 23), with py_webauthn.

A key proves who is at the browser by signing a challenge the server handed out. Every
challenge is stored (KeyChallenge) for one browser session, one purpose ("sign_in",
"registration", or an approval such as "conclusion_approval") and, for an approval, one
record (`target`): an assertion made for approving conclusion X therefore cannot approve Y,
and one made to sign in cannot approve anything. A challenge is deleted when an answer is
checked, right or wrong, so an assertion is good once; and it expires after a few minutes.

This module checks and changes keys; it never commits. accounts.py decides what a refusal
costs (a failed second factor, a failed re-check), as it does for passwords and codes.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app, request
from flask_babel import gettext as _
from sqlalchemy import delete, func, select
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from .clock import utcnow
from .db import db
from .identity import KeyChallenge, SecurityKey, User

SIGN_IN = "sign_in"
REGISTRATION = "registration"
# A challenge older than this is refused: long enough to find the key and touch it.
CHALLENGE_LIFETIME = timedelta(minutes=5)
# An assertion or attestation is a few hundred bytes; anything much larger is not one.
MAX_RESPONSE_CHARS = 16_000
# Approval purposes are named by their callers ("conclusion_approval", "case_purge",
# "identity_release"...); the kernel only checks their shape. Targets are record ids.
PURPOSE_PATTERN = re.compile(r"[a-z][a-z_]{2,63}")
TARGET_PATTERN = re.compile(r"[A-Za-z0-9-]{1,64}")
_TIMEOUT_MS = 120_000


class KeyRefused(ValueError):  # noqa: N818 - an outcome, as the caller reads it
    """An assertion or a registration that is not accepted. `reason` is a code for the audit
    trail (never what was sent); `message` is for the user."""

    def __init__(self, reason: str):
        self.reason = reason
        self.message = refusal_message(reason)
        super().__init__(reason)


def refusal_message(reason: str) -> str:
    if reason in {"no_challenge", "challenge_expired"}:
        return _("Yêu cầu xác nhận bằng khóa bảo mật đã hết hạn hoặc đã được dùng. Hãy bấm lại nút khóa bảo mật.")
    if reason in {"unknown_key", "other_users_key"}:
        return _("Khóa bảo mật này không được đăng ký cho tài khoản của bạn.")
    if reason == "already_registered":
        return _("Khóa bảo mật này đã được đăng ký.")
    return _("Xác nhận bằng khóa bảo mật không hợp lệ. Hãy thử lại.")


def is_approval_purpose(purpose: str) -> bool:
    return bool(PURPOSE_PATTERN.fullmatch(purpose or "")) and purpose not in {SIGN_IN, REGISTRATION}


def valid_target(target: str | None) -> bool:
    return target is None or bool(TARGET_PATTERN.fullmatch(target))


# --- where keys are used --------------------------------------------------------------------

def relying_party_id() -> str:
    """HOSO_WEBAUTHN_RP_ID, else the host of HOSO_PUBLIC_URL, else of the request. Keys are
    bound to it: changing it later makes every registered key unusable."""
    config = current_app.config
    if config.get("HOSO_WEBAUTHN_RP_ID"):
        return config["HOSO_WEBAUTHN_RP_ID"]
    if config.get("HOSO_PUBLIC_URL"):
        return urlsplit(config["HOSO_PUBLIC_URL"]).hostname
    return urlsplit(request.host_url).hostname


def expected_origins() -> list[str]:
    config = current_app.config
    if config.get("HOSO_WEBAUTHN_ORIGINS"):
        return [origin.strip().rstrip("/") for origin in config["HOSO_WEBAUTHN_ORIGINS"].split(",") if origin.strip()]
    if config.get("HOSO_PUBLIC_URL"):
        return [config["HOSO_PUBLIC_URL"].rstrip("/")]
    return [request.host_url.rstrip("/")]


# --- the user's keys ------------------------------------------------------------------------

def keys_of(user: User) -> list[SecurityKey]:
    return list(db.session.scalars(select(SecurityKey).where(SecurityKey.user_id == user.id)
                                   .order_by(SecurityKey.created_at)))


def has_keys(user: User) -> bool:
    return db.session.scalar(select(SecurityKey.id).where(SecurityKey.user_id == user.id).limit(1)) is not None


def key_counts(user_ids) -> dict[uuid.UUID, int]:
    ids = list(user_ids)
    if not ids:
        return {}
    rows = db.session.execute(select(SecurityKey.user_id, func.count()).where(SecurityKey.user_id.in_(ids))
                              .group_by(SecurityKey.user_id))
    return {user_id: count for user_id, count in rows}


def required_for(user: User) -> bool:
    """Whether the user's role must use a key (HOSO_REQUIRE_SECURITY_KEY_ROLES)."""
    return user.role.value in current_app.config.get("HOSO_REQUIRE_SECURITY_KEY_ROLES", ())


def own_key(user: User, key_id: uuid.UUID) -> SecurityKey | None:
    key = db.session.get(SecurityKey, key_id)
    return key if key is not None and key.user_id == user.id else None


def _descriptors(keys: list[SecurityKey]) -> list[PublicKeyCredentialDescriptor]:
    descriptors = []
    for key in keys:
        transports = []
        for name in (key.transports or "").split(","):
            try:
                transports.append(AuthenticatorTransport(name))
            except ValueError:
                continue
        descriptors.append(PublicKeyCredentialDescriptor(id=key.credential_id, transports=transports or None))
    return descriptors


# --- challenges -----------------------------------------------------------------------------

def _store_challenge(session_id: uuid.UUID, purpose: str, target: str | None, challenge: bytes) -> None:
    # One open challenge per session, purpose and record: asking again replaces it. The
    # session's expired ones go too, so unanswered challenges do not pile up.
    db.session.execute(delete(KeyChallenge).where(KeyChallenge.session_id == session_id,
                                                  KeyChallenge.purpose == purpose, _same_target(target)))
    db.session.execute(delete(KeyChallenge).where(KeyChallenge.session_id == session_id,
                                                  KeyChallenge.created_at < utcnow() - CHALLENGE_LIFETIME))
    db.session.add(KeyChallenge(session_id=session_id, purpose=purpose, target=target, challenge=challenge))
    db.session.flush()


def _same_target(target: str | None):
    return KeyChallenge.target.is_(None) if target is None else KeyChallenge.target == target


def _take_challenge(session_id: uuid.UUID | None, purpose: str, target: str | None) -> bytes:
    """The challenge handed out for this session, purpose and record, deleted as it is read
    (one use, whatever the answer). Refused when there is none or it is too old."""
    if session_id is None:
        raise KeyRefused("no_challenge")
    stored = db.session.scalar(select(KeyChallenge).where(
        KeyChallenge.session_id == session_id, KeyChallenge.purpose == purpose, _same_target(target))
        .order_by(KeyChallenge.created_at.desc()).limit(1))
    if stored is None:
        raise KeyRefused("no_challenge")
    challenge, created_at = stored.challenge, stored.created_at
    db.session.delete(stored)
    db.session.flush()
    if utcnow() - created_at > CHALLENGE_LIFETIME:
        raise KeyRefused("challenge_expired")
    return challenge


def forget_challenge(session_id: uuid.UUID | None, purpose: str, target: str | None) -> None:
    """Delete the challenge again after a rollback undid its deletion (a refused re-check is
    recorded in a transaction of its own: accounts._refuse_recheck)."""
    if session_id is not None:
        db.session.execute(delete(KeyChallenge).where(KeyChallenge.session_id == session_id,
                                                      KeyChallenge.purpose == purpose, _same_target(target)))


# --- registration ---------------------------------------------------------------------------

def registration_options(user: User, session_id: uuid.UUID) -> str:
    """The options for navigator.credentials.create(), as JSON; the challenge is stored."""
    options = generate_registration_options(
        rp_id=relying_party_id(), rp_name="Hoso", user_id=user.id.bytes, user_name=user.username,
        user_display_name=user.display_name, timeout=_TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.PREFERRED),
        # The browser refuses a key the user has registered already, before it is touched.
        exclude_credentials=_descriptors(keys_of(user)),
    )
    _store_challenge(session_id, REGISTRATION, None, options.challenge)
    return options_to_json(options)


def register(user: User, session_id: uuid.UUID | None, name: str, credential_text: str) -> SecurityKey:
    """Verify the browser's answer to registration_options() and keep the key.
    Raises KeyRefused; the caller announces and notifies."""
    challenge = _take_challenge(session_id, REGISTRATION, None)
    if not credential_text or len(credential_text) > MAX_RESPONSE_CHARS:
        raise KeyRefused("malformed")
    try:
        credential = parse_registration_credential_json(credential_text)
        verified = verify_registration_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=relying_party_id(),
            expected_origin=expected_origins())
    except (WebAuthnException, ValueError, KeyError, TypeError):
        raise KeyRefused("invalid") from None
    if db.session.scalar(select(SecurityKey.id).where(SecurityKey.credential_id == verified.credential_id)):
        raise KeyRefused("already_registered")
    transports = ",".join(str(getattr(item, "value", item)) for item in (credential.response.transports or ()))
    key = SecurityKey(id=uuid.uuid4(), user_id=user.id, name=name, credential_id=verified.credential_id,
                      public_key=verified.credential_public_key, sign_count=verified.sign_count,
                      transports=transports[:200] or None)
    db.session.add(key)
    db.session.flush()
    return key


# --- assertions -----------------------------------------------------------------------------

def authentication_options(user: User, session_id: uuid.UUID, purpose: str, target: str | None) -> str:
    """The options for navigator.credentials.get(), as JSON, for one purpose and record."""
    keys = keys_of(user)
    if not keys:
        raise KeyRefused("no_keys")
    options = generate_authentication_options(
        rp_id=relying_party_id(), timeout=_TIMEOUT_MS, allow_credentials=_descriptors(keys),
        # An approval asks for the PIN or fingerprint as well (the key itself is not enough:
        # it may be left plugged in); at sign-in the password came first.
        user_verification=(UserVerificationRequirement.PREFERRED if purpose == SIGN_IN
                           else UserVerificationRequirement.REQUIRED),
    )
    _store_challenge(session_id, purpose, target, options.challenge)
    return options_to_json(options)


def verify_assertion(user: User, session_id: uuid.UUID | None, assertion_text: str, *, purpose: str,
                     target: str | None) -> SecurityKey:
    """Check an assertion against the challenge of this session, purpose and record, and the
    key against this user; user verification is required except at sign-in. Updates the
    key's counter and last use. Raises KeyRefused with a reason code."""
    challenge = _take_challenge(session_id, purpose, target)
    if not assertion_text or len(assertion_text) > MAX_RESPONSE_CHARS:
        raise KeyRefused("malformed")
    try:
        credential = parse_authentication_credential_json(assertion_text)
        sent_challenge = parse_client_data_json(credential.response.client_data_json).challenge
    except (WebAuthnException, ValueError, KeyError, TypeError, json.JSONDecodeError):
        raise KeyRefused("malformed") from None
    key = db.session.scalar(select(SecurityKey).where(SecurityKey.credential_id == credential.raw_id))
    if key is None:
        raise KeyRefused("unknown_key")
    if key.user_id != user.id:
        raise KeyRefused("other_users_key")
    if sent_challenge != challenge:
        # Signed for another challenge: another action, another record, or an earlier try.
        raise KeyRefused("challenge_mismatch")
    try:
        verified = verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=relying_party_id(),
            expected_origin=expected_origins(), credential_public_key=key.public_key,
            credential_current_sign_count=key.sign_count, require_user_verification=purpose != SIGN_IN)
    except (WebAuthnException, ValueError, KeyError, TypeError) as error:
        # A counter that did not move forward means a cloned key or a replayed answer.
        raise KeyRefused("counter" if "sign count" in str(error) else "invalid") from None
    key.sign_count = verified.new_sign_count
    key.last_used_at = utcnow()
    db.session.flush()
    return key
