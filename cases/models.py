"""The domain's records. Every personal field is encrypted (protection.fields); only
organisational metadata (which unit manages a dossier, when it changed) stays plain."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import ForeignKey, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from protection.db import db
from protection.fields import (
    BlindIndex,
    EncryptedDate,
    EncryptedJSON,
    EncryptedText,
    Protected,
    UTCDateTime,
    utcnow,
)
from protection.identity import Unit
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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    subject: Mapped[Subject] = relationship(back_populates="relatives")


SUBJECT_FIELDS = ("full_name", "other_names", "date_of_birth", "sex", "id_number", "native_place", "residence",
                  "ethnicity", "religion", "current_unit", "position", "party_admission_date",
                  "party_official_date", "notes")
RELATIVE_FIELDS = ("relation", "full_name", "birth_year", "residence", "occupation", "party_member")

