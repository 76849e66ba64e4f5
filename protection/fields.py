"""The encrypted column types, and the registry of what each Protected model protects.

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

The types here only carry ciphertext: an encrypted column binds ``Sealed`` bytes or a
flush's own carriers, and refuses anything else (``UnsealedValue``). ``Protected`` and
what happens at flush and load time (sealing, opening, shredding) are in
protection.sealing, which fills the registry below as mappers are configured.

Changes inside a JSON value are not seen (as with SQLAlchemy's plain JSON type): assign a
new value. Lengths are not hidden: a ciphertext is 45 bytes longer than its plaintext.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Integer, LargeBinary
from sqlalchemy.orm import configure_mappers
from sqlalchemy.types import TypeDecorator

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


def is_carrier(value: Any) -> bool:
    """Whether `value` is the ciphertext a flush in progress placed in an attribute."""
    return type(value) is bytes and _IN_FLIGHT.get(id(value)) is value


def carriers_in_flight(carriers: list[bytes]) -> None:
    """List a flush's carriers, just before they are placed in their attributes."""
    _IN_FLIGHT.update(zip(map(id, carriers), carriers, strict=True))


def carriers_landed(carriers: list[bytes]) -> None:
    """Unlist a flush's carriers once their plaintext is back (or the flush failed)."""
    # A listed id is that of a carrier still alive in the caller's list, so no other
    # object can hold it: drop the entries without comparing them.
    forget = _IN_FLIGHT.pop
    for carrier in carriers:
        forget(id(carrier), None)




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
        if is_carrier(value):
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
    index_plans.DEFAULT_INDEX_BITS, until the installation plans the index's length for its
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


# --- the registry of protected models -------------------------------------------------------

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


# Filled by protection.sealing as each Protected model's mapper is configured.
SPECS: dict[type, ProtectedSpec] = {}


def protected_specs() -> list[ProtectedSpec]:
    """Every Protected model, for whole-database work (rekey, status, shredding)."""
    configure_mappers()
    return sorted(SPECS.values(), key=lambda spec: spec.table)


def spec_for(class_: type) -> ProtectedSpec:
    spec = SPECS.get(class_)
    if spec is None:
        configure_mappers()  # specs are built as mappers are configured
        spec = SPECS.get(class_)
        if spec is None:
            raise TypeError(f"{class_.__name__} is not a Protected model")
    return spec



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
