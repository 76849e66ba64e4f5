"""`flask --app app campaign import` and `campaign status` through the real CLI (issue 20 §A.6,
§A.7): the reference alone on the last line, one-line refusals that write nothing and name
no value, an idempotent second list, and a status read that is audited and written
owner-only."""

from __future__ import annotations

import json
import stat
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from cases.models import Campaign, CampaignNominee, Subject
from protection.db import db
from tests.conftest import audit_entries
from tests.pages import org_today

HEADER = "id_number,full_name,date_of_birth,unit,position"
ROWS = ["038095000001,Trịnh Văn Đại Biểu,01/02/1970,Sở Tài chính,Giám đốc",
        "038095000002,Mạc Thị Ứng Cử,1975-03-04,Huyện ủy Sơn Hà,Bí thư",
        "038095000003,Lã Văn Quy Hoạch,05/06/1980,Báo tỉnh,Tổng biên tập"]
PROTECTED = ("Trịnh", "Mạc Thị", "Lã Văn", "038095000001", "038095000002", "038095000003", "Sở Tài chính",
             "Giám đốc", "Bí thư", "Báo tỉnh", "Nhân sự Đại hội")
TITLE = "Nhân sự Đại hội Đảng bộ tỉnh (thử dòng lệnh)"


@pytest.fixture(autouse=True)
def units(make_unit):
    make_unit("BTCTU")
    make_unit("HUYEN", "Ban Tổ chức Huyện ủy", kind="district", parent="BTCTU")


def write(tmp_path, lines, name="nominees.csv") -> str:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def due(days: int = 30) -> str:
    return (org_today() + timedelta(days=days)).isoformat()


def run_import(runner, path, *options, purpose="congress", due_on=None, unit="BTCTU"):
    return runner.invoke(args=["campaign", "import", "--unit", unit, "--purpose", purpose, "--title", TITLE,
                               "--due", due_on or due(), *options, path])


def counts(app) -> tuple[int, int, int]:
    with app.app_context():
        values = tuple(db.session.scalar(select(func.count()).select_from(model))
                       for model in (Campaign, CampaignNominee, Subject))
        db.session.commit()
    return values


def assert_clean_failure(result, *, says: str) -> None:
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output and says in result.output
    for value in PROTECTED:
        assert value not in result.output, value


def test_import_creates_the_campaign_and_prints_its_reference_alone_on_the_last_line(app, runner, tmp_path):
    result = run_import(runner, write(tmp_path, [HEADER, *ROWS]), "--classification", "confidential")
    assert result.exit_code == 0, result.output
    reference = result.stdout.strip().splitlines()[-1]
    assert reference == f"DTD-{org_today().year}-0001"
    assert "3 nominees" in result.stdout and "3 new dossiers" in result.stdout
    assert "Matching nominees" in result.stderr  # the progress bar, on stderr
    assert counts(app) == (1, 3, 3)
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        assert (campaign.title, campaign.purpose, campaign.classification.value) == (TITLE, "congress", "confidential")
        db.session.commit()
    (created,) = audit_entries(app, "campaign.create")
    assert created.actor_id is None and TITLE not in created.detail
    # The same list again, as a new campaign: everyone is matched, no dossier is made twice.
    again = run_import(runner, write(tmp_path, [HEADER, *ROWS], "again.csv"))
    assert again.exit_code == 0 and "3 matched to dossiers" in again.stdout
    assert again.stdout.strip().splitlines()[-1].endswith("-0002")
    assert counts(app) == (2, 6, 3)


