"""`flask --app app notify send-due [--dry-run]`: reminders, immediate mails and daily digests."""

from __future__ import annotations

from flask.cli import AppGroup

notify_cli = AppGroup("notify", help="Notifications: reminders and mail.")
