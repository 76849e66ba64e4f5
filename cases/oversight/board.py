"""The unit board (issue 24 A.1): how the sub-units of a supervisor's unit are doing, from
metadata only.

For the supervisor's unit (a reference row) and every unit below it (the tree, in order,
each with its depth), each row counting that unit's own work, not its sub-units':
- open reviews and open petitions, by state;
- how many of them are overdue (open, due before today: the home dashboard's rule);
- the median days from opening a review to its conclusion (reviews closed in the period:
  opened_on → closed_on) and from receiving a petition to its intake decision (decided in
  the period: received_on → decided_on);
- conclusions expiring in the next 90 days: review conclusions whose validity
  (Conclusion.valid_until, set at approval from HOSO_CONCLUSION_VALIDITY_MONTHS) ends between
  today and 90 days on, counting for each person only the latest approved review conclusion
  (a newer one replaces it: cases.reviews.operations.needs_re_review's rule);
- coordination requests overdue (waiting for the body's liaison past their due date, as
  cases.reports.statistics counts them), per unit and per partner body;
- inspection recommendations overdue (open or reported, due before today), per responsible unit.

What is counted is what the viewer may know exists (cases.reports.statistics.Scope with the
viewer: their unit scope, at or below their clearance, none about themselves); a
recommendation counts when its visit's classification is within the viewer's clearance.

Nothing here decrypts anything or loads a case as an object: every figure is a GROUP BY over
plain columns (unit, kind, state, dates), one statement per kind of figure whatever the number
of units; medians are taken in Python over (unit, start, end, count) rows of the period.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, case, exists, func, literal, select, union_all
from sqlalchemy.orm import aliased

from cases import workflow
from cases.casework import lists
from cases.models import Case, Conclusion, CoordinationRequest, Petition
from cases.oversight.models import InspectionVisit, Recommendation
from cases.reports import statistics
from cases.reports.statistics import Period, Scope
from protection import policy
from protection.clock import utcnow
from protection.db import db
from protection.identity import CLEARANCE_ORDER, Unit, User

EXPIRY_DAYS = 90
DEFAULT_MONTHS = 12
OPEN_RECOMMENDATION_STATES = ("open", "reported")
KINDS = tuple(workflow.CASE_WORKFLOWS)
# (kind, state) of every open state, in the order work goes through them.
OPEN_STATES: tuple[tuple[str, str], ...] = tuple(
    (kind, state) for kind, flow in workflow.CASE_WORKFLOWS.items() for state in flow.states if flow.is_open(state))


@dataclass
class UnitRow:
    """One unit's own figures."""

    unit_id: uuid.UUID
    code: str
    name: str
    depth: int  # 0: the supervisor's own unit; 1: directly below it; ...
    open_by_state: Counter = field(default_factory=Counter)  # (kind, state) -> cases
    overdue_by_kind: Counter = field(default_factory=Counter)  # kind -> open cases past due
    review_days: list[int] = field(default_factory=list)
    petition_days: list[int] = field(default_factory=list)
    expiring: int = 0
    requests_overdue: int = 0
    recommendations_overdue: int = 0

    @property
    def own(self) -> bool:
        return self.depth == 0

    def open_of(self, kind: str) -> int:
        return sum(count for (of_kind, _state), count in self.open_by_state.items() if of_kind == kind)

    @property
    def open_reviews(self) -> int:
        return self.open_of("review")

    @property
    def open_petitions(self) -> int:
        return self.open_of("petition")

    @property
    def overdue(self) -> int:
        return sum(self.overdue_by_kind.values())

    @property
    def median_review_days(self) -> float | None:
        return statistics.median_of(self.review_days)

    @property
    def median_petition_days(self) -> float | None:
        return statistics.median_of(self.petition_days)


@dataclass
class BodyRow:
    """A partner body and the overdue requests the scope's units are waiting on from it."""

    unit_id: uuid.UUID
    code: str
    name: str
    by_unit: Counter = field(default_factory=Counter)  # asking unit id -> overdue requests

    @property
    def overdue(self) -> int:
        return sum(self.by_unit.values())


