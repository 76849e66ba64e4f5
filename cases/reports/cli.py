"""`flask --app app report --from DATE --to DATE [--unit CODE] --format json|csv|xlsx [--output FILE]`

The periodic statistics report from the command line: the same tables as the /reports
page (cases/reports.py), for a unit and its sub-units or, without --unit, every unit, at
every classification (the operator who runs it holds the database anyway). JSON and CSV go
to stdout unless --output is given; XLSX is binary and needs --output. An output file is
created with mode 0600 and never overwritten. Every run is recorded in the audit trail
(`report.export`: period, unit code, format) in the transaction that commits after the
report is written.
"""

from __future__ import annotations

import os
from datetime import date

import click
from flask.cli import with_appcontext

from audit.trail import record
from cases.casework.operations import today
from cases.reports import report as reports
from cases.reports import statistics
from protection.accounts import find_unit
from protection.db import db
from protection.forms import parse_date
from protection.schema import SchemaNotReady, ensure_schema_current


def _date(text: str | None, option: str) -> date:
    if not text:
        raise click.ClickException(f"give {option} DATE (dd/mm/yyyy or yyyy-mm-dd)")
    parsed = parse_date(text)
    if parsed is None:
        raise click.ClickException(f"{option}: {text!r} is not a date (dd/mm/yyyy or yyyy-mm-dd)")
    return parsed


@click.command("report", help="Write the periodic statistics report (numbers only; audited).")
@click.option("--from", "start_text", metavar="DATE", help="First day of the period (dd/mm/yyyy or yyyy-mm-dd).")
@click.option("--to", "end_text", metavar="DATE", help="Last day of the period, included.")
@click.option("--unit", "unit_code", metavar="CODE", help="A unit (its sub-units included); default: every unit.")
@click.option("--format", "fmt", metavar="json|csv|xlsx", help="Output format.")
@click.option("--output", metavar="FILE", help="Write to FILE (mode 0600, never overwritten); needed for xlsx.")
@with_appcontext
def report_command(start_text, end_text, unit_code, fmt, output) -> None:
    start, end = _date(start_text, "--from"), _date(end_text, "--to")
    if end < start:
        raise click.ClickException("--to is before --from")
    if fmt not in reports.FORMATS:
        raise click.ClickException(f"--format must be one of {', '.join(reports.FORMATS)}")
    if fmt == "xlsx" and not output:
        raise click.ClickException("xlsx is a binary format: give --output FILE")
    if output and os.path.exists(output):
        raise click.ClickException(f"{output} exists: refusing to overwrite it")
    try:
        ensure_schema_current()
    except SchemaNotReady as error:
        raise click.ClickException(str(error)) from None
    unit = None
    if unit_code:
        unit = find_unit(unit_code)
        if unit is None:
            raise click.ClickException(f"no unit with code {unit_code!r}")
    try:
        report = reports.build_report(statistics.unit_scope(unit.id if unit else None),
                                      statistics.Period(start, end), unit_code=unit.code if unit else None,
                                      unit_name=unit.name if unit else reports.all_units_label(), today=today())
        body = reports.render(report, fmt)
        record("report.export", target_type="report", period_from=start.isoformat(), period_to=end.isoformat(),
               unit=unit.code if unit else None, format=fmt)
        if output:
            _write_new_file(output, body)
        else:
            click.echo(body.decode("utf-8"), nl=False)
        try:
            db.session.commit()
        except Exception:
            if output:
                os.remove(output)  # a report that was not recorded is not handed out
            raise
    except Exception:
        db.session.rollback()
        raise
    if output:
        click.echo(f"Wrote the report for {start:%d/%m/%Y}–{end:%d/%m/%Y} ({unit.code if unit else 'all units'}) "
                   f"to {output}.", err=True)


def _write_new_file(path: str, body: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{path} exists: refusing to overwrite it") from None
    except OSError as error:
        raise click.ClickException(f"{path}: {error.strerror}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(body)
