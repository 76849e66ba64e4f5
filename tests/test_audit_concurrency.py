"""Concurrent appends from several OS processes — each with its own app and connection, as
gunicorn workers or several servers would be — never fork the chain or leave a gap. On
SQLite the appenders queue on the write lock (BEGIN IMMEDIATE) and link as they record. On
PostgreSQL they only insert entries, side by side, and the audit sequencer links them
(issue 22): here the real one runs meanwhile, as `flask audit sequence` or the one gunicorn
starts, and once it has linked everything the links run 1..N, one per entry. Rolled-back
appends leave no entry and no hole either."""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import func, select

from app import create_app
from audit.models import Checkpoint
from audit.service import chain_status, run_verification
from audit.trail import checkpoint_now, record
from protection import accounts
from protection.accounts import NewUser
from protection.db import db
from tests.conftest import audit_entries, audit_links, sequenced_all
from tests.servers import Browser

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 4
ROUNDS = 30

# A real server on loopback (the gunicorn_server fixture, tests/servers.py): several sync workers.


def _append_in_another_process(config: dict, worker: int, start, results) -> None:
    """One OS process: its own app, engine and connections. Waits for the others, then
    appends as fast as it can: audited changes, bare entries, rolled-back entries and
    checkpoints, each in a transaction of its own."""
    app = create_app(config)
    committed = 0
    try:
        with app.app_context():
            start.wait(timeout=60)
            for number in range(ROUNDS):
                if number % 5 == 4:
                    record("test.concurrent.abandoned", target_type="worker", target_id=worker)
                    db.session.rollback()  # its sequence number must be reused, not lost
                    continue
                if number % 3 == 0:
                    accounts.create_user(NewUser(f"w{worker}.n{number}", "Người Thử Song Song", "BTCTU", "officer"),
                                         password=None, by=None, must_change_password=True)
                else:
                    record("test.concurrent", target_type="worker", target_id=worker, round=number)
                if number % 7 == 0:
                    checkpoint_now()
                db.session.commit()
                committed += 1
            db.session.remove()
            db.engine.dispose()
    except Exception as error:  # reported to the test, which fails with it
        results.put((worker, f"{type(error).__name__}: {error}"[:300]))
        return
    results.put((worker, committed))


def assert_gap_free_and_verified(app) -> list:
    sequenced_all(app)  # PostgreSQL: whatever the sequencer had not linked yet
    entries = audit_entries(app)
    links = audit_links(app)
    assert [link.seq for link in links] == list(range(1, len(links) + 1)), "a gap or a duplicate"
    assert sorted(link.entry_id for link in links) == [entry.id for entry in entries], \
        "an entry without its link, or linked twice"
    assert len({link.prev_hash for link in links}) == len(links), "two links to the same one: a fork"
    with app.app_context():
        report = run_verification()
    assert report.ok and report.pending == 0, report.summary()
    assert report.entries_checked == len(entries)
    return entries


def on_postgresql(app) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


def wait_until_linked(app, timeout: float = 60) -> None:
    """Until a sequencer running elsewhere (gunicorn's) has linked every committed entry."""
    deadline = time.monotonic() + timeout
    while True:
        with app.app_context():
            pending = chain_status()["pending"]
            db.session.commit()
        if not pending:
            return
        assert time.monotonic() < deadline, f"{pending} entries still wait: is gunicorn's sequencer running?"
        time.sleep(0.1)


