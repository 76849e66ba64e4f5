"""The guidance library (issue 24 A.3): regulations, instructions and form templates (mẫu biểu)
a unit publishes to the units below it, in numbered versions with their effective dates and
files, withdrawn when they no longer apply; and, for required reading, who has confirmed
reading which version.

Who reads what is protection/policy.py: the officers and supervisors of the publishing unit
and of every unit below it (units_under) read it; the supervisors of the publishing unit
publish, version, withdraw and see who has read. Titles, notes and files are sealed under the
guidance item's own key (a blob's owner is the item): never in an audit detail, a log line
or a notification, which name the publishing unit's code and ids only.

Uploads are checked whole before anything is added: a refused file leaves no guidance, no
version and no blob behind (the form shows the reason beside the files field).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import IO

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from audit.trail import record
from cases.casework.operations import CaseError
from cases.notifications import service
from cases.oversight.models import Guidance, GuidanceReceipt, GuidanceVersion, OversightFile
from protection import policy
from protection.blobs import detect_content_type, max_upload_bytes, store_blob
from protection.db import db
from protection.i18n import local_today
from protection.identity import Role, Unit, User

KINDS = {
    "regulation": _l("Quy định"),
    "instruction": _l("Hướng dẫn"),
    "form_template": _l("Mẫu biểu"),
}
TITLE_MAX = 300
NOTE_MAX = 4000
MAX_FILES = 10
READER_ROLES = (Role.OFFICER, Role.SUPERVISOR)


class GuidanceError(CaseError):
    """A refusal the user can act on (the field it belongs beside); names no protected value."""


@dataclass(frozen=True)
class Upload:
    stream: IO[bytes]
    filename: str | None


@dataclass
class VersionData:
    effective_on: date | None
    note: str | None = None
    files: Sequence[Upload] = field(default_factory=list)


@dataclass
class GuidanceData:
    kind: str
    title: str
    required_reading: bool
    first: VersionData


# --- checks ----------------------------------------------------------------------------------

def _checked_files(files: Iterable[Upload]) -> list[tuple[bytes, str | None]]:
    """Every file read and checked by its bytes (protection/blobs.py's checks) before any is
    kept: one refused file refuses the whole submission, and nothing was added."""
    checked = []
    for upload in files:
        if upload is None or upload.stream is None:
            continue
        data = upload.stream.read(max_upload_bytes() + 1)
        if not data and not upload.filename:
            continue  # an empty file input
        if not data:
            raise GuidanceError(_("Tệp rỗng."), "files")
        if len(data) > max_upload_bytes():
            raise GuidanceError(_("Tệp quá lớn: giới hạn là %(limit)d MB.",
                                  limit=max_upload_bytes() // (1024 * 1024)), "files")
        if detect_content_type(data) is None:
            raise GuidanceError(_("Chỉ nhận tệp PDF, JPEG, PNG, TIFF, DOCX hoặc ODT (kiểm tra theo nội dung tệp, "
                                  "không theo tên)."), "files")
        checked.append((data, upload.filename))
    if not checked:
        raise GuidanceError(_("Hãy đính kèm ít nhất một tệp."), "files")
    if len(checked) > MAX_FILES:
        raise GuidanceError(_("Mỗi phiên bản có tối đa %(count)d tệp.", count=MAX_FILES), "files")
    return checked


def _checked_note(note: str | None) -> str | None:
    text = (note or "").strip()
    if len(text) > NOTE_MAX:
        raise GuidanceError(_("Ghi chú dài quá %(count)d ký tự.", count=NOTE_MAX), "note")
    return text or None


def _checked_version(data: VersionData, previous: GuidanceVersion | None) -> tuple[str | None, list]:
    if data.effective_on is None:
        raise GuidanceError(_("Hãy nhập ngày có hiệu lực."), "effective_on")
    if previous is not None and data.effective_on < previous.effective_on:
        raise GuidanceError(_("Ngày có hiệu lực không được trước ngày có hiệu lực của phiên bản trước (%(day)s).",
                              day=previous.effective_on.strftime("%d/%m/%Y")), "effective_on")
    note = _checked_note(data.note)
    return note, _checked_files(data.files)


def _require_publisher(unit: Unit, by: User) -> None:
    if not policy.can(by, "guidance.publish") or by.unit_id != unit.id:
        record("guidance.publish", target_type="unit", target_id=unit.id, actor=by, outcome="denied",
               reason="not_publisher")
        raise GuidanceError(_("Chỉ lãnh đạo của đơn vị mới ban hành hướng dẫn của đơn vị."))


def _require_manager(guidance: Guidance, by: User, action: str) -> None:
    if not policy.can_manage_guidance(by, guidance):
        record(action, target_type="guidance", target_id=guidance.id, actor=by, outcome="denied",
               reason="not_publisher")
        raise GuidanceError(_("Chỉ lãnh đạo của đơn vị ban hành mới thay đổi được hướng dẫn này."))


# --- publishing ------------------------------------------------------------------------------

def publish(unit: Unit, data: GuidanceData, *, by: User) -> Guidance:
    """A new guidance item of `unit` with its first version; audited; the readers told when
    it is required reading."""
    _require_publisher(unit, by)
    if data.kind not in KINDS:
        raise GuidanceError(_("Hãy chọn loại văn bản."), "kind")
    title = " ".join((data.title or "").split())
    if not title:
        raise GuidanceError(_("Hãy nhập tiêu đề."), "title")
    if len(title) > TITLE_MAX:
        raise GuidanceError(_("Tiêu đề dài quá %(count)d ký tự.", count=TITLE_MAX), "title")
    note, files = _checked_version(data.first, None)
    guidance = Guidance(id=uuid.uuid4(), unit_id=unit.id, kind=data.kind, title=title,
                        required_reading=bool(data.required_reading), created_by_id=by.id)
    db.session.add(guidance)
    version = _add_version(guidance, 1, data.first.effective_on, note, files, by)
    record("guidance.publish", target_type="guidance", target_id=guidance.id, actor=by, unit=unit.code,
           kind=guidance.kind, required=guidance.required_reading, version=1, files=len(files),
           effective_on=version.effective_on.isoformat())
    _tell_readers(guidance, version, by)
    return guidance


def publish_version(guidance: Guidance, data: VersionData, *, by: User) -> GuidanceVersion:
    """The next version: its effective date not before the previous version's."""
    _require_manager(guidance, by, "guidance.new_version")
    if guidance.withdrawn_on is not None:
        raise GuidanceError(_("Hướng dẫn này đã bị bãi bỏ."))
    previous = latest_version(guidance)
    note, files = _checked_version(data, previous)
    number = (previous.number if previous else 0) + 1
    version = _add_version(guidance, number, data.effective_on, note, files, by)
    record("guidance.new_version", target_type="guidance", target_id=guidance.id, actor=by, version=number,
           files=len(files), effective_on=version.effective_on.isoformat())
    _tell_readers(guidance, version, by)
    return version


def _add_version(guidance: Guidance, number: int, effective_on: date, note: str | None,
                 files: list[tuple[bytes, str | None]], by: User) -> GuidanceVersion:
    version = GuidanceVersion(id=uuid.uuid4(), guidance=guidance, guidance_id=guidance.id, number=number,
                              effective_on=effective_on, note=note, published_by_id=by.id)
    db.session.add(version)
    db.session.flush()  # the item's key exists before its files are sealed under it
    for data, filename in files:
        blob = store_blob(data, filename, owner=guidance)
        db.session.add(OversightFile(id=uuid.uuid4(), blob=blob, blob_id=blob.id, guidance_version_id=version.id,
                                     uploaded_by_id=by.id))
    db.session.flush()
    db.session.expire(version, ["files"])
    return version


def withdraw(guidance: Guidance, *, by: User) -> Guidance:
    _require_manager(guidance, by, "guidance.withdraw")
    if guidance.withdrawn_on is not None:
        raise GuidanceError(_("Hướng dẫn này đã bị bãi bỏ."))
    guidance.withdrawn_on = local_today()
    db.session.flush()
    record("guidance.withdraw", target_type="guidance", target_id=guidance.id, actor=by,
           withdrawn_on=guidance.withdrawn_on.isoformat(), versions=len(guidance.versions))
    return guidance


# --- read receipts ---------------------------------------------------------------------------

def confirm_read(guidance: Guidance, version: GuidanceVersion, *, by: User) -> GuidanceReceipt:
    """`by` has read `version` (the current one of required reading): one receipt each."""
    if not guidance.required_reading:
        raise GuidanceError(_("Hướng dẫn này không yêu cầu xác nhận đã đọc."))
    if guidance.withdrawn_on is not None:
        raise GuidanceError(_("Hướng dẫn này đã bị bãi bỏ."))
    if version.id != latest_version(guidance).id:
        raise GuidanceError(_("Đã có phiên bản mới hơn: hãy đọc và xác nhận phiên bản mới nhất."))
    if receipt_of(version, by) is not None:
        raise GuidanceError(_("Bạn đã xác nhận đọc phiên bản này."))
    receipt = GuidanceReceipt(id=uuid.uuid4(), version_id=version.id, user_id=by.id)
    db.session.add(receipt)
    db.session.flush()
    record("guidance.read", target_type="guidance", target_id=guidance.id, actor=by, version=version.number)
    return receipt


def receipt_of(version: GuidanceVersion, user: User) -> GuidanceReceipt | None:
    return db.session.scalar(select(GuidanceReceipt).where(GuidanceReceipt.version_id == version.id,
                                                           GuidanceReceipt.user_id == user.id))


# --- loading and reading ---------------------------------------------------------------------

def load(guidance_id: uuid.UUID, user: User, *, manage: bool = False) -> Guidance:
    """The item, for a reader (404, audited, for anyone else: its existence is not theirs to
    know); `manage`: for a supervisor of the publishing unit (403, audited, for other readers)."""
    guidance = db.session.get(Guidance, guidance_id)
    if guidance is None or not policy.can_view_guidance(user, guidance):
        policy.deny("guidance.publish" if manage else "guidance.view", status=404)
    if manage and not policy.can_manage_guidance(user, guidance):
        policy.deny("guidance.publish")
    return guidance


def load_version(guidance: Guidance, version_id: uuid.UUID, *, need: str = "guidance.view") -> GuidanceVersion:
    version = db.session.get(GuidanceVersion, version_id)
    if version is None or version.guidance_id != guidance.id:
        policy.deny(need, status=404)
    return version


def load_file(guidance: Guidance, file_id: uuid.UUID) -> tuple[OversightFile, GuidanceVersion]:
    item = db.session.get(OversightFile, file_id)
    version = db.session.get(GuidanceVersion, item.guidance_version_id) if item and item.guidance_version_id else None
    if version is None or version.guidance_id != guidance.id:
        policy.deny("guidance.view", status=404)
    return item, version


def record_view(guidance: Guidance, part: str = "page") -> None:
    record("guidance.view", target_type="guidance", target_id=guidance.id, part=part)


def record_download(guidance: Guidance, item: OversightFile, version: GuidanceVersion) -> None:
    record("guidance.download", target_type="guidance", target_id=guidance.id, file=item.id,
           version=version.number)


def latest_version(guidance: Guidance) -> GuidanceVersion | None:
    return guidance.versions[-1] if guidance.versions else None


def current_version(guidance: Guidance, today: date | None = None) -> GuidanceVersion | None:
    """The version in effect today: the newest whose effective date has come; before the
    first takes effect, the first."""
    today = today or local_today()
    in_effect = [version for version in guidance.versions if version.effective_on <= today]
    return in_effect[-1] if in_effect else (guidance.versions[0] if guidance.versions else None)


def units_above(unit_id: uuid.UUID) -> set[uuid.UUID]:
    """A unit and every unit above it: whose guidance applies to its people."""
    parents = dict(db.session.execute(select(Unit.id, Unit.parent_id)).all())
    found, current = set(), unit_id
    while current is not None and current not in found:
        found.add(current)
        current = parents.get(current)
    return found


@dataclass(frozen=True)
class Entry:
    """A line of the library: the item, its version in effect, its newest version, and
    whether the reader still has to confirm reading the newest."""

    guidance: Guidance
    current: GuidanceVersion
    latest: GuidanceVersion
    unread: bool


def library(user: User, *, kind: str | None = None, withdrawn: bool = False) -> list[Entry]:
    """The guidance that applies to `user` (published by their unit or a unit above it),
    newest first, the reader's unread required reading first of all. Recorded as a read."""
    statement = (select(Guidance).where(Guidance.unit_id.in_(units_above(user.unit_id)))
                 .options(selectinload(Guidance.versions)).order_by(Guidance.created_at.desc()))
    if kind in KINDS:
        statement = statement.where(Guidance.kind == kind)
    statement = statement.where(Guidance.withdrawn_on.is_not(None) if withdrawn else Guidance.withdrawn_on.is_(None))
    items = [item for item in db.session.scalars(statement) if item.versions]
    latest = {item.id: latest_version(item) for item in items}
    read = set(db.session.scalars(select(GuidanceReceipt.version_id).where(
        GuidanceReceipt.user_id == user.id,
        GuidanceReceipt.version_id.in_([version.id for version in latest.values()])))) if items else set()
    today = local_today()
    entries = [Entry(item, current_version(item, today), latest[item.id],
                     item.required_reading and item.withdrawn_on is None and latest[item.id].id not in read)
               for item in items]
    entries.sort(key=lambda entry: not entry.unread)  # stable: newest first within each
    record("guidance.list", target_type="guidance", kind=kind if kind in KINDS else None, withdrawn=withdrawn,
           results=len(entries))
    return entries


def unread_count(user: User) -> int:
    """Required reading waiting for the user's confirmation (for a badge)."""
    if user.role not in READER_ROLES:
        return 0
    latest = (select(GuidanceVersion.guidance_id, func.max(GuidanceVersion.number).label("number"))
              .group_by(GuidanceVersion.guidance_id).subquery())
    statement = (select(func.count()).select_from(Guidance)
                 .join(latest, latest.c.guidance_id == Guidance.id)
                 .join(GuidanceVersion, (GuidanceVersion.guidance_id == Guidance.id)
                       & (GuidanceVersion.number == latest.c.number))
                 .outerjoin(GuidanceReceipt, (GuidanceReceipt.version_id == GuidanceVersion.id)
                            & (GuidanceReceipt.user_id == user.id))
                 .where(Guidance.unit_id.in_(units_above(user.unit_id)), Guidance.required_reading.is_(True),
                        Guidance.withdrawn_on.is_(None), GuidanceReceipt.id.is_(None)))
    return db.session.scalar(statement) or 0


# --- who has read ----------------------------------------------------------------------------

def readers(guidance: Guidance) -> list[User]:
    """Everyone asked to read it: the active officers and supervisors (people, not service
    accounts) of the publishing unit and of every unit below it."""
    return list(db.session.scalars(
        select(User).where(User.unit_id.in_(policy.units_under(guidance.unit_id)), User.role.in_(READER_ROLES),
                           User.active.is_(True), User.service_account.is_(False))
        .options(selectinload(User.unit)).order_by(User.display_name, User.username)))


@dataclass(frozen=True)
class UnitPending:
    unit: Unit
    users: list[User]


@dataclass(frozen=True)
class VersionReading:
    """One version's receipts (oldest first) and who is still to confirm it, by unit."""

    version: GuidanceVersion
    receipts: list[GuidanceReceipt]
    pending: list[UnitPending]

    @property
    def pending_count(self) -> int:
        return sum(len(group.users) for group in self.pending)


def reading(guidance: Guidance) -> list[VersionReading]:
    """Per version, newest first: who has confirmed reading it and who is still to. Recorded."""
    people = readers(guidance)
    receipts = list(db.session.scalars(
        select(GuidanceReceipt).join(GuidanceVersion, GuidanceReceipt.version_id == GuidanceVersion.id)
        .where(GuidanceVersion.guidance_id == guidance.id).order_by(GuidanceReceipt.read_at)))
    by_version: dict[uuid.UUID, list[GuidanceReceipt]] = {}
    for receipt in receipts:
        by_version.setdefault(receipt.version_id, []).append(receipt)
    result = []
    for version in reversed(guidance.versions):
        done = {receipt.user_id for receipt in by_version.get(version.id, [])}
        groups: dict[uuid.UUID, UnitPending] = {}
        for person in people:
            if person.id not in done:
                groups.setdefault(person.unit_id, UnitPending(person.unit, [])).users.append(person)
        result.append(VersionReading(version, by_version.get(version.id, []),
                                     sorted(groups.values(), key=lambda group: group.unit.code)))
    record("guidance.readers", target_type="guidance", target_id=guidance.id, readers=len(people),
           receipts=len(receipts))
    return result


# --- notifications ---------------------------------------------------------------------------

def _tell_readers(guidance: Guidance, version: GuidanceVersion, by: User) -> int:
    """Required reading: each reader but the publisher hears of each version, by the
    publishing unit's code and a link; the title stays sealed."""
    if not guidance.required_reading:
        return 0
    unit = db.session.get(Unit, guidance.unit_id)
    return service.notify([person.id for person in readers(guidance) if person.id != by.id],
                          service.GUIDANCE_TO_READ, target_type="guidance", target_id=version.id,
                          reference=unit.code, dedupe_key=f"{service.GUIDANCE_TO_READ}:{version.id}")
