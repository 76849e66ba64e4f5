"""Coordination requests (phối hợp): an officer asks another body to verify facts and
decides exactly what that body may see; the body's liaison acknowledges, logs findings and
answers; the officer accepts the answer (its findings join the case) or asks for more.

A liaison reaches a request only through `load_for_liaison`, and sees only its package:
the subject fields, findings and attachments the officer ticked, within the liaison's
clearance. Never the petitioner, never the rest of the case.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import contains_eager, joinedload

from audit.trail import record
from cases import workflow
from cases.casework.operations import (
    CaseError,
    FindingData,
    add_attachment,
    add_finding,
    case_attachments,
    case_findings,
    person_label,
    stamp,
    today,
    version_matches,
)
from cases.models import Attachment, Case, CoordinationRequest, Finding, Petition, Relative, Subject
from cases.notifications import events
from cases.subjects.relations import sex_label
from protection import policy
from protection.clock import utcnow
from protection.db import db
from protection.identity import Role, Unit, UnitKind, User

# Which subject fields may be disclosed, in the order a form lists them.
SHAREABLE_SUBJECT_FIELDS = {
    "full_name": _l("Họ và tên"),
    "other_names": _l("Tên gọi khác"),
    "date_of_birth": _l("Ngày sinh"),
    "sex": _l("Giới tính"),
    "id_number": _l("Số định danh"),
    "native_place": _l("Quê quán"),
    "residence": _l("Nơi thường trú"),
    "current_unit": _l("Đơn vị công tác"),
    "position": _l("Chức vụ"),
}
# Which fields of a ticked relative may be disclosed besides the relation and the name,
# which always go with them: a body cannot verify facts about a person it cannot identify.
SHAREABLE_RELATIVE_FIELDS = {
    "birth_year": _l("Năm sinh"),
    "residence": _l("Nơi ở hiện nay"),
    "occupation": _l("Nghề nghiệp"),
    "party_member": _l("Là đảng viên"),
    "id_number": _l("Số định danh"),
}
STEP_STATES = {"verification"}  # a case's state in which requests are sent


class StaleRequest(CaseError):
    def __init__(self):
        super().__init__(_("Yêu cầu vừa được người khác cập nhật. Hãy xem lại rồi thực hiện lại."))


@dataclass
class RequestData:
    body_unit_id: uuid.UUID | None
    questions: str
    due_on: date | None
    subject_fields: list[str] = field(default_factory=list)
    finding_ids: list[uuid.UUID] = field(default_factory=list)
    attachment_ids: list[uuid.UUID] = field(default_factory=list)
    relative_ids: list[uuid.UUID] = field(default_factory=list)
    relative_fields: list[str] = field(default_factory=list)


def coordinating_bodies(case: Case) -> list[Unit]:
    """Bodies a request can go to: any active unit but the case's own (the inspection,
    police, military and border-guard committees, the inspectorate, other committees)."""
    return [unit for unit in addressable_bodies() if unit.id != case.owner_unit_id]


def addressable_bodies() -> list[Unit]:
    """Every body some case's request can be addressed to (active, not a district), by
    name: the exchange keys' admin page lists these."""
    return list(db.session.scalars(select(Unit).where(Unit.active.is_(True), Unit.kind != UnitKind.DISTRICT)
                                   .order_by(Unit.name)))


