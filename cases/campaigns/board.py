"""The campaign board and the committee's summary: where each nominee's answer stands.

Fast at 2,000 nominees: one query reads every row's plain columns (state, dates, units), one
the approved conclusions, then the policy decides row by row in Python (memoised: its
answer depends on a row's unit and two flags, not on the row), and only the rows shown
are loaded as objects and have their names decrypted. Nothing here writes but the audit
entries of a read.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import load_only

from audit.trail import record
from cases.campaigns import access
from cases.models import Campaign, CampaignNominee, Case, Conclusion, Subject
from protection import policy
from protection.crypto import current_keyring
from protection.db import db
from protection.i18n import local_date, local_today
from protection.identity import User
from protection.search import InvalidCitizenId, citizen_id, find

PAGE_SIZE = 50
ANSWERED = ("reused", "concluded")


@dataclass(frozen=True)
class ReusableConclusion:
    conclusion_id: uuid.UUID
    document_number: str
    approved_on: date
    valid_until: date | None
    outcome: str
    # The case it concludes: whether the user may see it is the policy's (can_see_case_outcome).
    case_id: uuid.UUID | None = None
    case_owner_unit_id: uuid.UUID | None = None
    classification: str | None = None


@dataclass
class BoardFilters:
    state: str | None = None         # a key of labels.NOMINEE_STATES
    unit_id: uuid.UUID | None = None
    overdue: bool = False
    query: str | None = None         # citizen ID or name (blind-index search)
    page: int = 1


@dataclass
class NomineeRow:
    nominee: CampaignNominee
    state: str                       # a key of labels.NOMINEE_STATES
    due_on: date | None
    overdue: bool
    case_reference: str | None
    conclusion_number: str | None
    conclusion_date: date | None
    outcome: str | None              # as the supervisor approved it; None when not concluded
    valid_until: date | None
    name: str | None                 # only when the user may read the dossier; else None
    reusable: ReusableConclusion | None


@dataclass
class Board:
    campaign: Campaign
    counts: dict[str, int]           # by NOMINEE_STATES key, plus "overdue", "total"
    rows: list[NomineeRow]
    page: int
    pages: int
    total: int = 0                   # rows matching the filters


@dataclass(frozen=True)
class SummaryLine:
    number: int                      # order on the committee's list
    full_name: str                   # "" when the user may not read the dossier
    date_of_birth: date | None
    unit: str | None
    position: str | None
    case_reference: str | None
    conclusion_number: str | None
    conclusion_date: date | None
    outcome: str | None              # the approved outcome as written; None = "chưa có kết luận"
    valid_until: date | None
    reused: bool


# --- reading the rows ------------------------------------------------------------------------------

@dataclass
class _Row:
    id: uuid.UUID
    subject_id: uuid.UUID
    unit_id: uuid.UUID
    subject_unit_id: uuid.UUID
    case_id: uuid.UUID | None
    case_state: str | None
    case_due: date | None
    case_reference: str | None
    case_unit_id: uuid.UUID | None
    case_classification: str | None
    reused_conclusion_id: uuid.UUID | None
    state: str = "not_started"
    due_on: date | None = None
    overdue: bool = False
    conclusion: ReusableConclusion | None = None
    name_visible: bool = True


def _conclusion(row) -> ReusableConclusion:
    return ReusableConclusion(row.id, row.document_number, local_date(row.approved_at), row.valid_until, row.outcome,
                              row.case_id, row.owner_unit_id, row.classification)


def _approved_columns():
    return (Conclusion.id, Conclusion.document_number, Conclusion.approved_at, Conclusion.valid_until,
            Conclusion.outcome, Conclusion.case_id, Case.owner_unit_id, Case.classification)


def _rows(campaign: Campaign) -> list[_Row]:
    """Every nominee's plain columns and the conclusion answering for them, in list order."""
    statement = (select(CampaignNominee.id, CampaignNominee.subject_id, CampaignNominee.unit_id,
                        Subject.owner_unit_id, CampaignNominee.case_id, Case.state, Case.due_on, Case.reference,
                        Case.owner_unit_id, Case.classification, CampaignNominee.reused_conclusion_id)
                 .join(Subject, Subject.id == CampaignNominee.subject_id)
                 .outerjoin(Case, Case.id == CampaignNominee.case_id)
                 .where(CampaignNominee.campaign_id == campaign.id)
                 .order_by(CampaignNominee.position_in_list, CampaignNominee.added_at, CampaignNominee.id))
    rows = [_Row(*values) for values in db.session.execute(statement)]
    on_campaign = select(CampaignNominee.case_id).where(CampaignNominee.campaign_id == campaign.id)
    reused = select(CampaignNominee.reused_conclusion_id).where(CampaignNominee.campaign_id == campaign.id)
    approved = db.session.execute(
        select(*_approved_columns()).join(Case, Case.id == Conclusion.case_id)
        .where(Conclusion.state == "approved", or_(Conclusion.case_id.in_(on_campaign), Conclusion.id.in_(reused)))
        .order_by(Conclusion.version_number)).all()
    by_id = {item.id: _conclusion(item) for item in approved}
    latest_of_case = {item.case_id: by_id[item.id] for item in approved}  # the last version wins
    today = local_today()
    for row in rows:
        if row.reused_conclusion_id is not None:
            row.state, row.conclusion = "reused", by_id.get(row.reused_conclusion_id)
        elif row.case_id is None:
            row.state = "not_started"
        elif row.case_state == "closed" and row.case_id in latest_of_case:
            row.state, row.conclusion = "concluded", latest_of_case[row.case_id]
        elif row.case_state == "submitted":
            row.state = "submitted"
        else:
            row.state = "in_review"
        row.due_on = row.case_due or campaign.due_on
        row.overdue = row.state not in ANSWERED and row.due_on < today
    return rows


