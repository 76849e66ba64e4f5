"""Roster CSV: parse and validate before anything is written (pure, no database).

Every problem is reported with its line number, so an officer can fix the file and run
the import again; the import writes nothing while any row is bad (unless told to skip).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from protection.forms import parse_date
from protection.search import InvalidCitizenId, citizen_id
from protection.spreadsheets import restore_cell

REQUIRED_COLUMNS = ("full_name", "date_of_birth", "id_number", "native_place", "unit", "position")
# A campaign's list of nominees (issue 20 §A.2): the roster's columns, birthplace optional.
NOMINEE_COLUMNS = ("id_number", "full_name", "date_of_birth", "unit", "position")
OPTIONAL_COLUMNS = ("other_names", "sex", "residence", "ethnicity", "religion")
ALL_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
MAX_FIELD_LENGTH = 500


class RosterFileError(ValueError):
    """The file as a whole cannot be read (encoding, header): one line, no row data."""


@dataclass(frozen=True)
class RosterRow:
    line: int
    full_name: str
    date_of_birth: date
    id_number: str
    native_place: str  # "" in a list of nominees, which need not carry it
    unit: str
    position: str
    other_names: str = ""
    sex: str = ""
    residence: str = ""
    ethnicity: str = ""
    religion: str = ""


@dataclass(frozen=True)
class RowProblem:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ParsedRoster:
    rows: list[RosterRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


def normalise_id_number(text: str) -> str | None:
    """Citizen ID: 12 digits (CCCD) or the older 9-digit CMND; spaces and dots tolerated.

    The search's own normaliser, so a row accepted here is one the import can index:
    str.isdigit() alone also accepts Arabic-Indic or Devanagari digits, which the index
    refuses, and the import then failed with a traceback instead of a line number.
    """
    try:
        return citizen_id(text)
    except InvalidCitizenId:
        return None


def decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise RosterFileError(f"the file is not UTF-8 (first bad byte on line {line}); "
                              "save it as CSV UTF-8 and try again") from None


def parse_roster(text: str, *, today: date | None = None,
                 required: tuple[str, ...] = REQUIRED_COLUMNS) -> ParsedRoster:
    """`required`: the columns a file must have and a row must fill (the roster's, or
    NOMINEE_COLUMNS for a campaign); the others of ALL_COLUMNS are optional."""
    today = today or date.today()
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise RosterFileError("the file is empty: expected a header line") from None
    except csv.Error as error:
        raise RosterFileError(f"line 1: not valid CSV ({error})") from None
    columns = [name.strip().lower() for name in header]
    missing = [name for name in required if name not in columns]
    if missing:
        raise RosterFileError(f"line 1: missing column(s): {', '.join(missing)}")
    unknown = [name for name in columns if name and name not in ALL_COLUMNS]
    if unknown:
        raise RosterFileError(f"line 1: unknown column(s): {', '.join(unknown)}")
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    if duplicated:
        raise RosterFileError(f"line 1: column(s) given twice: {', '.join(duplicated)}")

    parsed = ParsedRoster()
    first_line_of: dict[str, int] = {}
    while True:
        line = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            parsed.problems.append(RowProblem(line, f"not valid CSV ({error})"))
            break
        line = reader.line_num
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(columns):
            parsed.problems.append(RowProblem(line, f"expected {len(columns)} fields, found {len(values)}"))
            continue
        # A file from `export subjects` quotes text a spreadsheet would run ("'=...");
        # the quote comes off here, so the export imports back unchanged.
        record = {name: restore_cell(value).strip() for name, value in zip(columns, values, strict=True)}
        problems = list(_row_problems(record, today, required))
        id_number = normalise_id_number(record["id_number"])
        if id_number and id_number in first_line_of:
            problems.append(f"ID number repeats line {first_line_of[id_number]}")
        if problems:
            parsed.problems.extend(RowProblem(line, reason) for reason in problems)
            continue
        first_line_of[id_number] = line
        parsed.rows.append(RosterRow(
            line=line, full_name=" ".join(record["full_name"].split()),
            date_of_birth=parse_date(record["date_of_birth"]), id_number=id_number,
            **{name: record.get(name, "") for name in ALL_COLUMNS
               if name not in ("full_name", "date_of_birth", "id_number")},
        ))
    return parsed


def _row_problems(record: dict[str, str], today: date, required: tuple[str, ...]) -> Iterable[str]:
    # Reasons name the column, never the value: the value may be a protected one.
    for name in ("full_name", "native_place", "unit", "position"):
        if name not in required:
            continue
        if not record.get(name):
            yield f"{name} is empty"
    for name, value in record.items():
        if len(value) > MAX_FIELD_LENGTH:
            yield f"{name} is longer than {MAX_FIELD_LENGTH} characters"
    if normalise_id_number(record.get("id_number", "")) is None:
        yield "id_number must be 12 digits (CCCD) or 9 digits (CMND)"
    born = parse_date(record.get("date_of_birth", ""))
    if born is None:
        yield "date_of_birth must be dd/mm/yyyy or yyyy-mm-dd"
    elif born > today or born.year < 1900:
        yield "date_of_birth is not a plausible birth date"
    sex = record.get("sex", "")
    if sex and sex.lower() not in ("nam", "nữ", "nu", "male", "female", "m", "f"):
        yield "sex must be Nam or Nữ"
