"""Re-planning a blind index: a new length for its population, and its values recomputed
in batches while the app serves (`flask --app app keys reindex`; see index_plans).

1. `start`: under the exclusive plan lock, the plan's length becomes the new one and the
   old is kept as `previous_bits` (lookups ask for both from then on).
2. `rebuild`: every table holding an index of that key, in primary-key order, a batch per
   transaction: rows locked, their source fields decrypted, the value recomputed at the
   new length; the plan remembers the last row done, so an interrupted run goes on from
   there when run again.
3. The last batch drops `previous_bits`: lookups ask for one length again.
Every step writes an audit entry (`keys.reindex.*`) in its own transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import bindparam, func, select, update

from . import signals
from .clock import utcnow
from .crypto import KeyRing
from .fields import IndexField, ProtectedSpec, compute_index, protected_specs
from .index_plans import (
    DEFAULT_INDEX_BITS,
    IndexPlan,
    Widths,
    lock_plans_exclusively,
    plan_bits,
    widths,
)
from .keystore import DataKey


class ReindexError(Exception):
    """A one-line reason the plan cannot be changed now."""


@dataclass
class Rebuild:
    name: str
    bits: int
    previous: int | None
    rows: int = 0  # rows to do in all (an estimate when resumed)
    done: int = 0
    resumed: bool = False


@dataclass(frozen=True)
class SideIndex:
    """A blind index an upper layer keeps in a table of its own (one value per word of a
    name: cases/name_search.py), rebuilt by `keys reindex` beside the column indexes.
    `needs_rebuild()`: rows are missing (in db.session); `rebuild(session, keyring, batch_size=,
    on_start=, on_batch=)` recomputes them all and returns the rows done."""

    name: str
    needs_rebuild: Callable[..., bool]
    rebuild: Callable[..., int]


_SIDE_INDEXES: dict[str, SideIndex] = {}


def register_side_index(index: SideIndex) -> None:
    _SIDE_INDEXES[index.name] = index


def side_indexes() -> list[SideIndex]:
    return [_SIDE_INDEXES[name] for name in sorted(_SIDE_INDEXES)]


def indexes_named(name: str) -> list[tuple[ProtectedSpec, IndexField]]:
    """Every index column whose key is `name` (a shared key spans tables), in a fixed order."""
    found = [(spec, index) for spec in protected_specs() for index in spec.indexes if index.name == name]
    return sorted(found, key=lambda pair: (pair[0].table, pair[1].column))


def index_names() -> list[str]:
    return sorted({index.name for spec in protected_specs() for index in spec.indexes})


def default_bits(name: str) -> int:
    pairs = indexes_named(name)
    return pairs[0][1].bits if pairs else DEFAULT_INDEX_BITS


def population(session, name: str) -> int:
    """R for CipherSweet's rule: the rows of the largest table holding this index."""
    counts = [session.scalar(select(func.count()).select_from(spec.class_.__table__)
                             .where(spec.class_.__table__.c[index.column].is_not(None)))
              for spec, index in indexes_named(name)]
    return max(counts, default=0)


@dataclass(frozen=True)
class PlanStatus:
    name: str
    widths: Widths
    planned_rows: int | None
    rows: int

    @property
    def rows_per_value(self) -> float:
        return self.rows / 2 ** self.widths.bits

    @property
    def advice(self) -> str:
        """Empty when the length suits the rows, else what to do about it."""
        if self.widths.previous is not None:
            return "rebuild in progress: run `keys reindex` to finish it"
        suited = plan_bits(self.rows)
        if self.rows >= 16 and suited != self.widths.bits and not 2 <= self.rows_per_value <= 16:
            return f"{suited} bits would suit {self.rows} rows: `keys reindex --rows N` with the rows you expect"
        return ""


def plan_status(session) -> list[PlanStatus]:
    return [PlanStatus(name, widths(session, name, default_bits(name)),
                       session.scalar(select(IndexPlan.planned_rows).where(IndexPlan.name == name)),
                       population(session, name))
            for name in index_names()]


def _announce(operation: str, **detail) -> None:
    signals.keys_changed.send(current_app._get_current_object(), operation=operation, **detail)


