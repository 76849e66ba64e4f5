"""A party's exchange keys: an age X25519 identity (to decrypt what is sent to it) and an
Ed25519 signing key (to sign what it sends). Its public half travels as one line of text,

    hoso-exchange-1:<age recipient, age1...>:<Ed25519 public key, base64url, no padding>

and its fingerprint is SHA-256 over that line, upper-case hex; `fingerprint_text` groups
the first 32 hex digits in fours for reading aloud by phone or comparing on paper.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PUBLIC_PREFIX = "hoso-exchange-1"


class KeyError_(ValueError):
    """A key file or public line that cannot be used; the message is one line for a person."""


@dataclass(frozen=True)
class PublicKey:
    """Someone's public exchange key, parsed from its line."""

    age_recipient: str
    verify_key: bytes  # raw Ed25519 public key (32 bytes)

    @property
    def line(self) -> str:
        raise NotImplementedError

    @property
    def fingerprint(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class PrivateKey:
    """Someone's private exchange keys."""

    age_identity: str  # AGE-SECRET-KEY-1...
    signing_key: bytes  # raw Ed25519 private key (32 bytes)

    @property
    def public(self) -> PublicKey:
        raise NotImplementedError


def generate() -> PrivateKey:
    raise NotImplementedError


def parse_public(line: str) -> PublicKey:
    """KeyError_ with one line when it is not a well-formed public key line."""
    raise NotImplementedError


def fingerprint_text(fingerprint: str) -> str:
    """"ABCD 1234 ..." : the first 32 hex digits in groups of four."""
    raise NotImplementedError


def save_private(key: PrivateKey, path: Path) -> None:
    """Write the private key file with mode 0600, refusing to overwrite one."""
    raise NotImplementedError


def load_private(path: Path) -> PrivateKey:
    """Read a private key file; KeyError_ if missing, unreadable, loosely permitted or malformed."""
    raise NotImplementedError
