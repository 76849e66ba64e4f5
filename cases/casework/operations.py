"""Case work: open, move through the workflow, assign, comment, attach, record findings.

Each operation checks the workflow, changes the model, stamps the timeline, records the
audit entry and flushes; none commits (the request is the unit of work). Audit details
name states, fields and counts, never their contents. Petitions, coordination requests
and conclusions have modules of their own that build on these.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import IO

from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from audit.trail import record
from cases import workflow
from cases.models import (
    Assignment,
    Attachment,
    Case,
    Comment,
    ConcernedPerson,
    DeadlineExtension,
    Finding,
    FormSubmission,
    Petition,
    Relative,
    Subject,
    TimelineEvent,
)
from cases.notifications import events
from cases.subjects.relations import relation_label
from protection import index_plans, policy
from protection.blobs import BlobRefused, store_upload
from protection.clock import utcnow
from protection.db import db, insert_or_ignore
from protection.i18n import local_today
from protection.identity import Clearance, Role, User
from protection.marking import mark_page_classification


class CaseError(ValueError):
    """A refusal the user can act on; the message is for them and names no protected value."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class StaleCase(CaseError):
    def __init__(self):
        super().__init__(_("Hồ sơ vừa được người khác thay đổi. Trang đã được tải lại với dữ liệu mới nhất; "
                           "hãy kiểm tra rồi thực hiện lại."))


def today() -> date:
    return local_today()


# --- loading and authorising in one step --------------------------------------------------

CASE_NEEDS = {
    "view": policy.can_view_case,
    "work": policy.can_work_case,
    "assign": policy.can_assign_case,
}


# What the checks and the page read of a case, loaded with it in one statement: its officers
# (every policy check), its subject with the dossier's relatives (findings, recusal), its
# petition with the people it names, where it was forwarded and what it repeats. Joined rather
# than lazy: each lazy load was one more statement per request. The collections multiply rows
# only by a case's few officers (a review has no petition, a petition no subject).
CASE_LOADS = (
    joinedload(Case.assignments),
    joinedload(Case.subject).joinedload(Subject.relatives),
    joinedload(Case.petition).options(joinedload(Petition.concerned).joinedload(ConcernedPerson.subject),
                                      joinedload(Petition.forwarded_to), joinedload(Petition.repeat_of)),
)


def find_case(case_id: uuid.UUID) -> Case | None:
    """The case with what its pages read (CASE_LOADS), unchecked: for load_case and for the
    break-the-glass offer. A view that asks both holds the case between them, so the second
    ask is answered from the session's identity map instead of loading it again."""
    return db.session.get(Case, case_id, options=CASE_LOADS)


def load_case(case_id: uuid.UUID, need: str = "view") -> Case:
    """404 when the user may not know the case exists (another unit's, or classified above
    their clearance: not even its reference may leak), 403 when they may know it but not
    do `need`. Every refusal is recorded by the policy."""
    case = find_case(case_id)
    permission = "case.work" if need == "work" else "case.assign" if need == "assign" else "case.view"
    if (case is None or case.owner_unit_id not in policy.unit_scope(current_user)
            or not policy.cleared_for(current_user, case.classification)
            or not policy.can(current_user, "case.view")):
        policy.deny(permission, status=404)
    if policy.is_recused(current_user, case):
        policy.deny(permission, status=404)  # a person the case is about may not learn of it
    if not CASE_NEEDS[need](current_user, case):
        policy.deny(permission)
    mark_page_classification(case.classification)  # any page about the case shows its marking
    if case.purged_at is not None or (case.archived_on is not None and need != "view"):
        raise CaseReadOnly(case)  # cases/retention_views.py answers it: notice or refusal
    return case


class CaseReadOnly(CaseError):
    """An archived case (read-only) or a purged one (its content destroyed)."""

    def __init__(self, case: Case):
        self.case_id, self.reference, self.purged = case.id, case.reference, case.purged_at is not None
        super().__init__(_("Nội dung hồ sơ này đã bị hủy theo thời hạn lưu trữ.") if self.purged
                         else _("Hồ sơ đã được lưu trữ và chỉ có thể xem; không thể thay đổi."))


def record_case_view(case: Case, part: str = "case") -> None:
    record("case.view", target_type="case", target_id=case.id, part=part)


def version_matches(record, version: int | str | None) -> bool:
    """Optimistic locking: the version a form was drawn from is still the record's."""
    try:
        return int(version) == record.version
    except (TypeError, ValueError):
        return False


def check_version(case: Case, version: int | str | None) -> None:
    if not version_matches(case, version):
        raise StaleCase()


# --- double submits ------------------------------------------------------------------------

