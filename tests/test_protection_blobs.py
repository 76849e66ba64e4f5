"""Attachments: kept encrypted in the database, checked by their bytes against the
allow-list, limited in size, and always downloaded as attachments with nosniff."""

from __future__ import annotations

import io
import uuid
import zipfile
from urllib.parse import unquote

import pytest
from sqlalchemy import inspect, select
from werkzeug.http import parse_options_header

from protection.blobs import (
    DOCX,
    JPEG,
    ODT,
    PDF,
    PNG,
    TIFF,
    Blob,
    BlobRefused,
    clean_filename,
    content_disposition,
    detect_content_type,
    download_response,
    store_blob,
    store_upload,
)
from protection.db import db
from protection.policy import permission

PDF_BYTES = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(64) + b"\xff\xd9"
PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00" + bytes(16)
TIFF_LE = b"II*\x00\x08\x00\x00\x00" + bytes(32)
TIFF_BE = b"MM\x00*\x00\x00\x00\x08" + bytes(32)
HTML = b"<!DOCTYPE html><html><body><script>fetch('/admin')</script></body></html>"
DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
DOCM_MAIN = "application/vnd.ms-word.document.macroEnabled.main+xml"


def office_zip(members: dict[str, str], *, first_stored: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for number, (name, content) in enumerate(members.items()):
            stored = number == 0 and first_stored
            archive.writestr(zipfile.ZipInfo(name), content,
                             compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def docx(main_type: str = DOCX_MAIN) -> bytes:
    return office_zip({
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
            'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/word/document.xml" ContentType="{main_type}"/></Types>'),
        "_rels/.rels": "<Relationships/>",
        "word/document.xml": "<w:document/>",
    })


def odt(*, stored_mimetype: bool = True, mimetype: str = ODT) -> bytes:
    return office_zip({"mimetype": mimetype, "content.xml": "<office:document-content/>"},
                      first_stored=stored_mimetype)


@pytest.mark.parametrize(("data", "expected"), [
    (PDF_BYTES, PDF), (JPEG_BYTES, JPEG), (PNG_BYTES, PNG), (TIFF_LE, TIFF), (TIFF_BE, TIFF),
    (docx(), DOCX), (odt(), ODT),
])
def test_allowed_types_are_recognised_by_their_bytes(app, data, expected):
    assert detect_content_type(data) == expected
    with app.app_context():
        blob = store_blob(data, "tệp tải lên.bin")
        db.session.commit()
        blob_id = blob.id
    with app.app_context():
        stored = db.session.get(Blob, blob_id)
        assert (stored.content_type, stored.size, stored.content) == (expected, len(data), data)
        db.session.commit()


@pytest.mark.parametrize(("data", "name"), [
    (HTML, "bao-cao.pdf"),
    (b"  " + PDF_BYTES, "leading-space.pdf"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script/></svg>', "anh.png"),
    (b"MZ\x90\x00" + bytes(64), "tai-lieu.docx"),
    (docx(DOCM_MAIN), "macro.docx"),
    (odt(stored_mimetype=False), "compressed-mimetype.odt"),
    (odt(mimetype="application/vnd.oasis.opendocument.spreadsheet"), "bang-tinh.odt"),
    (office_zip({"readme.txt": "hello"}), "archive.docx"),
    (b"PK\x03\x04 not really a zip", "broken.docx"),
    (b"GIF89a" + bytes(16), "anh.gif"),
])
def test_anything_else_is_refused_whatever_its_name(app, data, name):
    assert detect_content_type(data) is None
    with app.app_context():
        with pytest.raises(BlobRefused) as caught:
            store_blob(data, name)
        assert "PDF, JPEG, PNG, TIFF, DOCX" in caught.value.message
        assert name not in caught.value.message
        assert not db.session.new
        db.session.rollback()


def test_an_empty_file_is_refused(app):
    with app.app_context(), pytest.raises(BlobRefused, match="rỗng"):
        store_blob(b"", "empty.pdf")


@pytest.fixture
def one_megabyte_limit(app_config):
    app_config["HOSO_MAX_UPLOAD_MB"] = 1
    return app_config


def test_a_file_over_the_limit_is_refused_with_the_limit_named(one_megabyte_limit, app):
    assert app.config["HOSO_MAX_UPLOAD_MB"] == 1
    exactly = PDF_BYTES + bytes(1024 * 1024 - len(PDF_BYTES))
    with app.app_context():
        assert store_blob(exactly, "vua-du.pdf").size == 1024 * 1024
        for attempt in (lambda: store_blob(exactly + b"x", "qua-lon.pdf"),
                        lambda: store_upload(io.BytesIO(exactly + bytes(5 * 1024 * 1024)), "qua-lon.pdf")):
            with pytest.raises(BlobRefused) as caught:
                attempt()
            assert "1 MB" in caught.value.message
        db.session.rollback()


def test_the_default_limit_is_25_megabytes(app):
    assert app.config["HOSO_MAX_UPLOAD_MB"] == 25


def test_an_upload_stream_is_read_and_stored(app):
    with app.app_context():
        blob = store_upload(io.BytesIO(PDF_BYTES), "luong-tai-len.pdf")
        assert blob.content == PDF_BYTES and blob.content_type == PDF
        db.session.rollback()


@pytest.mark.parametrize(("given", "kept"), [
    ("../../etc/passwd.pdf", "passwd.pdf"),
    ("C:\\Users\\canbo\\Desktop\\Biên bản.pdf", "Biên bản.pdf"),
    ("bad\x00name\r\n.pdf", "badname.pdf"),
    ("...", "tep-dinh-kem"),
    ("", "tep-dinh-kem"),
    (None, "tep-dinh-kem"),
    ("a" * 300 + ".pdf", "a" * 200),
])
def test_uploaded_names_are_never_paths(given, kept):
    assert clean_filename(given) == kept


def test_a_stored_name_is_sealed_and_listing_does_not_open_the_content(app):
    with app.app_context():
        blob_id = store_blob(PDF_BYTES, "Kết luận thẩm tra.pdf").id
        db.session.commit()
    with app.app_context():
        raw = db.session.execute(select(Blob.__table__.c.filename).where(Blob.__table__.c.id == blob_id)).scalar()
        assert "Kết luận".encode() not in raw
        listed = db.session.scalars(select(Blob)).all()
        assert [item.filename for item in listed] == ["Kết luận thẩm tra.pdf"]
        assert "content" in inspect(listed[0]).unloaded
        db.session.commit()


def test_content_disposition_is_always_an_attachment_with_the_detected_extension():
    header = content_disposition('Biên bản họp "mật"; rm -rf\r\n.html', PDF)
    assert header.startswith("attachment; ")
    assert "\r" not in header and "\n" not in header
    assert 'filename="Bien_ban_hop_mat_rm_-rf.html.pdf"; ' in header  # the ASCII fallback
    value, options = parse_options_header(header)  # a client that reads filename* (RFC 8187)
    assert value == "attachment"
    assert options["filename"] == 'Biên bản họp "mật"; rm -rf.html.pdf'
    assert unquote(header.split("filename*=UTF-8''")[1]) == options["filename"]
    assert content_disposition("Ảnh chụp.JPG", JPEG).endswith("filename*=UTF-8''%E1%BA%A2nh%20ch%E1%BB%A5p.JPG")
    assert 'filename="Anh_chup.jpeg"' in content_disposition("Ảnh chụp.jpeg", JPEG)
    assert 'filename="scan.tif.pdf"' in content_disposition("scan.tif", PDF)


@pytest.fixture
def download_route(app):
    """A download view like the one cases/ will have, registered before the first request."""
    @permission("home.view")
    def download(blob_id: uuid.UUID):
        return download_response(db.get_or_404(Blob, blob_id))

    app.add_url_rule("/test/blobs/<uuid:blob_id>", "test_blob_download", download)
    return "/test/blobs/{}"


def test_a_download_is_an_attachment_with_nosniff_and_no_caching(app, download_route, client, login_as):
    with app.app_context():
        blob_id = store_blob(PDF_BYTES, "Đơn thư số 12.pdf").id
        db.session.commit()
    login_as("officer")
    response = client.get(download_route.format(blob_id))
    assert response.status_code == 200
    assert response.data == PDF_BYTES
    assert response.mimetype == PDF
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("attachment; ")
    assert "filename*=UTF-8''%C4%90%C6%A1n%20th%C6%B0%20s%E1%BB%91%2012.pdf" in response.headers["Content-Disposition"]
    assert response.headers["Content-Length"] == str(len(PDF_BYTES))
    assert "no-store" in response.headers["Cache-Control"]
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_downloads_need_a_signed_in_user(app, download_route, client):
    with app.app_context():
        blob_id = store_blob(PDF_BYTES, "x.pdf").id
        db.session.commit()
    response = client.get(download_route.format(blob_id))
    assert response.status_code in (302, 303)
    assert PDF_BYTES not in response.data
