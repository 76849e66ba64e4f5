"""The key store: key files, the tables that hold data keys and pins, and the crypto core's errors.

* Key files hold 32 random bytes as one line of standard base64 (44 characters), the same
  text HOSO_MASTER_KEY / HOSO_INDEX_KEY take, so a key moves between a file and a secret
  store unchanged and can be written on paper. A file readable by group or others is
  refused, as ssh refuses a private key with loose permissions.
* A key's id is the first 8 bytes of HMAC-SHA256(key, "hoso/key-id/v1"), in hex. It
  names a key without revealing anything about it (HMAC is a PRF).
* ``data_keys`` holds one wrapped data key per record owner; ``keyring`` pins the ids of
  the master and index keys this database belongs to (see protection.crypto for how both
  are used). Deleting a data_keys row crypto-shreds every value sealed under it.

Nothing here encrypts: protection.crypto's KeyRing does, with what this module loads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import stat
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from .clock import UTCDateTime, utcnow
from .db import Base
from .settings import ConfigurationError

KEY_BYTES = 32

MASTER_KEY_FILE = "master.key"
PENDING_MASTER_KEY_FILE = "master.key.new"
RETIRED_MASTER_KEY_PREFIX = "master.key.old-"
INDEX_KEY_FILE = "index.key"
MASTER_KEY_ENV = "HOSO_MASTER_KEY"
INDEX_KEY_ENV = "HOSO_INDEX_KEY"

PIN_MASTER = "master_key_id"
PIN_INDEX = "index_key_id"
PIN_GENERATION = "dek_generation"

_KEY_ID_LABEL = b"hoso/key-id/v1"


# --- the crypto core's errors ---------------------------------------------------------------------------

class CryptoError(Exception):
    """Base of every error the crypto core raises. Messages never contain a protected value."""


class KeyConfigurationError(CryptoError, ConfigurationError):
    """A key is missing, malformed or not the database's: start-up stops with this one line."""


class MissingMasterKey(KeyConfigurationError):
    pass


class WrongMasterKey(KeyConfigurationError):
    pass


class MissingIndexKey(KeyConfigurationError):
    pass


class WrongIndexKey(KeyConfigurationError):
    pass


class TamperedCiphertext(CryptoError):
    """A sealed value (or a wrapped data key) failed authentication.

    Names the record so an operator can find it; never includes the value.
    """

    def __init__(self, table: str, column: str, row_id: object, reason: str = "failed authentication"):
        self.table = table
        self.column = column
        self.row_id = row_id
        super().__init__(
            f"{table}.{column} of row {row_id}: ciphertext {reason} "
            "(tampered, corrupted, or copied from another row or column)"
        )


class DataKeyDestroyed(CryptoError):
    """The data key a value was sealed under no longer exists (crypto-shredded)."""

    def __init__(self, table: str, column: str, row_id: object, key_id: uuid.UUID | None):
        self.table = table
        self.column = column
        self.row_id = row_id
        self.key_id = key_id
        super().__init__(f"{table}.{column} of row {row_id}: its data key {key_id or ''} was destroyed")


# --- tables -------------------------------------------------------------------------------

class DataKey(Base):
    """A data key, wrapped by the master key. Deleting the row crypto-shreds its values."""

    __tablename__ = "data_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    master_key_id: Mapped[str] = mapped_column(String(16), index=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    # Keys of an older generation than keyring.dek_generation are being replaced by
    # `keys rekey`; new keys always get the current one.
    generation: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<DataKey {self.id} generation={self.generation}>"


class KeyringEntry(Base):
    """Pins: which master and index key this database belongs to; the current generation."""

    __tablename__ = "keyring"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- key material -------------------------------------------------------------------------

def key_id(raw: bytes) -> str:
    return hmac.new(raw, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]


def decode_key(text: str, source: str, error: type[KeyConfigurationError]) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise error(f"{source} is not a base64 key (expected 44 characters of base64)") from None
    if len(raw) != KEY_BYTES:
        raise error(f"{source} must hold {KEY_BYTES} bytes in base64, found {len(raw)}")
    return raw


def encode_key(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii") + "\n"


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def read_key_file(path: Path, error: type[KeyConfigurationError]) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise error(f"{path} is readable by other users (mode {mode:o}): run `chmod 600 {path}`")
    return decode_key(path.read_text(encoding="ascii"), str(path), error)


def write_key_file(path: Path, raw: bytes) -> None:
    """Create with mode 0600, refusing to replace an existing file, and make it durable."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, encode_key(raw).encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_directory(path.parent)


def fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)



@dataclass(frozen=True)
class MasterKey:
    id: str
    source: str
    aead: AESGCM = field(repr=False)

    @classmethod
    def from_raw(cls, raw: bytes, source: str) -> MasterKey:
        return cls(key_id(raw), source, AESGCM(raw))


@dataclass(frozen=True)
class KeySources:
    """Where the keys come from: tests inject them, the environment, then instance/keys/."""

    keys_dir: Path
    environ: Mapping[str, str]
    injected: Mapping[str, str] = field(default_factory=dict, repr=False)

    def master(self) -> tuple[bytes, str] | None:
        return self._find(MASTER_KEY_ENV, MASTER_KEY_FILE, MissingMasterKey)

    def index(self) -> tuple[bytes, str] | None:
        return self._find(INDEX_KEY_ENV, INDEX_KEY_FILE, MissingIndexKey)

    def master_from_file(self) -> bool:
        return MASTER_KEY_ENV not in self.injected and MASTER_KEY_ENV not in self.environ

    def pending_master(self) -> MasterKey | None:
        path = self.keys_dir / PENDING_MASTER_KEY_FILE
        if not path.exists():
            return None
        return MasterKey.from_raw(read_key_file(path, WrongMasterKey), str(path))

    def _find(self, env: str, filename: str, error: type[KeyConfigurationError]):
        if env in self.injected:
            return decode_key(self.injected[env], env, error), env
        if env in self.environ:
            return decode_key(self.environ[env], env, error), env
        path = self.keys_dir / filename
        if path.exists():
            return read_key_file(path, error), str(path)
        return None


def new_data_key_id() -> uuid.UUID:
    """A UUIDv7 (RFC 9562, 5.7): the creation time in milliseconds, then 74 random bits.

    Data key ids are time-ordered so that each new key lands at the end of every index on
    a ``data_key_id`` column (the data_keys primary key, and each protected table's
    foreign key, which a dossier's relatives repeat) instead of on a random page of each:
    writing 20k dossiers through the bench then wrote 1.33 GB to disk instead of 1.70 GB
    (1.17 GB for the same dossiers in the clear), as each commit had fewer pages to log.
    The time an id reveals is no secret: data_keys.created_at holds it beside the id.
    Row ids stay random (UUIDv4): they appear in addresses and must not date a record.
    """
    native = getattr(uuid, "uuid7", None)  # Python 3.14
    if native is not None:
        return native()
    value = time.time_ns() // 1_000_000 << 80 | int.from_bytes(os.urandom(10), "big")
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # variant 10 (RFC 9562)
    return uuid.UUID(int=value)

