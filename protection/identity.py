"""Who people are: units, users, roles and clearances."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String, Uuid, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .clock import UTCDateTime, utcnow
from .db import db, enum_column


class Role(enum.StrEnum):
    OFFICER = "officer"
    LIAISON = "liaison"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return str(ROLE_LABELS[self])

    @property
    def requires_second_factor(self) -> bool:
        return self in ROLES_REQUIRING_SECOND_FACTOR


ROLE_LABELS = {
    Role.OFFICER: _l("Cán bộ thẩm định"),
    Role.LIAISON: _l("Cán bộ phối hợp"),
    Role.SUPERVISOR: _l("Lãnh đạo phê duyệt"),
    Role.AUDITOR: _l("Kiểm tra viên nhật ký"),
    Role.ADMIN: _l("Quản trị hệ thống"),
}

# Roles whose accounts approve, oversee or administer: a stolen password alone must not
# be enough (issue 2).
ROLES_REQUIRING_SECOND_FACTOR = frozenset({Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN})


class Clearance(enum.StrEnum):
    """Security clearance, ordered lowest to highest (Law on Protection of State Secrets 2018)."""

    UNCLASSIFIED = "unclassified"
    CONFIDENTIAL = "confidential"  # Mật
    SECRET = "secret"  # noqa: S105 - Tối mật, a clearance level
    TOP_SECRET = "top_secret"  # noqa: S105 - Tuyệt mật

    @property
    def rank(self) -> int:
        return CLEARANCE_ORDER.index(self)

    @property
    def label(self) -> str:
        return str(CLEARANCE_LABELS[self])

    def covers(self, other: Clearance) -> bool:
        return self.rank >= other.rank


CLEARANCE_ORDER = (Clearance.UNCLASSIFIED, Clearance.CONFIDENTIAL, Clearance.SECRET, Clearance.TOP_SECRET)
CLEARANCE_LABELS = {
    Clearance.UNCLASSIFIED: _l("Không mật"),
    Clearance.CONFIDENTIAL: _l("Mật"),
    Clearance.SECRET: _l("Tối mật"),
    Clearance.TOP_SECRET: _l("Tuyệt mật"),
}


class UnitKind(enum.StrEnum):
    ORGANISATION = "organisation"
    INSPECTION = "inspection"
    PROPAGANDA = "propaganda"
    INTERNAL_AFFAIRS = "internal_affairs"
    POLICE = "police"
    MILITARY = "military"
    BORDER_GUARD = "border_guard"
    INSPECTORATE = "inspectorate"
    DISTRICT = "district"

    @property
    def label(self) -> str:
        return str(UNIT_KIND_LABELS[self])


UNIT_KIND_LABELS = {
    UnitKind.ORGANISATION: _l("Ban Tổ chức"),
    UnitKind.INSPECTION: _l("Ủy ban Kiểm tra"),
    UnitKind.PROPAGANDA: _l("Ban Tuyên giáo"),
    UnitKind.INTERNAL_AFFAIRS: _l("Ban Nội chính"),
    UnitKind.POLICE: _l("Đảng ủy Công an"),
    UnitKind.MILITARY: _l("Đảng ủy Quân sự"),
    UnitKind.BORDER_GUARD: _l("Đảng ủy Bộ đội Biên phòng"),
    UnitKind.INSPECTORATE: _l("Thanh tra tỉnh"),
    UnitKind.DISTRICT: _l("Cấp ủy cấp huyện"),
}


class Unit(db.Model):
    __tablename__ = "units"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[UnitKind] = mapped_column(enum_column(UnitKind, 24))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("units.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    parent: Mapped[Unit | None] = relationship(remote_side=[id])

    def __repr__(self) -> str:
        return f"<Unit {self.code}>"


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("units.id"), index=True)
    role: Mapped[Role] = mapped_column(enum_column(Role))
    clearance: Mapped[Clearance] = mapped_column(enum_column(Clearance))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    password_hash: Mapped[str] = mapped_column(String(255))
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)

    # TOTP shared secret (base32). Issue 3 moves it under envelope encryption.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Highest TOTP time step accepted so far: a code is good once (RFC 6238 §5.2).
    totp_last_counter: Mapped[int | None] = mapped_column(Integer)

    # Recusal (issue 6 rule 5): the blind index of the user's citizen ID number, computed
    # with the dossiers' own index so the two can be compared; never the number itself.
    # A truncated index can match another person's number: that recuses too, the safe way.
    citizen_index: Mapped[int | None] = mapped_column(Integer, index=True)
    # The interface language the user chose ("vi" or "en"); None follows the browser.
    locale: Mapped[str | None] = mapped_column(String(8))

    # Set only by `flask demo`; `flask demo code` refuses every other account.
    demo_account: Mapped[bool] = mapped_column(Boolean, default=False)
    # The account a partner body's system acts as (an API client, or the body's exchange
    # packages, issue 21): a liaison with no password, no second factor and no web
    # sign-in; it exists so findings and audit entries name who wrote them.
    service_account: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Where the password is checked (issue 23): "local" (password_hash) or "directory" (an
    # LDAP bind; password_hash then holds an unusable marker). Roles, units, clearance, the
    # second factor and the lockout stay Hoso's own either way.
    auth_source: Mapped[str] = mapped_column(String(16), default="local", server_default="local")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    unit: Mapped[Unit] = relationship(lazy="joined")

    # Flask-Login protocol. get_id() returns the token of the sign-in this object was
    # loaded for, not the user id, so ending a server-side session ends the login
    # (Flask-Login docs, "Alternative Tokens").
    session_token = None  # transient: set by the session loader

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str | None:
        return self.session_token

    @property
    def second_factor_enabled(self) -> bool:
        return self.totp_secret is not None and self.totp_enabled_at is not None

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class SecurityKey(db.Model):
    """A WebAuthn credential (a security key or a platform passkey) registered by a user
    (issue 23): its public key and signature counter, never a secret. The credential id is
    unique across all users: an assertion names exactly one key, and so one user."""

    __tablename__ = "security_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    credential_id: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class KeyChallenge(db.Model):
    """A WebAuthn challenge handed to one browser session for one purpose (sign-in,
    registration, or an approval named by its action and record), used at most once: the
    row is deleted when an answer is checked, right or wrong."""

    __tablename__ = "key_challenges"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("auth_sessions.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(64))
    challenge: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DirectoryRequest(db.Model):
    """A directory user who signed in for the first time (issue 23): their directory
    password was right, but no Hoso account is theirs until an admin confirms them, with a
    unit and a clearance; the role comes from their directory groups, and no higher."""

    __tablename__ = "directory_requests"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    mapped_role: Mapped[Role] = mapped_column(enum_column(Role))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decision: Mapped[str | None] = mapped_column(String(16), index=True)  # confirmed | refused
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))

    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
