"""`flask --app app notify send-due [--dry-run]`: reminders, immediate mails and daily digests.

Run it from cron or a systemd timer (README, "Notifications and mail"). Idempotent: the
reminders' dedupe keys, the items' mail states and the digest's row per user and day make a
second run the same day send nobody anything twice. A relay that cannot be reached leaves
every waiting mail waiting (one line, non-zero exit), and the next run sends them.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from datetime import datetime

import click
from flask import current_app
from flask.cli import AppGroup

from audit.trail import record
from cases.petitions import releases
from protection.clock import utcnow
from protection.db import db
from protection.i18n import local_zone
from protection.identity import User
from protection.mail import MailError
from protection.schema import SchemaNotReady, ensure_schema_current

from . import mailing, reminders

notify_cli = AppGroup("notify", help="Notifications: reminders and mail.")

PROGRESS_FROM = 20  # users: below this a progress bar is only noise


def _ready():
    try:
        ensure_schema_current()
    except SchemaNotReady as error:
        raise click.ClickException(str(error)) from None


def _raise(today, dry_run: bool) -> reminders.Raised:
    raised = reminders.raise_reminders(today)
    if raised.total:
        record("notify.reminders_raised", actor=None, day=today.isoformat(), items=raised.total,
               **{kind: count for kind, count in sorted(raised.counts.items())})
    for kind, count in sorted(raised.counts.items()):
        references = raised.references[kind]
        shown = ", ".join(references[:10]) + (f" and {len(references) - 10} more" if len(references) > 10 else "")
        click.echo(f"{'would raise' if dry_run else 'raised'} {count} {kind}: {shown}")
    if dry_run:
        db.session.flush()
    else:
        db.session.commit()
    return raised


def _bar(users: list, label: str):
    if len(users) < PROGRESS_FROM:
        return nullcontext(users)
    return click.progressbar(users, label=label, file=sys.stderr)


class RelayDown(Exception):
    def __init__(self, error: MailError, left: list):
        super().__init__(str(error))
        self.error, self.left = error, left


def _send(mode: str, today, connection, dry_run: bool, counts: dict) -> None:
    now = utcnow()
    users = mailing.pending_users(mode, today, now)
    with _bar(users, f"{mode} mails") as bar:
        for position, user_id in enumerate(bar):
            mail = mailing.prepare(user_id, mode, today, now)
            if dry_run:
                if mail.message is not None:
                    username = db.session.get(User, user_id).username
                    click.echo(f"would mail {mode} to {username}: {len(mail.sent)} item(s) "
                               f"{', '.join(mail.references)}")
                    counts[mode] += 1
                counts["skipped"] += len(mail.skipped)
                continue
            if not mailing.mark(mail, today, now):
                db.session.rollback()  # another run took them
                continue
            if mail.message is not None:
                try:
                    connection.send(mail.message)
                except MailError as error:
                    db.session.rollback()
                    if error.relay_down:
                        raise RelayDown(error, users[position:]) from None
                    mailing.refused(mail, now)
                    db.session.commit()
                    counts["refused"] += 1
                    continue
                counts[mode] += 1
                counts[f"{mode}_items"] += len(mail.sent)
            db.session.commit()  # after the relay accepted it: a crash now resends only this one
            counts["skipped"] += len(mail.skipped)


def _mail(today, dry_run: bool, counts: dict, modes: tuple[str, ...]) -> None:
    now = utcnow()
    if not any(mailing.pending_users(mode, today, now) for mode in modes):
        return
    if dry_run:
        for mode in modes:
            _send(mode, today, None, dry_run, counts)
        return
    try:
        with mailing.transport() as connection:
            for mode in modes:
                _send(mode, today, connection, dry_run, counts)
    except (MailError, RelayDown) as error:
        db.session.rollback()
        mail_error = error.error if isinstance(error, RelayDown) else error
        left = set(error.left) if isinstance(error, RelayDown) else set()
        for mode in modes:  # what was not reached yet, in either mode
            left.update(mailing.pending_users(mode, today, now))
        mailing.postpone(sorted(left, key=str), now)
        db.session.commit()
        raise click.ClickException(f"{mail_error}; {len(left)} mails left for the next run") from None


def _expire_identity_releases(dry_run: bool) -> None:
    """Asks and releases of petitioners' identities past their time are recorded as expired
    when someone reads them; this run records the rest, so the trail holds every expiry on
    the day it happened even when nobody looked (the timer that sends reminders is already
    there, so the sweep costs no timer of its own)."""
    expired = releases.expire_lapsed()
    if expired:
        click.echo(f"{'would expire' if dry_run else 'expired'} {expired} identity release(s)")
    if not dry_run:
        db.session.commit()


@notify_cli.command("send-due")
@click.option("--dry-run", is_flag=True, help="Show what would be raised and mailed; write and send nothing.")
def send_due(dry_run: bool) -> None:
    """Raise due-soon and overdue reminders, send immediate mails and today's digests; record
    the expiry of identity releases past their time."""
    _ready()
    now = datetime.now(local_zone())
    today = now.date()
    # Overnight runs (the timer ticks all day) mail what is immediate; the day's reminders and
    # digests wait for the working morning, so nobody's phone lights up at midnight.
    morning = now.hour >= current_app.config["HOSO_REMINDER_HOUR"]
    if not morning:
        click.echo(f"before {current_app.config['HOSO_REMINDER_HOUR']:02d}:00: reminders and digests wait; "
                   "immediate mails only")
    counts = dict.fromkeys(("immediate", "immediate_items", "digest", "digest_items", "skipped", "refused"), 0)
    try:
        _expire_identity_releases(dry_run)
        raised = _raise(today, dry_run) if morning else reminders.Raised()
        if mailing.configured():
            _mail(today, dry_run, counts, modes=mailing.MODES if morning else ("immediate",))
        elif not dry_run:
            click.echo("mail is not configured (HOSO_SMTP_URL): reminders only", err=True)
    finally:
        if dry_run:
            db.session.rollback()
    verb = "would be" if dry_run else ""
    summary = (f"{raised.total} reminders raised, {counts['immediate']} immediate mails "
               f"({counts['immediate_items']} items), {counts['digest']} digests ({counts['digest_items']} items), "
               f"{counts['skipped']} items skipped, {counts['refused']} mails refused")
    if dry_run:
        summary = (f"dry run, nothing written or sent: {raised.total} reminders {verb} raised, "
                   f"{counts['immediate']} immediate mails and {counts['digest']} digests {verb} sent, "
                   f"{counts['skipped']} items {verb} skipped")
    click.echo(summary)
