"""The lists officers work from: my work, my unit's cases, due soon and overdue, awaiting
my approval, requests to my body. Filters are plain columns (kind, state, classification,
dates) so the database does the work; a subject is found through the blind index, never by
decrypting every row. Only the page shown is decrypted, with its keys unwrapped in one query.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Select, exists, func, or_, select

from audit.trail import record
from protection import policy
from protection.crypto import current_keyring
from protection.db import db
from protection.identity import CLEARANCE_ORDER, Role, User

from . import workflow
from .deadlines import due_soon_limit
from .models import Assignment, Case, Conclusion, ConcernedPerson, Subject
from .operations import today
from .subjects import search_subjects

PAGE_SIZE = 50
VIEWS = ("mine", "unit", "due", "approval")
OPEN_STATES = sorted({state for flow in workflow.CASE_WORKFLOWS.values() for state in flow.states
                      if flow.is_open(state)})


@dataclass
class Filters:
    view: str = "mine"
    kind: str | None = None
    state: str | None = None
    classification: str | None = None
    opened_from: date | None = None
    opened_to: date | None = None
    reference: str | None = None
    subject_query: str | None = None
    page: int = 1


@dataclass
class Page:
    rows: list[Case]
    total: int
    page: int
    pages: int
    readable: set[uuid.UUID] = field(default_factory=set)
    subject_search: str | None = None


def _cleared_levels(user: User) -> list:
    return [level for level in CLEARANCE_ORDER if user.clearance.covers(level)]


def base_query(user: User) -> Select:
    """Cases the user may know exist: their unit scope, at or below their clearance."""
    return select(Case).where(Case.owner_unit_id.in_(policy.unit_scope(user)),
                              Case.classification.in_(_cleared_levels(user)))


def _assigned_to(user: User):
    return exists().where(Assignment.case_id == Case.id, Assignment.user_id == user.id)


def list_cases(user: User, filters: Filters) -> Page:
    statement = base_query(user)
    if filters.view == "mine":
        statement = statement.where(_assigned_to(user), Case.state.in_(OPEN_STATES))
    elif filters.view == "due":
        statement = statement.where(Case.state.in_(OPEN_STATES), Case.due_on.is_not(None),
                                    Case.due_on <= due_soon_limit(today()))
        if user.role == Role.OFFICER:
            statement = statement.where(_assigned_to(user))
    elif filters.view == "approval":
        statement = statement.where(Case.state == "submitted")
    if filters.kind:
        statement = statement.where(Case.kind == filters.kind)
    if filters.state:
        statement = statement.where(Case.state == filters.state)
    if filters.classification:
        statement = statement.where(Case.classification == filters.classification)
    if filters.opened_from:
        statement = statement.where(Case.opened_on >= filters.opened_from)
    if filters.opened_to:
        statement = statement.where(Case.opened_on <= filters.opened_to)
    if filters.reference:
        statement = statement.where(Case.reference == filters.reference.strip().upper())
    subject_search = None
    if filters.subject_query:
        subject_search, found = search_subjects(user, filters.subject_query)
        ids = [subject.id for subject in found]
        statement = statement.where(or_(Case.subject_id.in_(ids), exists().where(
            ConcernedPerson.case_id == Case.id, ConcernedPerson.subject_id.in_(ids))))

    total = db.session.scalar(statement.with_only_columns(func.count()).order_by(None))
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, filters.page), pages)
    order = (Case.due_on.is_(None), Case.due_on, Case.reference) if filters.view in ("mine", "due") \
        else (Case.opened_on.desc(), Case.reference.desc())
    rows = list(db.session.scalars(statement.order_by(*order).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    readable = readable_ids(user, rows)
    if readable:
        current_keyring().preload(db.session, select(Case.data_key_id).where(Case.id.in_(readable)))
    record("case.list", target_type="case", view=filters.view, results=len(rows), total=total,
           subject_search=subject_search)
    return Page(rows=rows, total=total, page=page, pages=pages, readable=readable, subject_search=subject_search)


def readable_ids(user: User, rows: list[Case]) -> set[uuid.UUID]:
    """Rows whose title the user may read; the others show reference, state and dates."""
    if user.role == Role.SUPERVISOR:
        return {row.id for row in rows}
    if not rows:
        return set()
    assigned = set(db.session.scalars(select(Assignment.case_id).where(
        Assignment.user_id == user.id, Assignment.case_id.in_([row.id for row in rows]))))
    return assigned


def counts(user: User) -> dict[str, int]:
    """The badges on the lists' tabs."""
    mine = base_query(user).where(_assigned_to(user), Case.state.in_(OPEN_STATES))
    due = base_query(user).where(Case.state.in_(OPEN_STATES), Case.due_on.is_not(None),
                                 Case.due_on <= due_soon_limit(today()))
    if user.role == Role.OFFICER:
        due = due.where(_assigned_to(user))
    overdue = due.where(Case.due_on < today())
    result = {name: db.session.scalar(query.with_only_columns(func.count()).order_by(None))
              for name, query in (("mine", mine), ("due", due), ("overdue", overdue))}
    if user.role == Role.SUPERVISOR:
        result["approval"] = db.session.scalar(base_query(user).where(Case.state == "submitted")
                                               .with_only_columns(func.count()).order_by(None))
    return result


def subject_history(subject: Subject, user: User) -> dict[str, list]:
    """A dossier's reviews, the petitions concerning the person and the conclusions over
    time, limited to what the user may know exists."""
    visible = base_query(user)
    reviews = list(db.session.scalars(visible.where(Case.subject_id == subject.id).order_by(Case.opened_on.desc())))
    petitions = list(db.session.scalars(visible.where(Case.kind == "petition", exists().where(
        ConcernedPerson.case_id == Case.id, ConcernedPerson.subject_id == subject.id))
        .order_by(Case.opened_on.desc())))
    review_ids = [case.id for case in reviews]
    found = list(db.session.scalars(select(Conclusion).where(Conclusion.case_id.in_(review_ids),
                                                             Conclusion.state == "approved")
                                    .order_by(Conclusion.approved_at.desc()))) if review_ids else []
    return {"reviews": reviews, "petitions": petitions, "conclusions": found,
            "readable": readable_ids(user, reviews + petitions)}


FORM_SUBJECT_LIMIT = 200


def form_subjects(user: User, include: uuid.UUID | None = None, limit: int = FORM_SUBJECT_LIMIT) -> list[Subject]:
    """The subjects a new review or petition may name: the latest dossiers of the user's
    unit scope (and `include`, when it is in scope), by name. Their names are shown, so
    the read is recorded, with its count only."""
    scope = policy.unit_scope(user)
    statement = select(Subject).where(Subject.owner_unit_id.in_(scope))
    rows = list(db.session.scalars(statement.order_by(Subject.created_at.desc()).limit(limit)))
    if include is not None and all(row.id != include for row in rows):
        extra = db.session.get(Subject, include)
        if extra is not None and extra.owner_unit_id in scope:
            rows.append(extra)
    if rows:
        current_keyring().preload(db.session, select(Subject.data_key_id).where(
            Subject.id.in_([row.id for row in rows])))
    record("subject.list", target_type="subject", purpose="case_form", results=len(rows))
    return sorted(rows, key=lambda subject: (subject.full_name, subject.date_of_birth))
