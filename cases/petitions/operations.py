"""Petitions (đơn thư): intake, the intake decision with its reason, deadlines from the
rule table and their extensions. Handling an accepted petition then follows the same
steps as a review (coordination requests, a conclusion approved by a supervisor)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from audit.trail import record
from cases import deadlines, numbering, workflow
from cases.casework.operations import CaseError, checked_classification, stamp, today, transition
from cases.models import Assignment, Case, ConcernedPerson, DeadlineExtension, Petition, Subject
from protection import policy
from protection.db import db
from protection.identity import Unit, User
from protection.search import InvalidCitizenId, citizen_id, find


@dataclass
class PetitionData:
    received_on: date | None
    channel: str
    petition_type: str
    classification: str
    summary: str
    anonymous: bool = False
    petitioner_name: str | None = None
    petitioner_address: str | None = None
    petitioner_contact: str | None = None
    title: str | None = None
    subject_ids: list[uuid.UUID] = field(default_factory=list)
    # People with a dossier, named by citizen ID number as the officer reads it off the
    # petition; found through the blind index, never by listing dossiers.
    subject_id_numbers: list[str] = field(default_factory=list)
    named_people: list[str] = field(default_factory=list)
    repeat_of_reference: str | None = None


def _clean(text: str | None) -> str | None:
    return " ".join((text or "").split()) or None


def receive_petition(data: PetitionData, *, by: User) -> Case:
    """Record a petition as received; its intake decision is due within the forwarding
    rule's period (5 working days by default)."""
    if data.received_on is None:
        raise CaseError(_("Hãy nhập ngày nhận đơn."), "received_on")
    if data.received_on > today():
        raise CaseError(_("Ngày nhận đơn không được ở tương lai."), "received_on")
    if data.channel not in workflow.PETITION_CHANNELS:
        raise CaseError(_("Hãy chọn hình thức nhận đơn."), "channel")
    if data.petition_type not in workflow.PETITION_TYPES:
        raise CaseError(_("Hãy chọn loại đơn."), "petition_type")
    summary = (data.summary or "").strip()
    if not summary:
        raise CaseError(_("Hãy tóm tắt nội dung đơn."), "summary")
    name = _clean(data.petitioner_name)
    if not data.anonymous and not name:
        raise CaseError(_("Hãy nhập họ tên người gửi đơn, hoặc đánh dấu đơn không ký tên."), "petitioner_name")
    classification = checked_classification(data.classification, by)
    scope = policy.unit_scope(by)
    subjects = []
    for subject_id in dict.fromkeys(data.subject_ids):
        subject = db.session.get(Subject, subject_id)
        if subject is None or subject.owner_unit_id not in scope:
            raise CaseError(_("Người bị phản ánh phải là đối tượng trong hồ sơ của đơn vị."), "subject_id_numbers")
        subjects.append(subject)
    for line, number in enumerate(data.subject_id_numbers, start=1):
        if not (number or "").strip():
            continue
        try:
            found = find(Subject.id_number_index, citizen_id(number), where=[Subject.owner_unit_id.in_(scope)])
        except InvalidCitizenId:
            found = []
        if not found:
            raise CaseError(_("Dòng %(line)d: không có hồ sơ đối tượng nào của đơn vị mang số định danh này.",
                              line=line), "subject_id_numbers")
        subjects.extend(subject for subject in found if subject not in subjects)
    named = [text for text in (_clean(item) for item in data.named_people) if text]
    if not subjects and not named and not data.anonymous:
        raise CaseError(_("Hãy cho biết đơn liên quan đến ai (chọn đối tượng hoặc ghi tên)."), "named_people")
    repeat_of = None
    if (data.repeat_of_reference or "").strip():
        repeat_of = db.session.scalars(select(Case).where(
            Case.reference == data.repeat_of_reference.strip().upper(), Case.kind == "petition",
            Case.owner_unit_id.in_(scope))).first()
        if repeat_of is None or not policy.cleared_for(by, repeat_of.classification):
            raise CaseError(_("Không tìm thấy đơn trước có số hiệu này trong đơn vị."), "repeat_of_reference")

    received = data.received_on
    case = Case(id=uuid.uuid4(), reference=numbering.case_reference("petition", received.year), kind="petition",
                state=workflow.PETITION.initial, classification=classification, owner_unit_id=by.unit_id,
                title=_clean(data.title) or _("Đơn thư"), summary=summary, opened_on=today(),
                deadline_rule="forwarding", deadline_start=received, due_on=deadlines.due("forwarding", received),
                created_by_id=by.id)
    # case_id given, not left to the relationship: it is the row id the sealed fields are
    # bound to (AAD), and the flush syncs a relationship's key only after sealing.
    petition = Petition(case=case, case_id=case.id, received_on=received, channel=data.channel, petition_type=data.petition_type,
                        anonymous=bool(data.anonymous), petitioner_name=None if data.anonymous else name,
                        petitioner_address=None if data.anonymous else _clean(data.petitioner_address),
                        petitioner_contact=None if data.anonymous else _clean(data.petitioner_contact),
                        repeat_of_id=repeat_of.id if repeat_of else None)
    db.session.add(case)
    db.session.add(Assignment(id=uuid.uuid4(), case=case, user_id=by.id, assigned_by_id=by.id))
    for subject in subjects:
        petition.concerned.append(ConcernedPerson(id=uuid.uuid4(), case=case, subject_id=subject.id))
    for text in named:
        petition.concerned.append(ConcernedPerson(id=uuid.uuid4(), case=case, named_as=text))
    stamp(case, "received", by, None, case.state)
    db.session.flush()
    record("case.create", target_type="case", target_id=case.id, actor=by, kind="petition",
           petition_type=data.petition_type, channel=data.channel, anonymous=bool(data.anonymous),
           classification=classification.value, subjects=len(subjects), named=len(named),
           repeat_of=repeat_of.id if repeat_of else None)
    return case


