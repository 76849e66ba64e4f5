"""Pages read without the write lock; writes keep it; a request that cannot get the database
in time is answered 503 in the app's layout, with nothing written (issue 19).

Everything here goes through the real app and a real second connection to the same database:
a raw sqlite3 connection (or psycopg on PostgreSQL) plays "another gunicorn worker"."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import psycopg
import pytest
from flask import before_render_template
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from audit.service import run_verification
from audit.trail import record
from cases.models import Comment
from protection.clock import utcnow
from protection.db import db
from protection.sessions import AuthSession
from tests.conftest import audit_entries, logger_into_caplog, sequenced
from tests.factories import count_rows
from tests.pages import create_subject_by_form, hidden, open_review_by_form, text_of

COMMENT = "Đã đối chiếu lý lịch với hồ sơ gốc"


@pytest.fixture(autouse=True)
def _settings(app_config):
    app_config["HOSO_LOGIN_RATE_LIMIT"] = "1000 per minute"
    app_config["HOSO_DATABASE_WAIT_SECONDS"] = 0.3  # a short wait, so a refusal comes quickly


@pytest.fixture
def officer(login_as):
    return login_as("officer")


@pytest.fixture
def case_id(client, officer):
    return open_review_by_form(client, create_subject_by_form(client))


def database_url(app) -> str:
    with app.app_context():
        return db.engine.url.render_as_string(hide_password=False)


def is_sqlite(app) -> bool:
    return database_url(app).startswith("sqlite")


@contextmanager
def during_render(app, act) -> Iterator[list]:
    """Run `act()` while the app renders a page, i.e. mid-request, after the view's reads and
    before the unit of work commits; what it returns (or raises) is collected."""
    outcomes: list = []

    def hook(_sender, **_context):
        if not outcomes:
            try:
                outcomes.append(act())
            except Exception as error:  # noqa: BLE001 - the test inspects it
                outcomes.append(error)

    before_render_template.connect(hook, app)
    try:
        yield outcomes
    finally:
        before_render_template.disconnect(hook, app)


def try_sqlite_write_lock(path: str) -> str:
    """From another connection: take and release SQLite's write lock without waiting."""
    connection = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return "free"
    except sqlite3.OperationalError as error:
        return str(error)
    finally:
        connection.close()


