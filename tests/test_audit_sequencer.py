"""The audit sequencer (issue 22) on real databases: actions record their entries in their
own transactions, and the sequencer (the real `flask --app app audit sequence`, a process of
its own) links them into one chain — every committed entry exactly once, with consecutive
sequence numbers, in the order (generation, transaction id, entry id) — whatever runs beside
it: eight appending OS processes, a SIGKILL mid-pass, a long transaction, a second
sequencer, a database whose transaction ids went back, gunicorn.

Most tests need PostgreSQL (set TEST_DATABASE_URL): on SQLite entries are linked in the
transaction that records them and there is no sequencer to test.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from app import create_app
from audit.models import AuditEntry, AuditLink, ChainHead
from audit.sequencer import ADVISORY_KEY, sequence_pass
from audit.service import run_verification
from audit.trail import record
from protection import accounts
from protection.accounts import NewUser
from protection.clock import utcnow
from protection.db import db
from protection.identity import User
from protection.schema import upgrade_schema
from tests.conftest import _config, audit_entries, scratch_postgresql_database, sequenced
from tests.sequencer_workload import SequencerProcess, append_actions, run_cli, wait_until
from tests.servers import Browser, start_gunicorn

WORKERS = 8
ACTIONS = 1000
ONLY_POSTGRESQL = ("the audit sequencer runs on PostgreSQL only: SQLite links each entry in the transaction "
                   "that records it (set TEST_DATABASE_URL to a PostgreSQL database)")


@pytest.fixture
def pg_app(app, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip(ONLY_POSTGRESQL)
    return app


# --- reading the chain ------------------------------------------------------------------------

def chain(app) -> list:
    """Every link in sequence order with its entry's place in the order (None if missing)."""
    with app.app_context():
        rows = db.session.execute(
            select(AuditLink.seq, AuditLink.entry_id, AuditEntry.generation, AuditEntry.xact_id, AuditEntry.action)
            .outerjoin(AuditEntry, AuditEntry.id == AuditLink.entry_id).order_by(AuditLink.seq)).all()
        db.session.commit()
    return rows


def link_count(app) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(AuditLink))
        db.session.commit()
    return count


def head(app) -> ChainHead:
    with app.app_context():
        row = db.session.get(ChainHead, 1)
        db.session.expunge(row)
        db.session.commit()
    return row


def assert_one_chain_of_every_entry(app) -> list:
    """Consecutive sequence numbers from 1, every entry linked exactly once, in the
    sequencer's order, nothing pending, and the verifier agrees. Returns the links."""
    links = chain(app)
    assert [link.seq for link in links] == list(range(1, len(links) + 1)), "a gap or a duplicate number"
    linked = [link.entry_id for link in links]
    assert len(set(linked)) == len(linked), "an entry linked twice"
    assert set(linked) == {entry.id for entry in audit_entries(app)}, "an entry left out, or a link to nothing"
    order = [(link.generation, link.xact_id, link.entry_id) for link in links]
    assert order == sorted(order), "linked out of the (generation, xact_id, id) order"
    with app.app_context():
        report = run_verification()
    assert report.ok, report.summary()
    assert (report.entries_checked, report.pending) == (len(links), 0), report.summary()
    return links


def _create_account(username: str) -> None:
    accounts.create_user(NewUser(username, "Người Thử Trình Tự", "BTCTU", "officer"),
                         password=None, by=None, must_change_password=True)


def _record_committed(app, count: int, action: str) -> None:
    with app.app_context():
        for number in range(count):
            record(action, target_type="test", target_id=number)
            db.session.commit()


def _pending(app) -> int:
    with app.app_context():
        return run_verification().pending


def link_everything(app) -> None:
    """Sequencer passes until nothing is pending (a transaction open elsewhere on the
    database server can hold entries back a moment)."""
    def all_linked() -> bool:
        sequenced(app)
        return _pending(app) == 0

    wait_until(all_linked, "every committed entry linked")


def wait_until_linked(app, count: int, timeout: float = 180) -> None:
    wait_until(lambda: link_count(app) >= count, f"{count} links", timeout)
    assert link_count(app) == count


# --- eight appending processes ------------------------------------------------------------------

