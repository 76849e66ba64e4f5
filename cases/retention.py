"""Archiving, retention and purging of closed cases (issue 8, part 2).

A closed case becomes *archived* (read-only) HOSO_ARCHIVE_AFTER_DAYS after it closed. Once
its retention period (per kind, counted from closing) has run out, a supervisor of its
scope may *purge* it: the case's data key is destroyed (crypto-shredding), so every text
sealed under it — title, summary, findings, conclusions, comments, files — can never be
opened again. The plain columns stay: reference, kind, state, dates, outcome categories,
and the audit trail.

A purge must also reach backups taken before it. Each purge appends a line, signed with
an Ed25519 key kept in instance/keys/, to ``instance/purge-ledger.jsonl`` — outside the
database, so it is not rolled back by a restore. ``replay_purge_ledger`` runs after a
restore and shreds again every listed case the restored database still holds a key for.

Order of the two writes: the database commits first, the ledger line is written (and
fsynced) right after. The other order is worse: a line for a purge whose transaction
then failed would, at the next restore, shred a case that is still live and under
retention — an irreversible loss nobody approved. Replay cannot tell such a line from a
good one, because the restored (older) database never shows the purge either way. The
order we chose leaves one gap: a crash between the commit and the ledger write. It is
closed by ``sync_ledger`` (run by ``retention status`` and before each backup should be
taken): every purged case in the database without a ledger line gets one, signed then.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from audit import signing
from audit.trail import keys_dir, record
from protection import accounts, policy
from protection.db import db
from protection.fields import destroy_data_key, utcnow
from protection.identity import User

from . import workflow
from .models import Case
from .operations import CaseError, today

LEDGER_NAME = "purge-ledger.jsonl"
PRIVATE_NAME = "purge-ledger.key"
PUBLIC_NAME = "purge-ledger.pub"

FINAL_STATES = sorted({state for flow in workflow.CASE_WORKFLOWS.values() for state in flow.final})
RETENTION_SETTINGS = {"review": "HOSO_RETENTION_YEARS_REVIEW", "petition": "HOSO_RETENTION_YEARS_PETITION"}


class LedgerTampered(RuntimeError):
    """The purge ledger does not verify: replay refuses it as a whole."""


# --- dates -----------------------------------------------------------------------------------

def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def retention_years(kind: str) -> int:
    return current_app.config[RETENTION_SETTINGS[kind]]


def retention_ends_on(case: Case) -> date | None:
    if case.closed_on is None or case.state not in FINAL_STATES:
        return None
    return add_years(case.closed_on, retention_years(case.kind))


def _past_retention_clause(on: date):
    """SQL: closed cases whose retention ended on or before `on`, per kind."""
    return or_(*(and_(Case.kind == kind, Case.closed_on <= add_years(on, -current_app.config[setting]))
                 for kind, setting in RETENTION_SETTINGS.items()))


# --- archiving --------------------------------------------------------------------------------

def archivable_ids(on: date | None = None) -> list[uuid.UUID]:
    cut_off = (on or today()).toordinal() - current_app.config["HOSO_ARCHIVE_AFTER_DAYS"]
    return list(db.session.scalars(
        select(Case.id).where(Case.state.in_(FINAL_STATES), Case.closed_on.is_not(None),
                              Case.closed_on <= date.fromordinal(cut_off), Case.archived_on.is_(None))
        .order_by(Case.closed_on, Case.id)))


def archive(case_ids: list[uuid.UUID], progress=lambda n: None) -> int:
    """Mark these cases archived today; one audit entry per case. Idempotent: a case
    already archived is skipped. Flushes, the caller commits."""
    archived = 0
    on = today()
    for case_id in case_ids:
        case = db.session.get(Case, case_id)
        if case is not None and case.archived_on is None and case.state in FINAL_STATES:
            case.archived_on = on
            record("case.archive", target_type="case", target_id=case.id, closed_on=case.closed_on.isoformat())
            archived += 1
        progress(1)
    db.session.flush()
    return archived


def require_not_archived(case: Case) -> None:
    if case.purged_at is not None:
        raise CaseError(_("Nội dung hồ sơ này đã bị hủy theo thời hạn lưu trữ; không thể thay đổi."))
    if case.archived_on is not None:
        raise CaseError(_("Hồ sơ đã được lưu trữ và chỉ có thể xem; không thể thay đổi."))


# --- retention --------------------------------------------------------------------------------

@dataclass(frozen=True)
class DueRow:
    id: uuid.UUID
    reference: str
    kind: str
    closed_on: date
    retention_ends_on: date


def past_retention(user: User, on: date | None = None) -> list[DueRow]:
    """Cases of the user's scope (and clearance) whose retention has run out and which
    are not purged yet: numbers and references only."""
    on = on or today()
    rows = db.session.execute(
        select(Case.id, Case.reference, Case.kind, Case.closed_on, Case.classification)
        .where(Case.owner_unit_id.in_(policy.unit_scope(user)), Case.state.in_(FINAL_STATES),
               Case.closed_on.is_not(None), Case.purged_at.is_(None), _past_retention_clause(on))
        .order_by(Case.closed_on, Case.reference)).all()
    return [DueRow(row.id, row.reference, row.kind, row.closed_on,
                   add_years(row.closed_on, retention_years(row.kind)))
            for row in rows if policy.cleared_for(user, row.classification)]


def load_for_purge(case_id: uuid.UUID, user: User) -> Case:
    """The case, if the supervisor's scope and clearance reach it; 404 otherwise."""
    case = db.session.get(Case, case_id)
    if (case is None or case.owner_unit_id not in policy.unit_scope(user)
            or not policy.cleared_for(user, case.classification) or policy.is_recused(user, case)):
        policy.deny("retention.manage", status=404)
    return case