@dataclass
class Board:
    unit_id: uuid.UUID
    unit_code: str
    unit_name: str
    period: Period
    today: date
    generated_at: datetime
    rows: list[UnitRow]  # the supervisor's unit first, then the tree below it, depth first
    bodies: list[BodyRow] = field(default_factory=list)

    @property
    def horizon(self) -> date:
        """The last day of "the next 90 days"."""
        return self.today + timedelta(days=EXPIRY_DAYS)

    @property
    def sub_units(self) -> list[UnitRow]:
        return [row for row in self.rows if not row.own]

    def total(self) -> UnitRow:
        """The sub-units together (the reference row left out); medians over all their durations."""
        total = UnitRow(self.unit_id, "", "", -1)
        for row in self.sub_units:
            total.open_by_state.update(row.open_by_state)
            total.overdue_by_kind.update(row.overdue_by_kind)
            total.review_days.extend(row.review_days)
            total.petition_days.extend(row.petition_days)
            total.expiring += row.expiring
            total.requests_overdue += row.requests_overdue
            total.recommendations_overdue += row.recommendations_overdue
        return total

    def unit_name_of(self, unit_id: uuid.UUID) -> str:
        return next((row.name for row in self.rows if row.unit_id == unit_id), "")


def default_period(today: date) -> Period:
    """The last twelve months, this one included (the home dashboard's "12 tháng qua")."""
    return Period(statistics.month_starts(today, DEFAULT_MONTHS)[0], today)


def unit_tree(user: User) -> list[tuple[Unit, int]]:
    """The user's unit and every unit below it, depth first (siblings by name), with depths.
    One query over the units table (ids, parents, codes, names)."""
    rows = db.session.execute(select(Unit.id, Unit.parent_id, Unit.code, Unit.name)).all()
    children: dict = defaultdict(list)
    by_id = {}
    for row in rows:
        by_id[row.id] = row
        children[row.parent_id].append(row)
    if user.unit_id not in by_id:
        return []
    ordered, stack, seen = [], [(by_id[user.unit_id], 0)], set()
    while stack:
        row, depth = stack.pop()
        if row.id in seen:
            continue
        seen.add(row.id)
        ordered.append((row, depth))
        for child in sorted(children.get(row.id, ()), key=lambda item: (item.name, item.code), reverse=True):
            stack.append((child, depth + 1))
    return ordered


def has_sub_units(user: User) -> bool:
    return len(policy.unit_scope(user)) > 1


def build(user: User, period: Period, today: date) -> Board:
    """The board of `user` (a supervisor) over `period`, as of `today`."""
    tree = unit_tree(user)
    rows = {unit.id: UnitRow(unit.id, unit.code, unit.name, depth) for unit, depth in tree}
    # The scope the case lists give the supervisor: their unit and every unit below it, cleared
    # levels, no case about themselves.
    scope = statistics.viewer_scope(user)
    own = rows.get(user.unit_id) or UnitRow(user.unit_id, user.unit.code, user.unit.name, 0)
    board = Board(user.unit_id, own.code, own.name, period, today, utcnow(), list(rows.values()))
    _open_cases(scope, today, rows)
    _durations(scope, period, rows)
    _expiring(scope, today, board.horizon, rows)
    board.bodies = _requests_overdue(scope, today, rows)
    _recommendations_overdue(user, today, rows)
    return board


def _counted(scope: Scope, *columns):
    return scope.cases().with_only_columns(*columns).select_from(Case).order_by(None)


def _open_cases(scope: Scope, today: date, rows: dict[uuid.UUID, UnitRow]) -> None:
    """Open cases per (unit, kind, state), and how many of them are past their due date:
    one GROUP BY over the (unit, state, due) index."""
    late = case((and_(Case.due_on.is_not(None), Case.due_on < today), 1))
    statement = (_counted(scope, Case.owner_unit_id, Case.kind, Case.state, func.count(), func.count(late))
                 .where(Case.state.in_(lists.OPEN_STATES))
                 .group_by(Case.owner_unit_id, Case.kind, Case.state))
    for unit_id, kind, state, count, overdue in db.session.execute(statement):
        row = rows.get(unit_id)
        if row is None or not workflow.CASE_WORKFLOWS[kind].is_open(state):
            continue  # a state open for one kind, final for the other (none today; a guard)
        row.open_by_state[(kind, state)] += count
        row.overdue_by_kind[kind] += overdue


