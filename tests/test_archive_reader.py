"""Reading a scan in the browser (issue 24 B.3) and recognising its text (B.4): each page a
watermarked PNG at the reader's size, every view audited with ids only, refused (404, audited)
outside the dossier's scope, to its own subject and above the document's classification; the
page's recognised text beside its image; recognition through the CLI and the reader's button,
with tesseract (skipped where it is not installed, except in CI) and without it."""

from __future__ import annotations

import io
import os
import uuid

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageStat
from sqlalchemy import text

from app import create_app
from audit.trail import detail_of
from cases.access.operations import citizen_index
from cases.archive import ocr, rendering
from cases.archive.models import ArchiveDocument, ArchiveScan
from cases.archive.scans import ScanRefused, add_scan, scan_mac
from cases.demo.scans import jpeg_scan, pdf_scan, tiff_scan
from protection.clock import utcnow
from protection.db import db
from protection.settings import ConfigurationError
from tests.conftest import audit_entries
from tests.factories import make_subject, user_row
from tests.pages import hidden, text_of

TITLE = "Quyết định kết nạp Đảng của đồng chí Lê Văn Mật"
ID_NUMBER = "038080012345"
OCR_WORDS = ("Quyết định kết nạp", "Ban Tổ chức Tỉnh ủy")


def _needs_tesseract() -> None:
    if ocr.available():
        return
    reason = "text recognition tests need Debian's tesseract-ocr and tesseract-ocr-vie"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true, so they must run", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def archive(app, make_unit, make_user):
    """A dossier of BTCTU with a confidential document scanned three ways (PDF of 3 pages, TIFF
    of 2, JPEG), filed by an officer of the unit; ids by name."""
    make_unit("BTCTU")
    owner = make_user("officer", display_name="Trần Thị Lưu Trữ")
    with app.app_context():
        by = user_row(owner)
        subject = make_subject(by, "Lê Văn Mật", id_number=ID_NUMBER)
        document = ArchiveDocument(subject=subject, position=1, doc_type="decision", title=TITLE,
                                   classification="confidential")
        db.session.add(document)
        scans = {name: add_scan(document, data, f"{name}.bin", by=by).id for name, data in (
            ("pdf", pdf_scan(101, pages=3)), ("tiff", tiff_scan(102, pages=2)), ("jpeg", jpeg_scan(103)))}
        db.session.commit()
        return {"subject": subject.id, "document": document.id, **scans}


def _scan_bytes(app, scan_id) -> tuple[bytes, str]:
    with app.app_context():
        scan = db.session.get(ArchiveScan, scan_id)
        data, content_type = scan.blob.content, scan.blob.content_type
        db.session.commit()
    return data, content_type


def _page_views(app) -> list[dict]:
    return [detail_of(entry) for entry in audit_entries(app, "archive.scan.page_view")]


# --- the page image -------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "page"), [("pdf", 2), ("tiff", 2), ("jpeg", 1)])
def test_a_page_is_a_watermarked_png_at_the_readers_size_and_each_view_is_audited(
        app, client, archive, login_as, name, page):
    reader = login_as("officer", display_name="Phạm Thị Người Đọc")
    response = client.get(f"/archive/scans/{archive[name]}/pages/{page}.png")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    shown = Image.open(io.BytesIO(response.get_data()))
    assert shown.format == "PNG"

    data, content_type = _scan_bytes(app, archive[name])
    bare = rendering.page_image(data, content_type, page)
    if name == "pdf":  # an A4 page rendered to the reader's width
        assert shown.width == rendering.READ_WIDTH and abs(shown.height - round(1200 * 842 / 595)) <= 2
    else:  # a 50 dpi scan is shown as scanned, never enlarged
        assert shown.size == (413, 585)
    assert shown.size == bare.size
    # The watermark changed the page, over part of it only, and it is this page, not another.
    difference = ImageChops.difference(shown.convert("L"), bare.convert("L"))
    changed = difference.point(lambda value: 255 if value > 8 else 0).histogram()[255]
    assert 0.01 < changed / (shown.width * shown.height) < 0.5
    if name == "tiff":
        first = rendering.page_image(data, content_type, 1).convert("L")
        other = ImageChops.difference(shown.convert("L"), first)
        assert ImageStat.Stat(other).sum[0] > ImageStat.Stat(difference).sum[0]

    views = audit_entries(app, "archive.scan.page_view")
    assert len(views) == 1
    entry = views[0]
    assert (entry.actor_id, entry.target_type, entry.target_id) == (reader.id, "subject", str(archive["subject"]))
    assert detail_of(entry) == {"document": str(archive["document"]), "scan": str(archive[name]), "page": page}
    client.get(f"/archive/scans/{archive[name]}/pages/{page}.png")
    assert len(_page_views(app)) == 2  # every view, not the first only


