"""Attachments, encrypted and kept in the database.

In the database (not on disk) so a backup, a restore and several app servers always agree
on which files exist (DESIGN.md §5). Each blob is one sealed value, bound like every other
protected value to its table, column and row, under its owner's data key: a case's
attachments are shredded with the case.

What is stored in the clear: the size (needed for limits and quotas) and the content type
detected from the bytes (one of six values). No hash of the content is stored: a plaintext
digest would tell anyone with the database which blobs are the same file, or confirm a
guessed document; AES-GCM already authenticates the content.

Uploads are checked by their bytes, never by their name or the browser's Content-Type:
PDF, JPEG, PNG, TIFF, DOCX and ODT only (an HTML page renamed .pdf is refused). The name
the user gave is kept encrypted and is only ever used for the download's
Content-Disposition, never as a path. Downloads are always attachments with
``nosniff``, so a browser never renders one in Hoso's origin.
"""

from __future__ import annotations

import io
import re
import unicodedata
import uuid
import zipfile
from datetime import datetime
from typing import IO
from urllib.parse import quote

from flask import Response, current_app
from flask_babel import gettext as _
from sqlalchemy import Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from .clock import UTCDateTime, utcnow
from .db import Base, db
from .fields import EncryptedBytes, EncryptedText
from .sealing import Protected

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
TIFF = "image/tiff"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"

# The first is added to a download's name that does not already end in one of them.
EXTENSIONS = {PDF: (".pdf",), JPEG: (".jpg", ".jpeg"), PNG: (".png",), TIFF: (".tif", ".tiff"),
              DOCX: (".docx",), ODT: (".odt",)}

# ECMA-376 Part 2 (Open Packaging Conventions) §10.1.2: [Content_Types].xml declares the
# main part's type; a macro-enabled .docm declares another one and is refused.
_DOCX_MAIN = b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_MEMBER_READ_LIMIT = 1024 * 1024  # the small members we inspect; bounds a zip bomb
MAX_NAME_LENGTH = 200
DEFAULT_NAME = "tep-dinh-kem"


class BlobRefused(ValueError):
    """An upload Hoso will not keep; the message is for the user (it never quotes the file)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Blob(Protected, Base):
    __tablename__ = "blobs"
    # store_blob sets `key_owner` (not a column) to seal the blob under its owner's key.
    __key_owner__ = "key_owner"
    key_owner = None

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(EncryptedText)
    # Deferred: listing attachments never loads (or decrypts) their content.
    content: Mapped[bytes] = mapped_column(EncryptedBytes, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- content checks -----------------------------------------------------------------------

def detect_content_type(data: bytes) -> str | None:
    """The allowed type these bytes are, by their signature; None for anything else."""
    if data.startswith(b"%PDF-"):  # ISO 32000-1 §7.5.2, file header
        return PDF
    if data.startswith(b"\xff\xd8\xff"):  # JPEG SOI marker then the first segment's marker
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):  # PNG spec §5.2
        return PNG
    if data[:4] in (b"II*\x00", b"MM\x00*"):  # TIFF 6.0 §2, little/big-endian header
        return TIFF
    if data.startswith(b"PK\x03\x04"):
        return _office_document_type(data)
    return None


def _office_document_type(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if not members:
                return None
            first = members[0]
            # OpenDocument 1.2 Part 3 §3.3: the first member is "mimetype", stored
            # uncompressed, holding the media type and nothing else.
            if first.filename == "mimetype":
                if first.compress_type != zipfile.ZIP_STORED or first.file_size > 100:
                    return None
                return ODT if archive.read(first) == ODT.encode() else None
            names = {member.filename for member in members}
            if "[Content_Types].xml" in names and "word/document.xml" in names:
                with archive.open("[Content_Types].xml") as handle:
                    declared = handle.read(_MEMBER_READ_LIMIT)
                return DOCX if _DOCX_MAIN in declared else None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError, ValueError):
        return None
    return None


def max_upload_bytes() -> int:
    return current_app.config["HOSO_MAX_UPLOAD_MB"] * 1024 * 1024


def _refuse_too_large() -> BlobRefused:
    limit = current_app.config["HOSO_MAX_UPLOAD_MB"]
    return BlobRefused(_("Tệp quá lớn: giới hạn là %(limit)d MB.", limit=limit))


def clean_filename(name: str | None) -> str:
    """The last path component, printable, NFC, at most 200 characters; kept only for display."""
    text = unicodedata.normalize("NFC", name or "")
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(char for char in text if unicodedata.category(char)[0] != "C").strip(" .")
    return text[:MAX_NAME_LENGTH] or DEFAULT_NAME


# --- storing and serving ------------------------------------------------------------------

def store_blob(data: bytes, filename: str | None, *, owner: Protected | None = None, session=None) -> Blob:
    """Check and add a blob to the session (the request's unit of work commits it).

    With `owner` (a case, a subject) the blob is sealed under the owner's data key.
    Raises BlobRefused with a message for the user.
    """
    if not data:
        raise BlobRefused(_("Tệp rỗng."))
    if len(data) > max_upload_bytes():
        raise _refuse_too_large()
    content_type = detect_content_type(data)
    if content_type is None:
        raise BlobRefused(_(
            "Chỉ nhận tệp PDF, JPEG, PNG, TIFF, DOCX hoặc ODT (kiểm tra theo nội dung tệp, không theo tên)."
        ))
    blob = Blob(id=uuid.uuid4(), filename=clean_filename(filename), size=len(data),
                content_type=content_type, content=bytes(data))
    blob.key_owner = owner
    (session or db.session).add(blob)
    return blob


def store_upload(stream: IO[bytes], filename: str | None, *, owner: Protected | None = None,
                 session=None) -> Blob:
    """store_blob for a file object (e.g. a Werkzeug FileStorage's stream), read at most
    one byte past the limit so an oversized upload is never held whole."""
    data = stream.read(max_upload_bytes() + 1)
    if len(data) > max_upload_bytes():
        raise _refuse_too_large()
    return store_blob(data, filename, owner=owner, session=session)


def _ascii_fallback(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name).translate(str.maketrans({"đ": "d", "Đ": "D"}))
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    plain = re.sub(r"[^A-Za-z0-9._-]+", "_", plain).strip("._")
    return plain or DEFAULT_NAME


def content_disposition(filename: str, content_type: str) -> str:
    """Always an attachment; the name's extension is the detected type's.

    RFC 6266 §4.3 with RFC 8187 (formerly 5987) ``filename*`` for the UTF-8 name, and a
    plain ASCII ``filename`` for old clients; quotes, backslashes and control characters
    cannot reach the header.
    """
    name = clean_filename(filename)
    extensions = EXTENSIONS.get(content_type, ("",))
    extension = next((ext for ext in extensions if ext and name.lower().endswith(ext)), None)
    if extension is None:
        stem, extension = name, extensions[0]
    else:
        stem, extension = name[: -len(extension)], name[-len(extension):]
    name = f"{stem}{extension}"
    ascii_name = f"{_ascii_fallback(stem)}{extension}"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def download_response(blob: Blob) -> Response:
    data = blob.content
    response = Response(data, mimetype=blob.content_type)
    response.headers["Content-Disposition"] = content_disposition(blob.filename, blob.content_type)
    response.headers["Content-Length"] = str(len(data))
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    # Were a browser to render it anyway: no script, no plugins, an opaque origin.
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
