"""The periodic report (cases/reports.py): the command line and the /reports page give the
same numbers for the same period and unit, in every format; every format parses back; bad
input is refused clearly and writes nothing; every view and export is audited; nothing
protected appears in any of it. The world is tests/test_statistics.py's."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
from datetime import timedelta

import openpyxl
import pytest
from babel.numbers import format_decimal

from audit.trail import detail_of
from tests.conftest import audit_entries
from tests.factories import NAMES, TITLES, build_world
from tests.pages import field_errors

SECRETS = (*TITLES, *NAMES, "Người Phản Ánh", "Người Kiến Nghị", "Người Bị Nêu Tên")


@pytest.fixture(autouse=True)
def _rate_limit_out_of_the_way(app_config):
    app_config["HOSO_LOGIN_RATE_LIMIT"] = "1000 per minute"


@pytest.fixture
def world(app, make_unit, make_user):
    return build_world(app, make_unit, make_user)


def period(world) -> tuple[str, str]:
    return (world.today - timedelta(days=60)).strftime("%d/%m/%Y"), world.today.strftime("%d/%m/%Y")


def signed_in(app, sign_in, made):
    client = app.test_client()
    assert sign_in(made, target=client).status_code == 302
    return client


def numbers(document: dict) -> dict:
    """section -> row key -> values: what must agree between outputs."""
    return {section["key"]: {row["key"]: row["values"] for row in section["rows"]} for section in document["sections"]}


def cli(runner, *args):
    return runner.invoke(args=["report", *args])


def no_secrets(text: str) -> None:
    found = [secret for secret in SECRETS if secret in text]
    assert not found, found


# --- the command line ----------------------------------------------------------------------------

def test_the_command_line_and_the_page_give_the_same_numbers(app, runner, sign_in, world, tmp_path):
    start, end = period(world)
    result = cli(runner, "--from", start, "--to", end, "--unit", "BTCTU", "--format", "json")
    assert result.exit_code == 0, result.output
    from_cli = json.loads(result.stdout)
    assert from_cli["period"] == {"from": (world.today - timedelta(days=60)).isoformat(),
                                  "to": world.today.isoformat()}
    assert from_cli["unit"] == {"code": "BTCTU", "name": "Ban Tổ chức Tỉnh ủy"}
    cases = numbers(from_cli)["cases"]
    assert cases["total"] == {"cases": 9} and cases["review.closed"] == {"cases": 1}
    assert numbers(from_cli)["on_time"]["total"] == {"closed": 3, "on_time": 2, "late": 1, "rate": 66.7}
    assert numbers(from_cli)["coordination"]["DUCA"] == {"sent": 1, "answered": 1, "median_days": 6.0,
                                                        "mean_days": 6.0, "overdue": 0}
    no_secrets(result.stdout)

    # A supervisor of the unit, cleared for everything and recused from nothing, sees the same.
    client = signed_in(app, sign_in, world.users["supervisor"])
    query = {"start": start, "end": end, "unit": "BTCTU"}
    response = client.get("/reports/export.json", query_string=query)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith('attachment; filename="bao-cao-BTCTU-')
    from_page = json.loads(response.get_data(as_text=True))
    assert numbers(from_page) == numbers(from_cli)
    assert [s["title"] for s in from_page["sections"]] == [s["title"] for s in from_cli["sections"]]

    # The page shows the same numbers in its tables.
    page = client.get("/reports/", query_string=query)
    assert page.status_code == 200
    body = html.unescape(page.get_data(as_text=True))
    no_secrets(body)
    compared = 0
    for section in from_cli["sections"]:
        table = body[body.index(f'id="section-{section["key"]}"'):]
        table = table[:table.index("</section>")]
        shown = [[cell.strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
                 for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)][1:]
        expected = [[row["label"], *("—" if value is None else format_decimal(value, locale="vi")
                                     for value in row["values"].values())] for row in section["rows"]]
        assert shown == expected, section["key"]
        compared += 1
    assert compared == len(from_cli["sections"]) == 7

    # The CSV and the XLSX, from the command line and from the page, parse back to the same.
    result = cli(runner, "--from", start, "--to", end, "--unit", "BTCTU", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert parse_csv(result.stdout, from_cli) == numbers(from_cli)
    csv_page = client.get("/reports/export.csv", query_string=query)
    assert csv_page.mimetype == "text/csv"
    assert parse_csv(csv_page.get_data(as_text=True), from_cli) == numbers(from_cli)
    no_secrets(result.stdout)

    target = tmp_path / "report.xlsx"
    result = cli(runner, "--from", start, "--to", end, "--unit", "BTCTU", "--format", "xlsx", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert oct(os.stat(target).st_mode & 0o777) == "0o600"
    assert parse_xlsx(target.read_bytes(), from_cli) == numbers(from_cli)
    xlsx_page = client.get("/reports/export.xlsx", query_string=query)
    assert parse_xlsx(xlsx_page.data, from_cli) == numbers(from_cli)
    for data in (target.read_bytes(), xlsx_page.data):
        workbook = openpyxl.load_workbook(io.BytesIO(data))
        no_secrets(" ".join(str(cell) for sheet in workbook for row in sheet.iter_rows(values_only=True)
                            for cell in row if cell is not None))


def _values(cells: list, document_section: dict) -> dict:
    keys = [column["key"] for column in document_section["columns"]]
    return {key: (None if cell in ("", None) else float(cell) if isinstance(cell, str) and "." in cell
                  else int(cell)) for key, cell in zip(keys, cells, strict=True)}


def parse_csv(text: str, document: dict) -> dict:
    """Blocks: a title line, a header line starting "Chỉ tiêu", rows, a note line."""
    lines = list(csv.reader(io.StringIO(text)))
    parsed = {}
    for section in document["sections"]:
        start = lines.index([section["title"]])
        assert lines[start + 1][0] == "Chỉ tiêu"
        rows = lines[start + 2:start + 2 + len(section["rows"])]
        parsed[section["key"]] = {row["key"]: _values(cells[1:], section)
                                  for row, cells in zip(section["rows"], rows, strict=True)}
        assert [cells[0] for cells in rows] == [row["label"] for row in section["rows"]]
    return parsed


def parse_xlsx(data: bytes, document: dict) -> dict:
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    assert len(workbook.sheetnames) == len(document["sections"])
    parsed = {}
    for sheet, section in zip(workbook, document["sections"], strict=True):
        rows = [list(row) for row in sheet.iter_rows(values_only=True)]
        header = next(number for number, row in enumerate(rows) if row[0] == "Chỉ tiêu")
        assert rows[header - 1][0] == section["title"]
        body = rows[header + 1:header + 1 + len(section["rows"])]
        assert [row[0] for row in body] == [row["label"] for row in section["rows"]]
        keys = [column["key"] for column in section["columns"]]
        parsed[section["key"]] = {row["key"]: dict(zip(keys, cells[1:len(keys) + 1], strict=True))
                                  for row, cells in zip(section["rows"], body, strict=True)}
    return parsed


def test_the_command_line_reports_every_unit_without_unit(app, runner, world):
    start, end = period(world)
    result = cli(runner, "--from", start, "--to", end, "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["unit"]["code"] is None
    assert numbers(document)["cases"]["total"] == {"cases": 10}  # BTGTU's review too


def test_the_command_line_export_is_audited(app, runner, world):
    start, end = period(world)
    assert cli(runner, "--from", start, "--to", end, "--unit", "btctu", "--format", "csv").exit_code == 0
    entries = audit_entries(app, "report.export")
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.actor_id, entry.client_address, entry.target_type) == (None, "cli", "report")
    assert detail_of(entry) == {"format": "csv", "period_from": (world.today - timedelta(days=60)).isoformat(),
                                "period_to": world.today.isoformat(), "unit": "BTCTU"}


@pytest.mark.parametrize(("args", "message"), [
    (("--from", "31/12/2026", "--to", "01/01/2026", "--format", "json"), "--to is before --from"),
    (("--from", "01/01/2026", "--to", "31/12/2026", "--unit", "NOPE", "--format", "json"), "no unit with code"),
    (("--from", "31/02/2026", "--to", "31/12/2026", "--format", "json"), "is not a date"),
    (("--from", "hôm qua", "--to", "31/12/2026", "--format", "json"), "is not a date"),
    (("--from", "01/01/2026", "--to", "31/12/2026", "--format", "pdf"), "--format must be one of"),
    (("--from", "01/01/2026", "--to", "31/12/2026"), "--format must be one of"),
    (("--to", "31/12/2026", "--format", "json"), "give --from"),
    (("--from", "01/01/2026", "--to", "31/12/2026", "--format", "xlsx"), "give --output"),
])
def test_bad_input_on_the_command_line(app, runner, world, tmp_path, args, message):
    result = cli(runner, *args, "--output", str(tmp_path / "out")) if message != "give --output" else cli(runner, *args)
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "out").exists() and result.stdout == ""
    assert audit_entries(app, "report.export") == []


def test_the_command_line_never_overwrites_a_file(app, runner, world, tmp_path):
    target = tmp_path / "kept.json"
    target.write_text("giữ nguyên")
    start, end = period(world)
    result = cli(runner, "--from", start, "--to", end, "--format", "json", "--output", str(target))
    assert result.exit_code != 0 and "exists" in result.stderr
    assert target.read_text() == "giữ nguyên"
    assert audit_entries(app, "report.export") == []


# --- the page ----------------------------------------------------------------------------------------

def test_the_page_is_for_supervisors_and_audits_each_view_and_download(app, sign_in, world):
    officer = signed_in(app, sign_in, world.users["officer"])
    assert officer.get("/reports/").status_code == 403
    assert officer.get("/reports/export.csv").status_code == 403
    client = signed_in(app, sign_in, world.users["supervisor"])
    page = client.get("/reports/")  # this month so far, the viewer's own unit
    assert page.status_code == 200
    views = audit_entries(app, "report.view")
    assert len(views) == 1 and views[0].actor_id == world.users["supervisor"].id
    assert detail_of(views[0]) == {"format": "html", "period_from": world.today.replace(day=1).isoformat(),
                                   "period_to": world.today.isoformat(), "unit": "BTCTU"}
    for fmt, mimetype in (("json", "application/json"), ("csv", "text/csv"), ("xlsx", "application/vnd."
                                                                                     "openxmlformats-officedocument"
                                                                                     ".spreadsheetml.sheet")):
        response = client.get(f"/reports/export.{fmt}")
        assert response.status_code == 200 and response.mimetype == mimetype
        assert response.headers["Content-Disposition"].endswith(f'.{fmt}"')
    exports = audit_entries(app, "report.export")
    assert [detail_of(entry)["format"] for entry in exports] == ["json", "csv", "xlsx"]
    assert client.get("/reports/export.pdf").status_code == 404


def test_bad_input_on_the_page_is_refused_beside_the_field(app, sign_in, world):
    client = signed_in(app, sign_in, world.users["supervisor_other"])
    response = client.get("/reports/", query_string={"start": "31/12/2026", "end": "01/01/2026", "unit": "BTCTU"})
    assert response.status_code == 200
    body = html.unescape(response.get_data(as_text=True))
    assert "sau hoặc bằng ngày bắt đầu" in field_errors(body, "end")
    assert "không thuộc phạm vi" in field_errors(body, "unit")  # another unit: an error, not a 403
    assert 'value="2026-12-31"' in body and 'value="2026-01-01"' in body  # input kept, as date inputs read it
    assert "Tổng cộng" not in body  # no report
    response = client.get("/reports/", query_string={"start": "hôm qua", "end": "", "unit": "BTGTU"})
    body = html.unescape(response.get_data(as_text=True))
    assert "Ngày không hợp lệ" in field_errors(body, "start") and field_errors(body, "end")
    assert 'value="hôm qua"' in body
    refused = client.get("/reports/export.csv", query_string={"start": "x", "end": "y", "unit": "HUYEN"})
    assert refused.status_code == 400 and refused.mimetype == "text/html"
    assert audit_entries(app, "report.view") == [] and audit_entries(app, "report.export") == []


@pytest.mark.usefixtures("around_vietnam_midnight")
def test_the_page_counts_only_what_the_viewer_may_see(app, sign_in, world):
    start, end = period(world)
    totals = {}
    for who in ("supervisor", "supervisor_low", "supervisor_recused"):
        client = signed_in(app, sign_in, world.users[who])
        response = client.get("/reports/export.json", query_string={"start": start, "end": end, "unit": "BTCTU"})
        document = json.loads(response.get_data(as_text=True))
        totals[who] = numbers(document)["cases"]["total"]["cases"]
    assert totals == {"supervisor": 9, "supervisor_low": 6, "supervisor_recused": 7}
    # The district's supervisor may choose only the district.
    client = signed_in(app, sign_in, world.users["supervisor_huyen"])
    page = client.get("/reports/").get_data(as_text=True)
    assert re.findall(r'<option[^>]*value="([^"]+)"', page) == ["HUYEN"]
