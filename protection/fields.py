"""Column types shared by every model, and declarative protection of fields.

A model protects a field in one word and never touches a key::

    class Subject(Protected, db.Model):
        __tablename__ = "subjects"
        id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
        full_name: Mapped[str] = mapped_column(EncryptedText)
        date_of_birth: Mapped[date | None] = mapped_column(EncryptedDate)
        other_names: Mapped[list[str] | None] = mapped_column(EncryptedJSON)
        full_name_index: Mapped[int | None] = mapped_column(
            BlindIndex("full_name", normalise=vietnamese_name), index=True)

    class Relative(Protected, db.Model):
        __key_owner__ = "subject"          # sealed under the subject's data key
        subject: Mapped[Subject] = relationship()
        ...

How the row and its key reach the cipher
----------------------------------------
A TypeDecorator sees one value, never its row, but the associated data needs the table,
column and row id, and the key belongs to the record's owner. So sealing happens one
step earlier, in the session's ``before_flush`` (SQLAlchemy docs, "Session Events":
the place to change objects before they are written):

1. each new ``Protected`` row gets its UUID now (the house rule: ids come from the
   application, so the id is known before the INSERT);
2. its data key is resolved: the ``__key_owner__`` relationship's key, else the key
   already assigned (``data_key_id``), else a new key for this row (a key owner, such as
   a subject or a case); new keys are inserted first, in one statement;
3. blind indexes are computed from the plaintext;
4. each new or changed protected value is sealed, and the attribute temporarily holds the
   ciphertext (a carrier, listed as in flight; its plaintext waits in the session), which
   with ``Sealed`` values is all the column type will bind: a plain value reaching the
   database is refused (``UnsealedValue``), so ORM bulk statements and Core writes cannot
   leak;
5. after the flush the plaintext is put back as the committed value (or restored if the
   flush failed), so application code only ever sees plaintext.

Loading is the mirror image: the column type returns ``Sealed`` bytes and the instance
``load``/``refresh`` events open them with the key id in the ciphertext header and the
row's own id. Select entities, not encrypted columns: ``select(Subject.full_name)``
returns the sealed bytes. A ContextVar holding "the current row" was the alternative;
it cannot work for a flush that writes many rows in one executemany.

Changes inside a JSON value are not seen (as with SQLAlchemy's plain JSON type): assign a
new value. Lengths are not hidden: a ciphertext is 45 bytes longer than its plaintext.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import islice
from typing import Any, ClassVar

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, Uuid, event, inspect, update
from sqlalchemy.orm import (
    Mapped,
    Mapper,
    Session,
    attributes,
    configure_mappers,
    declared_attr,
    mapped_column,
)
from sqlalchemy.orm.base import instance_state
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database.

    SQLite has no time zones, so values are stored as naive UTC and come back aware;
    PostgreSQL stores them in a plain ``timestamp`` for the same schema on both.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


_CRYPTO = None


def _crypto():
    # protection.crypto imports this module (for UTCDateTime); import it when first used.
    global _CRYPTO
    if _CRYPTO is None:
        from . import crypto

        _CRYPTO = crypto
    return _CRYPTO


def _index_plans():
    # protection.index_plans imports this module (for UTCDateTime) too.
    from . import index_plans

    return index_plans


# --- sealed values ------------------------------------------------------------------------

class Sealed(bytes):
    """A ciphertext in crypto.py's format: what encrypted columns bind and return."""

    __slots__ = ()


# The ciphertexts attributes hold during flushes in progress ("carriers"), by id. A carrier
# is the plain ``bytes`` the cipher returned, not a ``Sealed``: an instance of any class
# defined in Python is tracked by the garbage collector, and a flush seals tens of
# thousands of values, which made collections a third of what sealing cost. The column
# type binds exact bytes only when they are one of these very objects; the dict holds
# them, so an id cannot be reused by another object while it is listed. Entries are
# added when a flush places its carriers and removed when plaintext is put back (after
# the flush, or by the rollback of one that failed).
_IN_FLIGHT: dict[int, bytes] = {}


def _is_carrier(value: Any) -> bool:
    return type(value) is bytes and _IN_FLIGHT.get(id(value)) is value


