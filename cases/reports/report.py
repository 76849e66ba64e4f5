"""The periodic statistics report (báo cáo định kỳ): the tables a committee's leadership
sends upward, built from cases.reports.statistics and written as JSON, CSV or XLSX.

The page (cases/report_views.py) and the command line (cases/report_cli.py) both call
`build_report` and the writers below, so the same period and unit give the same numbers
in every format. Numbers and vocabulary labels only: no name, title or summary of anyone.

Every table keeps the same rows from one report to the next (every purpose, type, kind
and state, zeros included), so reports of successive periods line up; only the bodies
asked to verify vary (those with requests in the period).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from cases import labels, workflow
from cases.reports import statistics
from cases.reports.statistics import Period, Scope
from protection import policy
from protection.clock import utcnow
from protection.db import db
from protection.identity import Unit, User
from protection.spreadsheets import csv_writer, write_xlsx_cell, write_xlsx_row, xlsx_workbook


def units_in_scope(user: User) -> list[Unit]:
    """The units `user` may report on: their own first, then the others by name."""
    units = db.session.scalars(select(Unit).where(Unit.id.in_(policy.unit_scope(user)))).all()
    return sorted(units, key=lambda unit: (unit.id != user.unit_id, unit.name, unit.code))

FORMATS = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
TOTAL = "total"


@dataclass
class Column:
    key: str
    label: str


@dataclass
class Row:
    key: str
    label: str
    values: dict[str, int | float | None]


@dataclass
class Section:
    key: str
    title: str
    sheet: str  # a worksheet name: at most 31 characters, none of []:*?/\
    note: str
    columns: list[Column]
    rows: list[Row] = field(default_factory=list)

    def add(self, key: str, label, **values) -> None:
        self.rows.append(Row(key, str(label), {column.key: values.get(column.key, 0) for column in self.columns}))

    def add_total(self, *skip: str) -> None:
        """A total row: the sum of each column (columns in `skip`, such as averages, left empty)."""
        totals = {column.key: None if column.key in skip else sum(row.values[column.key] or 0 for row in self.rows)
                  for column in self.columns}
        self.rows.append(Row(TOTAL, _("Tổng cộng"), totals))


@dataclass
class Report:
    period: Period
    unit_code: str | None
    unit_name: str
    generated_at: datetime
    as_of: date
    sections: list[Section]

    def section(self, key: str) -> Section:
        return next(section for section in self.sections if section.key == key)


def _columns(*pairs) -> list[Column]:
    return [Column(key, str(label)) for key, label in pairs]


# --- building -----------------------------------------------------------------------------

def all_units_label() -> str:
    return _("Tất cả đơn vị")


# --- period shortcuts -------------------------------------------------------------------------

@dataclass(frozen=True)
class Shortcut:
    key: str
    label: str
    period: Period


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _months_before(first: date, months: int) -> date:
    """The first day of the month `months` before the month starting on `first`."""
    index = first.year * 12 + first.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def period_shortcuts(today: date) -> list[Shortcut]:
    """The periods reports are usually made for (quý, 6 tháng, năm): this quarter, the last,
    the last six months and this year so far (each up to today), and the whole of last
    year. Offered as links on the report page: no script, the query string does it."""
    this_quarter = _quarter_start(today)
    last_quarter = _months_before(this_quarter, 3)
    return [
        Shortcut("quarter", _("Quý này"), Period(this_quarter, today)),
        Shortcut("last_quarter", _("Quý trước"),
                 Period(last_quarter, date.fromordinal(this_quarter.toordinal() - 1))),
        Shortcut("six_months", _("6 tháng gần đây"), Period(_months_before(today.replace(day=1), 5), today)),
        Shortcut("year", _("Năm nay"), Period(date(today.year, 1, 1), today)),
        Shortcut("last_year", _("Năm trước"), Period(date(today.year - 1, 1, 1), date(today.year - 1, 12, 31))),
    ]


def build_report(scope: Scope, period: Period, *, unit_code: str | None, unit_name: str, today: date) -> Report:
    petitions = statistics.petitions_by_type(scope, period, today)
    sections = [_cases(scope, period), _reviews(scope, period), _petition_decisions(petitions),
                _petition_deadlines(petitions), _coordination(scope, period, today), _on_time(scope, period),
                _re_reviews(scope, today)]
    return Report(period, unit_code, unit_name, utcnow(), today, sections)


def _cases(scope: Scope, period: Period) -> Section:
    section = Section("cases", _("Hồ sơ mở trong kỳ theo loại và trạng thái hiện nay"), _("Hồ sơ"),
                      _("Hồ sơ có ngày mở trong kỳ, theo trạng thái tại thời điểm lập báo cáo."),
                      _columns(("cases", _l("Số hồ sơ"))))
    counts = statistics.cases_by_state_and_kind(scope, period)
    for kind, flow in workflow.CASE_WORKFLOWS.items():
        for state in flow.states:
            section.add(f"{kind}.{state}", f"{labels.kind(kind)} — {labels.state(state)}",
                        cases=counts.get((kind, state), 0))
    section.add_total()
    return section


def _reviews(scope: Scope, period: Period) -> Section:
    columns = [("opened", _l("Mở trong kỳ")), ("concluded", _l("Kết luận trong kỳ"))]
    columns += [(f"outcome.{code}", labels.OUTCOMES[code]) for code in workflow.CONCLUSION_OUTCOMES]
    section = Section("reviews", _("Thẩm định tiêu chuẩn chính trị theo mục đích và kết quả"), _("Thẩm định"),
                      _("Mở trong kỳ: ngày mở hồ sơ trong kỳ. Kết luận trong kỳ: kết luận được phê duyệt sau cùng "
                        "(tính đến hết kỳ) được phê duyệt trong kỳ; kết quả là của kết luận đó."),
                      _columns(*columns))
    counts = statistics.reviews_by_purpose(scope, period)
    for purpose in workflow.REVIEW_PURPOSES:
        item = counts.get(purpose, statistics.ReviewCounts())
        section.add(purpose, labels.PURPOSES[purpose], opened=item.opened, concluded=item.concluded,
                    **{f"outcome.{code}": item.outcomes.get(code, 0) for code in workflow.CONCLUSION_OUTCOMES})
    section.add_total()
    return section


DECISION_COLUMNS = ("accept", "forward", "keep_for_monitoring", "file")


def _petition_decisions(counts: dict[str, statistics.PetitionCounts]) -> Section:
    columns = [("received", _l("Tiếp nhận"))]
    columns += [(f"decision.{code}", labels.DECISIONS[code]) for code in DECISION_COLUMNS]
    columns += [("undecided", _l("Chưa xử lý"))]
    section = Section("petitions", _("Đơn thư tiếp nhận trong kỳ theo loại và cách xử lý"), _("Đơn thư"),
                      _("Đơn có ngày nhận trong kỳ, theo quyết định xử lý ban đầu."), _columns(*columns))
    for petition_type in workflow.PETITION_TYPES:
        item = counts.get(petition_type, statistics.PetitionCounts())
        section.add(petition_type, labels.PETITION_TYPES[petition_type], received=item.received,
                    undecided=item.decisions.get(None, 0),
                    **{f"decision.{code}": item.decisions.get(code, 0) for code in DECISION_COLUMNS})
    section.add_total()
    return section


def _petition_deadlines(counts: dict[str, statistics.PetitionCounts]) -> Section:
    section = Section("petition_deadlines", _("Đơn thư tiếp nhận trong kỳ theo thời hạn giải quyết"),
                      _("Thời hạn đơn thư"),
                      _("Đã giải quyết: đơn đã chuyển, đã lưu hoặc đã có kết luận được phê duyệt; đúng hạn khi "
                        "xong trước hoặc đúng ngày hết hạn. Đang giải quyết: tính đến ngày lập báo cáo."),
                      _columns(("received", _l("Tiếp nhận")), ("on_time", _l("Giải quyết đúng hạn")),
                               ("late", _l("Giải quyết quá hạn")), ("overdue", _l("Đang giải quyết, quá hạn")),
                               ("open", _l("Đang giải quyết, trong hạn"))))
    for petition_type in workflow.PETITION_TYPES:
        item = counts.get(petition_type, statistics.PetitionCounts())
        section.add(petition_type, labels.PETITION_TYPES[petition_type], received=item.received,
                    **{key: item.timeliness.get(key, 0) for key in ("on_time", "late", "overdue", "open")})
    section.add_total()
    return section


def _coordination(scope: Scope, period: Period, today: date) -> Section:
    section = Section("coordination", _("Yêu cầu phối hợp xác minh gửi trong kỳ theo cơ quan"), _("Phối hợp"),
                      _("Thời gian trả lời: số ngày từ ngày gửi đến ngày cơ quan trả lời (lần trả lời sau cùng). "
                        "Quá hạn: chưa trả lời xong mà đã qua hạn, tính đến ngày lập báo cáo."),
                      _columns(("sent", _l("Đã gửi")), ("answered", _l("Đã trả lời")),
                               ("median_days", _l("Trung vị thời gian trả lời (ngày)")),
                               ("mean_days", _l("Trung bình thời gian trả lời (ngày)")),
                               ("overdue", _l("Quá hạn chưa trả lời"))))
    everyone = []
    for body in statistics.coordination_by_body(scope, period, today):
        everyone.extend(body.response_days)
        section.add(body.code, body.name, sent=body.sent, answered=body.answered, median_days=body.median_days,
                    mean_days=body.mean_days, overdue=body.overdue)
    section.add_total("median_days", "mean_days")
    section.rows[-1].values.update(median_days=statistics.median_of(everyone), mean_days=statistics.mean_of(everyone))
    return section


def _on_time(scope: Scope, period: Period) -> Section:
    section = Section("on_time", _("Hồ sơ kết thúc trong kỳ và tỷ lệ đúng hạn"), _("Đúng hạn"),
                      _("Hồ sơ kết thúc (đã có kết luận được phê duyệt, đơn đã chuyển hoặc đã lưu) trong kỳ; "
                        "đúng hạn khi kết thúc trước hoặc đúng ngày hết hạn."),
                      _columns(("closed", _l("Kết thúc trong kỳ")), ("on_time", _l("Đúng hạn")),
                               ("late", _l("Quá hạn")), ("rate", _l("Tỷ lệ đúng hạn (%)"))))
    counts = statistics.on_time(scope, period)
    for kind in workflow.CASE_WORKFLOWS:
        item = counts.get(kind, statistics.OnTime())
        section.add(kind, labels.KINDS[kind], closed=item.closed, on_time=item.on_time, late=item.late,
                    rate=item.rate)
    total = statistics.total_on_time(counts)
    section.rows.append(Row(TOTAL, _("Tổng cộng"), {"closed": total.closed, "on_time": total.on_time,
                                                    "late": total.late, "rate": total.rate}))
    return section


def _re_reviews(scope: Scope, today: date) -> Section:
    section = Section("re_reviews", _("Đối tượng cần thẩm định lại"), _("Thẩm định lại"),
                      _("Đối tượng có kết luận được phê duyệt sau cùng đã hết hiệu lực, tính đến ngày lập báo cáo; "
                        "theo mục đích của lần thẩm định đó."),
                      _columns(("subjects", _l("Số đối tượng"))))
    counts = statistics.re_reviews_due(scope, today)
    for purpose in workflow.REVIEW_PURPOSES:
        section.add(purpose, labels.PURPOSES[purpose], subjects=counts.get(purpose, 0))
    section.add_total()
    return section


# --- writing ------------------------------------------------------------------------------

def as_dict(report: Report) -> dict:
    return {
        "report": "hoso.periodic-statistics",
        "period": {"from": report.period.start.isoformat(), "to": report.period.end.isoformat()},
        "unit": {"code": report.unit_code, "name": report.unit_name},
        "generated_at": report.generated_at.isoformat(timespec="seconds"),
        "as_of": report.as_of.isoformat(),
        "sections": [{
            "key": section.key, "title": section.title, "note": section.note,
            "columns": [{"key": column.key, "label": column.label} for column in section.columns],
            "rows": [{"key": row.key, "label": row.label, "values": row.values} for row in section.rows],
        } for section in report.sections],
    }


def to_json(report: Report) -> str:
    return json.dumps(as_dict(report), ensure_ascii=False, indent=2) + "\n"


def _heading(report: Report) -> list[list[str]]:
    return [[_("Báo cáo thống kê công tác bảo vệ chính trị nội bộ")],
            [_("Kỳ báo cáo"), report.period.start.strftime("%d/%m/%Y"), report.period.end.strftime("%d/%m/%Y")],
            [_("Đơn vị"), report.unit_code or "", report.unit_name],
            [_("Lập lúc (UTC)"), report.generated_at.strftime("%d/%m/%Y %H:%M")]]


def to_csv(report: Report) -> str:
    """One block per table: its title, a header row, its rows, a blank line."""
    buffer = io.StringIO()
    writer = csv_writer(buffer, lineterminator="\n")  # every cell through spreadsheet_cell
    writer.writerows(_heading(report))
    for section in report.sections:
        writer.writerow([])
        writer.writerow([section.title])
        writer.writerow([_("Chỉ tiêu"), *(column.label for column in section.columns)])
        for row in section.rows:
            writer.writerow([row.label, *(row.values[column.key] for column in section.columns)])
        writer.writerow([section.note])
    return buffer.getvalue()


def to_xlsx(report: Report) -> bytes:
    """One worksheet per table: the report's heading, the table's title, a header row
    (the row whose first cell is "Chỉ tiêu"), its rows, then the note."""
    buffer = io.BytesIO()
    # Text stays text (a unit name starting with "=" was a live formula on every sheet).
    workbook = xlsx_workbook(buffer, in_memory=True)
    bold = workbook.add_format({"bold": True})
    header = workbook.add_format({"bold": True, "text_wrap": True, "valign": "top", "bottom": 1})
    for section in report.sections:
        sheet = workbook.add_worksheet(section.sheet)
        line = 0
        for line, cells in enumerate(_heading(report)):
            write_xlsx_row(sheet, line, 0, cells, bold if line == 0 else None)
        line += 2
        write_xlsx_cell(sheet, line, 0, section.title, bold)
        line += 1
        write_xlsx_row(sheet, line, 0, [_("Chỉ tiêu"), *(column.label for column in section.columns)], header)
        for row in section.rows:
            line += 1
            write_xlsx_cell(sheet, line, 0, row.label, bold if row.key == TOTAL else None)
            write_xlsx_row(sheet, line, 1, [row.values[column.key] for column in section.columns])
        write_xlsx_cell(sheet, line + 2, 0, section.note)
        sheet.set_column(0, 0, 48)
        sheet.set_column(1, len(section.columns), 16)
    workbook.close()
    return buffer.getvalue()


WRITERS = {"json": to_json, "csv": to_csv, "xlsx": to_xlsx}


def render(report: Report, fmt: str) -> bytes:
    body = WRITERS[fmt](report)
    return body if isinstance(body, bytes) else body.encode("utf-8")


def file_name(report: Report, fmt: str) -> str:
    """ASCII only (a Content-Disposition and any file system take it)."""
    unit = "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in (report.unit_code or "tat-ca"))
    return f"bao-cao-{unit}-{report.period.start:%Y%m%d}-{report.period.end:%Y%m%d}.{fmt}"
