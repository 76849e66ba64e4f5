"""`flask --app app audit checkpoint | verify [--from N] [--against FILE] | sequence [--once]`."""

from __future__ import annotations

import logging
import signal
import sys

import click
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from protection.db import db
from protection.schema import SchemaNotReady, ensure_schema_current

from . import sequencer, signing
from .embedded import NOT_NEEDED
from .service import head_seq, record_verification, run_verification
from .trail import checkpoint_line, checkpoint_now

audit_cli = AppGroup("audit", help="Sequence, sign and verify the audit trail.")


def _ready() -> None:
    try:
        ensure_schema_current()
    except SchemaNotReady as error:
        raise click.ClickException(str(error)) from None


@audit_cli.command("checkpoint")
def checkpoint_command() -> None:
    """Sign the newest entry and print the checkpoint line to keep outside the system."""
    _ready()
    try:
        checkpoint = checkpoint_now()
    except signing.SigningKeyError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    if checkpoint is None:
        db.session.rollback()
        raise click.ClickException("the audit trail is empty: nothing to sign yet")
    db.session.commit()
    click.echo(checkpoint_line(checkpoint))


def _read_lines(path: str) -> list[signing.CheckpointLine]:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise click.ClickException(f"cannot read {path}: {type(error).__name__}") from None
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        parsed = signing.parse_line(raw)
        if parsed is None:
            raise click.ClickException(f"{path}:{number}: not a Hoso checkpoint line")
        lines.append(parsed)
    if not lines:
        raise click.ClickException(f"{path} holds no checkpoint lines")
    return lines


@audit_cli.command("verify")
@click.option("--from", "from_seq", type=click.IntRange(min=1), help="Start at this sequence number.")
@click.option("--against", "against", type=click.Path(dir_okay=False),
              help="A file of checkpoint lines kept outside the system.")
def verify_command(from_seq: int | None, against: str | None) -> None:
    """Recompute the hash chain and check every checkpoint signature."""
    _ready()
    extra = _read_lines(against) if against else []
    newest = head_seq()
    if from_seq is not None and from_seq > newest + 1:
        raise click.ClickException(f"--from {from_seq} is past the newest entry (seq {newest})")
    with click.progressbar(length=max(newest - (from_seq or 1) + 1, 0), label="Verifying audit trail",
                           file=sys.stderr) as bar:
        report = run_verification(from_seq=from_seq, extra_lines=extra, progress=bar.update)
    try:
        record_verification(report)  # the verification itself is part of the record
        db.session.commit()
    except SQLAlchemyError as error:
        # A trail tampered with past its head (rows inserted outside the writer) leaves no
        # free sequence number to append at: say so, and still give the verdict.
        db.session.rollback()
        click.echo(f"warning: this verification could not be recorded in the trail "
                   f"({type(error).__name__})", err=True)
    click.echo(report.summary())
    if not report.ok:
        raise SystemExit(1)


@audit_cli.command("sequence")
@click.option("--once", is_flag=True, help="Link what is committed now, then stop.")
@click.option("--embedded", is_flag=True, hidden=True, help="Started by gunicorn (gunicorn.conf.py).")
def sequence_command(once: bool, embedded: bool) -> None:
    """PostgreSQL: link committed audit entries into the chain, in batches, until stopped
    (SIGTERM or Ctrl-C end it after the pass in progress). One runs at a time: a second one
    waits until the first stops."""
    _ready()
    from flask import current_app  # the config of the app the command runs in

    engine = sequencer.sequencer_engine()
    try:
        sequencer.check_postgresql(engine)
    except sequencer.SequencerUnavailable as error:
        click.echo(f"{NOT_NEEDED}{error}" if embedded else str(error))
        return
    config = current_app.config
    if embedded and config["HOSO_AUDIT_SEQUENCER"] == "external":
        click.echo(f"{NOT_NEEDED}HOSO_AUDIT_SEQUENCER=external: the audit sequencer runs as a service of its own")
        return
    stop = {"asked": False}

    def _stop(_signum, _frame):
        stop["asked"] = True

    if not once:
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    runner = sequencer.Runner(
        engine, batch=config["HOSO_AUDIT_SEQUENCE_BATCH"], poll_seconds=config["HOSO_AUDIT_SEQUENCE_POLL_MS"] / 1000,
        once=once, stopping=lambda: stop["asked"],
        on_wait=lambda: _status("another audit sequencer is running" + ("; it links the entries" if once else
                                ": waiting until it stops")),
        on_pass=(lambda result: _status(f"generation {result.new_generation} started: the database's "
                                        "transaction ids are behind the trail")
                 if result.new_generation else None))
    if not once:
        _status(f"audit sequencer running: batches of {runner.batch}, polling every "
                f"{config['HOSO_AUDIT_SEQUENCE_POLL_MS']} ms")
    try:
        linked = runner.run()
    except SQLAlchemyError as error:
        raise click.ClickException(f"the audit sequencer stopped: {type(error).__name__}") from None
    click.echo(f"linked {linked} audit entries")


def _status(text: str) -> None:
    """A status line of the sequencer on stderr; with HOSO_LOG_FORMAT=json a log record
    instead, so that the service's output stays one JSON object per line (issue 25)."""
    from flask import current_app  # the config of the app the command runs in

    if current_app.config["HOSO_LOG_FORMAT"] == "json":
        logging.getLogger(sequencer.__name__).info("%s", text)
    else:
        click.echo(text, err=True)
