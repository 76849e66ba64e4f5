"""The audit tables — the entries, the links that chain them (issue 22) and the signed
checkpoints — are append-only in the database itself: UPDATE and DELETE (and TRUNCATE on
PostgreSQL) are refused by triggers, through the app's own connection, with a plain message
naming the operation and the table — and the trail still verifies."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from audit.models import AuditEntry, AuditLink, Checkpoint
from audit.service import run_verification
from protection.db import db
from tests.conftest import audit_entries, audit_links, sequenced_all

TABLES = {"audit_entries": AuditEntry, "audit_links": AuditLink, "audit_checkpoints": Checkpoint}
# A column each, whose new value is not echoed in the refusal.
COLUMNS = {"audit_entries": "detail", "audit_links": "entry_hash", "audit_checkpoints": "entry_hash"}


@pytest.fixture
def some_trail(app, make_user, sign_in, runner):
    officer = make_user("officer")
    assert sign_in(officer, password="Khong-phai-mat-khau-9").status_code == 200
    assert sign_in(officer).status_code == 302
    sequenced_all(app)  # PostgreSQL: the links are the sequencer's
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    entries = audit_entries(app)
    assert len(entries) >= 3 and len(audit_links(app)) == len(entries)
    return entries


def first_key(app, model):
    """The primary key of the table's first row: a row trigger fires only for rows there are."""
    key = model.__table__.primary_key.columns[0]
    with app.app_context():
        value = db.session.scalar(select(key).order_by(key).limit(1))
        db.session.commit()
    assert value is not None
    return key, value


def trail_rows(app) -> list[tuple]:
    """Every row of the three tables, as it stands."""
    with app.app_context():
        rows = [tuple(row) for model in TABLES.values()
                for row in db.session.execute(select(model.__table__).order_by(*model.__table__.primary_key))]
        db.session.commit()
    return rows


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
    column = model.__table__.c[COLUMNS[table]]
    message = refused(app, update(model).values({column: "0" * 64}), "UPDATE", table)
    assert "0" * 64 not in message  # the refused values are not echoed
    key, value = first_key(app, model)
    refused(app, update(model).where(key == value).values({column: "1" * 64}), "UPDATE", table)


@pytest.mark.parametrize("table", TABLES)
def test_delete_is_refused(app, some_trail, table):
    refused(app, delete(TABLES[table]), "DELETE", table)
    key, value = first_key(app, TABLES[table])
    refused(app, delete(TABLES[table]).where(key == value), "DELETE", table)


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
        db.session.delete(db.session.get(AuditEntry, some_trail[1].id))
        with pytest.raises(DBAPIError, match="append-only: DELETE on audit_entries refused"):
            db.session.commit()
        db.session.rollback()


def test_a_link_changed_or_deleted_through_the_orm_is_refused(app, some_trail):
    with app.app_context():
        first, second = db.session.scalars(select(AuditLink).order_by(AuditLink.seq).limit(2)).all()
        first.entry_id = -1  # pointed at another entry
        with pytest.raises(DBAPIError, match="append-only: UPDATE on audit_links refused"):
            db.session.commit()
        db.session.rollback()
        db.session.delete(db.session.get(AuditLink, second.seq))
        with pytest.raises(DBAPIError, match="append-only: DELETE on audit_links refused"):
            db.session.commit()
        db.session.rollback()


def test_nothing_changed_and_the_trail_still_verifies(app, some_trail):
    before = trail_rows(app)
    for table, model in TABLES.items():
        refused(app, update(model).values({COLUMNS[table]: "1" * 64}), "UPDATE", table)
        refused(app, delete(model), "DELETE", table)
        if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
            refused(app, text(f"TRUNCATE {table}"), "TRUNCATE", table)
    assert trail_rows(app) == before
    with app.app_context():
        report = run_verification()
    assert report.ok, report.summary()
    assert (report.entries_checked, report.pending) == (len(some_trail), 0)


def test_appending_is_still_allowed(app, some_trail, sign_in, make_user):
    user = make_user("officer")
    assert sign_in(user).status_code == 302
    assert len(audit_entries(app)) > len(some_trail)
    sequenced_all(app)  # and linking: the links only grow
    links = audit_links(app)
    assert [link.seq for link in links] == list(range(1, len(audit_entries(app)) + 1))
    with app.app_context():
        report = run_verification()
    assert report.ok and report.entries_checked == len(links), report.summary()
