"""Operations on subjects and their relatives: check, change, audit, flush.

None commits: the request (or CLI command) is the unit of work, so a change and its audit
entry land together. Audit details name fields and counts, never their values.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from audit.trail import record
from cases.models import RELATIVE_FIELDS, SUBJECT_FIELDS, Relative, Subject, subjects_about
from cases.subjects import name_search
from cases.subjects.relations import RELATIONS
from cases.subjects.roster import ALL_COLUMNS, RosterRow
from protection import policy
from protection.crypto import current_keyring
from protection.db import db
from protection.forms import parse_date
from protection.identity import Unit, User
from protection.search import InvalidCitizenId, citizen_id, find
from protection.spreadsheets import csv_writer


class SubjectError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass
class SubjectData:
    full_name: str
    date_of_birth: date
    id_number: str
    other_names: str | None = None
    sex: str | None = None
    native_place: str | None = None
    residence: str | None = None
    ethnicity: str | None = None
    religion: str | None = None
    current_unit: str | None = None
    position: str | None = None
    party_admission_date: date | None = None
    party_official_date: date | None = None
    notes: str | None = None

    def cleaned(self) -> dict[str, Any]:
        values = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, str):
                value = value.strip() or None
            values[item.name] = value
        values["full_name"] = " ".join((values["full_name"] or "").split())
        return values


@dataclass
class RelativeData:
    relation: str
    full_name: str
    birth_year: int | None = None
    residence: str | None = None
    occupation: str | None = None
    party_member: bool | None = None
    id_number: str | None = None

    def cleaned(self) -> dict[str, Any]:
        values = {item.name: getattr(self, item.name) for item in fields(self)}
        for name, value in values.items():
            if isinstance(value, str):
                values[name] = value.strip() or None
        values["full_name"] = " ".join((values["full_name"] or "").split())
        return values


# --- loading and authorising in one step ------------------------------------------------

def load_subject(subject_id: uuid.UUID, need: str = "subject.view") -> Subject:
    """404 when the user may not know the dossier exists (another unit's), 403 when they
    may know but not do `need`; every refusal is recorded by the policy."""
    # The relatives with it: the recusal check and every dossier page read them.
    subject = db.session.get(Subject, subject_id, options=[joinedload(Subject.relatives)])
    if (subject is None or subject.owner_unit_id not in policy.unit_scope(current_user)
            or policy.is_recused(current_user, subject)):
        policy.deny(need, status=404)  # nobody reads or edits their own or their family's dossier
    policy.require(need, subject)
    return subject


def load_relative(subject: Subject, relative_id: uuid.UUID) -> Relative:
    relative = db.session.get(Relative, relative_id)
    if relative is None or relative.subject_id != subject.id:
        policy.deny("subject.edit", status=404)
    return relative


def record_view(subject: Subject) -> None:
    record("subject.view", target_type="subject", target_id=subject.id, relatives=len(subject.relatives))


def record_relative_view(relative: Relative) -> None:
    record("relative.view", target_type="subject", target_id=relative.subject_id, relative=relative.id)


# --- search -----------------------------------------------------------------------------

_TRAILING_DATE = re.compile(r"^(?P<name>.*?)[,;\s]+(?P<date>\d{1,2}/\d{1,2}/\d{4}|\d{4}-\d{2}-\d{2})\s*$")


@dataclass
class SubjectSearch:
    kind: str
    results: list[Subject]
    # The words typed are shared by too many people to list (name_search's bounds).
    too_common: bool = False
    # Dossiers written before the word index may still lack their rows (`keys reindex`).
    words_incomplete: bool = False


def search_subjects(user: User, query: str) -> SubjectSearch:
    """By citizen ID (exact); by name: every dossier whose names contain all the words
    typed (name_search), plus the exact full-name index, which also finds dossiers whose
    word rows are not built yet; a trailing date of birth narrows either.

    Results are limited to the user's unit scope. The search is recorded with its kind and
    count (and a refusal), never the term."""
    query = (query or "").strip()
    scope = [Subject.owner_unit_id.in_(policy.unit_scope(user))]
    kind, results, too_common = "none", [], False
    try:
        id_number = citizen_id(query) if any(ch.isdigit() for ch in query) and not _TRAILING_DATE.match(query) else None
    except InvalidCitizenId:
        id_number = None
    name, born = None, None
    if id_number:
        kind, results = "id_number", find(Subject.id_number_index, id_number, where=scope)
    elif (match := _TRAILING_DATE.match(query)) and parse_date(match["date"]):
        kind, name, born = "name_birth", match["name"], parse_date(match["date"])
        results = find(Subject.name_birth_index, name, born, where=scope)
    elif query and not any(ch.isdigit() for ch in query):
        kind, name = "full_name", query
        results = find(Subject.full_name_index, name, where=scope)
    if name is not None:
        try:
            by_words = name_search.find_by_words(name, born=born, where=scope,
                                                 also_load=[Subject.id_number, Subject.current_unit])
        except name_search.NameTooCommon:
            # Exact matches of the whole name are still worth showing; with none, ask for
            # another word rather than read or decrypt thousands of dossiers.
            too_common = not results
        else:
            seen = {subject.id for subject in results}
            results += [subject for subject in by_words if subject.id not in seen]
    results = [subject for subject in results if not policy.is_recused(user, subject)]
    detail = {"refused": "too_common"} if too_common else {}
    record("subject.search", target_type="subject", kind=kind, results=len(results), **detail)
    return SubjectSearch(kind, sorted(results, key=lambda subject: (subject.full_name, subject.date_of_birth)),
                         too_common=too_common,
                         words_incomplete=name is not None and name_search.tokens_incomplete())


def find_in_unit(id_number: str, unit_id: uuid.UUID) -> Subject | None:
    matches = find(Subject.id_number_index, id_number, where=[Subject.owner_unit_id == unit_id])
    return matches[0] if matches else None


# --- changes ----------------------------------------------------------------------------

def _validated(data: SubjectData) -> dict[str, Any]:
    values = data.cleaned()
    if not values["full_name"]:
        raise SubjectError(_("Hãy nhập họ và tên."), "full_name")
    try:
        values["id_number"] = citizen_id(values["id_number"])
    except InvalidCitizenId:
        values["id_number"] = None
    if not values["id_number"]:
        raise SubjectError(_("Số định danh gồm 12 chữ số (CCCD) hoặc 9 chữ số (CMND)."), "id_number")
    if values["date_of_birth"] is None:
        raise SubjectError(_("Hãy nhập ngày sinh."), "date_of_birth")
    if values["sex"] not in (None, "male", "female"):
        raise SubjectError(_("Giới tính không hợp lệ."), "sex")
    return values


def create_subject(data: SubjectData, *, owner_unit: Unit, by: User | None) -> Subject:
    values = _validated(data)
    if find_in_unit(values["id_number"], owner_unit.id) is not None:
        raise SubjectError(_("Đơn vị đã có hồ sơ của người mang số định danh này."), "id_number")
    subject = Subject(id=uuid.uuid4(), owner_unit=owner_unit, created_by_id=by.id if by else None, **values)
    db.session.add(subject)
    db.session.flush()
    record("subject.create", target_type="subject", target_id=subject.id, actor=by,
           fields=[name for name in SUBJECT_FIELDS if values.get(name) is not None])
    return subject


def update_subject(subject: Subject, data: SubjectData, *, by: User | None) -> list[str]:
    values = _validated(data)
    if values["id_number"] != subject.id_number:
        other = find_in_unit(values["id_number"], subject.owner_unit_id)
        if other is not None and other.id != subject.id:
            raise SubjectError(_("Đơn vị đã có hồ sơ của người mang số định danh này."), "id_number")
    changed = [name for name in SUBJECT_FIELDS if getattr(subject, name) != values[name]]
    for name in changed:
        setattr(subject, name, values[name])
    if changed:
        db.session.flush()
        record("subject.update", target_type="subject", target_id=subject.id, actor=by, fields=changed)
    return changed


def _validated_relative(data: RelativeData) -> dict[str, Any]:
    values = data.cleaned()
    if values["relation"] not in RELATIONS:
        raise SubjectError(_("Quan hệ không hợp lệ."), "relation")
    if not values["full_name"]:
        raise SubjectError(_("Hãy nhập họ và tên."), "full_name")
    if values.get("id_number"):
        try:
            values["id_number"] = citizen_id(values["id_number"])
        except InvalidCitizenId:
            raise SubjectError(_("Số định danh gồm 12 chữ số (CCCD) hoặc 9 chữ số (CMND)."), "id_number") from None
    return values


def add_relative(subject: Subject, data: RelativeData, *, by: User | None) -> Relative:
    values = _validated_relative(data)
    relative = Relative(id=uuid.uuid4(), subject=subject, **values)
    db.session.add(relative)
    db.session.flush()
    record("relative.create", target_type="subject", target_id=subject.id, actor=by, relative=relative.id,
           fields=[name for name in RELATIVE_FIELDS if values.get(name) is not None])
    return relative


def update_relative(relative: Relative, data: RelativeData, *, by: User | None) -> list[str]:
    values = _validated_relative(data)
    changed = [name for name in RELATIVE_FIELDS if getattr(relative, name) != values[name]]
    for name in changed:
        setattr(relative, name, values[name])
    if changed:
        db.session.flush()
        record("relative.update", target_type="subject", target_id=relative.subject_id, actor=by,
               relative=relative.id, fields=changed)
    return changed


def remove_relative(relative: Relative, *, by: User | None) -> None:
    subject_id = relative.subject_id
    db.session.delete(relative)
    db.session.flush()
    record("relative.delete", target_type="subject", target_id=subject_id, actor=by, relative=relative.id)


# --- roster import and export ------------------------------------------------------------

@dataclass
class ImportCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _row_data(row: RosterRow) -> SubjectData:
    sex = {"nam": "male", "male": "male", "m": "male", "nữ": "female", "nu": "female", "female": "female",
           "f": "female"}.get(row.sex.lower()) if row.sex else None
    return SubjectData(full_name=row.full_name, date_of_birth=row.date_of_birth, id_number=row.id_number,
                       other_names=row.other_names, sex=sex, native_place=row.native_place,
                       residence=row.residence, ethnicity=row.ethnicity, religion=row.religion,
                       current_unit=row.unit, position=row.position)


def roster_values(row: RosterRow) -> dict[str, Any]:
    """A new dossier's fields from a roster row, validated as the import validates them
    (a campaign's list of nominees makes dossiers from the same rows)."""
    return _validated(_row_data(row))


def import_roster(rows: Iterable[RosterRow], *, owner_unit: Unit, progress: Callable[[int], None] | None = None,
                  skipped: int = 0) -> ImportCounts:
    """Create or update one subject per row, keyed on the ID number within the unit, so
    importing the same file twice changes nothing the second time."""
    counts = ImportCounts()
    for row in rows:
        data = _row_data(row)
        existing = find_in_unit(row.id_number, owner_unit.id)
        if existing is None:
            values = _validated(data)
            db.session.add(Subject(id=uuid.uuid4(), owner_unit=owner_unit, **values))
            counts.created += 1
        else:
            values = _validated(data)
            # Columns the roster does not carry keep what the dossier already says.
            roster_fields = [name for name in SUBJECT_FIELDS
                             if name in ("full_name", "date_of_birth", "id_number", "current_unit", "position",
                                         "native_place") or values.get(name) is not None]
            changed = [name for name in roster_fields if getattr(existing, name) != values[name]]
            for name in changed:
                setattr(existing, name, values[name])
            if changed:
                counts.updated += 1
            else:
                counts.unchanged += 1
        if progress is not None:
            progress(1)
        # Flush as we go so a later row's lookup sees an earlier row of the same file.
        db.session.flush()
    record("subject.import", target_type="unit", target_id=owner_unit.id, created=counts.created,
           updated=counts.updated, unchanged=counts.unchanged, skipped=skipped)
    return counts


EXPORT_COLUMNS = ALL_COLUMNS
_SEX_OUT = {"male": "Nam", "female": "Nữ"}


def export_rows(unit_ids: Iterable[uuid.UUID], *, recused_index: int | None = None) -> Iterator[list[str]]:
    in_scope = Subject.owner_unit_id.in_(list(unit_ids))
    if recused_index is not None:
        # The exporter's own dossier and their family's stay out, as everywhere else.
        in_scope = in_scope & Subject.id.not_in(subjects_about(recused_index))
    # One query unwraps every dossier's data key, instead of one query per dossier.
    current_keyring().preload(db.session, select(Subject.data_key_id).where(in_scope))
    subjects = db.session.scalars(select(Subject).where(in_scope)).all()
    for subject in sorted(subjects, key=lambda item: (item.full_name, item.date_of_birth)):
        yield [subject.full_name, subject.date_of_birth.strftime("%d/%m/%Y"), subject.id_number,
               subject.native_place or "", subject.current_unit or "", subject.position or "",
               subject.other_names or "", _SEX_OUT.get(subject.sex or "", ""), subject.residence or "",
               subject.ethnicity or "", subject.religion or ""]


def export_csv(unit_ids: Iterable[uuid.UUID], *, by: User | None) -> str:
    buffer = io.StringIO()
    writer = csv_writer(buffer)  # every cell through spreadsheet_cell: never a formula
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for row in export_rows(unit_ids, recused_index=getattr(by, "citizen_index", None)):
        writer.writerow(row)
        count += 1
    record("subject.export", target_type="subject", actor=by, rows=count, format="csv")
    return buffer.getvalue()
