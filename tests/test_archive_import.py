"""Bulk digitisation (`flask --app app archive import --unit CODE FOLDER`, issue 24 B.2)
through the real CLI on folders of generated scans (bench/scans.py): each file a document
after the dossier's existing ones, with its scans and pages; a manifest's register fields
and grouped documents; every refusal reported by file or by manifest line, never with a
file's content, and then NOTHING filed; duplicates in the archive and within the folder;
--dry-run and --skip-refused; each dossier all-or-nothing when filing fails midway; the
audit trail with counts only."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from audit.trail import detail_of
from cases.archive import importing
from cases.archive.models import ArchiveDocument, ArchiveScan
from cases.archive.scans import add_scan
from cases.demo.scans import jpeg_scan, pdf_scan, png_scan, tiff_scan
from protection.accounts import find_unit
from protection.blobs import Blob
from protection.db import db
from protection.identity import Clearance
from tests.conftest import audit_entries
from tests.factories import make_subject

AN_ID = "001080000001"
BINH_ID = "001185004567"
OTHER_ID = "001090007890"  # a dossier of another unit
NOBODY_ID = "001099999999"  # no dossier anywhere
# Protected values of the scene; none may reach the output or the audit trail.
PROTECTED = ("Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường", AN_ID, BINH_ID, OTHER_ID, "123-QĐ/TU",
             "Tỉnh ủy Hà Sơn", "Quyết định kết nạp", "Tủ số 3")


@dataclass
class Scene:
    an: uuid.UUID
    binh: uuid.UUID
    other: uuid.UUID


@pytest.fixture
def scene(app, make_unit) -> Scene:
    make_unit("BTCTU")
    make_unit("HUYEN-A", name="Huyện ủy A", parent="BTCTU")
    with app.app_context():
        province, district = find_unit("BTCTU"), find_unit("HUYEN-A")
        an = make_subject(None, "Nguyễn Văn An", id_number=AN_ID, owner_unit=province)
        binh = make_subject(None, "Trần Thị Bình", id_number=BINH_ID, owner_unit=province)
        other = make_subject(None, "Lê Văn Cường", id_number=OTHER_ID, owner_unit=district)
        # An's register already holds one document, with a scan: new ones come after it.
        existing = ArchiveDocument(subject=an, position=1, doc_type="decision", title="Quyết định kết nạp")
        db.session.add(existing)
        add_scan(existing, png_scan(900), "cu.png", by=None)
        db.session.commit()
        return Scene(an.id, binh.id, other.id)


def write(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def run(runner, folder: Path, *options: str, unit: str = "BTCTU"):
    return runner.invoke(args=["archive", "import", "--unit", unit, str(folder), *options])


def counts(app) -> tuple[int, int, int]:
    """(documents, scans, blobs) committed."""
    with app.app_context():
        found = tuple(db.session.scalar(select(func.count()).select_from(model))
                      for model in (ArchiveDocument, ArchiveScan, Blob))
        db.session.commit()
    return found


def register(app, subject_id) -> list[dict]:
    """A dossier's register as the application reads it."""
    with app.app_context():
        documents = db.session.scalars(select(ArchiveDocument).where(ArchiveDocument.subject_id == subject_id)
                                       .order_by(ArchiveDocument.position)).all()
        found = [{"position": item.position, "title": item.title, "doc_type": item.doc_type,
                  "number": item.number, "issued_on": item.issued_on, "issuer": item.issuer,
                  "classification": item.classification, "paper_location": item.paper_location,
                  "page_count": item.page_count,
                  "scans": [(scan.blob.filename, scan.page_count, scan.blob.content_type) for scan in item.scans]}
                 for item in documents]
        db.session.commit()
    return found


def assert_nothing_protected(text: str) -> None:
    for value in PROTECTED:
        assert value not in text


def import_entries(app) -> list[dict]:
    return [{"outcome": entry.outcome, **detail_of(entry)} for entry in audit_entries(app, "archive.import")]


# --- a clean folder ----------------------------------------------------------------------------