def send_request(case: Case, data: RequestData, *, by: User) -> CoordinationRequest:
    if not accepts_requests(case):
        raise CaseError(_("Chỉ gửi yêu cầu xác minh khi hồ sơ ở bước xác minh."), "body_unit_id")
    body = db.session.get(Unit, data.body_unit_id) if data.body_unit_id else None
    if body is None or body not in coordinating_bodies(case):
        raise CaseError(_("Hãy chọn cơ quan được đề nghị xác minh."), "body_unit_id")
    questions = (data.questions or "").strip()
    if not questions:
        raise CaseError(_("Hãy nêu nội dung cần xác minh."), "questions")
    if data.due_on is None:
        raise CaseError(_("Hãy nhập hạn trả lời."), "due_on")
    if data.due_on <= today():
        raise CaseError(_("Hạn trả lời phải sau hôm nay."), "due_on")
    unknown = set(data.subject_fields) - set(SHAREABLE_SUBJECT_FIELDS)
    if unknown or (data.subject_fields and case.subject is None):
        raise CaseError(_("Trường thông tin chia sẻ không hợp lệ."), "subject_fields")
    relatives = {relative.id for relative in case.subject.relatives} if case.subject is not None else set()
    if not set(data.relative_ids) <= relatives:
        raise CaseError(_("Người thân được chia sẻ không thuộc hồ sơ."), "relative_ids")
    if set(data.relative_fields) - set(SHAREABLE_RELATIVE_FIELDS):
        raise CaseError(_("Trường thông tin chia sẻ không hợp lệ."), "relative_fields")
    # Only what the sender may see themselves: the case's accepted findings and files within
    # their clearance (not another body's unaccepted answer, not a guessed id above them).
    findings = {row.id for row in case_findings(case, by)}
    if not set(data.finding_ids) <= findings:
        raise CaseError(_("Nội dung chia sẻ không thuộc hồ sơ."), "finding_ids")
    attachments = {row.id for row in case_attachments(case, by)}
    if not set(data.attachment_ids) <= attachments:
        raise CaseError(_("Tệp chia sẻ không thuộc hồ sơ."), "attachment_ids")
    request_ = CoordinationRequest(
        id=uuid.uuid4(), case=case, body_unit_id=body.id, state=workflow.COORDINATION.initial, questions=questions,
        due_on=data.due_on, shared_subject_fields=[name for name in SHAREABLE_SUBJECT_FIELDS
                                                   if name in data.subject_fields],
        shared_finding_ids=sorted(str(item) for item in set(data.finding_ids)),
        shared_attachment_ids=sorted(str(item) for item in set(data.attachment_ids)),
        shared_relative_ids=sorted(str(item) for item in set(data.relative_ids)),
        shared_relative_fields=[name for name in SHAREABLE_RELATIVE_FIELDS
                                if name in data.relative_fields] if data.relative_ids else [],
        sent_by_id=by.id, sent_on=today())
    db.session.add(request_)
    stamp(case, "request_sent", by)
    db.session.flush()
    record("coordination.send", target_type="case", target_id=case.id, actor=by, request=request_.id,
           body=body.id, fields=request_.shared_subject_fields, findings=len(request_.shared_finding_ids),
           attachments=len(request_.shared_attachment_ids), relatives=len(request_.shared_relative_ids),
           relative_fields=request_.shared_relative_fields)
    events.request_sent(request_, by=by)
    return request_


def accepts_requests(case: Case) -> bool:
    """Whether the case is at the step in which coordination requests are sent."""
    return case.state in STEP_STATES


def case_requests(case: Case) -> list[CoordinationRequest]:
    return list(db.session.scalars(select(CoordinationRequest).where(CoordinationRequest.case_id == case.id)
                                   .order_by(CoordinationRequest.sent_on, CoordinationRequest.id)))


def load_for_case(case: Case, request_id: uuid.UUID) -> CoordinationRequest:
    request_ = db.session.get(CoordinationRequest, request_id)
    if request_ is None or request_.case_id != case.id:
        policy.deny("case.view", status=404)
    return request_


# What a liaison's request page reads of the case, joined with the request in one statement:
# its classification and reference, the subject and relatives (the package, who findings may
# name) and a petition's named people (recusal). Lazy, each was one more statement.
LIAISON_LOADS = (
    joinedload(CoordinationRequest.case).options(
        joinedload(Case.subject).joinedload(Subject.relatives),
        joinedload(Case.petition).joinedload(Petition.concerned)),
)


def load_for_liaison(request_id: uuid.UUID) -> CoordinationRequest:
    """404 for anything not addressed to the liaison's body (or above their clearance):
    they may not even learn that it exists."""
    request_ = db.session.get(CoordinationRequest, request_id, options=LIAISON_LOADS)
    if request_ is None or not policy.can_respond_to_request(current_user, request_):
        policy.deny("coordination.respond", status=404)
    return request_


def inbox(user: User, order: list | None = None) -> list[CoordinationRequest]:
    """Requests addressed to the liaison's body that they are cleared for, in `order`
    (ORDER BY terms over the request and its case; by due date when none)."""
    rows = db.session.scalars(select(CoordinationRequest).join(Case, CoordinationRequest.case_id == Case.id)
                              .where(CoordinationRequest.body_unit_id == user.unit_id)
                              .options(contains_eager(CoordinationRequest.case))  # the joined case, not one load per row
                              .order_by(*(order or [CoordinationRequest.due_on]))).all()
    return [row for row in rows if policy.cleared_for(user, row.case.classification)
            and not policy.is_recused(user, row.case)]


