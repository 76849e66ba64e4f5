"""Inspection visits (kiểm tra chuyên đề, issue 24 A.2): a supervisor records a visit by their
unit to a unit below it, with recommendations each due on a date for the sub-unit
responsible; that sub-unit reports what it did (text and files); the inspecting unit accepts
the report (resolved), sends it back (open again, with a note), or waives the recommendation
with a reason; the visit closes once every recommendation is resolved or waived, and a
closed visit is read-only.

Each operation checks the policy (protection/policy.py: inspects_visit, can_report_...) and
the state (the tables below), changes, records the audit entry (ids, states and dates
only: what a visit found and recommends and what a sub-unit reports are sealed) and
flushes; the request boundary commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import IO

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from audit.trail import record
from cases.casework.operations import CaseError
from cases.notifications import events
from cases.oversight.models import (
    InspectionVisit,
    OversightFile,
    Recommendation,
    RecommendationReport,
)
from protection import policy
from protection.blobs import BlobRefused, store_upload
from protection.clock import utcnow
from protection.db import db
from protection.i18n import local_today
from protection.identity import Clearance, Unit, User

# --- the rules, as data -------------------------------------------------------------------------

VISIT_STATES = ("open", "closed")
RECOMMENDATION_STATES = ("open", "reported", "resolved", "waived")

VISIT_STATE_LABELS = {"open": _l("Đang thực hiện"), "closed": _l("Đã kết thúc")}
RECOMMENDATION_STATE_LABELS = {"open": _l("Chưa thực hiện xong"), "reported": _l("Đã báo cáo, chờ đánh giá"),
                               "resolved": _l("Đã chấp nhận kết quả"), "waived": _l("Miễn thực hiện")}

# A recommendation's moves: action -> (the states it is taken from, the state it leads to, who
# takes it: "inspector" = policy.inspects_visit, "responsible" = policy.can_report_recommendation).
# Every move needs the visit open: a closed visit is read-only.
RECOMMENDATION_MOVES = {
    "edit":      (("open",), "open", "inspector"),
    "report":    (("open", "reported"), "reported", "responsible"),
    "accept":    (("reported",), "resolved", "inspector"),
    "send_back": (("reported",), "open", "inspector"),
    "waive":     (("open", "reported"), "waived", "inspector"),
}
# A visit closes only when every recommendation is in one of these.
SETTLED = ("resolved", "waived")

TEXT_MAX = 20000
NOTE_MAX = 2000
MAX_FILES = 10


class VisitError(CaseError):
    """A refusal the user can act on; the message names no protected value."""


@dataclass(frozen=True)
class VisitData:
    sub_unit_id: uuid.UUID | None
    visited_on: date
    team: str
    scope: str
    findings: str | None
    classification: str


@dataclass(frozen=True)
class RecommendationData:
    text: str
    due_on: date
    responsible_unit_id: uuid.UUID | None


# --- where a visit may go ---------------------------------------------------------------------

def sub_units_of(user: User) -> list[Unit]:
    """The units below the user's own, which a supervisor may inspect (their unit's scope,
    their own unit excepted), by code."""
    if not policy.can(user, "visit.manage"):
        return []
    below = policy.units_under(user.unit_id) - {user.unit_id}
    if not below:
        return []
    return list(db.session.scalars(select(Unit).where(Unit.id.in_(below)).order_by(Unit.code)))


def responsible_units(visit: InspectionVisit) -> list[Unit]:
    """The units a recommendation of the visit may be addressed to: the visited unit and the
    units below it."""
    units = policy.units_under(visit.sub_unit_id)
    return list(db.session.scalars(select(Unit).where(Unit.id.in_(units)).order_by(Unit.code)))


# --- loading and authorising in one step --------------------------------------------------------

def _responsible_unit_ids(visit_id: uuid.UUID) -> set[uuid.UUID]:
    return set(db.session.scalars(select(Recommendation.responsible_unit_id)
                                  .where(Recommendation.visit_id == visit_id)))


def load_visit(visit_id: uuid.UUID, *, need: str = "view") -> InspectionVisit:
    """The visit, if the user may know it (else 404, audited); 403 (audited) when they may
    know it but not do `need` ("view" or "manage")."""
    visit = db.session.get(InspectionVisit, visit_id)
    permission = "visit.manage" if need == "manage" else "visit.view"
    if visit is None:
        policy.deny(permission, status=404)
    if not policy.can_view_visit(current_user, visit, _responsible_unit_ids(visit.id)):
        policy.deny(permission, status=404)
    if need == "manage" and not policy.inspects_visit(current_user, visit):
        policy.deny(permission)
    return visit


def load_recommendation(visit: InspectionVisit, recommendation_id: uuid.UUID, *, need: str = "view") -> Recommendation:
    """A recommendation of this visit the user may see (else 404); 403 when they may see it
    but not report on it (need "report")."""
    recommendation = db.session.get(Recommendation, recommendation_id)
    permission = {"report": "visit.report", "manage": "visit.manage"}.get(need, "visit.view")
    if (recommendation is None or recommendation.visit_id != visit.id
            or not policy.can_see_recommendation(current_user, visit, recommendation)):
        policy.deny(permission, status=404)
    if need == "report" and not policy.can_report_recommendation(current_user, visit, recommendation):
        policy.deny(permission)
    return recommendation


def load_file(visit: InspectionVisit, file_id: uuid.UUID) -> OversightFile:
    """A file of a report on a recommendation of this visit the user may see (else 404)."""
    found = db.session.execute(
        select(OversightFile, Recommendation).join(RecommendationReport, OversightFile.report_id == RecommendationReport.id)
        .join(Recommendation, RecommendationReport.recommendation_id == Recommendation.id)
        .where(OversightFile.id == file_id, RecommendationReport.visit_id == visit.id)).first()
    if found is None or not policy.can_see_recommendation(current_user, visit, found[1]):
        policy.deny("visit.view", status=404)
    return found[0]


def visible_recommendations(visit: InspectionVisit, user: User) -> list[Recommendation]:
    return [item for item in visit.recommendations if policy.can_see_recommendation(user, visit, item)]


# --- the checks every change shares ---------------------------------------------------------------

def _refuse(action: str, visit: InspectionVisit, by: User, reason: str, message: str, field: str | None = None,
            **detail) -> None:
    record(action, target_type="inspection_visit", target_id=visit.id, actor=by, outcome="denied", reason=reason,
           **detail)
    raise VisitError(message, field)


def _open_visit(action: str, visit: InspectionVisit, by: User, field: str | None = None) -> None:
    if visit.state != "open":
        _refuse(action, visit, by, "closed", _("Đợt kiểm tra đã kết thúc: không thay đổi được nữa."), field)


def _inspector(action: str, visit: InspectionVisit, by: User, field: str | None = None) -> None:
    if not policy.inspects_visit(by, visit):
        _refuse(action, visit, by, "not_inspector", _("Chỉ lãnh đạo đơn vị kiểm tra mới làm được việc này."), field)
    _open_visit(action, visit, by, field)


def _move(name: str, recommendation: Recommendation, by: User, field: str | None = None) -> str:
    """Check a move of RECOMMENDATION_MOVES; returns the state it leads to."""
    sources, target, who = RECOMMENDATION_MOVES[name]
    action = f"oversight.recommendation.{name}"
    visit = recommendation.visit
    allowed = (policy.inspects_visit(by, visit) if who == "inspector"
               else policy.can_report_recommendation(by, visit, recommendation))
    if not allowed:
        message = (_("Chỉ lãnh đạo đơn vị kiểm tra mới làm được việc này.") if who == "inspector"
                   else _("Chỉ đơn vị được giao khuyến nghị mới báo cáo được."))
        _refuse(action, visit, by, "not_allowed", message, field, recommendation=recommendation.id)
    _open_visit(action, visit, by, field)
    if recommendation.state not in sources:
        _refuse(action, visit, by, "state", _("Khuyến nghị đang ở trạng thái không cho phép việc này."), field,
                recommendation=recommendation.id, state=recommendation.state)
    return target


def _text(value: str | None, field: str, limit: int = TEXT_MAX, *, required: bool = True) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise VisitError(_("Trường này là bắt buộc."), field)
        return None
    if len(text) > limit:
        raise VisitError(_("Quá dài: tối đa %(count)d ký tự.", count=limit), field)
    return text


# --- visits ------------------------------------------------------------------------------------------

def create_visit(data: VisitData, *, by: User) -> InspectionVisit:
    """A visit by `by`'s unit to one of the units below it."""
    if not policy.can(by, "visit.manage"):
        record("oversight.visit.create", actor=by, outcome="denied", reason="not_supervisor")
        raise VisitError(_("Chỉ lãnh đạo đơn vị mới ghi nhận được đợt kiểm tra."))
    below = policy.units_under(by.unit_id) - {by.unit_id}
    if data.sub_unit_id is None or data.sub_unit_id not in below:
        raise VisitError(_("Đơn vị được kiểm tra phải là đơn vị cấp dưới thuộc phạm vi phụ trách của bạn."),
                         "sub_unit_id")
    try:
        level = Clearance(data.classification)
    except ValueError:
        raise VisitError(_("Độ mật không hợp lệ."), "classification") from None
    if not policy.cleared_for(by, level):
        raise VisitError(_("Bạn không thể đặt độ mật cao hơn độ mật được phép tiếp cận của mình."), "classification")
    visit = InspectionVisit(id=uuid.uuid4(), unit_id=by.unit_id, sub_unit_id=data.sub_unit_id,
                            visited_on=data.visited_on, classification=level, state="open",
                            team=_text(data.team, "team", NOTE_MAX), scope=_text(data.scope, "scope"),
                            findings=_text(data.findings, "findings", required=False), created_by_id=by.id)
    db.session.add(visit)
    db.session.flush()
    record("oversight.visit.create", target_type="inspection_visit", target_id=visit.id, actor=by,
           sub_unit=visit.sub_unit_id, visited_on=visit.visited_on.isoformat(), classification=level.value)
    return visit


