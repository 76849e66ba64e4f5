"""The daily reminders of `notify send-due`: due soon, overdue, requests overdue, campaigns
with overdue nominees.

Set-based, for a province's 100k cases: one query per kind reads the plain columns it needs
(ids, references, dates, states, assignments) and never loads a case; the notifications go
in by one bulk INSERT ... ON CONFLICT DO NOTHING, so the dedupe key makes a second run the
same day raise nothing. Keys carry the day for what repeats daily (overdue) and the due date
for what is said once (due soon: once per case and due date, again if the date moves).
Nothing here reads a title or a name; delivery asks the policy later (mailing.py, the page).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from cases import workflow
from cases.casework.lists import OPEN_STATES
from cases.deadlines import due_soon_limit
from cases.models import (
    Assignment,
    Campaign,
    CampaignNominee,
    Case,
    Conclusion,
    CoordinationRequest,
    subjects_about,
)
from cases.oversight.models import InspectionVisit, Recommendation
from protection.clock import utcnow
from protection.db import db
from protection.identity import Clearance, Role, Unit, User

from . import service
from .models import MailAddress, Notification, NotificationPreference

CHUNK = 5000  # rows handed to one executemany


@dataclass(frozen=True)
class Reminder:
    user_id: uuid.UUID
    kind: str
    dedupe_key: str
    target_type: str
    target_id: uuid.UUID
    reference: str | None
    due_on: date | None


@dataclass
class Raised:
    """What a run raised, per kind (new notifications; the ones already there not counted)."""

    counts: dict[str, int] = field(default_factory=dict)
    references: dict[str, list[str]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _active_officers():
    return select(User.id).where(User.active.is_(True))


def due_soon(today: date) -> list[Reminder]:
    statement = (select(Assignment.user_id, Case.id, Case.reference, Case.due_on)
                 .join(Case, Case.id == Assignment.case_id)
                 .where(Case.state.in_(OPEN_STATES), Case.due_on >= today, Case.due_on <= due_soon_limit(today),
                        Case.archived_on.is_(None), Assignment.user_id.in_(_active_officers())))
    return [Reminder(user_id, service.DUE_SOON, f"{service.DUE_SOON}:{case_id}:{due_on}", "case", case_id,
                     reference, due_on)
            for user_id, case_id, reference, due_on in db.session.execute(statement)]


def overdue(today: date) -> list[Reminder]:
    statement = (select(Assignment.user_id, Case.id, Case.reference, Case.due_on)
                 .join(Case, Case.id == Assignment.case_id)
                 .where(Case.state.in_(OPEN_STATES), Case.due_on < today, Case.archived_on.is_(None),
                        Assignment.user_id.in_(_active_officers())))
    return [Reminder(user_id, service.OVERDUE, f"{service.OVERDUE}:{case_id}:{today}", "case", case_id,
                     reference, due_on)
            for user_id, case_id, reference, due_on in db.session.execute(statement)]


def requests_overdue(today: date) -> list[Reminder]:
    """Requests still waiting for the addressed body's liaison past their due date: to the
    officers of the case that sent them."""
    statement = (select(Assignment.user_id, CoordinationRequest.id, Case.reference, CoordinationRequest.due_on)
                 .join(Case, Case.id == CoordinationRequest.case_id)
                 .join(Assignment, Assignment.case_id == Case.id)
                 .where(CoordinationRequest.state.in_(workflow.AWAITING_LIAISON), CoordinationRequest.due_on < today,
                        Case.state.in_(OPEN_STATES), Assignment.user_id.in_(_active_officers())))
    return [Reminder(user_id, service.REQUEST_OVERDUE, f"{service.REQUEST_OVERDUE}:{request_id}:{today}",
                     "request", request_id, reference, due_on)
            for user_id, request_id, reference, due_on in db.session.execute(statement)]


def _approved_closed(case_id_column):
    """The nominee's case is closed with an approved conclusion: nothing left to do."""
    return and_(Case.state == "closed",
                exists().where(Conclusion.case_id == case_id_column, Conclusion.state == "approved"))


