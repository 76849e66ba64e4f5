"""Conclusions: drafted and submitted by the assigned officer, returned or approved by a
supervisor of the owning unit who is not the author (four eyes), after re-entering their
password or a TOTP code. Approval numbers the document, fixes its validity, signs it
(Ed25519) and makes it immutable; a correction is a new version that points at the old.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, has_request_context
from flask_babel import gettext as _
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from audit.trail import record
from cases import numbering, workflow
from cases.casework.operations import CaseError, stamp, today, transition
from cases.conclusions import rules, signing
from cases.models import Case, Conclusion
from cases.notifications import events
from protection import accounts
from protection.clock import utcnow
from protection.db import db
from protection.i18n import local_date
from protection.identity import User


class ImmutableConclusion(RuntimeError):
    """Raised at flush when an approved conclusion would change: the services never try,
    so reaching this is a bug, and the transaction is rolled back."""


@dataclass
class ConclusionData:
    outcome: str
    reasoning: str
    admission_eligible: bool | None = None


def conclusions(case: Case) -> list[Conclusion]:
    return list(db.session.scalars(select(Conclusion).where(Conclusion.case_id == case.id)
                                   .order_by(Conclusion.version_number)))


def current(case: Case) -> Conclusion | None:
    """The latest version: the one being worked on, or the one in force."""
    return db.session.scalars(select(Conclusion).where(Conclusion.case_id == case.id)
                              .order_by(Conclusion.version_number.desc()).limit(1)).first()


def superseded_by(versions: list[Conclusion]) -> dict[uuid.UUID, Conclusion]:
    """{approved version id: the approved correction that replaces it}. Approved rows never
    change, so "superseded" is read from the chain (a later approved version pointing at
    it), not stored; a correction still in draft replaces nothing yet."""
    return {item.previous_id: item for item in versions if item.state == "approved" and item.previous_id}


def awaiting_decision(case: Case) -> Conclusion | None:
    """The submitted conclusion a supervisor is to approve or return, if there is one."""
    submitted = current(case)
    return submitted if rules.awaiting_approval(case, submitted) else None


def replacement_of(conclusion: Conclusion) -> Conclusion | None:
    """The approved correction that replaces `conclusion`, if there is one."""
    return db.session.scalars(select(Conclusion).where(Conclusion.previous_id == conclusion.id,
                                                       Conclusion.state == "approved").limit(1)).first()


def _validated(case: Case, data: ConclusionData) -> dict:
    if data.outcome not in workflow.CONCLUSION_OUTCOMES:
        raise CaseError(_("Hãy chọn kết luận."), "outcome")
    reasoning = (data.reasoning or "").strip()
    if not reasoning:
        raise CaseError(_("Hãy nêu căn cứ, lý do của kết luận."), "reasoning")
    eligible = data.admission_eligible
    if case.kind == "review" and case.purpose == "party_admission" and data.outcome != "not_concluded":
        if eligible is None:
            raise CaseError(_("Với hồ sơ kết nạp Đảng, hãy kết luận đủ hay không đủ điều kiện."),
                            "admission_eligible")
    else:
        eligible = None
    return {"outcome": data.outcome, "reasoning": reasoning, "admission_eligible": eligible}


def save_draft(case: Case, data: ConclusionData, *, by: User) -> Conclusion:
    """Create the draft, or revise it while it is a draft or has been returned."""
    if not rules.drafting(case):
        raise CaseError(_("Chỉ soạn kết luận khi hồ sơ ở bước kết luận."), "outcome")
    values = _validated(case, data)
    draft = current(case)
    if draft is None or draft.state == "approved":
        previous = draft
        draft = Conclusion(id=uuid.uuid4(), case=case, case_id=case.id,
                           version_number=(previous.version_number + 1) if previous else 1,
                           previous_id=previous.id if previous else None, state=workflow.CONCLUSION.initial,
                           author_id=by.id, **values)
        db.session.add(draft)
        changed = sorted(values)
        action = "conclusion.create"
    elif rules.in_revision(draft):
        changed = [name for name, value in values.items() if getattr(draft, name) != value]
        for name in changed:
            setattr(draft, name, values[name])
        draft.author_id = by.id
        action = "conclusion.update"
    else:
        raise CaseError(_("Kết luận đã trình, đang chờ phê duyệt."), "outcome")
    stamp(case, "conclusion_saved", by)
    db.session.flush()
    record(action, target_type="case", target_id=case.id, actor=by, conclusion=draft.id,
           version=draft.version_number, fields=changed)
    return draft


def _move(conclusion: Conclusion, action: str, by: User) -> None:
    try:
        step = workflow.CONCLUSION.transition(conclusion.state, action, by.role.value)
    except workflow.IllegalTransition:
        raise CaseError(_("Không thể thực hiện thao tác này ở trạng thái hiện tại của kết luận.")) from None
    conclusion.state = step.target


def submit(case: Case, *, by: User) -> Conclusion:
    draft = current(case)
    if not rules.in_revision(draft):
        raise CaseError(_("Chưa có dự thảo kết luận để trình."), "outcome")
    _move(draft, "submit", by)
    draft.submitted_at = utcnow()
    transition(case, "submit_conclusion", by=by, conclusion=draft.id)
    events.conclusion_submitted(case, draft, by=by)
    return draft


def return_for_revision(case: Case, comment: str, *, by: User) -> Conclusion:
    submitted = current(case)
    if submitted is None or submitted.state != "submitted":
        raise CaseError(_("Không có kết luận nào đang chờ phê duyệt."), "comment")
    if not rules.can_approve_conclusion(by, case, submitted):
        raise CaseError(_("Bạn không thể xử lý kết luận do chính mình soạn."), "comment")
    text = (comment or "").strip()
    if not text:
        raise CaseError(_("Hãy ghi ý kiến để cán bộ chỉnh sửa."), "comment")
    _move(submitted, "return", by)
    submitted.return_comment = text
    transition(case, "return_conclusion", by=by, conclusion=submitted.id)
    events.conclusion_returned(case, submitted, by=by)
    return submitted


def approve(case: Case, secret: str, *, by: User, assertion: str | None = None) -> Conclusion:
    """Approve the submitted conclusion once its approver confirmed who they are: password,
    TOTP code, or a security key's assertion made for approving this very conclusion."""
    submitted = current(case)
    if submitted is None or submitted.state != "submitted":
        raise CaseError(_("Không có kết luận nào đang chờ phê duyệt."), "secret")
    if not rules.can_approve_conclusion(by, case, submitted):
        record("conclusion.approve", target_type="case", target_id=case.id, actor=by, outcome="denied",
               conclusion=submitted.id, reason="own_conclusion")
        raise CaseError(_("Không ai được phê duyệt kết luận do chính mình soạn."), "secret")
    try:
        # A refusal is counted, limited and audited there; LockedOut goes up to the web layer.
        accounts.confirm_identity(by, secret, purpose="conclusion_approval", target=str(submitted.id),
                                  assertion=assertion)
    except accounts.AccountError as error:
        record("conclusion.approve", target_type="case", target_id=case.id, actor=by, outcome="failure",
               conclusion=submitted.id, reason="reauth_failed")
        raise CaseError(error.message, "secret") from None
    return _approve(case, submitted, by=by)


