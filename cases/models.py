"""The domain's records. Every personal field is encrypted (protection.fields); only
organisational metadata (which unit manages a dossier, when it changed) stays plain."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from protection import index_plans
from protection.blobs import Blob
from protection.clock import UTCDateTime, utcnow
from protection.db import db, enum_column
from protection.fields import BlindIndex, EncryptedDate, EncryptedJSON, EncryptedText
from protection.identity import Clearance, Unit, User
from protection.sealing import Protected
from protection.search import birth_date, citizen_id, vietnamese_name


class Subject(Protected, db.Model):
    """A person under review, with the biography fields of the party records (issue 3 §4).

    The subject owns a data key; its relatives are sealed under the same key, so one key
    destroys the whole dossier when retention ends.
    """

    __tablename__ = "subjects"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("units.id"), index=True)

    full_name: Mapped[str] = mapped_column(EncryptedText)
    other_names: Mapped[str | None] = mapped_column(EncryptedText)
    date_of_birth: Mapped[date] = mapped_column(EncryptedDate)
    sex: Mapped[str | None] = mapped_column(EncryptedText)
    id_number: Mapped[str] = mapped_column(EncryptedText)
    native_place: Mapped[str | None] = mapped_column(EncryptedText)
    residence: Mapped[str | None] = mapped_column(EncryptedText)
    ethnicity: Mapped[str | None] = mapped_column(EncryptedText)
    religion: Mapped[str | None] = mapped_column(EncryptedText)
    current_unit: Mapped[str | None] = mapped_column(EncryptedText)
    position: Mapped[str | None] = mapped_column(EncryptedText)
    party_admission_date: Mapped[date | None] = mapped_column(EncryptedDate)
    party_official_date: Mapped[date | None] = mapped_column(EncryptedDate)
    notes: Mapped[str | None] = mapped_column(EncryptedText)

    # Exact-match search without plaintext: keyed, truncated HMACs (protection/crypto.py
    # documents the bit length). A birth date alone has too few values to index safely,
    # so it is indexed only together with the name.
    full_name_index: Mapped[int | None] = mapped_column(BlindIndex("full_name", normalise=vietnamese_name),
                                                        index=True)
    id_number_index: Mapped[int | None] = mapped_column(BlindIndex("id_number", normalise=citizen_id),
                                                        index=True)
    name_birth_index: Mapped[int | None] = mapped_column(
        BlindIndex(("full_name", "date_of_birth"), normalise=(vietnamese_name, birth_date)), index=True)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))

    owner_unit: Mapped[Unit] = relationship(lazy="joined")
    relatives: Mapped[list[Relative]] = relationship(back_populates="subject", cascade="all, delete-orphan",
                                                     order_by="Relative.created_at")

    def people_indexes(self) -> set[int]:
        """The citizen-ID blind indexes of this person and their recorded relatives: a user
        holding one of them is recused from this dossier (policy.is_recused)."""
        values = {self.id_number_index} | {relative.id_number_index for relative in self.relatives}
        return {value for value in values if value is not None}


class Relative(Protected, db.Model):
    """A family member as the party biography lists them; every field is protected."""

    __tablename__ = "relatives"
    __key_owner__ = "subject"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    relation: Mapped[str] = mapped_column(EncryptedText)
    full_name: Mapped[str] = mapped_column(EncryptedText)
    birth_year: Mapped[int | None] = mapped_column(EncryptedJSON)
    residence: Mapped[str | None] = mapped_column(EncryptedText)
    occupation: Mapped[str | None] = mapped_column(EncryptedText)
    party_member: Mapped[bool | None] = mapped_column(EncryptedJSON)
    # Optional: a relative's citizen ID, so that a user who is this relative is recused
    # from the subject's cases (issue 6 rule 5). Indexed with the subjects' own key.
    id_number: Mapped[str | None] = mapped_column(EncryptedText)
    id_number_index: Mapped[int | None] = mapped_column(
        BlindIndex("id_number", normalise=citizen_id, shares_key_of="subjects.id_number_index"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    subject: Mapped[Subject] = relationship(back_populates="relatives")


def subjects_about(citizen_index: int):
    """SELECT of the ids of the dossiers about the holder of this citizen-ID index: their
    own, and those listing them as a relative (recusal in SQL, for lists and exports)."""
    return select(Subject.id).where(index_plans.matches_user(db.session, Subject.id_number_index, citizen_index)).union(
        select(Relative.subject_id).where(index_plans.matches_user(db.session, Relative.id_number_index, citizen_index)))


SUBJECT_FIELDS = ("full_name", "other_names", "date_of_birth", "sex", "id_number", "native_place", "residence",
                  "ethnicity", "religion", "current_unit", "position", "party_admission_date",
                  "party_official_date", "notes")
RELATIVE_FIELDS = ("relation", "full_name", "birth_year", "residence", "occupation", "party_member", "id_number")



# --- case work (issue 5) -----------------------------------------------------------------
#
# What stays plain, and why: references, kinds, states, purposes, outcome categories,
# petition types, channels, dispositions and dates are the organisational metadata that
# lists, deadlines and the periodic statistics report need, and name no one. Every text
# a person wrote about a person — titles, summaries, findings, reasoning, comments,
# petitioners, questions, answers, file names and files — is sealed under the case's key.

def _classification_column():
    return enum_column(Clearance)


class Case(Protected, db.Model):
    """One piece of work: a political-standard review or a petition. Owns a data key, so
    destroying it shreds everything below (findings, conclusions, comments, files)."""

    __tablename__ = "cases"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    state: Mapped[str] = mapped_column(String(24), index=True)
    classification: Mapped[Clearance] = mapped_column(_classification_column(), default=Clearance.UNCLASSIFIED)
    owner_unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("units.id"), index=True)
    # Optimistic locking: every change bumps it; a form carries the version it was drawn
    # from, and SQLAlchemy's versioned UPDATE catches a race between two requests.
    version: Mapped[int] = mapped_column(Integer, default=1)

    title: Mapped[str] = mapped_column(EncryptedText)
    summary: Mapped[str | None] = mapped_column(EncryptedText)

    # Review: the person under review and why.
    subject_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subjects.id"), index=True)
    purpose: Mapped[str | None] = mapped_column(String(24))

    opened_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date, index=True)
    closed_on: Mapped[date | None] = mapped_column(Date)
    # The deadline rule that set `due_on`, and how many times it was extended.
    deadline_rule: Mapped[str | None] = mapped_column(String(24))
    deadline_start: Mapped[date | None] = mapped_column(Date)
    extensions: Mapped[int] = mapped_column(Integer, default=0)

    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Lifetime (issue 8, cases/retention.py, cases/classification.py): archived cases are
    # read-only; a purged case has lost its data key and keeps only these plain columns.
    archived_on: Mapped[date | None] = mapped_column(Date, index=True)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A user id without a foreign key: adding one would make SQLite rebuild the cases table
    # (referenced by every other case table) in the migration; the audit entry names them too.
    purged_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    protection_ends_on: Mapped[date | None] = mapped_column(Date, index=True)

    owner_unit: Mapped[Unit] = relationship(lazy="joined")
    subject: Mapped[Subject | None] = relationship()
    petition: Mapped[Petition | None] = relationship(back_populates="case", uselist=False,
                                                     cascade="all, delete-orphan",
                                                     foreign_keys="Petition.case_id")
    assignments: Mapped[list[Assignment]] = relationship(back_populates="case", cascade="all, delete-orphan")

    def people_indexes(self) -> set[int]:
        """Blind indexes of the citizen IDs of the people this case is about: the subject,
        the subject's relatives with a recorded ID, and the dossiers a petition names
        (with their relatives). policy.is_recused compares a user's own against them.

        Asked by every policy check of a page, so kept on the instance, which lives for one
        request (its session)."""
        cached = self.__dict__.get("_people_indexes")
        if cached is None:
            cached = self.__dict__["_people_indexes"] = self._load_people_indexes()
        return cached

    def _load_people_indexes(self) -> set[int]:
        subject_ids = {self.subject_id} if self.subject_id else set()
        if self.petition is not None:
            subject_ids |= {person.subject_id for person in self.petition.concerned if person.subject_id}
        if not subject_ids:
            return set()
        rows = db.session.execute(
            select(Subject.id_number_index).where(Subject.id.in_(subject_ids))
            .union_all(select(Relative.id_number_index).where(Relative.subject_id.in_(subject_ids),
                                                               Relative.id_number_index.is_not(None)))).scalars()
        return {value for value in rows if value is not None}

    def has_emergency_access(self, user_id: uuid.UUID) -> bool:
        """A break-the-glass access of this user to this case that has not expired."""
        return db.session.scalar(select(BreakGlassAccess.id).where(
            BreakGlassAccess.case_id == self.id, BreakGlassAccess.user_id == user_id,
            BreakGlassAccess.expires_at > utcnow()).limit(1)) is not None

    # The lists filter by unit scope and state or kind, then sort by due or opening date.
    # Classification is the last column so a count or a page can be answered from the index.
    __table_args__ = (Index("ix_cases_unit_state_due", "owner_unit_id", "state", "due_on", "classification"),
                      Index("ix_cases_unit_kind_state_opened", "owner_unit_id", "kind", "state", "opened_on",
                            "classification"))
    __mapper_args__ = {"version_id_col": version}


class Assignment(db.Model):
    __tablename__ = "case_assignments"
    # The second index answers "my work" (a user's cases) without touching the rows.
    __table_args__ = (UniqueConstraint("case_id", "user_id"), Index("ix_case_assignments_user_case", "user_id", "case_id"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    assigned_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="assignments", foreign_keys=[case_id])
    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")


class Petition(Protected, db.Model):
    """Intake and disposition of a petition (đơn thư). The petitioner's identity is the
    most protected value Hoso holds: sealed, shown only to the assigned officer and the
    approving supervisor, every view of it audited."""

    __tablename__ = "petitions"
    __key_owner__ = "case"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    received_on: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(16))
    petition_type: Mapped[str] = mapped_column(String(16))
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    complex_case: Mapped[bool] = mapped_column(Boolean, default=False)

    petitioner_name: Mapped[str | None] = mapped_column(EncryptedText)
    petitioner_address: Mapped[str | None] = mapped_column(EncryptedText)
    petitioner_contact: Mapped[str | None] = mapped_column(EncryptedText)

    # The intake decision: accept, forward, keep_for_monitoring or file, with a reason.
    decision: Mapped[str | None] = mapped_column(String(24))
    decision_reason: Mapped[str | None] = mapped_column(String(40))
    decision_note: Mapped[str | None] = mapped_column(EncryptedText)
    decided_on: Mapped[date | None] = mapped_column(Date)
    forwarded_to_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("units.id"))
    forwarded_on: Mapped[date | None] = mapped_column(Date)
    repeat_of_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"), index=True)

    case: Mapped[Case] = relationship(back_populates="petition", foreign_keys=[case_id])
    forwarded_to: Mapped[Unit | None] = relationship()
    repeat_of: Mapped[Case | None] = relationship(foreign_keys=[repeat_of_id])
    concerned: Mapped[list[ConcernedPerson]] = relationship(back_populates="petition",
                                                            cascade="all, delete-orphan")


class ConcernedPerson(Protected, db.Model):
    """A person a petition concerns: linked to a subject's dossier when identified,
    otherwise only the name as the petition gives it (sealed)."""

    __tablename__ = "petition_subjects"
    __key_owner__ = "case"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    petition_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("petitions.case_id"), index=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    subject_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subjects.id"), index=True)
    named_as: Mapped[str | None] = mapped_column(EncryptedText)

    petition: Mapped[Petition] = relationship(back_populates="concerned")
    case: Mapped[Case] = relationship(foreign_keys=[case_id])
    subject: Mapped[Subject | None] = relationship()


class TimelineEvent(db.Model):
    """What happened to a case, when and by whom. Plain by design: event names, states and
    ids only, so the timeline of a case is never a leak (comments live in Comment)."""

    __tablename__ = "case_events"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    event: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str | None] = mapped_column(String(24))

    actor: Mapped[User | None] = relationship(lazy="joined")


class Comment(Protected, db.Model):
    __tablename__ = "case_comments"
    __key_owner__ = "case"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(EncryptedText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship()
    author: Mapped[User] = relationship(lazy="joined")


class Attachment(db.Model):
    """A file on a case (or on a body's answer to a coordination request). The bytes and
    the name are in the blob store, sealed under the case's key."""

    __tablename__ = "case_attachments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    blob_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("blobs.id"))
    classification: Mapped[Clearance] = mapped_column(_classification_column(), default=Clearance.UNCLASSIFIED)
    request_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("coordination_requests.id"), index=True)
    uploaded_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    protection_ends_on: Mapped[date | None] = mapped_column(Date, index=True)

    blob: Mapped[Blob] = relationship(lazy="joined")
    uploaded_by: Mapped[User] = relationship(lazy="joined")


