"""Inspection visits, their recommendations and the sub-units' reports on them; guidance
published by a unit to its sub-units, with versions and read receipts.

What a visit found and recommends, what a sub-unit reports and the guidance's titles and
notes are sealed (a visit and a guidance item each own a data key; their dependants are
sealed under it). Dates, states, units and who did what stay plain: the boards and
reminders are computed from them without opening anything."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from protection.blobs import Blob
from protection.clock import UTCDateTime, utcnow
from protection.db import db, enum_column
from protection.fields import EncryptedText
from protection.identity import Clearance, Unit, User
from protection.sealing import Protected


def _classification_column():
    return enum_column(Clearance)


class InspectionVisit(Protected, db.Model):
    """A visit (kiểm tra chuyên đề) by a supervisor's unit to one of its sub-units. States:
    open, closed. Closed once every recommendation is resolved or waived."""

    __tablename__ = "inspection_visits"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("units.id"), index=True)  # the inspecting unit
    sub_unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("units.id"), index=True)  # the unit visited
    visited_on: Mapped[date] = mapped_column(Date)
    classification: Mapped[Clearance] = mapped_column(_classification_column(), default=Clearance.UNCLASSIFIED)
    state: Mapped[str] = mapped_column(String(16), index=True, default="open")
    team: Mapped[str] = mapped_column(EncryptedText)
    scope: Mapped[str] = mapped_column(EncryptedText)
    findings: Mapped[str | None] = mapped_column(EncryptedText)
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))

    unit: Mapped[Unit] = relationship(foreign_keys=[unit_id], lazy="joined")
    sub_unit: Mapped[Unit] = relationship(foreign_keys=[sub_unit_id], lazy="joined")
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    recommendations: Mapped[list[Recommendation]] = relationship(
        back_populates="visit", order_by="Recommendation.number", cascade="all, delete-orphan")


class Recommendation(Protected, db.Model):
    """One recommendation of a visit, due on a date, for the sub-unit responsible (the visited
    unit or a unit below it). States: open, reported (the sub-unit has said what it did),
    resolved (accepted by the inspecting unit), waived (with a reason)."""

    __tablename__ = "inspection_recommendations"
    __table_args__ = (UniqueConstraint("visit_id", "number", name="uq_inspection_recommendations_number"),)
    __key_owner__ = "visit"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inspection_visits.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(EncryptedText)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    responsible_unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("units.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True, default="open")
    closing_note: Mapped[str | None] = mapped_column(EncryptedText)  # why waived, or how it was accepted
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # The day the reminder of an overdue recommendation was last sent (notify send-due).
    reminded_on: Mapped[date | None] = mapped_column(Date)

    visit: Mapped[InspectionVisit] = relationship(back_populates="recommendations")
    responsible_unit: Mapped[Unit] = relationship(lazy="joined")
    reports: Mapped[list[RecommendationReport]] = relationship(
        back_populates="recommendation", order_by="RecommendationReport.created_at", cascade="all, delete-orphan")


class RecommendationReport(Protected, db.Model):
    """What the responsible sub-unit did about a recommendation, with files."""

    __tablename__ = "inspection_reports"
    __key_owner__ = "visit"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    recommendation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inspection_recommendations.id"), index=True)
    visit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inspection_visits.id"), index=True)
    body: Mapped[str] = mapped_column(EncryptedText)
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    recommendation: Mapped[Recommendation] = relationship(back_populates="reports")
    visit: Mapped[InspectionVisit] = relationship()
    created_by: Mapped[User] = relationship(lazy="joined")
    files: Mapped[list[OversightFile]] = relationship(
        primaryjoin="RecommendationReport.id == foreign(OversightFile.report_id)", viewonly=True)


class OversightFile(db.Model):
    """A file of a sub-unit's report, or of a guidance version: a blob sealed under the visit's
    (or the guidance's) key, so it is shredded with it."""

    __tablename__ = "oversight_files"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    blob_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("blobs.id"))
    report_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("inspection_reports.id"), index=True)
    guidance_version_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("guidance_versions.id"), index=True)
    uploaded_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    blob: Mapped[Blob] = relationship(lazy="joined")


class Guidance(Protected, db.Model):
    """A regulation, instruction or form template (mẫu biểu) a unit publishes to the units
    below it. Kinds: regulation, instruction, form_template. `required_reading`: every user of
    the receiving units is asked to confirm reading each version."""

    __tablename__ = "guidance"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("units.id"), index=True)  # the publishing unit
    kind: Mapped[str] = mapped_column(String(24), index=True)
    title: Mapped[str] = mapped_column(EncryptedText)
    required_reading: Mapped[bool] = mapped_column(Boolean, default=False)
    withdrawn_on: Mapped[date | None] = mapped_column(Date)
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    unit: Mapped[Unit] = relationship(lazy="joined")
    versions: Mapped[list[GuidanceVersion]] = relationship(
        back_populates="guidance", order_by="GuidanceVersion.number", cascade="all, delete-orphan")


class GuidanceVersion(Protected, db.Model):
    """One published version: a number that runs on per guidance item, the date it takes
    effect, a note on what changed, and its file(s)."""

    __tablename__ = "guidance_versions"
    __table_args__ = (UniqueConstraint("guidance_id", "number", name="uq_guidance_versions_number"),)
    __key_owner__ = "guidance"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    guidance_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("guidance.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    effective_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(EncryptedText)
    published_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    guidance: Mapped[Guidance] = relationship(back_populates="versions")
    published_by: Mapped[User] = relationship(lazy="joined")
    files: Mapped[list[OversightFile]] = relationship(
        primaryjoin="GuidanceVersion.id == foreign(OversightFile.guidance_version_id)", viewonly=True)


class GuidanceReceipt(db.Model):
    """A user confirmed having read one version (read receipt)."""

    __tablename__ = "guidance_receipts"
    __table_args__ = (UniqueConstraint("version_id", "user_id", name="uq_guidance_receipts_reader"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("guidance_versions.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")
