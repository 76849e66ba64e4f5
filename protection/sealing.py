"""Protected models, and what happens to their rows at flush time and at load time.

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

``Protected`` lives here rather than in fields.py so that any module defining a protected
model has imported these listeners first: SQLAlchemy runs listeners in the order they were
registered, and the domain's own flush listeners (cases/subjects/name_search.py) must run
after the sealing and after the plaintext is back.

Crypto-shredding (``destroy_data_key``) is here too: it is the one write that takes a key
away from rows instead of sealing under one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from itertools import islice
from typing import Any, ClassVar

from sqlalchemy import ForeignKey, Uuid, event, inspect, update
from sqlalchemy.orm import Mapped, Mapper, Session, attributes, declared_attr, mapped_column
from sqlalchemy.orm.base import instance_state

from . import signals
from .crypto import current_keyring
from .fields import (
    SPECS,
    BlindIndex,
    EncryptedField,
    EncryptedType,
    IndexField,
    ProtectedSpec,
    Sealed,
    carriers_in_flight,
    carriers_landed,
    compute_index,
    is_carrier,
    protected_specs,
    spec_for,
)
from .index_plans import DEFAULT_INDEX_BITS, bits_for_write
from .keystore import DataKey, DataKeyDestroyed

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



# --- describing a Protected model into the registry -------------------------------------

@event.listens_for(Mapper, "mapper_configured")
def _describe_protected_model(mapper: Mapper, class_: type) -> None:
    encrypted, indexes = [], []
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if isinstance(column.type, EncryptedType):
            encrypted.append(EncryptedField(prop.key, column.table.name, column.name, column.type))
        elif isinstance(column.type, BlindIndex):
            index_type = column.type
            indexes.append(IndexField(prop.key, column.table.name, column.name, index_type.sources,
                                      index_type.normalise, index_type.bits or DEFAULT_INDEX_BITS,
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
    SPECS[class_] = ProtectedSpec(
        class_=class_, table=mapper.local_table.name,
        pk=mapper.get_property_by_column(mapper.primary_key[0]).key,
        encrypted=tuple(encrypted), indexes=tuple(indexes), owner=owner,
        owner_class=owner_class, owner_fk=owner_fk,
    )



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
        carriers_in_flight(carriers)
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
            carriers_landed(carriers)


def _plain(value: Any, field: EncryptedField | IndexField, session: Session | None = None) -> Any:
    if is_carrier(value):  # left behind by a flush that failed before putting plaintext back
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
        spec = SPECS.get(type(obj)) or spec_for(type(obj))
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
            if type(obj) in SPECS and obj not in deleted]
    if not work:
        return
    keyring = current_keyring()
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
        spec = SPECS[type(obj)]
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
                    bits = bits_by_index[index.name] = bits_for_write(session, index.name, index.bits)
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
                raise DataKeyDestroyed(item.table, item.column, row_id, None)
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
    spec = SPECS.get(type(obj))
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
            open_ = current_keyring().opener(session, values[spec.pk])
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
    signals.data_key_destroying.send(None, session=session, data_key_id=data_key_id)
    affected = 0
    for spec in protected_specs():
        table = spec.class_.__table__
        result = session.execute(
            update(table).where(table.c.data_key_id == data_key_id).values(data_key_id=None)
        )
        affected += result.rowcount or 0
    session.execute(DataKey.__table__.delete().where(DataKey.__table__.c.id == data_key_id))
    current_keyring().forget(data_key_id)
    return affected
