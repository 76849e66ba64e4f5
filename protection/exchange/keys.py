"""A party's exchange keys: an age X25519 identity (to decrypt what is sent to it) and an
Ed25519 signing key (to sign what it sends). Its public half travels as one line of text,

    hoso-exchange-1:<age recipient, age1...>:<Ed25519 public key, base64url, no padding>

and its fingerprint is SHA-256 over that line, upper-case hex; `fingerprint_text` groups
the first 32 hex digits in fours for reading aloud by phone or comparing on paper.

Only one spelling of a key is accepted (the age recipient as rage prints it, the Ed25519
key as 43 characters of unpadded base64url), so one key has exactly one line and one
fingerprint: a pin compares lines, and a fingerprint read out names exactly one key.

The private key file is JSON,

    {"kind": "hoso-exchange-private-key", "version": 1,
     "age_identity": "AGE-SECRET-KEY-1...", "signing_key": "<32 bytes, base64url>"}

written with mode 0600 and refused when group or others may read it, as ssh refuses a
private key with loose permissions (protection/keystore.py does the same for the app's keys).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pyrage
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask_babel import gettext as _
from pyrage import x25519

PUBLIC_PREFIX = "hoso-exchange-1"
PRIVATE_KIND = "hoso-exchange-private-key"
PRIVATE_VERSION = 1
ED25519_BYTES = 32
# A public line is about 120 characters; anything far longer is not one (checked before parsing).
MAX_PUBLIC_LINE = 256
MAX_PRIVATE_FILE = 4096
# NTFS has no Unix mode bits (Python reports 0o666 for every file there): on Windows the
# home folder's place in the user's profile is what keeps the key private.
CHECK_FILE_MODE = os.name != "nt"


class KeyError_(ValueError):
    """A key file or public line that cannot be used; the message is one line for a person."""


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64url(text: str, length: int) -> bytes | None:
    """The bytes of unpadded base64url text of exactly `length` bytes in its one spelling, or None."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != length or _b64url(raw) != text:
        return None
    return raw


@dataclass(frozen=True)
class PublicKey:
    """Someone's public exchange key, parsed from its line."""

    age_recipient: str
    verify_key: bytes  # raw Ed25519 public key (32 bytes)

    @property
    def line(self) -> str:
        return f"{PUBLIC_PREFIX}:{self.age_recipient}:{_b64url(self.verify_key)}"

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.line.encode("ascii")).hexdigest().upper()

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.verify_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def age(self) -> x25519.Recipient:
        return x25519.Recipient.from_str(self.age_recipient)


@dataclass(frozen=True)
class PrivateKey:
    """Someone's private exchange keys."""

    age_identity: str = field(repr=False)  # AGE-SECRET-KEY-1...
    signing_key: bytes = field(repr=False)  # raw Ed25519 private key (32 bytes)

    @property
    def public(self) -> PublicKey:
        recipient = str(self.age().to_public())
        verify_key = Ed25519PrivateKey.from_private_bytes(self.signing_key).public_key().public_bytes_raw()
        return PublicKey(recipient, verify_key)

    def sign(self, message: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.signing_key).sign(message)

    def age(self) -> x25519.Identity:
        return x25519.Identity.from_str(self.age_identity)


def generate() -> PrivateKey:
    identity = x25519.Identity.generate()
    signing_key = Ed25519PrivateKey.generate().private_bytes_raw()
    return PrivateKey(str(identity), signing_key)


def parse_public(line: str) -> PublicKey:
    """KeyError_ with one line when it is not a well-formed public key line."""
    refused = KeyError_(_("Đây không phải khóa công khai trao đổi Hoso (dòng bắt đầu bằng "
                          "hoso-exchange-1: rồi đến khóa age1... và khóa ký)."))
    if not isinstance(line, str) or len(line) > MAX_PUBLIC_LINE:
        raise refused
    parts = line.strip().split(":")
    if len(parts) != 3 or parts[0] != PUBLIC_PREFIX:
        raise refused
    recipient_text, verify_text = parts[1], parts[2]
    try:
        recipient = x25519.Recipient.from_str(recipient_text)
    except (pyrage.RecipientError, ValueError):
        raise refused from None
    verify_key = _unb64url(verify_text, ED25519_BYTES)
    if verify_key is None or str(recipient) != recipient_text:
        raise refused
    try:
        Ed25519PublicKey.from_public_bytes(verify_key)
    except ValueError:
        raise refused from None
    return PublicKey(recipient_text, verify_key)


def fingerprint_text(fingerprint: str) -> str:
    """"ABCD 1234 ..." : the first 32 hex digits in groups of four."""
    digits = fingerprint.upper()[:32]
    return " ".join(digits[i:i + 4] for i in range(0, len(digits), 4))


def private_text(key: PrivateKey) -> str:
    return json.dumps({"kind": PRIVATE_KIND, "version": PRIVATE_VERSION,
                       "age_identity": key.age_identity, "signing_key": _b64url(key.signing_key)},
                      indent=1) + "\n"


def parse_private(text: str) -> PrivateKey:
    """The keys of a private key file's text; KeyError_ if it is not one."""
    refused = KeyError_(_("Tệp khóa riêng bị hỏng hoặc không phải khóa trao đổi Hoso."))
    try:
        document = json.loads(text)
    except ValueError:
        raise refused from None
    if (not isinstance(document, dict) or document.get("kind") != PRIVATE_KIND
            or document.get("version") != PRIVATE_VERSION
            or not isinstance(document.get("age_identity"), str)
            or not isinstance(document.get("signing_key"), str)):
        raise refused
    signing_key = _unb64url(document["signing_key"], ED25519_BYTES)
    if signing_key is None:
        raise refused
    try:
        identity = x25519.Identity.from_str(document["age_identity"])
    except (pyrage.IdentityError, ValueError):
        raise refused from None
    return PrivateKey(str(identity), signing_key)


def save_private(key: PrivateKey, path: Path) -> None:
    """Write the private key file with mode 0600, refusing to overwrite one."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyError_(_("Đã có tệp khóa riêng %(path)s: không ghi đè.", path=str(path))) from None
    except OSError as error:
        raise KeyError_(_("Không ghi được tệp khóa riêng %(path)s (%(reason)s).",
                          path=str(path), reason=error.strerror or type(error).__name__)) from None
    try:
        os.write(fd, private_text(key).encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def load_private(path: Path) -> PrivateKey:
    """Read a private key file; KeyError_ if missing, unreadable, loosely permitted or malformed."""
    try:
        status = path.stat()
    except FileNotFoundError:
        raise KeyError_(_("Chưa có tệp khóa riêng %(path)s: hãy chạy hoso-exchange keygen.",
                          path=str(path))) from None
    except OSError as error:
        raise KeyError_(_("Không đọc được tệp khóa riêng %(path)s (%(reason)s).",
                          path=str(path), reason=error.strerror or type(error).__name__)) from None
    if not stat.S_ISREG(status.st_mode) or status.st_size > MAX_PRIVATE_FILE:
        raise KeyError_(_("Tệp khóa riêng bị hỏng hoặc không phải khóa trao đổi Hoso."))
    mode = stat.S_IMODE(status.st_mode)
    if CHECK_FILE_MODE and mode & 0o077:
        raise KeyError_(_("Tệp khóa riêng %(path)s để người khác đọc được (quyền %(mode)s): "
                          "hãy chạy chmod 600 %(path)s.", path=str(path), mode=format(mode, "o")))
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        raise KeyError_(_("Tệp khóa riêng bị hỏng hoặc không phải khóa trao đổi Hoso.")) from None
    return parse_private(text)