def test_appends_from_several_processes_leave_one_gap_free_chain(app, app_config, make_unit):
    make_unit()
    sequenced_all(app)  # PostgreSQL: a head to sign from the first round on
    before = len(audit_entries(app))
    sequencer = None
    if on_postgresql(app):  # the real sequencer, in small batches, polling often: many passes meet the appends
        env = _cli_env(app_config) | {"HOSO_AUDIT_SEQUENCE_BATCH": "7", "HOSO_AUDIT_SEQUENCE_POLL_MS": "10"}
        sequencer = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
            [sys.executable, "-m", "flask", "--app", "app", "audit", "sequence"], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        said = ""
        while "audit sequencer running" not in said:  # up before the appends start
            line = sequencer.stderr.readline()
            assert line, f"the sequencer stopped: {said}"
            said += line
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WORKERS)
    results = context.Queue()
    processes = [context.Process(target=_append_in_another_process, args=(app_config, worker, start, results))
                 for worker in range(WORKERS)]
    for process in processes:
        process.start()
    try:
        committed = dict(results.get(timeout=180) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=60)
        if sequencer is not None:
            sequencer.send_signal(signal.SIGTERM)  # it ends after the pass in progress
            output, errors = sequencer.communicate(timeout=60)
    assert all(process.exitcode == 0 for process in processes)
    if sequencer is not None:
        assert sequencer.returncode == 0, errors
        assert "Traceback" not in errors, errors
        linked = re.fullmatch(r"linked (\d+) audit entries\n", output)
        assert linked and int(linked.group(1)) > 0, (output, errors)  # it linked while the appends went on

    per_round = [n for n in range(ROUNDS) if n % 5 != 4]
    assert committed == {worker: len(per_round) for worker in range(WORKERS)}
    entries = assert_gap_free_and_verified(app)
    assert len(entries) == before + WORKERS * len(per_round)
    assert [e for e in entries if e.action == "test.concurrent.abandoned"] == []
    by_worker = {str(worker): sum(1 for e in entries if e.target_id == str(worker)) for worker in range(WORKERS)}
    assert by_worker == {str(worker): sum(1 for n in per_round if n % 3) for worker in range(WORKERS)}
    with app.app_context():
        checked = run_verification().checkpoints_checked
        stored = db.session.scalar(select(func.count()).select_from(Checkpoint))
        db.session.commit()
    assert checked == stored, "every checkpoint signed meanwhile is on the chain and verifies"
    # On SQLite each process signs a head no one signed yet. On PostgreSQL a process signs
    # the head only if the sequencer has moved it since the last signature.
    assert checked >= (1 if on_postgresql(app) else 1 + WORKERS)


def test_a_verification_holds_up_no_one(app, make_user, sign_in):
    """Verification reads on a connection of its own, in one snapshot: the app keeps
    appending meanwhile (on SQLite it takes no write lock, where every app transaction
    does), and what was appended after it began is the next verification's."""
    user = make_user("officer")
    sequenced_all(app)
    before = len(audit_entries(app))
    during = []

    def progress(_count: int) -> None:
        if not during:  # mid-verification: its read transaction is open
            during.append(sign_in(user).status_code)

    with app.app_context():
        report = run_verification(progress=progress)
    assert during == [302], "the sign-in waited for the verification, or failed"
    assert report.ok, report.summary()
    assert report.entries_checked == before
    entries = assert_gap_free_and_verified(app)
    assert entries[-1].action == "auth.signed_in"


def _cli_env(app_config: dict) -> dict:
    """The test app's settings as the environment of a `flask --app app` process."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HOSO_")}
    env.update({key: str(value) for key, value in app_config.items()
                if key.startswith("HOSO_") and key != "HOSO_ARGON2_PROFILE"})  # that one is for TESTING only
    env["HOSO_SECRET_KEY"] = app_config["SECRET_KEY"]
    return env


def test_sign_ins_on_several_gunicorn_workers_and_cli_checkpoints_leave_one_chain(
        app, app_config, gunicorn_server, make_user, runner):
    base, log = gunicorn_server
    users = [make_user("officer") for _ in range(4)]
    if on_postgresql(app):  # the sequencer gunicorn started links them: a head to sign
        wait_until_linked(app)

    def work(index: int) -> list[int]:
        user = users[index % len(users)]
        browser = Browser(base)
        statuses = [Browser(base).sign_in(user.username, "Khong-dung-mat-khau-0"),
                    browser.sign_in(user.username, user.password)]
        statuses.append(browser.request("/admin/users")[0])  # refused: recorded in its own transaction
        statuses.append(browser.request("/audit/")[0])
        return statuses

    def checkpoints() -> list[int]:
        codes = []
        for _ in range(3):
            done = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
                [sys.executable, "-m", "flask", "--app", "app", "audit", "checkpoint"],
                cwd=ROOT, env=_cli_env(app_config), capture_output=True, timeout=120, check=False)
            codes.append(done.returncode)
        return codes

    with ThreadPoolExecutor(max_workers=9) as pool:
        cli = pool.submit(checkpoints)
        results = list(pool.map(work, range(16)))
        cli_codes = cli.result()

    server_log = log.read_text()
    assert "Traceback" not in server_log and "database is locked" not in server_log, server_log[-3000:]
    assert all(codes == [200, 200, 403, 403] for codes in results), results  # redirects followed
    assert cli_codes == [0, 0, 0]

    if on_postgresql(app):
        wait_until_linked(app)  # by gunicorn's sequencer, not this test's passes
    entries = assert_gap_free_and_verified(app)
    count = {action: sum(1 for e in entries if e.action == action)
             for action in ("auth.login.failed", "auth.signed_in", "access.denied")}
    assert count == {"auth.login.failed": 16, "auth.signed_in": 16, "access.denied": 32}

    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"OK: {len(entries)} entries verified, last seq {len(entries)}, ")
