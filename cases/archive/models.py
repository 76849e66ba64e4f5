"""The register of a person's paper dossier (mục lục văn bản) and the scans of its documents.

Each document and each scan is sealed under the dossier's (the subject's) data key, like the
dossier's relatives: the archive lives and is destroyed with the dossier. What a document
says about the person (its number, date, issuer, title, where the paper is kept, and any
recognised text) is encrypted; its place in the register, type, page count, classification
and whether a paper original exists stay plain.

A scan carries `content_mac`: a keyed HMAC of its bytes under an index key (never a plain
digest, which would let anyone holding the database confirm a guessed document). It tells
only that two scans in this archive are the same file — the duplicate check of bulk
digitisation — and is unique, so two imports racing cannot both file the same scan."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cases.models import Subject
from protection.blobs import Blob
from protection.clock import UTCDateTime, utcnow
from protection.db import db, enum_column
from protection.fields import EncryptedDate, EncryptedJSON, EncryptedText
from protection.identity import Clearance, User
from protection.sealing import Protected


class ArchiveDocument(Protected, db.Model):
    """One document of a dossier's register, at `position` (1, 2, ...) in it. Types
    (`doc_type`): see cases/archive/vocabulary. `paper_original`: the original is on paper,
    kept where `paper_location` says."""

    __tablename__ = "archive_documents"
    __table_args__ = (UniqueConstraint("subject_id", "position", name="uq_archive_documents_position"),)
    __key_owner__ = "subject"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    doc_type: Mapped[str] = mapped_column(String(24))
    number: Mapped[str | None] = mapped_column(EncryptedText)  # số, ký hiệu văn bản
    issued_on: Mapped[date | None] = mapped_column(EncryptedDate)
    issuer: Mapped[str | None] = mapped_column(EncryptedText)
    title: Mapped[str] = mapped_column(EncryptedText)
    page_count: Mapped[int | None] = mapped_column(Integer)
    classification: Mapped[Clearance] = mapped_column(enum_column(Clearance), default=Clearance.UNCLASSIFIED)
    paper_original: Mapped[bool] = mapped_column(Boolean, default=True)
    paper_location: Mapped[str | None] = mapped_column(EncryptedText)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    protection_ends_on: Mapped[date | None] = mapped_column(Date, index=True)

    subject: Mapped[Subject] = relationship()
    created_by: Mapped[User | None] = relationship()
    scans: Mapped[list[ArchiveScan]] = relationship(
        back_populates="document", order_by="ArchiveScan.created_at", cascade="all, delete-orphan")


class ArchiveScan(Protected, db.Model):
    """A scan (PDF, TIFF, JPEG or PNG) of a document: the bytes in a blob sealed under the
    dossier's key, its page count, and — where text recognition ran — the recognised text of
    each page (a sealed JSON list, one string per page; deferred, never loaded by lists)."""

    __tablename__ = "archive_scans"
    __key_owner__ = "subject"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("archive_documents.id"), index=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    blob_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("blobs.id"))
    page_count: Mapped[int] = mapped_column(Integer)
    content_mac: Mapped[str] = mapped_column(String(64), unique=True)
    page_texts: Mapped[list | None] = mapped_column(EncryptedJSON, deferred=True)
    recognised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    document: Mapped[ArchiveDocument] = relationship(back_populates="scans")
    subject: Mapped[Subject] = relationship()
    blob: Mapped[Blob] = relationship(lazy="joined")
