"""What the home page shows each role.

- Officers: their open work, what falls due this week and what is overdue (short lists of
  references linking to the cases), and charts over the cases they may know exist.
- Supervisors: what awaits their approval, what falls due and is overdue in their scope,
  and the same charts over their scope.
- Liaisons: how many requests to their body are open and overdue, counted through the
  coordination inbox's own scoping.
- Auditors and admins: nothing of cases, not even counts.

Lists show reference, kind, state and due date, and whose case it is (the subject's name
and the review's purpose; a petition's title, or its type and the people it concerns when
it was given no title) for the cases whose content the viewer may read, the rule of the
case lists (lists.readable_ids); that read is recorded as the lists' reads are (`case.list`,
view "home"). Charts come from cases.reports.statistics over the viewer's scope, so they count only cases the
viewer may know exist. Every figure is a GROUP BY over indexed plain columns.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from flask_babel import force_locale, format_decimal
from flask_babel import gettext as _
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import lazyload, load_only

from audit.trail import record
from cases import labels, workflow
from cases.casework import lists
from cases.casework.operations import today as local_today
from cases.coordination import operations as coordination
from cases.dashboard import charts
from cases.deadlines import due_soon_limit
from cases.models import Assignment, Case, ConcernedPerson, Petition, Subject
from cases.reports import statistics
from protection import policy
from protection.crypto import current_keyring
from protection.db import db
from protection.i18n import LANGUAGE_NAMES
from protection.identity import Role, User

LIST_LENGTH = 5
CHART_MONTHS = 12


@dataclass
class WorkList:
    rows: list[Case]
    total: lists.Count
    view: str  # the list page (cases.index?view=...) that shows all of them


@dataclass
class Dashboard:
    today: date
    soon: date
    work: dict[str, WorkList] = field(default_factory=dict)
    charts: dict[str, charts.Chart] = field(default_factory=dict)
    requests_open: int = 0
    requests_overdue: int = 0
    # Whose case each listed case is, for those the viewer may read; the others have none.
    about: dict[uuid.UUID, str] = field(default_factory=dict)


def for_user(user: User) -> Dashboard:
    today = local_today()
    board = Dashboard(today, due_soon_limit(today))
    if user.role == Role.LIAISON and policy.can(user, "coordination.respond"):
        rows = coordination.inbox(user)
        board.requests_open = sum(1 for row in rows if row.state in statistics.OPEN_REQUEST_STATES)
        board.requests_overdue = sum(1 for row in rows if coordination.is_overdue(row, today))
    elif policy.can(user, "case.view"):
        board.work = _work(user, today, board.soon)
        board.about = _about(user, [row for work in board.work.values() for row in work.rows])
        board.charts = _charts(statistics.viewer_scope(user), today)
    return board


# --- short lists --------------------------------------------------------------------------

def _work(user: User, today: date, soon: date) -> dict[str, WorkList]:
    open_cases = lists.base_query(user).where(Case.state.in_(lists.OPEN_STATES))
    if user.role == Role.OFFICER:
        open_cases = open_cases.join(Assignment, and_(Assignment.case_id == Case.id, Assignment.user_id == user.id))
    due_week = open_cases.where(Case.due_on >= today, Case.due_on <= soon)
    overdue = open_cases.where(Case.due_on < today)
    if user.role == Role.OFFICER:
        return _own_work(open_cases, today, soon) or {
            "mine": _short(open_cases, "mine"), "due": _short(due_week, "due"), "overdue": _short(overdue, "due")}
    approval = lists.base_query(user).where(Case.state == "submitted")
    return {"approval": _short(approval, "approval", whole_scope=True),
            "due": _short(due_week, "due", whole_scope=True), "overdue": _short(overdue, "due", whole_scope=True)}


def _short(statement: Select, view: str, *, whole_scope: bool = False) -> WorkList:
    """The first few by due date, and how many there are in all."""
    first = statement
    if whole_scope:
        # Sorting a scope's overdue work by (due date, reference) reads every row of it. The
        # LIST_LENGTH-th due date comes from the (unit, state, due) index alone; only rows
        # due by then are read and sorted. (An officer's own work is a few rows anyway.)
        cutoff = db.session.scalar(statement.with_only_columns(Case.due_on).where(Case.due_on.is_not(None))
                                   .order_by(Case.due_on).offset(LIST_LENGTH - 1).limit(1))
        first = statement.where(Case.due_on <= cutoff) if cutoff is not None else statement
    rows = list(db.session.scalars(_listed_by_due(first).limit(LIST_LENGTH)))
    total = lists.Count(len(rows), lists.BADGE_CAP) if len(rows) < LIST_LENGTH \
        else lists.bounded_count(statement, lists.BADGE_CAP)
    return WorkList(rows, total, view)


def _listed_by_due(statement: Select) -> Select:
    """The list's columns, first due first (undated last), then by reference."""
    return (statement.options(load_only(*lists.LIST_COLUMNS), lazyload(Case.owner_unit))
            .order_by(Case.due_on.is_(None), Case.due_on, Case.reference))


