"""A dossier's document register (mục lục văn bản) through the real app: documents added,
edited, moved and removed through the pages; scans uploaded through the form (refusals
beside the file field, nothing filed); who reads and who changes it (scope, recusal,
clearance); the printed register; what the audit trail and the raw database hold; the
classification review of archived documents; and the dossier's key shredding them."""

from __future__ import annotations

import io
import json
import re
import uuid
from datetime import date, timedelta

import pypdf
import pytest
from sqlalchemy import select, text, update

from audit.models import AuditEntry
from cases.access import operations as access
from cases.archive.models import ArchiveDocument, ArchiveScan
from cases.archive.register import DocumentData, add_document, next_position
from cases.archive.register_pdf import (
    PrintableRegister,
    RegisterRow,
    build_register_pdf,
    sheet_ranges,
)
from cases.archive.scans import add_scan
from cases.casework.operations import today
from cases.demo.archive import seed_demo_archive
from cases.demo.scans import pdf_scan, tiff_scan
from cases.models import Subject
from cases.retention.operations import add_years
from cases.subjects import operations as subjects_ops
from cases.subjects.operations import SubjectData
from protection.accounts import find_unit
from protection.blobs import Blob
from protection.db import db
from protection.identity import Clearance
from protection.sealing import destroy_data_key
from tests.conftest import audit_entries, post_form
from tests.factories import count_rows, make_subject, user_row
from tests.pages import day_text, field_errors, input_value, org_today, page_post

# Protected values: none may reach the audit trail or the raw database.
TITLE = "Quyết định Qzkếtnạpxw vào Đảng"
NUMBER = "Qz125xw-QĐ/TU"
ISSUER = "Huyện ủy Qzsơnhàxw"
PLACE = "Tủ Qzbốnxw, ngăn 3"
SECRET_TITLE = "Báo cáo Qztốimậtxw"
PERSON = "Trần Văn Lưu Trữ"
PERSON_ID = "038079555666"
CANARIES = (TITLE, NUMBER, ISSUER, PLACE, SECRET_TITLE, "Qzkếtnạpxw", "Qz125xw", "Qzsơnhàxw", "Qzbốnxw", "Qztốimậtxw")


@pytest.fixture
def dossier(app, make_unit, make_user):
    """A dossier in HUYEN (below BTCTU), its officer, and who else stands around it."""
    make_unit("BTCTU")
    make_unit("HUYEN", "Ban Tổ chức Huyện ủy Sơn Hà", kind="district", parent="BTCTU")
    make_unit("BTGTU", "Ban Tuyên giáo Tỉnh ủy", kind="propaganda")
    people = {"officer": make_user("officer", unit="HUYEN", clearance="secret"),
              "low": make_user("officer", unit="HUYEN", clearance="confidential"),
              "recused": make_user("officer", unit="HUYEN", clearance="secret"),
              "other": make_user("officer", unit="BTGTU", clearance="top_secret"),
              "parent_supervisor": make_user("supervisor", unit="BTCTU", clearance="secret"),
              "liaison": make_user("liaison", unit="BTCTU", clearance="secret")}
    with app.app_context():
        subject = make_subject(user_row(people["officer"]), PERSON, date(1979, 5, 6), PERSON_ID)
        user_row(people["recused"]).citizen_index = access.citizen_index(PERSON_ID)  # the dossier is theirs
        db.session.commit()
        return {"subject": str(subject.id), **people}


def _register(subject_id) -> str:
    return f"/archive/subjects/{subject_id}/register"


def _form(**changes) -> dict:
    data = {"doc_type": "decision", "title": TITLE, "number": NUMBER, "issued_on": "15/03/2001", "issuer": ISSUER,
            "page_count": "2", "classification": "unclassified", "paper_original": "y", "paper_location": PLACE}
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def _add(client, subject_id, **changes):
    return page_post(client, f"{_register(subject_id)}/new", data=_form(**changes))


def _documents(app, subject_id) -> list[tuple[int, str, int | None]]:
    """(position, title, page count) of the committed register, in order."""
    with app.app_context():
        rows = [(item.position, item.title, item.page_count) for item in db.session.scalars(
            select(ArchiveDocument).where(ArchiveDocument.subject_id == uuid.UUID(subject_id))
            .order_by(ArchiveDocument.position))]
        db.session.commit()
    return rows