class _Viewer:
    """The policy's answers for one user on one campaign, memoised per distinct input."""

    def __init__(self, campaign: Campaign, user: User | None):
        self.campaign, self.user = campaign, user
        self.recused = access.recused_subject_ids(user, campaign.id)
        self.worked = access.worked_case_ids(user, campaign.id)
        self._memo: dict[tuple, bool] = {}

    def _ask(self, key: tuple, answer) -> bool:
        if key not in self._memo:
            self._memo[key] = self.user is None or answer()
        return self._memo[key]

    def sees(self, row: _Row) -> bool:
        works, recused = row.case_id in self.worked, row.subject_id in self.recused
        return self._ask(("row", row.unit_id, works, recused), lambda: policy.can_see_nominee(
            self.user, self.campaign, row.unit_id, works_on_it=works, recused=recused))

    def sees_name(self, row: _Row) -> bool:
        recused = row.subject_id in self.recused
        return self._ask(("name", row.subject_unit_id, recused), lambda: policy.can_see_nominee_name(
            self.user, row.subject_unit_id, recused=recused))

    def sees_conclusion(self, row: _Row, conclusion: ReusableConclusion) -> bool:
        assigned = conclusion.case_id in self.worked
        return self._ask(("outcome", conclusion.case_owner_unit_id, conclusion.classification, assigned),
                         lambda: policy.can_see_case_outcome(self.user, conclusion.case_owner_unit_id,
                                                             conclusion.classification, assigned=assigned))


def _visible(campaign: Campaign, user: User | None) -> tuple[list[_Row], _Viewer]:
    viewer = _Viewer(campaign, user)
    rows = [row for row in _rows(campaign) if viewer.sees(row)]
    for row in rows:
        row.name_visible = viewer.sees_name(row)
        if row.conclusion is not None and not viewer.sees_conclusion(row, row.conclusion):
            row.conclusion = None
    return rows, viewer


def _matching_subjects(campaign: Campaign, query: str) -> set[uuid.UUID]:
    """The campaign's dossiers whose citizen ID or full name is `query` (blind indexes)."""
    on_campaign = [Subject.id.in_(select(CampaignNominee.subject_id).where(CampaignNominee.campaign_id == campaign.id))]
    try:
        number = citizen_id(query) if any(char.isdigit() for char in query) else None
    except InvalidCitizenId:
        return set()
    if number:
        return {subject.id for subject in find(Subject.id_number_index, number, where=on_campaign)}
    return {subject.id for subject in find(Subject.full_name_index, query, where=on_campaign)}


def _names(subject_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Subject]:
    """The dossiers of the rows shown, with the columns a row or a summary line shows,
    their data keys unwrapped together."""
    ids = list(subject_ids)
    if not ids:
        return {}
    current_keyring().preload(db.session, select(Subject.data_key_id).where(Subject.id.in_(ids)))
    loaded = db.session.scalars(select(Subject).where(Subject.id.in_(ids)).options(load_only(
        Subject.id, Subject.data_key_id, Subject.owner_unit_id, Subject.full_name, Subject.date_of_birth,
        Subject.current_unit, Subject.position)))
    return {subject.id: subject for subject in loaded}


# --- the board -----------------------------------------------------------------------------------

