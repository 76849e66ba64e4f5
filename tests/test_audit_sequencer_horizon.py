"""The sequencer's horizon on PostgreSQL (audit/sequencer.py, _XMIN): a transaction still
running in Hoso's database holds back every entry recorded after it began (it could still
write an entry that sorts before them), but a transaction running in another database of the
same server cannot write an entry here, and does not hold the trail back. Transaction ids
are the whole server's: `pg_snapshot_xmin` alone let any other application's long
transaction stop Hoso's sequencing (found by `python -m bench.audit` on a shared server)."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from audit.models import AuditEntry, AuditLink
from audit.service import run_verification
from audit.trail import record
from protection.db import db
from tests.conftest import scratch_postgresql_database, sequenced

SKIP_REASON = "the sequencer runs on PostgreSQL only (SQLite links each entry as it records it)"


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _record_one(app, number: int) -> int:
    with app.app_context():
        record("bench.horizon", target_type="test", target_id=number)
        db.session.commit()
        return db.session.scalar(select(AuditEntry.id).where(AuditEntry.target_id == str(number)))


def _linked(app, entry_id: int) -> bool:
    with app.app_context():
        found = db.session.scalar(select(AuditLink.seq).where(AuditLink.entry_id == entry_id)) is not None
        db.session.rollback()
        return found


def test_a_transaction_in_another_database_does_not_hold_the_trail_back(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip(SKIP_REASON)
    sequenced(app)
    with scratch_postgresql_database("hoso_horizon", SKIP_REASON) as other_url, \
            psycopg.connect(_libpq(other_url)) as elsewhere:
        elsewhere.execute("SELECT pg_current_xact_id()")  # a transaction id, held open over there
        first = _record_one(app, 1)
        assert sequenced(app) >= 1
        assert _linked(app, first)

        with psycopg.connect(_libpq(app.config["SQLALCHEMY_DATABASE_URI"])) as here:
            here.execute("SELECT pg_current_xact_id()")  # one held open in Hoso's own database
            second = _record_one(app, 2)
            assert sequenced(app) == 0  # it could still record an entry that sorts before `second`
            assert not _linked(app, second)
            here.rollback()
        assert sequenced(app) == 1
        assert _linked(app, second)
        elsewhere.rollback()
    with app.app_context():
        report = run_verification()
    assert report.ok and report.pending == 0, report.summary()
