"""Envelope encryption: the master key, a data key per record owner, sealed values, blind indexes.

Key hierarchy
-------------
::

    master key (KEK)  instance/keys/master.key or HOSO_MASTER_KEY; never in the database
      └─ data keys (DEKs)  table data_keys, one per record owner (a subject, a case, ...),
           │               each wrapped by the master key
           └─ values       every EncryptedText/JSON/Date/Bytes value of that owner's rows
    index root key    instance/keys/index.key or HOSO_INDEX_KEY; a separate secret
      └─ one HMAC key per blind index, derived with HKDF under the index's name

* Key files, key ids, the data_keys and keyring tables and the errors raised here live in
  protection.keystore.
* **Data keys** are wrapped with AES-256-GCM under the master key: ``nonce(12) ||
  ciphertext+tag``, with associated data ``"hoso/data-key/v1" || DEK id || master key id``,
  so a wrapped key moved to another row or relabelled with another master fails to
  unwrap. Destroying a data_keys row crypto-shreds every value sealed under it.
* **Sealed values** (format version 1)::

      0x01 | DEK id (16 bytes, a UUID) | nonce (12 random bytes) | AES-256-GCM ciphertext+tag

  with associated data ``header || table || 0x00 || column || 0x00 || row id (16 bytes)``:
  a ciphertext copied into another row or column, or with a changed header, fails to
  open with TamperedCiphertext naming the table, column and row (never the value).
  Random 96-bit nonces are safe up to 2**32 messages per key (NIST SP 800-38D, 8.3);
  a data key seals one record's values, many orders of magnitude fewer.
* **Blind indexes**: HMAC-SHA256 under ``HKDF-SHA256(index root, info="hoso/blind-index/v1|"
  + table.column)``, truncated to a few bits (see ``index_plans.index_bits_range``). The index root is
  neither the master key nor a data key, so rotating the master key or re-keying content
  never changes an index, and a leaked index key does not decrypt anything.

Detecting a wrong key
---------------------
The database pins the ids of the keys in use in the one-row-per-name table ``keyring``
(``master_key_id``, ``index_key_id``, plus ``dek_generation`` for re-keying). The pins are
written by ``init`` and, on a database that has none yet, with the first data key. At
start-up ``configure_crypto`` compares them with the keys it loaded: a different master or
index key stops start-up with one line, before anything can be sealed under a key the
rest of the data does not share. (Checking by unwrapping one data key would prove the same
thing but says nothing on a database that has no data key yet.) If the database cannot be
reached at start-up the check is skipped; every later use verifies the pins again.

Rotation while serving
----------------------
``keys rotate-master`` writes the new key to ``master.key.new``, pins its id, re-wraps the
data keys in batches and then swaps the files. A running server that meets a master key id
it does not hold re-reads ``master.key`` and ``master.key.new``, so it keeps working during
and after a rotation without a restart. New data keys are always wrapped under the pinned
id, read ``FOR SHARE`` inside the writing transaction, so none is wrapped under a key that
is being retired (on SQLite, BEGIN IMMEDIATE already serialises the two).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import click
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, abort, current_app
from sqlalchemy import Engine, exc, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, scoped_session

from .clock import utcnow
from .db import db
from .keystore import (
    INDEX_KEY_ENV,
    INDEX_KEY_FILE,
    KEY_BYTES,
    MASTER_KEY_ENV,
    MASTER_KEY_FILE,
    PIN_GENERATION,
    PIN_INDEX,
    PIN_MASTER,
    DataKey,
    DataKeyDestroyed,
    KeyConfigurationError,
    KeyringEntry,
    KeySources,
    MasterKey,
    MissingIndexKey,
    MissingMasterKey,
    TamperedCiphertext,
    WrongIndexKey,
    WrongMasterKey,
    key_id,
    new_data_key_id,
    read_key_file,
)
from .settings import ConfigurationError

log = logging.getLogger(__name__)

NONCE_BYTES = 12
TAG_BYTES = 16
FORMAT_V1 = 1
HEADER_BYTES = 1 + 16
SEALED_OVERHEAD = HEADER_BYTES + NONCE_BYTES + TAG_BYTES

_DATA_KEY_AAD = b"hoso/data-key/v1"
_INDEX_KEY_INFO = b"hoso/blind-index/v1|"

# Unwrapped data keys kept in memory per process; a miss costs one indexed read and one
# unwrap. Emptied when full rather than LRU: simpler, lock-free, and a refill is cheap.
DATA_KEY_CACHE_LIMIT = 200_000


# --- the keyring --------------------------------------------------------------------------

@dataclass
class NewDataKey:
    id: uuid.UUID
    row: dict


class KeyRing:
    """Everything that touches key material. Models and views never do."""

    def __init__(self, sources: KeySources):
        master = sources.master()
        if master is None:
            raise MissingMasterKey(
                f"no master key: {sources.keys_dir / MASTER_KEY_FILE} is missing and "
                f"{MASTER_KEY_ENV} is not set (run `flask --app app init`)"
            )
        index = sources.index()
        if index is None:
            raise MissingIndexKey(
                f"no blind-index key: {sources.keys_dir / INDEX_KEY_FILE} is missing and "
                f"{INDEX_KEY_ENV} is not set (run `flask --app app init`)"
            )
        if hmac.compare_digest(master[0], index[0]):
            raise MissingIndexKey("the blind-index key must be a separate secret, not the master key")
        self.sources = sources
        self.primary = MasterKey.from_raw(*master)
        self._masters: dict[str, MasterKey] = {self.primary.id: self.primary}
        self._index_root = index[0]
        self.index_key_id = key_id(index[0])
        self.index_source = index[1]
        self._index_keys: dict[str, bytes] = {}
        self._index_macs: dict[str, hmac.HMAC] = {}
        # Keyed by the id's 16 bytes, as they sit in a ciphertext's header: no UUID to build.
        self._data_keys: dict[bytes, AESGCM] = {}
        self._contexts: dict[tuple[str, str], bytes] = {}
        self._rescan_lock = threading.Lock()
        self._rescan_masters()

    def __repr__(self) -> str:
        return f"<KeyRing master={self.primary.id} index={self.index_key_id}>"

    # -- master keys --

    def add_master(self, master: MasterKey) -> None:
        self._masters[master.id] = master

    def _rescan_masters(self) -> None:
        """Pick up master.key / master.key.new written by a rotation since start-up."""
        with self._rescan_lock:
            candidates = [self.sources.pending_master()]
            path = self.sources.keys_dir / MASTER_KEY_FILE
            if self.sources.master_from_file() and path.exists():
                candidates.append(MasterKey.from_raw(read_key_file(path, WrongMasterKey), str(path)))
            for master in candidates:
                if master is not None:
                    self._masters.setdefault(master.id, master)

    def master(self, master_id: str) -> MasterKey:
        found = self._masters.get(master_id)
        if found is None:
            self._rescan_masters()
            found = self._masters.get(master_id)
        if found is None:
            raise WrongMasterKey(
                f"the master key ({self.primary.source}, id {self.primary.id}) is not the one "
                f"that protects this database's data keys (id {master_id}): restore the "
                "matching master.key (an older master.key.old-* file?) or HOSO_MASTER_KEY"
            )
        return found

    def wrap(self, master: MasterKey, data_key_id: uuid.UUID, raw: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + master.aead.encrypt(nonce, raw, _DATA_KEY_AAD + data_key_id.bytes + master.id.encode())

    def unwrap(self, data_key_id: uuid.UUID, wrapped: bytes, master_id: str) -> bytes:
        master = self.master(master_id)
        try:
            return master.aead.decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:],
                _DATA_KEY_AAD + data_key_id.bytes + master_id.encode(),
            )
        except InvalidTag:
            raise TamperedCiphertext("data_keys", "wrapped_key", data_key_id) from None

    # -- pins --

    def check_pins(self, pins: Mapping[str, str]) -> None:
        master_pin = pins.get(PIN_MASTER)
        if master_pin is not None:
            self.master(master_pin)
        index_pin = pins.get(PIN_INDEX)
        if index_pin is not None and index_pin != self.index_key_id:
            raise WrongIndexKey(
                f"the blind-index key ({self.index_source}, id {self.index_key_id}) is not the "
                f"one this database's indexes were built with (id {index_pin}): restore the "
                f"matching {INDEX_KEY_FILE} or {INDEX_KEY_ENV}"
            )

    def verify(self, engine: Engine) -> bool:
        """Start-up check against the database's pins; False when it could not be read."""
        try:
            with engine.connect() as connection:
                pins = dict(connection.execute(select(KeyringEntry.name, KeyringEntry.value)).all())
                connection.rollback()
        except (exc.OperationalError, exc.ProgrammingError):
            # No schema yet (init creates it), or the database is down: every later use
            # checks the pins again before sealing anything.
            log.warning("key check deferred: the keyring table cannot be read yet")
            return False
        self.check_pins(pins)
        return True

    def pins(self, session: Session) -> dict[str, str]:
        """This transaction's pins, read FOR SHARE once per transaction and written if absent."""
        if isinstance(session, scoped_session):
            session = session()
        connection = session.connection()
        transaction = session.get_transaction()
        cached = session.info.get("hoso_pins")
        if cached is not None and cached[0] is transaction:
            return cached[1]
        table = KeyringEntry.__table__
        statement = select(table.c.name, table.c.value).with_for_update(read=True)
        pins = dict(connection.execute(statement).all())
        defaults = {PIN_MASTER: self.primary.id, PIN_INDEX: self.index_key_id, PIN_GENERATION: "1"}
        missing = [(name, value) for name, value in defaults.items() if name not in pins]
        if missing:
            insert_pins = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(table)
            connection.execute(
                insert_pins.on_conflict_do_nothing(index_elements=["name"]),
                [{"name": name, "value": value, "updated_at": utcnow()} for name, value in missing],
            )
            pins = dict(connection.execute(statement).all())
        self.check_pins(pins)
        session.info["hoso_pins"] = (transaction, pins)
        return pins

    def set_pin(self, session: Session, name: str, value: str) -> None:
        table = KeyringEntry.__table__
        self.pins(session)
        session.connection().execute(
            table.update().where(table.c.name == name).values(value=value, updated_at=utcnow())
        )
        session.info.pop("hoso_pins", None)

    # -- data keys --

    def new_data_key(self, session: Session, *, pins: Mapping[str, str] | None = None) -> NewDataKey:
        """A fresh data key, wrapped under the pinned master; the caller inserts `row`.
        `pins`: this transaction's, when the caller already read them."""
        if pins is None:
            pins = self.pins(session)
        master = self.master(pins[PIN_MASTER])
        raw = AESGCM.generate_key(bit_length=256)
        data_key_id = new_data_key_id()
        self._remember(data_key_id, AESGCM(raw))
        row = {
            "id": data_key_id, "master_key_id": master.id, "wrapped_key": self.wrap(master, data_key_id, raw),
            "generation": int(pins[PIN_GENERATION]), "created_at": utcnow(),
        }
        return NewDataKey(data_key_id, row)

    @staticmethod
    def insert_data_keys(session: Session, rows: list[dict]) -> None:
        if rows:
            session.connection().execute(insert(DataKey.__table__), rows)

    def _remember(self, data_key_id: uuid.UUID, aead: AESGCM) -> None:
        if len(self._data_keys) >= DATA_KEY_CACHE_LIMIT:
            self._data_keys.clear()
        self._data_keys[data_key_id.bytes] = aead

    def forget(self, data_key_id: uuid.UUID) -> None:
        self._data_keys.pop(data_key_id.bytes, None)

    def forget_all(self) -> None:
        self._data_keys.clear()

    def data_key(self, session: Session, data_key_id: uuid.UUID) -> AESGCM | None:
        """The unwrapped key, or None when no such key exists (destroyed)."""
        aead = self._data_keys.get(data_key_id.bytes)
        if aead is None:
            self.preload(session, [data_key_id])
            aead = self._data_keys.get(data_key_id.bytes)
        return aead

    def remember_wrapped(self, data_key_id: uuid.UUID, wrapped: bytes, master_id: str) -> None:
        """Unwrap a data key read by the caller's own query (e.g. joined to its rows)."""
        if data_key_id.bytes not in self._data_keys:
            self._remember(data_key_id, AESGCM(self.unwrap(data_key_id, wrapped, master_id)))

    def preload(self, session: Session, data_key_ids: Iterable[uuid.UUID] | object) -> int:
        """Unwrap many data keys with one query: a list of ids, or a SELECT of ids.

        Listing or exporting many records otherwise costs one query per record's key.
        """
        table = DataKey.__table__
        if isinstance(data_key_ids, list | tuple | set | frozenset):
            wanted = [key for key in data_key_ids if key is not None and key.bytes not in self._data_keys]
            if not wanted:
                return 0
            condition = table.c.id.in_(wanted)
        else:
            condition = table.c.id.in_(data_key_ids)
        rows = session.connection().execute(
            select(table.c.id, table.c.wrapped_key, table.c.master_key_id).where(condition)
        ).all()
        for row in rows:
            self._remember(row.id, AESGCM(self.unwrap(row.id, row.wrapped_key, row.master_key_id)))
        return len(rows)

    # -- values --

    def _context(self, table: str, column: str, row_id: uuid.UUID) -> bytes:
        prefix = self._contexts.get((table, column))
        if prefix is None:
            prefix = self._contexts[(table, column)] = f"{table}\x00{column}\x00".encode()
        return prefix + row_id.bytes

    def seal_with(self, aead: AESGCM, data_key_id: uuid.UUID, plaintext: bytes,
                  table: str, column: str, row_id: uuid.UUID) -> bytes:
        header = bytes((FORMAT_V1,)) + data_key_id.bytes
        nonce = os.urandom(NONCE_BYTES)
        return header + nonce + aead.encrypt(nonce, plaintext, header + self._context(table, column, row_id))

    def batch_sealer(self, session: Session) -> BatchSealer:
        """A sealer for the rows of one flush (or one batch of `keys rekey`)."""
        return BatchSealer(self, session)

    def seal(self, session: Session, data_key_id: uuid.UUID, plaintext: bytes,
             table: str, column: str, row_id: uuid.UUID) -> bytes:
        aead = self.data_key(session, data_key_id)
        if aead is None:
            raise DataKeyDestroyed(table, column, row_id, data_key_id)
        return self.seal_with(aead, data_key_id, plaintext, table, column, row_id)

    def opener(self, session: Session, row_id: uuid.UUID):
        """open(sealed, field) for the values of one row (field has .label, .table, .column)."""
        row = row_id.bytes
        cache = self._data_keys
        # The values of one row are nearly always under one key: remember the last header
        # and its key, and recognise it with startswith (no slice, no hashing).
        last_header = b"\x00"  # no format 0, so nothing starts with it... until set below
        last_decrypt = None

        def open_(sealed: bytes, field) -> bytes:
            nonlocal last_header, last_decrypt
            if last_decrypt is None or not sealed.startswith(last_header) or len(sealed) < SEALED_OVERHEAD:
                aead = cache.get(sealed[1:HEADER_BYTES])
                if aead is None or len(sealed) < SEALED_OVERHEAD or sealed[0] != FORMAT_V1:
                    return self.open(session, sealed, field.table, field.column, row_id)
                last_header = bytes(sealed[:HEADER_BYTES])
                last_decrypt = aead.decrypt
            try:
                return last_decrypt(sealed[HEADER_BYTES:HEADER_BYTES + NONCE_BYTES],
                                    sealed[HEADER_BYTES + NONCE_BYTES:], last_header + field.label + row)
            except InvalidTag:
                raise TamperedCiphertext(field.table, field.column, row_id) from None

        return open_

    def open(self, session: Session, sealed: bytes, table: str, column: str, row_id: uuid.UUID) -> bytes:
        if len(sealed) < SEALED_OVERHEAD:
            raise TamperedCiphertext(table, column, row_id, "is truncated")
        if sealed[0] != FORMAT_V1:
            raise TamperedCiphertext(table, column, row_id, f"has unknown format version {sealed[0]}")
        aead = self._data_keys.get(bytes(sealed[1:HEADER_BYTES]))
        if aead is None:
            data_key_id = uuid.UUID(bytes=bytes(sealed[1:HEADER_BYTES]))
            aead = self.data_key(session, data_key_id)
            if aead is None:
                raise DataKeyDestroyed(table, column, row_id, data_key_id)
        try:
            return aead.decrypt(
                sealed[HEADER_BYTES:HEADER_BYTES + NONCE_BYTES], sealed[HEADER_BYTES + NONCE_BYTES:],
                sealed[:HEADER_BYTES] + self._context(table, column, row_id),
            )
        except InvalidTag:
            raise TamperedCiphertext(table, column, row_id) from None

    # -- blind indexes --

    def _index_key(self, index_name: str) -> bytes:
        derived = self._index_keys.get(index_name)
        if derived is None:
            derived = HKDF(
                algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                info=_INDEX_KEY_INFO + index_name.encode(),
            ).derive(self._index_root)
            self._index_keys[index_name] = derived
        return derived

    def blind_index(self, index_name: str, normalised: bytes, bits: int) -> int:
        """The first `bits` bits of HMAC-SHA256 under this index's own key, as an integer."""
        # A keyed HMAC state per index, copied for each value: the key schedule (two
        # SHA-256 blocks) is computed once instead of for every value.
        keyed = self._index_macs.get(index_name)
        if keyed is None:
            keyed = self._index_macs[index_name] = hmac.new(self._index_key(index_name), digestmod=hashlib.sha256)
        mac = keyed.copy()
        mac.update(normalised)
        return int.from_bytes(mac.digest()[:4], "big") >> (32 - bits)

    def content_mac(self, index_name: str, data: bytes) -> str:
        """The whole HMAC-SHA256 of `data` under this index's own key, in hex: tells two equal
        files apart from all others without letting anyone who lacks the key confirm a guess."""
        return hmac.new(self._index_key(index_name), data, hashlib.sha256).hexdigest()


