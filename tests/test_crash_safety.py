"""Crash safety: gunicorn (three workers) takes a bounded burst of audited writes over
loopback, is killed with SIGKILL (master and workers) mid-burst, and starts again on the
same database. Every comment whose redirect the client received in full is there, with
its audit entry (no comment without its `case.comment` entry, acknowledged or not), the
audit chain verifies, and the restarted server works as before.

Durability on SQLite: protection/db.py runs WAL with `PRAGMA synchronous=NORMAL`. A commit
then returns once its frames are written to the WAL file (in the OS page cache), before
any fsync: a power cut may lose the last transactions, but a killed process does not,
because the kernel still holds and later writes what was written; the next connection
replays the WAL. PostgreSQL, with its defaults (fsync on, synchronous_commit on), answers
a COMMIT only after its WAL record is flushed, and a killed client's open transactions
roll back. Each database is a scratch one of this test's own, so the suite's shared
database is never left behind half-written.
"""

from __future__ import annotations

import html
import http.client
import http.cookiejar
import os
import re
import signal
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from app import create_app
from audit.models import AuditEntry
from audit.service import run_verification
from audit.trail import detail_of
from cases.models import Comment
from protection import accounts
from protection.accounts import NewUser
from protection.db import db
from protection.schema import upgrade_schema
from tests import pages
from tests.conftest import PASSWORD, _config, post_form, scratch_postgresql_database, sequenced
from tests.servers import start_gunicorn

OFFICERS = 2
CLIENTS = 8
WRITES_PER_CLIENT = 40
KILL_AFTER = 60  # acknowledged writes, of at most CLIENTS * WRITES_PER_CLIENT
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SUCCESS = re.compile(r"^/cases/([0-9a-f-]{36})#comments$")


@pytest.fixture(params=["sqlite", "postgresql"])
def scratch_database_url(request, tmp_path):
    """A database of this test's own: a new SQLite file, or a new PostgreSQL database on
    the TEST_DATABASE_URL server, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crash.db'}"
        return
    with scratch_postgresql_database("hoso_crash", "set TEST_DATABASE_URL to a PostgreSQL database to run the crash test on it") as url:
        yield url


@pytest.fixture
def crash_app(scratch_database_url, tmp_path):
    application = create_app(_config(scratch_database_url, tmp_path / "instance"))
    with application.app_context():
        upgrade_schema()
        db.engine.dispose()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args, **_kwargs):
        return None  # a redirect is the answer itself: it says whether the write was taken


class Client:
    """One browser session over loopback: cookies, CSRF token, no redirects followed."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirects())

    def request(self, path: str, data: dict | None = None) -> tuple[int, str, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.base + path, data=body, timeout=30) as response:
                return response.status, response.read().decode(), ""
        except urllib.error.HTTPError as answer:  # 3xx and errors: read in full all the same
            with answer:
                try:
                    page = answer.read().decode()
                except http.client.IncompleteRead as cut:
                    # The kill landed between the headers and the body. The status line and
                    # Location arrived, and the server sends them only after its commit: that
                    # is the acknowledgement, whatever happens to the body.
                    page = cut.partial.decode(errors="replace")
                return answer.code, page, answer.headers.get("Location", "")

    def sign_in(self, username: str) -> None:
        _status, page, _ = self.request("/login")
        status, _page, _ = self.request("/login", {"csrf_token": CSRF.search(page).group(1),
                                                   "username": username, "password": PASSWORD})
        assert status == 302, status

    def form_of(self, case_id: str) -> dict:
        status, page, _ = self.request(f"/cases/{case_id}")
        assert status == 200, status
        return {"csrf_token": pages.hidden(page, "csrf_token"), "version": pages.hidden(page, "version")}


def _officers_with_a_case(application) -> list[tuple[str, str]]:
    """Officers, each with a review case of their own (opened through the app)."""
    with application.app_context():
        accounts.create_unit(code="BTCTU", name="Ban Tổ chức Tỉnh ủy", kind="organisation", parent_code=None, by=None)
        for number in range(OFFICERS):
            accounts.create_user(NewUser(f"canbo{number}", "Nguyễn Thị Kiểm Thử", "BTCTU", "officer", "secret"),
                                 password=PASSWORD, by=None, must_change_password=False)
        db.session.commit()
        db.session.remove()
    officers = []
    for number in range(OFFICERS):
        client = application.test_client()
        response = post_form(client, "/login", {"username": f"canbo{number}", "password": PASSWORD})
        assert response.status_code == 302
        subject = pages.create_subject_by_form(client, {**pages.AN, "id_number": f"00108000010{number}"})
        officers.append((f"canbo{number}", pages.open_review_by_form(client, subject)))
    return officers