def purge(case: Case, *, by: User, secret: str, reference_typed: str) -> int:
    """Crypto-shred the case. Refused unless its retention has run out and the supervisor
    confirmed twice: re-authenticated and typed the reference. Audited in the request's
    transaction; the caller commits, then calls ``append_to_ledger``."""
    if case.purged_at is not None:
        raise CaseError(_("Hồ sơ này đã được hủy nội dung."))
    ends = retention_ends_on(case)
    if ends is None or ends > today():
        raise CaseError(_("Hồ sơ còn trong thời hạn lưu trữ; chưa được hủy."))
    if (reference_typed or "").strip() != case.reference:
        raise CaseError(_("Số hồ sơ nhập lại không khớp."), field="reference")
    # Re-authentication last: a refused purge consumes no TOTP code and counts no failure.
    try:
        accounts.confirm_identity(by, secret, purpose="case_purge")
    except accounts.AccountError as error:
        raise CaseError(error.message, field="secret") from None
    return _shred(case, by_id=by.id, at=utcnow(), actor=by)


def _shred(case: Case, *, by_id: uuid.UUID | None, at: datetime, actor=None, replayed: bool = False) -> int:
    rows = destroy_data_key(db.session, case.data_key_id) if case.data_key_id else 0
    db.session.expire(case, ["data_key_id"])  # the UPDATE above already cleared it
    case.purged_at = at
    case.purged_by_id = by_id
    case.archived_on = case.archived_on or today()
    detail = {"rows": rows}
    if replayed:
        detail["replayed"] = True
    record("case.purge", target_type="case", target_id=case.id, actor=actor, reference=case.reference, **detail)
    db.session.flush()
    return rows


# --- the signed ledger ---------------------------------------------------------------------------

def ledger_path() -> Path:
    return Path(current_app.instance_path) / LEDGER_NAME


