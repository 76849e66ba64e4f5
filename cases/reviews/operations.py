"""Reviews (thẩm định): opening one on a subject of the unit, and whether it is a re-review
(the subject's last approved conclusion has expired). The review's later steps are the case's
(casework) and its conclusion's (conclusions)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import Select, or_, select

from audit.trail import record
from cases import deadlines, numbering, workflow
from cases.casework.operations import CaseError, checked_classification, stamp, today
from cases.conclusions import operations as conclusions
from cases.models import Assignment, Case, Conclusion, Subject
from protection import policy
from protection.db import db
from protection.identity import User

# --- opening a review -------------------------------------------------------------------------

@dataclass
class ReviewData:
    subject_id: uuid.UUID | None
    purpose: str
    classification: str
    title: str | None = None
    summary: str | None = None
    due_on: date | None = None


def open_review(data: ReviewData, *, by: User) -> Case:
    subject = db.session.get(Subject, data.subject_id) if data.subject_id else None
    if subject is None or subject.owner_unit_id not in policy.unit_scope(by) or policy.is_recused(by, subject):
        raise CaseError(_("Hãy chọn một đối tượng trong hồ sơ của đơn vị."), "subject_id")
    if data.purpose not in workflow.REVIEW_PURPOSES:
        raise CaseError(_("Hãy chọn mục đích thẩm định."), "purpose")
    classification = checked_classification(data.classification, by)
    opened = today()
    if data.due_on is not None and data.due_on < opened:
        raise CaseError(_("Hạn xử lý không được trước ngày mở hồ sơ."), "due_on")
    case = Case(id=uuid.uuid4(), reference=numbering.case_reference("review", opened.year), kind="review",
                state=workflow.REVIEW.initial, classification=classification, owner_unit_id=subject.owner_unit_id,
                title=(data.title or "").strip() or _("Thẩm định tiêu chuẩn chính trị"),
                summary=(data.summary or "").strip() or None, subject_id=subject.id, purpose=data.purpose,
                opened_on=opened, deadline_rule="review", deadline_start=opened,
                due_on=data.due_on or deadlines.due("review", opened), created_by_id=by.id)
    db.session.add(case)
    db.session.add(Assignment(id=uuid.uuid4(), case=case, user_id=by.id, assigned_by_id=by.id))
    stamp(case, "opened", by, None, case.state)
    db.session.flush()
    record("case.create", target_type="case", target_id=case.id, actor=by, kind="review", purpose=data.purpose,
           subject=subject.id, classification=classification.value, re_review=needs_re_review(subject, opened))
    return case


# --- re-review ----------------------------------------------------------------------------------

def _last_approved(subject_id: uuid.UUID) -> Select:
    return (select(Conclusion).join(Case, Conclusion.case_id == Case.id)
            .where(Case.subject_id == subject_id, Case.kind == "review", Conclusion.state == "approved")
            .order_by(Conclusion.approved_at.desc()).limit(1))


def last_approved_conclusion(subject_id: uuid.UUID) -> Conclusion | None:
    return db.session.scalars(_last_approved(subject_id)).first()


def _expired(last: Conclusion | None, on: date | None = None) -> bool:
    return last is not None and last.valid_until is not None and last.valid_until < (on or today())


def needs_re_review(subject: Subject, on: date | None = None) -> bool:
    """A subject whose last approved conclusion has expired needs a fresh review (issue 5
    §1); one never concluded is a first review, not a re-review."""
    return _expired(last_approved_conclusion(subject.id), on)


def versions_and_re_review(case: Case) -> tuple[list[Conclusion], bool]:
    """The case's conclusion versions (as conclusions.conclusions) and whether its subject needs
    a re-review (needs_re_review), in one query for the case page: the subject's last approved
    conclusion is fetched with the versions, marked."""
    if case.subject_id is None:
        return conclusions.conclusions(case), False
    last_id = _last_approved(case.subject_id).with_only_columns(Conclusion.id).scalar_subquery()
    rows = db.session.execute(select(Conclusion, (Conclusion.id == last_id).label("last"))
                              .where(or_(Conclusion.case_id == case.id, Conclusion.id == last_id))
                              .order_by(Conclusion.version_number)).all()
    last = next((row for row, is_last in rows if is_last), None)
    return [row for row, _last in rows if row.case_id == case.id], _expired(last)
