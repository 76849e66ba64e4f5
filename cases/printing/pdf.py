"""The printable conclusion: a PDF of an approved conclusion, one or more numbered copies.

`build_pdf(document)` is a pure function of a `PrintableConclusion` (plain values, already
decrypted and labelled by cases/prints.py): no database, no request, no network, no system
font. The fonts are the Roboto files of the `font-roboto` package, embedded (subset), so
Vietnamese diacritics print and copy out of the PDF intact on an offline machine.

Every page carries the classification marking at its top and bottom (none when the case is
unclassified), the copy number "Bản số k/N" and its page number within the copy: a loose
page of a classified copy still says what it is and which copy it belongs to. Each copy
starts on a new page. The PDF's metadata holds the document number and nothing protected.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import font_roboto
from flask_babel import gettext as _
from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

FONT = "Roboto"
MARKING_RED = (180, 0, 0)
BODY = 12
LINE = 6.5


def font_files() -> dict[str, Path]:
    """The Regular and Bold faces of the installed font-roboto package."""
    folder = Path(font_roboto.Roboto).parent
    return {"": folder / "Roboto-Regular.ttf", "B": folder / "Roboto-Bold.ttf"}


@dataclass(frozen=True)
class Person:
    """The subject of the review (or a person a petition names) as the dossier records them."""

    full_name: str
    date_of_birth: date | None = None
    unit: str | None = None
    position: str | None = None


@dataclass(frozen=True)
class PrintableConclusion:
    organisation: str  # the owning unit, which issues the conclusion
    parent_organisation: str | None
    document_number: str
    case_reference: str
    kind: str  # "review" or "petition"
    marking: str | None  # "MẬT", "TỐI MẬT", "TUYỆT MẬT"; None when unclassified
    purpose: str | None  # the review's purpose, or the petition's type and date
    outcome: str
    reasoning: str
    approver: str
    approved_on: date
    check_value: str
    first_copy: int
    last_copy: int
    copies_issued: int  # the "/N" of "Bản số k/N"; see cases/prints.py
    people: tuple[Person, ...] = field(default_factory=tuple)
    eligibility: str | None = None
    valid_until: date | None = None
    corrects: str | None = None  # the document number this version corrects
    place: str = ""  # the date line's place (HOSO_DOCUMENT_PLACE); empty: a dotted line
    recipients: tuple[str, ...] = field(default_factory=tuple)  # the "Nơi nhận" lines, as given


# Where the place is not configured: a dotted line the clerk fills in by hand, as on the
# printed forms, rather than a place that may be the wrong one.
PLACE_BLANK = "…………"


def date_line(place: str, day: date) -> str:
    """"Thanh Hóa, ngày 06 tháng 12 năm 2026": the place and date line of an administrative
    document (Hướng dẫn 36-HD/VPTW, thể thức văn bản của Đảng)."""
    return _("%(place)s, ngày %(day)02d tháng %(month)02d năm %(year)d", place=pdf_text(place or PLACE_BLANK),
             day=day.day, month=day.month, year=day.year)


def recipient_lines(recipients: tuple[str, ...]) -> list[str]:
    """Each recipient as a "- " line, ending in ";" and the last one in ".", whatever
    punctuation was typed."""
    items = [line.strip().lstrip("-–•").strip().rstrip(";.,").strip() for line in recipients]
    items = [item for item in items if item]
    return [f"- {pdf_text(item)}{'.' if number == len(items) - 1 else ';'}" for number, item in enumerate(items)]


def _day(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else "—"


def pdf_text(value: object) -> str:
    # Composed form: a name typed with combining accents prints with the font's own
    # precomposed Vietnamese glyphs and extracts back as the same characters.
    return unicodedata.normalize("NFC", str(value))


class MarkedCopiesPdf(FPDF):
    """Numbered copies of a classified document: on every page the classification marking
    at the top and bottom, "Bản số n/N" at the top right, and a footer with the copy and
    "Trang i/k" counted within the copy. Subclasses lay out one copy in `add_copy`.

    `document` needs `.marking` (None when unclassified) and `.copies_issued`.
    """

    marking_top = 8.0  # where the top marking and copy label sit, mm from the page's top edge
    footer_prefix = ""  # printed before the copy label in the footer ("DTD-2026-0001 · ")

    def __init__(self, document, pages_per_copy: int, *, orientation: str, margins: tuple[float, float, float],
                 title: str):
        super().__init__(orientation=orientation, unit="mm", format="A4")
        self.document = document
        self.pages_per_copy = pages_per_copy
        self.copy_number = 0
        self.copy_first_page = 1
        self._next_copy: int | None = None
        for style, path in font_files().items():
            self.add_font(FONT, style, str(path))
        left, top, right = margins
        self.set_margins(left=left, top=top, right=right)
        self.set_auto_page_break(auto=True, margin=22)
        # Metadata names the document, never a person (it shows in file managers and
        # document indexes without opening the file).
        self.set_title(pdf_text(title))
        self.set_creator("Hoso")
        self.set_producer("Hoso")
        self.set_lang("vi")

    def _copy_label(self) -> str:
        return _("Bản số %(number)d/%(total)d", number=self.copy_number, total=self.document.copies_issued)

    def _marking(self, y: float) -> None:
        if not self.document.marking:
            return
        self.set_xy(self.l_margin, y)
        self.set_font(FONT, "B", 14)
        self.set_text_color(*MARKING_RED)
        self.cell(0, 7, pdf_text(self.document.marking), align=Align.C)
        self.set_text_color(0, 0, 0)

    def header(self) -> None:
        if self._next_copy is not None:
            self.copy_number, self.copy_first_page, self._next_copy = self._next_copy, self.page_no(), None
        self._marking(self.marking_top)
        self.set_xy(self.l_margin, self.marking_top)
        self.set_font(FONT, "", 9)
        self.cell(0, 7, self._copy_label(), align=Align.R)
        self.set_xy(self.l_margin, self.t_margin)

    def footer(self) -> None:
        page = self.page_no() - self.copy_first_page + 1
        self.set_xy(self.l_margin, -16)
        self.set_font(FONT, "", 9)
        self.cell(0, 6, f"{self.footer_prefix}{self._copy_label()}", align=Align.L)
        self.set_xy(self.l_margin, -16)
        if self.pages_per_copy:
            self.cell(0, 6, _("Trang %(page)d/%(pages)d", page=page, pages=self.pages_per_copy), align=Align.R)
        self._marking(-11)

    def start_copy(self, number: int) -> None:
        # add_page() runs the previous page's footer first, then this page's header: the
        # header is where the new copy begins.
        self._next_copy = number
        self.add_page()


class _ConclusionPdf(MarkedCopiesPdf):
    def __init__(self, document: PrintableConclusion, pages_per_copy: int):
        super().__init__(document, pages_per_copy, orientation="P", margins=(25, 22, 20),
                         title=document.document_number)

    # --- the document ------------------------------------------------------------------

    def add_copy(self, number: int) -> None:
        self.start_copy(number)
        self._letterhead()
        self._title()
        self._people()
        self._conclusion()
        self._approval()

    def _letterhead(self) -> None:
        document, top = self.document, self.get_y()
        left_width = 78
        self.set_font(FONT, "", 10)
        if document.parent_organisation:
            self.multi_cell(left_width, 5, pdf_text(document.parent_organisation).upper(), align=Align.C,
                            new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "B", 10)
        self.multi_cell(left_width, 5, pdf_text(document.organisation).upper(), align=Align.C,
                        new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.cell(left_width, 5, "*", align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", 10)
        self.cell(left_width, 6, _("Số %(number)s", number=pdf_text(document.document_number)), align=Align.C,
                  new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        bottom = self.get_y()
        right_x = self.l_margin + left_width + 2
        right_width = self.w - self.r_margin - right_x
        self.set_xy(right_x, top)
        self.set_font(FONT, "B", 11)
        self.cell(right_width, 5, _("ĐẢNG CỘNG SẢN VIỆT NAM"), align=Align.C, new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.set_font(FONT, "", 10)
        self.multi_cell(right_width, 8, date_line(document.place, document.approved_on), align=Align.C,
                        new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.set_xy(self.l_margin, max(bottom, self.get_y()) + 8)

    def _title(self) -> None:
        self.set_font(FONT, "B", 16)
        self.cell(0, 9, _("KẾT LUẬN"), align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "B", BODY)
        topic = _("Về tiêu chuẩn chính trị") if self.document.kind == "review" else _("Về việc giải quyết đơn thư")
        self.cell(0, 7, topic, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", 10)
        self.cell(0, 6, _("Hồ sơ %(reference)s", reference=pdf_text(self.document.case_reference)), align=Align.C,
                  new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if self.document.corrects:
            self.cell(0, 6, _("Đính chính kết luận số %(number)s", number=pdf_text(self.document.corrects)),
                      align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(5)

    def _line(self, label: str, value: object) -> None:
        """"Label: value", the value wrapping under the text column."""
        self.set_font(FONT, "B", BODY)
        self.write(LINE, f"{label}: ")
        self.set_font(FONT, "", BODY)
        self.write(LINE, pdf_text(value))
        self.ln(LINE)

    def _heading(self, text: str) -> None:
        self.ln(2)
        self.set_font(FONT, "B", BODY)
        self.multi_cell(0, LINE, text, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def _people(self) -> None:
        document = self.document
        if document.people:
            self._heading(_("Người được thẩm định") if document.kind == "review" else _("Người được nêu trong đơn"))
            for person in document.people:
                self._line(_("Họ và tên"), person.full_name)
                if person.date_of_birth:
                    self._line(_("Ngày sinh"), _day(person.date_of_birth))
                if person.unit:
                    self._line(_("Đơn vị công tác"), person.unit)
                if person.position:
                    self._line(_("Chức vụ"), person.position)
        if document.purpose:
            self._line(_("Mục đích thẩm định") if document.kind == "review" else _("Đơn"), document.purpose)

    def _conclusion(self) -> None:
        document = self.document
        self.ln(2)
        self._line(_("Kết luận"), document.outcome)
        if document.eligibility:
            self._line(_("Kết nạp Đảng"), document.eligibility)
        self._heading(_("Căn cứ, lý do"))
        self.set_font(FONT, "", BODY)
        self.multi_cell(0, LINE, pdf_text(document.reasoning), align=Align.J, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(2)
        self._line(_("Có giá trị đến"), _day(document.valid_until))

    def _recipients(self, lines: list[str], width: float) -> None:
        """"Nơi nhận:" and its lines, at the left beside the signature block."""
        if not lines:
            return
        self.set_x(self.l_margin)
        self.set_font(FONT, "B", BODY)
        self.cell(width, LINE, _("Nơi nhận:"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", 10)
        for line in lines:
            self.multi_cell(width, 5, line, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def _approval(self) -> None:
        document = self.document
        self.ln(6)
        block_x = self.l_margin + (self.w - self.l_margin - self.r_margin) / 2
        block_width = self.w - self.r_margin - block_x
        lines = recipient_lines(document.recipients)
        # Kept together: the signature block and the recipients never start at the foot of a page.
        if self.get_y() + max(4, len(lines) + 1) * LINE > self.page_break_trigger:
            self.add_page()
        top = self.get_y()
        self._recipients(lines, block_x - self.l_margin - 4)
        below_recipients = self.get_y()
        self.set_y(top)
        for style, text in (("B", _("NGƯỜI PHÊ DUYỆT")), ("", _("(Đã ký số)")), ("B", pdf_text(document.approver)),
                            ("", _("Ngày phê duyệt: %(day)s", day=_day(document.approved_on)))):
            self.set_x(block_x)
            self.set_font(FONT, style, BODY)
            self.multi_cell(block_width, LINE, text, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_y(max(self.get_y(), below_recipients))
        self.ln(6)
        self._line(_("Mã kiểm tra chữ ký số"), document.check_value)
        self.set_font(FONT, "", 9)
        self.multi_cell(0, 5, _("Đối chiếu mã này với mã kiểm tra hiển thị tại hồ sơ trên Hoso để xác nhận bản in "
                                "đúng với kết luận đã được phê duyệt."),
                        align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _render(document: PrintableConclusion, copies: range, pages_per_copy: int) -> tuple[bytes, int]:
    """(the PDF, its page count)."""
    pdf = _ConclusionPdf(document, pages_per_copy)
    try:
        for number in copies:
            pdf.add_copy(number)
        return bytes(pdf.output()), pdf.pages_count
    finally:
        # fontTools reads the font files lazily and keeps them open until closed.
        for font in pdf.fonts.values():
            font.ttfont.close()


def build_pdf(document: PrintableConclusion) -> bytes:
    """One PDF holding copies first_copy..last_copy, each starting on a new page."""
    if not 1 <= document.first_copy <= document.last_copy <= document.copies_issued:
        raise ValueError("copy numbers out of order")
    # Every copy has the same text, so one copy rendered first tells how many pages each
    # takes: the footer can then say "Trang 2/3" within the copy, not within the file.
    _pdf, pages = _render(document, range(document.first_copy, document.first_copy + 1), 0)
    return _render(document, range(document.first_copy, document.last_copy + 1), pages)[0]