def test_the_watermark_names_the_reader_and_is_drawn_over_the_whole_page(app, archive):
    data, content_type = _scan_bytes(app, archive["pdf"])
    bare = rendering.page_image(data, content_type, 1)
    one = rendering.watermark(bare, ["Phạm Thị Người Đọc · doc.pt", "07/12/2026 09:30:00 (GMT+7)", "MẬT"])
    other = rendering.watermark(bare, ["Nguyễn Ưng Khác · khac.nu", "07/12/2026 09:30:00 (GMT+7)", "MẬT"])
    assert ImageChops.difference(one, other).getbbox() is not None  # another reader, another mark
    # Tiled: each quarter of the page carries some of it.
    difference = ImageChops.difference(one.convert("L"), bare.convert("L"))
    half_w, half_h = bare.width // 2, bare.height // 2
    for box in ((0, 0, half_w, half_h), (half_w, 0, bare.width, half_h), (0, half_h, half_w, bare.height),
                (half_w, half_h, bare.width, bare.height)):
        assert difference.crop(box).getbbox() is not None, box
    with pytest.raises(ValueError):
        rendering.watermark(bare, [])


def test_a_grey_page_is_shown_grey_and_a_red_seal_keeps_its_colour():
    assert rendering.page_image(pdf_scan(5), rendering.PDF, 1).mode == "L"  # PDFium draws RGB
    sealed = Image.new("RGB", (600, 800), (248, 248, 245))
    ImageDraw.Draw(sealed).ellipse((380, 560, 560, 740), outline=(200, 20, 20), width=10)
    buffer = io.BytesIO()
    sealed.save(buffer, "JPEG", quality=80)
    shown = rendering.page_image(buffer.getvalue(), "image/jpeg", 1)
    assert shown.mode == "RGB" and shown.getpixel((470, 565))[0] > 150 > shown.getpixel((470, 565))[1]
    marked = rendering.watermark(shown, ["Người Đọc · doc", "07/12/2026 09:30:00 (GMT+7)"])
    assert marked.mode == "RGB" and marked.size == shown.size


