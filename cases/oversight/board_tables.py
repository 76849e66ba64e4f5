"""The unit board as tables, charts and a workbook: the page and the XLSX are drawn from the
same `Table`s, so they show the same numbers (the XLSX writes them as numbers, the page as
the reader's locale writes them).

Every label is a unit's name or code, a body's, or a fixed word: no person, no case."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from flask_babel import format_decimal
from flask_babel import gettext as _

from cases import labels
from cases.dashboard import charts
from cases.oversight.board import KINDS, OPEN_STATES, Board, UnitRow
from protection.spreadsheets import write_xlsx_cell, write_xlsx_row, xlsx_workbook

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
OWN, UNIT, TOTAL = "own", "unit", "total"


@dataclass
class TableRow:
    label: str
    values: list[int | float | None]
    kind: str = UNIT  # own (the supervisor's unit, for reference), unit, total
    depth: int = 1
    code: str = ""


@dataclass
class Table:
    key: str
    title: str
    sheet: str  # a worksheet name: at most 31 characters, none of []:*?/\
    note: str
    columns: list[str]  # the first names the row labels' column
    rows: list[TableRow] = field(default_factory=list)


def number(value) -> str:
    """A figure as the page writes it: "—" when there is none."""
    return "—" if value is None else format_decimal(value)


# --- tables -------------------------------------------------------------------------------------

def _unit_rows(board: Board, values) -> list[TableRow]:
    rows = [TableRow(row.name, values(row), OWN if row.own else UNIT, row.depth, row.code) for row in board.rows]
    rows.append(TableRow(_("Cộng các đơn vị trực thuộc"), values(board.total()), TOTAL, 0))
    return rows


def _summary_values(row: UnitRow) -> list[int | float | None]:
    return [row.open_reviews, row.open_petitions, row.overdue, len(row.review_days), row.median_review_days,
            len(row.petition_days), row.median_petition_days, row.expiring, row.requests_overdue,
            row.recommendations_overdue]


def summary_table(board: Board) -> Table:
    return Table(
        "summary", _("Tổng hợp theo đơn vị"), _("Tổng hợp"),
        _("Mỗi dòng là số liệu riêng của đơn vị đó (không cộng đơn vị cấp dưới). Quá hạn: hồ sơ đang mở đã qua "
          "hạn xử lý. Trung vị: số ngày từ mở hồ sơ đến khi kết thúc (thẩm định kết thúc trong kỳ), từ ngày nhận "
          "đơn đến quyết định xử lý (đơn thư có quyết định trong kỳ). Kết luận sắp hết hiệu lực: kết luận thẩm "
          "định được phê duyệt sau cùng của mỗi người, hết hiệu lực trong %(days)d ngày tới. Yêu cầu phối hợp "
          "quá hạn: đang chờ cơ quan trả lời mà đã qua hạn. Kiến nghị quá hạn: kiến nghị sau kiểm tra chưa hoàn "
          "thành (chưa báo cáo hoặc đã báo cáo nhưng chưa được chấp nhận) đã qua hạn, theo đơn vị chịu trách "
          "nhiệm.", days=(board.horizon - board.today).days),
        [_("Đơn vị"), _("Thẩm định đang mở"), _("Đơn thư đang mở"), _("Hồ sơ quá hạn"),
         _("Thẩm định kết thúc trong kỳ"), _("Trung vị ngày đến kết luận"), _("Đơn thư có quyết định trong kỳ"),
         _("Trung vị ngày đến quyết định xử lý"), _("Kết luận sắp hết hiệu lực (%(days)d ngày)",
                                                    days=(board.horizon - board.today).days),
         _("Yêu cầu phối hợp quá hạn"), _("Kiến nghị kiểm tra quá hạn")],
        _unit_rows(board, _summary_values))


def states_table(board: Board) -> Table:
    kind_names = {kind: labels.kind(kind) for kind in KINDS}
    return Table(
        "states", _("Hồ sơ đang mở theo trạng thái"), _("Theo trạng thái"),
        _("Hồ sơ chưa kết thúc, theo loại và trạng thái hiện nay; mỗi dòng là số liệu riêng của đơn vị đó."),
        [_("Đơn vị"), *(f"{kind_names[kind]} — {labels.state(state)}" for kind, state in OPEN_STATES)],
        _unit_rows(board, lambda row: [row.open_by_state.get(pair, 0) for pair in OPEN_STATES]))


def bodies_table(board: Board) -> Table:
    """One row per partner body with overdue requests; a column per unit waiting on one."""
    waiting = [row for row in board.rows if any(body.by_unit.get(row.unit_id) for body in board.bodies)]
    table = Table(
        "bodies", _("Yêu cầu phối hợp quá hạn theo cơ quan"), _("Cơ quan phối hợp"),
        _("Yêu cầu xác minh gửi từ hồ sơ của các đơn vị, đang chờ cơ quan trả lời mà đã qua hạn, tính đến "
          "ngày lập; theo cơ quan được đề nghị và đơn vị gửi."),
        [_("Cơ quan phối hợp"), _("Tổng số quá hạn"), *(row.name for row in waiting)])
    for body in board.bodies:
        table.rows.append(TableRow(body.name, [body.overdue, *(body.by_unit.get(row.unit_id, 0) for row in waiting)],
                                   UNIT, 1, body.code))
    if board.bodies:
        table.rows.append(TableRow(_("Tổng cộng"), [sum(body.overdue for body in board.bodies),
                                                    *(row.requests_overdue for row in waiting)], TOTAL, 0))
    return table


def tables(board: Board) -> list[Table]:
    return [summary_table(board), states_table(board), bodies_table(board)]


# --- charts (the sub-units only: the reference row is in the tables) ------------------------------

def _days(value: float | None) -> str:
    return _("%(days)s ngày", days=format_decimal(value)) if value is not None else _("chưa có")


def _median_chart(rows: list[UnitRow], medians: list[float | None], counts: list[int], *, summary: str,
                  count_header: str) -> charts.Chart:
    chart = charts.value_rows(
        [row.name for row in rows], [value or 0 for value in medians], [_days(value) for value in medians],
        [[str(count), number(value)] for count, value in zip(counts, medians, strict=True)],
        summary=summary, columns=[_("Đơn vị"), count_header, _("Trung vị (ngày)")])
    chart.empty = all(value is None for value in medians)
    return chart


def board_charts(board: Board) -> dict[str, charts.Chart]:
    rows = board.sub_units
    names = [row.name for row in rows]
    total = board.total()
    open_chart = charts.stacked_rows(
        names, [labels.kind(kind) for kind in KINDS], [[row.open_of(kind) for kind in KINDS] for row in rows],
        summary=_("%(reviews)s hồ sơ thẩm định và %(petitions)s đơn thư đang mở ở %(units)s đơn vị trực thuộc.",
                  reviews=total.open_reviews, petitions=total.open_petitions, units=len(rows)),
        category_header=_("Đơn vị"), total_header=_("Tổng"))
    late_chart = charts.stacked_rows(
        names, [_("Hồ sơ quá hạn"), _("Yêu cầu phối hợp quá hạn"), _("Kiến nghị kiểm tra quá hạn")],
        [[row.overdue, row.requests_overdue, row.recommendations_overdue] for row in rows],
        summary=_("Quá hạn ở các đơn vị trực thuộc: %(cases)s hồ sơ, %(requests)s yêu cầu phối hợp, "
                  "%(recommendations)s kiến nghị kiểm tra.", cases=total.overdue, requests=total.requests_overdue,
                  recommendations=total.recommendations_overdue),
        category_header=_("Đơn vị"), total_header=_("Tổng"))
    reviews_chart = _median_chart(
        rows, [row.median_review_days for row in rows], [len(row.review_days) for row in rows],
        summary=_("Trung vị số ngày từ mở hồ sơ đến khi kết thúc của %(count)s hồ sơ thẩm định kết thúc trong kỳ.",
                  count=len(total.review_days)), count_header=_("Kết thúc trong kỳ"))
    petitions_chart = _median_chart(
        rows, [row.median_petition_days for row in rows], [len(row.petition_days) for row in rows],
        summary=_("Trung vị số ngày từ nhận đơn đến quyết định xử lý của %(count)s đơn thư có quyết định trong kỳ.",
                  count=len(total.petition_days)), count_header=_("Có quyết định trong kỳ"))
    bodies_chart = charts.value_rows(
        [body.name for body in board.bodies], [body.overdue for body in board.bodies],
        [str(body.overdue) for body in board.bodies],
        [[str(body.overdue), ", ".join(f"{board.unit_name_of(unit_id)}: {count}"
                                       for unit_id, count in body.by_unit.items())] for body in board.bodies],
        summary=_("%(count)s yêu cầu phối hợp quá hạn, ở %(bodies)s cơ quan.",
                  count=sum(body.overdue for body in board.bodies), bodies=len(board.bodies)),
        columns=[_("Cơ quan phối hợp"), _("Quá hạn"), _("Theo đơn vị gửi")])
    return {"open": open_chart, "late": late_chart, "reviews": reviews_chart, "petitions": petitions_chart,
            "bodies": bodies_chart}


# --- the workbook -------------------------------------------------------------------------------------

def _heading(board: Board) -> list[list]:
    return [[_("Theo dõi đơn vị trực thuộc")],
            [_("Kỳ"), board.period.start.strftime("%d/%m/%Y"), board.period.end.strftime("%d/%m/%Y")],
            [_("Đơn vị"), board.unit_code, board.unit_name],
            [_("Tính đến ngày"), board.today.strftime("%d/%m/%Y")],
            [_("Lập lúc (UTC)"), board.generated_at.strftime("%d/%m/%Y %H:%M")]]


def to_xlsx(board: Board) -> bytes:
    """One worksheet per table: the board's heading, a blank line, the table's title, its header
    row (first cell as on the page), its rows (a unit's name indented by its depth), then the
    note. Text goes through the spreadsheet rule (a unit named "=..." stays text)."""
    buffer = io.BytesIO()
    workbook = xlsx_workbook(buffer, in_memory=True)
    bold = workbook.add_format({"bold": True})
    header = workbook.add_format({"bold": True, "text_wrap": True, "valign": "top", "bottom": 1})
    indents = {}
    for table in tables(board):
        sheet = workbook.add_worksheet(table.sheet)
        line = 0
        for line, cells in enumerate(_heading(board)):
            write_xlsx_row(sheet, line, 0, cells, bold if line == 0 else None)
        line += 2
        write_xlsx_cell(sheet, line, 0, table.title, bold)
        line += 1
        write_xlsx_row(sheet, line, 0, table.columns, header)
        for row in table.rows:
            line += 1
            if row.kind == TOTAL or row.kind == OWN:
                label_format = bold
            else:
                label_format = indents.get(row.depth) or indents.setdefault(
                    row.depth, workbook.add_format({"indent": max(row.depth - 1, 0)}))
            write_xlsx_cell(sheet, line, 0, row.label, label_format)
            write_xlsx_row(sheet, line, 1, row.values)
        write_xlsx_cell(sheet, line + 2, 0, table.note)
        sheet.set_column(0, 0, 40)
        sheet.set_column(1, len(table.columns), 16)
    workbook.close()
    return buffer.getvalue()


def file_name(board: Board) -> str:
    """ASCII only (a Content-Disposition and any file system take it)."""
    unit = "".join(ch if (ch.isascii() and ch.isalnum()) or ch == "-" else "-" for ch in board.unit_code)
    return f"theo-doi-don-vi-{unit}-{board.period.start:%Y%m%d}-{board.period.end:%Y%m%d}.xlsx"
