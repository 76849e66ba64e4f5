"""The demo's archive (issue 24 B): two dossiers of the provincial organisation committee
(BTCTU) get the register of their paper dossier, some documents with generated scans
(bench/scans.py, fixed seeds and a text of their own, so the same bytes every run and
never another seeder's), filed through the register's operations and add_scan, with the
demo officer as the actor. A dossier whose register has documents is left as it is, so
running the demo twice adds nothing."""

from __future__ import annotations

from datetime import date

from cases.archive import register
from cases.archive.register import DocumentData
from cases.archive.scans import add_scan
from cases.demo.scans import pdf_scan, tiff_scan
from cases.demo.seed import _Cast, _subject

# (citizen ID, documents): each (data, scan kind, pages) — kind None: no scan yet.
REGISTERS = (
    ("038078001234", (  # Trần Văn Hòa
        (DocumentData("party_biography", "Lý lịch đảng viên (bản khai khi kết nạp)", number="LL-2004/015",
                      issued_on=date(2004, 4, 2), issuer="Chi bộ Sở Kế hoạch và Đầu tư", page_count=None,
                      paper_location="Tủ 1, ngăn 2, hộp 07"), "pdf", 4),
        (DocumentData("decision", "Quyết định kết nạp đảng viên", number="215-QĐ/ĐU", issued_on=date(2004, 5, 19),
                      issuer="Đảng ủy Khối các cơ quan tỉnh", paper_location="Tủ 1, ngăn 2, hộp 07"), "pdf", 1),
        (DocumentData("assessment", "Nhận xét, đánh giá cán bộ năm 2023", number="42-NX/CB",
                      issued_on=date(2023, 12, 20), issuer="Chi bộ Sở Kế hoạch và Đầu tư", page_count=2,
                      classification="confidential", paper_location="Tủ 1, ngăn 2, hộp 07"), None, 0),
        (DocumentData("self_criticism", "Bản tự kiểm điểm cuối năm 2024", issued_on=date(2024, 12, 10),
                      issuer="Trần Văn Hòa (tự khai)", paper_original=False), "tiff", 2),
    )),
    ("038185004567", (  # Lê Thị Mai
        (DocumentData("party_biography", "Lý lịch đảng viên", number="LL-2010/112", issued_on=date(2010, 3, 8),
                      issuer="Chi bộ Báo tỉnh", paper_location="Tủ 3, ngăn 1, hộp 21"), "tiff", 3),
        (DocumentData("certificate", "Giấy chứng nhận hoàn thành lớp bồi dưỡng nhận thức về Đảng",
                      number="1187/GCN", issued_on=date(2009, 11, 30), issuer="Trung tâm Chính trị huyện",
                      paper_location="Tủ 3, ngăn 1, hộp 21"), "pdf", 1),
        (DocumentData("minutes", "Biên bản họp chi bộ xét đề nghị kết nạp", number="07-BB/CB",
                      issued_on=date(2010, 2, 25), issuer="Chi bộ Báo tỉnh", page_count=2,
                      paper_location="Tủ 3, ngăn 1, hộp 21"), None, 0),
    )),
)
SCANS = {"pdf": pdf_scan, "tiff": tiff_scan}
SEED_BASE = 24_000  # the scans' seeds: 24001, 24002, ... in the order above


def seed_demo_archive() -> list[str]:
    cast = _Cast()
    officer = None if "canbo.an" in cast.missing else cast.an
    filed, documents, skipped = 0, 0, 0
    seed = SEED_BASE
    for id_number, items in REGISTERS:
        try:
            subject = _subject(id_number, "BTCTU")
        except LookupError:
            skipped += 1
            continue
        if register.document_count(subject.id):
            skipped += 1
            seed += len(items)
            continue
        for data, kind, pages in items:
            seed += 1
            document = register.add_document(subject, data, by=officer)
            documents += 1
            if kind is not None:
                scan = SCANS[kind](seed, pages=pages, text=f"HOSO DEMO {id_number} VB{document.position}")
                add_scan(document, scan, f"van-ban-{document.position}.{'pdf' if kind == 'pdf' else 'tif'}",
                         by=officer)
                filed += 1
    return [f"Demo archive: {documents} documents and {filed} scans in {len(REGISTERS) - skipped} registers, "
            f"{skipped} already there."]