def test_pages_out_of_range_and_oversized_pages_are_refused(app, client, archive, login_as):
    login_as("officer")
    for path in (f"/archive/scans/{archive['pdf']}/pages/4.png", f"/archive/scans/{archive['pdf']}/pages/0.png",
                 f"/archive/scans/{archive['jpeg']}/pages/2.png", f"/archive/scans/{archive['pdf']}?page=4",
                 f"/archive/scans/{archive['pdf']}?page=x", f"/archive/scans/{uuid.uuid4()}",
                 f"/archive/scans/{uuid.uuid4()}/pages/1.png"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert TITLE not in text_of(response)
    assert _page_views(app) == []
    # A frame declaring more pixels than the renderer takes is refused before it is decoded;
    # so is a PDF page holding such an image: filing refuses it, and were one filed before that
    # check existed (filed here past it), the reader refuses to draw it.
    buffer = io.BytesIO()
    Image.new("1", (9000, 9000), 1).save(buffer, "PNG")
    with pytest.raises(rendering.PageTooLarge):
        rendering.page_image(buffer.getvalue(), "image/png", 1)
    buffer = io.BytesIO()
    Image.new("1", (9000, 9000), 1).save(buffer, "PDF", resolution=600)
    with app.app_context():
        document = db.session.get(ArchiveDocument, archive["document"])
        with pytest.raises(ScanRefused, match="quá lớn"):
            add_scan(document, buffer.getvalue(), "x.pdf", by=None)
        bomb = add_scan(document, buffer.getvalue(), "x.pdf", by=None,
                        checked=(rendering.PDF, 1, scan_mac(buffer.getvalue()))).id
        db.session.commit()
    response = client.get(f"/archive/scans/{bomb}/pages/1.png")
    assert response.status_code == 400 and "Trang quét quá lớn để hiển thị" in text_of(response)
    assert _page_views(app) == []  # nothing shown, nothing recorded as seen
    with pytest.raises(rendering.UnreadableScan):
        rendering.page_image(b"%PDF-1.7\nnot really\n%%EOF\n", rendering.PDF, 1)


# --- who may read ------------------------------------------------------------------------------

def test_outside_the_scope_to_the_subject_and_above_the_clearance_nothing_is_shown_and_the_refusal_is_audited(
        app, client, archive, make_unit, make_user, sign_in):
    make_unit("BTGTU", "Ban Tuyên giáo Tỉnh ủy", kind="propaganda")
    people = {
        "other_unit": (make_user("officer", unit="BTGTU"), 404),
        "above_clearance": (make_user("officer", clearance="unclassified"), 404),
        "recused": (make_user("officer"), 404),
        "liaison": (make_user("liaison"), 403),
        "auditor": (make_user("auditor", clearance="top_secret"), 403),
    }
    with app.app_context():
        user_row(people["recused"][0]).citizen_index = citizen_index(ID_NUMBER)
        db.session.commit()
    for who, (user, status) in people.items():
        visitor = app.test_client()
        assert sign_in(user, target=visitor).status_code == 302
        for path in (f"/archive/scans/{archive['pdf']}", f"/archive/scans/{archive['pdf']}/pages/1.png"):
            before = len(audit_entries(app, "access.denied"))
            response = visitor.get(path)
            assert response.status_code == status, (who, path)
            assert response.mimetype == "text/html" and TITLE not in text_of(response), (who, path)
            denials = audit_entries(app, "access.denied")[before:]
            assert [(entry.actor_id, detail_of(entry)["status"]) for entry in denials] == [(user.id, status)], who
    assert _page_views(app) == [] and audit_entries(app, "archive.scan.view") == []
    # Control: a supervisor of the unit reads it.
    reader = app.test_client()
    assert sign_in(make_user("supervisor"), target=reader).status_code == 302
    assert reader.get(f"/archive/scans/{archive['pdf']}/pages/1.png").status_code == 200


# --- the reader page ----------------------------------------------------------------------------

def test_the_reader_page_pages_through_the_scan_and_shows_a_pages_recognised_text(app, client, archive, login_as):
    reader = login_as("officer")
    page = client.get(f"/archive/scans/{archive['pdf']}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert TITLE in text_of(page)
    assert f'src="/archive/scans/{archive["pdf"]}/pages/1.png"' in body
    assert f'href="/archive/scans/{archive["pdf"]}?page=2"' in body and 'rel="prev"' not in body
    assert 'name="page"' in body and "<textarea" not in body  # the picker; no text recognised yet

    with app.app_context():
        scan = db.session.get(ArchiveScan, archive["pdf"])
        scan.page_texts = ["Chữ của trang một", "Biên bản họp chi bộ ngày 3 tháng 2", ""]
        scan.recognised_at = utcnow()
        db.session.commit()
    body = client.get(f"/archive/scans/{archive['pdf']}?page=2").get_data(as_text=True)
    assert "Biên bản họp chi bộ ngày 3 tháng 2" in body and "Chữ của trang một" not in body
    assert "readonly" in body.split("<textarea", 1)[1].split(">", 1)[0]
    assert f'src="/archive/scans/{archive["pdf"]}/pages/2.png"' in body and 'rel="prev"' in body
    assert "Không nhận dạng được chữ trên trang này" in client.get(
        f"/archive/scans/{archive['pdf']}?page=3").get_data(as_text=True)

    views = [(entry.actor_id, detail_of(entry)) for entry in audit_entries(app, "archive.scan.view")]
    common = {"document": str(archive["document"]), "scan": str(archive["pdf"])}
    assert views == [(reader.id, {**common, "page": 1, "text_shown": False}),
                     (reader.id, {**common, "page": 2, "text_shown": True}),
                     (reader.id, {**common, "page": 3, "text_shown": True})]
    assert _page_views(app) == []  # the image is its own request, audited when it is fetched


# --- text recognition ---------------------------------------------------------------------------

def _printed_page() -> bytes:
    """A page with large clear Vietnamese print, as a 150 dpi PDF scan."""
    page = Image.new("L", (1240, 700), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(rendering.font_path().with_name("Roboto-Regular.ttf")), 60)
    for line, words in enumerate(OCR_WORDS):
        draw.text((80, 120 + line * 160), words, fill=0, font=font)
    buffer = io.BytesIO()
    page.save(buffer, "PDF", resolution=150)
    return buffer.getvalue()


@pytest.fixture
def printed(app, archive):
    with app.app_context():
        document = db.session.get(ArchiveDocument, archive["document"])
        scan = add_scan(document, _printed_page(), "in.pdf", by=None)
        db.session.commit()
        return scan.id


def test_the_cli_recognises_scans_not_recognised_yet_and_keeps_the_text_sealed(app, runner, archive, printed):
    _needs_tesseract()
    result = runner.invoke(args=["archive", "recognise", "--limit", "1", "--scan", str(printed)])
    assert result.exit_code == 0, result.output
    assert "Recognised 1 scan(s): 1 page(s)" in result.output
    with app.app_context():
        scan = db.session.get(ArchiveScan, printed)
        assert scan.recognised_at is not None
        assert all(words in scan.page_texts[0] for words in OCR_WORDS), scan.page_texts
        raw = db.session.execute(text("SELECT page_texts FROM archive_scans WHERE id = :id"), {
            "id": printed if db.engine.dialect.name == "postgresql" else printed.hex}).scalar_one()
        assert raw is not None and "Tỉnh ủy".encode() not in bytes(raw if isinstance(raw, bytes) else raw.encode())
        db.session.commit()
    [entry] = audit_entries(app, "archive.scan.recognise")
    detail = detail_of(entry)
    assert set(detail) == {"document", "scan", "pages", "characters"}
    assert detail["pages"] == 1 and detail["characters"] > 20
    # Without --scan: the scans not recognised yet (here the three test scans), one at a time.
    again = runner.invoke(args=["archive", "recognise", "--limit", "1"])
    assert again.exit_code == 0, again.output
    assert "Recognised 1 scan(s)" in again.output and len(audit_entries(app, "archive.scan.recognise")) == 2


def test_the_readers_button_recognises_a_short_scan_once(app, client, archive, printed, login_as):
    _needs_tesseract()
    login_as("officer")
    page = client.get(f"/archive/scans/{printed}").get_data(as_text=True)
    assert f'action="/archive/scans/{printed}/recognise"' in page
    seen = hidden(page, "seen")
    form = {"csrf_token": hidden(page, "csrf_token"), "seen": seen}
    response = client.post(f"/archive/scans/{printed}/recognise", data=form)
    assert response.status_code == 302 and response.headers["Location"] == f"/archive/scans/{printed}"
    body = text_of(client.get(f"/archive/scans/{printed}"))
    assert "Đã nhận dạng chữ 1 trang" in body and OCR_WORDS[1] in body
    # The same form again (a double click, or a colleague at the same time): not run twice.
    again = client.post(f"/archive/scans/{printed}/recognise", data=form)
    assert again.status_code == 302 and "vừa được nhận dạng" in text_of(client.get(f"/archive/scans/{printed}"))
    assert len(audit_entries(app, "archive.scan.recognise")) == 1
    assert client.post(f"/archive/scans/{printed}/recognise",
                       data={"csrf_token": form["csrf_token"]}).status_code == 400  # not our form


@pytest.fixture
def ocr_off(app_config):
    app_config["HOSO_OCR"] = "off"


def test_with_recognition_off_the_cli_says_so_and_the_reader_offers_no_button(ocr_off, app, runner, client, archive,
                                                                             login_as):
    result = runner.invoke(args=["archive", "recognise"])
    assert result.exit_code != 0
    assert "HOSO_OCR=off" in result.output and len(result.output.strip().splitlines()) == 1
    login_as("officer")
    page = client.get(f"/archive/scans/{archive['jpeg']}").get_data(as_text=True)
    assert "/recognise" not in page
    response = client.post(f"/archive/scans/{archive['jpeg']}/recognise",
                           data={"csrf_token": hidden(page, "csrf_token"), "seen": "never"})
    assert response.status_code == 302
    assert "chưa được bật" in text_of(client.get(f"/archive/scans/{archive['jpeg']}"))
    assert audit_entries(app, "archive.scan.recognise") == []


def test_without_tesseract_the_cli_says_so_in_one_line(app, runner, archive, monkeypatch):
    monkeypatch.setattr(ocr, "_available", {"path": None})  # as on a machine without tesseract-ocr-vie
    result = runner.invoke(args=["archive", "recognise"])
    assert result.exit_code != 0
    assert "tesseract-ocr-vie" in result.output and len(result.output.strip().splitlines()) == 1


def test_a_bad_recognition_setting_stops_start_up(app_config):
    with pytest.raises(ConfigurationError, match="HOSO_OCR must be one of auto, off"):
        create_app({**app_config, "HOSO_OCR": "sometimes"})