def approve_unattended(case: Case, *, by: User, at: datetime | None = None) -> Conclusion:
    """Approval by the demo seeder (`flask demo`, a command the operator runs): the same
    four eyes as approve(), without re-entering a password, for there is nobody at a prompt.
    `at` dates an approval given in the past, for fictional history (cases/demo/seed.py).
    Refused inside a request: a person approving always confirms who they are."""
    if has_request_context():
        raise RuntimeError("approve_unattended is for the command line only")
    submitted = current(case)
    if not rules.can_approve_conclusion(by, case, submitted):
        raise CaseError(_("Không ai được phê duyệt kết luận do chính mình soạn."), "secret")
    return _approve(case, submitted, by=by, at=at)


def _approve(case: Case, submitted: Conclusion, *, by: User, at: datetime | None = None) -> Conclusion:
    """The approval itself, once four eyes (and, for a person, re-authentication) have been
    checked: number, validity, signature, state. `at` None means now."""
    # Everything the signature covers is set while the row is still "submitted"; the state
    # changes last, so the immutability guard never sees an approved row being completed
    # (an autoflush in between would otherwise freeze it half-done).
    try:
        step = workflow.CONCLUSION.transition(submitted.state, "approve", by.role.value)
    except workflow.IllegalTransition:
        raise CaseError(_("Không thể thực hiện thao tác này ở trạng thái hiện tại của kết luận.")) from None
    approved_at = at or utcnow()
    if at is None:
        approved_on = today()
    else:
        approved_on = local_date(approved_at)
    submitted.approver_id = by.id
    submitted.approved_at = approved_at
    submitted.document_number = numbering.document_number(case.owner_unit, approved_on.year)
    submitted.valid_until = workflow.add_months(approved_on, current_app.config["HOSO_CONCLUSION_VALIDITY_MONTHS"])
    submitted.signature, submitted.signing_key_id = signing.sign(submitted, case)
    submitted.state = step.target
    transition(case, "approve_conclusion", by=by, conclusion=submitted.id)
    record("conclusion.approve", target_type="case", target_id=case.id, actor=by, conclusion=submitted.id,
           version=submitted.version_number, outcome_category=submitted.outcome)
    events.conclusion_approved(case, submitted, by=by)
    return submitted


def start_correction(case: Case, *, by: User) -> None:
    """Reopen a closed case so that a corrected version can be drafted and approved."""
    last = current(case)
    if last is None or last.state != "approved":
        raise CaseError(_("Chỉ đính chính kết luận đã được phê duyệt."))
    transition(case, "start_correction", by=by, conclusion=last.id)


def verified(conclusion: Conclusion) -> bool:
    return signing.verify(conclusion, conclusion.case)


# --- immutability guard -------------------------------------------------------------------

_FROZEN = ("outcome", "admission_eligible", "reasoning", "document_number", "valid_until", "approver_id",
           "approved_at", "signature", "signing_key_id", "version_number", "previous_id", "case_id", "author_id",
           "state")


@event.listens_for(Session, "before_flush")
def _refuse_changes_to_approved(session: Session, _context, _instances) -> None:
    for item in list(session.dirty) + list(session.deleted):
        if not isinstance(item, Conclusion):
            continue
        state = inspect(item)
        was_approved = state.attrs.state.history.deleted == ["approved"] or (
            item.state == "approved" and not state.attrs.state.history.has_changes())
        if not was_approved:
            continue
        if item in session.deleted or any(state.attrs[name].history.has_changes() for name in _FROZEN):
            raise ImmutableConclusion(f"approved conclusion {item.id} cannot change")
