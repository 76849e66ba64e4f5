"""The printed register of a dossier: "MỤC LỤC VĂN BẢN", the archival table of contents
filed at the front of the paper dossier, A4 landscape.

`build_register_pdf(register)` is a pure function of a `PrintableRegister` (plain values,
already decrypted and labelled by `printable_register` below): no database, no request.
Fonts and the marking are those of the printed conclusion (cases/printing/pdf.py): the
Roboto faces embedded, and on every page the classification marking at the top and the
bottom — the highest level of the rows printed in full (a compilation is marked at the
level of its highest part) — with "Trang i/k". The PDF's metadata names the document,
never the person.

"Tờ số" is the running sheet range of each document in the dossier, counted from the page
counts in register order (sheets 1–3, 4–4, 5–9, ...), as the paper dossier is numbered; a
document with no page count gets none, and the count goes on after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from flask_babel import force_locale
from flask_babel import gettext as _
from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos
from fpdf.fonts import FontFace

from cases.archive.models import ArchiveDocument
from cases.archive.vocabulary import document_type_label
from cases.models import Subject
from cases.printing.pdf import FONT, MARKING_RED, font_files, pdf_text
from protection import policy
from protection.identity import Clearance, User

# Column widths in mm; A4 landscape has 297 - 2 × 12 = 273 mm between the margins.
COLUMNS = (12, 28, 22, 38, 24, 73, 18, 18, 40)


@dataclass(frozen=True)
class RegisterRow:
    position: int
    sheets: str  # "1–3"; "" without a page count
    classification: str  # its level's label
    withheld: bool = False  # classified above the reader: listed without its content
    number: str = ""
    issued_on: date | None = None
    issuer: str = ""
    doc_type: str = ""
    title: str = ""
    note: str = ""


@dataclass(frozen=True)
class PrintableRegister:
    organisation: str
    parent_organisation: str | None
    person: str
    date_of_birth: date | None
    marking: str | None  # "MẬT", "TỐI MẬT", "TUYỆT MẬT"; None when every printed row is unclassified
    printed_on: date
    rows: tuple[RegisterRow, ...] = field(default_factory=tuple)
    sheets: int = 0  # the dossier's sheets counted


def sheet_ranges(page_counts: list[int | None]) -> list[str]:
    """The "Tờ số" of each document from the page counts in order."""
    ranges, last = [], 0
    for pages in page_counts:
        if not pages:
            ranges.append("")
            continue
        first, last = last + 1, last + pages
        ranges.append(f"{first}–{last}" if pages > 1 else str(first))
    return ranges


def _note(document: ArchiveDocument) -> str:
    parts = []
    if document.paper_original:
        parts.append(_("Bản gốc giấy: %(place)s", place=document.paper_location) if document.paper_location
                     else _("Bản gốc giấy"))
    else:
        parts.append(_("Không có bản gốc giấy"))
    if document.scans:
        parts.append(_("Đã số hóa"))
    return "; ".join(parts)


def printable_register(subject: Subject, documents: list[ArchiveDocument], user: User,
                       printed_on: date) -> PrintableRegister:
    """The plain values the PDF shows, in Vietnamese whatever the reader's language: the
    paper register is the organisation's document. Rows above the reader's clearance keep
    their place, level and sheets, without their content."""
    with force_locale("vi"):
        ranges = sheet_ranges([document.page_count for document in documents])
        rows, levels = [], []
        for document, sheets in zip(documents, ranges, strict=True):
            level = Clearance(document.classification)
            if not policy.cleared_for(user, level):
                rows.append(RegisterRow(document.position, sheets, level.label, withheld=True,
                                        title=_("Tài liệu mật cấp cao hơn")))
                continue
            levels.append(level)
            rows.append(RegisterRow(document.position, sheets, level.label, number=document.number or "",
                                    issued_on=document.issued_on, issuer=document.issuer or "",
                                    doc_type=document_type_label(document.doc_type), title=document.title,
                                    note=_note(document)))
        highest = max(levels, key=lambda level: level.rank, default=Clearance.UNCLASSIFIED)
        unit = subject.owner_unit
        return PrintableRegister(
            organisation=unit.name, parent_organisation=unit.parent.name if unit.parent else None,
            person=subject.full_name, date_of_birth=subject.date_of_birth,
            marking=None if highest == Clearance.UNCLASSIFIED else highest.label.upper(), printed_on=printed_on,
            rows=tuple(rows), sheets=sum(document.page_count or 0 for document in documents))


class _RegisterPdf(FPDF):
    def __init__(self, register: PrintableRegister):
        super().__init__(orientation="L", unit="mm", format="A4")
        self.register = register
        for style, path in font_files().items():
            self.add_font(FONT, style, str(path))
        self.set_margins(left=12, top=20, right=12)
        self.set_auto_page_break(auto=True, margin=20)
        self.set_title(_("Mục lục văn bản"))
        self.set_creator("Hoso")
        self.set_producer("Hoso")
        self.set_lang("vi")

    def _marking(self, y: float) -> None:
        if not self.register.marking:
            return
        self.set_xy(self.l_margin, y)
        self.set_font(FONT, "B", 13)
        self.set_text_color(*MARKING_RED)
        self.cell(0, 6, pdf_text(self.register.marking), align=Align.C)
        self.set_text_color(0, 0, 0)

    def header(self) -> None:
        self._marking(7)
        self.set_xy(self.l_margin, self.t_margin)

    def footer(self) -> None:
        self.set_xy(self.l_margin, -14)
        self.set_font(FONT, "", 8)
        self.cell(0, 5, _("Mục lục văn bản"), align=Align.L)
        self.set_xy(self.l_margin, -14)
        self.cell(0, 5, _("Trang %(page)d/%(pages)s", page=self.page_no(), pages="{nb}"), align=Align.R)
        self._marking(-10)

    def heading(self) -> None:
        register = self.register
        half = (self.w - self.l_margin - self.r_margin) / 2
        top = self.get_y()
        self.set_font(FONT, "", 10)
        if register.parent_organisation:
            self.cell(half, 5, pdf_text(register.parent_organisation).upper(), align=Align.C,
                      new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "B", 10)
        self.cell(half, 5, pdf_text(register.organisation).upper(), align=Align.C,
                  new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        bottom = self.get_y()
        self.set_xy(self.l_margin + half, top)
        self.set_font(FONT, "B", 11)
        self.cell(half, 5, _("ĐẢNG CỘNG SẢN VIỆT NAM"), align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_y(max(bottom, self.get_y()) + 6)
        self.set_font(FONT, "B", 16)
        self.cell(0, 8, _("MỤC LỤC VĂN BẢN"), align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", 11)
        person = _("Hồ sơ của: %(name)s", name=pdf_text(register.person))
        if register.date_of_birth:
            person += " — " + _("sinh ngày %(day)s", day=register.date_of_birth.strftime("%d/%m/%Y"))
        self.cell(0, 6, person, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(4)

    def rows(self) -> None:
        headings = (_("STT"), _("Số, ký hiệu"), _("Ngày tháng"), _("Cơ quan ban hành"), _("Loại"),
                    _("Trích yếu nội dung"), _("Tờ số"), _("Độ mật"), _("Ghi chú"))
        self.set_font(FONT, "", 9)
        with self.table(col_widths=COLUMNS, width=sum(COLUMNS), text_align="LEFT", line_height=5,
                        headings_style=FontFace(emphasis="BOLD", fill_color=(235, 235, 235)),
                        repeat_headings=1) as table:
            table.row([str(text) for text in headings])
            for row in self.register.rows:
                day = row.issued_on.strftime("%d/%m/%Y") if row.issued_on else ""
                table.row([str(row.position), pdf_text(row.number), day, pdf_text(row.issuer), pdf_text(row.doc_type),
                           pdf_text(row.title), row.sheets, pdf_text(row.classification), pdf_text(row.note)])

    def closing(self) -> None:
        register = self.register
        self.ln(4)
        self.set_font(FONT, "", 10)
        self.multi_cell(0, 5, _("Mục lục này có %(documents)d văn bản, %(sheets)d tờ.",
                                documents=len(register.rows), sheets=register.sheets),
                        new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.multi_cell(0, 5, _("In ngày %(day)s", day=register.printed_on.strftime("%d/%m/%Y")),
                        new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def build_register_pdf(register: PrintableRegister) -> bytes:
    pdf = _RegisterPdf(register)
    try:
        with force_locale("vi"):
            pdf.add_page()
            pdf.heading()
            pdf.rows()
            pdf.closing()
            return bytes(pdf.output())
    finally:
        # fontTools reads the font files lazily and keeps them open until closed.
        for font in pdf.fonts.values():
            font.ttfont.close()
