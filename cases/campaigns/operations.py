"""Review campaigns (đợt thẩm định): create, fill with nominees, reuse or review, hand out, close.

CONTRACT (issue 20 §A) — the web views (views.py), the CLI (cli.py) and the demo call exactly
these names. Each operation checks, changes, records its audit entry and flushes; none commits
(the request or the CLI command is the unit of work). Audit details name ids, counts, states
and purposes, never a title or a name. Errors the user can act on are CampaignError(message,
field) with a Vietnamese, translatable message naming no protected value.

`by=None` is the operator at the command line (`campaign import`), trusted as `import
subjects` trusts them: no scope, clearance or recusal of a person applies. The board, the
summary and reuse lookups live in board.py; loading and who-sees-what in access.py; both are
re-exported here so callers need only this module.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import func, select

from audit.trail import record
from cases import numbering, workflow
from cases.campaigns import access, matching
from cases.campaigns.access import campaigns_for, load_campaign  # noqa: F401 - the contract's names
from cases.campaigns.board import (  # noqa: F401 - the contract's names
    Board,
    BoardFilters,
    NomineeRow,
    ReusableConclusion,
    SummaryLine,
    board,
    latest_approved,
    record_board_view,
    record_summary,
    reusable_conclusions,
    reused_conclusion,
    summary,
)
from cases.casework import operations as casework
from cases.casework.operations import CaseError, checked_classification, stamp, today
from cases.models import Assignment, Campaign, CampaignNominee, Case, Subject, subjects_about
from cases.notifications import events
from cases.subjects import operations as subjects
from cases.subjects.roster import RosterRow, RowProblem
from protection import index_plans, policy
from protection.clock import utcnow
from protection.db import db
from protection.identity import Clearance, Role, Unit, UnitKind, User

TITLE_MAX = 300
# Units a campaign may hand nominees to (cadre management levels): those keeping dossiers.
HANDED_KINDS = (UnitKind.DISTRICT, UnitKind.ORGANISATION)


class CampaignError(CaseError):
    """A refusal the user can act on; `field` names the form field it belongs beside."""


def _require_open(campaign: Campaign) -> None:
    if campaign.state != "open":
        raise CampaignError(_("Đợt thẩm định đã kết thúc; không thể thay đổi."))


def _require_owner(campaign: Campaign, by: User | None) -> None:
    if by is not None and not policy.owns_campaign(by, campaign):
        raise CampaignError(_("Chỉ lãnh đạo đơn vị chủ trì đợt thẩm định được thực hiện thao tác này."))


# --- creating and closing ---------------------------------------------------------------------

@dataclass
class CampaignData:
    purpose: str               # a key of workflow.CAMPAIGN_PURPOSES in effect today
    title: str
    owner_unit_id: uuid.UUID   # within the supervisor's unit scope
    due_on: date               # not in the past
    classification: str        # a Clearance value, not above the creator's clearance


def create_campaign(data: CampaignData, *, by: User | None) -> Campaign:
    if by is not None and not policy.can(by, "campaign.manage"):
        raise CampaignError(_("Chỉ lãnh đạo được tạo đợt thẩm định."))
    opened = today()
    if workflow.campaign_purpose(data.purpose or "", opened) is None:
        raise CampaignError(_("Hãy chọn mục đích của đợt thẩm định."), "purpose")
    title = " ".join((data.title or "").split())
    if not title:
        raise CampaignError(_("Hãy nhập tên đợt thẩm định."), "title")
    if len(title) > TITLE_MAX:
        raise CampaignError(_("Tên đợt thẩm định dài quá %(count)d ký tự.", count=TITLE_MAX), "title")
    unit = db.session.get(Unit, data.owner_unit_id) if data.owner_unit_id else None
    if unit is None or not unit.active or (by is not None and unit.id not in policy.unit_scope(by)):
        raise CampaignError(_("Hãy chọn một đơn vị trong phạm vi của bạn."), "owner_unit_id")
    if data.due_on is None or data.due_on < opened:
        raise CampaignError(_("Hạn hoàn thành không được trước hôm nay."), "due_on")
    try:
        classification = checked_classification(data.classification, by) if by else Clearance(data.classification)
    except (CaseError, ValueError):
        raise CampaignError(_("Độ mật không hợp lệ hoặc cao hơn mức được tiếp cận của bạn."), "classification") from None
    campaign = Campaign(id=uuid.uuid4(), reference=numbering.campaign_reference(opened.year), purpose=data.purpose,
                        state="open", classification=classification, owner_unit_id=unit.id, due_on=data.due_on,
                        title=title, created_by_id=by.id if by else None)
    db.session.add(campaign)
    db.session.flush()
    record("campaign.create", target_type="campaign", target_id=campaign.id, actor=by, purpose=data.purpose,
           unit=unit.id, classification=classification.value, due_on=data.due_on.isoformat())
    return campaign


def close_campaign(campaign: Campaign, *, by: User | None) -> None:
    _require_owner(campaign, by)
    _require_open(campaign)
    campaign.state, campaign.closed_by_id, campaign.closed_at = "closed", by.id if by else None, utcnow()
    db.session.flush()
    record("campaign.close", target_type="campaign", target_id=campaign.id, actor=by, state="closed")


# --- nominees ----------------------------------------------------------------------------------

@dataclass
class NomineeImport:
    added: int = 0            # new nominee rows
    matched: int = 0          # of which matched to an existing dossier by citizen ID
    created: int = 0          # of which got a new dossier
    already: int = 0          # already on the campaign (the file run again): nothing changed
    problems: list = field(default_factory=list)  # roster.RowProblem: refused rows, by line


# A RowProblem's reason, as the roster's: names the rule, never a value.
ABOUT_YOURSELF = "the nominee is you or a recorded relative of yours: someone else must add this row"


def _pick(dossiers: list[matching.Dossier] | None, owner_unit_id: uuid.UUID) -> matching.Dossier | None:
    """The dossier a nominee is matched to: the owning unit's own, else the one managed
    below it (a district's), the same one every run."""
    if not dossiers:
        return None
    return min(dossiers, key=lambda item: (item.owner_unit_id != owner_unit_id, str(item.owner_unit_id), str(item.id)))


def _refusals(rows: list[RosterRow], matches: dict, by: User | None) -> list[RowProblem]:
    index = getattr(by, "citizen_index", None)
    if index is None:
        return []
    row_indexes = matching.index_values(row.id_number for row in rows)
    of_number: dict[str, set[int]] = {}
    for value, numbers in row_indexes.items():
        for number in numbers:
            of_number.setdefault(number, set()).add(value)
    matched_ids = [dossier.id for dossiers in matches.values() for dossier in dossiers]
    people = matching.people_indexes(matched_ids)
    problems = []
    for row in rows:
        indexes = set(of_number.get(row.id_number, ()))
        for dossier in matches.get(row.id_number, ()):
            indexes |= people.get(dossier.id, set())
        if index_plans.same_person(db.session, index, indexes):
            problems.append(RowProblem(row.line, ABOUT_YOURSELF))
    return problems


def nominee_problems(campaign: Campaign, rows: Iterable[RosterRow], *, by: User | None) -> list:
    """Rows the campaign refuses beyond the roster's own checks (the uploading user is the
    nominee or a relative of theirs), as roster.RowProblem by line. Pure check: writes
    nothing. Matching is within the owner's scope, which is inside every owner's own, so a
    matched dossier is never outside the uploading supervisor's scope."""
    rows = list(rows)
    matches = matching.dossiers_by_id_number([row.id_number for row in rows], policy.units_under(campaign.owner_unit_id))
    return _refusals(rows, matches, by)


def _next_position(campaign: Campaign) -> int:
    return (db.session.scalar(select(func.max(CampaignNominee.position_in_list))
                              .where(CampaignNominee.campaign_id == campaign.id)) or 0) + 1


def _on_campaign(campaign: Campaign) -> set[uuid.UUID]:
    return set(db.session.scalars(select(CampaignNominee.subject_id).where(CampaignNominee.campaign_id == campaign.id)))


def add_nominees_from_roster(campaign: Campaign, rows: list[RosterRow], *, by: User | None,
                             progress: Callable[[int], None] | None = None,
                             skip_invalid: bool = False) -> NomineeImport:
    """Match each row to its dossier by the citizen-ID blind index within the owner's scope
    (a new person gets a dossier in the campaign's owning unit; a matched dossier is left as
    it is), and add a nominee row per person. When a row is refused, nothing is written
    unless `skip_invalid`, which adds the others; `problems` lists the refused rows."""
    _require_open(campaign)
    _require_owner(campaign, by)
    rows = list(rows)
    matches = matching.dossiers_by_id_number([row.id_number for row in rows],
                                             policy.units_under(campaign.owner_unit_id))
    result = NomineeImport(problems=_refusals(rows, matches, by))
    if result.problems and not skip_invalid:
        return result
    refused = {problem.line for problem in result.problems}
    present = _on_campaign(campaign)
    owner = campaign.owner_unit
    # A later list goes after the rows already there, in its own line order.
    offset = _next_position(campaign) - 1
    for count, row in enumerate(rows, start=1):
        if row.line not in refused:
            _add_row(campaign, row, offset + row.line, _pick(matches.get(row.id_number), owner.id), present, result,
                     by)
        if progress is not None:
            progress(1)
        if count % matching.BATCH == 0:
            db.session.flush()  # keeps the session's pending objects (and their sealing) in bounded batches
    db.session.flush()
    if result.created:
        # The dossiers it made, as `import subjects` records its own.
        record("subject.import", target_type="unit", target_id=owner.id, actor=by, created=result.created,
               updated=0, unchanged=0, skipped=len(refused), campaign=campaign.id)
    record("campaign.nominees_add", target_type="campaign", target_id=campaign.id, actor=by, source="csv",
           added=result.added, matched=result.matched, created=result.created, already=result.already,
           refused=len(refused))
    return result


def _add_row(campaign: Campaign, row: RosterRow, position: int, dossier: matching.Dossier | None, present: set,
             result: NomineeImport, by: User | None) -> None:
    if dossier is not None and dossier.id in present:
        result.already += 1
        return
    nominee = CampaignNominee(id=uuid.uuid4(), campaign_id=campaign.id, position_in_list=position,
                              added_by_id=by.id if by else None)
    if dossier is None:
        subject = Subject(id=uuid.uuid4(), owner_unit=campaign.owner_unit, created_by_id=by.id if by else None,
                          **subjects.roster_values(row))
        db.session.add(subject)
        nominee.subject, nominee.unit_id = subject, campaign.owner_unit_id
        present.add(subject.id)
        result.created += 1
    else:
        # Below the owner, the unit managing the dossier works it (cadre management levels).
        nominee.subject_id, nominee.unit_id = dossier.id, dossier.owner_unit_id
        present.add(dossier.id)
        result.matched += 1
    db.session.add(nominee)
    result.added += 1


def add_nominees_from_dossiers(campaign: Campaign, subject_ids: Iterable[uuid.UUID], *, by: User) -> NomineeImport:
    """Picked dossiers: each in the owner's scope and the user's, not about the user."""
    _require_open(campaign)
    _require_owner(campaign, by)
    wanted = list(dict.fromkeys(subject_ids))
    allowed = policy.units_under(campaign.owner_unit_id) & policy.unit_scope(by)
    found = dict(db.session.execute(select(Subject.id, Subject.owner_unit_id).where(Subject.id.in_(wanted))).all())
    index = getattr(by, "citizen_index", None)
    about = set(db.session.scalars(subjects_about(index))) if index is not None else set()
    if not wanted or any(found.get(item) not in allowed or item in about for item in wanted):
        raise CampaignError(_("Hãy chọn hồ sơ trong phạm vi của đơn vị chủ trì."), "subject_ids")
    present = _on_campaign(campaign)
    result = NomineeImport()
    position = _next_position(campaign)
    for subject_id in wanted:
        if subject_id in present:
            result.already += 1
            continue
        db.session.add(CampaignNominee(id=uuid.uuid4(), campaign_id=campaign.id, subject_id=subject_id,
                                       unit_id=found[subject_id], position_in_list=position, added_by_id=by.id))
        position += 1
        result.added += 1
        result.matched += 1
    db.session.flush()
    record("campaign.nominees_add", target_type="campaign", target_id=campaign.id, actor=by, source="dossiers",
           added=result.added, matched=result.matched, created=0, already=result.already, refused=0)
    return result


def _chosen(campaign: Campaign, nominee_ids: Iterable[uuid.UUID], by: User) -> list[CampaignNominee]:
    """The chosen rows of this campaign that `by` may work (can_manage_nominee), in list order."""
    ids = list(dict.fromkeys(nominee_ids))
    chosen = []
    for start in range(0, len(ids), matching.BATCH):
        chosen += db.session.scalars(select(CampaignNominee).where(
            CampaignNominee.campaign_id == campaign.id, CampaignNominee.id.in_(ids[start:start + matching.BATCH])))
    recused = access.recused_subject_ids(by, campaign.id)
    chosen = [nominee for nominee in chosen if policy.can_manage_nominee(
        by, campaign, nominee.unit_id, recused=nominee.subject_id in recused)]
    return sorted(chosen, key=lambda item: (item.position_in_list, item.added_at, str(item.id)))


# --- reuse before work -------------------------------------------------------------------------

def reuse_conclusions(campaign: Campaign, nominee_ids: Iterable[uuid.UUID], *, by: User) -> int:
    """Record, for each chosen nominee with a still-valid approved conclusion, that it answers
    for them; returns how many. A supervisor only (of the rows they manage, and a conclusion
    they may see); audited."""
    _require_open(campaign)
    waiting = [nominee for nominee in _chosen(campaign, nominee_ids, by)
               if nominee.case_id is None and nominee.reused_conclusion_id is None]
    offers = reusable_conclusions(campaign, [nominee.id for nominee in waiting])
    now, count = utcnow(), 0
    for nominee in waiting:
        offer = offers.get(nominee.id)
        if offer is None or not policy.can_see_case_outcome(by, offer.case_owner_unit_id, offer.classification,
                                                            assigned=False):
            continue
        nominee.reused_conclusion_id, nominee.reused_by_id, nominee.reused_at = offer.conclusion_id, by.id, now
        count += 1
    db.session.flush()
    record("campaign.reuse", target_type="campaign", target_id=campaign.id, actor=by, count=count,
           chosen=len(waiting))
    return count


# --- reviews and officers ------------------------------------------------------------------------

def _officers(officer_ids: Iterable[uuid.UUID]) -> list[User]:
    ids = list(dict.fromkeys(officer_ids))
    users = {user.id: user for user in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    return [users[item] for item in ids if item in users and users[item].role == Role.OFFICER and users[item].active]


def _plan(items: list, officers: list[User], unit_of, people_of, classification_of, by: User,
          skip=lambda item, officer: False) -> list[tuple]:
    """(item, officer) for each item: evenly over the officers each may have — the one with
    the fewest so far, in the order chosen, so all-eligible is plain round robin. Refused
    (nothing planned) when some item has none; (item, None) when every officer able to take
    it is `skip`ped (already on it: nothing to do)."""
    load = {officer.id: 0 for officer in officers}
    order = {officer.id: position for position, officer in enumerate(officers)}
    scope = policy.unit_scope(by)
    plan = []
    for item in items:
        able = [officer for officer in officers
                if officer.unit_id == unit_of(item) and officer.unit_id in scope
                and policy.cleared_for(officer, classification_of(item))
                and not index_plans.same_person(db.session, officer.citizen_index, people_of(item))]
        if not able:
            raise CampaignError(_("Không cán bộ nào đã chọn nhận được một số nhân sự (phải cùng đơn vị quản lý, "
                                  "đủ mức tiếp cận, không xung đột lợi ích). Chưa mở hồ sơ nào."), "officers")
        eligible = [officer for officer in able if not skip(item, officer)]
        if not eligible:
            plan.append((item, None))
            continue
        chosen = min(eligible, key=lambda officer: (load[officer.id], order[officer.id]))
        load[chosen.id] += 1
        plan.append((item, chosen))
    return plan


def open_reviews(campaign: Campaign, nominee_ids: Iterable[uuid.UUID], officer_ids: Iterable[uuid.UUID], *,
                 by: User, due_on: date | None = None) -> int:
    """Open one review per chosen nominee without one (linked to the campaign, purpose from the
    campaign's, due by `due_on` or the campaign's date, never later), assigned to the chosen
    officers evenly (round robin over the officers each nominee may have: cleared, not
    recused, of the working unit). Returns how many were opened. The opening supervisor
    is not assigned (unlike reviews.open_review): officers do the work."""
    _require_open(campaign)
    opened = today()
    due = campaign.due_on if due_on is None else min(due_on, campaign.due_on)
    if due < opened:
        raise CampaignError(_("Hạn xử lý không được trước ngày mở hồ sơ."), "due_on")
    waiting = [nominee for nominee in _chosen(campaign, nominee_ids, by)
               if nominee.case_id is None and nominee.reused_conclusion_id is None]
    if not waiting:
        return 0
    people = matching.people_indexes([nominee.subject_id for nominee in waiting])
    plan = _plan(waiting, _officers(officer_ids), lambda item: item.unit_id, lambda item: people[item.subject_id],
                 lambda item: campaign.classification, by)
    purpose = workflow.campaign_purpose(campaign.purpose).review_purpose
    expired = {nominee_id for nominee_id, last in latest_approved(campaign, {item.id for item in waiting}).items()
               if last.valid_until is not None and last.valid_until < opened}
    for nominee, officer in plan:
        case = Case(id=uuid.uuid4(), reference=numbering.case_reference("review", opened.year), kind="review",
                    state=workflow.REVIEW.initial, classification=campaign.classification,
                    owner_unit_id=nominee.unit_id, title=_("Thẩm định tiêu chuẩn chính trị"), subject_id=nominee.subject_id,
                    purpose=purpose, opened_on=opened, deadline_rule="review", deadline_start=opened, due_on=due,
                    created_by_id=by.id)
        db.session.add(case)
        assignment = Assignment(id=uuid.uuid4(), case=case, user_id=officer.id, assigned_by_id=by.id)
        db.session.add(assignment)
        stamp(case, "opened", by, None, case.state)
        stamp(case, "assigned", by)
        nominee.case = case
        db.session.flush()
        record("case.create", target_type="case", target_id=case.id, actor=by, kind="review", purpose=purpose,
               subject=nominee.subject_id, classification=Clearance(case.classification).value,
               re_review=nominee.id in expired, campaign=campaign.id)
        record("case.assign", target_type="case", target_id=case.id, actor=by, officer=officer.id)
        events.case_assigned(case, assignment, by=by)
    record("campaign.open_reviews", target_type="campaign", target_id=campaign.id, actor=by, count=len(plan),
           officers=len({officer.id for _nominee, officer in plan}), due_on=due.isoformat())
    return len(plan)


def assign_officers(campaign: Campaign, nominee_ids: Iterable[uuid.UUID], officer_ids: Iterable[uuid.UUID], *,
                    by: User, replace: bool = False) -> int:
    """Assign (or, with replace, reassign) the chosen nominees' open reviews, evenly: each
    gets one more officer, or with `replace` that officer instead of those it had."""
    _require_open(campaign)
    cases = [nominee.case for nominee in _chosen(campaign, nominee_ids, by)
             if nominee.case is not None and workflow.REVIEW.is_open(nominee.case.state)
             and nominee.case.archived_on is None and policy.can_assign_case(by, nominee.case)]
    if not cases:
        return 0
    people = matching.people_indexes([case.subject_id for case in cases])
    plan = _plan(cases, _officers(officer_ids), lambda item: item.owner_unit_id, lambda item: people[item.subject_id],
                 lambda item: item.classification, by,
                 skip=lambda item, officer: not replace and policy.is_assigned(officer, item))
    changed = 0
    for case, officer in plan:
        if officer is None:
            continue  # every chosen officer who could take it already has it
        others = [item.user_id for item in case.assignments if item.user_id != officer.id]
        if not policy.is_assigned(officer, case):
            casework.assign(case, officer, by=by)  # which tells the officer (notifications.events)
        elif not (replace and others):
            continue
        if replace:
            for user_id in others:
                casework.unassign(case, user_id, by=by)
        changed += 1
    record("campaign.assign", target_type="campaign", target_id=campaign.id, actor=by, count=changed,
           replace=replace)
    return changed


def hand_to_unit(campaign: Campaign, nominee_ids: Iterable[uuid.UUID], unit: Unit, *, by: User) -> int:
    """Cadre management levels: hand nominees (without a review yet) to a unit below the
    campaign's owner that keeps dossiers; that unit's supervisors open and assign their reviews."""
    _require_open(campaign)
    _require_owner(campaign, by)
    if (unit is None or not unit.active or unit.kind not in HANDED_KINDS or unit.id == campaign.owner_unit_id
            or unit.id not in policy.units_under(campaign.owner_unit_id)):
        raise CampaignError(_("Chỉ giao được cho một đơn vị cấp dưới của đơn vị chủ trì."), "unit_id")
    count = 0
    for nominee in _chosen(campaign, nominee_ids, by):
        if nominee.case_id is None and nominee.reused_conclusion_id is None and nominee.unit_id != unit.id:
            nominee.unit_id = unit.id
            count += 1
    db.session.flush()
    record("campaign.hand_out", target_type="campaign", target_id=campaign.id, actor=by, unit=unit.id, count=count)
    return count
