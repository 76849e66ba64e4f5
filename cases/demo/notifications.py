"""Demo mail addresses and delivery choices for the demo accounts (`flask --app app demo`).

Run before the case work is seeded, so the events it raises find them: with a relay
configured (HOSO_SMTP_URL), `notify send-due` then has something of every kind to mail. The
addresses are under `.example`, a name reserved never to resolve (RFC 2606): nothing seeded
here can reach a real mailbox. An account that already has an address or a choice keeps it.
"""

from __future__ import annotations

from sqlalchemy import select

from cases.notifications import service
from cases.notifications.models import MailAddress, NotificationPreference
from protection.accounts import find_user
from protection.db import db

DEMO_MAIL_DOMAIN = "tinhuy.example"

# username -> {kind: delivery}; every other kind stays in the app only.
DEMO_CHOICES = {
    "canbo.an": {service.CASE_ASSIGNED: "immediate", service.CONCLUSION_RETURNED: "immediate",
                 service.REQUEST_ANSWERED: "immediate", service.DUE_SOON: "digest", service.OVERDUE: "digest",
                 service.REQUEST_OVERDUE: "digest", service.CONCLUSION_APPROVED: "digest"},
    "canbo.binh": {kind: "digest" for kind in service.KINDS},
    "canbo.son": {service.CASE_ASSIGNED: "immediate", service.OVERDUE: "immediate"},
    "lanhdao.minh": {service.APPROVAL_AWAITING: "immediate", service.CAMPAIGN_OVERDUE: "digest",
                     service.OVERDUE: "digest"},
    "lanhdao.lan": {service.APPROVAL_AWAITING: "digest"},
    "phoihop.congan": {service.REQUEST_RECEIVED: "immediate"},
    "phoihop.quansu": {service.REQUEST_RECEIVED: "digest"},
    "kiemtra.ha": {service.BREAK_GLASS_REVIEW: "immediate"},
}


def seed_demo_notifications() -> list[str]:
    addresses = choices = 0
    for username, wanted in DEMO_CHOICES.items():
        user = find_user(username)
        if user is None:
            continue
        if db.session.get(MailAddress, user.id) is None:
            db.session.add(MailAddress(user_id=user.id, address=f"{username}@{DEMO_MAIL_DOMAIN}"))
            addresses += 1
        chosen = set(db.session.scalars(select(NotificationPreference.kind)
                                        .where(NotificationPreference.user_id == user.id)))
        for kind, delivery in wanted.items():
            if kind not in chosen:
                db.session.add(NotificationPreference(user_id=user.id, kind=kind, delivery=delivery))
                choices += 1
    db.session.flush()
    return [f"Demo notification settings: {addresses} mail addresses and {choices} delivery choices added."]
