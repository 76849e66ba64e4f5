"""Need-to-know beyond assignment: recusal by citizen ID and break-the-glass access.

Recusal: a user's citizen ID is kept only as a blind index computed with the dossiers'
own index key (`citizen_index`), so it can be compared with the subjects and relatives a
case is about without storing the number. policy.is_recused makes the decision.

Break-the-glass: an officer may open an unassigned case of their own unit after typing a
reason. The access lasts HOSO_BREAK_GLASS_HOURS, is flagged on the case, and waits in the
auditors' review queue until one marks it justified or not.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from audit.trail import record
from cases.casework.operations import CaseError, stamp
from cases.models import BreakGlassAccess, Case, Subject
from cases.notifications import events
from protection import index_plans, paging, policy
from protection.clock import utcnow
from protection.crypto import current_keyring
from protection.db import db
from protection.fields import compute_index, index_field
from protection.identity import User
from protection.search import InvalidCitizenId, citizen_id

REASON_MIN_LENGTH = 20
REVIEW_DECISIONS = ("justified", "unjustified")


# --- recusal ----------------------------------------------------------------------------------

def citizen_index(number: str) -> int | None:
    """The blind index of a citizen ID under the subjects' index key; ValueError when the
    text is not a citizen ID."""
    try:
        normalised = citizen_id(number)
    except InvalidCitizenId:
        raise ValueError("not a citizen ID number") from None
    # A length of its own (index_plans.RECUSAL_INDEX): a user's number is never kept, so
    # their index could not be rebuilt when the dossiers' index changes length.
    bits = index_plans.widths(db.session, index_plans.RECUSAL_INDEX, index_plans.RECUSAL_BITS).bits
    return compute_index(current_keyring(), index_field(Subject.id_number_index), [normalised], bits)


# --- break-the-glass --------------------------------------------------------------------------

def break_glass_offer(case: Case | None, user: User) -> Case | None:
    """The case (as operations.find_case loads it), when `user` may not read it but may open
    it in an emergency."""
    if case is None or policy.can_view_case(user, case) or not policy.can_break_glass(user, case):
        return None
    return case


def break_glass(case: Case, reason: str, *, by: User) -> BreakGlassAccess:
    if not policy.can_break_glass(by, case):
        raise CaseError(_("Bạn không thể mở khẩn cấp hồ sơ này."), "reason")
    text = " ".join((reason or "").split())
    if len(text) < REASON_MIN_LENGTH:
        raise CaseError(_("Hãy nêu rõ lý do (ít nhất %(count)d ký tự).", count=REASON_MIN_LENGTH), "reason")
    now = utcnow()
    access = BreakGlassAccess(id=uuid.uuid4(), case=case, case_id=case.id, user_id=by.id, reason=text[:2000],
                              started_at=now,
                              expires_at=now + timedelta(hours=current_app.config["HOSO_BREAK_GLASS_HOURS"]))
    db.session.add(access)
    stamp(case, "break_glass", by)
    db.session.flush()
    record("case.break_glass", target_type="case", target_id=case.id, actor=by, access=access.id,
           hours=current_app.config["HOSO_BREAK_GLASS_HOURS"])
    events.break_glass_started(access, case, by=by)
    return access


def case_accesses(case: Case) -> list[BreakGlassAccess]:
    """The flag on the case: every emergency access, newest first."""
    return list(db.session.scalars(select(BreakGlassAccess).where(BreakGlassAccess.case_id == case.id)
                                   .order_by(BreakGlassAccess.started_at.desc())))


def active_access(case: Case, user: User) -> BreakGlassAccess | None:
    return db.session.scalars(select(BreakGlassAccess).where(
        BreakGlassAccess.case_id == case.id, BreakGlassAccess.user_id == user.id,
        BreakGlassAccess.expires_at > utcnow()).order_by(BreakGlassAccess.expires_at.desc()).limit(1)).first()


# The queue's orders: plain columns only (the stated reason is sealed).
QUEUE_SORTS = {
    "started": (BreakGlassAccess.started_at,),
    "expires": (BreakGlassAccess.expires_at, BreakGlassAccess.started_at),
    "reference": (Case.reference, BreakGlassAccess.started_at),
    "reviewed": (paging.NullsLast(BreakGlassAccess.reviewed_at), BreakGlassAccess.started_at),
}
QUEUE_DEFAULT_SORT = paging.Sort("started", descending=True)


def review_queue(*, pending_only: bool = True, sort: paging.Sort = QUEUE_DEFAULT_SORT,
                 page: int = 1) -> paging.Page:
    statement = (select(BreakGlassAccess).join(Case, BreakGlassAccess.case_id == Case.id)
                 .order_by(*paging.sort_clause(sort, QUEUE_SORTS), BreakGlassAccess.id))
    if pending_only:
        statement = statement.where(BreakGlassAccess.review.is_(None))
    shown = paging.paginate(statement, page)
    record("break_glass.list", target_type="break_glass", pending_only=pending_only, results=len(shown.rows))
    return shown


def load_access(access_id: uuid.UUID) -> BreakGlassAccess:
    access = db.session.get(BreakGlassAccess, access_id)
    if access is None:
        policy.deny("audit.read", status=404)
    return access


def review(access: BreakGlassAccess, decision: str, *, by: User) -> None:
    if decision not in REVIEW_DECISIONS:
        raise CaseError(_("Hãy chọn đánh giá."), "decision")
    if access.review is not None:
        raise CaseError(_("Lượt truy cập này đã được đánh giá."), "decision")
    if access.user_id == by.id:
        raise CaseError(_("Không ai tự đánh giá lượt truy cập của mình."), "decision")
    access.review, access.reviewed_by_id, access.reviewed_at = decision, by.id, utcnow()
    db.session.flush()
    record("break_glass.review", target_type="case", target_id=access.case_id, actor=by, access=access.id,
           decision=decision)