PENDING = "pending"


def earlier_submission(token: str | None, user: User) -> FormSubmission | None:
    """Claim a create form's one-time token; return the record an earlier submit of the
    same form created, if any.

    The claim is a row inserted at once (INSERT ... ON CONFLICT DO NOTHING), so two submits
    racing each other queue on it: on PostgreSQL the second waits until the first commits
    and then finds its result; on SQLite BEGIN IMMEDIATE already runs them one after the
    other. A claim whose form was refused stays "pending" and the corrected form proceeds.
    """
    if not token:
        return None
    token = token[:64]
    insert_or_ignore(db.session, FormSubmission, token=token, user_id=user.id, target_type=PENDING,
                     target_id=uuid.UUID(int=0), created_at=utcnow())
    claim = db.session.execute(select(FormSubmission).where(FormSubmission.token == token).with_for_update()
                               .execution_options(populate_existing=True)).scalar_one()
    if claim.user_id != user.id or claim.target_type == PENDING:
        return None
    return claim


def created_by(claim: FormSubmission) -> Case | None:
    """The case a create form's earlier submit (its claimed token) created."""
    return db.session.get(Case, claim.target_id)


def submitted_with(token: str | None, user: User) -> Case | None:
    """The case an earlier submit of this form (its one-time token) created, without
    claiming the token: for a form page opened again with it (the browser's Back)."""
    if not token:
        return None
    claim = db.session.get(FormSubmission, token[:64])
    if claim is None or claim.user_id != user.id or claim.target_type != "case":
        return None
    return db.session.get(Case, claim.target_id)


def remember_submission(token: str | None, user: User, target_type: str, target_id: uuid.UUID) -> None:
    if not token:
        return
    claim = db.session.get(FormSubmission, token[:64])
    if claim is None:
        db.session.add(FormSubmission(token=token[:64], user_id=user.id, target_type=target_type,
                                      target_id=target_id))
    elif claim.user_id == user.id:
        claim.target_type, claim.target_id = target_type, target_id


# --- timeline and transitions -----------------------------------------------------------------

def stamp(case: Case, event: str, by: User | None, from_state: str | None = None,
          to_state: str | None = None) -> TimelineEvent:
    item = TimelineEvent(id=uuid.uuid4(), case_id=case.id, actor_id=by.id if by else None, event=event,
                         from_state=from_state, to_state=to_state, at=utcnow())
    db.session.add(item)
    return item


def transition(case: Case, action: str, *, by: User, **detail) -> str:
    """Move `case` by `action` as the workflow table allows; returns the new state."""
    flow = workflow.CASE_WORKFLOWS[case.kind]
    try:
        step = flow.transition(case.state, action, by.role.value if by else None)
    except workflow.IllegalTransition:
        raise CaseError(_("Không thể thực hiện thao tác này ở trạng thái hiện tại của hồ sơ.")) from None
    source = case.state
    case.state = step.target
    if not flow.is_open(step.target):
        case.closed_on = today()
    elif case.closed_on is not None:
        case.closed_on = None
    stamp(case, action, by, source, step.target)
    db.session.flush()
    record("case.transition", target_type="case", target_id=case.id, actor=by, step=action,
           from_state=source, to_state=step.target, **detail)
    return step.target


# --- the classification a user may set -------------------------------------------------------

def checked_classification(value: str, by: User) -> Clearance:
    """The classification level a user sets on something they record: a known level, and
    never above their own clearance."""
    try:
        level = Clearance(value)
    except ValueError:
        raise CaseError(_("Độ mật không hợp lệ."), "classification") from None
    if not Clearance(by.clearance).covers(level):
        raise CaseError(_("Không thể đặt độ mật cao hơn mức được tiếp cận của bạn."), "classification")
    return level


# --- assignment -------------------------------------------------------------------------------

def assign(case: Case, officer: User, *, by: User) -> None:
    if officer.role != Role.OFFICER or not officer.active:
        raise CaseError(_("Chỉ phân công được cán bộ thẩm định đang hoạt động."), "officer")
    if officer.unit_id not in policy.unit_scope(by) or officer.unit_id != case.owner_unit_id:
        raise CaseError(_("Cán bộ phải thuộc đơn vị quản lý hồ sơ."), "officer")
    if not policy.cleared_for(officer, case.classification):
        raise CaseError(_("Cán bộ này không được tiếp cận hồ sơ ở độ mật này."), "officer")
    if policy.is_recused(officer, case):
        # Said without the reason: the supervisor need not learn who is related to whom.
        raise CaseError(_("Cán bộ này không thể được phân công cho hồ sơ này (tránh xung đột lợi ích)."), "officer")
    if policy.is_assigned(officer, case):
        raise CaseError(_("Cán bộ này đã được phân công."), "officer")
    assignment = Assignment(id=uuid.uuid4(), case=case, user_id=officer.id, assigned_by_id=by.id)
    db.session.add(assignment)
    stamp(case, "assigned", by)
    case.updated_at = utcnow()
    db.session.flush()
    record("case.assign", target_type="case", target_id=case.id, actor=by, officer=officer.id)
    events.case_assigned(case, assignment, by=by)