def _content(entry: dict) -> bytes:
    body = {key: entry[key] for key in ("v", "case", "reference", "purged_at", "approver")}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _line(case: Case) -> str:
    key = signing.ensure_signing_key(keys_dir(), PRIVATE_NAME, PUBLIC_NAME)
    entry = {"v": 1, "case": str(case.id), "reference": case.reference,
             "purged_at": case.purged_at.astimezone(UTC).isoformat(timespec="microseconds"),
             "approver": str(case.purged_by_id) if case.purged_by_id else None}
    entry["key"] = signing.key_id(key.public_key())
    entry["sig"] = base64.urlsafe_b64encode(key.sign(_content(entry))).decode("ascii")
    return json.dumps(entry, sort_keys=True, separators=(",", ":"))


def append_to_ledger(cases: list[Case]) -> None:
    """Append one signed line per purged case and fsync: the purge must survive a crash
    of this machine as well as a restore of the database."""
    if not cases:
        return
    lines = "".join(_line(case) + "\n" for case in cases)
    path = ledger_path()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, lines.encode("utf-8"))  # one write of whole lines: O_APPEND keeps them apart
        os.fsync(fd)
    finally:
        os.close(fd)


def read_ledger(path: Path | None = None) -> list[dict]:
    """Every entry, each signature verified; LedgerTampered on the first that is not."""
    path = path or ledger_path()
    if not path.exists():
        return []
    public_key = signing.load_public_key(keys_dir(), PRIVATE_NAME, PUBLIC_NAME)
    entries = []
    for number, text in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            entry = json.loads(text)
            uuid.UUID(entry["case"])
            content = _content(entry)
            signature = base64.urlsafe_b64decode(entry["sig"])
        except (ValueError, KeyError, TypeError):
            raise LedgerTampered(f"purge ledger {path}: line {number} is not a ledger entry") from None
        if public_key is None:
            raise LedgerTampered(f"purge ledger {path}: the key {PUBLIC_NAME} is missing from {keys_dir()}")
        if entry.get("key") != signing.key_id(public_key):
            raise LedgerTampered(f"purge ledger {path}: line {number} was signed by another key")
        try:
            public_key.verify(signature, content)
        except InvalidSignature:
            raise LedgerTampered(f"purge ledger {path}: line {number} has a bad signature (tampered)") from None
        entries.append(entry)
    return entries


def replay_purge_ledger(session: Session | None = None) -> int:
    """After a restore: shred again every case the ledger lists that the restored database
    still holds with a data key; returns how many were shredded. Refuses a ledger that
    does not verify (LedgerTampered) before changing anything. Commits."""
    session = session or db.session
    entries = read_ledger()
    shredded = 0
    for entry in entries:
        case = session.get(Case, uuid.UUID(entry["case"]))
        if case is None or (case.data_key_id is None and case.purged_at is not None):
            continue
        approver = uuid.UUID(entry["approver"]) if entry.get("approver") else None
        if approver is not None and session.get(User, approver) is None:
            approver = None
        _shred(case, by_id=approver, at=datetime.fromisoformat(entry["purged_at"]), replayed=True)
        shredded += 1
    session.commit()
    return shredded


def sync_ledger() -> int:
    """Purged cases the ledger misses (a crash between commit and append): append them."""
    listed = {entry["case"] for entry in read_ledger()}
    missing = [case for case in db.session.scalars(select(Case).where(Case.purged_at.is_not(None))
                                                   .order_by(Case.purged_at))
               if str(case.id) not in listed]
    append_to_ledger(missing)
    return len(missing)


def status_counts(on: date | None = None) -> dict[str, int]:
    on = on or today()
    closed = Case.state.in_(FINAL_STATES)
    count = lambda *where: db.session.scalar(select(func.count()).select_from(Case).where(*where))  # noqa: E731
    return {
        "closed": count(closed),
        "archived": count(Case.archived_on.is_not(None), Case.purged_at.is_(None)),
        "past_retention": count(closed, Case.closed_on.is_not(None), Case.purged_at.is_(None),
                                _past_retention_clause(on)),
        "purged": count(Case.purged_at.is_not(None)),
    }