def _burst(base: str, officers: list[tuple[str, str]], acknowledged: list[str], enough: threading.Event) -> list:
    """CLIENTS threads, each posting up to WRITES_PER_CLIENT comments; stops at the first
    failed connection (the kill). Returns what each thread saw go wrong, for the report."""
    lock = threading.Lock()

    def work(index: int) -> str:
        username, case_id = officers[index % len(officers)]
        client = Client(base)
        try:
            client.sign_in(username)
            form = client.form_of(case_id)
            for number in range(WRITES_PER_CLIENT):
                marker = f"crash-{index}-{number}-{uuid.uuid4().hex}"
                status, _page, location = client.request(f"/cases/{case_id}/comments", {**form, "body": marker})
                if status in (302, 303) and SUCCESS.match(location):
                    with lock:
                        acknowledged.append(marker)
                        if len(acknowledged) >= KILL_AFTER:
                            enough.set()
                elif status in (302, 303):  # the case moved on meanwhile: a fresh form, as a person would
                    form = client.form_of(case_id)
                else:
                    return f"HTTP {status}"
        except (OSError, http.client.HTTPException, AssertionError) as error:  # the server died under us: expected after the kill
            return type(error).__name__
        return "done"

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        return list(pool.map(work, range(CLIENTS)))


def _comments_and_their_audit(application) -> tuple[dict[str, uuid.UUID], set[str]]:
    """Every stored comment (decrypted through the models) and the comment ids the audit
    trail records as added."""
    with application.app_context():
        bodies = {comment.body: comment.id for comment in db.session.scalars(select(Comment))}
        audited = {str(detail_of(entry).get("comment"))
                   for entry in db.session.scalars(select(AuditEntry).where(AuditEntry.action == "case.comment"))}
    sequenced(application)  # PostgreSQL: whatever the killed sequencer had not linked yet
    with application.app_context():
        report = run_verification()
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    assert report.ok and report.pending == 0, report.summary()
    return bodies, audited


def test_acknowledged_writes_survive_a_sigkill_of_every_server_process(crash_app, scratch_database_url, tmp_path):
    officers = _officers_with_a_case(crash_app)
    with crash_app.app_context():
        db.engine.dispose()  # the server's workers have the database to themselves
    instance = tmp_path / "instance"  # the same as the in-process app: one instance, two entry points
    acknowledged: list[str] = []
    enough = threading.Event()
    log_path = tmp_path / "gunicorn.log"

    with open(log_path, "wb") as log_file:
        process, base = start_gunicorn(scratch_database_url, instance, log_file)
        try:
            over = threading.Event()

            def kill_mid_burst() -> None:
                while not (enough.wait(timeout=0.05) or over.is_set()):
                    continue  # poll until enough requests were acknowledged, or the test is over
                os.killpg(process.pid, signal.SIGKILL)  # master and workers, no chance to clean up

            killer = threading.Thread(target=kill_mid_burst)
            killer.start()
            try:
                outcomes = _burst(base, officers, acknowledged, enough)
            finally:
                over.set()
                killer.join()
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)

    assert enough.is_set(), (outcomes, log_path.read_text(errors="replace")[-3000:])
    assert "HTTP 5" not in " ".join(outcomes), outcomes
    assert len(acknowledged) < CLIENTS * WRITES_PER_CLIENT, "the kill came after the burst, not during it"

    bodies, audited = _comments_and_their_audit(crash_app)
    lost = [marker for marker in acknowledged if marker not in bodies]
    assert lost == [], f"{len(lost)} acknowledged comments lost"
    assert {str(comment_id) for comment_id in bodies.values()} == audited, "a comment without its audit entry"

    # The restarted server on the same database answers, and takes writes again.
    with open(log_path, "ab") as log_file:
        process, base = start_gunicorn(scratch_database_url, instance, log_file)
        try:
            username, case_id = officers[0]
            client = Client(base)
            client.sign_in(username)
            status, _page, location = client.request(
                f"/cases/{case_id}/comments", {**client.form_of(case_id), "body": "after-the-restart"})
            assert (status, bool(SUCCESS.match(location))) == (302, True)
            status, page, _ = client.request(f"/cases/{case_id}")
            assert status == 200 and "after-the-restart" in html.unescape(page)
        finally:
            process.terminate()
            process.wait(timeout=20)

    bodies_after, audited_after = _comments_and_their_audit(crash_app)
    assert set(bodies_after) == set(bodies) | {"after-the-restart"}
    assert len(audited_after) == len(audited) + 1