def unassign(case: Case, officer_id: uuid.UUID, *, by: User) -> None:
    assignment = next((item for item in case.assignments if item.user_id == officer_id), None)
    if assignment is None:
        raise CaseError(_("Cán bộ này không được phân công cho hồ sơ."), "officer")
    if len(case.assignments) == 1:
        raise CaseError(_("Hồ sơ phải còn ít nhất một cán bộ được phân công."), "officer")
    case.assignments.remove(assignment)
    stamp(case, "unassigned", by)
    case.updated_at = utcnow()
    db.session.flush()
    record("case.unassign", target_type="case", target_id=case.id, actor=by, officer=officer_id)


def assignable_officers(case: Case) -> list[User]:
    users = db.session.scalars(select(User).where(User.unit_id == case.owner_unit_id, User.role == Role.OFFICER,
                                                  User.active.is_(True)).order_by(User.display_name)).all()
    assigned = {item.user_id for item in case.assignments}
    people = case.people_indexes()
    return [user for user in users if user.id not in assigned and policy.cleared_for(user, case.classification)
            and not index_plans.same_person(db.session, user.citizen_index, people)]


# --- comments, attachments, findings -----------------------------------------------------------

def add_comment(case: Case, body: str, *, by: User) -> Comment:
    text = (body or "").strip()
    if not text:
        raise CaseError(_("Hãy nhập nội dung ý kiến."), "body")
    if len(text) > 10000:
        raise CaseError(_("Ý kiến dài quá 10.000 ký tự."), "body")
    comment = Comment(id=uuid.uuid4(), case=case, author_id=by.id, body=text)
    db.session.add(comment)
    stamp(case, "commented", by)
    db.session.flush()
    record("case.comment", target_type="case", target_id=case.id, actor=by, comment=comment.id)
    return comment


def add_attachment(case: Case, stream: IO[bytes], filename: str | None, classification: str, *, by: User,
                   request_id: uuid.UUID | None = None) -> Attachment:
    level = checked_classification(classification, by)
    if level.rank > Clearance(case.classification).rank:
        raise CaseError(_("Tệp không thể có độ mật cao hơn hồ sơ."), "classification")
    try:
        blob = store_upload(stream, filename, owner=case)
    except BlobRefused as refused:
        raise CaseError(refused.message, "file") from None
    attachment = Attachment(id=uuid.uuid4(), case_id=case.id, blob=blob, classification=level,
                            uploaded_by_id=by.id, request_id=request_id)
    db.session.add(attachment)
    stamp(case, "attachment_added", by)
    db.session.flush()
    record("attachment.upload", target_type="case", target_id=case.id, actor=by, attachment=attachment.id,
           size=blob.size, content_type=blob.content_type, request=request_id)
    return attachment


def case_attachments(case: Case, user: User) -> list[Attachment]:
    rows = db.session.scalars(select(Attachment).where(Attachment.case_id == case.id)
                              .order_by(Attachment.created_at)).all()
    return [row for row in rows if policy.cleared_for(user, row.classification)]


def load_attachment(case: Case, attachment_id: uuid.UUID, user: User) -> Attachment:
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.case_id != case.id or not policy.cleared_for(user, attachment.classification):
        policy.deny("case.view", status=404)
    return attachment


@dataclass
class FindingData:
    person: str  # "subject" or a relative's id
    category: str
    text: str
    classification: str
    source: str | None = None
    found_on: date | None = None


def finding_people(case: Case) -> list[tuple[str, Subject | Relative]]:
    """Who a finding can be about: the subject of a review and the relatives on the dossier."""
    if case.subject is None:
        return []
    return [("subject", case.subject)] + [(str(relative.id), relative) for relative in case.subject.relatives]


def person_label(person: Subject | Relative) -> str:
    """How a finding names the person it is about: "Đối tượng: name" or "Cha: name"."""
    if isinstance(person, Subject):
        return _("Đối tượng: %(name)s", name=person.full_name)
    return f"{relation_label(person.relation)}: {person.full_name}"