def _document_ids(app, subject_id) -> list[str]:
    with app.app_context():
        ids = [str(item) for item in db.session.scalars(
            select(ArchiveDocument.id).where(ArchiveDocument.subject_id == uuid.UUID(subject_id))
            .order_by(ArchiveDocument.position))]
        db.session.commit()
    return ids


def _upload(client, subject_id, document_id, data: bytes, name: str = "ban-quet.pdf"):
    path = f"{_register(subject_id)}/{document_id}/scans/new"
    return page_post(client, path, data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


# --- the register through its pages ----------------------------------------------------------------

def test_documents_are_added_edited_moved_and_removed_through_the_pages(app, client, sign_in, dossier):
    subject = dossier["subject"]
    sign_in(dossier["officer"])
    assert "Mục lục chưa có văn bản nào." in client.get(_register(subject)).get_data(as_text=True)
    for title, pages in ((TITLE, "2"), ("Lý lịch đảng viên", "4"), ("Bản tự kiểm điểm năm 2005", None)):
        assert _add(client, subject, title=title, page_count=pages).status_code == 302
    assert _documents(app, subject) == [(1, TITLE, 2), (2, "Lý lịch đảng viên", 4), (3, "Bản tự kiểm điểm năm 2005", None)]
    page = client.get(_register(subject)).get_data(as_text=True)
    assert NUMBER in page and ISSUER in page and PLACE in page and "15/03/2001" in page
    assert "1–2" in page and "3–6" in page  # Tờ số: the running sheet ranges
    assert "Xem mục lục (3 văn bản)" in client.get(f"/subjects/{subject}").get_data(as_text=True)

    first, second, third = _document_ids(app, subject)
    edit = f"{_register(subject)}/{second}/edit"
    form = client.get(edit).get_data(as_text=True)
    assert "Lý lịch đảng viên</textarea>" in form and input_value(form, "paper_location") == PLACE
    assert page_post(client, edit, data=_form(doc_type="party_biography", title="Lý lịch đảng viên (bản khai 1998)",
                                              page_count="5", number="", issuer="")).status_code == 302
    assert _documents(app, subject)[1] == (2, "Lý lịch đảng viên (bản khai 1998)", 5)
    update_entry = audit_entries(app, "archive.document.update")[-1]
    assert set(json.loads(update_entry.detail)["fields"]) == {"doc_type", "title", "page_count", "number", "issuer"}

    move = f"{_register(subject)}/{third}/move/up"
    assert post_form(client, move, token_from=_register(subject)).status_code == 302
    assert [row[0:2] for row in _documents(app, subject)] == [
        (1, TITLE), (2, "Bản tự kiểm điểm năm 2005"), (3, "Lý lịch đảng viên (bản khai 1998)")]
    assert post_form(client, f"{_register(subject)}/{first}/move/up", token_from=_register(subject)).status_code == 302
    assert _document_ids(app, subject)[0] == first  # already first: nothing moved

    # A document with a scan stays: the refusal is flashed, nothing removed.
    assert _upload(client, subject, first, pdf_scan(11)).status_code == 302
    refused = post_form(client, f"{_register(subject)}/{first}/delete", token_from=_register(subject),
                        follow_redirects=True)
    assert "Không xóa được văn bản đã có bản quét" in refused.get_data(as_text=True)
    assert len(_documents(app, subject)) == 3
    # One without: removed, and the rows below move up.
    assert post_form(client, f"{_register(subject)}/{third}/delete", token_from=_register(subject)).status_code == 302
    assert [row[0:2] for row in _documents(app, subject)] == [(1, TITLE), (2, "Lý lịch đảng viên (bản khai 1998)")]
    removed = json.loads(audit_entries(app, "archive.document.remove")[-1].detail)
    assert removed == {"document": third, "position": 2, "renumbered": 1}
    with app.app_context():
        assert next_position(uuid.UUID(subject)) == 3


BAD_INPUT = (
    ({"issued_on": "__tomorrow__"}, "issued_on", "Ngày ban hành không được sau ngày hôm nay."),
    ({"page_count": "0"}, "page_count", "Số trang phải là số nguyên dương."),
    ({"page_count": "-3"}, "page_count", "Số trang phải là số nguyên dương."),
    ({"page_count": "ba"}, "page_count", "Số trang phải là số nguyên dương."),
    ({"classification": "top_secret"}, "classification", "cao hơn mức bạn được tiếp cận"),
    ({"doc_type": "memo"}, "doc_type", "Lựa chọn không hợp lệ."),
    ({"title": "  "}, "title", "Hãy nhập"),
)


def test_bad_input_is_shown_beside_its_field_with_the_input_kept(app, client, sign_in, dossier):
    subject = dossier["subject"]
    sign_in(dossier["officer"])  # cleared for Tối mật, not Tuyệt mật
    for changes, field, words in BAD_INPUT:
        if changes.get("issued_on") == "__tomorrow__":
            changes = {"issued_on": day_text(1)}
        response = _add(client, subject, **changes)
        assert response.status_code == 200, changes
        page = response.get_data(as_text=True)
        error = field_errors(page, field)
        assert error is not None and words in error, (field, error)
        assert "Biểu mẫu có 1 chỗ cần sửa." in page
        assert input_value(page, "number") == NUMBER and input_value(page, "issuer") == ISSUER  # the input kept
    assert count_rows(app, ArchiveDocument) == 0
    assert audit_entries(app, "archive.document.add") == []


def test_a_scan_is_uploaded_through_the_form_and_refusals_go_beside_the_file_field(app, client, sign_in, dossier):
    subject = dossier["subject"]
    sign_in(dossier["officer"])
    assert _add(client, subject, page_count=None).status_code == 302
    assert _add(client, subject, title="Biên bản họp chi bộ").status_code == 302
    first, second = _document_ids(app, subject)
    scan = tiff_scan(21, pages=3)
    response = _upload(client, subject, first, scan, "ho-so.tif")
    assert response.status_code == 302
    assert _documents(app, subject)[0][2] == 3  # the page count came from the scan
    added = json.loads(only_entry(app, "archive.scan.add").detail)
    assert added["pages"] == 3 and added["document"] == first

    for data, name, words in ((b"<!DOCTYPE html><html><body>script</body></html>", "khong-phai.pdf", "PDF, TIFF, JPEG"),
                              (scan, "lan-nua.tif", "trùng nội dung"),
                              (b"", "rong.pdf", "Tệp rỗng")):
        refused = _upload(client, subject, second, data, name)
        assert refused.status_code == 200
        page = refused.get_data(as_text=True)
        assert words in (field_errors(page, "file") or ""), (name, field_errors(page, "file"))
        assert "Biên bản họp chi bộ" in page  # still on the document's page
    assert count_rows(app, ArchiveScan) == 1 and count_rows(app, Blob) == 1
    assert len(audit_entries(app, "archive.scan.add")) == 1

    page = client.get(_register(subject)).get_data(as_text=True)
    scan_id = re.search(r"/archive/scans/([0-9a-f-]{36})/download", page).group(1)
    assert "3 trang" in page
    download = client.get(f"/archive/scans/{scan_id}/download")
    assert download.status_code == 200 and download.data == scan
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    entry = only_entry(app, "archive.scan.download")
    assert (entry.target_type, entry.target_id, entry.actor_id) == ("subject", subject, dossier["officer"].id)


def only_entry(app, action: str) -> AuditEntry:
    entries = audit_entries(app, action)
    assert len(entries) == 1, [entry.action for entry in entries]
    return entries[0]


# --- who reads it, who changes it ---------------------------------------------------------------------

def _with_scanned_document(app, dossier, classification="unclassified", title=TITLE, seed=1) -> tuple[str, str]:
    """A document (and its scan) added through the operations by the dossier's officer."""
    with app.app_context():
        by = user_row(dossier["officer"])
        subject = db.session.get(Subject, uuid.UUID(dossier["subject"]))
        document = add_document(subject, DocumentData("report", title, number=NUMBER, issuer=ISSUER, page_count=2,
                                                      classification=classification, paper_location=PLACE), by=by)
        scan = add_scan(document, pdf_scan(seed), "quet.pdf", by=by)
        db.session.commit()
        return str(document.id), str(scan.id)


@pytest.mark.parametrize(("who", "status"), [
    ("other", 404), ("recused", 404), ("liaison", 403), ("parent_supervisor", 200), ("low", 200)])
def test_the_register_is_read_by_whoever_may_read_the_dossier(app, client, sign_in, dossier, who, status):
    subject = dossier["subject"]
    document, scan = _with_scanned_document(app, dossier)
    sign_in(dossier[who])
    reads = [_register(subject), f"{_register(subject)}.pdf", f"/archive/scans/{scan}/download"]
    for path in reads:
        response = client.get(path)
        assert response.status_code == status, (path, response.status_code)
        if status != 200:
            assert TITLE not in response.get_data(as_text=True) and PERSON not in response.get_data(as_text=True)
    changes = [f"{_register(subject)}/new", f"{_register(subject)}/{document}/edit",
               f"{_register(subject)}/{document}/scans/new"]
    for path in changes:
        assert client.get(path).status_code == status, path
    if status != 200:
        denials = [json.loads(entry.detail) for entry in audit_entries(app, "access.denied")]
        assert len(denials) == len(reads) + len(changes) and {item["status"] for item in denials} == {status}
        # No read recorded: only the document and scan added by the dossier's officer.
        assert {entry.action for entry in audit_entries(app, "archive.")} == {"archive.document.add", "archive.scan.add"}


def test_a_document_above_the_readers_clearance_is_listed_without_its_content(app, client, sign_in, dossier):
    subject = dossier["subject"]
    _with_scanned_document(app, dossier, "confidential", TITLE)
    secret, secret_scan = _with_scanned_document(app, dossier, "secret", SECRET_TITLE, seed=2)
    sign_in(dossier["low"])  # cleared for Mật only
    page = client.get(_register(subject)).get_data(as_text=True)
    assert TITLE in page and SECRET_TITLE not in page
    assert "Tài liệu mật cấp cao hơn" in page and "Tối mật" in page
    assert "3–4" in page  # its sheets still count
    assert f"/archive/scans/{secret_scan}/download" not in page and f"/{secret}/edit" not in page
    view = json.loads(audit_entries(app, "archive.register.view")[-1].detail)
    assert view == {"documents": 2, "withheld": 1}
    for path in (f"{_register(subject)}/{secret}/edit", f"{_register(subject)}/{secret}/scans/new",
                 f"/archive/scans/{secret_scan}/download"):
        assert client.get(path).status_code == 403, path
    for path in (f"{_register(subject)}/{secret}/delete", f"{_register(subject)}/{secret}/move/up"):
        assert post_form(client, path, token_from=_register(subject)).status_code == 403, path
    assert len(_documents(app, subject)) == 2 and count_rows(app, ArchiveScan) == 2

    printed = client.get(f"{_register(subject)}.pdf")
    assert printed.status_code == 200
    text_ = _pdf_text(printed.data)
    assert SECRET_TITLE not in text_ and "Tài liệu mật cấp cao hơn" in text_ and TITLE in text_
    assert text_.count("MẬT") >= 2 and "TỐI MẬT" not in text_  # marked at the level of what it prints


# --- printing -----------------------------------------------------------------------------------------

def _pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_the_register_prints_as_the_dossiers_table_of_contents(app, client, sign_in, dossier):
    subject = dossier["subject"]
    sign_in(dossier["officer"])
    for number, (title, pages) in enumerate((("Lý lịch đảng viên", "6"), ("Quyết định kết nạp", "1"),
                                             ("Nhận xét của chi bộ", "3")), start=1):
        assert _add(client, subject, title=title, page_count=pages, number=f"{number}-QĐ/HU").status_code == 302
    response = client.get(f"{_register(subject)}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert PERSON not in response.headers["Content-Disposition"]
    reader = pypdf.PdfReader(io.BytesIO(response.data))
    assert PERSON not in str(reader.metadata.title)
    page = reader.pages[0]
    assert page.mediabox.width > page.mediabox.height  # A4 landscape
    text_ = _pdf_text(response.data)
    assert "MỤC LỤC VĂN BẢN" in text_ and PERSON in text_
    assert "Mục lục này có 3 văn bản, 10 tờ." in text_
    for expected in ("Tờ số", "Ghi chú", "1–6", "7", "8–10", "3-QĐ/HU", "Nhận xét của chi bộ"):
        assert expected in text_, expected
    assert "MẬT" not in text_.replace("MỤC LỤC", "")  # nothing classified: no marking
    entry = only_entry(app, "archive.register.print")
    assert (entry.target_type, entry.target_id) == ("subject", subject)
    assert json.loads(entry.detail) == {"documents": 3, "withheld": 0, "marking": "unclassified"}


# --- what is kept, and where --------------------------------------------------------------------------

def test_no_protected_value_reaches_the_audit_trail_or_the_raw_database(app, client, sign_in, dossier):
    subject = dossier["subject"]
    sign_in(dossier["officer"])
    assert _add(client, subject).status_code == 302
    document = _document_ids(app, subject)[0]
    assert _upload(client, subject, document, pdf_scan(31)).status_code == 302
    assert page_post(client, f"{_register(subject)}/{document}/edit",
                     data=_form(title=SECRET_TITLE, classification="secret")).status_code == 302
    client.get(_register(subject))
    client.get(f"{_register(subject)}.pdf")
    with app.app_context():
        trail = [(entry.action, entry.detail) for entry in db.session.scalars(select(AuditEntry))]
        raw = [row for table in ("archive_documents", "archive_scans", "blobs")
               for row in db.session.execute(text(f"SELECT * FROM {table}")).all()]  # noqa: S608 - fixed names
        db.session.commit()
    actions = {action for action, _detail in trail}
    assert {"archive.document.add", "archive.scan.add", "archive.document.update", "archive.register.view",
            "archive.register.print", "archive.document.view"} <= actions
    dump = repr(trail) + repr(raw)
    raw_bytes = b"".join(value for row in raw for value in row if isinstance(value, bytes | memoryview))
    for canary in CANARIES:
        assert canary not in dump, canary
        assert canary.encode() not in bytes(raw_bytes), canary
    assert b"%PDF" not in bytes(raw_bytes)  # the scan's bytes are sealed too


def test_archived_documents_are_destroyed_with_the_dossiers_key(app, dossier):
    document_id, scan_id = _with_scanned_document(app, dossier)
    with app.app_context():
        subject = db.session.get(Subject, uuid.UUID(dossier["subject"]))
        document = db.session.get(ArchiveDocument, uuid.UUID(document_id))
        scan = db.session.get(ArchiveScan, uuid.UUID(scan_id))
        assert document.data_key_id == scan.data_key_id == scan.blob.data_key_id == subject.data_key_id
        destroy_data_key(db.session, subject.data_key_id)
        db.session.commit()
    with app.app_context():
        document = db.session.get(ArchiveDocument, uuid.UUID(document_id))
        assert document.title is None and document.number is None and document.paper_location is None
        assert db.session.get(ArchiveScan, uuid.UUID(scan_id)).blob.content is None
        db.session.commit()


# --- classification protection periods (issue 8) ------------------------------------------------------

def test_a_classified_document_gets_its_protection_period_and_is_reviewed_when_due(app, client, sign_in, dossier,
                                                                                    make_user):
    subject = dossier["subject"]
    document_id, _scan = _with_scanned_document(app, dossier, "confidential")
    plain_id, _plain_scan = _with_scanned_document(app, dossier, "unclassified", "Đơn xin vào Đảng", seed=2)
    with app.app_context():
        document = db.session.get(ArchiveDocument, uuid.UUID(document_id))
        assert document.protection_ends_on == add_years(today(), 10)  # Mật: 10 years by default
        assert db.session.get(ArchiveDocument, uuid.UUID(plain_id)).protection_ends_on is None
        db.session.commit()
    supervisor = make_user("supervisor", unit="HUYEN", clearance="secret")
    sign_in(supervisor)
    assert f"archive_document/{document_id}" not in client.get("/retention/classified").get_data(as_text=True)
    with app.app_context():
        db.session.execute(update(ArchiveDocument).where(ArchiveDocument.id == uuid.UUID(document_id))
                           .values(protection_ends_on=today() - timedelta(days=1)))
        db.session.commit()
    page = client.get("/retention/classified").get_data(as_text=True)
    assert f"/retention/classified/archive_document/{document_id}" in page
    assert f"{_register(subject)}#d1" in page and "Văn bản lưu trữ" in page
    assert TITLE not in page and PERSON not in page

    decide = f"/retention/classified/archive_document/{document_id}"
    assert f"{_register(subject)}#d1" in client.get(decide).get_data(as_text=True)
    refused = post_form(client, decide, {"decision": "downgrade", "to_level": "secret"})
    assert refused.status_code == 200 and "phải thấp hơn" in (field_errors(refused.get_data(as_text=True), "to_level")
                                                             or "")
    new_end = date(org_today().year + 3, 6, 30)
    assert post_form(client, decide, {"decision": "extend", "new_end": new_end.strftime("%d/%m/%Y")}).status_code == 303
    with app.app_context():
        document = db.session.get(ArchiveDocument, uuid.UUID(document_id))
        assert (document.classification, document.protection_ends_on) == (Clearance.CONFIDENTIAL, new_end)
        db.session.commit()
    entry = only_entry(app, "classification.review")
    assert (entry.target_type, entry.target_id) == ("archive_document", document_id)
    assert json.loads(entry.detail)["subject_id"] == subject
    assert f"archive_document/{document_id}" not in client.get("/retention/classified").get_data(as_text=True)

    # Whoever may not read the dossier neither sees nor decides its documents.
    other = make_user("supervisor", unit="BTGTU", clearance="top_secret")
    with app.app_context():
        db.session.execute(update(ArchiveDocument).where(ArchiveDocument.id == uuid.UUID(document_id))
                           .values(protection_ends_on=today()))
        db.session.commit()
    other_client = app.test_client()
    sign_in(other, target=other_client)
    assert document_id not in other_client.get("/retention/classified").get_data(as_text=True)
    assert other_client.get(decide).status_code == 404


# --- the demo -------------------------------------------------------------------------------------------

def test_the_demo_fills_two_registers_with_scans_once(app, make_unit):
    make_unit("BTCTU")
    with app.app_context():
        for number, name in (("038078001234", "Trần Văn Hòa"), ("038185004567", "Lê Thị Mai")):
            subjects_ops.create_subject(SubjectData(name, date(1980, 1, 1), number), owner_unit=find_unit("BTCTU"),
                                        by=None)
        assert seed_demo_archive() == ["Demo archive: 7 documents and 5 scans in 2 registers, 0 already there."]
        db.session.commit()
        assert seed_demo_archive() == ["Demo archive: 0 documents and 0 scans in 0 registers, 2 already there."]
        db.session.commit()
        documents = db.session.scalars(select(ArchiveDocument).order_by(ArchiveDocument.subject_id,
                                                                        ArchiveDocument.position)).all()
        assert len(documents) == 7 and {len(document.scans) for document in documents} == {0, 1}
        assert any(document.classification == Clearance.CONFIDENTIAL and document.protection_ends_on
                   for document in documents)
        assert all(document.page_count for document in documents)  # typed, or counted from the scan
        db.session.commit()


def test_a_long_register_prints_on_several_pages_each_headed_and_marked(app):
    ranges = sheet_ranges([2, None, 3] * 10)
    assert ranges[:4] == ["1–2", "", "3–5", "6–7"]
    rows = tuple(RegisterRow(number + 1, ranges[number], "Mật", number=f"{number + 1}-QĐ/TU", doc_type="Quyết định",
                             title="Trích yếu nội dung văn bản rất dài " * 4) for number in range(30))
    with app.test_request_context():
        pdf = build_register_pdf(PrintableRegister("Ban Tổ chức Tỉnh ủy", None, PERSON, None, "MẬT", date(2026, 1, 2),
                                                   rows, 50))
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    pages = [page.extract_text() for page in reader.pages]
    assert len(pages) > 1
    for number, text_ in enumerate(pages, start=1):
        assert "Tờ số" in text_ and text_.count("MẬT") >= 2 and f"Trang {number}/{len(pages)}" in text_
    assert "30-QĐ/TU" in pages[-1] and "Mục lục này có 30 văn bản, 50 tờ." in pages[-1]
