"""Two-person release of a petitioner's identity (issue 23).

Whoever sends a petition, a denunciation above all, is protected from the people it names:
nobody opens the petitioner's identity on their own. The officer who handles the petition
asks, with a reason; M supervisors above the case who are not the asker approve, each after
re-authenticating (M by petition type, HOSO_IDENTITY_RELEASE_APPROVALS); the identity then
opens for that officer and that petition only, for HOSO_IDENTITY_RELEASE_HOURS. An ask not
fully approved within the same hours lapses. Every ask, approval, refusal, withdrawal,
expiry and view is audited, and auditors review each release beside break-the-glass
accesses.

`expires_at` is the moment the row stops counting, whatever its state: the ask's deadline
while it waits, the end of the release once given. An expiry is recorded when it is noticed
(any read of the row: the asker's page, the approvers' list, the case page, the auditors'
queue) and by `notify send-due`, so the trail holds it even when nobody looks.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from flask import Flask, current_app, has_request_context
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import contains_eager, selectinload

from audit.trail import record
from cases import workflow
from cases.casework.operations import CaseError
from cases.models import Case, IdentityRelease, IdentityReleaseApproval
from cases.notifications import events
from protection import accounts, paging, policy
from protection.clock import utcnow
from protection.db import db
from protection.identity import User
from protection.settings import ConfigurationError

REASON_MIN_LENGTH = 20
NOTE_MAX_LENGTH = 2000
OPEN_STATES = ("asked", "released")
STATES = ("asked", "released", "refused", "withdrawn", "expired")
REVIEW_DECISIONS = ("justified", "unjustified")


# --- settings ---------------------------------------------------------------------------------

def check_approvals_setting(app: Flask) -> None:
    """Start-up: every petition type HOSO_IDENTITY_RELEASE_APPROVALS names must be one of
    ours (a misspelt "denunciaton=2" would otherwise leave denunciations at the default)."""
    unknown = sorted(set(app.config["HOSO_IDENTITY_RELEASE_APPROVALS"]) - {"*", *workflow.PETITION_TYPES})
    if unknown:
        raise ConfigurationError(f"HOSO_IDENTITY_RELEASE_APPROVALS: unknown petition type {', '.join(unknown)} "
                                 f"(known: {', '.join(workflow.PETITION_TYPES)}, *)")


def required_approvals(petition_type: str) -> int:
    counts = current_app.config["HOSO_IDENTITY_RELEASE_APPROVALS"]
    return counts.get(petition_type, counts.get("*", 1))


def _hours() -> timedelta:
    return timedelta(hours=current_app.config["HOSO_IDENTITY_RELEASE_HOURS"])


# --- expiry -----------------------------------------------------------------------------------

def _lapse(release: IdentityRelease, now: datetime, *, by: User | None = None) -> bool:
    if release.state not in OPEN_STATES or release.expires_at is None or release.expires_at > now:
        return False
    was = release.state
    release.state, release.closed_at = "expired", now
    db.session.flush()
    record("identity_release.expire", target_type="case", target_id=release.case_id, actor=by,
           release=release.id, was=was, asker=release.requested_by_id)
    return True


def expire_lapsed(*, case: Case | None = None, by: User | None = None) -> int:
    """Record the expiry of every ask or release past its time (of one case, or all): the
    number expired. `by` is whoever's read noticed it (None for the periodic run)."""
    now = utcnow()
    statement = select(IdentityRelease).where(IdentityRelease.state.in_(OPEN_STATES),
                                              IdentityRelease.expires_at <= now)
    if case is not None:
        statement = statement.where(IdentityRelease.case_id == case.id)
    lapsed = db.session.scalars(statement.order_by(IdentityRelease.expires_at)).all()
    return sum(_lapse(release, now, by=by) for release in lapsed)


# --- asking -----------------------------------------------------------------------------------

def asks_of(case: Case, user: User) -> list[IdentityRelease]:
    """The user's own asks on this petition, newest first (expiries recorded first)."""
    expire_lapsed(case=case, by=user)
    return list(db.session.scalars(select(IdentityRelease).where(
        IdentityRelease.case_id == case.id, IdentityRelease.requested_by_id == user.id)
        .options(selectinload(IdentityRelease.approvals)).order_by(IdentityRelease.requested_at.desc())))


