"""Raising notifications and reading them back under the policy.

CONTRACT (issue 20 §B) — the domain's operations call `notify` in the transaction of the
change that raises the event (so a rolled-back change notifies nobody); the bell, the page
and the mailer read through `visible_item`, which asks the policy at that moment: a user who
lost access to the item, or is recused from it, sees nothing of it (and is mailed nothing).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from flask import current_app, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import joinedload

from audit.trail import record
from cases.models import (
    BreakGlassAccess,
    Campaign,
    Case,
    Conclusion,
    CoordinationRequest,
    IdentityRelease,
    Petition,
    Subject,
)
from cases.oversight.models import GuidanceVersion, InspectionVisit, Recommendation
from protection import paging, policy
from protection.clock import utcnow
from protection.db import db
from protection.i18n import format_day
from protection.identity import Role, User

from .models import MailAddress, Notification, NotificationPreference

# Kinds of event, and who gets them:
CASE_ASSIGNED = "case_assigned"              # the officer a case (review) is assigned to
APPROVAL_AWAITING = "approval_awaiting"      # supervisors who may approve a submitted conclusion
CONCLUSION_RETURNED = "conclusion_returned"  # the case's assigned officers
CONCLUSION_APPROVED = "conclusion_approved"  # the case's assigned officers
REQUEST_RECEIVED = "request_received"        # the liaisons of the body a request is addressed to
REQUEST_ANSWERED = "request_answered"        # the case's assigned officers
REQUEST_OVERDUE = "request_overdue"          # the case's assigned officers (reminder run)
DUE_SOON = "due_soon"                        # a case's assigned officers, HOSO_DUE_SOON_DAYS ahead (reminder run)
OVERDUE = "overdue"                          # a case's assigned officers (reminder run)
CAMPAIGN_OVERDUE = "campaign_overdue"        # supervisors owning a campaign with overdue nominees (reminder run)
BREAK_GLASS_REVIEW = "break_glass_review"    # auditors: a break-the-glass access awaits review
# A body's exchange key was replaced (issue 21 §B.4): the admins (about the body), and the
# officers of open requests to it that went out as packages (about each request).
EXCHANGE_KEY_CHANGED = "exchange_key_changed"
# The release of a petitioner's identity (issue 23): the supervisors who may approve an ask;
# the asker, once it is released or refused.
IDENTITY_RELEASE_AWAITING = "identity_release_awaiting"
IDENTITY_RELEASE_DECIDED = "identity_release_decided"
# The guidance library (issue 24 A.3): the readers of required reading, at each version
# published. The reference is the publishing unit's code: the title is sealed, never told.
GUIDANCE_TO_READ = "guidance_to_read"

# Inspection visits (issue 24 A.2): the unit a recommendation is addressed to (its officers and
# supervisors) when it is issued; the inspecting unit's supervisors when that unit reports;
# both, daily, while it is overdue (reminder run).
RECOMMENDATION_ISSUED = "recommendation_issued"
RECOMMENDATION_REPORTED = "recommendation_reported"
RECOMMENDATION_OVERDUE = "recommendation_overdue"

KINDS = (CASE_ASSIGNED, APPROVAL_AWAITING, CONCLUSION_RETURNED, CONCLUSION_APPROVED, REQUEST_RECEIVED,
         REQUEST_ANSWERED, REQUEST_OVERDUE, DUE_SOON, OVERDUE, CAMPAIGN_OVERDUE, BREAK_GLASS_REVIEW,
         EXCHANGE_KEY_CHANGED, IDENTITY_RELEASE_AWAITING, IDENTITY_RELEASE_DECIDED, GUIDANCE_TO_READ,
         RECOMMENDATION_ISSUED, RECOMMENDATION_REPORTED, RECOMMENDATION_OVERDUE)

# The kinds each role can receive (who gets what, above): the preferences page offers only
# these, so an officer is not asked how to hear of approvals they will never be asked for.
KINDS_BY_ROLE = {
    Role.OFFICER: (CASE_ASSIGNED, CONCLUSION_RETURNED, CONCLUSION_APPROVED, REQUEST_ANSWERED, REQUEST_OVERDUE,
                   DUE_SOON, OVERDUE, EXCHANGE_KEY_CHANGED, IDENTITY_RELEASE_DECIDED, GUIDANCE_TO_READ,
                   RECOMMENDATION_ISSUED, RECOMMENDATION_OVERDUE),
    Role.SUPERVISOR: (APPROVAL_AWAITING, CAMPAIGN_OVERDUE, IDENTITY_RELEASE_AWAITING, IDENTITY_RELEASE_DECIDED,
                      GUIDANCE_TO_READ, RECOMMENDATION_ISSUED, RECOMMENDATION_REPORTED, RECOMMENDATION_OVERDUE),
    Role.LIAISON: (REQUEST_RECEIVED,),
    Role.AUDITOR: (BREAK_GLASS_REVIEW,),
    Role.ADMIN: (EXCHANGE_KEY_CHANGED,),
}


def kinds_for(user: User) -> tuple[str, ...]:
    return KINDS_BY_ROLE.get(user.role, ())


# Deliveries a user may choose per kind; without a choice, DEFAULT_DELIVERY.
DELIVERIES = ("app", "immediate", "digest")
DEFAULT_DELIVERY = "app"

KIND_LABELS = {
    CASE_ASSIGNED: _l("Hồ sơ được giao cho bạn"),
    APPROVAL_AWAITING: _l("Kết luận chờ bạn phê duyệt"),
    CONCLUSION_RETURNED: _l("Kết luận bị trả lại để sửa"),
    CONCLUSION_APPROVED: _l("Kết luận đã được phê duyệt"),
    REQUEST_RECEIVED: _l("Yêu cầu phối hợp gửi đến cơ quan bạn"),
    REQUEST_ANSWERED: _l("Yêu cầu phối hợp đã được trả lời"),
    REQUEST_OVERDUE: _l("Yêu cầu phối hợp quá hạn trả lời"),
    DUE_SOON: _l("Hồ sơ sắp đến hạn"),
    OVERDUE: _l("Hồ sơ đã quá hạn"),
    CAMPAIGN_OVERDUE: _l("Đợt thẩm định có nhân sự quá hạn"),
    BREAK_GLASS_REVIEW: _l("Truy cập khẩn cấp chờ xem xét"),
    EXCHANGE_KEY_CHANGED: _l("Khóa trao đổi gói của cơ quan phối hợp đã thay đổi"),
    IDENTITY_RELEASE_AWAITING: _l("Đề nghị mở danh tính người gửi đơn chờ bạn phê duyệt"),
    IDENTITY_RELEASE_DECIDED: _l("Đề nghị mở danh tính người gửi đơn của bạn đã có kết quả"),
    GUIDANCE_TO_READ: _l("Đơn vị đã ban hành hướng dẫn nghiệp vụ mới cần đọc"),
    RECOMMENDATION_ISSUED: _l("Khuyến nghị kiểm tra giao cho đơn vị bạn"),
    RECOMMENDATION_REPORTED: _l("Đơn vị được kiểm tra đã báo cáo thực hiện khuyến nghị"),
    RECOMMENDATION_OVERDUE: _l("Khuyến nghị kiểm tra đã quá hạn"),
}

# A recommendation's line says which one in words (its number and its visit's date: no text of
# it, which is sealed), in the reader's language, drawn when it is shown.
RECOMMENDATION_LINES = {
    RECOMMENDATION_ISSUED: _l("Khuyến nghị số %(number)d của đợt kiểm tra ngày %(day)s đã được giao cho đơn vị "
                              "bạn thực hiện"),
    RECOMMENDATION_REPORTED: _l("Khuyến nghị số %(number)d của đợt kiểm tra ngày %(day)s đã có báo cáo thực hiện"),
    RECOMMENDATION_OVERDUE: _l("Khuyến nghị số %(number)d của đợt kiểm tra ngày %(day)s đã quá hạn"),
}

DELIVERY_LABELS = {
    "app": _l("Chỉ trong ứng dụng"),
    "immediate": _l("Gửi thư ngay"),
    "digest": _l("Gộp vào thư tổng hợp hằng ngày"),
}

# Notifications a request raises about a coordination request, by side: the liaisons of the
# addressed body answer it; the case's officers sent it.
LIAISON_KINDS = frozenset({REQUEST_RECEIVED})

# The bell shows "99+" past this; the count stops there so a flooded inbox costs no more.
BELL_CAP = 99


def kind_label(kind: str) -> str:
    label = KIND_LABELS.get(kind)
    return str(label) if label is not None else kind


def mail_configured() -> bool:
    return bool(current_app.config.get("HOSO_SMTP_URL"))


# --- raising -----------------------------------------------------------------------------------

def notify(user_ids: Iterable[uuid.UUID], kind: str, *, target_type: str, target_id: uuid.UUID,
           reference: str | None = None, due_on: date | None = None, dedupe_key: str | None = None) -> int:
    """Raise `kind` for each user (skipping the acting user when they are among them is the
    caller's choice). `dedupe_key` makes it once per user (default: kind:target_id, so the same
    event about the same item is not raised twice while unread). Sets each notification's
    mail_state from the user's preference when mail is configured. Flushes; never commits.
    Returns how many were new."""
    if kind not in KIND_LABELS:
        raise ValueError(f"unknown notification kind {kind!r}")
    wanted = set(user_ids)
    if not wanted:
        return 0
    key = dedupe_key or f"{kind}:{target_id}"
    # One statement for whom and how: inactive accounts get nothing, and without a relay (or
    # an address) nothing waits to be mailed.
    recipients = db.session.execute(
        select(User.id, NotificationPreference.delivery, MailAddress.address)
        .outerjoin(NotificationPreference, (NotificationPreference.user_id == User.id)
                   & (NotificationPreference.kind == kind))
        .outerjoin(MailAddress, MailAddress.user_id == User.id)
        .where(User.id.in_(wanted), User.active.is_(True))
    ).all()
    if not recipients:
        return 0
    mailing = mail_configured()
    now = utcnow()
    rows = [{
        "id": uuid.uuid4(), "user_id": user_id, "kind": kind, "dedupe_key": key[:120],
        "target_type": target_type, "target_id": target_id, "reference": reference, "due_on": due_on,
        "created_at": now, "read_at": None, "mail_attempts": 0,
        "mail_state": _mail_state(delivery) if mailing and address else None,
    } for user_id, delivery, address in recipients]
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    db.session.flush()
    # RETURNING names the rows actually inserted on both databases (a DBAPI's rowcount for
    # ON CONFLICT DO NOTHING is not reliable: psycopg reports -1).
    inserted = db.session.execute(dialect.insert(Notification).values(rows)
                                  .on_conflict_do_nothing(index_elements=["user_id", "dedupe_key"])
                                  .returning(Notification.id)).all()
    return len(inserted)


def _mail_state(delivery: str | None) -> str | None:
    delivery = delivery or DEFAULT_DELIVERY
    return delivery if delivery in ("immediate", "digest") else None


# --- reading under the policy ------------------------------------------------------------------

@dataclass(frozen=True)
class Item:
    """What a reader is shown of a notification: its kind's label, the reference, the due
    date and where to open it. Built only after the policy allowed it."""

    notification: Notification
    label: str
    reference: str | None
    due_on: date | None
    url: str


# What the policy reads of a case (its officers, the people it is about), loaded with it.
_CASE_LOADS = (
    joinedload(Case.assignments),
    joinedload(Case.subject).joinedload(Subject.relatives),
    joinedload(Case.petition).joinedload(Petition.concerned),
)


def visible_item(user: User, notification: Notification) -> Item | None:
    """The notification as `user` may see it now, or None: the target is gone or purged, or
    the policy no longer lets them see it (moved, unassigned, recused, declassified upward,
    account disabled). The label is the kind's and the reference a plain number: never a
    title, a name or anything else protected."""
    if notification.user_id != user.id or not user.active:
        return None
    found = _TARGETS.get(notification.target_type)
    if found is None:
        return None
    seen = found(user, notification)
    if seen is None:
        return None
    reference, url, *line = seen  # a target may say its own line (a recommendation: which one, in words)
    return Item(notification=notification, label=line[0] if line else kind_label(notification.kind),
                reference=reference, due_on=notification.due_on, url=url)


def _case_target(user: User, notification: Notification) -> tuple[str, str] | None:
    case = db.session.get(Case, notification.target_id, options=_CASE_LOADS)
    if case is None or case.purged_at is not None or not policy.can_view_case(user, case):
        return None
    if notification.kind == APPROVAL_AWAITING:
        waiting = _submitted_conclusion(case)
        if waiting is not None and not policy.can_approve_conclusion(user, case, waiting):
            return None
    return case.reference, url_for("cases.view", case_id=case.id)


def _submitted_conclusion(case: Case) -> Conclusion | None:
    return db.session.scalar(select(Conclusion).where(Conclusion.case_id == case.id, Conclusion.state == "submitted")
                             .order_by(Conclusion.version_number.desc()).limit(1))


def _request_target(user: User, notification: Notification) -> tuple[str, str] | None:
    request_ = db.session.get(CoordinationRequest, notification.target_id)
    if request_ is None or request_.case is None or request_.case.purged_at is not None:
        return None
    case = request_.case
    if notification.kind in LIAISON_KINDS:
        if not policy.can_respond_to_request(user, request_):
            return None
        return case.reference, url_for("coordination.liaison_view", request_id=request_.id)
    if not policy.can_view_case(user, case):
        return None
    return case.reference, url_for("coordination.officer_view", case_id=case.id, request_id=request_.id)


def _campaign_target(user: User, notification: Notification) -> tuple[str, str] | None:
    campaign = db.session.get(Campaign, notification.target_id)
    if campaign is None or not policy.can_view_campaign(user, campaign):
        return None
    return campaign.reference, url_for("campaigns.board", campaign_id=campaign.id)


def _break_glass_target(user: User, notification: Notification) -> tuple[str, str] | None:
    access = db.session.get(BreakGlassAccess, notification.target_id)
    if access is None or not policy.can(user, "access.review"):
        return None
    return notification.reference, url_for("access.queue")


def _identity_release_target(user: User, notification: Notification) -> tuple[str, str] | None:
    """An ask for a petitioner's identity: its approval page for a supervisor it still waits
    for; the asker's page for the asker. Never the identity itself."""
    release = db.session.get(IdentityRelease, notification.target_id)
    if release is None or release.case.purged_at is not None:
        return None
    case = release.case
    if notification.kind == IDENTITY_RELEASE_AWAITING:
        if (release.state != "asked" or not policy.can_approve_identity_release(user, case, release)
                or any(approval.approver_id == user.id for approval in release.approvals)):
            return None
        return case.reference, url_for("cases.approve_identity_release", case_id=case.id, release_id=release.id)
    if release.requested_by_id != user.id or not policy.can_see_petitioner(user, case):
        return None
    return case.reference, url_for("cases.identity_release", case_id=case.id)