def finding_person_labels(case: Case, findings: list[Finding]) -> dict[uuid.UUID, str]:
    """{finding id: who it is about}, for the case's own officers and supervisors. A finding
    about nobody in particular (a petition's) has no entry."""
    people = {key: person_label(person) for key, person in finding_people(case)}
    labels = {}
    for finding in findings:
        key = str(finding.relative_id) if finding.relative_id else "subject" if finding.subject_id else None
        if key is not None:
            labels[finding.id] = people.get(key, _("Người thân đã xóa khỏi hồ sơ"))
    return labels


def _finding_values(case: Case, data: FindingData, by: User) -> dict:
    person_ids = dict(finding_people(case))
    if case.kind == "review" and data.person not in person_ids:
        raise CaseError(_("Hãy chọn người được ghi nhận: đối tượng hoặc một người thân trong hồ sơ."), "person")
    if data.category not in workflow.FINDING_CATEGORIES:
        raise CaseError(_("Hãy chọn loại nội dung."), "category")
    text = (data.text or "").strip()
    if not text:
        raise CaseError(_("Hãy nhập nội dung ghi nhận."), "text")
    level = checked_classification(data.classification, by)
    if level.rank > Clearance(case.classification).rank:
        raise CaseError(_("Nội dung không thể có độ mật cao hơn hồ sơ."), "classification")
    if data.found_on is not None and data.found_on > today():
        raise CaseError(_("Ngày ghi nhận không được ở tương lai."), "found_on")
    subject_id = case.subject_id if data.person == "subject" else None
    relative_id = uuid.UUID(data.person) if data.person in person_ids and data.person != "subject" else None
    return {"subject_id": subject_id, "relative_id": relative_id, "category": data.category, "text": text,
            "classification": level, "source": (data.source or "").strip() or None, "found_on": data.found_on}


def add_finding(case: Case, data: FindingData, *, by: User, request_id: uuid.UUID | None = None,
                accepted: bool = True) -> Finding:
    finding = Finding(id=uuid.uuid4(), case=case, author_id=by.id, request_id=request_id, accepted=accepted,
                      **_finding_values(case, data, by))
    db.session.add(finding)
    stamp(case, "finding_added", by)
    db.session.flush()
    record("finding.create", target_type="case", target_id=case.id, actor=by, finding=finding.id,
           category=finding.category, classification=finding.classification.value, request=request_id,
           relative=finding.relative_id)  # an id: who it is about, without naming them
    return finding


def case_findings(case: Case, user: User) -> list[Finding]:
    """The case's findings the user is cleared for; a body's findings appear once the
    officer accepts its answer."""
    rows = db.session.scalars(select(Finding).where(Finding.case_id == case.id, Finding.accepted.is_(True))
                              .order_by(Finding.created_at)).all()
    return [row for row in rows if policy.cleared_for(user, row.classification)]


def timeline(case: Case) -> list[TimelineEvent]:
    return list(db.session.scalars(select(TimelineEvent).where(TimelineEvent.case_id == case.id)
                                   .order_by(TimelineEvent.at, TimelineEvent.id)))


def timeline_and_extensions(case: Case) -> tuple[list[TimelineEvent], dict[uuid.UUID, DeadlineExtension]]:
    """The timeline, and the case's deadline extensions by their timeline event (as
    petitions.extensions_of, reasons decrypted for the case page): one query, the extensions
    joined to the events they belong to."""
    if not case.extensions:
        return timeline(case), {}
    rows = db.session.execute(select(TimelineEvent, DeadlineExtension)
                              .outerjoin(DeadlineExtension, DeadlineExtension.event_id == TimelineEvent.id)
                              .where(TimelineEvent.case_id == case.id)
                              .order_by(TimelineEvent.at, TimelineEvent.id)).all()
    return [event for event, _extension in rows], {event.id: extension for event, extension in rows if extension}


def comments(case: Case) -> list[Comment]:
    return list(db.session.scalars(select(Comment).where(Comment.case_id == case.id).order_by(Comment.created_at)))


def change_due_date(case: Case, due_on: date | None, *, by: User) -> None:
    if due_on is None:
        raise CaseError(_("Hãy nhập hạn xử lý."), "due_on")
    if due_on < case.opened_on:
        raise CaseError(_("Hạn xử lý không được trước ngày mở hồ sơ."), "due_on")
    if case.kind == "petition":
        raise CaseError(_("Hạn xử lý đơn thư tính theo quy định; hãy dùng gia hạn."), "due_on")
    case.due_on = due_on
    stamp(case, "due_changed", by)
    db.session.flush()
    record("case.due_change", target_type="case", target_id=case.id, actor=by, due_on=due_on.isoformat())
