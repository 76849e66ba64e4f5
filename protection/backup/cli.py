"""`flask --app app backup create FILE`, `backup restore FILE` and `backup verify FILE` (the restore drill)."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from .. import signals
from ..db import db, refresh_statistics
from ..keystore import KeyConfigurationError
from ..schema import SchemaNotReady, ensure_schema_current
from . import snapshot
from .format import BackupError, load_backup_key
from .verify import Drill, verify_backup, write_result

backup_cli = AppGroup("backup", help="Encrypted, consistent backups of the whole database, and their restore.")


def _bar(label: str, length: int):
    return click.progressbar(length=length, label=label, file=sys.stderr)


@backup_cli.command("create")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def create_command(file: Path) -> None:
    """Write an encrypted snapshot of the database (blobs included) to FILE, while the app serves."""
    try:
        ensure_schema_current()
        raw_key = load_backup_key(snapshot.keys_dir(), os.environ, create=True)
        anchors = snapshot.gather_anchors()
    except (SchemaNotReady, KeyConfigurationError, BackupError) as error:
        raise click.ClickException(str(error)) from None
    partial = file.with_name(file.name + ".partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise click.ClickException(f"cannot write {partial}: {error.strerror}") from None
    if file.exists():
        os.close(fd)
        partial.unlink()
        raise click.ClickException(f"{file} already exists: choose another name")
    try:
        with os.fdopen(fd, "wb") as out, ExitStack() as bars:
            bar = None

            def start(total: int) -> None:
                nonlocal bar
                bar = bars.enter_context(_bar("Backing up rows", total))

            summary = snapshot.dump(out, raw_key, on_total=start, progress=lambda n: bar.update(n),
                                  anchors=anchors)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, file)
    except BackupError as error:
        partial.unlink(missing_ok=True)
        raise click.ClickException(str(error)) from None
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise click.ClickException(f"cannot write {file}: {error.strerror}") from None
    except SQLAlchemyError as error:
        partial.unlink(missing_ok=True)
        raise click.ClickException(f"the database could not be read: {type(error).__name__}") from None
    signals.backup_created.send(current_app._get_current_object(), tables=summary.tables, rows=summary.rows,
                                bytes=summary.bytes, revision=summary.revision)  # audited: audit/listeners.py
    db.session.commit()
    click.echo(f"Wrote {file}: {summary.tables} tables, {summary.rows} rows, {summary.bytes} bytes "
               f"(schema {summary.revision}).")


@backup_cli.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--never-purged", is_flag=True,
              help="No case was ever purged in the backed-up installation: restore without a purge ledger.")
def restore_command(file: Path, never_purged: bool) -> None:
    """Restore FILE into this instance's EMPTY database, then verify the audit trail.

    The newest purge ledger of the backed-up installation (instance/purge-ledger.jsonl, with
    keys/purge-ledger.pub) must be in place first: it is checked before any row is written,
    and replayed after the rows, so that cases purged after the backup stay shredded."""
    name = file.name

    def source():
        return open(file, "rb")  # noqa: SIM115 - the caller's `with` closes it

    try:
        raw_key = load_backup_key(snapshot.keys_dir(), os.environ, create=False)
        click.echo(f"Checking every chunk of {name} before writing anything...", err=True)
        content = snapshot.check_file(source, raw_key, name)
        snapshot.prepare_target()
        snapshot.refuse_unless_empty(content)
        snapshot.check_anchors(content, never_purged=never_purged)
        total = sum(content.counts.values())
        with _bar("Restoring rows", total) as bar:
            inserted = snapshot.load(source, raw_key, name, progress=bar.update)
    except (BackupError, KeyConfigurationError) as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"cannot read {file}: {error.strerror}") from None
    except SQLAlchemyError as error:  # nothing was committed: the insert pass is one transaction
        raise click.ClickException(f"the restore failed and was rolled back: {type(error).__name__}") from None
    refresh_statistics(db.session)
    db.session.commit()
    click.echo(f"Restored {inserted} rows in {len(content.counts)} tables (schema {content.revision}).")
    # Straight after the rows, before anything else reads them: the ledger was checked
    # before the first row, so this fails only if its file changed in between.
    try:
        printed, replay_detail = snapshot.after_restore(_bar)
        ledger_problem = None
    except BackupError as error:
        printed, replay_detail, ledger_problem = [], {}, str(error)
    # The audit layer verifies the restored trail and records the restore (audit/listeners.py).
    reports = [report for _receiver, report in signals.restore_completed.send(
        current_app._get_current_object(), rows=inserted, tables=len(content.counts), revision=content.revision,
        ledger_replayed=ledger_problem is None, **replay_detail) if report is not None]
    db.session.commit()
    for line in printed:
        click.echo(line)
    if ledger_problem is not None:
        raise click.ClickException(f"{ledger_problem}; cases purged after this backup may be readable "
                                   "again: do not serve from this instance until `flask --app app retention "
                                   "replay-ledger` succeeds")
    report = reports[0] if reports else None
    if report is not None and not report.ok:
        problem = report.problem
        raise click.ClickException(
            f"the restored audit trail does NOT verify (entry {problem.seq}: {problem.kind}); the data "
            "was restored as the backup held it: investigate with `flask --app app audit verify` "
            "before serving from it")
    if report is not None:
        click.echo(f"Audit trail verified: {report.entries_checked} entries, "
                   f"{report.checkpoints_checked} checkpoints.")
        if report.pending:
            # PostgreSQL: entries the backed-up installation had recorded but not yet linked.
            # Only the sequencer links them; until then nothing has checked them.
            click.echo(f"{report.pending} audit entries of the backup are not linked yet and were not "
                       "verified: the audit sequencer links them when it runs, then check them with "
                       "`flask --app app audit verify`.")


@backup_cli.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def verify_command(file: Path) -> None:
    """Prove FILE complete and restorable (decrypt, check every section, the keys, the foreign
    keys and the audit chain, count the rows) without touching any database; the outcome goes
    to <instance>/backup-verify.json."""
    name = file.name
    instance = Path(current_app.instance_path)

    def source():
        return open(file, "rb")  # noqa: SIM115 - the caller's `with` closes it

    with ExitStack() as bars:
        bar = None

        def start(total: int) -> None:
            nonlocal bar
            bar = bars.enter_context(_bar("Verifying rows", total))

        try:
            raw_key = load_backup_key(snapshot.keys_dir(), os.environ, create=False)
        except KeyConfigurationError as error:
            drill = Drill(file=name, problem=str(error))
        else:
            click.echo(f"Checking every chunk of {name}...", err=True)
            drill = verify_backup(source, raw_key, name, on_total=start, progress=lambda n: bar.update(n))
    try:
        written = write_result(instance, drill)
    except OSError as error:
        raise click.ClickException(f"cannot write {instance}/backup-verify.json: {error.strerror}") from None
    if not drill.ok:
        raise click.ClickException(drill.problem or f"{name} does not verify")
    click.echo(f"{name} verifies: schema {drill.revision}, {drill.tables} tables, {drill.rows} rows, "
               f"{drill.data_keys} data keys unwrapped, {drill.foreign_keys} references resolved.")
    for check in drill.checks:
        click.echo(f"  {check.label}: {check.count} {check.counted.replace('_', ' ')} verified"
                   + (f" ({check.note})" if check.note else ""))
    for table_name, count in sorted(drill.counts.items()):
        click.echo(f"  {table_name:<40} {count:>10}")
    click.echo(f"Recorded in {written}.")
