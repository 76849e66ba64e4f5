"""Review campaigns (đợt thẩm định): create, fill with nominees, reuse or review, hand out, close.

CONTRACT (issue 20 §A) — the web views (views.py), the CLI (cli.py) and the demo call exactly
these names. Each operation checks, changes, records its audit entry and flushes; none commits
(the request or the CLI command is the unit of work). Audit details name ids, counts, states
and purposes, never a title or a name. Errors the user can act on are CampaignError(message,
field) with a Vietnamese, translatable message naming no protected value.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from cases.casework.operations import CaseError
from cases.models import Campaign, CampaignNominee, Conclusion
from cases.subjects.roster import RosterRow
from protection.identity import Unit, User


class CampaignError(CaseError):
    """A refusal the user can act on; `field` names the form field it belongs beside."""


# --- creating and closing ---------------------------------------------------------------------

@dataclass
class CampaignData:
    purpose: str               # a key of workflow.CAMPAIGN_PURPOSES in effect today
    title: str
    owner_unit_id: uuid.UUID   # within the supervisor's unit scope
    due_on: date               # not in the past
    classification: str        # a Clearance value, not above the creator's clearance


def create_campaign(data: CampaignData, *, by: User) -> Campaign:
    raise NotImplementedError


def close_campaign(campaign: Campaign, *, by: User) -> None:
    raise NotImplementedError


# --- loading and authorising ------------------------------------------------------------------

def load_campaign(campaign_id: uuid.UUID, need: str = "campaign.view") -> Campaign:
    """The campaign if the current user may `need` it (404 otherwise, recorded by the policy)."""
    raise NotImplementedError


def campaigns_for(user: User) -> list[Campaign]:
    """Campaigns the user sees: those their scope owns, and those with nominees handed to
    their scope or whose reviews they are assigned to; open first, by due date."""
    raise NotImplementedError


# --- nominees ----------------------------------------------------------------------------------

@dataclass
class NomineeImport:
    added: int = 0            # new nominee rows
    matched: int = 0          # of which matched to an existing dossier by citizen ID
    created: int = 0          # of which got a new dossier
    already: int = 0          # already on the campaign (the file run again): nothing changed
    problems: list = field(default_factory=list)  # roster.RowProblem: refused rows, by line


def nominee_problems(campaign: Campaign, rows: Iterable[RosterRow], *, by: User) -> list:
    """Rows the campaign refuses beyond the roster's own checks (the uploading user is the
    nominee or a relative of theirs; a matched dossier outside the user's scope), as
    roster.RowProblem by line. Pure check: writes nothing."""
    raise NotImplementedError


def add_nominees_from_roster(campaign: Campaign, rows: list[RosterRow], *, by: User,
                             progress: Callable[[int], None] | None = None) -> NomineeImport:
    """Match each row to its dossier by the citizen-ID blind index (a new person gets a
    dossier in the campaign's owning unit), and add a nominee row per person."""
    raise NotImplementedError


def add_nominees_from_dossiers(campaign: Campaign, subject_ids: Iterable[uuid.UUID], *, by: User) -> NomineeImport:
    raise NotImplementedError


# --- reuse before work -------------------------------------------------------------------------

@dataclass(frozen=True)
class ReusableConclusion:
    conclusion_id: uuid.UUID
    document_number: str
    approved_on: date
    valid_until: date | None
    outcome: str


def reusable_conclusions(campaign: Campaign, nominee_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ReusableConclusion]:
    """{nominee id: their still-valid approved conclusion} (valid on the campaign's due date)."""
    raise NotImplementedError


def reuse_conclusions(campaign: Campaign, nominee_ids: Iterable[uuid.UUID], *, by: User) -> int:
    """Record, for each chosen nominee with a still-valid approved conclusion, that it answers
    for them; returns how many. A supervisor only; audited."""
    raise NotImplementedError


def open_reviews(campaign: Campaign, nominee_ids: Iterable[uuid.UUID], officer_ids: Iterable[uuid.UUID], *,
                 by: User, due_on: date | None = None) -> int:
    """Open one review per chosen nominee without one (linked to the campaign, purpose from the
    campaign's, due by `due_on` or the campaign's date, never later), assigned to the chosen
    officers evenly (round robin over the officers each nominee may have: cleared, not
    recused, of the working unit). Returns how many were opened."""
    raise NotImplementedError


def assign_officers(campaign: Campaign, nominee_ids: Iterable[uuid.UUID], officer_ids: Iterable[uuid.UUID], *,
                    by: User, replace: bool = False) -> int:
    """Assign (or, with replace, reassign) the chosen nominees' open reviews, evenly."""
    raise NotImplementedError


def hand_to_unit(campaign: Campaign, nominee_ids: Iterable[uuid.UUID], unit: Unit, *, by: User) -> int:
    """Cadre management levels: hand nominees (without a review yet) to a unit below the
    campaign's owner that manages them; that unit's supervisors open and assign their reviews."""
    raise NotImplementedError


# --- the board -----------------------------------------------------------------------------------

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


def board(campaign: Campaign, user: User, filters: BoardFilters) -> Board:
    raise NotImplementedError


def record_board_view(campaign: Campaign, *, page: int) -> None:
    raise NotImplementedError


# --- the summary for the standing committee ------------------------------------------------------

@dataclass(frozen=True)
class SummaryLine:
    number: int                      # order on the committee's list
    full_name: str
    date_of_birth: date
    unit: str | None
    position: str | None
    case_reference: str | None
    conclusion_number: str | None
    conclusion_date: date | None
    outcome: str | None              # the approved outcome as written; None = "chưa có kết luận"
    valid_until: date | None
    reused: bool


def summary(campaign: Campaign, user: User) -> list[SummaryLine]:
    """Every nominee the user may see, in list order; never a guessed outcome."""
    raise NotImplementedError


def reused_conclusion(nominee: CampaignNominee) -> Conclusion | None:
    raise NotImplementedError