def close_visit(visit: InspectionVisit, *, by: User) -> InspectionVisit:
    """Close the visit: only when every recommendation is resolved or waived."""
    _inspector("oversight.visit.close", visit, by)
    unsettled = [item.number for item in visit.recommendations if item.state not in SETTLED]
    if unsettled:
        _refuse("oversight.visit.close", visit, by, "unsettled", _(
            "Chưa thể kết thúc đợt kiểm tra: còn %(count)d khuyến nghị chưa được chấp nhận kết quả hoặc miễn thực "
            "hiện (số %(numbers)s).", count=len(unsettled), numbers=", ".join(map(str, unsettled))),
            unsettled=len(unsettled))
    visit.state, visit.closed_at, visit.closed_by_id = "closed", utcnow(), by.id
    db.session.flush()
    record("oversight.visit.close", target_type="inspection_visit", target_id=visit.id, actor=by,
           recommendations=len(visit.recommendations))
    return visit


# --- recommendations -----------------------------------------------------------------------------------

def _check_recommendation(visit: InspectionVisit, data: RecommendationData) -> str:
    text = _text(data.text, "text")
    if data.due_on < visit.visited_on:
        raise VisitError(_("Hạn thực hiện không được trước ngày kiểm tra (%(day)s).",
                           day=visit.visited_on.strftime("%d/%m/%Y")), "due_on")
    if data.responsible_unit_id is None or data.responsible_unit_id not in policy.units_under(visit.sub_unit_id):
        raise VisitError(_("Đơn vị thực hiện phải là đơn vị được kiểm tra hoặc đơn vị cấp dưới của đơn vị đó."),
                         "responsible_unit_id")
    return text