def campaigns_overdue(today: date) -> list[Reminder]:
    """Open campaigns with at least one overdue nominee (not reused, not concluded, and past
    the case's due date or, without one, the campaign's): to the supervisors whose scope
    holds the campaign's owning unit — its own and those of the units above it — who have
    an overdue row they may see: never one whose only overdue rows are about them or a
    relative (recusal: the reminder would tell them their own row's state)."""
    overdue_rows = db.session.execute(
        select(CampaignNominee.campaign_id, CampaignNominee.subject_id)
        .join(Campaign, Campaign.id == CampaignNominee.campaign_id)
        .outerjoin(Case, Case.id == CampaignNominee.case_id)
        .where(Campaign.state == "open", CampaignNominee.reused_conclusion_id.is_(None),
               or_(CampaignNominee.case_id.is_(None), ~_approved_closed(CampaignNominee.case_id)),
               func.coalesce(Case.due_on, Campaign.due_on) < today)).all()
    if not overdue_rows:
        return []
    overdue_of: dict[uuid.UUID, set[uuid.UUID]] = {}
    for campaign_id, subject_id in overdue_rows:
        overdue_of.setdefault(campaign_id, set()).add(subject_id)
    campaigns = db.session.execute(select(Campaign.id, Campaign.reference, Campaign.due_on, Campaign.owner_unit_id)
                                   .where(Campaign.id.in_(overdue_of))).all()
    parents = dict(db.session.execute(select(Unit.id, Unit.parent_id)).all())
    supervisors: dict[uuid.UUID, list[uuid.UUID]] = {}
    indexes: dict[uuid.UUID, int] = {}
    for user_id, unit_id, index in db.session.execute(select(User.id, User.unit_id, User.citizen_index).where(
            User.role == Role.SUPERVISOR, User.active.is_(True))):
        supervisors.setdefault(unit_id, []).append(user_id)
        if index is not None:
            indexes[user_id] = index
    about: dict[uuid.UUID, set[uuid.UUID]] = {}

    def about_them(user_id: uuid.UUID) -> set[uuid.UUID]:
        # Asked once per supervisor with a citizen ID: their own dossier and their relatives' (few).
        if user_id not in about:
            about[user_id] = set(db.session.scalars(subjects_about(indexes[user_id])))
        return about[user_id]

    reminders = []
    for campaign_id, reference, due_on, unit_id in campaigns:
        seen: set[uuid.UUID] = set()
        while unit_id is not None and unit_id not in seen:  # up the tree: every scope that holds it
            seen.add(unit_id)
            reminders.extend(Reminder(user_id, service.CAMPAIGN_OVERDUE,
                                      f"{service.CAMPAIGN_OVERDUE}:{campaign_id}:{today}", "campaign", campaign_id,
                                      reference, due_on)
                             for user_id in supervisors.get(unit_id, ())
                             if user_id not in indexes or overdue_of[campaign_id] - about_them(user_id))
            unit_id = parents.get(unit_id)
    return reminders


def recommendations_overdue(today: date) -> list[Reminder]:
    """Open recommendations of open inspection visits past their due date: to the officers
    and supervisors of the unit responsible and to the inspecting unit's supervisors, each
    cleared for the visit; daily (the key carries the day). Plain columns only: the
    recommendation's text is never read. Each one reminded today is marked (reminded_on)."""
    rows = db.session.execute(
        select(Recommendation.id, Recommendation.number, Recommendation.due_on, Recommendation.responsible_unit_id,
               InspectionVisit.unit_id, InspectionVisit.visited_on, InspectionVisit.classification)
        .join(InspectionVisit, InspectionVisit.id == Recommendation.visit_id)
        .where(Recommendation.state == "open", Recommendation.due_on < today, InspectionVisit.state == "open")).all()
    if not rows:
        return []
    units = {row.responsible_unit_id for row in rows} | {row.unit_id for row in rows}
    people: dict[uuid.UUID, list[tuple[uuid.UUID, Role, object]]] = {}
    for user_id, unit_id, role, clearance in db.session.execute(
            select(User.id, User.unit_id, User.role, User.clearance).where(
                User.active.is_(True), User.unit_id.in_(units), User.role.in_((Role.OFFICER, Role.SUPERVISOR)))):
        people.setdefault(unit_id, []).append((user_id, role, clearance))
    reminders = []
    for row in rows:
        level = Clearance(row.classification)
        told = {user_id for user_id, _role, clearance in people.get(row.responsible_unit_id, ())
                if Clearance(clearance).covers(level)}
        told |= {user_id for user_id, role, clearance in people.get(row.unit_id, ())
                 if role == Role.SUPERVISOR and Clearance(clearance).covers(level)}
        reference = f"KT-{row.visited_on.isoformat()}/{row.number}"
        reminders.extend(Reminder(user_id, service.RECOMMENDATION_OVERDUE,
                                  f"{service.RECOMMENDATION_OVERDUE}:{row.id}:{today}", "recommendation", row.id,
                                  reference, row.due_on) for user_id in sorted(told))
    db.session.execute(update(Recommendation).where(Recommendation.id.in_([row.id for row in rows]))
                       .values(reminded_on=today).execution_options(synchronize_session=False))
    return reminders