def _exchange_key_target(user: User, notification: Notification) -> tuple[str, str] | None:
    """A body's exchange key (target: the body's unit; reference: its code), for admins."""
    if not policy.can(user, "partners.manage"):
        return None
    return notification.reference, url_for("partners.exchange_key", unit_id=notification.target_id)


def _guidance_target(user: User, notification: Notification) -> tuple[str, str] | None:
    """A version of required reading (target: the version): the guidance page, while the
    user still reads that unit's guidance and the item is not withdrawn. Never its title."""
    version = db.session.get(GuidanceVersion, notification.target_id)
    if version is None or version.guidance.withdrawn_on is not None:
        return None
    if not policy.can_view_guidance(user, version.guidance):
        return None
    return notification.reference, url_for("oversight.guidance_view", guidance_id=version.guidance_id)


def recommendation_reference(visit: InspectionVisit, recommendation: Recommendation) -> str:
    """The plain marker kept with a notification (the command line's list): the visit's date
    and the recommendation's number, e.g. KT-2026-12-01/2."""
    return f"KT-{visit.visited_on.isoformat()}/{recommendation.number}"


def _recommendation_target(user: User, notification: Notification) -> tuple[str | None, str, str] | None:
    """A recommendation of an inspection visit: the visit's page, for whoever may still see
    the recommendation (the inspectors; the unit it is addressed to), cleared for the visit."""
    recommendation = db.session.get(Recommendation, notification.target_id)
    if recommendation is None or not policy.can_see_recommendation(user, recommendation.visit, recommendation):
        return None
    visit = recommendation.visit
    line = RECOMMENDATION_LINES.get(notification.kind, RECOMMENDATION_LINES[RECOMMENDATION_OVERDUE])
    text = str(line) % {"number": recommendation.number, "day": format_day(visit.visited_on)}
    return None, url_for("oversight.view_visit", visit_id=visit.id, _anchor=f"recommendation-{recommendation.number}"), text


