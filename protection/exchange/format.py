"""The package file: a signed manifest and its files, encrypted with age to one recipient.

Layout. The file is the magic line `HOSO-EXCHANGE/1\n` followed by an age (X25519)
ciphertext. The plaintext is UTF-8 JSON:

    {"manifest": {...}, "signature": "<Ed25519 over the canonical manifest, base64url>",
     "files": {"<sha256 hex>": "<base64 content>", ...}}

The manifest (canonical JSON: sorted keys, no spaces) says what the package is and binds it
to both parties, so a package re-encrypted to someone else, or a file swapped, no longer
verifies:

    {"format": 1, "kind": "request" | "answer", "package_id": uuid, "request_id": uuid,
     "in_reply_to": uuid | null, "created_at": ISO-8601 UTC,
     "sender": <fingerprint>, "recipient": <fingerprint>,
     "content": {...},            # the request and its package, or the answer (below)
     "files": [{"sha256", "name", "size", "media_type", "classification", "id"}]}

Sign, then encrypt (the signature is inside the encryption, over a manifest that names the
recipient): the body learns the organisation wrote it for them; nobody on the way learns
anything but the size.

Request `content`: {"reference", "classification", "questions", "due_on",
"subject_fields": [{"field", "label", "value"}], "relatives": [{"label", "fields": [...]}],
"findings": [{"id", "category", "text", "classification", "source", "found_on",
"about"}], "people": [{"key", "label"}], "follow_up": str | null}.
Answer `content`: {"answer": str, "findings": [{"person", "category", "text",
"classification", "source", "found_on"}]} with its files listed in the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .keys import PrivateKey, PublicKey

MAGIC = b"HOSO-EXCHANGE/1\n"
FORMAT_VERSION = 1
MAX_PACKAGE_BYTES = 200 * 1024 * 1024


class PackageError(ValueError):
    """A package that cannot be opened or trusted. The message is one line for a person and
    never holds a protected value (truncated, tampered, wrongly signed, wrongly addressed,
    not a package)."""


@dataclass(frozen=True)
class PackageFile:
    name: str
    content: bytes
    media_type: str = "application/octet-stream"
    classification: str = "unclassified"
    id: str | None = None  # the sender's id for it, if any


@dataclass
class Package:
    kind: str
    package_id: str
    request_id: str
    content: dict[str, Any]
    files: list[PackageFile] = field(default_factory=list)
    in_reply_to: str | None = None
    created_at: str | None = None
    sender: str | None = None  # fingerprints, filled in by `seal` / `open_package`
    recipient: str | None = None


def seal(package: Package, *, sender: PrivateKey, recipient: PublicKey) -> bytes:
    """The package file's bytes: signed by `sender`, encrypted to `recipient`."""
    raise NotImplementedError


def open_package(data: bytes, *, recipient: PrivateKey, sender: PublicKey | None) -> Package:
    """Decrypt with `recipient`, check the signature against `sender` (or, with None, against
    the public key the manifest names, for trust on first use: the caller pins it), check
    that the manifest names `recipient` and that every file's digest matches. PackageError
    with one line otherwise."""
    raise NotImplementedError


def package_digest(data: bytes) -> str:
    """SHA-256 of a package file, hex: what both sides read out to compare."""
    raise NotImplementedError