REMINDERS = (due_soon, overdue, requests_overdue, campaigns_overdue, recommendations_overdue)


def _mail_states(user_ids: set[uuid.UUID], kinds: set[str]) -> dict[tuple[uuid.UUID, str], str]:
    """(user, kind) -> "immediate" | "digest" for those who want these kinds by mail and have
    an address to mail them at (as service.notify decides it)."""
    if not service.mail_configured() or not user_ids:
        return {}
    addressed = set(db.session.scalars(select(MailAddress.user_id)))
    wanted: dict[tuple[uuid.UUID, str], str] = {}
    if service.DEFAULT_DELIVERY in ("immediate", "digest"):
        wanted = {(user_id, kind): service.DEFAULT_DELIVERY for user_id in user_ids for kind in kinds}
    rows = db.session.execute(select(NotificationPreference.user_id, NotificationPreference.kind,
                                     NotificationPreference.delivery)
                              .where(NotificationPreference.kind.in_(kinds)))
    for user_id, kind, delivery in rows:
        if user_id in user_ids:
            wanted[(user_id, kind)] = delivery
    return {key: delivery for key, delivery in wanted.items()
            if key[0] in addressed and delivery in ("immediate", "digest")}


def insert(reminders: Iterable[Reminder]) -> list[Reminder]:
    """Bulk insert-or-ignore; returns the reminders that were new."""
    reminders = list(reminders)
    if not reminders:
        return []
    mail = _mail_states({item.user_id for item in reminders}, {item.kind for item in reminders})
    table = Notification.__table__
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    # One statement, executed for many rows: SQLAlchemy batches them into multi-row INSERTs
    # ("insertmanyvalues") compiled once, and RETURNING gives back only the rows inserted.
    statement = dialect.insert(table).on_conflict_do_nothing().returning(table.c.id)
    now = utcnow()
    by_id: dict[uuid.UUID, Reminder] = {}
    new_ids: list[uuid.UUID] = []
    for start in range(0, len(reminders), CHUNK):
        rows = []
        for item in reminders[start:start + CHUNK]:
            row_id = uuid.uuid4()
            by_id[row_id] = item
            rows.append({"id": row_id, "user_id": item.user_id, "kind": item.kind, "dedupe_key": item.dedupe_key,
                         "target_type": item.target_type, "target_id": item.target_id, "reference": item.reference,
                         "due_on": item.due_on, "created_at": now, "read_at": None,
                         "mail_state": mail.get((item.user_id, item.kind)), "mail_attempts": 0,
                         "next_attempt_at": None, "mailed_at": None})
        new_ids.extend(db.session.scalars(statement, rows))
    return [by_id[row_id] for row_id in new_ids]


def raise_reminders(today: date) -> Raised:
    """Every reminder due today, inserted unless already there. Flushes; never commits."""
    raised = Raised()
    for finder in REMINDERS:
        references: dict[str, dict[str, None]] = {}  # ordered sets: a province raises tens of thousands
        for item in insert(finder(today)):
            raised.counts[item.kind] = raised.counts.get(item.kind, 0) + 1
            if item.reference:
                references.setdefault(item.kind, {})[item.reference] = None
        for kind, seen in references.items():
            raised.references[kind] = list(seen)
    return raised