def test_a_folder_per_person_files_each_scan_as_a_document_after_the_existing_ones(app, runner, scene, tmp_path):
    folder = write(tmp_path / "scans", {
        f"{AN_ID}/trang-10.jpg": jpeg_scan(1),
        f"{AN_ID}/trang-2.pdf": pdf_scan(2, pages=3),
        f"{AN_ID}/to-khai.tif": tiff_scan(3, pages=2),
        f"{AN_ID}/Thumbs.db": b"not a scan, skipped",
        f"{AN_ID}/.DS_Store": b"not a scan either",
        "001 185 004 567/ly-lich.png": png_scan(4),  # the citizen ID as people type it
    })
    before = len(audit_entries(app, "archive.scan.add"))

    result = run(runner, folder)

    assert result.exit_code == 0, result.output
    assert "Đã kiểm tra 4 tệp của 2 hồ sơ." in result.stdout
    assert "Đã nạp vào đơn vị BTCTU: 2 hồ sơ, 4 văn bản, 4 bản quét, 7 trang." in result.stdout
    assert "Checking scans" in result.stderr and "Filing scans" in result.stderr
    assert_nothing_protected(result.output)
    an = register(app, scene.an)
    assert [(item["position"], item["title"], item["doc_type"], item["page_count"]) for item in an] == [
        (1, "Quyết định kết nạp", "decision", 1),
        (2, "to-khai", "other", 2), (3, "trang-2", "other", 3), (4, "trang-10", "other", 1)]
    assert [item["scans"] for item in an[1:]] == [[("to-khai.tif", 2, "image/tiff")],
                                                  [("trang-2.pdf", 3, "application/pdf")],
                                                  [("trang-10.jpg", 1, "image/jpeg")]]
    assert all(item["classification"] == Clearance.UNCLASSIFIED for item in an)
    assert [(item["position"], item["title"], item["scans"]) for item in register(app, scene.binh)] == [
        (1, "ly-lich", [("ly-lich.png", 1, "image/png")])]
    assert counts(app) == (5, 5, 5)

    documents = audit_entries(app, "archive.document.add")
    scans = audit_entries(app, "archive.scan.add")[before:]
    assert len(documents) == 4 and len(scans) == 4
    assert {entry.client_address for entry in [*documents, *scans]} == {"cli"}
    assert sorted(detail_of(entry)["pages"] for entry in scans) == [1, 1, 2, 3]
    assert import_entries(app) == [{"outcome": "success", "dossiers": 2, "documents": 4, "scans": 4, "pages": 7,
                                    "refused": 0, "dry_run": False}]
    summary = audit_entries(app, "archive.import")[0]
    assert summary.target_type == "unit" and summary.actor_id is None and summary.client_address == "cli"
    for entry in [*documents, *scans, summary]:
        assert_nothing_protected(entry.detail)
        assert "trang" not in entry.detail and "to-khai" not in entry.detail and "ly-lich" not in entry.detail


def test_a_manifest_names_register_fields_and_groups_files_into_one_document(app, runner, scene, tmp_path):
    folder = write(tmp_path / "scans", {
        "lo-1/a.pdf": pdf_scan(11, pages=2), "lo-1/b.jpg": jpeg_scan(12), "lo-2/c.tiff": tiff_scan(13, pages=3),
        "lo-2/khong-ke-khai.png": png_scan(14),  # in the folder, not in the manifest: not filed
    })
    manifest = tmp_path / "ke-khai.csv"
    manifest.write_text(
        "citizen_id,file,document,doc_type,number,issued_on,issuer,title,classification,paper_location\n"
        f"{AN_ID},lo-1/a.pdf,QD,Quyết định,123-QĐ/TU,05/03/2001,Tỉnh ủy Hà Sơn,Quyết định kết nạp,mật,Tủ số 3\n"
        f"{AN_ID},lo-1/b.jpg,QD,,,,,,,\n"
        "\n"
        f"{BINH_ID.replace('001', '001 ', 1)},lo-2\\c.tiff,,report,,2010-01-02,,,secret,\n",  # a Windows path
        encoding="utf-8")

    result = run(runner, folder, "--manifest", str(manifest))

    assert result.exit_code == 0, result.output
    assert "Đã nạp vào đơn vị BTCTU: 2 hồ sơ, 2 văn bản, 3 bản quét, 6 trang." in result.stdout
    assert_nothing_protected(result.output)
    decision = register(app, scene.an)[1]
    assert decision == {
        "position": 2, "title": "Quyết định kết nạp", "doc_type": "decision", "number": "123-QĐ/TU",
        "issued_on": date(2001, 3, 5), "issuer": "Tỉnh ủy Hà Sơn", "classification": Clearance.CONFIDENTIAL,
        "paper_location": "Tủ số 3", "page_count": 3,
        "scans": [("a.pdf", 2, "application/pdf"), ("b.jpg", 1, "image/jpeg")]}
    report = register(app, scene.binh)
    assert [(item["title"], item["doc_type"], item["issued_on"], item["classification"], item["page_count"])
            for item in report] == [("c", "report", date(2010, 1, 2), Clearance.SECRET, 3)]
    assert counts(app) == (3, 4, 4)


# --- refusals: reported, and nothing filed ---------------------------------------------------------

