"""The audit trail's health, for `flask --app app doctor` and /readyz (protection/doctor.py asks
through hooks.DOCTOR_CHECKS and hooks.READINESS_CHECKS; registered in audit/setup.py).

* sequencing (PostgreSQL): entries are recorded in their action's transaction and linked into
  the chain after commit by the sequencer (issue 14). The oldest entry still waiting tells
  whether the sequencer runs; over HOSO_AUDIT_PENDING_WARN_SECONDS it is a failure, and
  /readyz says not ready. SQLite links each entry as it is recorded: nothing can wait.
* checkpoint: the newest signed checkpoint's age. Checkpoints are signed at the next entry
  after HOSO_AUDIT_CHECKPOINT_EVERY_MINUTES, so an idle trail has an old one and that is fine;
  entries beyond the newest checkpoint for more than twice that period are a warning.
"""

from __future__ import annotations

from flask import Flask

from protection.clock import utcnow
from protection.db import db
from protection.doctor import FAIL, OK, SKIP, WARN, Result

from .service import chain_status


def _minutes(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds:.0f} s" if seconds < 120 \
        else f"{seconds / 60:.0f} min"


def audit_sequencing(app: Flask) -> Result:
    if db.engine.dialect.name != "postgresql":
        return Result("audit_sequencing", SKIP, "SQLite links each entry as it is recorded")
    status = chain_status()
    if status["head"] is None:
        return Result("audit_sequencing", FAIL, "the audit chain has no head row: run `flask --app app init`")
    if not status["pending"]:
        return Result("audit_sequencing", OK, "no entry waiting for the sequencer")
    waited = (utcnow() - status["pending_oldest"]).total_seconds()
    detail = f"{status['pending']} entries waiting, the oldest for {_minutes(waited)}"
    if status["pending_late"]:
        limit = app.config["HOSO_AUDIT_PENDING_WARN_SECONDS"]
        return Result("audit_sequencing", FAIL, f"{detail} (over HOSO_AUDIT_PENDING_WARN_SECONDS={limit}: "
                      "is the audit sequencer running?)")
    return Result("audit_sequencing", OK, detail)


def audit_checkpoint(app: Flask) -> Result:
    status = chain_status()
    head, last = status["head"], status["last_checkpoint"]
    if head is None:
        return Result("audit_checkpoint", FAIL, "the audit chain has no head row: run `flask --app app init`")
    if last is None:
        if head.seq == 0:
            return Result("audit_checkpoint", OK, "no entry linked into the chain yet, so no checkpoint")
        return Result("audit_checkpoint", WARN, f"{head.seq} entries and no signed checkpoint yet")
    age = (utcnow() - last.signed_at).total_seconds()
    unsealed = head.seq - last.seq
    detail = f"newest at entry {last.seq}, signed {_minutes(age)} ago; {unsealed} entries after it"
    every = app.config["HOSO_AUDIT_CHECKPOINT_EVERY_MINUTES"]
    if unsealed and every and age > 2 * every * 60:
        return Result("audit_checkpoint", WARN, f"{detail} (over twice HOSO_AUDIT_CHECKPOINT_EVERY_MINUTES={every})")
    return Result("audit_checkpoint", OK, detail)


def ready(app: Flask) -> dict[str, bool]:
    """/readyz: on PostgreSQL, no entry has waited for the sequencer over the threshold."""
    if db.engine.dialect.name != "postgresql":
        return {}
    return {"audit_sequencing": not chain_status()["pending_late"]}
