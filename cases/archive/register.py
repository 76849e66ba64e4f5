"""The document register of a person's dossier (mục lục văn bản): operations that check,
change, audit and flush. None commits: the request (or CLI command) is the unit of work.

Bulk digitisation (`flask --app app archive import`) creates its documents through
`add_document(subject, DocumentData(...), by=...)`, at `next_position(subject.id)`, exactly as
the register's form does, so both check the same rules.

Audit details carry ids, positions, types, levels, page counts and the names of changed
fields — never a number, date, issuer, title or place, which are sealed.

Removing a document is refused while it has a scan. A filed scan is the digitised record
of a paper document; destroying it is destroying archival evidence, which the dossier's
retention does (its key is shredded with the dossier), not an editor's click. A register
row typed by mistake, before any scan, can be removed; a wrong row with a scan is corrected
by editing it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, fields
from datetime import date
from typing import IO, Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from audit.trail import record
from cases.archive.models import ArchiveDocument, ArchiveScan
from cases.archive.register_pdf import build_register_pdf, printable_register
from cases.archive.scans import ScanRefused, add_scan
from cases.archive.vocabulary import DOCUMENT_TYPES
from cases.casework.operations import today
from cases.models import Subject
from cases.subjects.operations import SubjectError, load_subject
from protection import policy
from protection.blobs import max_upload_bytes
from protection.db import db
from protection.identity import Clearance, User

log = logging.getLogger(__name__)

MAX_NUMBER = 100
MAX_ISSUER = 300
MAX_TITLE = 2000
MAX_LOCATION = 300
MAX_PAGES = 100_000


class RegisterRefused(SubjectError):
    """A register change Hoso will not make: a message for the user and the field it
    belongs beside (a SubjectError, so cases/actions.py shows it beside that field)."""


@dataclass
class DocumentData:
    """The register's fields of one document, as typed (or read from a manifest)."""

    doc_type: str
    title: str
    number: str | None = None  # số, ký hiệu
    issued_on: date | None = None
    issuer: str | None = None  # cơ quan ban hành
    page_count: int | None = None
    classification: Clearance | str = Clearance.UNCLASSIFIED
    paper_original: bool = True
    paper_location: str | None = None  # nơi lưu bản gốc giấy

    def cleaned(self) -> dict[str, Any]:
        values = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, str):
                value = " ".join(value.split()) if item.name != "title" else value.strip()
                value = value or None
            values[item.name] = value
        return values


DOCUMENT_FIELDS = tuple(item.name for item in fields(DocumentData))


def _validated(data: DocumentData, by: User | None) -> dict[str, Any]:
    values = data.cleaned()
    if values["doc_type"] not in DOCUMENT_TYPES:
        raise RegisterRefused(_("Hãy chọn loại văn bản."), "doc_type")
    if not values["title"]:
        raise RegisterRefused(_("Hãy nhập trích yếu nội dung văn bản."), "title")
    for name, limit in (("number", MAX_NUMBER), ("issuer", MAX_ISSUER), ("title", MAX_TITLE),
                        ("paper_location", MAX_LOCATION)):
        if values[name] is not None and len(values[name]) > limit:
            raise RegisterRefused(_("Tối đa %(max)d ký tự.", max=limit), name)
    if values["issued_on"] is not None and values["issued_on"] > today():
        raise RegisterRefused(_("Ngày ban hành không được sau ngày hôm nay."), "issued_on")
    pages = values["page_count"]
    if pages is not None and (isinstance(pages, bool) or not isinstance(pages, int) or not 1 <= pages <= MAX_PAGES):
        raise RegisterRefused(_("Số trang phải là số nguyên dương."), "page_count")
    try:
        values["classification"] = Clearance(values["classification"] or Clearance.UNCLASSIFIED)
    except ValueError:
        raise RegisterRefused(_("Độ mật không hợp lệ."), "classification") from None
    if by is not None and not policy.cleared_for(by, values["classification"]):
        raise RegisterRefused(_("Bạn không được ghi văn bản có độ mật cao hơn mức bạn được tiếp cận."),
                              "classification")
    values["paper_original"] = bool(values["paper_original"])
    if not values["paper_original"]:
        values["paper_location"] = None  # no paper, nowhere to keep it
    return values


# --- reading --------------------------------------------------------------------------------------

def next_position(subject_id: uuid.UUID) -> int:
    """The place a new document takes at the end of the dossier's register (1 for the first)."""
    last = db.session.scalar(select(func.max(ArchiveDocument.position))
                             .where(ArchiveDocument.subject_id == subject_id))
    return (last or 0) + 1