# An officer's open work is a few cases: up to this many are read in one query and the three
# lists cut from it; more (a backlog), and each list asks the database for its first few.
OWN_WORK_CAP = 200


def _own_work(open_cases: Select, today: date, soon: date) -> dict[str, WorkList] | None:
    rows = list(db.session.scalars(_listed_by_due(open_cases).limit(OWN_WORK_CAP + 1)))
    if len(rows) > OWN_WORK_CAP:
        return None
    due = [row for row in rows if row.due_on is not None and today <= row.due_on <= soon]
    overdue = [row for row in rows if row.due_on is not None and row.due_on < today]
    return {view: WorkList(found[:LIST_LENGTH], lists.Count(len(found), lists.BADGE_CAP), page)
            for view, page, found in (("mine", "mine", rows), ("due", "due", due), ("overdue", "due", overdue))}


# --- whose case -----------------------------------------------------------------------------

NAMES_SHOWN = 2


def _about(user: User, rows: list[Case]) -> dict[uuid.UUID, str]:
    """A short line per readable case: "Nguyễn Văn An · Bổ nhiệm" for a review; the title
    of a petition, or "Tố cáo · Lê Văn C, Trần Thị D" when it was given none. Decrypted in
    a few queries (the keys, the titles with the petitions' types, the people named, their
    names), and the read recorded in the request's transaction."""
    # An officer's lists are their own assignments (_work joins them): every row is readable,
    # as lists.readable_ids would answer, without asking again.
    readable = {row.id for row in rows} if user.role == Role.OFFICER else lists.readable_ids(user, rows)
    if not readable:
        return {}
    cases = {row.id: row for row in rows if row.id in readable}
    petition_ids = [case_id for case_id, case in cases.items() if case.kind == "petition"]
    review_subjects = {case.subject_id for case in cases.values() if case.subject_id}
    named_subjects = select(ConcernedPerson.subject_id).where(ConcernedPerson.case_id.in_(petition_ids),
                                                              ConcernedPerson.subject_id.is_not(None))
    # Every key the lines need in one query: the cases' (titles, names as a petition gives
    # them) and the dossiers' of the people they are about.
    current_keyring().preload(db.session, select(Case.data_key_id).where(Case.id.in_(cases)).union(
        select(Subject.data_key_id).where(or_(Subject.id.in_(review_subjects), Subject.id.in_(named_subjects)))))
    # The titles decrypted on the loaded cases (populate_existing), the petitions' types beside.
    types = {found.id: petition_type for found, petition_type in db.session.execute(
        select(Case, Petition.petition_type).outerjoin(Petition, Petition.case_id == Case.id)
        .where(Case.id.in_(cases)).options(load_only(Case.id, Case.title), lazyload(Case.owner_unit))
        .execution_options(populate_existing=True)).all()}
    concerned = list(db.session.scalars(
        select(ConcernedPerson).where(ConcernedPerson.case_id.in_(petition_ids))
        .options(load_only(ConcernedPerson.id, ConcernedPerson.case_id, ConcernedPerson.subject_id,
                           ConcernedPerson.named_as, ConcernedPerson.data_key_id))
        .order_by(ConcernedPerson.case_id, ConcernedPerson.id))) if petition_ids else []
    subject_ids = review_subjects | {person.subject_id for person in concerned
                                     if person.subject_id and not person.named_as}
    names = _subject_names(subject_ids)
    people: dict[uuid.UUID, list[str]] = {}
    for person in concerned:
        name = person.named_as or names.get(person.subject_id)
        if name:
            people.setdefault(person.case_id, []).append(name)
    untitled = _default_petition_titles()
    about = {}
    for case_id, case in cases.items():
        if case.kind == "review":
            parts = [names.get(case.subject_id), labels.of(labels.PURPOSES, case.purpose) if case.purpose else None]
        elif case.title and case.title not in untitled:
            parts = [case.title]
        else:
            named = people.get(case_id, [])
            shown = ", ".join(named[:NAMES_SHOWN])
            if len(named) > NAMES_SHOWN:
                shown = _("%(names)s và %(count)d người khác", names=shown, count=len(named) - NAMES_SHOWN)
            parts = [labels.of(labels.PETITION_TYPES, types.get(case_id)) if types.get(case_id) else None, shown]
        text = " · ".join(str(part) for part in parts if part)
        if text:
            about[case_id] = text
    record("case.list", target_type="case", view="home", results=len({row.id for row in rows}), readable=len(cases))
    return about


