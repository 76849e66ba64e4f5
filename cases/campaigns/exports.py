"""The summary of a campaign for the standing committee (issue 20 §A6): a PDF of numbered
copies with the classification marking and a copy register, as issue 7's conclusion prints,
and an XLSX with the same lines.

Each nominee is listed with the conclusion number and date and the outcome as the supervisor
approved it; a nominee without an approved conclusion is listed as "Chưa có kết luận", never
guessed. Both files are the organisation's documents: in Vietnamese whatever the reader's
interface language, like the printed conclusion.

Copy numbers run on per campaign across prints (a first print of 3 gives copies 1–3, a later
print of 2 gives 4–5). Order, as for a conclusion: allocate the numbers under a lock, build
the PDF, and only then write the register row and the audit entry; a PDF that fails to build
leaves nothing behind and the server log gets one line without content. The audit entry of a
print or a download commits with the request, before the file is sent (the request commits
before its answer leaves).
"""

from __future__ import annotations

import io
import logging
import uuid
from dataclasses import dataclass
from datetime import date

from flask_babel import force_locale
from flask_babel import gettext as _
from fpdf.enums import Align, XPos, YPos
from fpdf.fonts import FontFace
from sqlalchemy import func, select

from audit.trail import record
from cases import labels
from cases.campaigns import operations as campaigns
from cases.campaigns.operations import CampaignError, SummaryLine
from cases.models import Campaign, CampaignPrintRecord
from cases.printing.operations import MAX_COPIES, PrintFailed
from cases.printing.pdf import FONT, MarkedCopiesPdf, pdf_text
from protection.db import db
from protection.i18n import local_today
from protection.identity import Clearance, User
from protection.spreadsheets import write_xlsx_cell, write_xlsx_row, xlsx_workbook

log = logging.getLogger(__name__)

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- what both files show -------------------------------------------------------------------------

@dataclass(frozen=True)
class SummaryDocument:
    """Plain values, already decrypted and labelled (Vietnamese): the files are pure
    functions of it, with no database or request."""

    organisation: str
    parent_organisation: str | None
    reference: str
    title: str
    purpose: str
    due_on: date
    marking: str | None  # "MẬT", "TỐI MẬT", "TUYỆT MẬT"; None when unclassified
    made_on: date
    lines: tuple[SummaryLine, ...]
    first_copy: int = 1
    last_copy: int = 1
    copies_issued: int = 1  # the "/N" of "Bản số k/N", as for a conclusion

    @property
    def concluded(self) -> int:
        return sum(1 for line in self.lines if line.outcome is not None)


def no_conclusion() -> str:
    return _("Chưa có kết luận")


def outcome_text(line: SummaryLine) -> str:
    """The approved outcome's words; "Chưa có kết luận" when there is none."""
    if line.outcome is None:
        return no_conclusion()
    return labels.of(labels.OUTCOMES, line.outcome)


def summary_document(campaign: Campaign, lines: list[SummaryLine], *, first: int = 1, last: int = 1) -> SummaryDocument:
    with force_locale("vi"):
        level = Clearance(campaign.classification)
        unit = campaign.owner_unit
        return SummaryDocument(
            organisation=unit.name, parent_organisation=unit.parent.name if unit.parent else None,
            reference=campaign.reference, title=campaign.title,
            purpose=labels.of(labels.CAMPAIGN_PURPOSES, campaign.purpose), due_on=campaign.due_on,
            marking=None if level == Clearance.UNCLASSIFIED else level.label.upper(), made_on=local_today(),
            lines=tuple(lines), first_copy=first, last_copy=last, copies_issued=last)