def documents_of(subject: Subject) -> list[ArchiveDocument]:
    """The dossier's register in order, scans with their documents."""
    return list(db.session.scalars(select(ArchiveDocument).where(ArchiveDocument.subject_id == subject.id)
                                   .options(selectinload(ArchiveDocument.scans))
                                   .order_by(ArchiveDocument.position)))


def document_count(subject_id: uuid.UUID) -> int:
    return db.session.scalar(select(func.count()).select_from(ArchiveDocument)
                             .where(ArchiveDocument.subject_id == subject_id)) or 0


def readable(user: User, document: ArchiveDocument) -> bool:
    """A document classified above the reader's clearance is listed without its content."""
    return policy.cleared_for(user, document.classification)


def load_document(subject: Subject, document_id: uuid.UUID, user: User, need: str) -> ArchiveDocument:
    """A document of this (already authorised) dossier: 404 when it is not one of its
    documents, 403 when it is classified above the user."""
    document = db.session.get(ArchiveDocument, document_id)
    if document is None or document.subject_id != subject.id:
        policy.deny(need, status=404)
    if not readable(user, document):
        policy.deny(need)
    return document


def load_scan_by_id(scan_id: uuid.UUID, user: User, need: str = "subject.view") -> ArchiveScan:
    """A scan, for whoever may read its dossier (scope, recusal: load_subject) and is cleared
    for its document: 404 for an unknown scan or a dossier they may not know, 403 above their
    clearance."""
    scan = db.session.get(ArchiveScan, scan_id)
    if scan is None:
        policy.deny(need, status=404)
    load_subject(scan.subject_id, need)
    if not readable(user, scan.document):
        policy.deny(need)
    return scan


def record_document_view(document: ArchiveDocument, *, by: User) -> None:
    record("archive.document.view", target_type="subject", target_id=document.subject_id, actor=by,
           document=str(document.id))


def record_register_view(subject: Subject, documents: list[ArchiveDocument], user: User) -> None:
    withheld = sum(1 for document in documents if not readable(user, document))
    record("archive.register.view", target_type="subject", target_id=subject.id, actor=user, documents=len(documents),
           withheld=withheld)


# --- changes -------------------------------------------------------------------------------------

def _lock_register(subject_id: uuid.UUID) -> None:
    """One change to a dossier's register at a time: two editors (or an editor and a bulk
    import) adding at once would both take the same next position. The dossier's row is the
    lock on PostgreSQL; SQLite serialises writers already (BEGIN IMMEDIATE)."""
    db.session.execute(select(Subject.id).where(Subject.id == subject_id).with_for_update())


def add_document(subject: Subject, data: DocumentData, *, by: User | None,
                 position: int | None = None) -> ArchiveDocument:
    """A new document at the end of the dossier's register (or at `position`, which must be
    free: bulk import passes next_position's answer); RegisterRefused names the field to
    correct. Audited; flushed."""
    values = _validated(data, by)
    _lock_register(subject.id)
    document = ArchiveDocument(id=uuid.uuid4(), subject=subject, position=position or next_position(subject.id),
                               created_by_id=by.id if by else None, **values)
    db.session.add(document)
    db.session.flush()
    record("archive.document.add", target_type="subject", target_id=subject.id, actor=by,
           document=str(document.id), position=document.position, doc_type=document.doc_type,
           classification=document.classification.value, pages=document.page_count,
           fields=[name for name in DOCUMENT_FIELDS if name != "paper_original" and values.get(name) is not None])
    return document


def update_document(document: ArchiveDocument, data: DocumentData, *, by: User) -> list[str]:
    """The fields that changed (their names are audited, not their values)."""
    if not readable(by, document):
        raise RegisterRefused(_("Bạn không được sửa văn bản có độ mật cao hơn mức bạn được tiếp cận."),
                              "classification")
    values = _validated(data, by)
    changed = [name for name in DOCUMENT_FIELDS if getattr(document, name) != values[name]]
    for name in changed:
        setattr(document, name, values[name])
    if changed:
        db.session.flush()
        detail = {"classification": document.classification.value} if "classification" in changed else {}
        record("archive.document.update", target_type="subject", target_id=document.subject_id, actor=by,
               document=str(document.id), fields=changed, **detail)
    return changed


def _place(document: ArchiveDocument, position: int) -> None:
    document.position = position
    db.session.flush()


