"""Raising notifications and reading them back under the policy.

CONTRACT (issue 20 §B) — the domain's operations call `notify` in the transaction of the
change that raises the event (so a rolled-back change notifies nobody); the bell, the page
and the mailer read through `visible_item`, which asks the policy at that moment: a user who
lost access to the item, or is recused from it, sees nothing of it (and is mailed nothing).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from protection.identity import User

from .models import Notification

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

KINDS = (CASE_ASSIGNED, APPROVAL_AWAITING, CONCLUSION_RETURNED, CONCLUSION_APPROVED, REQUEST_RECEIVED,
         REQUEST_ANSWERED, REQUEST_OVERDUE, DUE_SOON, OVERDUE, CAMPAIGN_OVERDUE, BREAK_GLASS_REVIEW)

# Deliveries a user may choose per kind; without a choice, DEFAULT_DELIVERY.
DELIVERIES = ("app", "immediate", "digest")
DEFAULT_DELIVERY = "app"


def notify(user_ids: Iterable[uuid.UUID], kind: str, *, target_type: str, target_id: uuid.UUID,
           reference: str | None = None, due_on: date | None = None, dedupe_key: str | None = None) -> int:
    """Raise `kind` for each user (skipping the acting user when they are among them is the
    caller's choice). `dedupe_key` makes it once per user (default: kind:target_id, so the same
    event about the same item is not raised twice while unread). Sets each notification's
    mail_state from the user's preference when mail is configured. Flushes; never commits.
    Returns how many were new."""
    raise NotImplementedError


@dataclass(frozen=True)
class Item:
    """What a reader is shown of a notification: its kind's label, the reference, the due
    date and where to open it. Built only after the policy allowed it."""

    notification: Notification
    label: str
    reference: str | None
    due_on: date | None
    url: str


def visible_item(user: User, notification: Notification) -> Item | None:
    raise NotImplementedError


def unread_count(user: User) -> int:
    raise NotImplementedError
