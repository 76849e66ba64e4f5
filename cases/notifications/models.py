"""What the notifications keep: plain metadata only.

A notification names the kind of event, the item it is about (type, id and its reference
number), a due date, and whether and how it was mailed. Nothing a person wrote and no name:
the page and the mail draw the item's label from the item itself, after the policy has let
the reader see it (delivery.py), so a user who lost access sees nothing of it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from protection.clock import UTCDateTime, utcnow
from protection.db import db


class Notification(db.Model):
    __tablename__ = "notifications"
    # One per user and event: a reminder run twice in a day, or an event raised twice, finds
    # the first (dedupe_key, e.g. "due_soon:<case id>:2026-12-06").
    __table_args__ = (UniqueConstraint("user_id", "dedupe_key"),
                      Index("ix_notifications_user_unread", "user_id", "read_at", "created_at"),
                      Index("ix_notifications_mail_state", "mail_state", "next_attempt_at"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(120))
    # What it is about: "case", "request", "campaign" or "break_glass", its id, and the plain
    # reference number people quote (BVCT-2026-000123); never a title or a name.
    target_type: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    reference: Mapped[str | None] = mapped_column(String(48))
    due_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Mail: None = in-app only; "immediate" or "digest" = waiting to be mailed that way;
    # "sent"; "skipped" (the user could no longer see the item when it was due to go);
    # "failed" (the relay refused the address on every retry: mailing.py gives up, the
    # notification stays in the app).
    mail_state: Mapped[str | None] = mapped_column(String(16))
    mail_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NotificationPreference(db.Model):
    """How a user wants one kind of event: "app" (in-app only), "immediate" (also a mail at
    once) or "digest" (also in the daily digest). No row: the kind's default."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    delivery: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MailAddress(db.Model):
    """Where a user's mail goes. An address is personal data: sealed would be the rule for a
    person under review, but this is the officer's own work address, which the relay needs in
    clear; it is kept apart from the users table so the directory of accounts stays as it was."""

    __tablename__ = "mail_addresses"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    address: Mapped[str] = mapped_column(String(254))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MailDigest(db.Model):
    """The daily digest a user was sent, one row per user and day: `notify send-due` run
    again the same day finds it and sends no second digest."""

    __tablename__ = "mail_digests"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    items: Mapped[int] = mapped_column(Integer, default=0)
