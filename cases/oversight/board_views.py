"""/oversight/board: the unit board of a supervisor whose unit has sub-units, on screen and as
XLSX (cases/oversight/board.py counts, board_tables.py lays it out). Numbers only; each view
and each download is audited (`oversight.board.view`, `oversight.board.export`: the period
and how many sub-units were shown), like the periodic report's."""

from __future__ import annotations

from flask import Response, redirect, render_template, request, url_for

from audit.trail import record
from cases.casework.operations import today
from cases.oversight import board as boards
from cases.oversight import board_tables
from cases.oversight.blueprint import oversight_bp
from cases.oversight.board_forms import BoardPeriodForm
from protection import policy
from protection.policy import permission
from protection.web import signed_in_user


def _form() -> BoardPeriodForm:
    """The query string's period; what it leaves out defaults to the last twelve months."""
    default = boards.default_period(today())
    return BoardPeriodForm(request.args, data={"start": default.start, "end": default.end})


def _board(form: BoardPeriodForm) -> boards.Board:
    return boards.build(signed_in_user(), boards.Period(form.start.parsed, form.end.parsed), today())


def _audit(action: str, board: boards.Board, fmt: str) -> None:
    record(action, target_type="unit", target_id=board.unit_id, period_from=board.period.start.isoformat(),
           period_to=board.period.end.isoformat(), units=len(board.sub_units), format=fmt)


def _page(form: BoardPeriodForm, board: boards.Board | None, status: int = 200):
    query = {"start": form.start.data, "end": form.end.data}
    return render_template("oversight/board.html", form=form, board=board, query=query,
                           tables=board_tables.tables(board) if board else [],
                           charts=board_tables.board_charts(board) if board else {},
                           number=board_tables.number), status


@oversight_bp.route("/board")
@permission("oversight.board")
def board():
    if not boards.has_sub_units(signed_in_user()):
        return render_template("oversight/board_no_sub_units.html")
    form = _form()
    found = None
    if form.validate():
        found = _board(form)
        _audit("oversight.board.view", found, "html")
    return _page(form, found)


@oversight_bp.route("/board.xlsx")
@permission("oversight.board")
def board_xlsx():
    if not boards.has_sub_units(signed_in_user()):
        return render_template("oversight/board_no_sub_units.html")
    form = _form()
    if not form.validate():
        return _page(form, None, 400)
    found = _board(form)
    body = board_tables.to_xlsx(found)
    _audit("oversight.board.export", found, "xlsx")
    return Response(body, mimetype=board_tables.XLSX_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{board_tables.file_name(found)}"'})


@oversight_bp.route("/")
@permission("guidance.view")
def index():
    """The menu's one entry for oversight: a supervisor with sub-units lands on their board,
    everyone else on the guidance their units publish; the three pages share tabs."""
    user = signed_in_user()
    if policy.can(user, "oversight.board") and boards.has_sub_units(user):
        return redirect(url_for("oversight.board"))
    return redirect(url_for("oversight.guidance_library"))
