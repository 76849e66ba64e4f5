"""Password hashing (argon2id) and the strength rule for new passwords."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app
from flask_babel import gettext as _
from zxcvbn import zxcvbn

MIN_LENGTH = 12
MAX_LENGTH = 128

# Words a Vietnamese user reaches for first; zxcvbn's dictionaries are English-centred.
LOCAL_DICTIONARY = (
    "matkhau", "mat khau", "hoso", "dangnhap", "quantri", "tinhuy", "bantochuc", "congan",
    "vietnam", "hanoi", "saigon", "anhyeuem", "yeuem", "admin", "password", "123456",
)

_PROFILES = {
    # argon2-cffi's default is RFC 9106's second recommended (low-memory) argon2id profile.
    "rfc9106-low-memory": PasswordHasher(),
    # Tests only (settings refuse it elsewhere), like SecureDrop's insecure_scrypt.
    "insecure-fast-for-tests": PasswordHasher(time_cost=1, memory_cost=64, parallelism=1),
}
_DUMMY_HASHES: dict[str, str] = {}


def _hasher() -> PasswordHasher:
    return _PROFILES[current_app.config["HOSO_ARGON2_PROFILE"]]


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists: an unknown user is checked
    against a dummy hash with the same cost, so timing does not reveal usernames."""
    hasher = _hasher()
    profile = current_app.config["HOSO_ARGON2_PROFILE"]
    if password_hash is None:
        if profile not in _DUMMY_HASHES:
            _DUMMY_HASHES[profile] = hasher.hash(secrets.token_urlsafe(16))
        password_hash = _DUMMY_HASHES[profile]
        try:
            hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            pass
        return False
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


@dataclass(frozen=True)
class StrengthVerdict:
    ok: bool
    reason: str = ""


def check_strength(password: str, *, user_inputs: tuple[str, ...] = ()) -> StrengthVerdict:
    """Issue 2: 12 to 128 characters, and not weak or common by an offline check (zxcvbn)."""
    if len(password) < MIN_LENGTH:
        return StrengthVerdict(False, _("Mật khẩu phải có ít nhất %(n)d ký tự.", n=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        return StrengthVerdict(False, _("Mật khẩu dài tối đa %(n)d ký tự.", n=MAX_LENGTH))
    inputs = [value for value in (*user_inputs, *LOCAL_DICTIONARY) if value]
    # zxcvbn raises ValueError above its own default of 72 characters; the length is
    # already bounded by MAX_LENGTH here, so let it rate every password the rule allows.
    result = zxcvbn(password, user_inputs=inputs, max_length=MAX_LENGTH)
    if result["score"] < current_app.config["HOSO_PASSWORD_MIN_SCORE"]:
        return StrengthVerdict(
            False,
            _("Mật khẩu quá dễ đoán. Hãy dùng một cụm nhiều từ không liên quan đến tên hay đơn vị của bạn."),
        )
    return StrengthVerdict(True)


# A temporary password an admin hands over in person; it must be changed at first sign-in.
_TEMP_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def generate_temporary_password() -> str:
    groups = ["".join(secrets.choice(_TEMP_ALPHABET) for _ in range(5)) for _ in range(4)]
    return "-".join(groups)