class Finding(Protected, db.Model):
    """A fact recorded about one person — the subject or a relative on the dossier — under a
    category, with its source, date and classification. Findings logged by a body in answer
    to a request join the case when the officer accepts the answer."""

    __tablename__ = "findings"
    __key_owner__ = "case"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    subject_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subjects.id"))
    relative_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("relatives.id"))
    category: Mapped[str] = mapped_column(String(32))
    classification: Mapped[Clearance] = mapped_column(_classification_column(), default=Clearance.UNCLASSIFIED)
    text: Mapped[str] = mapped_column(EncryptedText)
    source: Mapped[str | None] = mapped_column(EncryptedText)
    found_on: Mapped[date | None] = mapped_column(EncryptedDate)
    request_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("coordination_requests.id"), index=True)
    accepted: Mapped[bool] = mapped_column(Boolean, default=True)
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    protection_ends_on: Mapped[date | None] = mapped_column(Date, index=True)

    case: Mapped[Case] = relationship()
    author: Mapped[User] = relationship(lazy="joined")


class CoordinationRequest(Protected, db.Model):
    """A request to another body to verify facts, with exactly what it may see."""

    __tablename__ = "coordination_requests"
    __key_owner__ = "case"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    body_unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("units.id"), index=True)
    state: Mapped[str] = mapped_column(String(24), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    questions: Mapped[str] = mapped_column(EncryptedText)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    # The disclosure package: which subject fields (names, not values) and which findings
    # and attachments the body may see. Everything else of the case stays out of reach.
    shared_subject_fields: Mapped[list] = mapped_column(JSON, default=list)
    shared_finding_ids: Mapped[list] = mapped_column(JSON, default=list)
    shared_attachment_ids: Mapped[list] = mapped_column(JSON, default=list)
    # Relatives of the subject in the package (ids) and which of their fields besides
    # relation and name; NULL on requests from before relatives could be shared.
    shared_relative_ids: Mapped[list | None] = mapped_column(JSON)
    shared_relative_fields: Mapped[list | None] = mapped_column(JSON)
    answer: Mapped[str | None] = mapped_column(EncryptedText)
    follow_up: Mapped[str | None] = mapped_column(EncryptedText)
    sent_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    sent_on: Mapped[date] = mapped_column(Date)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[Case] = relationship()
    body_unit: Mapped[Unit] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}