# Nonces are read from the operating system's CSPRNG this many bytes at a time (341 nonces):
# the system call costs as much as sealing a short field.
NONCE_BLOCK_BYTES = NONCE_BYTES * 341


class BatchSealer:
    """Seals the values of many rows for one flush or one re-keying batch.

    Each data key is looked up once, not once per row, and nonces come from one read of
    the CSPRNG per block instead of one read each. Every nonce is still 96 fresh random
    bits used once; the unused rest of a block is dropped with the sealer, which lives for
    one flush of one session (one transaction), so no nonce outlives it or crosses a fork.
    """

    __slots__ = ("_keyring", "_session", "_keys", "_nonces", "_used")

    def __init__(self, keyring: KeyRing, session: Session):
        self._keyring = keyring
        self._session = session
        self._keys: dict[uuid.UUID, tuple[bytes, Callable[[bytes, bytes, bytes], bytes]]] = {}
        self._nonces = b""
        self._used = 0

    def seal_row(self, data_key_id: uuid.UUID, row_id: uuid.UUID, plaintexts: list[bytes],
                 labels: list[bytes], into: list[bytes]) -> None:
        """Seal one row's values, appending them to `into` in order. Each label is its
        field's ``table NUL column NUL``, as _context builds it."""
        entry = self._keys.get(data_key_id)
        if entry is None:
            aead = self._keyring.data_key(self._session, data_key_id)
            if aead is None:
                table, column = labels[0].decode().split("\x00")[:2]
                raise DataKeyDestroyed(table, column, row_id, data_key_id)
            entry = self._keys[data_key_id] = (bytes((FORMAT_V1,)) + data_key_id.bytes, aead.encrypt)
        header, encrypt = entry
        row = row_id.bytes
        used, need = self._used, NONCE_BYTES * len(plaintexts)
        if used + need > len(self._nonces):
            self._nonces, used = os.urandom(max(need, NONCE_BLOCK_BYTES)), 0
        nonces = self._nonces
        self._used = used + need
        append = into.append
        for plaintext, label in zip(plaintexts, labels, strict=True):
            nonce = nonces[used:used + NONCE_BYTES]
            used += NONCE_BYTES
            append(header + nonce + encrypt(nonce, plaintext, header + label + row))