def _day(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def _unit_and_position(line: SummaryLine) -> str:
    return ", ".join(part for part in (line.position, line.unit) if part)


# --- the XLSX -------------------------------------------------------------------------------------

def _columns() -> list[str]:
    return [_("STT"), _("Họ và tên"), _("Ngày sinh"), _("Chức vụ"), _("Đơn vị công tác"), _("Số hồ sơ"),
            _("Số kết luận"), _("Ngày kết luận"), _("Kết luận"), _("Có giá trị đến"), _("Ghi chú")]


def summary_xlsx(campaign: Campaign, lines: list[SummaryLine]) -> bytes:
    """One worksheet: the campaign's heading, a header row (its first cell "STT"), a row per
    nominee in list order. Every text cell goes through the spreadsheet rule (a name typed as
    "=HYPERLINK(...)" stays text); dates are written as dd/mm/yyyy text, as printed."""
    document = summary_document(campaign, lines)
    buffer = io.BytesIO()
    workbook = xlsx_workbook(buffer, in_memory=True)
    with force_locale("vi"):
        bold = workbook.add_format({"bold": True})
        marking = workbook.add_format({"bold": True, "font_color": "#B40000"})
        header = workbook.add_format({"bold": True, "text_wrap": True, "valign": "top", "bottom": 1})
        sheet = workbook.add_worksheet(_("Tổng hợp"))
        line = 0
        if document.marking:
            write_xlsx_cell(sheet, line, 0, document.marking, marking)
            # The marking on every printed page of the sheet too (&C: centred, &B: bold).
            sheet.set_header(f"&C&B{document.marking}")
            sheet.set_footer(f"&C&B{document.marking}")
            line += 1
        for cells in ([document.organisation],
                      [_("Danh sách tổng hợp kết luận tiêu chuẩn chính trị")],
                      [_("Đợt thẩm định"), document.reference, document.title],
                      [_("Mục đích"), document.purpose],
                      [_("Hạn hoàn thành"), _day(document.due_on)],
                      [_("Lập ngày"), _day(document.made_on)],
                      [_("Số nhân sự"), len(document.lines), _("đã có kết luận"), document.concluded]):
            write_xlsx_row(sheet, line, 0, cells, bold if line == (1 if document.marking else 0) else None)
            line += 1
        line += 1
        write_xlsx_row(sheet, line, 0, _columns(), header)
        for item in document.lines:
            line += 1
            write_xlsx_row(sheet, line, 0, [
                item.number, item.full_name, _day(item.date_of_birth), item.position, item.unit,
                item.case_reference, item.conclusion_number, _day(item.conclusion_date), outcome_text(item),
                _day(item.valid_until), _("Dùng lại kết luận còn hiệu lực") if item.reused else None])
        for column, width in enumerate((6, 28, 12, 24, 28, 18, 16, 13, 40, 13, 24)):
            sheet.set_column(column, column, width)
    workbook.close()
    return buffer.getvalue()


# --- the PDF --------------------------------------------------------------------------------------

# A4 landscape, 20 mm margins: 257 mm of table.
PDF_WIDTHS = (9, 44, 20, 52, 30, 34, 46, 22)


class _SummaryPdf(MarkedCopiesPdf):
    marking_top = 7.0

    def __init__(self, document: SummaryDocument, pages_per_copy: int):
        # Metadata names the campaign's reference, never its title or a person.
        super().__init__(document, pages_per_copy, orientation="L", margins=(20, 20, 20), title=document.reference)
        self.footer_prefix = f"{document.reference} · "

    def add_copy(self, number: int) -> None:
        self.start_copy(number)
        self._heading()
        self._table()
        self._totals()

    def _heading(self) -> None:
        document = self.document
        self.set_font(FONT, "", 10)
        if document.parent_organisation:
            self.cell(110, 5, pdf_text(document.parent_organisation).upper(), align=Align.C,
                      new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "B", 10)
        self.cell(110, 5, pdf_text(document.organisation).upper(), align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.cell(110, 5, "*", align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(4)
        self.set_font(FONT, "B", 14)
        self.cell(0, 8, _("DANH SÁCH TỔNG HỢP KẾT LUẬN TIÊU CHUẨN CHÍNH TRỊ"), align=Align.C,
                  new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "B", 11)
        self.multi_cell(0, 6, pdf_text(document.title), align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", 10)
        self.cell(0, 6, _("Đợt %(reference)s · %(purpose)s · hạn hoàn thành %(due)s · lập ngày %(made)s",
                          reference=document.reference, purpose=pdf_text(document.purpose),
                          due=_day(document.due_on), made=_day(document.made_on)),
                  align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(3)

    def _table(self) -> None:
        headings = (_("STT"), _("Họ và tên"), _("Ngày sinh"), _("Chức vụ, đơn vị công tác"), _("Số hồ sơ"),
                    _("Số, ngày kết luận"), _("Kết luận"), _("Có giá trị đến"))
        self.set_font(FONT, "", 9)
        with self.table(col_widths=PDF_WIDTHS, width=sum(PDF_WIDTHS), line_height=4.6, text_align="LEFT",
                        headings_style=FontFace(emphasis="BOLD"), repeat_headings=1, padding=1) as table:
            row = table.row()
            for heading in headings:
                row.cell(heading)
            for line in self.document.lines:
                row = table.row()
                row.cell(str(line.number))
                row.cell(pdf_text(line.full_name))
                row.cell(_day(line.date_of_birth))
                row.cell(pdf_text(_unit_and_position(line)))
                row.cell(line.case_reference or "")
                number = line.conclusion_number or ""
                row.cell(f"{pdf_text(number)}\n{_day(line.conclusion_date)}" if number else "")
                outcome = outcome_text(line)
                if line.reused and line.outcome is not None:
                    outcome = f"{outcome}\n({_('dùng lại kết luận còn hiệu lực')})"
                row.cell(pdf_text(outcome))
                row.cell(_day(line.valid_until))

    def _totals(self) -> None:
        document = self.document
        self.ln(3)
        self.set_font(FONT, "", 10)
        self.multi_cell(0, 5, _("Tổng số %(total)d nhân sự: %(concluded)d đã có kết luận, %(open)d chưa có kết luận.",
                                total=len(document.lines), concluded=document.concluded,
                                open=len(document.lines) - document.concluded),
                        align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _render(document: SummaryDocument, copies: range, pages_per_copy: int) -> tuple[bytes, int]:
    pdf = _SummaryPdf(document, pages_per_copy)
    try:
        for number in copies:
            pdf.add_copy(number)
        return bytes(pdf.output()), pdf.pages_count
    finally:
        # fontTools reads the font files lazily and keeps them open until closed.
        for font in pdf.fonts.values():
            font.ttfont.close()


def build_summary_pdf(document: SummaryDocument) -> bytes:
    """One PDF holding copies first_copy..last_copy, each starting on a new page."""
    if not 1 <= document.first_copy <= document.last_copy <= document.copies_issued:
        raise ValueError("copy numbers out of order")
    # Every copy has the same text: one rendered first tells the pages per copy ("Trang 2/3").
    _pdf, pages = _render(document, range(document.first_copy, document.first_copy + 1), 0)
    return _render(document, range(document.first_copy, document.last_copy + 1), pages)[0]


# --- printing and the register --------------------------------------------------------------------

@dataclass(frozen=True)
class SummaryPrint:
    pdf: bytes
    record: CampaignPrintRecord


def issued_copies(campaign: Campaign) -> int:
    return db.session.scalar(select(func.coalesce(func.max(CampaignPrintRecord.last_number), 0))
                             .where(CampaignPrintRecord.campaign_id == campaign.id))


def register(campaign: Campaign) -> list[CampaignPrintRecord]:
    return list(db.session.scalars(select(CampaignPrintRecord).where(CampaignPrintRecord.campaign_id == campaign.id)
                                   .order_by(CampaignPrintRecord.first_number)))


def issued_by(record_id: uuid.UUID) -> CampaignPrintRecord | None:
    """The copies an earlier submit of the print form (its one-time token) issued."""
    return db.session.get(CampaignPrintRecord, record_id)


def record_register_view(campaign: Campaign, *, page: str) -> None:
    record("campaign.print_register.view", target_type="campaign", target_id=campaign.id, page=page)


def _lock_numbers(campaign: Campaign) -> None:
    """Two prints of one campaign take turns: PostgreSQL locks its row until the request
    commits (SQLite's BEGIN IMMEDIATE already runs writers one at a time); the unique
    (campaign_id, first_number) refuses whatever slips past."""
    db.session.execute(select(Campaign.id).where(Campaign.id == campaign.id).with_for_update())


def print_summary(campaign: Campaign, user: User, copies: int | None) -> SummaryPrint:
    """Number, build and register `copies` copies of the summary of what `user` may see."""
    if copies is None or not 1 <= copies <= MAX_COPIES:
        raise CampaignError(_("Số bản in từ 1 đến %(max)d.", max=MAX_COPIES), "copies")
    lines = campaigns.summary(campaign, user)
    _lock_numbers(campaign)
    first = issued_copies(campaign) + 1
    last = first + copies - 1
    document = summary_document(campaign, lines, first=first, last=last)
    with force_locale("vi"):
        try:
            pdf = build_summary_pdf(document)
        except Exception as error:
            # The type only: a message or a traceback could quote the content.
            log.error("printing a campaign summary failed: %s", type(error).__name__)
            raise PrintFailed() from None
    entry = CampaignPrintRecord(id=uuid.uuid4(), campaign_id=campaign.id, printed_by_id=user.id,
                                classification=campaign.classification, copies=copies, first_number=first,
                                last_number=last)
    db.session.add(entry)
    db.session.flush()
    record("campaign.print", target_type="campaign", target_id=campaign.id, actor=user, copies=copies,
           first=first, last=last, nominees=len(lines), concluded=document.concluded)
    return SummaryPrint(pdf, entry)


def export_xlsx(campaign: Campaign, user: User) -> bytes:
    """The summary's XLSX for the web page, recorded (counts, never a name)."""
    lines = campaigns.summary(campaign, user)
    body = summary_xlsx(campaign, lines)
    record("campaign.export", target_type="campaign", target_id=campaign.id, actor=user, format="xlsx",
           nominees=len(lines), concluded=sum(1 for line in lines if line.outcome is not None))
    return body


def file_name(campaign: Campaign, extension: str) -> str:
    """The reference in safe characters: it names no one."""
    safe = "".join(char if char.isascii() and (char.isalnum() or char in "-_.") else "-" for char in campaign.reference)
    return f"{safe.strip('-.') or 'dot-tham-dinh'}-tong-hop.{extension}"
