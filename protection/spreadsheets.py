"""Cells of the CSV and XLSX files Hoso writes: text never becomes a formula.

A spreadsheet program reads a cell that begins with `=`, `+`, `-` or `@` as a formula (a tab
or carriage return first is skipped over by some of them), so a name, a place or a unit name
typed as `=HYPERLINK("https://...", "xem")` or `=cmd|' /C calc'!A0` would run in the officer's
spreadsheet, with the rest of the file in reach (CSV injection, CWE-1236). OWASP's rule: such
text gets a leading apostrophe, which the spreadsheet shows as text
(https://owasp.org/www-community/attacks/CSV_Injection). Every exporter writes its cells
through `spreadsheet_cell`, via `csv_writer` or `write_xlsx_row`/`write_xlsx_cell`.

Text that already begins with apostrophes before such a character gets one more, so
`restore_cell` undoes the rule exactly: the subjects export is also an import file, and a
round trip must give back what was exported.
"""

from __future__ import annotations

import csv
import numbers
from collections.abc import Iterable
from typing import IO, Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"

# XlsxWriter's write()/write_row() turn a string that starts with "=" into a formula, and with
# these options also URLs into hyperlinks and numeric text into numbers; Hoso writes text as
# text, always (write_xlsx_cell also calls write_string itself, never write()).
XLSX_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}


def _needs_quote(text: str) -> bool:
    return text.lstrip(QUOTE).startswith(FORMULA_TRIGGERS)


def spreadsheet_cell(value: Any) -> Any:
    """What to write for one cell: numbers stay numbers (a real -5 is a number, not a formula),
    None is an empty cell, anything else is text with the apostrophe where a formula could start."""
    if value is None:
        return ""
    if isinstance(value, numbers.Number):
        return value
    text = str(value)
    return QUOTE + text if _needs_quote(text) else text


def restore_cell(text: str) -> str:
    """The inverse of spreadsheet_cell for text read back from a file Hoso wrote."""
    if text.startswith(QUOTE) and _needs_quote(text[1:]):
        return text[1:]
    return text


class SpreadsheetCsvWriter:
    """csv.writer whose every cell goes through spreadsheet_cell."""

    def __init__(self, stream: IO[str], **fmtparams: Any):
        self._writer = csv.writer(stream, **fmtparams)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([spreadsheet_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(stream: IO[str], **fmtparams: Any) -> SpreadsheetCsvWriter:
    return SpreadsheetCsvWriter(stream, **fmtparams)


def xlsx_workbook(target: Any, **options: Any):
    """An XlsxWriter workbook that never converts text to formulas, URLs or numbers."""
    import xlsxwriter  # only the XLSX export needs it

    return xlsxwriter.Workbook(target, {**options, **XLSX_OPTIONS})


def write_xlsx_cell(sheet, row: int, column: int, value: Any, cell_format=None) -> None:
    if value is None:
        sheet.write_blank(row, column, None, cell_format)
    elif isinstance(value, bool):
        sheet.write_boolean(row, column, value, cell_format)
    elif isinstance(value, numbers.Number):
        sheet.write_number(row, column, value, cell_format)
    else:
        sheet.write_string(row, column, spreadsheet_cell(value), cell_format)


def write_xlsx_row(sheet, row: int, first_column: int, values: Iterable[Any], cell_format=None) -> None:
    for offset, value in enumerate(values):
        write_xlsx_cell(sheet, row, first_column + offset, value, cell_format)
