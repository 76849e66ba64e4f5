"""Reading a scan (issue 24 B.3) and recognising its text (B.4): load and authorise, render a
page with the reader's watermark, record every read, store recognised text.

Who reads a scan: whoever may read the dossier (subject.view, the owning unit in scope, not
recused) and is cleared for the document's classification (policy.can_read_scan). A scan
the user may not know of is a 404 (another unit's, their own dossier, above their clearance),
recorded as a denial like every refusal. The original file's download is another action
(the register's `archive.download_scan`).

Every read is recorded before it is answered: the request boundary commits the entry as the
response leaves the view, and a failed commit turns the answer into an error page (app.py
commit_unit_of_work), so no page image leaves without its entry ("No entry, no answer").
Audit details carry ids, page numbers and counts, never a word of the scan."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import undefer

from audit.trail import record
from cases.archive import ocr, rendering
from cases.archive.models import ArchiveScan
from cases.subjects import operations as subjects
from cases.subjects.operations import SubjectError
from protection import policy
from protection.clock import utcnow
from protection.db import db
from protection.i18n import local_zone
from protection.identity import Clearance, User

# The button recognises a scan within the request (gunicorn's timeout is 60 s): a scan of more
# pages is for `flask --app app archive recognise --scan ID`, and each page has this long.
WEB_MAX_PAGES = 4
WEB_PAGE_TIMEOUT_SECONDS = 12


class ScanNotRecognised(SubjectError):
    """Text recognition refused or failed; the message is for the user and quotes no text."""


# --- loading and authorising in one step ------------------------------------------------------

def load_scan(scan_id: uuid.UUID, need: str = "subject.view", *, with_texts: bool = False) -> ArchiveScan:
    """The scan, when the user may `need` its dossier and is cleared for its document: 404
    (recorded) when they may not know it exists, 403 when they may know it but not do `need`."""
    options = [undefer(ArchiveScan.page_texts)] if with_texts else []
    scan = db.session.get(ArchiveScan, scan_id, options=options)
    if scan is None:
        policy.deny(need, status=404)
    subject = subjects.load_subject(scan.subject_id, need)  # scope and recusal: 404; the role: 403
    if not policy.can_read_scan(current_user, subject, scan.document.classification, need):
        policy.deny(need, status=404)  # classified above the reader: as if it did not exist
    return scan


def page_in_range(scan: ArchiveScan, page: int) -> int:
    if not 1 <= page <= scan.page_count:
        policy.deny("subject.view", status=404)
    return page


# --- reading ------------------------------------------------------------------------------------

def watermark_lines(user: User, classification: Clearance, now: datetime | None = None) -> list[str]:
    """Who reads and when (Vietnam time), and the document's marking when it is classified."""
    moment = (now or utcnow()).astimezone(local_zone())
    lines = [f"{user.display_name} · {user.username}", moment.strftime("%d/%m/%Y %H:%M:%S (GMT+7)")]
    if Clearance(classification) != Clearance.UNCLASSIFIED:
        lines.append(Clearance(classification).label.upper())
    return lines


def render_page(scan: ArchiveScan, page: int, *, by: User) -> rendering.RenderedPage:
    """Page `page` with `by`'s watermark, its view recorded. Rendering's errors pass through
    (nothing is recorded: nothing was shown)."""
    rendered = rendering.watermarked_page(scan.blob.content, scan.blob.content_type, page,
                                          watermark_lines(by, scan.document.classification))
    record("archive.scan.page_view", target_type="subject", target_id=scan.subject_id, actor=by,
           document=scan.document_id, scan=scan.id, page=page)
    return rendered


@dataclass(frozen=True)
class ReaderPage:
    scan: ArchiveScan
    page: int
    text: str | None  # the page's recognised text, None when none was recognised

    @property
    def pages(self) -> range:
        return range(1, self.scan.page_count + 1)


def open_reader(scan: ArchiveScan, page: int, *, by: User) -> ReaderPage:
    """The reader page's content: which page, and its recognised text; the read recorded
    (the page's image is recorded by its own request)."""
    texts = scan.page_texts or []
    text = texts[page - 1] if page <= len(texts) else None
    record("archive.scan.view", target_type="subject", target_id=scan.subject_id, actor=by,
           document=scan.document_id, scan=scan.id, page=page, text_shown=text is not None)
    return ReaderPage(scan, page, text)


# --- text recognition -------------------------------------------------------------------------

def recognise(scan: ArchiveScan, *, by: User | None, page_timeout: float = ocr.PAGE_TIMEOUT_SECONDS,
              max_pages: int | None = None, progress=None) -> ocr.Recognised:
    """Recognise every page of `scan` and store the texts sealed with it; audited; flushed.
    ScanNotRecognised (nothing stored) when recognition is off, not installed, the scan too
    long for this caller, or tesseract fails on a page."""
    if not ocr.enabled():
        raise ScanNotRecognised(_("Chức năng nhận dạng chữ chưa được bật trên máy chủ này."))
    if max_pages is not None and scan.page_count > max_pages:
        raise ScanNotRecognised(_("Bản quét có %(count)d trang, quá nhiều để nhận dạng ngay trên trang này. "
                                  "Quản trị viên có thể chạy lệnh nhận dạng trên máy chủ.", count=scan.page_count))
    try:
        result = ocr.recognise_pages(scan.blob.content, scan.blob.content_type, scan.page_count,
                                     timeout=page_timeout, progress=progress)
    except (ocr.RecognitionFailed, rendering.RenderingError):
        raise ScanNotRecognised(_("Không nhận dạng được chữ trong bản quét này.")) from None
    scan.page_texts = result.texts
    scan.recognised_at = utcnow()
    record("archive.scan.recognise", target_type="subject", target_id=scan.subject_id, actor=by,
           document=scan.document_id, scan=scan.id, pages=len(result.texts), characters=result.characters)
    db.session.flush()
    return result
