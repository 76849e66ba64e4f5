"""Finding many people's dossiers by citizen ID at once (a campaign's list of nominees).

`protection.search.find` answers one ID with two queries; a list of 2,000 nominees at 100k
dossiers asked that way costs 4,000 round trips. Here the blind-index values of a whole
batch go into one `IN (...)`, the candidates' data keys are unwrapped together, and each
candidate is confirmed by decrypting its ID number, as `find` does: a coincidence of the
truncated index is never taken for a match.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import load_only

from cases.models import Relative, Subject
from protection import index_plans
from protection.crypto import current_keyring
from protection.db import db
from protection.fields import compute_index, index_field

# Well below SQLite's and PostgreSQL's limits on bound parameters per statement.
BATCH = 500


@dataclass(frozen=True)
class Dossier:
    id: uuid.UUID
    owner_unit_id: uuid.UUID
    id_number_index: int | None


def index_values(id_numbers: Iterable[str]) -> dict[int, set[str]]:
    """{index value: the ID numbers hashing to it}, at every length the plan asks for."""
    index = index_field(Subject.id_number_index)
    keyring = current_keyring()
    lengths = index_plans.widths(db.session, index.name, index.bits).all
    values: dict[int, set[str]] = {}
    for number in id_numbers:
        for bits in lengths:
            value = compute_index(keyring, index, [number], bits)
            if value is not None:
                values.setdefault(value, set()).add(number)
    return values


def dossiers_by_id_number(id_numbers: Iterable[str], unit_ids: Iterable[uuid.UUID]) -> dict[str, list[Dossier]]:
    """{normalised ID number: the dossiers of that person in `unit_ids`}; numbers without
    one are absent. The numbers must already be normalised (roster.normalise_id_number)."""
    wanted = index_values(id_numbers)
    units = list(unit_ids)
    found: dict[str, list[Dossier]] = {}
    keys = list(wanted)
    keyring = current_keyring()
    for start in range(0, len(keys), BATCH):
        criteria = (Subject.id_number_index.in_(keys[start:start + BATCH]), Subject.owner_unit_id.in_(units))
        rows = db.session.execute(select(Subject.id, Subject.data_key_id, Subject.owner_unit_id,
                                         Subject.id_number_index).where(*criteria)).all()
        keyring.preload(db.session, [row.data_key_id for row in rows])
        numbers = _id_numbers([row.id for row in rows])
        for row in rows:
            number = numbers.get(row.id)
            if number is not None and number in wanted.get(row.id_number_index, ()):
                found.setdefault(number, []).append(Dossier(row.id, row.owner_unit_id, row.id_number_index))
    return found


def _id_numbers(subject_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The candidates' ID numbers, decrypted. Objects loaded for it leave the session again
    unless the caller had them: their plaintext is not kept beyond the comparison."""
    if not subject_ids:
        return {}
    known = set(db.session.identity_map.keys())
    numbers = {}
    for subject in db.session.scalars(select(Subject).where(Subject.id.in_(subject_ids))
                                      .options(load_only(Subject.id, Subject.data_key_id, Subject.id_number))):
        numbers[subject.id] = subject.id_number
        if db.session.identity_key(instance=subject) not in known:
            db.session.expunge(subject)
    return numbers


def people_indexes(subject_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, set[int]]:
    """{dossier id: the citizen indexes of the person and their recorded relatives} in one
    query per batch (Subject.people_indexes, for many dossiers): the recusal of many rows."""
    ids = list(subject_ids)
    indexes: dict[uuid.UUID, set[int]] = {subject_id: set() for subject_id in ids}
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        rows = db.session.execute(
            select(Subject.id, Subject.id_number_index).where(Subject.id.in_(chunk))
            .union_all(select(Relative.subject_id, Relative.id_number_index)
                       .where(Relative.subject_id.in_(chunk), Relative.id_number_index.is_not(None)))).all()
        for subject_id, value in rows:
            if value is not None:
                indexes[subject_id].add(value)
    return indexes