GOOD = {f"{AN_ID}/tot.pdf": pdf_scan(20, pages=2)}


@pytest.mark.parametrize(("files", "where", "reason"), [
    ({f"{NOBODY_ID}/a.pdf": pdf_scan(21)}, f"{NOBODY_ID}/", "đơn vị BTCTU không có hồ sơ mang số định danh này"),
    ({f"{OTHER_ID}/a.pdf": pdf_scan(22)}, f"{OTHER_ID}/", "hồ sơ của người này thuộc đơn vị khác, không phải BTCTU."),
    ({"ho-so-an/a.pdf": pdf_scan(23)}, "ho-so-an/", "tên thư mục không phải số định danh"),
    ({"roi.pdf": pdf_scan(24)}, "roi.pdf", "tệp nằm ngoài thư mục của một người"),
    ({f"{AN_ID}/lo/a.pdf": pdf_scan(25)}, f"{AN_ID}/lo/", "thư mục lồng trong thư mục của một người"),
    ({f"{BINH_ID}/gia.pdf": b"<!DOCTYPE html><html><body>Bi mat tuyet doi</body></html>"},
     f"{BINH_ID}/gia.pdf", "Bản quét phải là tệp PDF, TIFF, JPEG hoặc PNG"),
    ({f"{BINH_ID}/hong.pdf": b"%PDF-1.7\nBi mat tuyet doi\n%%EOF\n"}, f"{BINH_ID}/hong.pdf", "Không đọc được bản quét"),
    ({f"{BINH_ID}/rong.jpg": b""}, f"{BINH_ID}/rong.jpg", "Tệp rỗng."),
    ({f"{BINH_ID}/lon.tif": b"II*\x00" + bytes(1024 * 1024)}, f"{BINH_ID}/lon.tif", "Tệp quá lớn: giới hạn là 1 MB."),
    ({f"{BINH_ID}/ban-sao.pdf": GOOD[f"{AN_ID}/tot.pdf"]}, f"{BINH_ID}/ban-sao.pdf",
     f"trùng nội dung với {AN_ID}/tot.pdf."),
    ({f"{BINH_ID}/da-co.png": png_scan(900)}, f"{BINH_ID}/da-co.png",
     "Bản quét này đã có trong kho lưu trữ (trùng nội dung)."),
    ({"001185004567/a.pdf": pdf_scan(26), "001.185.004.567/b.pdf": pdf_scan(27)}, "001185004567/",
     "cùng số định danh với thư mục 001.185.004.567/"),
], ids=["unknown-id", "other-unit", "not-an-id", "loose-file", "nested-folder", "disguised", "broken-pdf",
        "empty", "too-large", "twice-in-folder", "already-archived", "same-person-twice"])
def test_a_refused_file_or_folder_is_reported_and_nothing_at_all_is_filed(app, runner, scene, tmp_path, files, where,
                                                                          reason):
    app.config["HOSO_MAX_UPLOAD_MB"] = 1
    folder = write(tmp_path / "scans", {**GOOD, **files})
    before = counts(app)

    result = run(runner, folder)

    assert result.exit_code == 1, result.output
    assert f"  {where}: {reason}" in result.stderr
    assert "không nạp gì" in result.stderr and "--skip-refused" in result.stderr
    assert "Bi mat" not in result.output  # never a file's content
    assert counts(app) == before
    assert import_entries(app) == [{"outcome": "refused", "dossiers": 0, "documents": 0, "scans": 0, "pages": 0,
                                    "refused": 1, "dry_run": False}]
    assert audit_entries(app, "archive.document.add") == []


def test_a_link_out_of_the_folder_or_a_pipe_is_never_read(app, runner, scene, tmp_path):
    (tmp_path / "ngoai.pdf").write_bytes(pdf_scan(28))
    folder = write(tmp_path / "scans", GOOD)
    (folder / AN_ID / "lien-ket.pdf").symlink_to(tmp_path / "ngoai.pdf")
    os.mkfifo(folder / AN_ID / "ong")
    before = counts(app)
    result = run(runner, folder)
    assert result.exit_code == 1
    assert f"  {AN_ID}/lien-ket.pdf: liên kết trỏ ra ngoài thư mục nhập: không đọc." in result.stderr
    assert f"  {AN_ID}/ong: không phải tệp thông thường: không đọc." in result.stderr
    assert counts(app) == before


MANIFEST_HEADER = "citizen_id,file,document,doc_type,issued_on,classification,title"


