"""The audit trail's gauges for /metrics (protection/metrics.py), read when scraped."""

from __future__ import annotations

from protection.clock import utcnow
from protection.metrics import Reading

from .service import chain_status


def audit_readings() -> list[Reading]:
    """One statement (audit.service.chain_status): entries waiting for the sequencer and how
    long the oldest has waited (PostgreSQL; always 0 on SQLite, where entries are linked as
    they are recorded), and the age of the newest checkpoint."""
    status = chain_status()
    now = utcnow()
    oldest = status["pending_oldest"]
    readings = [
        Reading("hoso_audit_entries_pending", "Audit entries committed and not yet linked into the chain.",
                status["pending"] or 0),
        Reading("hoso_audit_sequencing_lag_seconds",
                "How long the oldest audit entry not yet linked has waited (0: none waiting).",
                max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0),
    ]
    head = status["head"]
    if head is not None and head.last_checkpoint_at is not None:
        readings.append(Reading("hoso_audit_last_checkpoint_age_seconds",
                                "Seconds since the newest signed audit checkpoint.",
                                max(0.0, (now - head.last_checkpoint_at).total_seconds())))
    return readings