def shared_relatives(request_: CoordinationRequest, *, for_body: bool = True) -> list[Relative]:
    """The relatives in the package that are still on the subject's dossier, in its order.
    The body sees none once the request is withdrawn; the officer still sees what was sent."""
    case = request_.case
    chosen = set(request_.shared_relative_ids or ())
    if (for_body and request_.state == "withdrawn") or case.subject is None or not chosen:
        return []
    return [relative for relative in case.subject.relatives if str(relative.id) in chosen]


def disclosed_people(request_: CoordinationRequest) -> dict[str, str]:
    """{person key: label} of who the body knows of, and so who its findings may name: the
    subject (by name only when the name was shared) and the relatives in the package."""
    case = request_.case
    if case.subject is None:
        return {}
    if "full_name" in request_.shared_subject_fields and request_.state != "withdrawn":
        people = {"subject": person_label(case.subject)}
    else:
        people = {"subject": _("Đối tượng")}
    people.update((str(relative.id), person_label(relative)) for relative in shared_relatives(request_))
    return people


def liaison_person_labels(request_: CoordinationRequest, findings: list[Finding]) -> dict[uuid.UUID, str]:
    """{finding id: who it is about} as the body may read it: a relative outside the package
    is named as such, never by relation or name."""
    people = disclosed_people(request_)
    labels = {}
    for finding in findings:
        if finding.relative_id:
            labels[finding.id] = people.get(str(finding.relative_id), _("Người thân (không được chia sẻ)"))
        elif finding.subject_id:
            labels[finding.id] = people.get("subject", _("Đối tượng"))
    return labels


def package(request_: CoordinationRequest, user: User) -> dict[str, Any]:
    """What the body may see: the ticked subject fields, relatives, findings and files, no
    more. A withdrawn request shares nothing any longer: the body no longer needs to know."""
    case = request_.case
    if request_.state == "withdrawn":
        return {"subject_fields": [], "relatives": [], "findings": [], "attachments": []}
    subject_values = []
    if case.subject is not None:
        for name in request_.shared_subject_fields:
            subject_values.append((SHAREABLE_SUBJECT_FIELDS[name], _display(name, getattr(case.subject, name))))
    finding_ids = [uuid.UUID(item) for item in request_.shared_finding_ids]
    attachment_ids = [uuid.UUID(item) for item in request_.shared_attachment_ids]
    findings = [row for row in db.session.scalars(select(Finding).where(Finding.id.in_(finding_ids)))
                if policy.cleared_for(user, row.classification)] if finding_ids else []
    attachments = [row for row in db.session.scalars(select(Attachment).where(Attachment.id.in_(attachment_ids)))
                   if policy.cleared_for(user, row.classification)] if attachment_ids else []
    relatives = [(person_label(relative), [(SHAREABLE_RELATIVE_FIELDS[name], _display(name, getattr(relative, name)))
                                           for name in request_.shared_relative_fields or ()
                                           if name in SHAREABLE_RELATIVE_FIELDS])
                 for relative in shared_relatives(request_)]
    return {"subject_fields": subject_values, "relatives": relatives, "findings": findings,
            "attachments": attachments}


def _display(name: str, value: Any) -> str:
    """A subject field as the body reads it: dates dd/mm/yyyy, sex as its label, not its code."""
    if value in (None, ""):
        return "—"
    if name == "sex":
        return sex_label(value)
    if name == "party_member":
        return _("Có") if value else _("Không")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def body_findings(request_: CoordinationRequest) -> list[Finding]:
    return list(db.session.scalars(select(Finding).where(Finding.request_id == request_.id)
                                   .order_by(Finding.created_at)))


def body_attachments(request_: CoordinationRequest) -> list[Attachment]:
    return list(db.session.scalars(select(Attachment).where(Attachment.request_id == request_.id)
                                   .order_by(Attachment.created_at)))