def _process_context():
    """Worker processes forked from a server that imported the app once, not eight fresh
    interpreters each importing it (never forked from pytest: its connections would be shared)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tests.sequencer_workload"])
    return context


@contextmanager
def appending_workers(app_config, *, resume=None):
    """WORKERS OS processes appending ACTIONS audited actions each (tests/sequencer_workload.py);
    yields a function that waits for their results."""
    context = _process_context()
    start = context.Barrier(WORKERS)
    results = context.Queue()
    processes = [context.Process(target=append_actions,
                                 args=(app_config, worker, ACTIONS, start, resume, results))
                 for worker in range(WORKERS)]
    for process in processes:
        process.start()

    def finished() -> dict:
        done = dict(results.get(timeout=300) for _ in processes)
        for process in processes:
            process.join(timeout=60)
        return done

    try:
        yield finished
    finally:
        if resume is not None:
            resume.set()
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
                process.join()


def assert_workload_linked(app, before_links: int, also: tuple[str, ...] = ()) -> None:
    """The workers' entries (and `also`, the test's own) are linked, once each, and none
    of the rolled-back actions left an entry or an account."""
    links = assert_one_chain_of_every_entry(app)
    new = links[before_links:]
    assert len(new) == WORKERS * ACTIONS + len(also)
    assert [link.action for link in new if link.action.startswith("test.") and link.action != "test.sequencer"] \
        == list(also)
    per_worker = ACTIONS - len(range(0, ACTIONS, 10))
    assert sum(1 for link in new if link.action == "test.sequencer") == WORKERS * per_worker
    assert sum(1 for link in new if link.action == "user.created") == WORKERS * len(range(0, ACTIONS, 10))
    with app.app_context():
        gone = db.session.scalar(select(func.count()).select_from(User).where(User.username.startswith("gone.")))
        made = db.session.scalar(select(func.count()).select_from(User).where(User.username.startswith("seq.")))
        db.session.commit()
    assert (gone, made) == (0, WORKERS * len(range(0, ACTIONS, 10)))  # rolled back: no account, no entry


def test_eight_processes_append_while_the_sequencer_runs(pg_app, app_config, make_unit, tmp_path):
    make_unit()
    link_everything(pg_app)
    before = link_count(pg_app)
    sequencer = SequencerProcess(app_config, tmp_path, "sequencer")
    try:
        sequencer.wait_for_output("audit sequencer running")
        with appending_workers(app_config) as finished:
            assert finished() == {worker: ACTIONS for worker in range(WORKERS)}
        wait_until_linked(pg_app, before + WORKERS * ACTIONS)
    finally:
        code = sequencer.stop()
    assert code == 0, sequencer.output()
    assert re.search(rf"linked {WORKERS * ACTIONS} audit entries", sequencer.output()), sequencer.output()
    assert_workload_linked(pg_app, before)


def _blocked_sequencer_backend(connection) -> int | None:
    """The backend of a sequencer stopped inside its pass (the head locked, the batch read),
    waiting for the lock on audit_links the test holds."""
    return connection.execute(text(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO audit_links%' AND backend_xid IS NOT NULL"
    )).scalar()


def _entry_count(app) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(AuditEntry))
        db.session.commit()
    return count


def test_a_sequencer_killed_mid_pass_loses_nothing_and_the_next_one_resumes(pg_app, app_config, database_url,
                                                                              make_unit, tmp_path):
    """The workers record half their actions while the first sequencer links; then the test
    locks audit_links (LOCK TABLE takes no transaction id, so it holds no entry back), records
    one more entry, and the sequencer stops inside its pass — head locked, batch read, its
    INSERT waiting — where it is killed with SIGKILL. Its database session outlives it until
    the lock is let go, advisory lock and all: the second sequencer waits meanwhile, the
    workers record their second halves, and then it takes over."""
    make_unit()
    link_everything(pg_app)
    before, entries_before = link_count(pg_app), _entry_count(pg_app)
    engine = create_engine(database_url, poolclass=NullPool)
    holder = engine.connect()
    watcher = engine.connect()
    watcher.execution_options(isolation_level="AUTOCOMMIT")
    resume = _process_context().Event()
    first = SequencerProcess(app_config, tmp_path, "first")
    second = None
    try:
        with appending_workers(app_config, resume=resume) as finished:
            wait_until(lambda: _entry_count(pg_app) == entries_before + WORKERS * ACTIONS // 2,
                       "the workers' first halves")
            holder.execute(text("LOCK TABLE audit_links IN SHARE MODE"))
            _record_committed(pg_app, 1, "test.while_locked")  # at least one entry for the next pass
            wait_until(lambda: _blocked_sequencer_backend(watcher), "the sequencer to wait inside its pass")
            first.kill()
            assert first.process.returncode == -signal.SIGKILL
            committed_before_kill = link_count(pg_app)

            second = SequencerProcess(app_config, tmp_path, "second")
            second.wait_for_output("another audit sequencer is running: waiting until it stops")
            resume.set()  # the workers record their second halves while no sequencer links
            assert finished() == {worker: ACTIONS for worker in range(WORKERS)}
            assert link_count(pg_app) == committed_before_kill
            holder.rollback()  # the killed one's session finds its client gone, rolls back, lets go
            wait_until_linked(pg_app, before + WORKERS * ACTIONS + 1)
        assert second.stop() == 0, second.output()
    finally:
        first.kill()
        if second is not None:
            second.kill()
        holder.close()
        watcher.close()
        engine.dispose()
    linked_by_second = int(re.search(r"linked (\d+) audit entries", second.output()).group(1))
    assert linked_by_second == before + WORKERS * ACTIONS + 1 - committed_before_kill
    assert_workload_linked(pg_app, before, also=("test.while_locked",))


# --- a long transaction, a rollback --------------------------------------------------------------

@pytest.mark.parametrize("ending", ["commit", "rollback"])
def test_a_long_transaction_delays_the_entries_after_it_but_never_reorders_or_loses_them(
        pg_app, app_config, make_unit, ending):
    make_unit()
    link_everything(pg_app)
    _record_committed(pg_app, 1, "test.before_long")
    long_app = create_app(app_config)  # its own engine and session: another connection
    with long_app.app_context():
        _create_account("long.running")
        record("test.long", target_type="test", target_id="long")
        db.session.flush()  # the account row is written: the transaction has its id, and stays open
        long_xact = db.session.execute(text("SELECT pg_current_xact_id()::text::bigint")).scalar()

        _record_committed(pg_app, 3, "test.after_long")
        # The entry committed before the long transaction began is linked; the later ones wait.
        wait_until(lambda: sequenced(pg_app), "the entry recorded before the long transaction")
        assert [link.action for link in chain(pg_app)][-1] == "test.before_long"
        assert sequenced(pg_app) == 0
        assert _pending(pg_app) == 3
        with pg_app.app_context():
            waiting = db.session.scalars(select(AuditEntry.xact_id).where(AuditEntry.action == "test.after_long"))
            assert all(xact > long_xact for xact in waiting)  # they began after it
            db.session.commit()

        if ending == "commit":
            db.session.commit()  # its entry is written now, last, with the transaction's early id
        else:
            db.session.rollback()
        db.session.remove()
        db.engine.dispose()

    link_everything(pg_app)
    actions = [link.action for link in assert_one_chain_of_every_entry(pg_app)]
    # The long transaction's entries (an action's entries stay together, in its order) come
    # before the ones of the transactions that began after it, though they committed last.
    expected = ["user.created", "test.long"] if ending == "commit" else []
    assert actions[actions.index("test.before_long"):] == ["test.before_long", *expected, *["test.after_long"] * 3]
    with pg_app.app_context():
        made = db.session.scalar(select(func.count()).select_from(User).where(User.username == "long.running"))
        db.session.commit()
    assert made == (1 if ending == "commit" else 0)


def test_an_action_rolled_back_leaves_no_entry_and_no_link(app, make_unit):
    """Rolled back before its commit, or failing at its commit after its entry was written
    (on SQLite with its link; on PostgreSQL it goes with the COMMIT, which never runs): either
    way no entry, no link, no hole in the chain."""
    make_unit()
    link_everything(app)
    before = {entry.id for entry in audit_entries(app)}

    with app.app_context():
        _create_account("rolled.back")
        record("test.rolled_back", target_type="test", target_id=1)
        db.session.flush()
        db.session.rollback()

    def fail_after_the_entry(_session):
        raise RuntimeError("the commit failed after the entry was written")

    with app.app_context():
        _create_account("failed.commit")
        record("test.rolled_back", target_type="test", target_id=2)
        event.listen(Session, "before_commit", fail_after_the_entry)  # runs after the trail's own
        try:
            with pytest.raises(RuntimeError, match="after the entry was written"):
                db.session.commit()
        finally:
            event.remove(Session, "before_commit", fail_after_the_entry)
        db.session.rollback()

    assert {entry.id for entry in audit_entries(app)} == before
    sequenced(app)
    assert len(chain(app)) == len(before)
    _record_committed(app, 1, "test.committed")
    link_everything(app)
    links = assert_one_chain_of_every_entry(app)
    assert [link.action for link in links[len(before):]] == ["test.committed"]
    assert links[-1].entry_id > max(before)  # ids may have gaps (a rolled-back INSERT spends one), the chain none
    with app.app_context():
        accounts_made = db.session.scalar(select(func.count()).select_from(User)
                                          .where(User.username.in_(["rolled.back", "failed.commit"])))
        db.session.commit()
    assert accounts_made == 0


# --- one sequencer at a time ---------------------------------------------------------------------

def _advisory_lock(connection) -> list:
    """(backend pid, granted) of the sessions holding or waiting for the sequencer's lock."""
    return connection.execute(text(
        "SELECT pid, granted FROM pg_locks WHERE locktype = 'advisory' "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND classid::text::bigint = :high AND objid::text::bigint = :low AND objsubid = 1 ORDER BY pid"),
        {"high": ADVISORY_KEY >> 32, "low": ADVISORY_KEY & 0xFFFFFFFF}).all()


def test_a_second_sequencer_waits_and_takes_over(pg_app, app_config, database_url, make_unit, tmp_path):
    make_unit()
    link_everything(pg_app)
    before = link_count(pg_app)
    engine = create_engine(database_url, poolclass=NullPool)
    holder = engine.connect()
    watcher = engine.connect()
    watcher.execution_options(isolation_level="AUTOCOMMIT")
    first = SequencerProcess(app_config, tmp_path, "first")
    second = third = None
    try:
        holder_of_lock = wait_until(lambda: [pid for pid, granted in _advisory_lock(watcher) if granted],
                                    "the first sequencer to take the lock")
        # The first one stops inside a pass on a lock the test holds, three entries pending.
        holder.execute(text("LOCK TABLE audit_links IN SHARE MODE"))
        _record_committed(pg_app, 3, "test.first")
        wait_until(lambda: _blocked_sequencer_backend(watcher), "the first sequencer to wait inside its pass")

        once = run_cli(app_config, "audit", "sequence", "--once")
        assert once.returncode == 0, once.stderr
        assert "another audit sequencer is running; it links the entries" in once.stderr
        assert once.stdout.strip() == "linked 0 audit entries"
        assert _pending(pg_app) == 3

        second = SequencerProcess(app_config, tmp_path, "second")
        second.wait_for_output("another audit sequencer is running: waiting until it stops")
        # It waits outside any statement: one blocked on the lock would hold its snapshot, and
        # VACUUM's horizon on the whole server, for as long as the first one runs.
        assert _advisory_lock(watcher) == [(holder_of_lock[0], True)]

        holder.rollback()
        wait_until_linked(pg_app, before + 3)
        assert first.stop() == 0, first.output()
        assert "linked 3 audit entries" in first.output()

        taken_over = wait_until(lambda: [pid for pid, granted in _advisory_lock(watcher) if granted],
                                "the second sequencer to take the lock")
        assert taken_over != holder_of_lock
        _record_committed(pg_app, 2, "test.second")
        wait_until_linked(pg_app, before + 5)

        third = SequencerProcess(app_config, tmp_path, "third")  # a waiting one stops when asked
        third.wait_for_output("another audit sequencer is running: waiting until it stops")
        assert third.stop() == 0, third.output()
        assert "linked 0 audit entries" in third.output()

        assert second.stop() == 0, second.output()
        assert "linked 2 audit entries" in second.output()
    finally:
        for sequencer in (first, second, third):
            if sequencer is not None:
                sequencer.kill()
        holder.close()
        watcher.close()
        engine.dispose()
    actions = [link.action for link in assert_one_chain_of_every_entry(pg_app)][before:]
    assert actions == ["test.first"] * 3 + ["test.second"] * 2


# --- a restore into a database whose transaction ids are behind ------------------------------

def test_transaction_ids_behind_the_trail_refuse_entries_until_a_new_generation(pg_app, make_unit, runner):
    """Simulated restore into another cluster: the head says the trail was sequenced up to a
    transaction id far ahead of this database's, and the dump brought two entries the old
    cluster recorded but had not sequenced (with their own place in the order, and ids
    above the ones this database hands out next)."""
    make_unit()
    _record_committed(pg_app, 2, "test.before_restore")
    link_everything(pg_app)
    before = link_count(pg_app)
    with pg_app.app_context(), db.engine.begin() as connection:
        ahead = connection.execute(text("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")).scalar() \
            + 1_000_000
        newest = connection.scalar(select(func.max(AuditEntry.id)))
        connection.execute(update(ChainHead).where(ChainHead.id == 1).values(sequenced_xact=ahead))
        connection.execute(insert(AuditEntry.__table__), [
            {"id": newest + 100 + number, "generation": 1, "xact_id": ahead + number, "occurred_at": utcnow(),
             "action": "test.restored_pending", "outcome": "success", "detail": "{}"} for number in (1, 2)])

    with pg_app.app_context():  # an audited action is refused, all of it
        _create_account("after.restore")
        with pytest.raises(DBAPIError, match="transaction ids are behind the sequenced trail"):
            db.session.commit()
        db.session.rollback()
        assert db.session.scalar(select(User).where(User.username == "after.restore")) is None
        db.session.commit()
    assert [entry.action for entry in audit_entries(pg_app)][-2:] == ["test.restored_pending"] * 2

    with pg_app.app_context(), db.engine.connect() as connection:
        result = sequence_pass(connection, batch=500)
    assert (result.linked, result.new_generation) == (0, 2)
    assert (head(pg_app).generation, link_count(pg_app)) == (2, before)

    with pg_app.app_context():  # now it goes through
        _create_account("after.restore")
        db.session.commit()
    done = runner.invoke(args=["audit", "sequence", "--once"])
    assert done.exit_code == 0, done.output
    # The old generation's entries at once; the new one's as soon as no transaction older
    # than its own runs (on this database server: one may hold it back a moment).
    assert re.search(r"linked [23] audit entries", done.output), done.output
    link_everything(pg_app)
    links = assert_one_chain_of_every_entry(pg_app)
    # The old generation's pending entries first, then the new generation's, whatever their ids.
    assert [(link.action, link.generation) for link in links[before:]] == [
        ("test.restored_pending", 1), ("test.restored_pending", 1), ("user.created", 2)]
    assert links[-1].entry_id < links[-2].entry_id

    _record_committed(pg_app, 1, "test.after_restore")
    link_everything(pg_app)
    assert [link.action for link in assert_one_chain_of_every_entry(pg_app)][-1] == "test.after_restore"
    assert (head(pg_app).generation, head(pg_app).sequenced_generation) == (2, 2)


@pytest.mark.parametrize("linked_before", [True, False], ids=["some-linked", "none-linked-yet"])
def test_restored_entries_ahead_of_the_transaction_ids_start_a_new_generation(
        pg_app, database_url, make_unit, linked_before):
    """A restore can bring entries the old cluster recorded but had not sequenced, with
    transaction ids ahead of this database's, while the sequenced position is behind them
    (the old sequencer lagged, or had linked nothing of this generation yet), so nothing is
    refused. The sequencer must not wait for this database's ids to catch up with theirs
    (millions of transactions, maybe): it starts a new generation, then waits for the
    transactions that may still commit an entry of the old one, links the old one to its
    end in its order, then the new one."""
    make_unit()
    if linked_before:
        link_everything(pg_app)
    before = link_count(pg_app)
    with pg_app.app_context(), db.engine.begin() as connection:
        ahead = connection.execute(text("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")).scalar() \
            + 1_000_000
        generation = connection.scalar(select(ChainHead.generation))
        connection.execute(insert(AuditEntry.__table__), [
            {"generation": generation, "xact_id": ahead + number, "occurred_at": utcnow(),
             "action": "test.restored_pending", "outcome": "success", "detail": "{}"} for number in (1, 2)])
    with pg_app.app_context():
        _create_account("after.restore")  # not refused: the sequenced position is behind this database
        db.session.commit()
    engine = create_engine(database_url, poolclass=NullPool)
    in_flight = engine.connect()  # an entry of the old generation, committed only after the new one began
    in_flight.execute(insert(AuditEntry.__table__).values(occurred_at=utcnow(), action="test.in_flight",
                                                          outcome="success", detail="{}"))
    sequencing = threading.Thread(target=sequenced, args=(pg_app,), daemon=True)
    try:
        sequencing.start()
        wait_until(lambda: head(pg_app).generation == generation + 1, "a new generation")
        assert sequencing.is_alive() and link_count(pg_app) == before  # waiting for the entry in flight
        in_flight.commit()
        sequencing.join(timeout=60)
    finally:
        in_flight.close()
        engine.dispose()
    _record_committed(pg_app, 1, "test.new_generation")
    link_everything(pg_app)
    links = assert_one_chain_of_every_entry(pg_app)
    assert [(link.action, link.generation) for link in links[before:]][-5:] == [
        ("user.created", generation), ("test.in_flight", generation),
        ("test.restored_pending", generation), ("test.restored_pending", generation),
        ("test.new_generation", generation + 1)]


# --- the command where no sequencer runs ---------------------------------------------------------

def test_the_sequence_command_on_sqlite_says_no_sequencer_is_needed(app_config, database_url, tmp_path):
    config = app_config
    if not database_url.startswith("sqlite"):
        config = _config(f"sqlite:///{tmp_path / 'sequence.db'}", tmp_path / "sqlite-instance")
        sqlite_app = create_app(config)
        with sqlite_app.app_context():
            upgrade_schema()
            db.engine.dispose()
    for arguments, prefix in (([], ""), (["--embedded"], "not needed: ")):  # the long-running one, gunicorn's child
        done = run_cli(config, "audit", "sequence", *arguments)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == (prefix + "SQLite links each entry in the transaction that records it: "
                                       "no sequencer is needed")


def test_the_embedded_sequencer_steps_aside_for_an_external_one(pg_app, app_config, runner):
    done = run_cli(app_config, "audit", "sequence", "--embedded", HOSO_AUDIT_SEQUENCER="external")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "not needed: HOSO_AUDIT_SEQUENCER=external: the audit sequencer runs as a service of its own"
    # The external service is the same command without --embedded.
    _record_committed(pg_app, 1, "test.external")
    pg_app.config["HOSO_AUDIT_SEQUENCER"] = "external"
    wait_until(lambda: runner.invoke(args=["audit", "sequence", "--once"]).exit_code == 0 and link_count(pg_app) == 1,
               "the external sequencer to link the entry")


# --- gunicorn -----------------------------------------------------------------------------------

def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _sequencer_children(master: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if parent == master and [b"audit", b"sequence", b"--embedded"] == command[-4:-1]:
            children.append(int(stat.parent.name))
    return children


def _started_sequencers(log: Path) -> list[int]:
    return [int(pid) for pid in re.findall(r"audit sequencer started \(pid (\d+)\)", log.read_text())]


def test_gunicorn_runs_one_sequencer_beside_its_workers_starts_it_again_and_stops_it(tmp_path):
    """gunicorn.conf.py: one sequencer child beside the workers links what they record; one
    killed is started again (after RESTART_SECONDS); stopping gunicorn stops it."""
    with scratch_postgresql_database("hoso_sequencer", ONLY_POSTGRESQL) as url:
        instance = tmp_path / "instance"
        served = create_app(_config(url, instance))
        with served.app_context():
            upgrade_schema()
            db.engine.dispose()
        log = tmp_path / "gunicorn.log"
        with open(log, "wb") as log_file:
            master, base = start_gunicorn(url, instance, log_file, workers=2)
        try:
            [first] = wait_until(lambda: _started_sequencers(log), "the sequencer's start in gunicorn's log")
            assert _sequencer_children(master.pid) == [first]
            for _ in range(3):
                assert Browser(base).sign_in("nobody.here", "Khong-dung-mat-khau-0") == 200
            wait_until(lambda: link_count(served) == 3, "the failed sign-ins to be linked")

            os.kill(first, signal.SIGKILL)
            second = wait_until(lambda: _started_sequencers(log)[1:], "the sequencer to be started again")[0]
            assert _started_sequencers(log) == [first, second]
            assert "audit sequencer stopped; starting it again" in log.read_text()
            assert _sequencer_children(master.pid) == [second]
            assert Browser(base).sign_in("nobody.here", "Khong-dung-mat-khau-0") == 200
            wait_until(lambda: link_count(served) == 4, "the next failed sign-in to be linked")
            assert [entry.action for entry in audit_entries(served)] == ["auth.login.failed"] * 4
            assert_one_chain_of_every_entry(served)
        finally:
            master.send_signal(signal.SIGTERM)
            master.wait(timeout=60)
        wait_until(lambda: not _running(second), "the sequencer to stop with gunicorn")
        assert not _running(first)
        with served.app_context():
            assert _advisory_lock(db.session.connection()) == []
            db.session.remove()
            db.engine.dispose()