def _durations(scope: Scope, period: Period, rows: dict[uuid.UUID, UnitRow]) -> None:
    """(kind, unit, start, end, count) of the reviews concluded and the petitions decided in
    the period, in one statement; the medians are taken from them in Python (day arithmetic
    in SQL differs between SQLite and PostgreSQL)."""
    reviews = (_counted(scope, literal("review").label("kind"), Case.owner_unit_id, Case.opened_on.label("start"),
                        Case.closed_on.label("end"), func.count().label("n"))
               .where(Case.kind == "review", Case.state.in_(statistics.FINAL_STATES),
                      Case.closed_on.between(period.start, period.end))
               .group_by(Case.owner_unit_id, Case.opened_on, Case.closed_on))
    petitions = (_counted(scope, literal("petition").label("kind"), Case.owner_unit_id,
                          Petition.received_on.label("start"), Petition.decided_on.label("end"),
                          func.count().label("n"))
                 .join(Petition, Petition.case_id == Case.id)
                 .where(Case.kind == "petition", Petition.decided_on.between(period.start, period.end))
                 .group_by(Case.owner_unit_id, Petition.received_on, Petition.decided_on))
    for kind, unit_id, start, end, count in db.session.execute(union_all(reviews, petitions)):
        row = rows.get(unit_id)
        if row is None or start is None or end is None:
            continue
        days = row.review_days if kind == "review" else row.petition_days
        days.extend([max(0, (end - start).days)] * count)


def _expiring(scope: Scope, today: date, horizon: date, rows: dict[uuid.UUID, UnitRow]) -> None:
    """Per unit: review conclusions whose validity ends within [today, horizon], each the
    latest approved review conclusion of its person (a newer approved one, in any case, means
    the person has been reviewed again)."""
    later, later_case = aliased(Conclusion), aliased(Case)
    newer = (exists().where(later.case_id == later_case.id, later_case.subject_id == Case.subject_id,
                            later_case.kind == "review", later.state == "approved",
                            later.approved_at > Conclusion.approved_at))
    statement = (_counted(scope, Case.owner_unit_id, func.count(func.distinct(Case.subject_id)))
                 .join(Conclusion, Conclusion.case_id == Case.id)
                 .where(Case.kind == "review", Case.subject_id.is_not(None), Conclusion.state == "approved",
                        Conclusion.valid_until.between(today, horizon), ~newer)
                 .group_by(Case.owner_unit_id))
    for unit_id, count in db.session.execute(statement):
        if unit_id in rows:
            rows[unit_id].expiring += count


def _requests_overdue(scope: Scope, today: date, rows: dict[uuid.UUID, UnitRow]) -> list[BodyRow]:
    """Requests from the scope's cases still waiting for the body past their due date, per
    (asking unit, body); the bodies' codes and names in the same statement."""
    statement = (_counted(scope, Case.owner_unit_id, CoordinationRequest.body_unit_id, Unit.code, Unit.name,
                          func.count())
                 .join(CoordinationRequest, CoordinationRequest.case_id == Case.id)
                 .join(Unit, Unit.id == CoordinationRequest.body_unit_id)
                 .where(CoordinationRequest.state.in_(statistics.OPEN_REQUEST_STATES),
                        CoordinationRequest.due_on < today)
                 .group_by(Case.owner_unit_id, CoordinationRequest.body_unit_id, Unit.code, Unit.name))
    bodies: dict[uuid.UUID, BodyRow] = {}
    for unit_id, body_id, code, name, count in db.session.execute(statement):
        if unit_id not in rows:
            continue
        rows[unit_id].requests_overdue += count
        bodies.setdefault(body_id, BodyRow(body_id, code, name)).by_unit[unit_id] += count
    return sorted(bodies.values(), key=lambda body: (-body.overdue, body.name, body.code))


def _recommendations_overdue(user: User, today: date, rows: dict[uuid.UUID, UnitRow]) -> None:
    """Inspection recommendations open or reported past their due date, per responsible unit
    of the scope, of visits classified within the viewer's clearance."""
    cleared = [level for level in CLEARANCE_ORDER if user.clearance.covers(level)]
    statement = (select(Recommendation.responsible_unit_id, func.count())
                 .join(InspectionVisit, InspectionVisit.id == Recommendation.visit_id)
                 .where(Recommendation.responsible_unit_id.in_(list(rows)),
                        Recommendation.state.in_(OPEN_RECOMMENDATION_STATES), Recommendation.due_on < today,
                        InspectionVisit.classification.in_(cleared))
                 .group_by(Recommendation.responsible_unit_id))
    for unit_id, count in db.session.execute(statement):
        rows[unit_id].recommendations_overdue += count
