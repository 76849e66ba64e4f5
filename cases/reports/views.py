"""/reports: the periodic statistics report for supervisors, on screen and as JSON, CSV
or XLSX downloads. Counts only cases the viewer may know exist (cases.reports.statistics), over a
unit of their scope with its sub-units. Every view and every download is audited
(`report.view`, `report.export`: period, unit code, format)."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from flask_babel import format_decimal
from flask_login import current_user

from audit.trail import record
from cases.casework.operations import today
from cases.reports import report as reports
from cases.reports import statistics
from cases.reports.forms import ReportForm
from protection.policy import permission

reports_bp = Blueprint("reports", __name__, url_prefix="/reports")


def _form() -> ReportForm:
    """The query string's period and unit; what it leaves out defaults to this month so
    far and the viewer's own unit."""
    now = today()
    return ReportForm(request.args, units=reports.units_in_scope(current_user),
                      data={"start": now.replace(day=1), "end": now, "unit": current_user.unit.code})


def _report(form: ReportForm) -> reports.Report:
    unit = form.chosen_unit
    return reports.build_report(statistics.viewer_scope(current_user, unit.id),
                                statistics.Period(form.start.parsed, form.end.parsed),
                                unit_code=unit.code, unit_name=unit.name, today=today())


def _audit(action: str, report: reports.Report, fmt: str) -> None:
    record(action, target_type="report", period_from=report.period.start.isoformat(),
           period_to=report.period.end.isoformat(), unit=report.unit_code, format=fmt)


def _number(value) -> str:
    return "—" if value is None else format_decimal(value)


@reports_bp.route("/")
@permission("report.view")
def index():
    form = _form()
    report = None
    if form.validate():
        report = _report(form)
        _audit("report.view", report, "html")
    query = {"start": form.start.data, "end": form.end.data, "unit": form.unit.data}
    return render_template("reports/report.html", form=form, report=report, query=query, number=_number,
                           formats=list(reports.FORMATS), shortcuts=reports.period_shortcuts(today()))


@reports_bp.route("/export.<any(json, csv, xlsx):fmt>")
@permission("report.view")
def download(fmt: str):
    form = _form()
    if not form.validate():
        query = {"start": form.start.data, "end": form.end.data, "unit": form.unit.data}
        return render_template("reports/report.html", form=form, report=None, query=query, number=_number,
                               formats=list(reports.FORMATS), shortcuts=reports.period_shortcuts(today())), 400
    report = _report(form)
    body = reports.render(report, fmt)
    _audit("report.export", report, fmt)
    return Response(body, mimetype=reports.FORMATS[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{reports.file_name(report, fmt)}"'})