def can_ask(case: Case, user: User) -> bool:
    return case.kind == "petition" and not case.petition.anonymous and policy.can_see_petitioner(user, case)


def ask(case: Case, reason: str, *, by: User) -> IdentityRelease:
    if not can_ask(case, by):
        if case.kind == "petition" and case.petition.anonymous:
            raise CaseError(_("Đơn không ký tên: không có danh tính người gửi để mở."), "reason")
        record("identity_release.ask", target_type="case", target_id=case.id, actor=by, outcome="denied",
               reason="not_handling")
        raise CaseError(_("Chỉ cán bộ được giao xử lý đơn hoặc lãnh đạo phụ trách mới được đề nghị mở danh tính "
                          "người gửi đơn."), "reason")
    text = " ".join((reason or "").split())
    if len(text) < REASON_MIN_LENGTH:
        raise CaseError(_("Hãy nêu rõ lý do (ít nhất %(count)d ký tự).", count=REASON_MIN_LENGTH), "reason")
    if any(item.state in OPEN_STATES for item in asks_of(case, by)):
        raise CaseError(_("Bạn đã có một đề nghị mở danh tính đơn này đang chờ phê duyệt hoặc đang còn hiệu lực."),
                        "reason")
    now = utcnow()
    release = IdentityRelease(id=uuid.uuid4(), case=case, case_id=case.id, requested_by_id=by.id,
                              reason=text[:NOTE_MAX_LENGTH], requested_at=now,
                              required_approvals=required_approvals(case.petition.petition_type), state="asked",
                              expires_at=now + _hours())
    db.session.add(release)
    db.session.flush()
    record("identity_release.ask", target_type="case", target_id=case.id, actor=by, release=release.id,
           required=release.required_approvals, petition_type=case.petition.petition_type)
    events.identity_release_asked(release, case, by=by)
    return release


def withdraw(release: IdentityRelease, *, by: User) -> None:
    if release.requested_by_id != by.id:
        record("identity_release.withdraw", target_type="case", target_id=release.case_id, actor=by,
               outcome="denied", release=release.id, reason="not_asker")
        raise CaseError(_("Chỉ người đề nghị mới rút được đề nghị của mình."))
    if _lapse(release, utcnow(), by=by):
        raise CaseError(_("Đề nghị này đã hết hạn."))
    if release.state != "asked":
        raise CaseError(_("Đề nghị này không còn chờ phê duyệt."))
    release.state, release.closed_by_id, release.closed_at = "withdrawn", by.id, utcnow()
    db.session.flush()
    record("identity_release.withdraw", target_type="case", target_id=release.case_id, actor=by, release=release.id)


# --- approving and refusing ---------------------------------------------------------------------

def _decidable(release: IdentityRelease, case: Case, by: User, action: str, field: str) -> None:
    """The checks an approval and a refusal share; each refusal is an access attempt,
    audited with why."""
    if _lapse(release, utcnow(), by=by):
        _turn_down(action, release, by, field, "expired", _(
            "Đề nghị này đã hết hạn: quá %(hours)d giờ mà chưa đủ phê duyệt. Cán bộ cần đề nghị lại.",
            hours=current_app.config["HOSO_IDENTITY_RELEASE_HOURS"]))
    if release.state != "asked":
        _turn_down(action, release, by, field, "not_waiting", _("Đề nghị này không còn chờ phê duyệt."))
    if release.requested_by_id == by.id:
        _turn_down(action, release, by, field, "own_ask", _("Không ai được tự phê duyệt đề nghị của chính mình."))
    if not policy.can_approve_identity_release(by, case, release):
        _turn_down(action, release, by, field, "not_approver", _(
            "Bạn không thể phê duyệt đề nghị này (ngoài phạm vi phụ trách, không đủ độ mật hoặc phải tránh vì có "
            "liên quan)."))
    if any(approval.approver_id == by.id for approval in release.approvals):
        _turn_down(action, release, by, field, "already_approved",
                   _("Bạn đã phê duyệt đề nghị này; cần một lãnh đạo khác phê duyệt tiếp."))


def _turn_down(action: str, release: IdentityRelease, by: User, field: str, reason: str, message: str) -> None:
    record(action, target_type="case", target_id=release.case_id, actor=by, outcome="denied", release=release.id,
           reason=reason)
    raise CaseError(message, field)


