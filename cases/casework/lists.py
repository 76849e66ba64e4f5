"""The lists officers work from: my work, my unit's cases, due soon and overdue, awaiting
my approval, requests to my body. Filters are plain columns (kind, state, classification,
dates) so the database does the work; a subject is found through the blind index, never by
decrypting every row. Only the page shown is decrypted, with its keys unwrapped in one query.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Select, and_, case, exists, func, or_, select
from sqlalchemy.orm import joinedload, lazyload, load_only

from audit.trail import record
from cases import workflow
from cases.casework.operations import today
from cases.deadlines import due_soon_limit
from cases.models import Assignment, Case, ConcernedPerson, Conclusion, Subject, subjects_about
from cases.subjects.operations import search_subjects
from protection import paging, policy
from protection.crypto import current_keyring
from protection.db import db
from protection.identity import CLEARANCE_ORDER, Role, User
from protection.paging import Count

PAGE_SIZE = paging.PER_PAGE
# Counting every matching case costs time in proportion to the unit's whole history; past
# these bounds nobody reads the exact figure, so the database stops counting there.
TOTAL_CAP = 5000
BADGE_CAP = 999


def bounded_count(statement: Select, cap: int) -> Count:
    return paging.bounded_count(statement, cap, Case.id)


VIEWS = ("mine", "unit", "due", "approval")
OPEN_STATES = sorted({state for flow in workflow.CASE_WORKFLOWS.values() for state in flow.states
                      if flow.is_open(state)})
# A state sorts in the order work goes through it (reviews, then petitions), not by its code.
_STATE_ORDER = case({state: rank for rank, state in enumerate(dict.fromkeys(
    state for flow in workflow.CASE_WORKFLOWS.values() for state in flow.states))}, value=Case.state, else_=99)
# The orders a list offers: plain columns only. The title is sealed (its ciphertext has no
# useful order), so a list is never sorted by title, nor by a subject's name.
SORTS = {
    "due": (paging.NullsLast(Case.due_on), Case.reference),
    "reference": (Case.reference,),
    "opened": (Case.opened_on, Case.reference),
    "state": (_STATE_ORDER, paging.NullsLast(Case.due_on), Case.reference),
}
DEFAULT_SORT = paging.Sort("due")
# The unit's list is browsed newest first; work lists (mine, due, approval) by deadline.
# Each default is the order its covering index already holds (see Case.__table_args__).
VIEW_DEFAULT_SORTS = {"unit": paging.Sort("opened", descending=True)}


def views_for(user: User) -> tuple[str, ...]:
    """The lists a user has: my work, my unit's cases, what falls due; and the queue of
    conclusions awaiting approval for whoever may approve them."""
    return VIEWS if policy.can(user, "case.approve") else tuple(view for view in VIEWS if view != "approval")


def default_sort(view: str) -> paging.Sort:
    return VIEW_DEFAULT_SORTS.get(view, DEFAULT_SORT)


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
    sort: paging.Sort = DEFAULT_SORT


@dataclass
class Page(paging.Page):
    readable: set[uuid.UUID] = field(default_factory=set)
    subject_search: str | None = None
    subject_too_common: bool = False  # the subject filter's words are shared by too many people


def _cleared_levels(user: User) -> list:
    return [level for level in CLEARANCE_ORDER if user.clearance.covers(level)]


def base_query(user: User) -> Select:
    """Cases the user may know exist: their unit scope, at or below their clearance, and
    none about them (recusal: not even the reference shows)."""
    statement = select(Case).where(Case.owner_unit_id.in_(policy.unit_scope(user)),
                                   Case.classification.in_(_cleared_levels(user)))
    if user.citizen_index is not None:
        about_me = subjects_about(user.citizen_index)
        statement = statement.where(
            or_(Case.subject_id.is_(None), Case.subject_id.not_in(about_me)),
            ~exists().where(ConcernedPerson.case_id == Case.id, ConcernedPerson.subject_id.in_(about_me)))
    return statement


def _assigned_to(statement: Select, user: User) -> Select:
    """Only the user's assigned cases. A join that starts from the user's assignments (an
    index on user_id, case_id) reads their few cases instead of probing the unit's many."""
    return statement.join(Assignment, and_(Assignment.case_id == Case.id, Assignment.user_id == user.id))


# What a list row shows without opening anything: the title is loaded afterwards, and only
# for the rows the user may read (nothing else of a case is decrypted for a list).
LIST_COLUMNS = (Case.id, Case.reference, Case.kind, Case.state, Case.classification, Case.owner_unit_id,
                Case.opened_on, Case.due_on, Case.closed_on, Case.data_key_id, Case.version, Case.subject_id,
                Case.purpose, Case.extensions, Case.deadline_rule)


def open_titles(ids: set[uuid.UUID]) -> None:
    """Decrypt the titles of these (already loaded) cases: their keys in one query, their
    titles in one more."""
    if not ids:
        return
    current_keyring().preload(db.session, select(Case.data_key_id).where(Case.id.in_(ids)))
    db.session.execute(select(Case).where(Case.id.in_(ids)).options(load_only(Case.id, Case.title),
                                                                     lazyload(Case.owner_unit))
                       .execution_options(populate_existing=True)).all()


