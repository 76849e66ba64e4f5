"""Filing a scan (cases/archive/scans.py): only PDF, TIFF, JPEG and PNG that really open,
counted by pages, sealed under the dossier's key, and never the same bytes twice."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from cases.archive.models import ArchiveDocument, ArchiveScan
from cases.archive.scans import ScanRefused, add_scan, check_scan
from cases.demo.scans import jpeg_scan, pdf_scan, png_scan, tiff_scan
from protection.db import db
from tests.factories import make_subject, user_row


@pytest.fixture
def document(app, make_user):
    officer = make_user("officer")
    with app.app_context():
        by = user_row(officer)
        subject = make_subject(by)
        item = ArchiveDocument(subject=subject, position=1, doc_type="decision", title="Quyết định kết nạp")
        db.session.add(item)
        db.session.commit()
        return item.id, officer.id


def _document(document_id):
    return db.session.get(ArchiveDocument, document_id)


@pytest.mark.parametrize(("make", "pages"), [
    (lambda: pdf_scan(1, pages=3), 3),
    (lambda: tiff_scan(2, pages=2), 2),
    (lambda: jpeg_scan(3), 1),
    (lambda: png_scan(4), 1),
], ids=["pdf", "tiff", "jpeg", "png"])
def test_a_scan_is_filed_with_its_page_count_and_sealed(app, document, make, pages):
    document_id, officer_id = document
    data = make()
    with app.app_context():
        item = _document(document_id)
        scan = add_scan(item, data, "to-khai.pdf", by=user_row(officer_id))
        db.session.commit()
        assert scan.page_count == pages
        assert item.page_count == pages
        assert scan.data_key_id == item.subject.data_key_id
        stored = db.session.execute(text("SELECT content FROM blobs WHERE id = :id"),
                                    {"id": scan.blob_id if db.engine.dialect.name == "postgresql"
                                     else scan.blob_id.hex}).scalar_one()
        assert data[:64] not in bytes(stored)
        assert len(scan.content_mac) == 64


@pytest.mark.parametrize(("data", "words"), [
    (b"<!DOCTYPE html><html><body>not a scan</body></html>", "PDF, TIFF, JPEG"),
    (b"%PDF-1.7\nthis is no real PDF at all\n%%EOF\n", "Không đọc được"),
    (b"II*\x00\x08\x00\x00\x00" + bytes(32), "Không đọc được"),
    (b"", "rỗng"),
], ids=["html-named-pdf", "broken-pdf", "broken-tiff", "empty"])
def test_a_file_that_is_not_a_readable_scan_is_refused_and_nothing_is_filed(app, document, data, words):
    document_id, officer_id = document
    with app.app_context():
        with pytest.raises(ScanRefused) as refused:
            add_scan(_document(document_id), data, "scan.pdf", by=user_row(officer_id))
        assert words in refused.value.message
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(ArchiveScan)) == 0


def test_the_same_bytes_are_never_filed_twice(app, document):
    document_id, officer_id = document
    data = pdf_scan(7)
    with app.app_context():
        add_scan(_document(document_id), data, "a.pdf", by=user_row(officer_id))
        db.session.commit()
        with pytest.raises(ScanRefused) as refused:
            check_scan(data)
        assert "trùng" in refused.value.message
        check_scan(pdf_scan(8))  # other bytes pass
