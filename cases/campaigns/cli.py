"""`flask --app app campaign import ...` and `campaign status REF --format json|csv|xlsx`.

The operator at the command line acts as `import subjects` does: as nobody in particular
(by=None, audited as the command line), over the units they name. Failures are one line
on stderr with a non-zero exit, and nothing is written; `import` prints the new campaign's
reference alone on the last line of its output, for scripts.
"""

from __future__ import annotations

import io
import json
import os
import sys
from datetime import date
from pathlib import Path

import click
from flask.cli import AppGroup
from flask_babel import force_locale
from sqlalchemy import select

from cases import workflow
from cases.campaigns import exports
from cases.campaigns import operations as campaigns
from cases.campaigns.operations import CampaignData, CampaignError
from cases.models import Campaign
from cases.subjects.roster import NOMINEE_COLUMNS, RosterFileError, decode, parse_roster
from protection.accounts import find_unit
from protection.db import db, refresh_statistics
from protection.i18n import local_today
from protection.identity import Clearance
from protection.schema import SchemaNotReady, ensure_schema_current
from protection.spreadsheets import csv_writer

campaign_cli = AppGroup("campaign", help="Review campaigns (đợt thẩm định).")

FORMATS = ("json", "csv", "xlsx")
STATUS_COLUMNS = ("number", "full_name", "date_of_birth", "unit", "position", "case_reference",
                  "conclusion_number", "conclusion_date", "outcome", "valid_until", "reused")


def _ready() -> None:
    try:
        ensure_schema_current()
    except SchemaNotReady as error:
        raise click.ClickException(str(error)) from None