class UnsealedValue(TypeError):
    def __init__(self, type_name: str):
        super().__init__(
            f"a plain value was bound to an {type_name} column: protected values are written "
            "only through the ORM (the flush seals them) and cannot be compared in SQL "
            "(search a BlindIndex instead)"
        )


class EncryptedType(TypeDecorator[Any]):
    """Stores ``Sealed`` bytes; see the module docstring for who seals and opens them."""

    impl = LargeBinary
    cache_ok = True

    def encode(self, value: Any, where: str) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        raise NotImplementedError

    def process_bind_param(self, value: Any, dialect) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, Sealed):
            return bytes(value)
        if _is_carrier(value):
            return value
        raise UnsealedValue(type(self).__name__)

    def process_result_value(self, value: Any, dialect) -> Sealed | None:
        if value is None:
            return None
        return Sealed(value)

    # The two hooks above, as the one function per value SQLAlchemy calls on SQLite. The
    # general path runs them and then LargeBinary's own processing (bytes to a memoryview
    # and back), which SQLite's driver does not need: a bytes value is a BLOB. Subclasses
    # that change the hooks, and other databases, keep the general path.

    def bind_processor(self, dialect):
        if dialect.name != "sqlite" or type(self).process_bind_param is not EncryptedType.process_bind_param:
            return super().bind_processor(dialect)
        type_name = type(self).__name__
        in_flight = _IN_FLIGHT

        def process(value: Any) -> bytes | None:
            if value is None:
                return None
            if type(value) is bytes and in_flight.get(id(value)) is value:
                return value
            if isinstance(value, Sealed):
                return bytes(value)
            raise UnsealedValue(type_name)

        return process

    def result_processor(self, dialect, coltype):
        if dialect.name != "sqlite" or type(self).process_result_value is not EncryptedType.process_result_value:
            return super().result_processor(dialect, coltype)

        def process(value: Any) -> Sealed | None:
            return None if value is None else Sealed(value)

        return process


class EncryptedText(EncryptedType):
    cache_ok = True

    def encode(self, value: Any, where: str) -> bytes:
        if not isinstance(value, str):
            raise TypeError(f"{where} takes text, got {type(value).__name__}")
        return value.encode("utf-8")

    def decode(self, data: bytes) -> str:
        return data.decode("utf-8")


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class EncryptedJSON(EncryptedType):
    cache_ok = True

    def encode(self, value: Any, where: str) -> bytes:
        # The encoder's own output for the scalars most fields hold (a year, a yes/no),
        # without its machinery, which costs more than sealing the value.
        kind = type(value)
        if kind is bool:
            return b"true" if value else b"false"
        if kind is int:
            return int.__repr__(value).encode("ascii")
        try:
            text = _JSON.encode(value)
        except (TypeError, ValueError):
            raise TypeError(f"{where} takes JSON-serialisable data (dict, list, str, int, ...)") from None
        return text.encode("utf-8")

    def decode(self, data: bytes) -> Any:
        if data == b"true":
            return True
        if data == b"false":
            return False
        if data.isdigit() and (data[0] != 0x30 or len(data) == 1):  # what json reads as a non-negative int
            return int(data)
        return json.loads(data)


class EncryptedDate(EncryptedType):
    cache_ok = True

    def encode(self, value: Any, where: str) -> bytes:
        if type(value) is not date:  # a datetime is a date too, and would lose its time
            raise TypeError(f"{where} takes a date, got {type(value).__name__}")
        return value.isoformat().encode("ascii")

    def decode(self, data: bytes) -> date:
        return date.fromisoformat(data.decode("ascii"))


class EncryptedBytes(EncryptedType):
    cache_ok = True

    def encode(self, value: Any, where: str) -> bytes:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"{where} takes bytes, got {type(value).__name__}")
        return bytes(value)

    def decode(self, data: bytes) -> bytes:
        return bytes(data)


# --- blind indexes ------------------------------------------------------------------------