def confirm_approver(by: User, release: IdentityRelease, secret: str, assertion: str | None) -> None:
    """Re-authentication for an approval: the password, a code, or a security key whose
    answer was made for approving this very release. A refusal is counted, limited and
    audited by accounts; LockedOut goes up to the web layer."""
    accounts.confirm_identity(by, secret, purpose="identity_release_approval", target=str(release.id),
                              assertion=assertion)


def approve(release: IdentityRelease, secret: str, *, by: User, assertion: str | None = None) -> IdentityRelease:
    case = release.case
    _decidable(release, case, by, "identity_release.approve", "secret")
    try:
        confirm_approver(by, release, secret, assertion)
    except accounts.AccountError as error:
        record("identity_release.approve", target_type="case", target_id=case.id, actor=by, outcome="failure",
               release=release.id, reason="reauth_failed")
        raise CaseError(error.message, "secret") from None
    return _approve(release, case, by=by)


def approve_unattended(release: IdentityRelease, *, by: User) -> IdentityRelease:
    """Approval by the demo seeder (`flask demo`, run by the operator): the same two-person
    rules as approve(), without a password prompt, for nobody is at one. Refused inside a
    request: a person approving always confirms who they are."""
    if has_request_context():
        raise RuntimeError("approve_unattended is for the command line only")
    _decidable(release, release.case, by, "identity_release.approve", "secret")
    return _approve(release, release.case, by=by)


def _approve(release: IdentityRelease, case: Case, *, by: User) -> IdentityRelease:
    now = utcnow()
    release.approvals.append(IdentityReleaseApproval(id=uuid.uuid4(), release_id=release.id, approver_id=by.id,
                                                     approved_at=now))
    released = len(release.approvals) >= release.required_approvals
    if released:
        release.state, release.released_at, release.expires_at = "released", now, now + _hours()
    db.session.flush()
    record("identity_release.approve", target_type="case", target_id=case.id, actor=by, release=release.id,
           approvals=len(release.approvals), required=release.required_approvals, released=released,
           until=release.expires_at.isoformat() if released else None)
    if released:
        events.identity_release_decided(release, case, by=by)
    return release


def refuse(release: IdentityRelease, note: str | None, *, by: User) -> IdentityRelease:
    case = release.case
    _decidable(release, case, by, "identity_release.refuse", "note")
    text = (note or "").strip()[:NOTE_MAX_LENGTH] or None
    release.state, release.closed_by_id, release.closed_at, release.refusal = "refused", by.id, utcnow(), text
    db.session.flush()
    record("identity_release.refuse", target_type="case", target_id=case.id, actor=by, release=release.id,
           with_note=text is not None)
    events.identity_release_decided(release, case, by=by)
    return release


def load(case: Case, release_id: uuid.UUID, *, need: str) -> IdentityRelease:
    """A release of this petition; 404 (audited) for one of another petition or none."""
    release = db.session.get(IdentityRelease, release_id)
    if release is None or release.case_id != case.id:
        policy.deny(need, status=404)
    return release


def awaiting(by: User) -> list[IdentityRelease]:
    """Asks waiting for `by`'s approval: open, of a case in their scope they may approve, not
    approved by them yet. Oldest first: the first to lapse."""
    expire_lapsed(by=by)
    scope = policy.unit_scope(by)
    asks = db.session.scalars(select(IdentityRelease).join(Case, IdentityRelease.case_id == Case.id).where(
        IdentityRelease.state == "asked", Case.owner_unit_id.in_(scope), Case.purged_at.is_(None))
        .options(contains_eager(IdentityRelease.case), selectinload(IdentityRelease.approvals))
        .order_by(IdentityRelease.requested_at)).all()
    return [release for release in asks if waits_for(release, by)]


def waits_for(release: IdentityRelease, user: User) -> bool:
    return (release.state == "asked" and policy.can_approve_identity_release(user, release.case, release)
            and all(approval.approver_id != user.id for approval in release.approvals))


