"""Mail of notifications, for /metrics (protection/metrics.py): what waits to be sent."""

from __future__ import annotations

from sqlalchemy import func, select

from protection.clock import utcnow
from protection.db import db
from protection.metrics import Reading

from .models import Notification

# Notification.mail_state values an operator watches: waiting ("immediate", "digest") and
# given up ("failed"). A fixed vocabulary: these words are the only label values.
WATCHED_STATES = ("immediate", "digest", "failed")


def mail_readings() -> list[Reading]:
    """One GROUP BY: mails waiting (immediate or in the next digest) or given up, and how long
    the oldest immediate one has waited — `notify send-due` not running shows there first."""
    rows = db.session.execute(
        select(Notification.mail_state, func.count(), func.min(Notification.created_at))
        .where(Notification.mail_state.in_(WATCHED_STATES))
        .group_by(Notification.mail_state)).all()
    found = {state: (count, oldest) for state, count, oldest in rows}
    readings = [Reading("hoso_notification_mails", "Notification mails by state: waiting to be sent "
                        "(immediate, digest) or given up (failed).", found.get(state, (0, None))[0],
                        {"state": state}) for state in WATCHED_STATES]
    oldest = found.get("immediate", (0, None))[1]
    readings.append(Reading("hoso_notification_mail_oldest_waiting_seconds",
                            "How long the oldest immediate notification mail has waited (0: none waiting).",
                            max(0.0, (utcnow() - oldest).total_seconds()) if oldest is not None else 0.0))
    return readings