def start(session, name: str, *, rows: int) -> Rebuild | None:
    """Switch index `name` to the length planned for `rows` rows; None when it has it already.
    A rebuild that is still running is continued, never replaced."""
    if name not in index_names():
        raise ReindexError(f"no blind index is named {name!r}")
    bits = plan_bits(rows)
    lock_plans_exclusively(session)
    plan = session.scalars(select(IndexPlan).where(IndexPlan.name == name)
                           .execution_options(populate_existing=True)).one_or_none()
    if plan is not None and plan.previous_bits is not None:
        session.rollback()
        if plan.bits != bits:
            raise ReindexError(f"{name} is being rebuilt to {plan.bits} bits: run `keys reindex` without --rows "
                               "to finish that first")
        return Rebuild(name, plan.bits, plan.previous_bits, resumed=True)
    current = plan.bits if plan is not None else default_bits(name)
    if current == bits:
        if plan is not None and plan.planned_rows != rows:
            plan.planned_rows = rows
            session.commit()
        else:
            session.rollback()
        return None
    if plan is None:
        plan = IndexPlan(name=name)
        session.add(plan)
    plan.bits, plan.previous_bits, plan.planned_rows, plan.rebuilt_through = bits, current, rows, None
    plan.updated_at = utcnow()
    _announce("reindex.start", index=name, bits=bits, previous_bits=current, planned_rows=rows)
    session.commit()
    return Rebuild(name, bits, current)


def pending(session) -> list[Rebuild]:
    """Rebuilds that were started and not finished."""
    plans = session.scalars(select(IndexPlan).where(IndexPlan.previous_bits.is_not(None))).all()
    session.rollback()
    return [Rebuild(plan.name, plan.bits, plan.previous_bits, resumed=True) for plan in plans]


def _position(plan: IndexPlan) -> tuple[str, uuid.UUID | None]:
    if not plan.rebuilt_through:
        return "", None
    where, _, last = plan.rebuilt_through.partition(":")
    return where, uuid.UUID(last)


def rebuild(session, keyring: KeyRing, job: Rebuild, *, batch_size: int = 1000,
            on_start: Callable[[int], None] | None = None,
            on_batch: Callable[[int], None] | None = None) -> Rebuild:
    plan = session.get(IndexPlan, job.name)
    done_through, last = _position(plan)
    targets = indexes_named(job.name)
    job.rows = sum(session.scalar(select(func.count()).select_from(spec.class_.__table__)) for spec, _ in targets)
    session.rollback()
    if on_start:
        on_start(job.rows)
    keys = DataKey.__table__
    for spec, index in targets:
        where = f"{spec.table}.{index.column}"
        if done_through and where < done_through:
            continue
        after = last if where == done_through else None
        table = spec.class_.__table__
        pk = table.c[spec.class_.__mapper__.get_property(spec.pk).columns[0].name]
        sources = [spec.field(source) for source in index.sources]
        statement = update(table).where(pk == bindparam("_pk")).values({index.column: bindparam("_value")})
        while True:
            query = (select(pk, *(table.c[item.column] for item in sources),
                            keys.c.id, keys.c.wrapped_key, keys.c.master_key_id)
                     .outerjoin(keys, keys.c.id == table.c.data_key_id)
                     .order_by(pk).limit(batch_size).with_for_update(of=table))
            if after is not None:
                query = query.where(pk > after)
            connection = session.connection()
            batch = connection.execute(query).all()
            if not batch:
                session.rollback()
                break
            params = []
            for row in batch:
                row_id, sealed, key_row = row[0], row[1:1 + len(sources)], row[1 + len(sources):]
                if key_row[0] is None:
                    params.append({"_pk": row_id, "_value": None})  # shredded: nothing left to find
                    continue
                keyring.remember_wrapped(*key_row)
                open_ = keyring.opener(session, row_id)
                plain = [field.type.decode(open_(item, field)) if item is not None else None
                         for field, item in zip(sources, sealed, strict=True)]
                params.append({"_pk": row_id, "_value": compute_index(keyring, index, plain, job.bits)})
            connection.execute(statement, params)
            after = batch[-1][0]
            session.execute(update(IndexPlan).where(IndexPlan.name == job.name)
                            .values(rebuilt_through=f"{where}:{after}", updated_at=utcnow()))
            _announce("reindex.batch", index=job.name, table=spec.table, rows=len(batch))
            session.commit()
            job.done += len(batch)
            if on_batch:
                on_batch(len(batch))
    lock_plans_exclusively(session)
    session.execute(update(IndexPlan).where(IndexPlan.name == job.name)
                    .values(previous_bits=None, rebuilt_through=None, updated_at=utcnow()))
    _announce("reindex.finish", index=job.name, bits=job.bits, rows=job.done)
    session.commit()
    return job


__all__ = ["Rebuild", "ReindexError", "SideIndex", "index_names", "pending", "plan_status", "population",
           "rebuild", "register_side_index", "side_indexes", "start"]