def low_variety(normaliser: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    """Mark a normaliser whose values are few (a date of birth): never indexed alone."""
    normaliser.low_variety = True  # type: ignore[attr-defined]
    return normaliser


class BlindIndex(TypeDecorator[int]):
    """A keyed, truncated HMAC of other fields' normalised plaintext, for exact-match search.

    ``BlindIndex("id_number", normalise=citizen_id)``, or compound:
    ``BlindIndex(("full_name", "date_of_birth"), normalise=(vietnamese_name, birth_date))``.
    The flush computes it; search with ``protection.search.find``. ``bits`` defaults to
    crypto.DEFAULT_INDEX_BITS, until the installation plans the index's length for its
    population (protection.index_plans, `keys reindex`). The index key
    is derived from the index's own table.column name, so renaming the column means
    rebuilding the index.
    """

    impl = Integer
    cache_ok = True

    def __init__(self, sources: str | tuple[str, ...],
                 normalise: Callable[[Any], str | None] | tuple[Callable[[Any], str | None], ...],
                 bits: int | None = None, shares_key_of: str | None = None):
        super().__init__()
        # "table.column" of another index whose key this one uses, so that equal values
        # give equal indexes across the two (a relative's ID number against a subject's).
        self.shares_key_of = shares_key_of
        self.sources = (sources,) if isinstance(sources, str) else tuple(sources)
        self.normalise = normalise if isinstance(normalise, tuple) else (normalise,)
        self.bits = bits
        if len(self.sources) != len(self.normalise) or not self.sources:
            raise ValueError("a BlindIndex needs one normaliser per source field")
        if bits is not None and not 1 <= bits <= 31:
            raise ValueError("a BlindIndex keeps between 1 and 31 bits")
        if all(getattr(item, "low_variety", False) for item in self.normalise):
            # Issue 3: a blind index on a low-variety field alone (a birth date has ~36k
            # values for a century) is a near-plaintext index; combine it with a name.
            raise ValueError("a BlindIndex on low-variety fields alone leaks them: add a high-variety field")

    def process_bind_param(self, value: Any, dialect) -> int | None:
        if value is None or isinstance(value, int):
            return value
        raise TypeError("a BlindIndex column is computed by the flush; it takes an int")


# --- the mixin ----------------------------------------------------------------------------

class Protected:
    """A model whose encrypted fields are sealed under one data key.

    ``__key_owner__`` names the attribute (usually a many-to-one relationship) whose row
    owns the data key, e.g. ``"subject"`` for a relative or ``"case"`` for a finding; the
    key then follows the owner, and destroying it shreds the owner and its dependants.
    Without an owner (or when it is None), a row keeps the ``data_key_id`` it was given,
    or gets a key of its own on its first flush.
    """

    __key_owner__: ClassVar[str | None] = None

    @declared_attr
    def data_key_id(cls) -> Mapped[uuid.UUID | None]:
        # Nullable: a row whose key was destroyed keeps its (now unreadable) ciphertext
        # and reads as None. No ON DELETE action: destroying a key that rows still use is
        # refused, unless through destroy_data_key, which says so explicitly.
        return mapped_column(Uuid, ForeignKey("data_keys.id"), index=True)

    @property
    def is_shredded(self) -> bool:
        return self.data_key_id is None and inspect(self).persistent

    def __repr__(self) -> str:
        # Never the default dataclass-like repr: it would print protected values.
        identity = inspect(self).identity
        return f"<{type(self).__name__} {identity[0] if identity else 'pending'}>"


@dataclass(frozen=True)
class EncryptedField:
    key: str
    table: str
    column: str
    type: EncryptedType
    where: str = ""  # "table.column", for messages
    label: bytes = b""  # "table NUL column NUL", the start of the associated data

    def __post_init__(self) -> None:
        object.__setattr__(self, "where", f"{self.table}.{self.column}")
        object.__setattr__(self, "label", f"{self.table}\x00{self.column}\x00".encode())


@dataclass(frozen=True)
class IndexField:
    key: str
    table: str
    column: str
    sources: tuple[str, ...]
    normalise: tuple[Callable[[Any], str | None], ...]
    bits: int
    shares_key_of: str | None = None

    @property
    def name(self) -> str:
        """The name the index key is derived from."""
        return self.shares_key_of or f"{self.table}.{self.column}"


@dataclass(frozen=True)
class ProtectedSpec:
    class_: type
    table: str
    pk: str
    encrypted: tuple[EncryptedField, ...]
    indexes: tuple[IndexField, ...]
    owner: str | None
    # When `owner` is a many-to-one relationship: its class and the local foreign key, to
    # find the owner of a new row that was given only the id (``subject_id=...``).
    owner_class: type | None = None
    owner_fk: str | None = None

    def field(self, key: str) -> EncryptedField:
        for item in self.encrypted:
            if item.key == key:
                return item
        raise TypeError(f"{self.class_.__name__}.{key} is not an encrypted field")

    @property
    def has_large_values(self) -> bool:
        return any(isinstance(item.type, EncryptedBytes) for item in self.encrypted)


_SPECS: dict[type, ProtectedSpec] = {}


def protected_specs() -> list[ProtectedSpec]:
    """Every Protected model, for whole-database work (rekey, status, shredding)."""
    configure_mappers()
    return sorted(_SPECS.values(), key=lambda spec: spec.table)


def spec_for(class_: type) -> ProtectedSpec:
    spec = _SPECS.get(class_)
    if spec is None:
        configure_mappers()  # specs are built as mappers are configured
        spec = _SPECS.get(class_)
        if spec is None:
            raise TypeError(f"{class_.__name__} is not a Protected model")
    return spec


@event.listens_for(Mapper, "mapper_configured")
def _describe_protected_model(mapper: Mapper, class_: type) -> None:
    from . import crypto

    encrypted, indexes = [], []
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if isinstance(column.type, EncryptedType):
            encrypted.append(EncryptedField(prop.key, column.table.name, column.name, column.type))
        elif isinstance(column.type, BlindIndex):
            index_type = column.type
            indexes.append(IndexField(prop.key, column.table.name, column.name, index_type.sources,
                                      index_type.normalise, index_type.bits or crypto.DEFAULT_INDEX_BITS,
                                      index_type.shares_key_of))
    protected = issubclass(class_, Protected)
    if not protected:
        if encrypted or indexes:
            raise TypeError(f"{class_.__name__} has encrypted or blind-index columns: it must inherit Protected")
        return
    if mapper.inherits is not None:
        # Re-keying and status walk one table per model; inheritance would split or repeat it.
        raise TypeError(f"{class_.__name__}: Protected models cannot use mapper inheritance")
    if len(mapper.primary_key) != 1 or not isinstance(mapper.primary_key[0].type, Uuid):
        raise TypeError(f"{class_.__name__}: a Protected model needs a single UUID primary key")
    owner_class = owner_fk = None
    owner = class_.__key_owner__
    if owner in mapper.relationships:
        relationship = mapper.relationships[owner]
        local = list(relationship.local_columns)
        if relationship.direction.name != "MANYTOONE" or len(local) != 1:
            raise TypeError(f"{class_.__name__}.__key_owner__ must name a many-to-one relationship")
        owner_class = relationship.mapper.class_
        owner_fk = mapper.get_property_by_column(local[0]).key
    for index in indexes:
        for source in index.sources:
            if source not in mapper.attrs:
                raise TypeError(f"{class_.__name__}.{index.key} indexes {source!r}, which it does not have")
    _SPECS[class_] = ProtectedSpec(
        class_=class_, table=mapper.local_table.name,
        pk=mapper.get_property_by_column(mapper.primary_key[0]).key,
        encrypted=tuple(encrypted), indexes=tuple(indexes), owner=owner,
        owner_class=owner_class, owner_fk=owner_fk,
    )


def index_field(attribute: Any) -> IndexField:
    """The IndexField behind a mapped attribute such as ``Subject.full_name_index``."""
    spec = spec_for(attribute.class_)
    for index in spec.indexes:
        if index.key == attribute.key:
            return index
    raise TypeError(f"{attribute.class_.__name__}.{attribute.key} is not a BlindIndex")


def compute_index(keyring, index: IndexField, values: Iterable[Any], bits: int | None = None) -> int | None:
    """The index value of `values`, `bits` long (default: the model's length; the
    installation's plan says which, see index_plans)."""
    parts = []
    for normalise, value in zip(index.normalise, values, strict=True):
        normalised = None if value is None else normalise(value)
        if not normalised:
            return None
        encoded = normalised.encode("utf-8")
        # Length-prefixed, so ("ab", "c") and ("a", "bc") differ in a compound index.
        parts.append(len(encoded).to_bytes(4, "big") + encoded)
    return keyring.blind_index(index.name, b"".join(parts), bits or index.bits)


# --- the flush: ids, keys, indexes, sealing -----------------------------------------------

_SEALED_IN_FLUSH = "hoso_sealed_in_flush"


class _Sealing:
    """What flushes of one session sealed and have not yet put back.

    Flat lists, rather than a tuple per value or per row, for the same reason as carriers
    are plain bytes: the rows' states and how many values each sealed (a row's values are
    the next run of `keys`, `carriers` and `plaintexts`), and per value its attribute key,
    carrier and plaintext.
    """

    __slots__ = ("states", "counts", "keys", "carriers", "plaintexts", "_by_carrier")

    def __init__(self) -> None:
        self.states: list[Any] = []
        self.counts: list[int] = []
        self.keys: list[str] = []
        self.carriers: list[bytes] = []
        self.plaintexts: list[Any] = []
        self._by_carrier: dict[int, int] | None = None

    def __len__(self) -> int:
        return len(self.carriers)

    def extend(self, other: _Sealing) -> None:
        self.states += other.states
        self.counts += other.counts
        self.keys += other.keys
        self.carriers += other.carriers
        self.plaintexts += other.plaintexts
        self._by_carrier = None

    def plaintext_of(self, carrier: bytes) -> Any:
        # Only after a flush that failed before it could put plaintext back (rare): an
        # index by identity, built once, while the carriers it names are alive in the list.
        if self._by_carrier is None:
            self._by_carrier = {id(item): n for n, item in enumerate(self.carriers)}
        n = self._by_carrier.get(id(carrier))
        if n is None or self.carriers[n] is not carrier:
            raise KeyError("not sealed by this session")
        return self.plaintexts[n]

    def place(self) -> None:
        """List the carriers as in flight and put them in their attributes."""
        carriers = self.carriers
        _IN_FLIGHT.update(zip(map(id, carriers), carriers, strict=True))
        pairs = zip(self.keys, carriers, strict=True)
        for state, count in zip(self.states, self.counts, strict=True):
            values = state.dict
            if state.key is None:
                values.update(islice(pairs, count))
                continue
            obj = state.obj()
            for key, carrier in islice(pairs, count):
                attributes.flag_modified(obj, key)
                values[key] = carrier

    def put_back(self, *, flushed: bool) -> None:
        """Plaintext back into each attribute that still holds its carrier. After a flush
        that succeeded it becomes the committed value (what set_committed_value would do,
        without its per-attribute bookkeeping)."""
        carriers = self.carriers
        try:
            triples = zip(self.keys, carriers, self.plaintexts, strict=True)
            for state, count in zip(self.states, self.counts, strict=True):
                values = state.dict
                committed = state.committed_state if flushed else ()
                for key, carrier, plaintext in islice(triples, count):
                    if values.get(key) is carrier and key not in committed:
                        values[key] = plaintext
        finally:
            # A listed id is that of a carrier still alive in this list, so no other
            # object can hold it: drop the entries without comparing them.
            forget = _IN_FLIGHT.pop
            for carrier in carriers:
                forget(id(carrier), None)


def _plain(value: Any, field: EncryptedField | IndexField, session: Session | None = None) -> Any:
    if _is_carrier(value):  # left behind by a flush that failed before putting plaintext back
        sealing = session.info.get(_SEALED_IN_FLUSH) if session is not None else None
        if sealing is not None:
            try:
                return sealing.plaintext_of(value)
            except KeyError:
                pass
        raise TypeError(f"{field.table}.{field.column}: holds the ciphertext of a flush still in progress")
    if isinstance(value, Sealed):
        raise TypeError(f"{field.table}.{field.column}: assign plaintext, not a sealed value")
    return value


def _changed(state, key: str) -> bool:
    return state.attrs[key].history.has_changes()


class _KeyResolver:
    def __init__(self, session: Session, keyring):
        self.session = session
        self.keyring = keyring
        self.resolved: dict[int, uuid.UUID | None] = {}
        self.new_rows: list[dict] = []
        # Applied only once everything is sealed: a flush that fails half-way must not
        # leave a row pointing at a data key that was never inserted. The rows' states and
        # their keys, in two lists (see _Sealing).
        self.assigned: list[Any] = []
        self.assigned_keys: list[uuid.UUID | None] = []
        self._pins: dict[str, str] | None = None

    def __call__(self, obj: Protected) -> uuid.UUID | None:
        resolved = self.resolved.get(id(obj), _UNRESOLVED)
        if resolved is not _UNRESOLVED:
            return resolved
        spec = _SPECS.get(type(obj)) or spec_for(type(obj))
        state = instance_state(obj)
        values = state.dict
        pending = state.key is None
        # A pending row's attributes are in its dict (or unset, which reads as None); going
        # through the descriptors costs more than sealing one of its fields.
        current = values.get("data_key_id") if pending else obj.data_key_id
        owner = None
        if spec.owner:
            owner = values[spec.owner] if pending and spec.owner in values else getattr(obj, spec.owner, None)
        if owner is None and spec.owner_fk is not None and getattr(obj, spec.owner_fk) is not None:
            # A pending row does not load its many-to-one from a bare foreign key.
            owner = self.session.get(spec.owner_class, getattr(obj, spec.owner_fk))
        if owner is not None:
            if not isinstance(owner, Protected):
                raise TypeError(f"{spec.table}: its key owner {spec.owner!r} is not a Protected row")
            key = self(owner)
        elif current is not None:
            key = current
        elif pending:
            if self._pins is None:
                self._pins = self.keyring.pins(self.session)
            new = self.keyring.new_data_key(self.session, pins=self._pins)
            self.new_rows.append(new.row)
            key = new.id
        else:
            key = None  # shredded: its key was destroyed
        if key is not current and key != current:
            self.assigned.append(state)
            self.assigned_keys.append(key)
        self.resolved[id(obj)] = key
        return key


_UNRESOLVED = object()


@event.listens_for(Session, "before_flush")
def _seal_before_flush(session: Session, flush_context, instances) -> None:
    deleted = session.deleted
    work = [obj for obj in (*session.new, *session.dirty)
            if type(obj) in _SPECS and obj not in deleted]
    if not work:
        return
    crypto = _crypto()
    keyring = crypto.current_keyring()
    resolve = _KeyResolver(session, keyring)
    sealer = keyring.batch_sealer(session)
    sealing = _Sealing()
    states, counts = sealing.states, sealing.counts
    keys, carriers, plaintexts = sealing.keys, sealing.carriers, sealing.plaintexts
    encoded: list[bytes] = []  # one row's values, encoded, and their labels: reused row after row
    labels: list[bytes] = []
    touched_persistent = []
    bits_by_index: dict[str, int] = {}  # a plan cannot change during the flush (index_plans)

    for obj in work:
        spec = _SPECS[type(obj)]
        state = instance_state(obj)
        values = state.dict
        is_new = state.key is None
        row_id = values.get(spec.pk) if is_new else getattr(obj, spec.pk)
        if row_id is None:
            row_id = uuid.uuid4()
            setattr(obj, spec.pk, row_id)
        data_key_id = resolve(obj)
        key_changed = not is_new and (data_key_id != obj.data_key_id or _changed(state, "data_key_id"))

        for index in spec.indexes:
            if is_new or any(_changed(state, source) for source in index.sources):
                sources = [_plain(values.get(source) if is_new else getattr(obj, source), index, session)
                           for source in index.sources]
                bits = bits_by_index.get(index.name)
                if bits is None:
                    bits = bits_by_index[index.name] = _index_plans().bits_for_write(session, index.name, index.bits)
                if is_new:
                    values[index.key] = compute_index(keyring, index, sources, bits)
                else:
                    setattr(obj, index.key, compute_index(keyring, index, sources, bits))

        first = len(carriers)
        for item in spec.encrypted:
            if is_new:
                value = values.get(item.key)
            elif key_changed or _changed(state, item.key):
                value = getattr(obj, item.key)
            else:
                continue
            if value is None:
                continue
            if isinstance(value, Sealed) or type(value) is bytes:
                value = _plain(value, item, session)
            encoded.append(item.type.encode(value, item.where))
            labels.append(item.label)
            plaintexts.append(value)
            keys.append(item.key)
        if encoded:
            if data_key_id is None:
                item = spec.field(keys[first])
                raise crypto.DataKeyDestroyed(item.table, item.column, row_id, None)
            sealer.seal_row(data_key_id, row_id, encoded, labels, carriers)
            encoded.clear()
            labels.clear()
        if len(carriers) > first:
            states.append(state)
            counts.append(len(carriers) - first)
            if not is_new:
                touched_persistent.append(obj)

    # Nothing above changed a value the application can see; from here on, write.
    keyring.insert_data_keys(session, resolve.new_rows)
    for state, key in zip(resolve.assigned, resolve.assigned_keys, strict=True):
        if state.key is None:
            state.dict["data_key_id"] = key  # a pending row: the INSERT takes its dict as it is
        else:
            state.obj().data_key_id = key
    for obj in touched_persistent:
        # Every UPDATE that seals also names its key: if `keys rekey` destroyed that key in
        # the meantime, the foreign key refuses the write instead of storing a value sealed
        # under a key that is gone.
        attributes.flag_modified(obj, "data_key_id")
    sealing.place()
    pending = session.info.get(_SEALED_IN_FLUSH)
    if pending is None:
        session.info[_SEALED_IN_FLUSH] = sealing
    else:
        pending.extend(sealing)


@event.listens_for(Session, "after_flush_postexec")
def _plaintext_after_flush(session: Session, flush_context) -> None:
    sealing = session.info.pop(_SEALED_IN_FLUSH, None)
    if sealing is not None:
        sealing.put_back(flushed=True)


@event.listens_for(Session, "after_soft_rollback")
def _plaintext_after_failed_flush(session: Session, previous_transaction) -> None:
    sealing = session.info.pop(_SEALED_IN_FLUSH, None)
    if sealing is not None:
        sealing.put_back(flushed=False)


@event.listens_for(Session, "after_transaction_end")
def _plaintext_at_transaction_end(session: Session, transaction) -> None:
    # Only when a flush was abandoned before it began (another before_flush listener
    # raised) and nothing rolled back since: the values were never written.
    if transaction.parent is None and _SEALED_IN_FLUSH in session.info:
        session.info.pop(_SEALED_IN_FLUSH).put_back(flushed=False)


# --- loading: open sealed values ----------------------------------------------------------

def _open_row(obj: Any, session: Session, only: Iterable[str] | None) -> None:
    spec = _SPECS.get(type(obj))
    if spec is None:
        return
    values = instance_state(obj).dict
    shredded = "data_key_id" in values and values["data_key_id"] is None
    open_ = None
    for item in spec.encrypted:
        if only is not None and item.key not in only:
            continue
        sealed = values.get(item.key)
        if type(sealed) is not Sealed:
            continue
        if shredded:
            values[item.key] = None  # the ciphertext stays, unreadable for ever
            continue
        if open_ is None:
            open_ = _crypto().current_keyring().opener(session, values[spec.pk])
        values[item.key] = item.type.decode(open_(sealed, item))


@event.listens_for(Protected, "load", propagate=True)
def _open_loaded(target: Any, context) -> None:
    _open_row(target, context.session, None)


@event.listens_for(Protected, "refresh", propagate=True)
def _open_refreshed(target: Any, context, attrs) -> None:
    _open_row(target, context.session, attrs)


# --- crypto-shredding ---------------------------------------------------------------------

def destroy_data_key(session: Session, data_key_id: uuid.UUID) -> int:
    """Crypto-shred every value sealed under one data key; returns the rows affected.

    The rows stay (their ciphertext can never be opened again) and read as None. Copies
    of the key live on in backups taken before this: retention decides how long those
    are kept. Other processes drop their cached copy when they restart.
    """
    from . import crypto, signals

    signals.data_key_destroying.send(None, session=session, data_key_id=data_key_id)
    affected = 0
    for spec in protected_specs():
        table = spec.class_.__table__
        result = session.execute(
            update(table).where(table.c.data_key_id == data_key_id).values(data_key_id=None)
        )
        affected += result.rowcount or 0
    session.execute(crypto.DataKey.__table__.delete().where(crypto.DataKey.__table__.c.id == data_key_id))
    crypto.current_keyring().forget(data_key_id)
    return affected


__all__ = [
    "BlindIndex", "EncryptedBytes", "EncryptedDate", "EncryptedJSON", "EncryptedText", "Protected",
    "Sealed", "UTCDateTime", "UnsealedValue", "compute_index", "destroy_data_key", "index_field",
    "low_variety", "protected_specs", "utcnow",
]