def board(campaign: Campaign, user: User, filters: BoardFilters) -> Board:
    rows, _viewer = _visible(campaign, user)
    counts = dict.fromkeys(("not_started", "reused", "in_review", "submitted", "concluded", "overdue"), 0)
    for row in rows:
        counts[row.state] += 1
        counts["overdue"] += row.overdue
    counts["total"] = len(rows)
    shown = rows
    if filters.state:
        shown = [row for row in shown if row.state == filters.state]
    if filters.unit_id:
        shown = [row for row in shown if row.unit_id == filters.unit_id]
    if filters.overdue:
        shown = [row for row in shown if row.overdue]
    if filters.query and filters.query.strip():
        # Only rows whose name the user may read: a search must not tell who an anonymous row is.
        found = _matching_subjects(campaign, filters.query.strip())
        shown = [row for row in shown if row.subject_id in found and row.name_visible]
    pages = max(1, math.ceil(len(shown) / PAGE_SIZE))
    page = min(max(1, filters.page or 1), pages)
    window = shown[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    nominees = {item.id: item for item in db.session.scalars(
        select(CampaignNominee).where(CampaignNominee.id.in_([row.id for row in window])))}
    subjects = _names(row.subject_id for row in window if row.name_visible)
    reusable = reusable_conclusions(campaign, [row.id for row in window if row.state == "not_started"])
    result = []
    for row in window:
        conclusion = row.conclusion
        offer = reusable.get(row.id)
        if offer is not None and (user is not None and not _viewer.sees_conclusion(row, offer)):
            offer = None
        subject = subjects.get(row.subject_id)
        result.append(NomineeRow(
            nominee=nominees[row.id], state=row.state, due_on=row.due_on, overdue=row.overdue,
            case_reference=row.case_reference,
            conclusion_number=conclusion.document_number if conclusion else None,
            conclusion_date=conclusion.approved_on if conclusion else None,
            outcome=conclusion.outcome if conclusion else None,
            valid_until=conclusion.valid_until if conclusion else None,
            name=subject.full_name if subject is not None else None, reusable=offer))
    return Board(campaign, counts, result, page, pages, total=len(shown))


def record_board_view(campaign: Campaign, *, page: int, shown: int | None = None) -> None:
    """The board shows names (protected): its read is recorded before the answer."""
    detail = {"shown": shown} if shown is not None else {}
    record("campaign.view", target_type="campaign", target_id=campaign.id, page=page, **detail)


# --- reuse before work -----------------------------------------------------------------------------

def reusable_conclusions(campaign: Campaign, nominee_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ReusableConclusion]:
    """{nominee id: their still-valid approved conclusion} (valid on the campaign's due date).

    A person's latest approved review conclusion answers for them while it lasts; one
    without an end date is not reused (every approval sets one: conclusions._approve)."""
    wanted = set(nominee_ids)
    if not wanted:
        return {}
    latest = latest_approved(campaign, wanted)
    return {nominee_id: conclusion for nominee_id, conclusion in latest.items()
            if conclusion.valid_until is not None and conclusion.valid_until >= campaign.due_on}


def latest_approved(campaign: Campaign, nominee_ids: set[uuid.UUID]) -> dict[uuid.UUID, ReusableConclusion]:
    """{nominee id: the latest approved conclusion of a review of that person}."""
    found: dict[uuid.UUID, tuple] = {}
    ids = list(nominee_ids)
    for start in range(0, len(ids), 500):
        statement = (select(CampaignNominee.id.label("nominee_id"), *_approved_columns())
                     .join(Case, Case.subject_id == CampaignNominee.subject_id)
                     .join(Conclusion, Conclusion.case_id == Case.id)
                     .where(CampaignNominee.campaign_id == campaign.id, CampaignNominee.id.in_(ids[start:start + 500]),
                            Case.kind == "review", Case.purged_at.is_(None), Conclusion.state == "approved"))
        for row in db.session.execute(statement):
            if row.nominee_id not in found or found[row.nominee_id].approved_at < row.approved_at:
                found[row.nominee_id] = row
    return {nominee_id: _conclusion(row) for nominee_id, row in found.items()}


def reused_conclusion(nominee: CampaignNominee) -> Conclusion | None:
    if nominee.reused_conclusion_id is None:
        return None
    return db.session.get(Conclusion, nominee.reused_conclusion_id)


# --- the summary for the standing committee --------------------------------------------------------

def summary(campaign: Campaign, user: User | None) -> list[SummaryLine]:
    """Every nominee the user may see (None: the operator at the command line, who sees
    all), in list order; the outcome only from an approved conclusion, never guessed."""
    rows, _viewer = _visible(campaign, user)
    subjects = _names(row.subject_id for row in rows if row.name_visible)
    lines = []
    for number, row in enumerate(rows, start=1):
        subject, conclusion = subjects.get(row.subject_id), row.conclusion
        lines.append(SummaryLine(
            number=number, full_name=subject.full_name if subject else "",
            date_of_birth=subject.date_of_birth if subject else None,
            unit=subject.current_unit if subject else None, position=subject.position if subject else None,
            case_reference=row.case_reference,
            conclusion_number=conclusion.document_number if conclusion else None,
            conclusion_date=conclusion.approved_on if conclusion else None,
            outcome=conclusion.outcome if conclusion else None,
            valid_until=conclusion.valid_until if conclusion else None, reused=row.state == "reused"))
    return lines


def record_summary(campaign: Campaign, *, lines: int, format: str, by: User | None = None) -> None:
    """An export of the summary (names on it): recorded with its format and line count."""
    record("campaign.summary", target_type="campaign", target_id=campaign.id, actor=by, format=format, lines=lines)