def _subject_names(ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The names of these dossiers' people (their keys preloaded by _about)."""
    if not ids:
        return {}
    subjects = db.session.scalars(select(Subject).where(Subject.id.in_(ids))
                                  .options(load_only(Subject.id, Subject.full_name, Subject.data_key_id)))
    return {subject.id: subject.full_name for subject in subjects if subject.full_name}


def _default_petition_titles() -> set[str]:
    """The title a petition gets when none is typed (petitions.receive_petition), in each
    language it may have been received in: such a title says nothing of whose it is."""
    titles = set()
    for code in LANGUAGE_NAMES:
        with force_locale(code):
            titles.add(_("Đơn thư"))
    return titles


# --- charts -------------------------------------------------------------------------------

def _charts(scope: statistics.Scope, today: date) -> dict[str, charts.Chart]:
    year = statistics.Period(statistics.month_starts(today, CHART_MONTHS)[0], today)
    return {"states": _states_chart(scope), "petitions": _petitions_chart(scope, today),
            "coordination": _coordination_chart(scope, year, today), "on_time": _on_time_chart(scope, year)}


def _states_chart(scope: statistics.Scope) -> charts.Chart:
    counts = statistics.cases_by_state_and_kind(scope)
    kinds = list(workflow.CASE_WORKFLOWS)
    states = [state for state in dict.fromkeys(s for flow in workflow.CASE_WORKFLOWS.values() for s in flow.states)
              if any(counts.get((kind, state)) for kind in kinds)]
    total = sum(counts.values())
    return charts.stacked_rows(
        [labels.state(state) for state in states], [labels.kind(kind) for kind in kinds],
        [[counts.get((kind, state), 0) for kind in kinds] for state in states],
        summary=_("%(count)s hồ sơ theo trạng thái hiện nay, chia theo loại.", count=total),
        category_header=_("Trạng thái"), total_header=_("Tổng"))


def _petitions_chart(scope: statistics.Scope, today: date) -> charts.Chart:
    months = statistics.petitions_per_month(scope, today, CHART_MONTHS)
    received, resolved = sum(m.received for m in months), sum(m.resolved for m in months)
    return charts.grouped_columns(
        [f"{month.first_day:%m/%y}" for month in months], [_("Tiếp nhận"), _("Đã giải quyết")],
        [[month.received, month.resolved] for month in months],
        summary=_("Trong 12 tháng qua: tiếp nhận %(received)s đơn, giải quyết %(resolved)s đơn.",
                  received=received, resolved=resolved),
        category_header=_("Tháng"))


def _days(value: float | None) -> str:
    return _("%(days)s ngày", days=format_decimal(value)) if value is not None else _("chưa có trả lời")


def _coordination_chart(scope: statistics.Scope, year: statistics.Period, today: date) -> charts.Chart:
    bodies = statistics.coordination_by_body(scope, year, today)
    return charts.value_rows(
        [body.name for body in bodies], [body.median_days or 0 for body in bodies],
        [_days(body.median_days) for body in bodies],
        [[str(body.sent), str(body.answered), _days(body.median_days), _days(body.mean_days), str(body.overdue)]
         for body in bodies],
        summary=_("Thời gian trả lời (trung vị, ngày) của %(count)s cơ quan phối hợp trong 12 tháng qua.",
                  count=len(bodies)),
        columns=[_("Cơ quan"), _("Đã gửi"), _("Đã trả lời"), _("Trung vị"), _("Trung bình"), _("Quá hạn")])


def _on_time_chart(scope: statistics.Scope, year: statistics.Period) -> charts.Chart:
    total = statistics.total_on_time(statistics.on_time(scope, year))
    text = f"{format_decimal(total.rate)} %" if total.rate is not None else "—"
    summary = (_("%(on_time)s trên %(closed)s hồ sơ kết thúc trong 12 tháng qua đúng hạn (%(rate)s).",
                 on_time=total.on_time, closed=total.closed, rate=text) if total.closed
               else _("Chưa có hồ sơ nào kết thúc trong 12 tháng qua."))
    return charts.gauge(total.rate, text, summary=summary,
                        columns=[_("Thời gian"), _("Kết thúc"), _("Đúng hạn"), _("Quá hạn"), _("Tỷ lệ đúng hạn")],
                        row=[_("12 tháng qua"), str(total.closed), str(total.on_time), str(total.late), text])
