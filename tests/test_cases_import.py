"""Roster import (`flask --app app import subjects FILE --unit CODE`) through the real CLI:
idempotent on the ID number, all-or-nothing unless told to skip, line-numbered reasons that
name columns and never values, and an audit entry with the counts."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date

import pytest
from sqlalchemy import func, select

from audit.trail import detail_of
from cases.models import Subject
from cases.subjects.roster import ALL_COLUMNS
from protection.accounts import find_unit
from protection.db import db
from protection.search import find
from tests.conftest import audit_entries

HEADER = "full_name,date_of_birth,id_number,native_place,unit,position"
AN = "Nguyễn Văn An,01/02/1980,001080000001,Xã Đông Sơn,Sở Tư pháp,Phó Giám đốc"
BINH = "Trần Thị Bình,1985-11-02,001 185 004 567,Xã Hải Hà,Báo tỉnh,Trưởng phòng"
CUONG = '"Lê Văn Cường",21/07/1990,001.090.007.890,"Xã Yên Lạc, huyện Sơn Hà",Huyện đoàn,Bí thư'
GOOD = [HEADER, AN, BINH, CUONG]

# Values from the files below; none may be echoed by an error message.
PROTECTED = ("Nguyễn", "Nguyen", "Trần Thị", "Lê Văn", "Lê Thúy", "Cường", "001080000001", "001185004567",
             "001 185", "001090007890", "001.090", "Đông Sơn", "Hải Hà", "Yên Lạc", "Sở Tư pháp", "Báo tỉnh",
             "Giám đốc", "Trưởng phòng", "Bí thư", "31/02/1985", "12345", "Hoàng", "Đỗ Văn", "Phan Thị",
             "00108000000", "1/2/3/4")


def write(tmp_path, lines: list[str], *, name: str = "roster.csv", encoding: str = "utf-8",
          newline: str = "\n") -> str:
    path = tmp_path / name
    path.write_bytes(newline.join(lines).encode(encoding) + newline.encode())
    return str(path)


def run_import(runner, path: str, *options: str, unit: str = "BTCTU"):
    return runner.invoke(args=["import", "subjects", path, "--unit", unit, *options])


def subjects_of(app, unit: str = "BTCTU") -> dict[str, dict]:
    """Every dossier of a unit, keyed by ID number, as the application reads it."""
    with app.app_context():
        unit_id = find_unit(unit).id
        found = {
            subject.id_number: {"full_name": subject.full_name, "date_of_birth": subject.date_of_birth,
                                "native_place": subject.native_place, "current_unit": subject.current_unit,
                                "position": subject.position, "sex": subject.sex,
                                "residence": subject.residence, "notes": subject.notes,
                                "other_names": subject.other_names, "ethnicity": subject.ethnicity,
                                "religion": subject.religion}
            for subject in db.session.scalars(select(Subject).where(Subject.owner_unit_id == unit_id))
        }
        db.session.commit()
    return found


def subject_rows(app) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Subject))
        db.session.commit()
    return count


def assert_clean_failure(result) -> None:
    """A refusal: non-zero exit, reasons on the console, no traceback, no values."""
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception  # not an unhandled error
    assert "Traceback" not in result.output
    for value in PROTECTED:
        assert value not in result.output, value


@pytest.fixture(autouse=True)
def unit(make_unit):
    make_unit()
    make_unit("HU-X", name="Huyện ủy X", kind="district", parent="BTCTU")
    return "BTCTU"


# --- good files -----------------------------------------------------------------------------

def test_a_good_roster_creates_one_dossier_per_row(app, runner, tmp_path):
    result = run_import(runner, write(tmp_path, GOOD))

    assert result.exit_code == 0, result.output
    assert "3 created, 0 updated, 0 unchanged, 0 rows skipped" in result.output
    assert "Importing subjects" in result.stderr  # the progress bar
    stored = subjects_of(app)
    assert sorted(stored) == ["001080000001", "001090007890", "001185004567"]  # spaces and dots dropped
    assert stored["001080000001"] == {
        "full_name": "Nguyễn Văn An", "date_of_birth": date(1980, 2, 1), "native_place": "Xã Đông Sơn",
        "current_unit": "Sở Tư pháp", "position": "Phó Giám đốc", "sex": None, "residence": None,
        "notes": None, "other_names": None, "ethnicity": None, "religion": None}
    assert stored["001185004567"]["date_of_birth"] == date(1985, 11, 2)  # ISO accepted too
    assert stored["001090007890"]["native_place"] == "Xã Yên Lạc, huyện Sơn Hà"
    for value in ("Nguyễn", "001080000001", "Giám đốc"):
        assert value not in result.output

    (entry,) = audit_entries(app, "subject.import")
    assert detail_of(entry) == {"created": 3, "updated": 0, "unchanged": 0, "skipped": 0}
    assert entry.target_type == "unit" and entry.client_address == "cli"
    with app.app_context():
        assert entry.target_id == str(find_unit("BTCTU").id)
        # Imported dossiers are found like any other: by ID number and by folded name.
        assert [item.id_number for item in find(Subject.id_number_index, "001 185 004 567")] == ["001185004567"]
        assert [item.id_number for item in find(Subject.full_name_index, "LE VAN CUONG")] == ["001090007890"]
        db.session.commit()


def test_importing_the_same_file_again_changes_nothing(app, runner, tmp_path):
    path = write(tmp_path, GOOD)
    assert run_import(runner, path).exit_code == 0
    before = subjects_of(app)

    again = run_import(runner, path)

    assert again.exit_code == 0, again.output
    assert "0 created, 0 updated, 3 unchanged" in again.output
    assert subjects_of(app) == before
    assert subject_rows(app) == 3
    assert [detail_of(entry) for entry in audit_entries(app, "subject.import")][-1] == \
        {"created": 0, "updated": 0, "unchanged": 3, "skipped": 0}


def test_a_changed_position_updates_the_dossier_and_keeps_what_the_roster_does_not_carry(app, runner, tmp_path):
    assert run_import(runner, write(tmp_path, GOOD)).exit_code == 0
    with app.app_context():
        (an,) = find(Subject.id_number_index, "001080000001")
        an.residence = "Phường Bắc Sơn"
        an.notes = "Ghi chú của cán bộ"
        db.session.commit()

    changed = [HEADER, AN.replace("Phó Giám đốc", "Giám đốc"), BINH, CUONG]
    result = run_import(runner, write(tmp_path, changed, name="changed.csv"))

    assert result.exit_code == 0, result.output
    assert "0 created, 1 updated, 2 unchanged" in result.output
    stored = subjects_of(app)
    assert stored["001080000001"]["position"] == "Giám đốc"
    assert stored["001080000001"]["residence"] == "Phường Bắc Sơn"
    assert stored["001080000001"]["notes"] == "Ghi chú của cán bộ"
    assert stored["001185004567"]["position"] == "Trưởng phòng"
    assert subject_rows(app) == 3


def test_optional_columns_a_bom_windows_line_ends_and_loose_header_case(app, runner, tmp_path):
    lines = ["Full_Name, Date_of_Birth ,id_number,native_place,unit,position,sex,other_names,residence,"
             "ethnicity,religion",
             "Hà Thị Lan,03/04/1975,038175000111,Xã Sơn Thủy,UBND xã,Chủ tịch,Nữ,Lan Hà,Bản Cát,Thái,Không",
             "Lò Văn Én,1982-01-09,038082000222,Xã Sơn Thủy,UBND xã,Phó Chủ tịch,nam,,,,",
             "",  # blank lines are not rows
             ]
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8") + b"\r\n")

    result = run_import(runner, str(path))

    assert result.exit_code == 0, result.output
    assert "2 created" in result.output
    stored = subjects_of(app)
    assert stored["038175000111"]["sex"] == "female" and stored["038175000111"]["ethnicity"] == "Thái"
    assert stored["038175000111"]["other_names"] == "Lan Hà" and stored["038175000111"]["residence"] == "Bản Cát"
    assert stored["038082000222"]["sex"] == "male" and stored["038082000222"]["other_names"] is None


def test_idempotence_is_per_unit(app, runner, tmp_path):
    path = write(tmp_path, GOOD)
    assert run_import(runner, path).exit_code == 0
    district = run_import(runner, path, unit="HU-X")
    assert district.exit_code == 0 and "3 created" in district.output
    assert sorted(subjects_of(app, "HU-X")) == sorted(subjects_of(app))
    assert subject_rows(app) == 6


def test_an_exported_file_imports_back_unchanged(app, runner, tmp_path):
    lines = [",".join(ALL_COLUMNS),
             "Hà Thị Lan,03/04/1975,038175000111,Xã Sơn Thủy,UBND xã,Chủ tịch,Lan Hà,Nữ,Bản Cát,Thái,Không",
             *GOOD[1:]]
    assert run_import(runner, write(tmp_path, [lines[0], lines[1]])).exit_code == 0
    assert run_import(runner, write(tmp_path, GOOD, name="more.csv")).exit_code == 0
    exported = tmp_path / "export.csv"
    assert runner.invoke(args=["export", "subjects", str(exported), "--unit", "BTCTU"]).exit_code == 0
    header = next(csv.reader(io.StringIO(exported.read_text(encoding="utf-8"))))
    assert header == list(ALL_COLUMNS)

    back = run_import(runner, str(exported))
    assert back.exit_code == 0, back.output
    assert "0 created, 0 updated, 4 unchanged" in back.output
    elsewhere = run_import(runner, str(exported), unit="HU-X")
    assert "4 created" in elsewhere.output
    assert subjects_of(app, "HU-X") == subjects_of(app)


# --- bad files: line-numbered reasons, nothing written ---------------------------------------

CHANGED_AN = AN.replace("Phó Giám đốc", "Giám đốc")  # would update An if anything were written
NEW_HOANG = "Hoàng Văn Mới,05/06/1970,001070000555,Xã Hải Hà,Sở Y tế,Chuyên viên"

BAD_FILES = [
    pytest.param(None, ["line 3", "UTF-8"], id="latin-1"),
    pytest.param([HEADER.replace(",position", ""), "Đỗ Văn Tư,01/02/1980,001080000009,Xã A,Sở B"],
                 ["line 1", "missing column", "position"], id="missing-column"),
    pytest.param([HEADER, CHANGED_AN, NEW_HOANG.replace("05/06/1970", "31/02/1985")],
                 ["line 3: date_of_birth"], id="bad-date"),
    pytest.param([HEADER, CHANGED_AN, NEW_HOANG, "Phan Thị Hai,1/2/3/4,001070000666,Xã A,Sở B,Chuyên viên"],
                 ["line 4: date_of_birth"], id="unreadable-date"),
    pytest.param([HEADER, CHANGED_AN, NEW_HOANG, NEW_HOANG.replace("001070000555", "12345")],
                 ["line 4: id_number"], id="bad-id"),
    pytest.param([HEADER, CHANGED_AN, NEW_HOANG.replace("001070000555", "00108000000")],
                 ["line 3: id_number"], id="11-digit-id"),
    pytest.param([HEADER, CHANGED_AN, NEW_HOANG, "Phan Thị Hai,03/03/1973,001 080 000 001,Xã A,Sở B,Chuyên viên"],
                 ["line 4", "repeats line 2"], id="duplicate-id-in-file"),
    pytest.param([HEADER, CHANGED_AN, NEW_HOANG.replace("05/06/1970", "05/06/2970")],
                 ["line 3: date_of_birth"], id="born-in-the-future"),
    pytest.param([HEADER, CHANGED_AN, NEW_HOANG.replace("Chuyên viên", "")], ["line 3: position is empty"],
                 id="empty-required-value"),
    pytest.param([HEADER, CHANGED_AN, NEW_HOANG + ",thừa"], ["line 3", "expected 6 fields, found 7"],
                 id="extra-field"),
    pytest.param([HEADER + ",sex", CHANGED_AN + ",Nam", NEW_HOANG + ",Hoàng"], ["line 3: sex"], id="bad-sex"),
    pytest.param([], ["empty"], id="empty-file"),
    pytest.param([HEADER + ",salary", CHANGED_AN + ",1000"], ["line 1", "unknown column", "salary"],
                 id="unknown-column"),
    pytest.param([HEADER + ",position", CHANGED_AN + ",Giám đốc"], ["line 1", "position"],
                 id="column-given-twice"),
]


@pytest.mark.parametrize(("lines", "reasons"), BAD_FILES)
def test_a_bad_file_is_refused_with_line_numbered_reasons_and_nothing_is_written(
        app, runner, tmp_path, lines, reasons):
    assert run_import(runner, write(tmp_path, GOOD, name="good.csv")).exit_code == 0
    before = subjects_of(app)
    imports_before = len(audit_entries(app, "subject.import"))
    if lines is None:  # a spreadsheet saved in a legacy encoding
        path = tmp_path / "latin1.csv"
        path.write_bytes("\n".join([HEADER, CHANGED_AN.encode("ascii", "replace").decode(),
                                    "Lê Thúy Hà,01/02/1980,001080000555,Xã A,Sở B,Chủ tịch"])
                         .encode("latin-1", "replace") + b"\n")
        path = str(path)
    elif not lines:
        path = str(tmp_path / "empty.csv")
        (tmp_path / "empty.csv").write_bytes(b"")
    else:
        path = write(tmp_path, lines)

    result = run_import(runner, path)

    assert_clean_failure(result)
    for reason in reasons:
        assert reason in result.output, result.output
    assert subjects_of(app) == before  # nothing created, nothing updated
    assert subject_rows(app) == 3
    assert len(audit_entries(app, "subject.import")) == imports_before


def test_every_bad_row_is_reported_and_the_total_given(app, runner, tmp_path):
    lines = [HEADER, AN, NEW_HOANG.replace("05/06/1970", "31/02/1985"), BINH,
             NEW_HOANG.replace("Hoàng Văn Mới", "").replace("001070000555", "12345"), CUONG,
             "Phan Thị Hai,03/03/1973,001 080 000 001,Xã A,Sở B,Chuyên viên"]
    result = run_import(runner, write(tmp_path, lines))

    assert_clean_failure(result)
    output = result.output
    assert "line 3: date_of_birth" in output
    assert "line 5: full_name is empty" in output and "line 5: id_number" in output
    assert "line 7: ID number repeats line 2" in output
    assert "line 2:" not in output and "line 4:" not in output and "line 6:" not in output
    assert "4 problem(s)" in output and "nothing was imported" in output
    assert subject_rows(app) == 0
    assert audit_entries(app, "subject.import") == []


def test_skip_invalid_imports_the_good_rows_and_reports_the_bad(app, runner, tmp_path):
    lines = [HEADER, AN, NEW_HOANG.replace("05/06/1970", "31/02/1985"), BINH,
             NEW_HOANG.replace("001070000555", "12345"), CUONG]

    result = run_import(runner, write(tmp_path, lines), "--skip-invalid")

    assert result.exit_code == 0, result.output
    assert "line 3: date_of_birth" in result.output and "line 5: id_number" in result.output
    assert "3 created, 0 updated, 0 unchanged, 2 rows skipped" in result.output
    assert "Traceback" not in result.output
    for value in ("Hoàng", "12345", "31/02/1985"):
        assert value not in result.output
    assert sorted(subjects_of(app)) == ["001080000001", "001090007890", "001185004567"]
    (entry,) = audit_entries(app, "subject.import")
    assert detail_of(entry) == {"created": 3, "updated": 0, "unchanged": 0, "skipped": 2}


def test_skip_invalid_does_not_read_a_file_in_the_wrong_encoding(app, runner, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(f"{HEADER}\nLê Thúy Hà,01/02/1980,001080000555,Xã A,Sở B,Chủ tịch\n"
                     .encode("latin-1", "replace"))
    result = run_import(runner, str(path), "--skip-invalid")
    assert_clean_failure(result)
    assert "line 2" in result.output and "UTF-8" in result.output
    assert subject_rows(app) == 0


@pytest.mark.parametrize("digits", ["٠٠١٠٨٠٠٠٠٠٠١", "००१०८००००००१"])
def test_digits_of_other_scripts_in_an_id_number_are_a_reason_not_a_crash(app, runner, tmp_path, digits):
    lines = [HEADER, NEW_HOANG, AN.replace("001080000001", digits)]
    result = run_import(runner, write(tmp_path, lines))
    assert_clean_failure(result)
    assert "line 3: id_number" in result.output
    assert subject_rows(app) == 0


def test_full_width_digits_are_the_same_id_number(app, runner, tmp_path):
    assert run_import(runner, write(tmp_path, GOOD)).exit_code == 0
    full_width = AN.replace("001080000001", "００１０８００００００１")
    result = run_import(runner, write(tmp_path, [HEADER, full_width], name="fullwidth.csv"))
    assert result.exit_code == 0, result.output
    assert "0 created, 0 updated, 1 unchanged" in result.output
    assert subject_rows(app) == 3


def test_an_unknown_unit_is_one_line(app, runner, tmp_path):
    result = run_import(runner, write(tmp_path, GOOD), unit="KHONGCO")
    assert_clean_failure(result)
    assert len(result.output.strip().splitlines()) == 1
    assert "KHONGCO" in result.output
    assert subject_rows(app) == 0
    assert audit_entries(app, "subject.import") == []


def test_a_missing_file_or_unit_option_is_a_usage_error(app, runner, tmp_path):
    missing = runner.invoke(args=["import", "subjects", str(tmp_path / f"{uuid.uuid4()}.csv"), "--unit", "BTCTU"])
    assert missing.exit_code == 2 and "Traceback" not in missing.output
    no_unit = runner.invoke(args=["import", "subjects", write(tmp_path, GOOD)])
    assert no_unit.exit_code == 2 and "--unit" in no_unit.output
    assert subject_rows(app) == 0