def add_recommendation(visit: InspectionVisit, data: RecommendationData, *, by: User) -> Recommendation:
    """The next recommendation of the visit (numbers run on per visit); the responsible unit's
    users are told."""
    _inspector("oversight.recommendation.add", visit, by)
    text = _check_recommendation(visit, data)
    number = 1 + max((item.number for item in visit.recommendations), default=0)
    recommendation = Recommendation(id=uuid.uuid4(), visit=visit, visit_id=visit.id, number=number, text=text,
                                    due_on=data.due_on, responsible_unit_id=data.responsible_unit_id, state="open")
    db.session.add(recommendation)
    db.session.flush()
    record("oversight.recommendation.add", target_type="inspection_visit", target_id=visit.id, actor=by,
           recommendation=recommendation.id, number=number, due_on=data.due_on.isoformat(),
           responsible_unit=data.responsible_unit_id)
    events.recommendation_issued(visit, recommendation, by=by)
    return recommendation


def edit_recommendation(recommendation: Recommendation, data: RecommendationData, *, by: User) -> Recommendation:
    """Change an open recommendation's text, due date or responsible unit. Given to another
    unit, that unit is told."""
    _move("edit", recommendation, by)
    visit = recommendation.visit
    text = _check_recommendation(visit, data)
    moved_to = data.responsible_unit_id if data.responsible_unit_id != recommendation.responsible_unit_id else None
    changed = [name for name, old, new in (("text", recommendation.text, text),
                                           ("due_on", recommendation.due_on, data.due_on),
                                           ("responsible_unit", recommendation.responsible_unit_id,
                                            data.responsible_unit_id)) if old != new]
    recommendation.text, recommendation.due_on = text, data.due_on
    recommendation.responsible_unit_id = data.responsible_unit_id
    if "due_on" in changed:
        recommendation.reminded_on = None
    db.session.flush()
    record("oversight.recommendation.edit", target_type="inspection_visit", target_id=visit.id, actor=by,
           recommendation=recommendation.id, number=recommendation.number, changed=changed,
           due_on=data.due_on.isoformat())
    if moved_to is not None:
        db.session.expire(recommendation, ["responsible_unit"])
        events.recommendation_issued(visit, recommendation, by=by)
    return recommendation


