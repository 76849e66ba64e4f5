"""`flask --app app import subjects FILE.csv --unit CODE` and `export subjects FILE.csv --unit CODE`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from cases.subjects import operations as subjects
from cases.subjects.roster import RosterFileError, decode, parse_roster
from protection.accounts import find_unit
from protection.db import db, refresh_statistics
from protection.schema import SchemaNotReady, ensure_schema_current

import_cli = AppGroup("import", help="Import records from files.")
export_cli = AppGroup("export", help="Export records to files (audited).")


def _ready():
    try:
        ensure_schema_current()
    except SchemaNotReady as error:
        raise click.ClickException(str(error)) from None


def _unit(code: str):
    unit = find_unit(code)
    if unit is None:
        raise click.ClickException(f"no unit with code {code!r}")
    return unit


@import_cli.command("subjects")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--unit", "unit_code", required=True, help="Code of the unit that will manage these dossiers.")
@click.option("--skip-invalid", is_flag=True, help="Import the good rows and report the bad ones.")
def import_subjects(file: str, unit_code: str, skip_invalid: bool) -> None:
    """Import a roster (UTF-8 CSV with a header). Idempotent on the ID number."""
    _ready()
    unit = _unit(unit_code)
    try:
        parsed = parse_roster(decode(Path(file).read_bytes()))
    except RosterFileError as error:
        raise click.ClickException(f"{file}: {error}") from None
    for problem in parsed.problems:
        click.echo(f"{file}: {problem}", err=True)
    if parsed.problems and not skip_invalid:
        raise click.ClickException(
            f"{len(parsed.problems)} problem(s) in {file}; nothing was imported "
            "(fix the file, or use --skip-invalid to import the good rows)")
    skipped_lines = len({problem.line for problem in parsed.problems})
    try:
        with click.progressbar(length=len(parsed.rows), label="Importing subjects",
                               file=sys.stderr) as bar:
            counts = subjects.import_roster(parsed.rows, owner_unit=unit, progress=bar.update, skipped=skipped_lines)
        db.session.commit()
        refresh_statistics(db.session)  # a bulk load: let SQLite's planner see the new sizes
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    click.echo(f"Imported {file}: {counts.created} created, {counts.updated} updated, "
               f"{counts.unchanged} unchanged, {skipped_lines} rows skipped.")


@export_cli.command("subjects")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--unit", "unit_code", required=True, help="Code of the unit whose dossiers to export.")
def export_subjects(file: str, unit_code: str) -> None:
    """Write the unit's subjects as CSV (same columns as the import), mode 0600."""
    _ready()
    unit = _unit(unit_code)
    body = subjects.export_csv([unit.id], by=None)
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        db.session.rollback()
        raise click.ClickException(f"{file} exists: refusing to overwrite it") from None
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(body)
    db.session.commit()
    click.echo(f"Exported {body.count(chr(10)) - 1} subjects of {unit.code} to {file}.")