def move_document(document: ArchiveDocument, direction: str, *, by: User) -> bool:
    """Swap the document with its neighbour above ("up") or below ("down"); False when it is
    already first or last. Three flushes: positions are unique within a dossier, and the
    database checks that row by row."""
    if direction not in ("up", "down"):
        raise RegisterRefused(_("Hướng di chuyển không hợp lệ."), None)
    step = -1 if direction == "up" else 1
    _lock_register(document.subject_id)
    db.session.refresh(document)  # its place as it is now, after any change that held the lock
    neighbour = db.session.scalars(select(ArchiveDocument).where(
        ArchiveDocument.subject_id == document.subject_id,
        ArchiveDocument.position == document.position + step)).first()
    if neighbour is None:
        return False
    here, there = document.position, neighbour.position
    _place(document, 0)  # positions start at 1: 0 is free
    _place(neighbour, here)
    _place(document, there)
    record("archive.document.move", target_type="subject", target_id=document.subject_id, actor=by,
           document=str(document.id), from_position=here, to_position=there)
    return True


def remove_document(document: ArchiveDocument, *, by: User) -> None:
    """Remove a register row that has no scan (see the module docstring); the rows below
    move up one place, so the register stays numbered 1, 2, 3, ..."""
    if not readable(by, document):
        raise RegisterRefused(_("Bạn không được xóa văn bản có độ mật cao hơn mức bạn được tiếp cận."), None)
    _lock_register(document.subject_id)
    db.session.refresh(document)  # as it is now: a scan filed meanwhile counts
    if document.scans:
        raise RegisterRefused(_("Không xóa được văn bản đã có bản quét: bản quét là tài liệu lưu trữ, "
                                "chỉ bị hủy cùng hồ sơ. Hãy sửa thông tin văn bản nếu ghi nhầm."), None)
    subject_id, position, document_id = document.subject_id, document.position, document.id
    db.session.delete(document)
    db.session.flush()
    below = db.session.scalars(select(ArchiveDocument).where(
        ArchiveDocument.subject_id == subject_id, ArchiveDocument.position > position)
        .order_by(ArchiveDocument.position)).all()
    for item in below:  # one at a time, top down: each moves into the place just freed
        _place(item, item.position - 1)
    record("archive.document.remove", target_type="subject", target_id=subject_id, actor=by,
           document=str(document_id), position=position, renumbered=len(below))


def attach_scan(document: ArchiveDocument, stream: IO[bytes], filename: str | None, *, by: User) -> ArchiveScan:
    """File an uploaded scan with its document (cases/archive/scans.py checks it and audits
    `archive.scan.add`); a refusal goes beside the file field, and nothing is filed."""
    if not readable(by, document):
        raise RegisterRefused(_("Bạn không được thêm bản quét vào văn bản có độ mật cao hơn mức bạn được tiếp cận."),
                              "file")
    limit = max_upload_bytes()
    data = stream.read(limit + 1)
    _lock_register(document.subject_id)  # not removed while its scan is filed
    try:
        return add_scan(document, data, filename, by=by)
    except ScanRefused as refused:
        raise RegisterRefused(refused.message, "file") from None


def record_scan_download(scan: ArchiveScan, *, by: User) -> None:
    record("archive.scan.download", target_type="subject", target_id=scan.subject_id, actor=by,
           document=str(scan.document_id), scan=str(scan.id))


# --- printing ---------------------------------------------------------------------------------------

class RegisterPrintFailed(RuntimeError):
    """The PDF could not be built; the message never quotes the content."""


def print_register(subject: Subject, *, by: User) -> bytes:
    """The dossier's register as a PDF (cases/archive/register_pdf.py); audited with the rows
    printed, withheld and the marking's level."""
    documents = documents_of(subject)
    printable = printable_register(subject, documents, by, today())
    try:
        pdf = build_register_pdf(printable)
    except Exception as error:
        # The type only: a message or a traceback could quote the content.
        log.error("printing an archive register failed: %s", type(error).__name__)
        raise RegisterPrintFailed() from None
    record("archive.register.print", target_type="subject", target_id=subject.id, actor=by,
           documents=len(documents), withheld=sum(1 for row in printable.rows if row.withheld),
           marking=_marking_level(documents, by))
    return pdf


def _marking_level(documents: list[ArchiveDocument], user: User) -> str:
    levels = [Clearance(document.classification) for document in documents if readable(user, document)]
    return max(levels, key=lambda level: level.rank, default=Clearance.UNCLASSIFIED).value


def print_file_name(subject: Subject) -> str:
    """Names no one: the dossier's id."""
    return f"muc-luc-van-ban-{subject.id.hex[:8]}.pdf"