@pytest.mark.parametrize(("line", "reason"), [
    (f"{AN_ID},b.pdf,,,31/02/2020,,", "dòng 3: ngày ban hành không hợp lệ (YYYY-MM-DD hoặc DD/MM/YYYY)."),
    (f"{AN_ID},b.pdf,,,{(date.today() + timedelta(days=3)).isoformat()},,", "dòng 3: ngày ban hành ở tương lai."),
    (f"{AN_ID},b.pdf,,thư tay,,,", "dòng 3: loại văn bản không rõ"),
    (f"{AN_ID},b.pdf,,,,bí mật nhà nước,", "dòng 3: độ mật không rõ"),
    (f"{AN_ID},khong-co.pdf,,,,,", "dòng 3: không có tệp khong-co.pdf."),
    (f"{AN_ID},../ngoai.pdf,,,,,", "dòng 3: tệp ../ngoai.pdf nằm ngoài thư mục nhập."),
    (f"{AN_ID},,,,,,", "dòng 3: thiếu tên tệp (cột file)."),
    (f"{AN_ID},b.pdf", "dòng 3: có 2 cột, tiêu đề có 7: thiếu hoặc thừa cột."),
    ("00108000000,b.pdf,,,,,", "dòng 3: số định danh không hợp lệ"),
    (f"{AN_ID},b.pdf,,,,,{'x' * 2001}", "dòng 3: cột title dài quá 2000 ký tự."),
    (f"{AN_ID},b.pdf,QD,,,,Trích yếu khác", "dòng 3: cột title khác với dòng 2 của cùng văn bản."),
    (f"{NOBODY_ID},b.pdf,,,,,", "dòng 3: đơn vị BTCTU không có hồ sơ mang số định danh này."),
], ids=["bad-date", "future-date", "unknown-type", "unknown-classification", "missing-file", "outside-folder",
        "no-file", "missing-cells", "bad-citizen-id", "too-long", "conflicting-group", "unknown-person"])
def test_a_bad_manifest_line_is_reported_by_its_number_and_nothing_is_filed(app, runner, scene, tmp_path, line, reason):
    folder = write(tmp_path / "scans", {"a.pdf": pdf_scan(30), "b.pdf": pdf_scan(31)})
    (tmp_path / "ngoai.pdf").write_bytes(pdf_scan(32))
    manifest = tmp_path / "ke-khai.csv"
    manifest.write_text(f"{MANIFEST_HEADER}\n{AN_ID},a.pdf,QD,decision,,,Quyết định\n{line}\n", encoding="utf-8")
    before = counts(app)

    result = run(runner, folder, "--manifest", str(manifest))

    assert result.exit_code == 1, result.output
    assert f"  {reason}" in result.stderr
    assert counts(app) == before


@pytest.mark.parametrize(("content", "message"), [
    ("citizen_id,title\n", "dòng 1: thiếu cột file."),
    ("citizen_id,file,ghi_chu\n", "dòng 1: cột không rõ ghi_chu"),
    ("citizen_id,file,file\n", "dòng 1: cột file có hai lần."),
    ("", "tệp kê khai rỗng: cần một dòng tiêu đề."),
    ("citizen_id,file\n001080000001,Trang bìa \xe9.pdf\n".encode("latin-1"),
     "tệp kê khai không phải UTF-8 (byte sai đầu tiên ở dòng 2)"),
], ids=["missing-column", "unknown-column", "column-twice", "empty", "not-utf8"])
def test_an_unreadable_manifest_is_one_line_and_a_non_zero_exit(app, runner, scene, tmp_path, content, message):
    manifest = tmp_path / "ke-khai.csv"
    manifest.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    result = run(runner, write(tmp_path / "scans", {"a.pdf": pdf_scan(40)}), "--manifest", str(manifest))
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert counts(app) == (1, 1, 1)


def test_an_unknown_unit_is_one_line_and_a_non_zero_exit(app, runner, scene, tmp_path):
    result = run(runner, write(tmp_path / "scans", GOOD), unit="KHONG-CO")
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: Không có đơn vị mã KHONG-CO."
    assert counts(app) == (1, 1, 1)


# --- dry runs, second runs, skipping ---------------------------------------------------------------