# --- wiring -------------------------------------------------------------------------------

_EXTENSION = "hoso_keyring"
_EXTENSION_ERROR = "hoso_keyring_error"
_EXTENSION_SOURCES = "hoso_key_sources"


def key_sources(app: Flask) -> KeySources:
    return app.extensions[_EXTENSION_SOURCES]


def configure_crypto(app: Flask) -> None:
    """Load the keyring and check it against the database; refuse to start without it.

    Tests inject keys through create_app's mapping (popped from app.config at once so the
    key never sits in config); a deployment uses instance/keys/ or the environment.
    """
    injected = {name: app.config.pop(name) for name in (MASTER_KEY_ENV, INDEX_KEY_ENV) if name in app.config}
    if injected and not app.config.get("TESTING"):
        raise ConfigurationError(
            f"{', '.join(sorted(injected))} belongs in the environment or instance/keys/, not in config.py"
        )
    sources = KeySources(Path(app.instance_path) / "keys", os.environ, injected)
    app.extensions[_EXTENSION_SOURCES] = sources
    try:
        keyring = KeyRing(sources)
        if not app.config.get("HOSO_UNINITIALISED"):
            with app.app_context():
                try:
                    keyring.verify(db.engine)
                except KeyConfigurationError:
                    db.engine.dispose()  # this app will not serve: close what the check opened
                    raise
    except KeyConfigurationError as error:
        # `flask --app app init` must load the app whose keys it creates; any other
        # command that needs a key, and every web request, is refused with this reason.
        if click.get_current_context(silent=True) is None:
            raise
        app.extensions[_EXTENSION_ERROR] = error
        app.before_request(lambda: abort(503))
        return
    app.extensions[_EXTENSION] = keyring


def install_keyring(app: Flask, keyring: KeyRing) -> None:
    app.extensions[_EXTENSION] = keyring
    app.extensions.pop(_EXTENSION_ERROR, None)


def current_keyring() -> KeyRing:
    app = current_app._get_current_object()
    keyring = app.extensions.get(_EXTENSION)
    if keyring is None:
        raise app.extensions.get(_EXTENSION_ERROR) or MissingMasterKey(
            "the keyring is not configured (create_app runs configure_crypto)"
        )
    return keyring
