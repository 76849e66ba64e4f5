"""The counts behind the periodic report and the dashboards: one module, so the report a
supervisor downloads, the command line's and the charts on the home page agree.

Numbers only, from plain metadata columns (kind, state, purpose, outcome, petition type,
decision, dates, units): nothing here decrypts anything, and no row leaves this module
with a name on it.

Whose cases are counted is a `Scope`. For a person it is exactly what the case lists let
them know exists (cases.casework.lists.base_query: their unit scope, at or below their clearance,
none they are recused from), so a chart never counts a case its viewer may not see. For
the command line (run by the server's operator, who holds the database anyway) it is a
unit and its sub-units, or every unit, at every classification.

Definitions (the report prints them beside each table):
- a review is *opened* in a period when its opening day falls in it, and *concluded* in it
  when the latest conclusion approved by the period's end was approved in it (on the
  organisation's calendar day); its outcome is that conclusion's;
- a petition belongs to the period in which it was received; its disposition is the
  intake decision; it is *resolved* when its case reaches a final state (forwarded,
  filed, or closed with an approved conclusion), *on time* when that day is on or before
  its due date (one kept for monitoring has no due date and cannot be late), *overdue*
  when it is still open past its due date on the day of counting;
- a coordination request belongs to the period in which it was sent; its response time is
  the days from sending to the body's (latest) answer;
- a case closed in a period was *on time* when closed on or before its due date (without a
  due date nothing was late);
- a subject *needs re-review* when their latest approved review conclusion has expired
  (as cases.reviews.operations.needs_re_review says), counted over the reviews the scope holds.

Month buckets and day differences are computed in Python over narrow, already grouped
rows, so the same code runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from statistics import median

from sqlalchemy import Select, and_, case, exists, func, or_, select
from sqlalchemy.orm import aliased

from cases import workflow
from cases.casework import lists
from cases.models import Case, Conclusion, CoordinationRequest, Petition
from protection import policy
from protection.db import db
from protection.i18n import local_date, local_zone
from protection.identity import Unit, User

OPEN_REQUEST_STATES = workflow.AWAITING_LIAISON
# A case has a closing day exactly when it is in a final state. Saying so lets the database
# narrow by state on the (unit, state, due) index before it reads any row.
FINAL_STATES = sorted({state for flow in workflow.CASE_WORKFLOWS.values() for state in flow.final})


# --- what is counted ----------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """From `start` to `end`, both days included (the organisation's calendar days)."""

    start: date
    end: date

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError("the period ends before it starts")

    def utc_bounds(self) -> tuple[datetime, datetime]:
        """The period as UTC instants: local midnight of `start` to local midnight after `end`
        (approvals are stamped in UTC; a day is a Vietnamese calendar day)."""
        zone = local_zone()
        lower = datetime.combine(self.start, time(), zone).astimezone(UTC)
        upper = datetime.combine(self.end + timedelta(days=1), time(), zone).astimezone(UTC)
        return lower, upper


@dataclass(frozen=True)
class Scope:
    """Whose cases: `unit_ids` (None: every unit) and, for a person, the rules of what they
    may know exists."""

    unit_ids: frozenset | None
    viewer: User | None = None

    def cases(self) -> Select:
        """SELECT of the counted cases (select(Case) with the scope's conditions)."""
        if self.viewer is not None:
            statement = lists.base_query(self.viewer)
            if self.unit_ids != policy.unit_scope(self.viewer):
                statement = statement.where(Case.owner_unit_id.in_(self.unit_ids or ()))
            return statement
        statement = select(Case)
        if self.unit_ids is not None:
            statement = statement.where(Case.owner_unit_id.in_(self.unit_ids))
        return statement


def viewer_scope(user: User, unit_id: uuid.UUID | None = None) -> Scope:
    """What `user` may count: their whole scope, or one unit of it with its sub-units.
    Roles that never see cases (liaisons, auditors, admins) count nothing."""
    if not policy.can(user, "case.view"):
        return Scope(frozenset(), user)
    scope = policy.unit_scope(user)
    if unit_id is None:
        return Scope(scope, user)
    return Scope(policy.units_under(unit_id) & scope, user)


def unit_scope(unit_id: uuid.UUID | None) -> Scope:
    """The command line's scope: a unit and its sub-units, or (None) every unit."""
    return Scope(None if unit_id is None else policy.units_under(unit_id))


def _counted(scope: Scope, *columns) -> Select:
    """The scope's cases reduced to `columns` (for GROUP BY); FROM starts at cases, so a
    join to the table the columns come from has its left side."""
    return scope.cases().with_only_columns(*columns).select_from(Case).order_by(None)


# --- cases --------------------------------------------------------------------------------

def cases_by_state_and_kind(scope: Scope, period: Period | None = None) -> dict[tuple[str, str], int]:
    """(kind, state) -> cases: those opened in `period`, or all of them. Answered from the
    (unit, kind, state, opened, classification) index."""
    statement = _counted(scope, Case.kind, Case.state, func.count()).group_by(Case.kind, Case.state)
    if period is not None:
        statement = statement.where(Case.opened_on.between(period.start, period.end))
    return {(kind, state): count for kind, state, count in db.session.execute(statement)}


@dataclass
class OnTime:
    closed: int = 0
    on_time: int = 0

    @property
    def late(self) -> int:
        return self.closed - self.on_time

    @property
    def rate(self) -> float | None:
        """Percent closed on time; None when nothing was closed."""
        return round(100 * self.on_time / self.closed, 1) if self.closed else None


def on_time(scope: Scope, period: Period) -> dict[str, OnTime]:
    """kind -> cases closed in `period` and how many of them on or before their due date."""
    in_time = case((or_(Case.due_on.is_(None), Case.closed_on <= Case.due_on), 1))
    statement = (_counted(scope, Case.kind, func.count(), func.count(in_time))
                 .where(Case.state.in_(FINAL_STATES), Case.closed_on.between(period.start, period.end))
                 .group_by(Case.kind))
    return {kind: OnTime(closed, timely) for kind, closed, timely in db.session.execute(statement)}


def total_on_time(by_kind: dict[str, OnTime]) -> OnTime:
    return OnTime(sum(item.closed for item in by_kind.values()), sum(item.on_time for item in by_kind.values()))


# --- reviews ------------------------------------------------------------------------------

@dataclass
class ReviewCounts:
    opened: int = 0
    outcomes: Counter = field(default_factory=Counter)

    @property
    def concluded(self) -> int:
        return sum(self.outcomes.values())


def reviews_by_purpose(scope: Scope, period: Period) -> dict[str, ReviewCounts]:
    """purpose -> reviews opened in `period`, and those concluded in it by outcome."""
    result: dict[str, ReviewCounts] = defaultdict(ReviewCounts)
    opened = (_counted(scope, Case.purpose, func.count())
              .where(Case.kind == "review", Case.opened_on.between(period.start, period.end))
              .group_by(Case.purpose))
    for purpose, count in db.session.execute(opened):
        result[purpose].opened = count
    lower, upper = period.utc_bounds()
    later = aliased(Conclusion)
    # The latest approval by the period's end: a correction approved afterwards does not
    # rewrite a past period's report; it counts in its own period.
    concluded = (_counted(scope, Case.purpose, Conclusion.outcome, func.count())
                 .join(Conclusion, Conclusion.case_id == Case.id)
                 .where(Case.kind == "review", Conclusion.state == "approved",
                        Conclusion.approved_at >= lower, Conclusion.approved_at < upper,
                        ~exists().where(later.case_id == Conclusion.case_id, later.state == "approved",
                                        later.version_number > Conclusion.version_number,
                                        later.approved_at < upper))
                 .group_by(Case.purpose, Conclusion.outcome))
    for purpose, outcome, count in db.session.execute(concluded):
        result[purpose].outcomes[outcome] += count
    return dict(result)


def re_reviews_due(scope: Scope, on: date) -> dict[str, int]:
    """purpose of the expired review -> subjects whose latest approved review conclusion
    (among the scope's reviews) expired before `on`."""
    rows = db.session.execute(
        _counted(scope, Case.subject_id, Case.purpose, Conclusion.valid_until, Conclusion.approved_at)
        .join(Conclusion, Conclusion.case_id == Case.id)
        .where(Case.kind == "review", Case.subject_id.is_not(None), Conclusion.state == "approved"))
    latest: dict[uuid.UUID, tuple] = {}
    for subject_id, purpose, valid_until, approved_at in rows:
        if subject_id not in latest or approved_at > latest[subject_id][2]:
            latest[subject_id] = (purpose, valid_until, approved_at)
    due: Counter = Counter(purpose for purpose, valid_until, _at in latest.values()
                           if valid_until is not None and valid_until < on)
    return dict(due)


# --- petitions ----------------------------------------------------------------------------

@dataclass
class PetitionCounts:
    received: int = 0
    decisions: Counter = field(default_factory=Counter)  # intake decision (None: not yet decided)
    timeliness: Counter = field(default_factory=Counter)  # on_time, late, overdue, open


def petitions_by_type(scope: Scope, period: Period, today: date) -> dict[str, PetitionCounts]:
    """petition type -> petitions received in `period`, by intake decision and by how their
    handling kept to its due date (as of `today`)."""
    closed = Case.closed_on.is_not(None)
    timeliness = case(
        (and_(closed, or_(Case.due_on.is_(None), Case.closed_on <= Case.due_on)), "on_time"),
        (closed, "late"),
        (and_(Case.due_on.is_not(None), Case.due_on < today), "overdue"),
        else_="open").label("timeliness")
    # Grouped outside: PostgreSQL will not match a CASE with bound parameters in GROUP BY.
    rows = (_counted(scope, Petition.petition_type, Petition.decision, timeliness)
            .join(Petition, Petition.case_id == Case.id)
            .where(Case.kind == "petition", Case.opened_on >= period.start,  # as petitions_per_month says
                   Petition.received_on.between(period.start, period.end))).subquery()
    statement = (select(rows.c.petition_type, rows.c.decision, rows.c.timeliness, func.count())
                 .group_by(rows.c.petition_type, rows.c.decision, rows.c.timeliness))
    result: dict[str, PetitionCounts] = defaultdict(PetitionCounts)
    for petition_type, decision, when, count in db.session.execute(statement):
        counts = result[petition_type]
        counts.received += count
        counts.decisions[decision] += count
        counts.timeliness[when] += count
    return dict(result)


@dataclass(frozen=True)
class Month:
    first_day: date
    received: int
    resolved: int


def month_starts(today: date, months: int) -> list[date]:
    """The first days of the last `months` months, the current one last."""
    index = today.year * 12 + today.month - 1
    return [date((index - back) // 12, (index - back) % 12 + 1, 1) for back in range(months - 1, -1, -1)]


def petitions_per_month(scope: Scope, today: date, months: int = 12) -> list[Month]:
    """Petitions received, and petitions resolved, in each of the last `months` months.
    Grouped by day in SQL (at most a year of rows), bucketed by month here."""
    starts = month_starts(today, months)
    # A petition is registered (opened) on or after the day it arrived (receive_petition
    # refuses a future day), so the opening day, in the index, rules out older ones before
    # their petition rows are read.
    received = (_counted(scope, Petition.received_on, func.count()).join(Petition, Petition.case_id == Case.id)
                .where(Case.kind == "petition", Case.opened_on >= starts[0],
                       Petition.received_on.between(starts[0], today))
                .group_by(Petition.received_on))
    resolved = (_counted(scope, Case.closed_on, func.count())
                .where(Case.kind == "petition", Case.state.in_(FINAL_STATES),
                       Case.closed_on.between(starts[0], today))
                .group_by(Case.closed_on))
    by_month = {start: [0, 0] for start in starts}
    for column, statement in enumerate((received, resolved)):
        for day, count in db.session.execute(statement):
            by_month[day.replace(day=1)][column] += count
    return [Month(start, *by_month[start]) for start in starts]


# --- coordination -------------------------------------------------------------------------

@dataclass
class BodyCounts:
    unit_id: uuid.UUID
    code: str
    name: str
    sent: int = 0
    answered: int = 0
    overdue: int = 0
    response_days: list[int] = field(default_factory=list)

    @property
    def median_days(self) -> float | None:
        return median_of(self.response_days)

    @property
    def mean_days(self) -> float | None:
        return mean_of(self.response_days)


def median_of(days: list[int]) -> float | None:
    return float(median(days)) if days else None


def mean_of(days: list[int]) -> float | None:
    return round(sum(days) / len(days), 1) if days else None


def coordination_by_body(scope: Scope, period: Period, today: date) -> list[BodyCounts]:
    """Requests sent in `period` from the scope's cases, per addressed body: how many, how
    many answered and in how many days, how many still open past their due date."""
    # From the requests to their case: requests are few beside the cases of a scope (only
    # work in verification sends them), so the database probes a case per request rather
    # than reading every case of the scope.
    in_scope = scope.cases().with_only_columns(Case.id).where(Case.id == CoordinationRequest.case_id).exists()
    rows = db.session.execute(
        select(CoordinationRequest.body_unit_id, CoordinationRequest.state, CoordinationRequest.sent_on,
               CoordinationRequest.due_on, CoordinationRequest.answered_at)
        .where(CoordinationRequest.sent_on.between(period.start, period.end), in_scope)).all()
    if not rows:
        return []
    units = {unit_id: (code, name) for unit_id, code, name in db.session.execute(
        select(Unit.id, Unit.code, Unit.name).where(Unit.id.in_({row[0] for row in rows})))}
    bodies: dict[uuid.UUID, BodyCounts] = {}
    for body_id, state, sent_on, due_on, answered_at in rows:
        body = bodies.get(body_id) or bodies.setdefault(body_id, BodyCounts(body_id, *units[body_id]))
        body.sent += 1
        if answered_at is not None:
            body.answered += 1
            body.response_days.append(max(0, (local_date(answered_at) - sent_on).days))
        if state in OPEN_REQUEST_STATES and due_on < today:
            body.overdue += 1
    return sorted(bodies.values(), key=lambda body: (body.name, body.code))