_TARGETS = {
    "case": _case_target,
    "request": _request_target,
    "campaign": _campaign_target,
    "break_glass": _break_glass_target,
    "exchange_key": _exchange_key_target,
    "identity_release": _identity_release_target,
    "guidance": _guidance_target,
    "recommendation": _recommendation_target,
}


def unread_filter(user_id: ColumnElement) -> ColumnElement[int]:
    """SQL: the user's unread notifications, counted up to BELL_CAP + 1. The sign-in query asks
    it (protection/sessions.py through the UNREAD_NOTIFICATIONS hook), so the bell costs no
    statement of its own on a page."""
    capped = (select(Notification.id)
              .where(Notification.user_id == user_id, Notification.read_at.is_(None))
              .limit(BELL_CAP + 1).correlate_except(Notification).subquery())
    return select(func.count()).select_from(capped).scalar_subquery()


def unread_count(user: User) -> int:
    """How many unread notifications the user has, up to BELL_CAP + 1 ("99+")."""
    return db.session.scalar(select(unread_filter(user.id))) or 0


# --- the page: listing, opening, marking read ------------------------------------------------------
#
# The list shows kinds, reference numbers and due dates only, each drawn after the policy let the
# reader see the item: no protected content is read for it, so it records no audit entry (as the
# bell does not). Opening an item is the item's own page, which records its read as always.