def _due(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise click.ClickException(f"--due {text!r}: write the date as YYYY-MM-DD") from None


def _checked_options(unit_code: str, purpose: str, due_text: str, classification: str):
    unit = find_unit(unit_code)
    if unit is None:
        raise click.ClickException(f"no unit with code {unit_code!r}")
    today = local_today()
    if workflow.campaign_purpose(purpose, today) is None:
        keys = ", ".join(item.key for item in workflow.campaign_purposes_on(today))
        raise click.ClickException(f"unknown purpose {purpose!r}: use one of {keys}")
    due_on = _due(due_text)
    if due_on < today:
        raise click.ClickException(f"--due {due_text}: the due date is in the past")
    if classification not in {level.value for level in Clearance}:
        raise click.ClickException(f"unknown classification {classification!r}: use one of "
                                   f"{', '.join(level.value for level in Clearance)}")
    return unit, due_on


@campaign_cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--unit", "unit_code", required=True, help="Code of the unit that owns the campaign.")
@click.option("--purpose", required=True, help="congress, planning, appointment or admission.")
@click.option("--title", required=True, help="The campaign's title (stored encrypted).")
@click.option("--due", "due_text", required=True, help="Due date, YYYY-MM-DD (today or later).")
@click.option("--classification", default="unclassified", show_default=True,
              help="unclassified, confidential, secret or top_secret.")
@click.option("--skip-invalid", is_flag=True, help="Add the good rows and report the bad ones.")
def import_campaign(file: str, unit_code: str, purpose: str, title: str, due_text: str, classification: str,
                    skip_invalid: bool) -> None:
    """Create a campaign from a list of nominees (UTF-8 CSV with the header
    id_number,full_name,date_of_birth,unit,position): each is matched to their dossier by
    citizen ID within the unit's scope, and a new person gets a dossier in the unit."""
    _ready()
    unit, due_on = _checked_options(unit_code, purpose, due_text, classification)
    try:
        parsed = parse_roster(decode(Path(file).read_bytes()), today=local_today(), required=NOMINEE_COLUMNS)
    except RosterFileError as error:
        raise click.ClickException(f"{file}: {error}") from None
    for problem in parsed.problems:
        click.echo(f"{file}: {problem}", err=True)
    if parsed.problems and not skip_invalid:
        raise click.ClickException(
            f"{len(parsed.problems)} problem(s) in {file}; nothing was imported "
            "(fix the file, or use --skip-invalid to import the good rows)")
    if not parsed.rows:
        raise click.ClickException(f"{file}: no nominee to import; nothing was created")
    try:
        campaign = campaigns.create_campaign(CampaignData(purpose, title, unit.id, due_on, classification), by=None)
        with click.progressbar(length=len(parsed.rows), label="Matching nominees", file=sys.stderr) as bar:
            result = campaigns.add_nominees_from_roster(campaign, parsed.rows, by=None, progress=bar.update,
                                                        skip_invalid=skip_invalid)
        reference = campaign.reference
        db.session.commit()
        refresh_statistics(db.session)  # a bulk load: let SQLite's planner see the new sizes
        db.session.commit()
    except CampaignError as error:
        db.session.rollback()
        raise click.ClickException(f"{error.field or 'campaign'}: {error.message}") from None
    except Exception:
        db.session.rollback()
        raise
    skipped = len({problem.line for problem in parsed.problems})
    click.echo(f"Imported {file}: {result.added} nominees ({result.matched} matched to dossiers, "
               f"{result.created} new dossiers), {skipped} rows skipped.")
    click.echo(reference)


# --- status ---------------------------------------------------------------------------------------

def _campaign(reference: str) -> Campaign:
    campaign = db.session.scalar(select(Campaign).where(Campaign.reference == reference.strip().upper()))
    if campaign is None:
        raise click.ClickException(f"no campaign with reference {reference!r}")
    return campaign


def _values(line: campaigns.SummaryLine) -> dict:
    values = {name: getattr(line, name) for name in STATUS_COLUMNS}
    for name, value in values.items():
        if isinstance(value, date):
            values[name] = value.isoformat()
    return values


def _json(campaign: Campaign, lines: list) -> bytes:
    # The title is left out: a reference, a purpose and dates say which campaign this is.
    body = {"reference": campaign.reference, "purpose": campaign.purpose, "state": campaign.state,
            "classification": Clearance(campaign.classification).value, "due_on": campaign.due_on.isoformat(),
            "nominees": [_values(line) for line in lines]}
    return (json.dumps(body, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _csv(lines: list) -> bytes:
    buffer = io.StringIO()
    writer = csv_writer(buffer)  # every cell as text, never a formula
    writer.writerow([*STATUS_COLUMNS, "outcome_text"])
    with force_locale("vi"):
        for line in lines:
            values = _values(line)
            writer.writerow([*("" if values[name] is None else values[name] for name in STATUS_COLUMNS),
                             exports.outcome_text(line)])
    return buffer.getvalue().encode("utf-8")


def _open_new(path: str):
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{path} exists: refusing to overwrite it") from None
    except OSError as error:
        raise click.ClickException(f"{path}: cannot write it ({error.strerror})") from None


@campaign_cli.command("status")
@click.argument("reference")
@click.option("--format", "format_", type=click.Choice(FORMATS), default="json", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), help="Write to this new file (mode 0600) instead.")
def campaign_status(reference: str, format_: str, output: str | None) -> None:
    """Print a campaign's summary: every nominee in list order with their conclusion's
    number, date and approved outcome (none when there is no approved conclusion yet).
    Names are on it: the read is audited, and a file is written owner-only."""
    _ready()
    if format_ == "xlsx" and not output:
        raise click.ClickException("--format xlsx needs --output FILE")
    campaign = _campaign(reference)
    lines = campaigns.summary(campaign, None)
    body = (exports.summary_xlsx(campaign, lines) if format_ == "xlsx"
            else _csv(lines) if format_ == "csv" else _json(campaign, lines))
    descriptor = _open_new(output) if output else None
    try:
        # Recorded and committed before a name leaves: the trail must know of every read.
        campaigns.record_summary(campaign, lines=len(lines), format=format_)
        db.session.commit()
    except Exception:
        db.session.rollback()
        if descriptor is not None:
            os.close(descriptor)
            os.unlink(output)
        raise
    if descriptor is None:
        click.echo(body.decode("utf-8"), nl=False)
        return
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(body)
    click.echo(f"Wrote the summary of {campaign.reference} ({len(lines)} nominees) to {output}.", err=True)
