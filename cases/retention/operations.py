"""Archiving, retention and purging of closed cases (issue 8, part 2).

A closed case becomes *archived* (read-only) HOSO_ARCHIVE_AFTER_DAYS after it closed. Once
its retention period (per kind, counted from closing) has run out, a supervisor of its
scope may *purge* it: the case's data key is destroyed (crypto-shredding), so every text
sealed under it — title, summary, findings, conclusions, comments, files — can never be
opened again. The plain columns stay: reference, kind, state, dates, outcome categories,
and the audit trail.

A purge must also reach backups taken before it. Each purge appends a line to the purge
ledger, ``instance/purge-ledger.jsonl`` — outside the database, so it is not rolled back by
a restore; cases/purge_ledger.py says how it is chained and signed. ``replay_purge_ledger``
runs after a restore and shreds again every listed case the restored database still holds
a key for.

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

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from audit.trail import record
from cases import workflow
from cases.casework.operations import CaseError, today
from cases.models import Case
from cases.retention import purge_ledger
from cases.retention.purge_ledger import (  # noqa: F401 - the ledger's names, as callers knew them here
    LEDGER_NAME,
    PRIVATE_NAME,
    PUBLIC_NAME,
    LedgerOutdated,
    LedgerTampered,
    ledger_path,
)
from protection import accounts, policy
from protection.backup.format import BackupError
from protection.clock import utcnow
from protection.db import db
from protection.identity import User
from protection.sealing import destroy_data_key

FINAL_STATES = sorted({state for flow in workflow.CASE_WORKFLOWS.values() for state in flow.final})
RETENTION_SETTINGS = {"review": "HOSO_RETENTION_YEARS_REVIEW", "petition": "HOSO_RETENTION_YEARS_PETITION"}


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


def purged_case(case_id: uuid.UUID) -> Case:
    """What is left of a purged case (reference, kind, dates), for the page it answers with."""
    return db.session.get(Case, case_id)


def load_for_purge(case_id: uuid.UUID, user: User) -> Case:
    """The case, if the supervisor's scope and clearance reach it; 404 otherwise."""
    case = db.session.get(Case, case_id)
    if (case is None or case.owner_unit_id not in policy.unit_scope(user)
            or not policy.cleared_for(user, case.classification) or policy.is_recused(user, case)):
        policy.deny("retention.manage", status=404)
    return case


def purge(case: Case, *, by: User, secret: str, reference_typed: str, assertion: str | None = None) -> int:
    """Crypto-shred the case. Refused unless its retention has run out and the supervisor
    confirmed twice: re-authenticated and typed the reference. Audited in the request's
    transaction; the caller commits, then calls ``append_to_ledger``. A refusal is audited
    too (outcome "failure", with the reason's code; the view does not roll it back): an
    attempt to destroy a case's content is as much the auditors' business as a purge that
    went through."""
    ends = retention_ends_on(case)
    if case.purged_at is not None:
        refusal = ("already_purged", CaseError(_("Hồ sơ này đã được hủy nội dung.")))
    elif ends is None or ends > today():
        refusal = ("under_retention", CaseError(_("Hồ sơ còn trong thời hạn lưu trữ; chưa được hủy.")))
    elif (reference_typed or "").strip() != case.reference:
        refusal = ("reference_mismatch", CaseError(_("Số hồ sơ nhập lại không khớp."), field="reference"))
    else:
        # Re-authentication last: a refused purge consumes no TOTP code and counts no failure.
        # A wrong secret is counted and audited by accounts.recheck in a transaction of its
        # own; LockedOut passes through to the web layer, which signs the browser out.
        try:
            accounts.confirm_identity(by, secret, purpose="case_purge", target=str(case.id), assertion=assertion)
        except accounts.AccountError as error:
            refusal = ("identity_not_confirmed", CaseError(error.message, field="secret"))
        else:
            return _shred(case, by_id=by.id, at=utcnow(), actor=by)
    reason, error = refusal
    record("case.purge", target_type="case", target_id=case.id, actor=by, outcome="failure",
           reference=case.reference, reason=reason)
    raise error


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