class Conclusion(Protected, db.Model):
    """A conclusion, in versions: a correction of an approved one is a new version that
    points at it. Approved versions are immutable (services refuse, and a flush guard
    below refuses any change that slips past them) and signed with Ed25519."""

    __tablename__ = "conclusions"
    __key_owner__ = "case"
    __table_args__ = (UniqueConstraint("case_id", "version_number"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    version_number: Mapped[int] = mapped_column(Integer, default=1)
    previous_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("conclusions.id"))
    state: Mapped[str] = mapped_column(String(16), index=True)
    outcome: Mapped[str] = mapped_column(String(32))
    admission_eligible: Mapped[bool | None] = mapped_column(Boolean)
    reasoning: Mapped[str] = mapped_column(EncryptedText)
    return_comment: Mapped[str | None] = mapped_column(EncryptedText)
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approver_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    document_number: Mapped[str | None] = mapped_column(String(48), unique=True)
    valid_until: Mapped[date | None] = mapped_column(Date)
    signature: Mapped[str | None] = mapped_column(String(200))
    signing_key_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship()
    author: Mapped[User] = relationship(foreign_keys=[author_id], lazy="joined")
    approver: Mapped[User | None] = relationship(foreign_keys=[approver_id], lazy="joined")


class DocumentCounter(db.Model):
    """The last number given per (series, unit, year): `N-KL/UNIT` documents and case
    references. A row locked for the update keeps numbers gapless across servers."""

    __tablename__ = "document_counters"

    series: Mapped[str] = mapped_column(String(16), primary_key=True)
    unit_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class FormSubmission(db.Model):
    """A one-time token per rendered create form: a second submit of the same form finds
    its first result instead of creating a twin."""

    __tablename__ = "form_submissions"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BreakGlassAccess(Protected, db.Model):
    """Emergency access to an unassigned case of one's own unit (issue 6 rule 7): given
    after typing a reason, for a limited time, flagged on the case, and reviewed afterwards
    by an auditor as justified or not. The reason is sealed under the case's key."""

    __tablename__ = "break_glass_accesses"
    __key_owner__ = "case"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    reason: Mapped[str] = mapped_column(EncryptedText)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    review: Mapped[str | None] = mapped_column(String(16), index=True)  # justified | unjustified
    reviewed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[Case] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])


