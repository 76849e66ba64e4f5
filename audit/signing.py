"""Ed25519 checkpoint signatures. The private key lives in instance/keys/, never in the
database, so someone who can rewrite the database cannot re-sign a rewritten history."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .chain import timestamp_text

PRIVATE_NAME = "audit-signing.key"
PUBLIC_NAME = "audit-signing.pub"
LINE_PREFIX = "HOSO-AUDIT-CHECKPOINT v1"
LINE_PATTERN = re.compile(
    r"^HOSO-AUDIT-CHECKPOINT v1 seq=(?P<seq>\d+) hash=(?P<hash>[0-9a-f]{64}) "
    r"at=(?P<at>\S+) key=(?P<key>[0-9a-f]{16}) sig=(?P<sig>[A-Za-z0-9_-]+={0,2})$"
)


class SigningKeyError(RuntimeError):
    pass


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def signed_message(seq: int, entry_hash: str, at_text: str) -> bytes:
    return f"hoso-audit-checkpoint-v1|{seq}|{entry_hash}|{at_text}".encode("ascii")


def ensure_signing_key(keys_dir: Path, private_name: str = PRIVATE_NAME,
                       public_name: str = PUBLIC_NAME) -> Ed25519PrivateKey:
    """Load the key, creating it once. Several workers may get here first at the same
    time: each writes a complete key file under a name of its own and links it into
    place; link(2) fails if the name exists, so exactly one key wins and nobody ever
    reads a half-written file."""
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_path = keys_dir / private_name
    if not private_path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
        suffix = f".{os.getpid()}.{secrets.token_hex(4)}.tmp"
        private_draft, public_draft = keys_dir / (private_name + suffix), keys_dir / (public_name + suffix)
        try:
            _write_new(private_draft, pem, 0o600)
            _write_new(public_draft, public_pem, 0o644)
            try:
                os.link(private_draft, private_path)
            except FileExistsError:
                pass  # another worker won; its key is complete
            else:
                os.replace(public_draft, keys_dir / public_name)
        finally:
            private_draft.unlink(missing_ok=True)
            public_draft.unlink(missing_ok=True)
    return load_private_key(keys_dir, private_name)


def _write_new(path: Path, content: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def load_private_key(keys_dir: Path, private_name: str = PRIVATE_NAME) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key((keys_dir / private_name).read_bytes(), password=None)
    except (OSError, ValueError) as error:
        raise SigningKeyError(f"cannot read the signing key {private_name} in {keys_dir}: "
                              f"{type(error).__name__}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"the signing key {private_name} is not an Ed25519 key")
    return key


def load_public_key(keys_dir: Path, private_name: str = PRIVATE_NAME,
                    public_name: str = PUBLIC_NAME) -> Ed25519PublicKey | None:
    path = keys_dir / public_name
    if path.exists():
        key = serialization.load_pem_public_key(path.read_bytes())
        if isinstance(key, Ed25519PublicKey):
            return key
    if (keys_dir / private_name).exists():
        return load_private_key(keys_dir, private_name).public_key()
    return None


def sign(private_key: Ed25519PrivateKey, seq: int, entry_hash: str, at: datetime) -> tuple[str, str, str]:
    """Returns (at_text, key id, signature as base64url)."""
    at_text = timestamp_text(at)
    signature = private_key.sign(signed_message(seq, entry_hash, at_text))
    return at_text, key_id(private_key.public_key()), base64.urlsafe_b64encode(signature).decode("ascii")


def verify_signature(public_key: Ed25519PublicKey, seq: int, entry_hash: str, at_text: str,
                     signature_b64: str) -> bool:
    try:
        public_key.verify(base64.urlsafe_b64decode(signature_b64), signed_message(seq, entry_hash, at_text))
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class CheckpointLine:
    seq: int
    entry_hash: str
    at_text: str
    key_id: str
    signature: str

    def render(self) -> str:
        return (f"{LINE_PREFIX} seq={self.seq} hash={self.entry_hash} at={self.at_text} "
                f"key={self.key_id} sig={self.signature}")


def parse_line(line: str) -> CheckpointLine | None:
    match = LINE_PATTERN.match(line.strip())
    if not match:
        return None
    return CheckpointLine(int(match["seq"]), match["hash"], match["at"], match["key"], match["sig"])
