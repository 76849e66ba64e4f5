"""Filing a scan with its document: the content checks, the page count, the duplicate check.

A scan is accepted by its bytes, never its name: PDF, TIFF, JPEG or PNG (the attachment
checks of protection/blobs.py, without the office formats), and it must open: a PDF that
PDFium cannot read, an image Pillow cannot decode, or one whose pixel count could exhaust
memory when rendered (a decompression bomb) is refused with a message for the user, and
nothing is added to the session.

The same bytes filed twice anywhere in the archive are refused: `content_mac` is a keyed
HMAC under the index key (protection/crypto.py content_mac), unique in the table.
"""

from __future__ import annotations

import io
import uuid

import pypdfium2
from flask_babel import gettext as _
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select

from audit.trail import record
from cases.archive import rendering
from cases.archive.models import ArchiveDocument, ArchiveScan
from protection.blobs import (
    JPEG,
    PDF,
    PNG,
    TIFF,
    BlobRefused,
    detect_content_type,
    max_upload_bytes,
    store_blob,
)
from protection.crypto import current_keyring
from protection.db import db
from protection.identity import User

SCAN_TYPES = frozenset({PDF, TIFF, JPEG, PNG})
CONTENT_MAC_INDEX = "archive_scans.content_mac"
# A page rendered at the reader's resolution stays well under this; a scan that declares
# more pixels than this is refused before it is decoded (Pillow's own guard is 89 Mpx).
MAX_PAGE_PIXELS = 80_000_000
MAX_PAGES = 2_000


class ScanRefused(BlobRefused):
    """A scan Hoso will not file; the message is for the user and never quotes the file."""


def scan_type(data: bytes) -> str:
    if not data:
        raise ScanRefused(_("Tệp rỗng."))
    if len(data) > max_upload_bytes():
        raise ScanRefused(_("Tệp quá lớn: giới hạn là %(limit)d MB.", limit=max_upload_bytes() // (1024 * 1024)))
    content_type = detect_content_type(data)
    if content_type not in SCAN_TYPES:
        raise ScanRefused(_("Bản quét phải là tệp PDF, TIFF, JPEG hoặc PNG (kiểm tra theo nội dung tệp, không theo tên)."))
    return content_type


def count_pages(data: bytes, content_type: str) -> int:
    """The number of pages, after checking the file opens; ScanRefused if it does not."""
    unreadable = ScanRefused(_("Không đọc được bản quét: tệp hỏng hoặc không đúng định dạng."))
    if content_type == PDF:
        try:
            document = pypdfium2.PdfDocument(data)
        except pypdfium2.PdfiumError:
            raise unreadable from None
        try:
            pages = len(document)
            if pages <= MAX_PAGES:
                for index in range(pages):
                    # A page whose embedded images would exhaust memory when drawn: refused
                    # here, not only when someone opens it in the reader.
                    rendering.check_pdf_images(document[index])
        except rendering.PageTooLarge:
            raise ScanRefused(_("Trang quét quá lớn để hiển thị.")) from None
        finally:
            document.close()
    else:
        try:
            with Image.open(io.BytesIO(data)) as image:
                pages = getattr(image, "n_frames", 1)
                for index in range(pages):
                    image.seek(index)
                    if image.width * image.height > MAX_PAGE_PIXELS:
                        raise ScanRefused(_("Trang quét quá lớn để hiển thị."))
                image.seek(0)
                image.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
            raise unreadable from None
    if pages < 1:
        raise unreadable
    if pages > MAX_PAGES:
        raise ScanRefused(_("Bản quét có quá nhiều trang (tối đa %(limit)d).", limit=MAX_PAGES))
    return pages


def scan_mac(data: bytes) -> str:
    return current_keyring().content_mac(CONTENT_MAC_INDEX, data)


def duplicate_of(mac: str) -> ArchiveScan | None:
    return db.session.scalars(select(ArchiveScan).where(ArchiveScan.content_mac == mac)).first()


def check_scan(data: bytes) -> tuple[str, int, str]:
    """(content type, page count, content MAC) of an acceptable scan; ScanRefused otherwise,
    including when the same bytes are already filed."""
    content_type = scan_type(data)
    pages = count_pages(data, content_type)
    mac = scan_mac(data)
    if duplicate_of(mac) is not None:
        raise ScanRefused(_("Bản quét này đã có trong kho lưu trữ (trùng nội dung)."))
    return content_type, pages, mac


def add_scan(document: ArchiveDocument, data: bytes, filename: str | None, *, by: User | None,
             checked: tuple[str, int, str] | None = None) -> ArchiveScan:
    """File `data` as a scan of `document`, sealed under the dossier's key; audited; flushed.
    `checked`: what check_scan already returned for these bytes (bulk import checks first)."""
    _content_type, pages, mac = checked or check_scan(data)
    blob = store_blob(data, filename, owner=document.subject)
    scan = ArchiveScan(id=uuid.uuid4(), document=document, subject=document.subject, blob=blob,
                       page_count=pages, content_mac=mac, created_by_id=by.id if by else None)
    db.session.add(scan)
    if document.page_count is None:
        document.page_count = pages
    record("archive.scan.add", target_type="subject", target_id=document.subject_id,
           document=str(document.id), scan=str(scan.id), pages=pages)
    db.session.flush()
    return scan