class IdentityRelease(Protected, db.Model):
    """Two-person release of a petitioner's identity (issue 23): the officer who asks, with
    a reason; M supervisors above the case who are not the asker approve (M by petition
    type); once released, the identity page opens for that officer and that petition only,
    until `expires_at`. States: asked, released, refused, withdrawn, expired. Reviewed by an
    auditor afterwards, beside break-the-glass accesses. The reason and any refusal note
    are sealed under the case's key."""

    __tablename__ = "identity_releases"
    __key_owner__ = "case"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    requested_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    reason: Mapped[str] = mapped_column(EncryptedText)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    required_approvals: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    closed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refusal: Mapped[str | None] = mapped_column(EncryptedText)
    review: Mapped[str | None] = mapped_column(String(16), index=True)  # justified | unjustified
    reviewed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[Case] = relationship()
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id], lazy="joined")
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])
    approvals: Mapped[list[IdentityReleaseApproval]] = relationship(
        back_populates="release", order_by="IdentityReleaseApproval.approved_at")


class IdentityReleaseApproval(db.Model):
    """One supervisor's approval of a release, after re-authenticating for it; a supervisor
    approves a release once."""

    __tablename__ = "identity_release_approvals"
    __table_args__ = (UniqueConstraint("release_id", "approver_id", name="uq_identity_release_approvals_approver"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    release_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("identity_releases.id"), index=True)
    approver_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    release: Mapped[IdentityRelease] = relationship(back_populates="approvals")
    approver: Mapped[User] = relationship(lazy="joined")


class PrintRecord(db.Model):
    """The copy register (sổ theo dõi bản in): one row per print of an approved conclusion —
    who, when, how many copies and which copy numbers. Copy numbers run on per conclusion,
    so every paper copy in circulation has a number no other copy carries. Numbers only:
    nothing here is protected content."""

    __tablename__ = "print_records"
    __table_args__ = (UniqueConstraint("conclusion_id", "first_number", name="uq_print_records_first"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    conclusion_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conclusions.id"), index=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    printed_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    printed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    classification: Mapped[Clearance] = mapped_column(_classification_column())
    copies: Mapped[int] = mapped_column(Integer)
    first_number: Mapped[int] = mapped_column(Integer)
    last_number: Mapped[int] = mapped_column(Integer)

    conclusion: Mapped[Conclusion] = relationship()
    printed_by: Mapped[User] = relationship(lazy="joined")


class ClassificationReview(db.Model):
    """A supervisor's decision on a classified item whose protection period ends (issue 8):
    extend, downgrade or declassify. Levels and dates only, never content."""

    __tablename__ = "classification_reviews"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    item_type: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    decision: Mapped[str] = mapped_column(String(16))
    from_level: Mapped[Clearance] = mapped_column(_classification_column())
    to_level: Mapped[Clearance] = mapped_column(_classification_column())
    previous_end: Mapped[date | None] = mapped_column(Date)
    new_end: Mapped[date | None] = mapped_column(Date)
    decided_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    decided_by: Mapped[User] = relationship(lazy="joined")


class DeadlineExtension(Protected, db.Model):
    """One extension of a petition's deadline: the dates before and after (plain, as the
    case's own due date is) and the officer's reason, sealed under the case's key since a
    reason may name people ("chờ kết quả xác minh về ông A"). Linked to its timeline event,
    so the case's history shows it with its reason."""

    __tablename__ = "case_extensions"
    __key_owner__ = "case"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("case_events.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    due_before: Mapped[date | None] = mapped_column(Date)
    due_after: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(EncryptedText)

    case: Mapped[Case] = relationship()


# --- review campaigns (issue 20) -------------------------------------------------------------
#
# A campaign (đợt thẩm định) is a list of nominees that the standing committee needs concluded
# by a fixed date. What stays plain: its reference, purpose, state, units and dates — the
# metadata the board counts and the deadlines need. Its title is sealed (it may name a body
# or a post), and a nominee row holds ids only: who they are lives in their dossier.

class Campaign(Protected, db.Model):
    __tablename__ = "campaigns"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    purpose: Mapped[str] = mapped_column(String(24))
    state: Mapped[str] = mapped_column(String(16), index=True)  # open | closed
    classification: Mapped[Clearance] = mapped_column(_classification_column(), default=Clearance.UNCLASSIFIED)
    owner_unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("units.id"), index=True)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    title: Mapped[str] = mapped_column(EncryptedText)

    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    owner_unit: Mapped[Unit] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}


class CampaignNominee(db.Model):
    """One nominee of a campaign: their dossier, the unit working them (the campaign's own
    or, by cadre management level, the district that manages them), and what answers for
    them — a review opened for the campaign or a still-valid approved conclusion reused."""

    __tablename__ = "campaign_nominees"
    __table_args__ = (UniqueConstraint("campaign_id", "subject_id"),
                      Index("ix_campaign_nominees_campaign_unit", "campaign_id", "unit_id"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id"), index=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("units.id"), index=True)
    # The CSV line (or 0 when picked from dossiers): the order of the committee's list.
    position_in_list: Mapped[int] = mapped_column(Integer, default=0)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"), index=True)
    reused_conclusion_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("conclusions.id"))
    reused_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    reused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    added_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    campaign: Mapped[Campaign] = relationship()
    subject: Mapped[Subject] = relationship()
    unit: Mapped[Unit] = relationship(lazy="joined")
    case: Mapped[Case | None] = relationship()
    reused_conclusion: Mapped[Conclusion | None] = relationship()


class CampaignPrintRecord(db.Model):
    """The copy register of a campaign's summary for the standing committee: as PrintRecord
    for a conclusion, copy numbers run on per campaign, so every paper copy has its own."""

    __tablename__ = "campaign_prints"
    __table_args__ = (UniqueConstraint("campaign_id", "first_number", name="uq_campaign_prints_first"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id"), index=True)
    printed_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    printed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    classification: Mapped[Clearance] = mapped_column(_classification_column())
    copies: Mapped[int] = mapped_column(Integer)
    first_number: Mapped[int] = mapped_column(Integer)
    last_number: Mapped[int] = mapped_column(Integer)

    printed_by: Mapped[User] = relationship(lazy="joined")