@dataclass
class Decision:
    action: str                      # accept, forward, keep_for_monitoring, file
    reason: str | None = None        # a FILING_REASONS code when filing
    note: str | None = None          # the officer's words (sealed)
    forwarded_to: uuid.UUID | None = None
    complex_case: bool = False


def decide(case: Case, decision: Decision, *, by: User) -> None:
    """The intake decision, each with its reason (issue 5 §2)."""
    petition = case.petition
    note = (decision.note or "").strip() or None
    values: dict = {}
    if decision.action == "accept":
        if not note:
            raise CaseError(_("Hãy ghi lý do thụ lý."), "note")
    elif decision.action == "forward":
        unit = db.session.get(Unit, decision.forwarded_to) if decision.forwarded_to else None
        if unit is None or not unit.active or unit.id == case.owner_unit_id:
            raise CaseError(_("Hãy chọn cơ quan có thẩm quyền để chuyển đơn."), "forwarded_to")
        if not note:
            raise CaseError(_("Hãy ghi lý do chuyển đơn."), "note")
        values = {"forwarded_to_id": unit.id, "forwarded_on": today()}
    elif decision.action == "keep_for_monitoring":
        # Guidance: an unsigned petition is kept for monitoring only when its subject and
        # content are clear; otherwise it is filed.
        if not petition.anonymous:
            raise CaseError(_("Chỉ lưu theo dõi đơn không ký tên (có nội dung và đối tượng rõ ràng)."), "action")
        if not petition.concerned:
            raise CaseError(_("Đơn lưu theo dõi phải chỉ rõ người bị phản ánh."), "action")
        if not note:
            raise CaseError(_("Hãy ghi lý do lưu theo dõi."), "note")
    elif decision.action == "file":
        if decision.reason not in workflow.FILING_REASONS:
            raise CaseError(_("Hãy chọn lý do lưu đơn không xử lý."), "reason")
        if decision.reason == "repeat_without_new_evidence" and petition.repeat_of_id is None:
            raise CaseError(_("Đơn trùng phải được liên kết với đơn trước đó (số hiệu đơn trước)."), "reason")
    else:
        raise CaseError(_("Hãy chọn cách xử lý đơn."), "action")

    transition(case, decision.action, by=by, decision_reason=decision.reason)
    petition.decision = decision.action
    petition.decision_reason = decision.reason if decision.action == "file" else None
    petition.decision_note = note
    petition.decided_on = today()
    for name, value in values.items():
        setattr(petition, name, value)
    if decision.action == "accept":
        petition.complex_case = bool(decision.complex_case)
        rule_key = workflow.petition_rule_key(petition.petition_type, petition.complex_case)
        case.deadline_rule, case.deadline_start, case.extensions = rule_key, petition.decided_on, 0
        case.due_on = deadlines.due(rule_key, petition.decided_on)
    elif decision.action == "keep_for_monitoring":
        case.due_on = None
    db.session.flush()


def extend_deadline(case: Case, *, by: User, note: str | None) -> date:
    """One more extension, as far as the rule in force allows."""
    if case.kind != "petition" or case.deadline_rule in (None, "forwarding") \
            or not workflow.PETITION.is_open(case.state):
        raise CaseError(_("Chỉ gia hạn được đơn đang giải quyết."), "note")
    rule = deadlines.rule(case.deadline_rule, case.deadline_start)
    if case.extensions >= rule.max_extensions:
        raise CaseError(_("Đã hết số lần gia hạn theo quy định."), "note")
    if not (note or "").strip():
        raise CaseError(_("Hãy ghi lý do gia hạn."), "note")
    due_before = case.due_on
    case.extensions += 1
    case.due_on = deadlines.due(case.deadline_rule, case.deadline_start, case.extensions)
    event = stamp(case, "deadline_extended", by)
    db.session.add(DeadlineExtension(id=uuid.uuid4(), case=case, case_id=case.id, event_id=event.id,
                                     number=case.extensions, due_before=due_before, due_after=case.due_on,
                                     reason=note.strip()[:4000]))
    db.session.flush()
    record("case.extend", target_type="case", target_id=case.id, actor=by, extensions=case.extensions,
           due_on=case.due_on.isoformat())
    return case.due_on


def extensions_of(case: Case) -> dict[uuid.UUID, DeadlineExtension]:
    """The case's extensions by their timeline event (their reasons decrypted: the caller
    shows them on the case page, whose read is recorded)."""
    rows = db.session.scalars(select(DeadlineExtension).where(DeadlineExtension.case_id == case.id))
    return {row.event_id: row for row in rows}


# A petition awaits its intake decision while it is received or kept for monitoring
# (workflow.PETITION: the states from which it is accepted, forwarded or filed).
UNDECIDED_STATES = ("received", "monitoring")


def awaiting_decision(case: Case) -> bool:
    return case.kind == "petition" and case.state in UNDECIDED_STATES


def can_extend(case: Case) -> bool:
    if case.kind != "petition" or case.deadline_rule in (None, "forwarding") or not workflow.PETITION.is_open(case.state):
        return False
    return case.extensions < deadlines.rule(case.deadline_rule, case.deadline_start).max_extensions


def repeats_of(case: Case) -> list[Case]:
    return list(db.session.scalars(select(Case).join(Petition, Petition.case_id == Case.id)
                                   .where(Petition.repeat_of_id == case.id).order_by(Case.opened_on)))


def forwarding_units() -> list[Unit]:
    return list(db.session.scalars(select(Unit).where(Unit.active.is_(True)).order_by(Unit.name)))
