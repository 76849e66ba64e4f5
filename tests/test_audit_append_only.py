"""The audit tables are append-only in the database itself: UPDATE and DELETE (and
TRUNCATE on PostgreSQL) are refused by triggers, through the app's own connection, with
a plain message naming the operation and the table — and the trail still verifies."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from audit.models import AuditEntry, Checkpoint
from audit.service import run_verification
from protection.db import db
from tests.conftest import audit_entries

TABLES = {"audit_entries": AuditEntry, "audit_checkpoints": Checkpoint}


@pytest.fixture
def some_trail(app, make_user, sign_in, runner):
    officer = make_user("officer")
    assert sign_in(officer, password="Khong-phai-mat-khau-9").status_code == 200
    assert sign_in(officer).status_code == 302
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    entries = audit_entries(app)
    assert len(entries) >= 3
    return entries


def refused(app, statement, operation: str, table: str) -> str:
    with app.app_context():
        with pytest.raises(DBAPIError) as caught:
            db.session.execute(statement)
            db.session.flush()
        db.session.rollback()
    message = str(caught.value.orig)
    assert f"the audit trail is append-only: {operation} on {table} refused" in message
    return message


@pytest.mark.parametrize("table", TABLES)
def test_update_is_refused(app, some_trail, table):
    model = TABLES[table]
    column = model.__table__.c.entry_hash
    message = refused(app, update(model).values({column: "0" * 64}), "UPDATE", table)
    assert "0" * 64 not in message  # the refused values are not echoed


@pytest.mark.parametrize("table", TABLES)
def test_delete_is_refused(app, some_trail, table):
    refused(app, delete(TABLES[table]), "DELETE", table)
    refused(app, delete(TABLES[table]).where(TABLES[table].seq == 1), "DELETE", table)


@pytest.mark.parametrize("table", TABLES)
def test_truncate_is_refused_on_postgresql(app, some_trail, database_url, table):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no TRUNCATE; DELETE without WHERE is refused above")
    refused(app, text(f"TRUNCATE {table}"), "TRUNCATE", table)


def test_an_entry_changed_or_deleted_through_the_orm_is_refused(app, some_trail):
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id).limit(1)).one()
        entry.outcome = "failure" if entry.outcome == "success" else "success"
        with pytest.raises(DBAPIError, match="append-only: UPDATE on audit_entries refused"):
            db.session.commit()
        db.session.rollback()
        db.session.delete(db.session.get(AuditEntry, 2))
        with pytest.raises(DBAPIError, match="append-only: DELETE on audit_entries refused"):
            db.session.commit()
        db.session.rollback()


def test_nothing_changed_and_the_trail_still_verifies(app, some_trail):
    for table, model in TABLES.items():
        refused(app, update(model).values(entry_hash="1" * 64), "UPDATE", table)
        refused(app, delete(model), "DELETE", table)
    after = audit_entries(app)
    assert [(e.seq, e.entry_hash, e.outcome) for e in after] == [(e.seq, e.entry_hash, e.outcome) for e in some_trail]
    with app.app_context():
        report = run_verification()
    assert report.ok, report.summary()
    assert report.entries_checked == len(some_trail)


def test_appending_is_still_allowed(app, some_trail, sign_in, make_user):
    user = make_user("officer")
    assert sign_in(user).status_code == 302
    assert len(audit_entries(app)) > len(some_trail)