def test_a_dry_run_checks_and_reports_but_files_nothing(app, runner, scene, tmp_path):
    folder = write(tmp_path / "scans", {f"{AN_ID}/a.pdf": pdf_scan(50, pages=4), f"{BINH_ID}/b.png": png_scan(51)})
    result = run(runner, folder, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Chạy thử (--dry-run), không nạp gì. Sẽ nạp: 2 hồ sơ, 2 văn bản, 2 bản quét, 5 trang." in result.stdout
    assert counts(app) == (1, 1, 1)
    assert import_entries(app) == [{"outcome": "success", "dossiers": 2, "documents": 2, "scans": 2, "pages": 5,
                                    "refused": 0, "dry_run": True}]

    write(folder, {f"{NOBODY_ID}/c.pdf": pdf_scan(52)})
    refused = run(runner, folder, "--dry-run")
    assert refused.exit_code == 1 and f"{NOBODY_ID}/: " in refused.stderr
    assert counts(app) == (1, 1, 1)


def test_a_second_run_of_the_same_folder_refuses_every_scan_as_a_duplicate(app, runner, scene, tmp_path):
    folder = write(tmp_path / "scans", {f"{AN_ID}/a.pdf": pdf_scan(60), f"{BINH_ID}/b.jpg": jpeg_scan(61)})
    assert run(runner, folder).exit_code == 0
    filed = counts(app)
    assert filed == (3, 3, 3)

    again = run(runner, folder)
    assert again.exit_code == 1
    assert again.stderr.count("đã có trong kho lưu trữ (trùng nội dung)") == 2
    assert counts(app) == filed

    # With --skip-refused a new scan beside the filed ones is filed alone, and the run says so.
    write(folder, {f"{BINH_ID}/c.tif": tiff_scan(62, pages=2), f"{NOBODY_ID}/d.pdf": pdf_scan(63)})
    skipping = run(runner, folder, "--skip-refused")
    assert skipping.exit_code == 0, skipping.output
    assert "Bị từ chối (3):" in skipping.stderr
    assert "Đã nạp vào đơn vị BTCTU: 1 hồ sơ, 1 văn bản, 1 bản quét, 2 trang." in skipping.stdout
    assert [item["title"] for item in register(app, scene.binh)] == ["b", "c"]
    assert counts(app) == (4, 4, 4)
    assert import_entries(app)[-1] == {"outcome": "success", "dossiers": 1, "documents": 1, "scans": 1, "pages": 2,
                                       "refused": 3, "dry_run": False}


def test_a_dossier_that_fails_while_filing_is_rolled_back_whole_and_the_others_are_filed(app, scene, tmp_path):
    """Filing commits dossier by dossier: a file changed between the check and the filing (as
    a crash would, midway) leaves its dossier untouched, not half-filed."""
    folder = write(tmp_path / "scans", {f"{AN_ID}/1.pdf": pdf_scan(70), f"{AN_ID}/2.pdf": pdf_scan(71),
                                        f"{BINH_ID}/1.pdf": pdf_scan(72)})
    with app.app_context():
        unit = find_unit("BTCTU")
        plan = importing.check(importing.gather_folders(folder), unit)
        db.session.commit()
        assert plan.problems == []
        (folder / AN_ID / "2.pdf").write_bytes(pdf_scan(73))  # its first document would file; its second not
        filed, failed = importing.file_plan(plan, unit)
    assert [str(problem) for problem in failed] == [
        f"{AN_ID}/: một tệp đã thay đổi hoặc không còn đọc được sau khi kiểm tra: hồ sơ này không được nạp."]
    assert (filed.dossiers, filed.documents, filed.scans) == (1, 1, 1)
    assert len(register(app, scene.an)) == 1  # only the document it had
    assert len(register(app, scene.binh)) == 1
    assert counts(app) == (2, 2, 2)
    assert import_entries(app)[-1]["refused"] == 1


def test_a_scan_filed_meanwhile_by_another_run_rolls_its_dossier_back_whole(app, scene, tmp_path):
    """Two runs racing: the scan's keyed MAC is unique, so the second to file the same bytes
    fails at the database, and its whole dossier is rolled back and reported."""
    same = png_scan(80)
    folder = write(tmp_path / "scans", {f"{AN_ID}/1.pdf": pdf_scan(81), f"{AN_ID}/2.png": same,
                                        f"{BINH_ID}/1.pdf": pdf_scan(82)})
    with app.app_context():
        unit = find_unit("BTCTU")
        plan = importing.check(importing.gather_folders(folder), unit)
        db.session.commit()
        other_run = ArchiveDocument(subject_id=scene.binh, position=1, doc_type="other", title="Khác")
        db.session.add(other_run)
        add_scan(other_run, same, "2.png", by=None)
        db.session.commit()
        filed, failed = importing.file_plan(plan, unit)
    assert [problem.where for problem in failed] == [f"{AN_ID}/"]
    assert "một lần chạy hoặc người dùng khác vừa ghi vào hồ sơ này" in failed[0].reason
    assert len(register(app, scene.an)) == 1
    assert [item["title"] for item in register(app, scene.binh)] == ["Khác", "1"]  # after the other run's
    assert (filed.dossiers, filed.scans) == (1, 1)