def shared_attachment(request_: CoordinationRequest, attachment_id: uuid.UUID, user: User) -> Attachment:
    """An attachment the liaison may download: in the package, or uploaded with the answer."""
    attachment = db.session.get(Attachment, attachment_id)
    allowed = attachment is not None and attachment.case_id == request_.case_id and (
        (str(attachment.id) in request_.shared_attachment_ids and request_.state != "withdrawn")
        or attachment.request_id == request_.id)
    if not allowed or not policy.cleared_for(user, attachment.classification):
        policy.deny("coordination.respond", status=404)
    return attachment


def check_version(request_: CoordinationRequest, version: Any) -> None:
    if not version_matches(request_, version):
        raise StaleRequest()


def _move(request_: CoordinationRequest, action: str, by: User, **detail) -> None:
    try:
        step = workflow.COORDINATION.transition(request_.state, action, by.role.value)
    except workflow.IllegalTransition:
        raise CaseError(_("Không thể thực hiện thao tác này ở trạng thái hiện tại của yêu cầu.")) from None
    source = request_.state
    request_.state = step.target
    if not workflow.COORDINATION.is_open(step.target):
        request_.closed_at = utcnow()
    stamp(request_.case, f"request_{action}", by, source, step.target)
    db.session.flush()
    record("coordination.transition", target_type="case", target_id=request_.case_id, actor=by,
           request=request_.id, step=action, from_state=source, to_state=step.target, **detail)


def acknowledge(request_: CoordinationRequest, *, by: User) -> None:
    _move(request_, "acknowledge", by)
    request_.acknowledged_at = utcnow()


def log_body_finding(request_: CoordinationRequest, data: FindingData, *, by: User) -> Finding:
    if request_.state not in ("acknowledged", "more_requested"):
        raise CaseError(_("Hãy xác nhận đã nhận yêu cầu trước khi ghi kết quả."), "text")
    if request_.case.kind == "review":
        # The body names only people it was told about: the subject or a relative in the
        # package. Any other id (an undisclosed relative, a guess) is refused here, not
        # only left out of the form.
        data.person = data.person or "subject"
        if data.person not in disclosed_people(request_):
            raise CaseError(_("Chỉ ghi kết quả về đối tượng hoặc người thân được chia sẻ trong yêu cầu."), "person")
    return add_finding(request_.case, data, by=by, request_id=request_.id, accepted=False)


def attach_to_answer(request_: CoordinationRequest, stream: IO[bytes], filename: str | None, classification: str,
                     *, by: User) -> Attachment:
    if request_.state not in ("acknowledged", "more_requested"):
        raise CaseError(_("Hãy xác nhận đã nhận yêu cầu trước khi gửi tệp."), "file")
    return add_attachment(request_.case, stream, filename, classification, by=by, request_id=request_.id)


def answer(request_: CoordinationRequest, text: str, *, by: User) -> None:
    body = (text or "").strip()
    if not body:
        raise CaseError(_("Hãy nhập nội dung trả lời."), "answer")
    _move(request_, "answer", by, findings=len(body_findings(request_)))
    request_.answer = body
    request_.answered_at = utcnow()
    events.request_answered(request_, by=by)


def accept_answer(request_: CoordinationRequest, *, by: User) -> int:
    """The body's findings join the case's findings; returns how many."""
    found = body_findings(request_)
    _move(request_, "accept_answer", by, findings=len(found))
    for finding in found:
        finding.accepted = True
    db.session.flush()
    return len(found)


def request_more(request_: CoordinationRequest, follow_up: str, *, by: User) -> None:
    text = (follow_up or "").strip()
    if not text:
        raise CaseError(_("Hãy nêu nội dung cần bổ sung."), "follow_up")
    _move(request_, "request_more", by)
    request_.follow_up = text


def withdraw(request_: CoordinationRequest, *, by: User) -> None:
    _move(request_, "withdraw", by)


def is_overdue(request_: CoordinationRequest, on: date | None = None) -> bool:
    return workflow.awaiting_liaison(request_.state) and request_.due_on < (on or today())


def being_answered(request_: CoordinationRequest) -> bool:
    """The liaison has taken the request in (or been asked for more) and works on the answer."""
    return any(item.action == "answer" for item in workflow.COORDINATION.actions(request_.state, workflow.LIAISON))


def liaison_role_ok(user: User) -> bool:
    return user.role == Role.LIAISON