PER_PAGE = 25


@dataclass(frozen=True)
class Row:
    """A line of the page: the notification, and what the reader may see of its item (None:
    the item is gone or no longer theirs to see, and nothing of it is shown)."""

    notification: Notification
    item: Item | None


def list_for(user: User, page: int) -> paging.Page:
    """The user's notifications, newest first, one page of Rows."""
    statement = (select(Notification).where(Notification.user_id == user.id)
                 .order_by(Notification.created_at.desc(), Notification.id.desc()))
    shown = paging.paginate(statement, page, PER_PAGE)
    _load_targets(shown.rows)
    shown.rows = [Row(notification, visible_item(user, notification)) for notification in shown.rows]
    return shown


def _load_targets(notifications: list[Notification]) -> None:
    """The page's targets in one statement per type, into the session: visible_item then finds
    each there instead of loading it alone."""
    wanted: dict[str, set[uuid.UUID]] = {}
    for notification in notifications:
        wanted.setdefault(notification.target_type, set()).add(notification.target_id)
    if wanted.get("case"):
        db.session.scalars(select(Case).where(Case.id.in_(wanted["case"])).options(*_CASE_LOADS)).unique().all()
    if wanted.get("request"):
        db.session.scalars(select(CoordinationRequest).where(CoordinationRequest.id.in_(wanted["request"]))
                           .options(joinedload(CoordinationRequest.case).options(*_nested_case_loads()))
                           ).unique().all()
    if wanted.get("campaign"):
        db.session.scalars(select(Campaign).where(Campaign.id.in_(wanted["campaign"]))).all()
    if wanted.get("break_glass"):
        db.session.scalars(select(BreakGlassAccess).where(BreakGlassAccess.id.in_(wanted["break_glass"]))).all()


