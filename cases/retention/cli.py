"""The `retention` commands: archive closed cases, report counts (and append what the purge
ledger misses), replay the purge ledger, chain a ledger of the old format."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from cases.retention import operations as retention
from cases.retention import purge_ledger
from protection.db import db
from protection.schema import SchemaNotReady, ensure_schema_current

retention_cli = AppGroup("retention", help="Archive closed cases; report retention and purges.")


@retention_cli.command("archive", help="Archive the cases closed longer than HOSO_ARCHIVE_AFTER_DAYS.")
def archive_command():
    ids = retention.archivable_ids()
    try:
        with click.progressbar(length=len(ids), label="Archiving cases", file=sys.stderr) as bar:
            archived = retention.archive(ids, progress=bar.update)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    click.echo(f"Archived {archived} case(s).")


@retention_cli.command("status", help="Counts of closed, archived, past-retention and purged cases.")
def status_command():
    try:
        appended = retention.sync_ledger()
    except retention.LedgerTampered as error:
        raise click.ClickException(str(error)) from None
    for name, value in retention.status_counts().items():
        click.echo(f"{name}: {value}")
    if appended:
        click.echo(f"purge ledger: {appended} missing line(s) appended")


@retention_cli.command("replay-ledger")
@click.argument("ledger", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path))
def replay_ledger_command(ledger: Path | None):
    """Shred again every case the purge ledger lists that this database still holds readable.

    With LEDGER (a newer copy, e.g. from another server), it first becomes this instance's
    ledger, if it verifies and extends the one here."""
    try:
        ensure_schema_current()
        if ledger is not None:
            purge_ledger.adopt(ledger)
        total = len(purge_ledger.read().entries)
        with click.progressbar(length=total, label="Replaying the purge ledger", file=sys.stderr) as bar:
            shredded = retention.replay_purge_ledger(db.session, progress=bar.update)
    except (retention.LedgerTampered, SchemaNotReady) as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    except OSError as error:
        db.session.rollback()
        raise click.ClickException(f"cannot read or write the purge ledger: {error.strerror}") from None
    click.echo(f"Purge ledger replayed: {total} line(s), {shredded} purged case(s) shredded again.")


@retention_cli.command("upgrade-ledger")
def upgrade_ledger_command():
    """Chain a purge ledger of the old format (each line signed alone); the old file is kept."""
    try:
        ensure_schema_current()
        lines, kept = purge_ledger.upgrade_v1()
    except (retention.LedgerTampered, SchemaNotReady) as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    if kept is None:
        click.echo(f"The purge ledger is already chained ({lines} line(s)).")
    else:
        click.echo(f"Chained {lines} line(s); the old ledger is kept as {kept}.")