# --- the purge ledger (cases/purge_ledger.py) ----------------------------------------------------

def append_to_ledger(cases: list[Case]) -> None:
    """Append one chained, signed line per purged case and fsync: the purge must survive a
    crash of this machine as well as a restore of the database."""
    if cases:
        purge_ledger.append([(case.id, case.reference, case.purged_at, case.purged_by_id) for case in cases])


def read_ledger(path: Path | None = None) -> list[dict]:
    """Every entry of the verified ledger; LedgerTampered if it does not verify or does not
    reach the head this database recorded."""
    return purge_ledger.read(path).entries


def replay_purge_ledger(session: Session | None = None, *, progress=lambda n: None) -> int:
    """After a restore: shred again every case the ledger lists that the restored database
    still holds with a data key; returns how many were shredded. Refuses a ledger that
    does not verify (LedgerTampered) before changing anything, and records the head it
    reached. Commits."""
    session = session or db.session
    ledger = purge_ledger.read()
    shredded = 0
    for entry in ledger.entries:
        case = session.get(Case, uuid.UUID(entry["case"]))
        if case is not None and not (case.data_key_id is None and case.purged_at is not None):
            approver = uuid.UUID(entry["approver"]) if entry.get("approver") else None
            if approver is not None and session.get(User, approver) is None:
                approver = None
            _shred(case, by_id=approver, at=datetime.fromisoformat(entry["purged_at"]), replayed=True)
            shredded += 1
        progress(1)
    purge_ledger.record_head(ledger.head, session)
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


# --- the ledger in init, backups and restores (protection.signals) -----------------------------------

def on_instance_initialised(_app, keys_dir: Path) -> str:
    made = purge_ledger.ensure_ledger()
    return (f"{'Wrote' if made else 'Using'} the purge ledger {ledger_path()} and its signing key "
            f"{keys_dir / PRIVATE_NAME} (keep both beside every backup).")


def on_backup_starting(_app) -> dict:
    """The backup records the head of the ledger it was taken under, after the ledger has
    caught up with the database (sync_ledger), with the key made if it was not yet."""
    try:
        purge_ledger.ensure_ledger()
        sync_ledger()
        head = purge_ledger.read().head
    except LedgerTampered as error:
        db.session.rollback()
        raise BackupError(f"{error}: no backup taken, as it could not record the ledger's head") from None
    return {"purge_ledger": head.as_record()}


def on_restore_checking(_app, anchors: dict, never_purged: bool) -> None:
    """Before any row is restored: the ledger beside the instance must verify and extend
    the head the backup was taken under. Without a ledger the restore is refused (a purge
    made after the backup would come back), unless the operator states no case was ever
    purged and the backup agrees."""
    recorded = purge_ledger.LedgerHead.from_record(anchors["purge_ledger"]) if "purge_ledger" in anchors \
        else purge_ledger.EMPTY
    path = ledger_path()
    if not path.exists():
        if recorded.position:
            raise BackupError(f"the backup was taken after {recorded.position} purge(s) and there is no purge "
                              f"ledger at {path}: copy the newest {LEDGER_NAME} of the backed-up installation there")
        if not never_purged:
            raise BackupError(f"there is no purge ledger at {path}: copy the newest {LEDGER_NAME} of the backed-up "
                              "installation there, or restore with --never-purged if no case was ever purged in it")
        return
    try:
        purge_ledger.read(path, expect=recorded, whose="the backup")
    except LedgerTampered as error:
        raise BackupError(f"the purge ledger is refused, nothing was restored: {error}") from None


def on_restore_loaded(_app, progress_bar) -> tuple[str, dict]:
    try:
        total = len(purge_ledger.read().entries)
        with progress_bar("Replaying the purge ledger", total) as bar:
            shredded = replay_purge_ledger(db.session, progress=bar.update)
    except LedgerTampered as error:
        db.session.rollback()
        raise BackupError(f"the purge ledger was not replayed: {error}") from None
    return f"Purge ledger replayed: {shredded} purged case(s) shredded again.", {"reshredded": shredded}


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