@pytest.mark.parametrize(("lines", "options", "says"), [
    ([HEADER, ROWS[0], ROWS[0].replace("01/02/1970", "31/02/1970")], {}, "line 3: ID number repeats line 2"),
    ([HEADER, ROWS[0], "038095000009,Tên,32/13/1980,Sở,Phó"], {}, "line 3: date_of_birth"),
    (["full_name,date_of_birth,unit,position", "Tên,01/01/1980,Sở,Phó"], {}, "missing column(s): id_number"),
    ([HEADER, *ROWS], {"purpose": "coronation"}, "unknown purpose 'coronation'"),
    ([HEADER, *ROWS], {"due_on": "2020-01-01"}, "in the past"),
    ([HEADER, *ROWS], {"due_on": "01/02/2030"}, "YYYY-MM-DD"),
    ([HEADER, *ROWS], {"unit": "NOWHERE"}, "no unit with code 'NOWHERE'"),
    ([HEADER], {}, "no nominee"),
])
def test_bad_input_is_one_line_and_writes_nothing(app, runner, tmp_path, lines, options, says):
    result = run_import(runner, write(tmp_path, lines), **options)
    assert_clean_failure(result, says=says)
    assert counts(app) == (0, 0, 0)
    assert audit_entries(app, "campaign.") == []


def test_skip_invalid_imports_the_good_rows_and_reports_the_bad_by_line(app, runner, tmp_path):
    result = run_import(runner, write(tmp_path, [HEADER, ROWS[0], "038095000009,Tên,32/13/1980,Sở,Phó", ROWS[1]]),
                        "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert "line 3: date_of_birth" in result.stderr and "1 rows skipped" in result.stdout
    assert counts(app) == (1, 2, 2)


def test_a_bad_classification_is_refused(app, runner, tmp_path):
    assert_clean_failure(run_import(runner, write(tmp_path, [HEADER, *ROWS]), "--classification", "cosmic"),
                         says="unknown classification")


def _imported(runner, tmp_path) -> str:
    result = run_import(runner, write(tmp_path, [HEADER, *ROWS]))
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def test_status_prints_json_and_csv_in_list_order_without_guessing_and_is_audited(app, runner, tmp_path):
    reference = _imported(runner, tmp_path)
    result = runner.invoke(args=["campaign", "status", reference.lower(), "--format", "json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["reference"] == reference and TITLE not in result.stdout
    assert [(line["number"], line["full_name"], line["outcome"], line["conclusion_number"])
            for line in body["nominees"]] == [(1, "Trịnh Văn Đại Biểu", None, None), (2, "Mạc Thị Ứng Cử", None, None),
                                              (3, "Lã Văn Quy Hoạch", None, None)]
    assert body["nominees"][1]["date_of_birth"] == "1975-03-04"
    as_csv = runner.invoke(args=["campaign", "status", reference, "--format", "csv"])
    assert as_csv.exit_code == 0
    rows = as_csv.stdout.splitlines()
    assert rows[0].startswith("number,full_name") and rows[1].endswith("Chưa có kết luận") and len(rows) == 4
    entries = audit_entries(app, "campaign.summary")
    assert [entry.actor_id for entry in entries] == [None, None]
    assert '"format":"json"' in entries[0].detail and '"lines":3' in entries[0].detail
    assert not any(value in entry.detail for entry in entries for value in PROTECTED)


def test_status_as_xlsx_needs_a_new_file_written_owner_only(app, runner, tmp_path):
    reference = _imported(runner, tmp_path)
    assert_clean_failure(runner.invoke(args=["campaign", "status", reference, "--format", "xlsx"]), says="--output")
    target = tmp_path / "summary.xlsx"
    result = runner.invoke(args=["campaign", "status", reference, "--format", "xlsx", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    cells = [cell for row in load_workbook(target).active.iter_rows(values_only=True) for cell in row if cell]
    assert "Trịnh Văn Đại Biểu" in cells
    before = target.read_bytes()
    again = runner.invoke(args=["campaign", "status", reference, "--format", "xlsx", "--output", str(target)])
    assert_clean_failure(again, says="refusing to overwrite")
    assert target.read_bytes() == before
    assert len(audit_entries(app, "campaign.summary")) == 1


def test_status_of_an_unknown_reference_is_one_line(app, runner):
    assert_clean_failure(runner.invoke(args=["campaign", "status", "DTD-2026-9999"]), says="no campaign")