def case_asks(case: Case, user: User) -> list[IdentityRelease]:
    """For the case page: the asks of this petition waiting for the user's approval."""
    expire_lapsed(case=case, by=user)
    asks = db.session.scalars(select(IdentityRelease).where(IdentityRelease.case_id == case.id,
                                                            IdentityRelease.state == "asked")
                              .order_by(IdentityRelease.requested_at)).all()
    return [release for release in asks if waits_for(release, user)]


# --- opening the identity ------------------------------------------------------------------------

def open_identity(case: Case, *, by: User) -> IdentityRelease | None:
    """The release under which `by` opens this petition's identity now (None for an unsigned
    petition: there is nothing to release), with the view recorded. Refused (audited as a
    denied view) without a live release of their own for this petition."""
    if case.petition.anonymous:
        record("petition.petitioner_view", target_type="case", target_id=case.id, actor=by, anonymous=True)
        return None
    now = utcnow()
    expired = expire_lapsed(case=case, by=by)
    release = db.session.scalars(select(IdentityRelease).where(
        IdentityRelease.case_id == case.id, IdentityRelease.requested_by_id == by.id,
        IdentityRelease.state == "released").order_by(IdentityRelease.expires_at.desc()).limit(1)).first()
    if not policy.opens_petitioner_identity(by, case, release, now):
        record("petition.petitioner_view", target_type="case", target_id=case.id, actor=by, outcome="denied",
               reason="expired" if expired else "no_release")
        if expired:
            raise CaseError(_("Thời hạn mở danh tính người gửi đơn đã hết. Muốn xem lại, hãy đề nghị mở lần nữa."))
        raise CaseError(_("Danh tính người gửi đơn chỉ mở khi có đề nghị của bạn được lãnh đạo phê duyệt."))
    record("petition.petitioner_view", target_type="case", target_id=case.id, actor=by, release=release.id)
    return release


# --- the auditors' review -----------------------------------------------------------------------

QUEUE_SORTS = {
    "asked": (IdentityRelease.requested_at,),
    "expires": (IdentityRelease.expires_at, IdentityRelease.requested_at),
    "reference": (Case.reference, IdentityRelease.requested_at),
    "reviewed": (paging.NullsLast(IdentityRelease.reviewed_at), IdentityRelease.requested_at),
}
QUEUE_DEFAULT_SORT = paging.Sort("asked", descending=True)


def review_queue(*, pending_only: bool = True, sort: paging.Sort = QUEUE_DEFAULT_SORT,
                 page: int = 1) -> paging.Page:
    """Every ask and release, with who asked and who approved; pending: decided (no longer
    waiting) and not reviewed yet. Never the petitioner, never the reason's text."""
    expire_lapsed()
    statement = (select(IdentityRelease).join(Case, IdentityRelease.case_id == Case.id)
                 .options(contains_eager(IdentityRelease.case), selectinload(IdentityRelease.approvals))
                 .order_by(*paging.sort_clause(sort, QUEUE_SORTS), IdentityRelease.id))
    if pending_only:
        statement = statement.where(IdentityRelease.review.is_(None), IdentityRelease.state != "asked")
    shown = paging.paginate(statement, page)
    record("identity_release.list", target_type="identity_release", pending_only=pending_only,
           results=len(shown.rows))
    return shown


def load_for_review(release_id: uuid.UUID) -> IdentityRelease:
    release = db.session.get(IdentityRelease, release_id)
    if release is None:
        policy.deny("access.review", status=404)
    return release


def review(release: IdentityRelease, decision: str, *, by: User) -> None:
    if decision not in REVIEW_DECISIONS:
        raise CaseError(_("Hãy chọn đánh giá."), "decision")
    if release.review is not None:
        raise CaseError(_("Lượt mở danh tính này đã được đánh giá."), "decision")
    if release.state == "asked":
        raise CaseError(_("Đề nghị này còn đang chờ phê duyệt; đánh giá sau khi có kết quả."), "decision")
    if release.requested_by_id == by.id or any(item.approver_id == by.id for item in release.approvals):
        raise CaseError(_("Không ai tự đánh giá việc mình đã đề nghị hay phê duyệt."), "decision")
    release.review, release.reviewed_by_id, release.reviewed_at = decision, by.id, utcnow()
    db.session.flush()
    record("identity_release.review", target_type="case", target_id=release.case_id, actor=by, release=release.id,
           decision=decision)
