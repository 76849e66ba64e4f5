"""Mails of notifications: immediate ones and the daily digest, composed and sent one user
at a time.

A mail carries only what `service.visible_item` lets the user see at the moment it goes —
the kind of event, the reference number, the due date and a link — and never a title, a
name or an ID number: the mail leaves the building, the page behind the link asks for a
sign-in and the policy again. An item the user can no longer see becomes "skipped".

Each mail is one transaction: its items are marked sent and the `notify.mail_sent` entry
recorded, then the relay is handed the mail, then the transaction commits. A crash between
the relay's acceptance and the commit resends that one mail on the next run; nothing is
ever marked sent that the relay did not take.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import urljoin

from flask import current_app
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import lazyload, load_only, selectinload

from audit.trail import record
from cases.models import Assignment, Case, ConcernedPerson, CoordinationRequest, Petition
from protection.clock import utcnow
from protection.db import db, insert_or_ignore
from protection.i18n import DEFAULT_LOCALE, SUPPORTED_LOCALES, format_day
from protection.identity import User
from protection.mail import MailError, Relay, Transport, parse_smtp_url

from . import service
from .models import MailAddress, MailDigest, Notification

MODES = ("immediate", "digest")
# A refused address is tried again later, less often each time, and given up after a day or so.
RETRY_MINUTES = (15, 30, 60, 120, 240, 480, 960)
# A relay that was down: the next run (the timer's next tick) tries again.
RELAY_RETRY = timedelta(minutes=5)


def configured() -> bool:
    return bool(current_app.config.get("HOSO_SMTP_URL"))


def relay() -> Relay:
    return parse_smtp_url(current_app.config["HOSO_SMTP_URL"])


def transport() -> Transport:
    return Transport(relay(), ca_file=current_app.config.get("HOSO_SMTP_CA_FILE"),
                     timeout=current_app.config["HOSO_SMTP_TIMEOUT_SECONDS"])


def _due(now: datetime):
    return or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now)


def pending_users(mode: str, today: date, now: datetime) -> list[uuid.UUID]:
    """Users with items waiting to go by `mode`; for the digest, only those not sent one today."""
    statement = select(Notification.user_id).where(Notification.mail_state == mode, _due(now)).distinct()
    if mode == "digest":
        statement = statement.where(~exists().where(MailDigest.user_id == Notification.user_id,
                                                    MailDigest.day == today))
    return sorted(db.session.scalars(statement), key=str)


def _waiting(user_id: uuid.UUID, mode: str, now: datetime) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(
        Notification.user_id == user_id, Notification.mail_state == mode, _due(now))
        .order_by(Notification.created_at, Notification.id)))


@dataclass
class Mail:
    user_id: uuid.UUID
    mode: str
    message: EmailMessage | None
    sent: list[Notification]
    skipped: list[Notification]

    @property
    def kinds(self) -> list[str]:
        return sorted({item.kind for item in self.sent})

    @property
    def references(self) -> list[str]:
        return list(dict.fromkeys(item.reference for item in self.sent if item.reference))


def _absolute(url: str) -> str:
    base = current_app.config["HOSO_PUBLIC_URL"] or ""
    if url.startswith("/") and not url.startswith("//"):
        return base + url  # the usual case, a path from url_for: no parsing needed
    return url if url.startswith(("http://", "https://")) else urljoin(base + "/", url)


def _line(item: service.Item, days: dict | None = None) -> str:
    parts = [str(item.label)]
    if item.reference:
        parts.append(item.reference)
    if item.due_on:
        days = {} if days is None else days  # a digest repeats the same few dates: format each once
        if item.due_on not in days:
            days[item.due_on] = _("hạn %(day)s", day=format_day(item.due_on))
        parts.append(days[item.due_on])
    return " — ".join(parts)


def compose(user: User, address: str, mode: str, items: list[service.Item], today: date) -> EmailMessage:
    """The mail, in the user's language (Vietnamese unless they chose another). Plain text:
    nothing to render, nothing remote to load."""
    if mode == "digest":
        subject = _("[Hoso] Tóm tắt thông báo ngày %(day)s", day=format_day(today))
    elif len(items) == 1:
        subject = _("[Hoso] %(label)s", label=_line(items[0]))
    else:
        subject = ngettext("[Hoso] %(num)d thông báo mới", "[Hoso] %(num)d thông báo mới", len(items))
    lines = [
        ngettext("Hoso có %(num)d thông báo cho đồng chí:", "Hoso có %(num)d thông báo cho đồng chí:", len(items)),
        "",
    ]
    days: dict = {}
    for item in items:
        lines += [f"- {_line(item, days)}", f"  {_absolute(item.url)}"]
    lines += [
        "",
        _("Nội dung hồ sơ chỉ xem được trong Hoso, sau khi đăng nhập: thư này không mang nội dung nào."),
        _("Đổi cách nhận thông báo (trong ứng dụng, thư ngay, thư tóm tắt hằng ngày) ở trang Thông báo."),
        _absolute("/"),
    ]
    message = EmailMessage()
    sender = current_app.config["HOSO_MAIL_FROM"]
    message["From"] = sender
    message["To"] = address
    message["Subject"] = subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid("hoso", domain=sender.rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to it
    message.set_content("\n".join(lines) + "\n", charset="utf-8")
    return message


def prepare(user_id: uuid.UUID, mode: str, today: date, now: datetime) -> Mail:
    """The user's mail of `mode` (None when nothing they may see waits), and what to skip:
    items they can no longer see, or everything when they have no address or no account."""
    notifications = _waiting(user_id, mode, now)
    user = db.session.get(User, user_id)
    address = db.session.get(MailAddress, user_id)
    if user is None or not user.active or address is None:
        return Mail(user_id, mode, None, [], notifications)
    locale = user.locale if user.locale in SUPPORTED_LOCALES else DEFAULT_LOCALE
    base = current_app.config["HOSO_PUBLIC_URL"] or "http://localhost"
    shown: list[tuple[Notification, service.Item]] = []
    skipped: list[Notification] = []
    held = _prefetch(user, notifications)
    # A request context for the links only (url_for needs one; the public address is its
    # base); the audit entry is recorded outside it, as the command's own.
    with current_app.test_request_context("/", base_url=base), force_locale(locale):
        for notification in notifications:
            item = service.visible_item(user, notification)
            if item is None:
                skipped.append(notification)
            else:
                shown.append((notification, item))
        message = compose(user, address.address, mode, [item for _n, item in shown], today) if shown else None
    del held  # the targets stayed in the session while the policy was asked; now they may go
    return Mail(user_id, mode, message, [notification for notification, _i in shown], skipped)


# What the policy reads of a case, and only that: plain columns, its officers, the people a
# petition names. Loaded this way no sealed column comes with it, so nothing is decrypted: a
# province's daily mail asks the policy about tens of thousands of cases, and would otherwise
# open every title, summary and name only to throw them away.
_PLAIN_CASE = (
    load_only(Case.id, Case.reference, Case.kind, Case.state, Case.classification, Case.owner_unit_id,
              Case.subject_id, Case.due_on, Case.archived_on, Case.purged_at),
    lazyload(Case.owner_unit),
    selectinload(Case.assignments).load_only(Assignment.id, Assignment.case_id, Assignment.user_id)
    .lazyload(Assignment.user),
)
# Whom a petition names: asked only for a reader who may be one of them (policy.is_recused
# compares the reader's own citizen index, and a reader without one is never recused).
_NAMED = selectinload(Case.petition).load_only(Petition.case_id).selectinload(Petition.concerned).load_only(
    ConcernedPerson.id, ConcernedPerson.petition_id, ConcernedPerson.case_id, ConcernedPerson.subject_id)


def _prefetch(user: User, notifications: list[Notification]) -> list:
    """The user's targets, a few statements for all: visible_item then finds each in the
    session. Returned so that they stay there (the session holds its objects weakly)."""
    case_ids = {item.target_id for item in notifications if item.target_type == "case"}
    request_ids = {item.target_id for item in notifications if item.target_type == "request"}
    held: list = []
    if request_ids:
        held += db.session.scalars(select(CoordinationRequest).where(CoordinationRequest.id.in_(request_ids))
                                   .options(load_only(CoordinationRequest.id, CoordinationRequest.case_id,
                                                      CoordinationRequest.body_unit_id, CoordinationRequest.state,
                                                      CoordinationRequest.due_on))).all()
        case_ids |= {item.case_id for item in held}
    if case_ids:
        options = (*_PLAIN_CASE, _NAMED) if user.citizen_index is not None else _PLAIN_CASE
        held += db.session.scalars(select(Case).where(Case.id.in_(case_ids)).options(*options)).unique().all()
    return held


def _claim(items: list[Notification], mode: str, state: str, now: datetime) -> bool:
    """Move items from `mode` to `state` unless another run did first (PostgreSQL waits for its
    row locks, then finds them moved; SQLite's write lock serialises the runs)."""
    if not items:
        return True
    ids = [item.id for item in items]
    values = {"mail_state": state, "mailed_at": now} if state == "sent" else {"mail_state": state}
    result = db.session.execute(update(Notification).where(Notification.id.in_(ids), Notification.mail_state == mode)
                                .values(**values).execution_options(synchronize_session=False))
    return result.rowcount == len(ids)


def mark(mail: Mail, today: date, now: datetime) -> bool:
    """Mark the mail's items sent and its skipped ones skipped, and audit both; False when
    another run took them first (the caller rolls back and moves on)."""
    if not _claim(mail.skipped, mail.mode, "skipped", now) or not _claim(mail.sent, mail.mode, "sent", now):
        return False
    if mail.skipped:
        record("notify.mail_skipped", target_type="user", target_id=mail.user_id, actor=None, mode=mail.mode,
               items=len(mail.skipped), kinds=sorted({item.kind for item in mail.skipped}))
    if mail.sent:
        if mail.mode == "digest":
            insert_or_ignore(db.session, MailDigest, user_id=mail.user_id, day=today, sent_at=now,
                             items=len(mail.sent))
        record("notify.mail_sent", target_type="user", target_id=mail.user_id, actor=None, mode=mail.mode,
               items=len(mail.sent), kinds=mail.kinds, references=mail.references)
    db.session.flush()
    return True


def postpone(user_ids: list[uuid.UUID], now: datetime) -> int:
    """The relay is down: the waiting items of these users stay waiting, one more attempt
    counted, tried again from the next run. Returns how many mails that leaves."""
    if not user_ids:
        return 0
    db.session.execute(update(Notification).where(
        Notification.user_id.in_(user_ids), Notification.mail_state.in_(MODES), _due(now))
        .values(mail_attempts=Notification.mail_attempts + 1, next_attempt_at=now + RELAY_RETRY)
        .execution_options(synchronize_session=False))
    return len(user_ids)


def refused(mail: Mail, now: datetime) -> None:
    """The relay refused this one mail (its address): try again later, less often each time."""
    for item in mail.sent:
        attempts = (item.mail_attempts or 0) + 1
        minutes = RETRY_MINUTES[min(attempts, len(RETRY_MINUTES)) - 1]
        db.session.execute(update(Notification).where(Notification.id == item.id).values(
            mail_attempts=attempts, next_attempt_at=now + timedelta(minutes=minutes),
            mail_state=item.mail_state if attempts <= len(RETRY_MINUTES) else "failed")
            .execution_options(synchronize_session=False))
    record("notify.mail_refused", target_type="user", target_id=mail.user_id, actor=None, mode=mail.mode,
           items=len(mail.sent))


def waiting_count(now: datetime) -> int:
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.mail_state.in_(MODES), _due(now))) or 0


__all__ = ["Mail", "MailError", "compose", "configured", "mark", "pending_users", "postpone", "prepare", "refused",
           "transport", "waiting_count"]
