"""The demo's guidance library (issue 24 A.3): the provincial organisation committee (BTCTU)
publishes three items to the districts below it, through the same operations as the pages —
a required-reading instruction (confirmed by the district's supervisor, lanhdao.lan), a
regulation in two versions, and a form template (mẫu biểu). The files are small PDFs made in
memory with fpdf2 and the Roboto faces the paper copies use. Run once: an existing item of
BTCTU means it ran."""

from __future__ import annotations

import io
from datetime import timedelta

from fpdf import FPDF
from sqlalchemy import select

from cases.oversight import guidance as operations
from cases.oversight.guidance import GuidanceData, Upload, VersionData
from cases.oversight.models import Guidance
from cases.printing.pdf import FONT, font_files, pdf_text
from protection.accounts import find_unit, find_user
from protection.db import db
from protection.i18n import local_today

# (kind, title, required reading, [(days before today it took effect, note, [(file name, heading, body)])])
ITEMS = (
    ("instruction", "Hướng dẫn thẩm định tiêu chuẩn chính trị khi bổ nhiệm, giới thiệu ứng cử", True, [
        (20, "Ban hành lần đầu.", [
            ("huong-dan-tham-dinh.pdf", "Hướng dẫn thẩm định tiêu chuẩn chính trị",
             "Các bước rà soát, thẩm tra, xác minh và kết luận; thời hạn và thẩm quyền phê duyệt."),
        ]),
    ]),
    ("regulation", "Quy định về bảo vệ bí mật nhà nước trong công tác bảo vệ chính trị nội bộ", False, [
        (120, "Ban hành lần đầu.", [
            ("quy-dinh-bao-mat.pdf", "Quy định về bảo vệ bí mật nhà nước",
             "Phân loại độ mật, lưu giữ, sao chụp và giao nhận tài liệu mật."),
        ]),
        (15, "Bổ sung quy định về lưu trữ hồ sơ điện tử và bản quét.", [
            ("quy-dinh-bao-mat-sua-doi.pdf", "Quy định về bảo vệ bí mật nhà nước (sửa đổi)",
             "Bổ sung: hồ sơ điện tử được mã hóa; bản quét lưu cùng mục lục văn bản của hồ sơ."),
        ]),
    ]),
    ("form_template", "Mẫu biểu báo cáo kết quả thẩm định định kỳ hằng quý", False, [
        (30, None, [
            ("mau-bao-cao-quy.pdf", "Mẫu báo cáo kết quả thẩm định hằng quý",
             "Số hồ sơ đã tiếp nhận, đang giải quyết, đã kết luận; đề xuất, kiến nghị."),
        ]),
    ]),
)


def demo_pdf(heading: str, body: str) -> bytes:
    """A one-page PDF of the item (fictional text), made in memory."""
    document = FPDF(unit="mm", format="A4")
    for style, path in font_files().items():
        document.add_font(FONT, style, str(path))
    document.set_title(pdf_text(heading))
    document.set_creator("Hoso")
    document.add_page()
    document.set_font(FONT, "B", 14)
    document.multi_cell(0, 8, pdf_text(heading))
    document.ln(4)
    document.set_font(FONT, "", 12)
    document.multi_cell(0, 6.5, pdf_text(body))
    document.ln(4)
    document.multi_cell(0, 6.5, pdf_text("Văn bản mẫu của bản trình diễn Hoso: không có giá trị thi hành."))
    return bytes(document.output())


def _version(days_ago: int, note: str | None, files) -> VersionData:
    return VersionData(local_today() - timedelta(days=days_ago), note,
                       [Upload(io.BytesIO(demo_pdf(heading, body)), name) for name, heading, body in files])


def seed_demo_guidance() -> list[str]:
    publisher, reader, unit = find_user("lanhdao.minh"), find_user("lanhdao.lan"), find_unit("BTCTU")
    if publisher is None or reader is None or unit is None:
        return ["Demo guidance: skipped (no lanhdao.minh, lanhdao.lan or BTCTU)."]
    if db.session.scalar(select(Guidance.id).where(Guidance.unit_id == unit.id).limit(1)) is not None:
        return ["Demo guidance: already there."]
    published = []
    for kind, title, required, versions in ITEMS:
        first, *later = versions
        item = operations.publish(unit, GuidanceData(kind, title, required, _version(*first)), by=publisher)
        for version in later:
            operations.publish_version(item, _version(*version), by=publisher)
        published.append(item)
    required_item = published[0]
    operations.confirm_read(required_item, operations.latest_version(required_item), by=reader)
    return [f"Demo guidance: {len(published)} items published by BTCTU, one read receipt (lanhdao.lan)."]