def _nested_case_loads():
    return (joinedload(Case.assignments), joinedload(Case.subject).joinedload(Subject.relatives),
            joinedload(Case.petition).joinedload(Petition.concerned))


def find_own(user: User, notification_id: uuid.UUID) -> Notification | None:
    """The user's own notification; None for another user's (the page answers 404 alike)."""
    return db.session.scalar(select(Notification).where(Notification.id == notification_id,
                                                        Notification.user_id == user.id))


def mark_read(user: User, ids: Iterable[uuid.UUID] | None = None) -> int:
    """Mark the user's unread notifications read: those of `ids`, or all of them (None).
    Returns how many were unread."""
    statement = (update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
                 .values(read_at=utcnow()).execution_options(synchronize_session="fetch"))
    if ids is not None:
        wanted = list(ids)
        if not wanted:
            return 0
        statement = statement.where(Notification.id.in_(wanted))
    count = db.session.execute(statement).rowcount
    if count:
        record("notifications.read", target_type="user", target_id=user.id, actor=user, count=count,
               all=ids is None)
    return count


# --- preferences and the mail address ---------------------------------------------------------------

class NotificationError(ValueError):
    """A refusal the user can act on (protection.forms.Refusal); names no protected value."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def preferences(user: User) -> dict[str, str]:
    """The user's delivery for every kind (the default where they chose none)."""
    chosen = dict(db.session.execute(select(NotificationPreference.kind, NotificationPreference.delivery)
                                     .where(NotificationPreference.user_id == user.id)).all())
    return {kind: chosen.get(kind, DEFAULT_DELIVERY) for kind in KINDS}