@contextmanager
def database_held(app) -> Iterator[None]:
    """Another session holds what every audited request needs: SQLite's write lock or, on
    PostgreSQL (where recording takes no chain-head lock since issue 22), a lock that the
    INSERT of audit entries waits for: SHARE on audit_entries, as a CREATE INDEX without
    CONCURRENTLY takes."""
    url = make_url(database_url(app))
    if url.get_backend_name() == "sqlite":
        connection = sqlite3.connect(url.database, timeout=0, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as connection:
        connection.execute("LOCK TABLE audit_entries IN SHARE MODE")
        yield
        connection.rollback()


# --- reads do not hold the write lock --------------------------------------------------------

def test_a_page_reads_without_holding_the_write_lock_and_still_commits_its_entry(app, client, case_id):
    if not is_sqlite(app):
        pytest.skip("SQLite's single write lock; PostgreSQL readers never lock")
    path = make_url(database_url(app)).database
    before = len(audit_entries(app, "case.view"))
    with during_render(app, lambda: try_sqlite_write_lock(path)) as outcomes:
        response = client.get(f"/cases/{case_id}")
    assert response.status_code == 200
    assert outcomes == ["free"]  # another worker could write while this page was being drawn
    assert len(audit_entries(app, "case.view")) == before + 1


def test_a_session_touch_due_is_written_at_commit_not_while_the_page_reads(
        app, client, officer, case_id, age_sessions):
    if not is_sqlite(app):
        pytest.skip("SQLite's single write lock")
    path = make_url(database_url(app)).database
    age_sessions(officer, idle_minutes=5)  # the last-seen time is due for a touch
    with during_render(app, lambda: try_sqlite_write_lock(path)) as outcomes:
        assert client.get(f"/cases/{case_id}").status_code == 200
    assert outcomes == ["free"]
    with app.app_context():
        last_seen = db.session.scalar(select(func.max(AuthSession.last_seen_at))
                                      .where(AuthSession.user_id == officer.id))
    assert utcnow() - last_seen < timedelta(minutes=1)


def test_a_form_post_holds_the_write_lock_from_its_start(app, client, case_id):
    if not is_sqlite(app):
        pytest.skip("SQLite's single write lock")
    path = make_url(database_url(app)).database
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    with during_render(app, lambda: try_sqlite_write_lock(path)) as outcomes:
        # An empty comment: the form comes back with its error, drawn inside the write transaction.
        response = client.post(f"/cases/{case_id}/comments", data={
            "csrf_token": hidden(page, "csrf_token"), "version": hidden(page, "version"), "body": ""})
    assert response.status_code in (200, 400)
    assert len(outcomes) == 1 and "locked" in outcomes[0]


def test_a_page_whose_snapshot_went_stale_links_its_entry_after_the_newer_one(app, client, case_id):
    """Another worker appends to the audit chain while this page is drawn: the page's entry
    must link to that newer head, not to the one its snapshot saw."""

    def another_worker_appends():
        def work():
            with app.app_context():
                record("test.other_worker", target_type="case", target_id=case_id)
                db.session.commit()
                db.session.remove()

        thread = threading.Thread(target=work)
        thread.start()
        thread.join(timeout=30)
        return "appended"

    with during_render(app, another_worker_appends) as outcomes:
        response = client.get(f"/cases/{case_id}")
    assert response.status_code == 200
    assert outcomes == ["appended"]
    sequenced(app)  # PostgreSQL: the sequencer links them (in transaction order)
    with app.app_context():
        report = run_verification()
    assert report.ok and report.pending == 0, report.summary()
    actions = [entry.action for entry in audit_entries(app)]
    assert actions[-2:] == ["test.other_worker", "case.view"]


# --- a database out of reach: 503, nothing written ---------------------------------------------

def test_a_write_that_cannot_get_the_database_in_time_gets_a_503_page_and_writes_nothing(
        app, client, case_id, caplog):
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    comments_before = count_rows(app, Comment)
    entries_before = len(audit_entries(app))
    with logger_into_caplog(caplog, "hoso"), database_held(app):
        response = client.post(f"/cases/{case_id}/comments", data={
            "csrf_token": hidden(page, "csrf_token"), "version": hidden(page, "version"), "body": COMMENT})
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    body = text_of(response)
    assert "Hệ thống đang bận" in body and "chưa có gì được lưu" in body
    assert 'class="navbar' in response.get_data(as_text=True)  # the app's layout, not a bare page
    reference = re.search(r"\b[0-9A-F]{8}\b", body)
    assert reference is not None
    assert "Traceback" not in body and COMMENT not in body
    busy_lines = [r for r in caplog.records if "database busy" in r.getMessage()]
    assert busy_lines and busy_lines[0].request_id == reference.group(0)
    assert COMMENT not in caplog.text
    assert count_rows(app, Comment) == comments_before
    assert len(audit_entries(app)) == entries_before
    # Once the other worker lets go, the same form goes through.
    response = client.post(f"/cases/{case_id}/comments", data={
        "csrf_token": hidden(page, "csrf_token"), "version": hidden(page, "version"), "body": COMMENT})
    assert response.status_code == 302
    assert count_rows(app, Comment) == comments_before + 1


def test_a_page_whose_entry_cannot_be_written_in_time_is_not_shown(app, client, case_id):
    subject_name = "Nguyễn Văn An"  # the dossier the review is about (tests/pages.py)
    assert subject_name in text_of(client.get(f"/cases/{case_id}"))
    views_before = len(audit_entries(app, "case.view"))
    with database_held(app):
        response = client.get(f"/cases/{case_id}")
    assert response.status_code == 503
    assert "Hệ thống đang bận" in text_of(response)
    assert subject_name not in text_of(response)
    assert len(audit_entries(app, "case.view")) == views_before
    sequenced(app)
    with app.app_context():
        report = run_verification()
    assert report.ok and report.pending == 0, report.summary()