@dataclass(frozen=True)
class Upload:
    stream: IO[bytes]
    filename: str | None


def report(recommendation: Recommendation, body: str, uploads: Iterable[Upload], *, by: User) -> RecommendationReport:
    """What the responsible unit did, with files sealed under the visit's key; the
    recommendation moves to "reported" and the inspecting unit's supervisors are told. A file
    refused refuses the whole report: nothing half-written."""
    target = _move("report", recommendation, by, "body")
    visit = recommendation.visit
    text = _text(body, "body")
    uploads = list(uploads)
    if len(uploads) > MAX_FILES:
        raise VisitError(_("Tối đa %(count)d tệp cho một báo cáo.", count=MAX_FILES), "files")
    blobs = []
    for upload in uploads:
        try:
            blobs.append(store_upload(upload.stream, upload.filename, owner=visit))
        except BlobRefused as refused:
            for blob in blobs:
                db.session.expunge(blob)
            raise VisitError(refused.message, "files") from None
    entry = RecommendationReport(id=uuid.uuid4(), recommendation=recommendation, recommendation_id=recommendation.id,
                                 visit=visit, visit_id=visit.id, body=text, created_by_id=by.id)
    db.session.add(entry)
    db.session.flush()
    for blob in blobs:
        db.session.add(OversightFile(id=uuid.uuid4(), blob_id=blob.id, report_id=entry.id, uploaded_by_id=by.id))
    was = recommendation.state
    recommendation.state = target
    db.session.flush()
    db.session.expire(entry, ["files"])
    record("oversight.recommendation.report", target_type="inspection_visit", target_id=visit.id, actor=by,
           recommendation=recommendation.id, number=recommendation.number, report=entry.id, files=len(blobs),
           was=was, state=target)
    events.recommendation_reported(visit, recommendation, entry, by=by)
    return entry