def preference(user: User, kind: str) -> str:
    return preferences(user)[kind]


def set_preferences(user: User, choices: dict[str, str]) -> list[str]:
    """Save the user's delivery per kind; returns the kinds that changed. Unknown kinds or
    deliveries are refused whole: nothing is saved."""
    for kind, delivery in choices.items():
        if kind not in KIND_LABELS:
            raise NotificationError(_("Loại thông báo không hợp lệ."))
        if delivery not in DELIVERIES:
            raise NotificationError(_("Cách nhận thông báo không hợp lệ."), f"kind_{kind}")
    current = preferences(user)
    changed = [kind for kind in KINDS if kind in choices and choices[kind] != current[kind]]
    rows = {row.kind: row for row in db.session.scalars(
        select(NotificationPreference).where(NotificationPreference.user_id == user.id))}
    for kind in changed:
        if kind in rows:
            rows[kind].delivery = choices[kind]
        else:
            db.session.add(NotificationPreference(user_id=user.id, kind=kind, delivery=choices[kind]))
    db.session.flush()
    if changed:
        record("notifications.preferences", target_type="user", target_id=user.id, actor=user, kinds=changed,
               deliveries=[choices[kind] for kind in changed])
    return changed


# Deliberately plain: one @ with something on each side, a dotted domain, no spaces or
# brackets. The relay is the judge of the rest; this catches typing slips, not every RFC 5322 form.
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
ADDRESS_MAX = 254


def mail_address(user: User) -> str | None:
    return db.session.scalar(select(MailAddress.address).where(MailAddress.user_id == user.id))


def checked_address(text: str | None) -> str | None:
    """The address as it will be kept (None: no address), or NotificationError."""
    address = (text or "").strip()
    if not address:
        return None
    if len(address) > ADDRESS_MAX or not _ADDRESS.fullmatch(address) or ".." in address:
        raise NotificationError(_("Địa chỉ thư không hợp lệ (ví dụ: ten.can.bo@tinhuy.vn)."), "mail_address")
    return address


def set_mail_address(user: User, text: str | None) -> bool:
    """Set (or, empty, remove) where the user's mail goes; returns whether it changed. The
    audit entry says that it was set or removed, never the address."""
    address = checked_address(text)
    kept = db.session.get(MailAddress, user.id)
    if (kept.address if kept else None) == address:
        return False
    if address is None:
        db.session.delete(kept)
    elif kept is None:
        db.session.add(MailAddress(user_id=user.id, address=address))
    else:
        kept.address = address
    db.session.flush()
    record("notifications.mail_address", target_type="user", target_id=user.id, actor=user,
           change="removed" if address is None else "set")
    return True


def save_preferences(user: User, choices: dict[str, str], address: str | None) -> list[str]:
    """The preferences page in one step: the address is checked before anything is saved.
    `address` None leaves it as it is; an empty one removes it."""
    if address is not None:
        checked_address(address)
    changed = set_preferences(user, choices)
    if address is not None:
        set_mail_address(user, address)
    return changed