def list_cases(user: User, filters: Filters) -> Page:
    statement = base_query(user)
    if filters.view == "mine":
        statement = _assigned_to(statement, user).where(Case.state.in_(OPEN_STATES))
    elif filters.view == "due":
        statement = statement.where(Case.state.in_(OPEN_STATES), Case.due_on.is_not(None),
                                    Case.due_on <= due_soon_limit(today()))
        if user.role == Role.OFFICER:
            statement = _assigned_to(statement, user)
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
    subject_search, too_common = None, False
    if filters.subject_query:
        searched = search_subjects(user, filters.subject_query)
        subject_search, too_common = searched.kind, searched.too_common
        ids = [subject.id for subject in searched.results]
        statement = statement.where(or_(Case.subject_id.in_(ids), exists().where(
            ConcernedPerson.case_id == Case.id, ConcernedPerson.subject_id.in_(ids))))

    shown = paging.paginate(statement.options(load_only(*LIST_COLUMNS), lazyload(Case.owner_unit))
                            .order_by(*paging.sort_clause(filters.sort, SORTS)),
                            filters.page, PAGE_SIZE, cap=TOTAL_CAP, count_column=Case.id)
    readable = readable_ids(user, shown.rows)
    open_titles(readable)
    record("case.list", target_type="case", view=filters.view, results=len(shown.rows), total=shown.total,
           subject_search=subject_search)
    return Page(rows=shown.rows, total=shown.total, page=shown.page, pages=shown.pages, per_page=shown.per_page,
                readable=readable, subject_search=subject_search, subject_too_common=too_common)


def readable_ids(user: User, rows: list[Case]) -> set[uuid.UUID]:
    """Rows whose title the user may read; the others show reference, state and dates."""
    if user.role == Role.SUPERVISOR:
        return {row.id for row in rows}
    if not rows:
        return set()
    assigned = set(db.session.scalars(select(Assignment.case_id).where(
        Assignment.user_id == user.id, Assignment.case_id.in_([row.id for row in rows]))))
    return assigned


def counts(user: User) -> dict[str, Count]:
    """The badges on the lists' tabs and the home page, in two or three index scans: my
    open cases with how many are due soon and overdue in one pass over my assignments;
    for a supervisor, the scope's due and overdue work in one pass, and what awaits approval."""
    now, soon = today(), due_soon_limit(today())
    open_cases = base_query(user).where(Case.state.in_(OPEN_STATES))
    mine_rows = _assigned_to(open_cases, user).with_only_columns(Case.due_on).order_by(None).subquery()
    mine, due, overdue = db.session.execute(select(
        func.count(), func.count(case((mine_rows.c.due_on <= soon, 1))),
        func.count(case((mine_rows.c.due_on < now, 1))))).one()
    if user.role == Role.SUPERVISOR:
        due_rows = (open_cases.where(Case.due_on.is_not(None), Case.due_on <= soon).with_only_columns(Case.due_on)
                    .order_by(None).limit(BADGE_CAP + 1).subquery())
        due, overdue = db.session.execute(select(func.count(), func.count(case((due_rows.c.due_on < now, 1))))).one()
    result = {"mine": Count(mine, BADGE_CAP), "due": Count(due, BADGE_CAP), "overdue": Count(overdue, BADGE_CAP)}
    if "approval" in views_for(user):
        result["approval"] = bounded_count(base_query(user).where(Case.state == "submitted"), BADGE_CAP)
    return result


def subject_history(subject: Subject, user: User) -> dict[str, list]:
    """A dossier's reviews, the petitions concerning the person and the conclusions over
    time, limited to what the user may know exists. The reviews and petitions come in one
    query, each row saying whether the petition names the person and whether the user is
    assigned to the case (the rule of readable_ids)."""
    concerns = exists().where(ConcernedPerson.case_id == Case.id, ConcernedPerson.subject_id == subject.id)
    assigned = exists().where(Assignment.case_id == Case.id, Assignment.user_id == user.id)
    rows = db.session.execute(
        base_query(user).add_columns(concerns.label("concerns"), assigned.label("assigned"))
        .where(or_(Case.subject_id == subject.id, and_(Case.kind == "petition", concerns)))
        .options(joinedload(Case.petition)).order_by(Case.opened_on.desc())).all()
    reviews = [item for item, _concerns, _assigned in rows if item.subject_id == subject.id]
    petitions = [item for item, named, _assigned in rows if item.kind == "petition" and named]
    review_ids = [case.id for case in reviews]
    found = list(db.session.scalars(select(Conclusion).where(Conclusion.case_id.in_(review_ids),
                                                             Conclusion.state == "approved")
                                    .order_by(Conclusion.approved_at.desc()))) if review_ids else []
    # A correction replaces its previous version: both are approved, only one is in force.
    superseded = {item.previous_id: item for item in found if item.previous_id}
    readable = ({item.id for item in reviews + petitions} if user.role == Role.SUPERVISOR
                else {item.id for item, _concerns, mine in rows if mine})
    return {"reviews": reviews, "petitions": petitions, "conclusions": found, "superseded": superseded,
            "readable": readable}


def form_subject(user: User, subject_id: uuid.UUID | None) -> Subject | None:
    """The subject a new review is opened for, when it is in the user's unit scope; its
    name is shown on the form, so the read is recorded."""
    subject = db.session.get(Subject, subject_id) if subject_id else None
    if subject is None or subject.owner_unit_id not in policy.unit_scope(user) or policy.is_recused(user, subject):
        return None
    record("subject.view", target_type="subject", target_id=subject.id, purpose="case_form")
    return subject