def _decide(name: str, recommendation: Recommendation, note: str | None, *, by: User, field: str,
            note_required: bool) -> Recommendation:
    target = _move(name, recommendation, by, field)
    text = _text(note, field, NOTE_MAX, required=note_required)
    was = recommendation.state
    # The inspectors' latest word, sealed: why it was sent back, waived, or how it was accepted.
    recommendation.state, recommendation.closing_note = target, text
    if target in SETTLED:
        recommendation.closed_at, recommendation.closed_by_id = utcnow(), by.id
    db.session.flush()
    record(f"oversight.recommendation.{name}", target_type="inspection_visit", target_id=recommendation.visit_id,
           actor=by, recommendation=recommendation.id, number=recommendation.number, was=was, state=target,
           with_note=text is not None)
    return recommendation


def accept(recommendation: Recommendation, note: str | None = None, *, by: User) -> Recommendation:
    """The report is accepted: resolved."""
    return _decide("accept", recommendation, note, by=by, field="accept_note", note_required=False)


def send_back(recommendation: Recommendation, note: str, *, by: User) -> Recommendation:
    """The report is not enough: open again, with a note saying why."""
    return _decide("send_back", recommendation, note, by=by, field="note", note_required=True)


def waive(recommendation: Recommendation, reason: str, *, by: User) -> Recommendation:
    """No longer to be done, with a reason."""
    return _decide("waive", recommendation, reason, by=by, field="reason", note_required=True)


# --- lists and pages ---------------------------------------------------------------------------------

LIST_SIDES = ("by_my_unit", "to_my_unit")


def list_visits(user: User, *, state: str | None = None) -> dict[str, list[InspectionVisit]]:
    """The visits by the user's unit scope (a supervisor's) and to their unit (or with a
    recommendation addressed to it), newest first; plain columns only are shown of them."""
    statement = select(InspectionVisit).order_by(InspectionVisit.visited_on.desc(), InspectionVisit.created_at.desc())
    if state in VISIT_STATES:
        statement = statement.where(InspectionVisit.state == state)
    by_unit: list[InspectionVisit] = []
    if policy.can(user, "visit.manage"):
        by_unit = [visit for visit in db.session.scalars(
            statement.where(InspectionVisit.unit_id.in_(policy.unit_scope(user))))
            if policy.inspects_visit(user, visit)]
    addressed = select(Recommendation.visit_id).where(Recommendation.responsible_unit_id == user.unit_id)
    to_unit = [visit for visit in db.session.scalars(statement.where(
        (InspectionVisit.sub_unit_id == user.unit_id) | InspectionVisit.id.in_(addressed)))
        if policy.is_visited(user, visit, {user.unit_id}) and visit not in by_unit]
    return {"by_my_unit": by_unit, "to_my_unit": to_unit}


def tallies(visit_ids: Iterable[uuid.UUID], today: date | None = None) -> dict[uuid.UUID, dict[str, int]]:
    """Per visit: its recommendations by state, how many are overdue (open past their due
    date) and in all. One statement for a whole list, plain columns only."""
    today = today or local_today()
    found = {visit_id: {**{state: 0 for state in RECOMMENDATION_STATES}, "overdue": 0, "total": 0}
             for visit_id in visit_ids}
    if not found:
        return found
    for visit_id, state, due_on in db.session.execute(
            select(Recommendation.visit_id, Recommendation.state, Recommendation.due_on)
            .where(Recommendation.visit_id.in_(list(found)))):
        tally = found[visit_id]
        tally[state] = tally.get(state, 0) + 1
        tally["overdue"] += state == "open" and due_on < today
        tally["total"] += 1
    return found


def counts(visit: InspectionVisit, today: date | None = None) -> dict[str, int]:
    return tallies([visit.id], today)[visit.id]


def is_overdue(recommendation: Recommendation, today: date | None = None) -> bool:
    return recommendation.state == "open" and recommendation.due_on < (today or local_today())


def record_view(visit: InspectionVisit, part: str = "visit", **detail) -> None:
    """A read of the visit's sealed content (findings, recommendations, reports)."""
    record("oversight.visit.view", target_type="inspection_visit", target_id=visit.id, part=part, **detail)


def record_download(visit: InspectionVisit, file: OversightFile) -> None:
    record("oversight.file.download", target_type="inspection_visit", target_id=visit.id, file=file.id,
           report=file.report_id)
