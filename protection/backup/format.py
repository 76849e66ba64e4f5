"""The backup file: a header, then zlib-compressed content sealed in AES-256-GCM chunks.

    header   "HOSOBKP\\n" | version (1) | backup key id (8) | salt (16)
    chunk    final flag (1) | length (4, big-endian) | ciphertext + tag (length)

Each file gets its own AES key, HKDF-derived from the backup key and the file's random
salt, so chunk nonces can simply count (0, 1, 2...) without ever repeating under a key.
Every chunk's associated data is the whole header, its index and its final flag: a chunk
moved, dropped, duplicated, taken from another file, or a file cut before the chunk that
says "final" fails authentication or is reported as truncated. The content is streamed:
neither side ever holds more than one chunk.

The backup key is its own secret (HOSO_BACKUP_KEY, or instance/keys/backup.key made on
first use), so whoever holds backups cannot read them without it, and rotating the master
key does not strand old backups.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..keystore import KeyConfigurationError, decode_key, new_key, read_key_file, write_key_file

MAGIC = b"HOSOBKP\n"
VERSION = 1
SALT_BYTES = 16
KEY_ID_BYTES = 8
HEADER_BYTES = len(MAGIC) + 1 + KEY_ID_BYTES + SALT_BYTES
CHUNK_PLAINTEXT = 1 << 20  # 1 MiB of compressed content per chunk
TAG_BYTES = 16
_CHUNK_HEAD = struct.Struct(">BI")
_INFO = b"hoso/backup/v1/file-key"

BACKUP_KEY_ENV = "HOSO_BACKUP_KEY"
BACKUP_KEY_FILE = "backup.key"


class BackupError(Exception):
    """A one-line reason a backup cannot be written or read (never a protected value)."""


class MissingBackupKey(KeyConfigurationError):
    pass


# --- the backup key ---------------------------------------------------------------------------

def backup_key_id(raw: bytes) -> bytes:
    return hmac.new(raw, b"hoso/backup/key-id", hashlib.sha256).digest()[:KEY_ID_BYTES]


def load_backup_key(keys_dir: Path, environ, *, create: bool) -> bytes:
    """HOSO_BACKUP_KEY, else instance/keys/backup.key — made (0600) when `create` and absent."""
    if environ.get(BACKUP_KEY_ENV):
        return decode_key(environ[BACKUP_KEY_ENV], BACKUP_KEY_ENV, MissingBackupKey)
    path = keys_dir / BACKUP_KEY_FILE
    if path.exists():
        return read_key_file(path, MissingBackupKey)
    if not create:
        raise MissingBackupKey(f"no backup key: set {BACKUP_KEY_ENV} or put the backup's key in {path}")
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    raw = new_key()
    write_key_file(path, raw)
    return raw


def _file_cipher(raw_key: bytes, salt: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO).derive(raw_key)
    return AESGCM(derived)


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


def _associated(header: bytes, index: int, final: bool) -> bytes:
    return header + index.to_bytes(8, "big") + (b"\x01" if final else b"\x00")


# --- writing ----------------------------------------------------------------------------------

class SealedWriter:
    """Compresses and seals what is written; `close()` writes the final chunk."""

    def __init__(self, out: BinaryIO, raw_key: bytes):
        self._out = out
        salt = os.urandom(SALT_BYTES)
        self._header = MAGIC + bytes([VERSION]) + backup_key_id(raw_key) + salt
        self._cipher = _file_cipher(raw_key, salt)
        self._compressor = zlib.compressobj(6)
        self._pending = bytearray()
        self._index = 0
        self.bytes_written = 0
        self._emit(self._header)

    def _emit(self, data: bytes) -> None:
        self._out.write(data)
        self.bytes_written += len(data)

    def _seal(self, plaintext: bytes, final: bool) -> None:
        ciphertext = self._cipher.encrypt(_nonce(self._index), plaintext,
                                          _associated(self._header, self._index, final))
        self._emit(_CHUNK_HEAD.pack(1 if final else 0, len(ciphertext)) + ciphertext)
        self._index += 1

    def write(self, data: bytes) -> None:
        self._pending += self._compressor.compress(data)
        while len(self._pending) >= CHUNK_PLAINTEXT:
            self._seal(bytes(self._pending[:CHUNK_PLAINTEXT]), final=False)
            del self._pending[:CHUNK_PLAINTEXT]

    def close(self) -> None:
        self._pending += self._compressor.flush()
        while len(self._pending) > CHUNK_PLAINTEXT:
            self._seal(bytes(self._pending[:CHUNK_PLAINTEXT]), final=False)
            del self._pending[:CHUNK_PLAINTEXT]
        self._seal(bytes(self._pending), final=True)
        self._pending.clear()


# --- reading ----------------------------------------------------------------------------------

def _read_exact(source: BinaryIO, size: int) -> bytes:
    data = source.read(size)
    return data if data is not None else b""


def read_header(source: BinaryIO, raw_key: bytes, name: str) -> bytes:
    header = _read_exact(source, HEADER_BYTES)
    if len(header) < len(MAGIC) or header[:len(MAGIC)] != MAGIC:
        raise BackupError(f"{name} is not a Hoso backup file")
    if len(header) < HEADER_BYTES:
        raise BackupError(f"{name} is truncated: its header is incomplete")
    version = header[len(MAGIC)]
    if version != VERSION:
        raise BackupError(f"{name} is a backup of format version {version}; this Hoso reads version {VERSION}")
    stored_id = header[len(MAGIC) + 1:len(MAGIC) + 1 + KEY_ID_BYTES]
    if not hmac.compare_digest(stored_id, backup_key_id(raw_key)):
        raise BackupError(f"{name} was encrypted with another backup key (key id {stored_id.hex()}, "
                          f"this instance's is {backup_key_id(raw_key).hex()})")
    return header


def open_content(source: BinaryIO, raw_key: bytes, name: str) -> Iterator[bytes]:
    """The decompressed content, chunk by chunk, each authenticated before it is yielded.

    Raises BackupError for a corrupted, reordered, truncated or over-long file; a caller that
    must not act on a partly read file reads it all once before acting (see snapshot.py).
    """
    header = read_header(source, raw_key, name)
    cipher = _file_cipher(raw_key, header[-SALT_BYTES:])
    decompressor = zlib.decompressobj()
    index = 0
    while True:
        head = _read_exact(source, _CHUNK_HEAD.size)
        if len(head) < _CHUNK_HEAD.size:
            raise BackupError(f"{name} is truncated: it ends before its final chunk")
        flag, length = _CHUNK_HEAD.unpack(head)
        if flag not in (0, 1) or not TAG_BYTES <= length <= CHUNK_PLAINTEXT + TAG_BYTES:
            raise BackupError(f"{name} is corrupted: chunk {index} has an impossible header")
        ciphertext = _read_exact(source, length)
        if len(ciphertext) < length:
            raise BackupError(f"{name} is truncated: chunk {index} is cut short")
        final = flag == 1
        try:
            plaintext = cipher.decrypt(_nonce(index), ciphertext, _associated(header, index, final))
        except InvalidTag:
            raise BackupError(f"{name} is corrupted: chunk {index} failed authentication") from None
        try:
            data = decompressor.decompress(plaintext)
        except zlib.error:  # authenticated yet undecodable: written by something else
            raise BackupError(f"{name} is corrupted: chunk {index} does not decompress") from None
        if data:
            yield data
        index += 1
        if final:
            break
    if source.read(1):
        raise BackupError(f"{name} is corrupted: there is data after its final chunk")
    tail = decompressor.flush()
    if tail:
        yield tail
    if not decompressor.eof:
        raise BackupError(f"{name} is corrupted: its content ends early")


def lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Split a stream of bytes into lines (without the newline); a long line (a big blob)
    is gathered in parts, not re-scanned with every chunk."""
    parts: list[bytes] = []
    for chunk in chunks:
        *complete, rest = chunk.split(b"\n")
        for piece in complete:
            parts.append(piece)
            yield b"".join(parts)
            parts = []
        if rest:
            parts.append(rest)
    if parts:
        yield b"".join(parts)
