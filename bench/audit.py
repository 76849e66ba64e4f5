"""`python -m bench.audit [--database-url URL] [--seconds 10] [--rounds 2] [--clients 16]
[--entries 200000] [--instance DIR]`: the audit trail's figures (issues 4 and 22), each beside a
baseline measured in the same run. `python -m bench` runs it too, on the database its other
sections use.

Writes, PostgreSQL, N clients (16) each an OS process of its own, as gunicorn workers are
(threads of one process would measure the GIL), started once and kept for every row, every
client running for the same time; each row runs in `rounds` turns, the rows in turn and their
order reversed every other round, so that a change in the machine's load falls on all alike:
- app path: a small real change (the client's own user row, `last_sign_in_at`) committed
  through the app's session (create_app, its default engine options), beside the same change
  plus `record()`, with the audit sequencer running: audit/sequencer.py's Runner in a process
  of its own, with the app's batch and poll settings, as gunicorn.conf.py starts one beside
  the workers. Target: audited ≥ 0.75× the rate without audit.
- driver only (psycopg's libpq object, no Flask, no ORM; the statements prepared once, and
  BEGIN, the statements and the COMMIT sent in one pipeline):
  an action row inserted alone; the same plus its entry inserted into audit_entries (issue
  22's recording path: the audit_entry_stamp trigger stamps it, the running sequencer links
  it); the same plus the entry appended by issue 4's head-lock statement (`git show
  77e2071~1:audit/trail.py`, _APPEND_SQL: lock the head row FOR UPDATE, insert the entry at
  head + 1 with its SHA-256 link computed in the server, move the head; checkpoints left
  out), in scratch tables of the bench's own (bench_headlock_*), so that the old design is
  measured on the same server in the same run. Target: new ≥ 2.5× head-lock.
- commit → chained latency of the entries written by the audited rows: each client notes
  the moment each commit returned, the sequencer the moment each pass's commit returned
  and the sequence number it reached (Runner.on_pass); an entry's latency is the difference.
  Target: p99 ≤ 1 s.
- CPU per write (Linux /proc): each row's CPU time in its client processes, the sequencer and,
  when PostgreSQL runs on this machine, the server processes of the bench's database, divided
  by the row's writes and split by process: a figure other work on the machine does not
  change, where the rates share the CPUs with whatever else runs.
Before the next row the bench waits until the sequencer has linked everything (its work is
the row's); afterwards the chain written by the rows is verified (`audit verify`'s code) and
the head-lock scratch chain is checked against chain.entry_hash.

Verification (issue 4; SQLite too): `audit verify`'s own code over synthetic entries
(recorded, then linked by the trail's own code: the sequencer's passes on PostgreSQL,
trail.link_entries in the recording transaction on SQLite), beside reading the same rows
without hashing them; the reference definition (chain.entry_hash over ORM rows) on a
sample; the parallel pass (one process per CPU). Target: ≥ 200,000 entries/s.

On SQLite the PostgreSQL-only rows (the trigger, the sequencer, the head lock, the latency)
are not measured, and the table says so; its app-path rows link each entry in its own
transaction, as SQLite does.

The database: --database-url names a scratch database, used as it is (the synthetic entries
and every audited write stay in its trail; the scratch tables are dropped afterwards).
Without one, a new database on the local PostgreSQL server, dropped afterwards.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import math
import multiprocessing
import os
import secrets
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from pathlib import Path

import psycopg
from flask import Flask
from psycopg import pq
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import make_url

from app import create_app
from audit import parallel, sequencer, service, signing
from audit.chain import GENESIS_HASH, HASHED_FIELDS, canonical_json, entry_hash, entry_payload
from audit.models import AuditEntry, AuditLink
from audit.trail import Recorded, keys_dir, link_entries, read_head, record
from protection.clock import utcnow
from protection.db import db, take_write_lock
from protection.identity import Clearance, Role, Unit, User

CLIENTS = 16
DEFAULT_SECONDS = 10.0
ROUNDS = 2
DEFAULT_ENTRIES = 200_000
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
INSERT_BATCH = 10_000
REFERENCE_SAMPLE = 20_000
DRAIN_SECONDS = 120.0
DETAIL = '{"fields":["full_name"]}'
APP_ACTION = "bench.write"
DRIVER_ACTION = "bench.driver"
_DRIVER_ACTION = DRIVER_ACTION.encode()

# The targets, printed beside what was measured.
VERIFY_TARGET = 200_000  # entries/s (issue 4)
WRITES_TARGET = 1_000  # audited writes/s on PostgreSQL (issue 4)
APP_RATIO_TARGET = 0.75  # app path, audited ÷ no audit (issue 22)
DRIVER_RATIO_TARGET = 2.5  # driver only, new recording path ÷ head lock (issue 22)
CHAINED_P99_TARGET = 1.0  # seconds from commit to link, p99 (issue 22)

POSTGRESQL_ONLY = ("driver-only rows (the audit_entry_stamp trigger, issue 4's head lock), the sequencer "
                   "and commit → chained latency")


def audit_app(database_url: str | None, instance: Path) -> Flask:
    """An app on the bench's database with the app's own engine settings (a client's
    requests take their connection from its pool as a worker's do)."""
    config = {"SECRET_KEY": "bench", "HOSO_INSTANCE_PATH": str(instance), "HOSO_LOG_LEVEL": "WARNING"}
    if database_url:
        config["HOSO_DATABASE_URL"] = database_url
    return create_app(config)


def driver_url(database_url: str) -> str:
    """The SQLAlchemy URL as libpq reads it."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


# --- synthetic entries and the verification rows ----------------------------------------------

def synthetic_fields(count: int) -> Iterator[dict]:
    """`count` entries' fields shaped like real ones (a view of a subject by one of 50 officers)."""
    actors = [uuid.uuid4() for _ in range(50)]
    moment = (utcnow() - timedelta(days=30)).astimezone(UTC)
    for number in range(count):
        yield {"occurred_at": moment + timedelta(milliseconds=number), "actor_id": actors[number % len(actors)],
               "actor_role": "officer", "actor_unit": "BTCTU", "action": "subject.view", "target_type": "subject",
               "target_id": f"00000000-0000-4000-8000-{number:012x}", "outcome": "success",
               "client_address": "10.20.30.40", "request_id": f"{number & 0xFFFFFFFF:08X}", "detail": DETAIL}


def append_synthetic_entries(app: Flask, count: int) -> None:
    """Record `count` entries and link them with the trail's own code: on PostgreSQL inserted
    as the app records them (the trigger stamps them) and linked by the sequencer's passes;
    on SQLite linked in the recording transaction (trail.link_entries), as SQLite records."""
    table = AuditEntry.__table__
    with app.app_context():
        postgresql = db.engine.dialect.name == "postgresql"
        if postgresql:
            sequence_everything(app)  # what was recorded before: the set-up's own entries
        batch: list[dict] = []
        fields = synthetic_fields(count)
        while True:
            batch = list(itertools.islice(fields, INSERT_BATCH))
            if not batch:
                break
            connection = db.session.connection()
            if postgresql:
                connection.execute(insert(table), batch)
            else:
                take_write_lock(connection)
                head = read_head(connection)
                newest = connection.execute(select(func.max(table.c.id))).scalar() or 0
                entries = [Recorded(newest + number, head.generation, 0, row)
                           for number, row in enumerate(batch, start=1)]
                connection.execute(insert(table), [{"id": entry.id, "generation": entry.generation, "xact_id": 0,
                                                    **entry.fields} for entry in entries])
                link_entries(connection, head, entries)
            db.session.commit()
        if postgresql:
            sequence_everything(app, batch=INSERT_BATCH)


def sequence_everything(app: Flask, batch: int | None = None, timeout: float = DRAIN_SECONDS) -> int:
    """The sequencer's passes until every committed entry is linked (PostgreSQL): a pass
    leaves the entries of transactions younger than a running one, so it waits for them."""
    linked = 0
    start = time.perf_counter()
    with app.app_context():
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        while True:
            with db.engine.connect() as connection:
                linked += sequencer.sequence_all(connection, batch or app.config["HOSO_AUDIT_SEQUENCE_BATCH"])
            if not pending_entries(url):
                return linked
            if time.perf_counter() - start > timeout:
                raise RuntimeError(f"entries still unlinked after {timeout:.0f} s: a long transaction on the "
                                   "server holds the sequencer back")
            time.sleep(0.05)


def read_only_rate(app: Flask) -> tuple[int, float]:
    """The baseline: the verifier's own reads, every link with its entry, nothing hashed."""
    with app.app_context():
        start = time.perf_counter()
        with service._reader() as reader:  # the very reads verification makes
            head_seq, _hash, newest = reader.head()
            count = sum(1 for _row in reader.entries(1, max(head_seq, newest or 0)))
        return count, time.perf_counter() - start


def verify_rate(app: Flask, *, workers: int) -> tuple[int, float, str]:
    """`audit verify`'s own path: one continuous walk (workers=1) or the parallel pass over
    ranges (workers=0: one process per CPU), whatever the log's length."""
    app.config.update(HOSO_AUDIT_VERIFY_WORKERS=workers, HOSO_AUDIT_VERIFY_PARALLEL_FROM=1)
    with app.app_context():
        start = time.perf_counter()
        report = service.run_verification()
        return report.entries_checked, time.perf_counter() - start, report.summary()


def reference_rate(app: Flask, sample: int) -> tuple[int, float]:
    """The definition, as the verifier first computed it: ORM rows, chain.entry_hash each."""
    with app.app_context():
        start = time.perf_counter()
        rows = db.session.execute(
            select(AuditLink.prev_hash, AuditLink.entry_hash, AuditEntry)
            .join(AuditEntry, AuditEntry.id == AuditLink.entry_id)
            .order_by(AuditLink.seq.desc()).limit(sample).execution_options(yield_per=5000))
        matched = sum(1 for prev, link, row in rows
                      if entry_hash(prev, {name: getattr(row, name) for name in HASHED_FIELDS}) == link)
        elapsed = time.perf_counter() - start
        db.session.rollback()
        if matched != sample:
            raise RuntimeError("the reference disagrees with the synthetic chain")
        return matched, elapsed


# --- the clients ---------------------------------------------------------------------------------

APP_MODES = ("bare", "audited")
DRIVER_MODES = ("action", "headlock", "entry")


@dataclass
class ClientResult:
    index: int
    count: int  # operations in the measured time
    target_id: str  # the target_id of the entries it recorded
    commits: dict[int, float] = field(default_factory=dict)  # entry number -> when its commit returned


_SMALL_CHANGE = (update(User.__table__).where(User.__table__.c.id == bindparam("user_id"))
                 .values(last_sign_in_at=bindparam("moment")))
_FIELD_MARKS = ", ".join(f"${number}" for number in range(1, len(HASHED_FIELDS) + 1))
_PAYLOAD_MARK = f"${len(HASHED_FIELDS) + 1}::text"
_ENTRY_COLUMNS = ", ".join(HASHED_FIELDS)
_DRIVER_STATEMENTS = {
    b"action": "INSERT INTO bench_audit_actions (client, done_at, note) VALUES ($1, $2, $3)",
    # Issue 22's recording path: the entry and nothing else of the chain (the trigger stamps it).
    b"entry": f"INSERT INTO audit_entries ({_ENTRY_COLUMNS}) VALUES ({_FIELD_MARKS})",  # noqa: S608 - fixed names
    # Issue 4's append, as audit/trail.py had it before issue 22, on the bench's scratch tables.
    b"headlock": f"""
WITH old AS (
    SELECT seq, entry_hash FROM bench_headlock_head WHERE id = 1 FOR UPDATE
), head AS (
    UPDATE bench_headlock_head AS h
    SET seq = old.seq + 1,
        entry_hash = encode(sha256(convert_to(old.entry_hash || E'\\n' || {_PAYLOAD_MARK}, 'UTF8')), 'hex')
    FROM old WHERE h.id = 1
    RETURNING h.seq, h.entry_hash, old.entry_hash AS prev_hash, h.last_checkpoint_seq, h.last_checkpoint_at
), entry AS (
    INSERT INTO bench_headlock_entries (seq, prev_hash, entry_hash, {_ENTRY_COLUMNS})
    SELECT head.seq, head.prev_hash, head.entry_hash, {_FIELD_MARKS} FROM head
    RETURNING seq
)
SELECT head.seq, head.prev_hash, head.entry_hash, head.last_checkpoint_seq, head.last_checkpoint_at
FROM head JOIN entry ON entry.seq = head.seq
""",  # noqa: S608 - fixed column names; every value is a bound parameter
}
_SCRATCH_TABLES = ("bench_audit_actions", "bench_headlock_entries", "bench_headlock_head")
_SCRATCH_DDL = (
    "CREATE TABLE bench_audit_actions (id bigserial PRIMARY KEY, client integer NOT NULL, "
    "done_at timestamp NOT NULL, note text NOT NULL)",
    "CREATE TABLE bench_headlock_head (id integer PRIMARY KEY, seq bigint NOT NULL, entry_hash varchar(64) NOT NULL, "
    "last_checkpoint_seq bigint NOT NULL, last_checkpoint_at timestamp)",
    f"INSERT INTO bench_headlock_head VALUES (1, 0, '{GENESIS_HASH}', 0, NULL)",  # noqa: S608 - a constant
    # audit_entries as it was before issue 22: the link in the row, the same indexes.
    "CREATE TABLE bench_headlock_entries (seq bigint PRIMARY KEY, prev_hash varchar(64) NOT NULL, "
    "entry_hash varchar(64) NOT NULL UNIQUE, occurred_at timestamp NOT NULL, actor_id uuid, "
    "actor_role varchar(16), actor_unit varchar(32), action varchar(64) NOT NULL, target_type varchar(32), "
    "target_id varchar(64), outcome varchar(16) NOT NULL, client_address varchar(64), request_id varchar(16), "
    "detail text NOT NULL)",
    "CREATE INDEX ix_bench_headlock_target ON bench_headlock_entries (target_type, target_id)",
    "CREATE INDEX ix_bench_headlock_actor ON bench_headlock_entries (actor_id)",
    "CREATE INDEX ix_bench_headlock_occurred_at ON bench_headlock_entries (occurred_at)",
    "CREATE INDEX ix_bench_headlock_action ON bench_headlock_entries (action)",
)


class DriverConnection:
    """A psycopg connection driven through its libpq object (psycopg.pq): the statements
    prepared once, and each transaction — BEGIN, its statements, COMMIT — sent in one
    pipeline (as trail.py sent issue 4's append) and its results read back. As little
    client work per transaction as psycopg allows: 16 Python clients share the machine's
    CPUs with the server, and the driver-only rows are there to show what each design lets
    the database do, not what the client costs."""

    def __init__(self, database_url: str):
        self.connection = psycopg.connect(driver_url(database_url), autocommit=True)
        self.pgconn = self.connection.pgconn
        self.pgconn.nonblocking = 0
        for name, sql in _DRIVER_STATEMENTS.items():
            result = self.pgconn.prepare(name, sql.encode())
            if result.status != pq.ExecStatus.COMMAND_OK:
                raise RuntimeError(result.error_message.decode(errors="replace"))

    def transaction(self, statements: list[tuple[bytes, list[bytes | None]]]) -> None:
        pgconn = self.pgconn
        failure = None
        pgconn.enter_pipeline_mode()
        try:
            pgconn.send_query_params(b"BEGIN", None)
            for name, parameters in statements:
                pgconn.send_query_prepared(name, parameters)
            pgconn.send_query_params(b"COMMIT", None)
            pgconn.pipeline_sync()
            while True:
                result = pgconn.get_result()
                if result is None:
                    continue  # the end of one statement's results
                if result.status == pq.ExecStatus.PIPELINE_SYNC:
                    break
                if result.status == pq.ExecStatus.FATAL_ERROR and failure is None:
                    failure = result.error_message.decode(errors="replace")
        finally:
            pgconn.exit_pipeline_mode()
        if failure is not None:
            raise RuntimeError(f"driver-only transaction failed: {failure}")

    def close(self) -> None:
        self.connection.close()


class _Client:
    """What one client process does, row after row: its app (the app path) and its own
    psycopg connection (the driver-only rows), each made when first needed."""

    def __init__(self, database_url: str, instance: str, index: int, user_id: uuid.UUID):
        self.database_url, self.instance, self.index, self.user_id = database_url, instance, index, user_id
        self.app: Flask | None = None
        self.driver: DriverConnection | None = None
        self.numbers = {mode: itertools.count() for mode in (*APP_MODES, *DRIVER_MODES)}

    def target_id(self, mode: str) -> str:
        return str(self.user_id) if mode in APP_MODES else f"driver-{self.index}"

    def operation(self, mode: str, commits: dict[int, float]) -> Callable[[], None]:
        numbers = self.numbers[mode]
        if mode in APP_MODES:
            if self.app is None:
                self.app = audit_app(self.database_url, Path(self.instance))
            app, user_id, audited = self.app, self.user_id, mode == "audited"

            def app_write() -> None:
                # A small real change through the app's session, and with `audited` its entry.
                number = next(numbers)
                with app.app_context():
                    db.session.execute(_SMALL_CHANGE, {"user_id": user_id, "moment": utcnow()})
                    if audited:
                        record(APP_ACTION, target_type="user", target_id=user_id, fields=["last_sign_in_at"],
                               n=number)
                    db.session.commit()
                if audited:
                    commits[number] = time.time()
            return app_write

        if self.driver is None:
            self.driver = DriverConnection(self.database_url)
        driver, client, target_id = self.driver, str(self.index).encode(), self.target_id(mode).encode()

        def driver_write() -> None:
            # The action alone, + issue 22's entry insert, or + issue 4's head-lock append.
            number = next(numbers)
            moment = utcnow()
            stored = moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ").encode()  # as UTCDateTime stores it
            statements = [(b"action", [client, stored, b"bench"])]
            if mode != "action":
                detail = canonical_json({"n": number})
                # HASHED_FIELDS' order: occurred_at, actor_id, actor_role, actor_unit, action, target_type,
                # target_id, outcome, client_address, request_id, detail
                values = [stored, None, None, None, _DRIVER_ACTION, b"bench_client", target_id, b"success", b"cli",
                          None, detail]
                if mode == "headlock":
                    fields = {"occurred_at": moment, "action": DRIVER_ACTION, "target_type": "bench_client",
                              "target_id": target_id.decode(), "outcome": "success", "client_address": "cli",
                              "detail": detail.decode()}
                    values.append(canonical_json(entry_payload(fields)))
                statements.append((mode.encode(), values))
            driver.transaction(statements)
            if mode == "entry":
                commits[number] = time.time()
        return driver_write

    def close(self) -> None:
        if self.app is not None:
            with self.app.app_context():
                db.engine.dispose()
        if self.driver is not None:
            self.driver.close()


def _client_process(database_url, instance, index, user_id, commands, start_line, results) -> None:
    """One client, an OS process of its own (its own app, engine and interpreter), kept for
    every row: each command is a row's mode and time."""
    client = _Client(database_url, instance, index, user_id)
    try:
        while (command := commands.get()) is not None:
            mode, seconds = command
            commits: dict[int, float] = {}
            operation = client.operation(mode, commits)
            operation()  # warm up: the first connection, statements prepared
            start_line.wait(timeout=300)
            count = 0
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                operation()
                count += 1
            results.put(ClientResult(index, count, client.target_id(mode), commits))
    except BaseException as error:  # reported by the parent, never swallowed
        start_line.abort()  # nobody waits for this client any more
        results.put(f"{type(error).__name__}: {error}"[:300])
    finally:
        client.close()


class ClientPool:
    """The client processes (spawned: a fresh interpreter each, as a worker is), started once
    and kept for every row; each row runs on all of them for the same time, from the moment
    every one is ready."""

    def __init__(self, database_url: str, instance: Path, user_ids: list[uuid.UUID]):
        context = multiprocessing.get_context("spawn")
        self.start_line = context.Barrier(len(user_ids) + 1)
        self.results = context.Queue()
        self.commands = [context.Queue() for _ in user_ids]
        self.processes = [context.Process(target=_client_process, args=(database_url, str(instance), index, user_id,
                                                                          self.commands[index], self.start_line,
                                                                          self.results))
                          for index, user_id in enumerate(user_ids)]
        for process in self.processes:
            process.start()

    def measure(self, mode: str, seconds: float, on_start: Callable[[], None] = lambda: None) -> list[ClientResult]:
        for commands in self.commands:
            commands.put((mode, seconds))
        with suppress(threading.BrokenBarrierError):  # a client failed: its message says why
            self.start_line.wait(timeout=300)
        on_start()
        outcomes = [self.results.get(timeout=seconds + 300) for _ in self.processes]
        failures = [outcome for outcome in outcomes if isinstance(outcome, str)]
        if failures:
            raise RuntimeError(f"a client failed: {failures[0]}")
        return sorted(outcomes, key=lambda outcome: outcome.index)

    def close(self) -> None:
        for commands in self.commands:
            commands.put(None)
        for process in self.processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()


@contextmanager
def client_pool(database_url: str, instance: Path, user_ids: list[uuid.UUID]) -> Iterator[ClientPool]:
    pool = ClientPool(database_url, instance, user_ids)
    try:
        yield pool
    finally:
        pool.close()


def writer_users(app: Flask, clients: int) -> list[uuid.UUID]:
    """One account per client, so the baseline's row locks never collide either."""
    with app.app_context():
        unit = db.session.scalar(select(Unit).where(Unit.code == "BENCH"))
        ids = []
        for number in range(clients):
            username = f"bench.writer.{number:02d}"
            user = db.session.scalar(select(User).where(User.username == username))
            if user is None:
                user = User(id=uuid.uuid4(), username=username, display_name=username, unit=unit, role=Role.OFFICER,
                            clearance=Clearance.UNCLASSIFIED, active=False, password_hash="!",  # noqa: S106 - no hash: never signs in
                            must_change_password=True)
                db.session.add(user)
            ids.append(user.id)
        db.session.commit()
    return ids


# --- the sequencer, and what it tells ----------------------------------------------------------

def _sequencer_process(database_url, instance, ready, stop, results) -> None:
    """audit/sequencer.py's Runner with the app's settings, as `flask --app app audit sequence`
    runs it; notes when each pass's commit returned and the head it reached."""
    try:
        app = audit_app(database_url, Path(instance))
        passes: list[tuple[float, int]] = []
        with app.app_context():
            engine = sequencer.sequencer_engine()
            runner = sequencer.Runner(engine, batch=app.config["HOSO_AUDIT_SEQUENCE_BATCH"],
                                      poll_seconds=app.config["HOSO_AUDIT_SEQUENCE_POLL_MS"] / 1000,
                                      stopping=stop.is_set,
                                      on_pass=lambda result: passes.append((time.time(), result.head_seq)))
            ready.set()
            linked = runner.run()
            engine.dispose()
        results.put((linked, passes, time.process_time()))
    except BaseException as error:  # reported by the parent, never swallowed
        ready.set()
        results.put(f"{type(error).__name__}: {error}"[:300])


@dataclass
class SequencerRun:
    linked: int = 0
    passes: list[tuple[float, int]] = field(default_factory=list)
    cpu_seconds: float = 0.0
    pid: int | None = None

    def chained_at(self, seq: int) -> float | None:
        """When the link `seq` was committed: the first pass whose head reached it."""
        heads = [head for _moment, head in self.passes]
        position = bisect.bisect_left(heads, seq)
        return self.passes[position][0] if position < len(self.passes) else None


@contextmanager
def running_sequencer(database_url: str, instance: Path) -> Iterator[SequencerRun]:
    context = multiprocessing.get_context("spawn")
    ready, stop, results = context.Event(), context.Event(), context.Queue()
    process = context.Process(target=_sequencer_process, args=(database_url, str(instance), ready, stop, results))
    process.start()
    ready.wait(timeout=120)
    outcome = SequencerRun(pid=process.pid)
    try:
        yield outcome
    finally:
        stop.set()
        answer = results.get(timeout=120)
        process.join(timeout=30)
        if isinstance(answer, str):
            raise RuntimeError(f"the audit sequencer failed: {answer}")
        outcome.linked, outcome.passes, outcome.cpu_seconds = answer


def pending_entries(database_url: str) -> int:
    """Entries after the sequenced position: committed, not linked yet."""
    with psycopg.connect(driver_url(database_url), autocommit=True) as connection:
        return connection.execute(
            "SELECT count(*) FROM audit_entries e, audit_chain_head h WHERE h.id = 1 AND "
            "(e.generation, e.xact_id, e.id) > (h.sequenced_generation, h.sequenced_xact, h.sequenced_entry)"
        ).fetchone()[0]


def wait_until_sequenced(database_url: str, timeout: float = DRAIN_SECONDS) -> float:
    """Seconds until the running sequencer had linked every committed entry."""
    start = time.perf_counter()
    while pending_entries(database_url):
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"the audit sequencer left entries unlinked for {timeout:.0f} s")
        time.sleep(0.05)
    return time.perf_counter() - start


# --- CPU per write -------------------------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")
CPU_PARTS = ("clients", "server", "sequencer", "sequencer's server")


def _process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process of this machine (Linux /proc), None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


class CpuMeter:
    """The CPU time a row costs: its client processes, the sequencer, and — when PostgreSQL
    runs on this machine — the server processes serving them (the clients' and the
    sequencer's). Divided by the
    row's writes it is a figure other work on the machine does not change (the rates are
    shared with whatever else runs here); None where the server's processes cannot be read."""

    def __init__(self, database_url: str, clients: list[int], others: list[int]):
        self.clients = set(clients)
        self.pids = [*clients, *others]
        self.connection = None
        if database_url.startswith("postgresql"):
            self.connection = psycopg.connect(driver_url(database_url), autocommit=True)
            if not all(_is_postgres(pid) for pid in self._backends()):
                self.connection.close()
                self.connection = None
                self.pids = []  # the server is elsewhere: its share cannot be read
        self.started: dict[int, float] = {}

    def _backends(self) -> list[int]:
        if self.connection is None:
            return []
        return [pid for (pid,) in self.connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]

    def _sequencer_backends(self) -> set[int]:
        """The server process of the sequencer: the one holding its advisory lock."""
        if self.connection is None:
            return set()
        return {pid for (pid,) in self.connection.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid::bigint = %s "
            "AND objid::bigint = %s", (sequencer.ADVISORY_KEY >> 32, sequencer.ADVISORY_KEY & 0xFFFFFFFF))}

    def _sample(self) -> dict[int, float]:
        samples = {pid: _process_cpu(pid) for pid in [*self.pids, *self._backends()]}
        return {pid: value for pid, value in samples.items() if value is not None}

    def start(self) -> None:
        self.started = self._sample()

    def stop(self) -> dict[str, float] | None:
        """CPU seconds since start() of the clients, the sequencer and the server's processes;
        None when it cannot be measured here."""
        if not self.pids:
            return None
        parts = dict.fromkeys(CPU_PARTS, 0.0)
        sequencer_backends = self._sequencer_backends()
        for pid, value in self._sample().items():
            part = ("clients" if pid in self.clients else "sequencer" if pid in self.pids
                    else "sequencer's server" if pid in sequencer_backends else "server")
            parts[part] += value - self.started.get(pid, 0.0)
        return parts

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


def _is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip().startswith("postgres")
    except OSError:
        return False


@dataclass(frozen=True)
class Latency:
    label: str
    entries: int
    unchained: int
    p50: float
    p99: float
    worst: float


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank of the sorted values."""
    return values[max(0, math.ceil(fraction * len(values)) - 1)]


def chained_latency(database_url: str, label: str, action: str, clients: list[ClientResult],
                    run: SequencerRun) -> Latency:
    """From each commit of `clients` to the sequencer's commit that linked its entry."""
    committed: dict[str, dict[int, float]] = {}
    for client in clients:  # a client's rounds, each numbered on from the last
        committed.setdefault(client.target_id, {}).update(client.commits)
    latencies = []
    with psycopg.connect(driver_url(database_url), autocommit=True) as connection:
        rows = connection.execute("SELECT l.seq, e.target_id, e.detail FROM audit_links l "
                                  "JOIN audit_entries e ON e.id = l.entry_id WHERE e.action = %s", (action,))
        for seq, target_id, detail in rows:
            moment = committed.get(target_id, {}).get(json.loads(detail)["n"])
            chained = run.chained_at(seq)
            if moment is not None and chained is not None:
                latencies.append(chained - moment)
    expected = sum(len(client.commits) for client in clients)
    latencies.sort()
    if not latencies:
        return Latency(label, 0, expected, math.nan, math.nan, math.nan)
    return Latency(label, len(latencies), expected - len(latencies), percentile(latencies, 0.50),
                   percentile(latencies, 0.99), latencies[-1])


# --- the head-lock scratch tables ------------------------------------------------------------------

def create_scratch_tables(database_url: str) -> None:
    with psycopg.connect(driver_url(database_url)) as connection:
        for table in _SCRATCH_TABLES:
            connection.execute(f"DROP TABLE IF EXISTS {table}")  # an earlier run's, interrupted
        for statement in _SCRATCH_DDL:
            connection.execute(statement)


def drop_scratch_tables(database_url: str) -> None:
    with psycopg.connect(driver_url(database_url)) as connection:
        for table in _SCRATCH_TABLES:
            connection.execute(f"DROP TABLE IF EXISTS {table}")


def check_headlock_chain(database_url: str) -> str:
    """The scratch chain the head-lock clients wrote, against chain.entry_hash: consecutive
    from 1, each link over its predecessor, the head on the last."""
    names = ("seq", "prev_hash", "entry_hash", *HASHED_FIELDS)
    with psycopg.connect(driver_url(database_url)) as connection:
        head_seq, head_hash = connection.execute("SELECT seq, entry_hash FROM bench_headlock_head").fetchone()
        rows = connection.execute(f"SELECT {', '.join(names)} FROM bench_headlock_entries ORDER BY seq")  # noqa: S608
        expected_seq, prev = 1, GENESIS_HASH
        for values in rows:
            row = dict(zip(names, values, strict=True))
            row["occurred_at"] = row["occurred_at"].replace(tzinfo=UTC)
            if (row["seq"], row["prev_hash"]) != (expected_seq, prev) or entry_hash(prev, row) != row["entry_hash"]:
                return f"BROKEN at seq {row['seq']}"
            expected_seq, prev = expected_seq + 1, row["entry_hash"]
    if (head_seq, head_hash) != (expected_seq - 1, prev):
        return "BROKEN at the head"
    return f"{head_seq:,} entries, consecutive, every server-computed link equal to chain.entry_hash"


# --- the section -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    label: str
    count: int
    rate: float
    baseline_rate: float
    of: str  # which row the ratio is taken of
    target: str = ""
    met: bool | None = None
    cpu_parts: dict[str, float] | None = None  # CPU seconds per operation: clients, sequencer, server

    @property
    def cpu(self) -> float | None:
        return sum(self.cpu_parts.values()) if self.cpu_parts is not None else None

    @property
    def ratio(self) -> float:
        return self.rate / self.baseline_rate if self.baseline_rate else math.nan


@dataclass
class Result:
    dialect: str
    rows: list[Row]
    latencies: list[Latency]
    chain_after: str
    headlock_chain: str | None
    notes: list[str]


def signed_elsewhere(app: Flask) -> bool:
    """Checkpoints signed by another instance's key (an earlier bench run on this database,
    whose temporary instance folder is gone): this run could not check them."""
    with app.app_context():
        lines = service.stored_checkpoint_lines()
        key = signing.load_public_key(keys_dir())
    return bool(lines) and (key is None or any(line.key_id != signing.key_id(key) for line in lines))


def _verdict(met: bool | None) -> str:
    return "" if met is None else ("met" if met else "NOT MET")


def _total(outcomes: list[ClientResult]) -> int:
    return sum(outcome.count for outcome in outcomes)


def run(database_url: str | None, instance: Path, *, entries: int, seconds: float, clients: int = CLIENTS,
        rounds: int = ROUNDS) -> Result:
    """Measure and print the section; returns what it printed. Each write row runs `rounds`
    times for seconds / rounds, the rows in turn (the order reversed every other round), so
    that a change in the machine's load during the run falls on every row alike."""
    app = audit_app(database_url, instance)
    with app.app_context():
        dialect = db.engine.dialect.name
    postgresql = dialect == "postgresql"
    if signed_elsewhere(app):
        raise SystemExit("audit bench: this database's trail was signed by another instance's key "
                         "(an earlier bench run?); give the bench a fresh database")
    print(f"\nAudit trail on {dialect}: {clients} client processes on {os.cpu_count()} CPUs, {seconds:g} s per "
          f"write row in {rounds} round{'s' if rounds > 1 else ''}")
    notes = []
    if not postgresql:
        notes.append(f"PostgreSQL only, not measured on {dialect}: {POSTGRESQL_ONLY}")
        print(f"  {notes[-1]}")
    print(f"  recording and linking {entries:,} synthetic entries ...", flush=True)
    started = time.perf_counter()
    append_synthetic_entries(app, entries)
    print(f"  (written in {time.perf_counter() - started:.1f} s)")
    print("  measuring: verification ...", flush=True)
    read_count, read_seconds = read_only_rate(app)
    checked, verify_seconds, summary = verify_rate(app, workers=1)
    parallel_checked, parallel_seconds, parallel_summary = verify_rate(app, workers=0)
    if not (summary.startswith("OK") and parallel_summary.startswith("OK")):
        raise RuntimeError(f"the bench's own chain does not verify: {summary} / {parallel_summary}")
    reference_count, reference_seconds = reference_rate(app, min(REFERENCE_SAMPLE, checked))

    ids = writer_users(app, clients)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    modes = (*APP_MODES, *DRIVER_MODES) if postgresql else APP_MODES
    measured: dict[str, list[ClientResult]] = {mode: [] for mode in modes}
    latencies: list[Latency] = []
    headlock_chain = None
    drains: list[float] = []
    cpu: dict[str, dict[str, float] | None] = {}
    with app.app_context():
        before_writes = service.head_seq()
    if postgresql:
        sequence_everything(app)
        create_scratch_tables(url)
    try:
        print(f"  starting {clients} client processes{' and the audit sequencer' if postgresql else ''} ...",
              flush=True)
        with (running_sequencer(url, instance) if postgresql else _nothing()) as sequencer_run, \
                client_pool(url, instance, ids) as pool:
            meter = CpuMeter(url, [process.pid for process in pool.processes],
                             [sequencer_run.pid] if sequencer_run is not None else [])
            for number in range(rounds):
                for mode in (modes if number % 2 == 0 else reversed(modes)):
                    label = SQLITE_AUDITED_LABEL if mode == "audited" and not postgresql else MODE_LABELS[mode]
                    print(f"  measuring: {label}, round {number + 1} ...", flush=True)
                    measured[mode] += pool.measure(mode, seconds / rounds, on_start=meter.start)
                    if postgresql and mode in ("audited", "entry"):
                        drains.append(wait_until_sequenced(url))  # the sequencer's share of the row
                    used = meter.stop()
                    if used is None or (mode in cpu and cpu[mode] is None):
                        cpu[mode] = None
                    else:
                        cpu[mode] = {part: cpu.get(mode, {}).get(part, 0.0) + used[part] for part in CPU_PARTS}
            meter.close()
        if postgresql:
            notes.append(f"sequencer: {sequencer_run.linked:,} entries linked in {len(sequencer_run.passes):,} passes, "
                         f"{sequencer_run.cpu_seconds:.1f} s of CPU; every entry linked at most {max(drains):.2f} s "
                         "after a row's clients stopped")
            latencies = [chained_latency(url, "app path: change + record()", APP_ACTION, measured["audited"],
                                         sequencer_run),
                         chained_latency(url, "driver only: action + entry insert", DRIVER_ACTION, measured["entry"],
                                         sequencer_run)]
            headlock_chain = check_headlock_chain(url)
    finally:
        if postgresql:
            drop_scratch_tables(url)
    with app.app_context():
        after = service.run_verification(from_seq=before_writes + 1)  # the chain the rows wrote
        db.engine.dispose()
    if not after.ok or after.pending:
        raise RuntimeError(f"the audited writes left the chain broken or unlinked: {after.summary()}")

    read_rate = read_count / read_seconds
    verify_one = checked / verify_seconds
    count = {mode: sum(outcome.count for outcome in outcomes) for mode, outcomes in measured.items()}
    rate = {mode: count[mode] / seconds for mode in modes}
    per_write = {mode: {part: seconds_ / count[mode] for part, seconds_ in cpu[mode].items()}
                 if cpu.get(mode) is not None and count[mode] else None for mode in modes}
    rows = [
        Row("read every entry, no hashing (baseline)", read_count, read_rate, read_rate, "read"),
        Row("audit verify, one walk (chain + checkpoints)", checked, verify_one, read_rate, "read",
            f"≥ {VERIFY_TARGET:,}/s", verify_one >= VERIFY_TARGET),
        Row(f"audit verify, parallel ({parallel.worker_count(0)} processes)", parallel_checked,
            parallel_checked / parallel_seconds, read_rate, "read"),
        Row("reference: ORM rows + chain.entry_hash", reference_count, reference_count / reference_seconds,
            read_rate, "read"),
        Row(MODE_LABELS["bare"], count["bare"], rate["bare"], rate["bare"], "no audit", cpu_parts=per_write["bare"]),
        Row(MODE_LABELS["audited"] if postgresql else SQLITE_AUDITED_LABEL,
            count["audited"], rate["audited"], rate["bare"], "no audit",
            f"≥ {APP_RATIO_TARGET}×" if postgresql else "",
            rate["audited"] / rate["bare"] >= APP_RATIO_TARGET if postgresql else None, cpu_parts=per_write["audited"]),
    ]
    if postgresql:
        rows += [
            Row(MODE_LABELS["action"], count["action"], rate["action"], rate["action"], "action",
                cpu_parts=per_write["action"]),
            Row(MODE_LABELS["headlock"], count["headlock"], rate["headlock"], rate["action"], "action",
                cpu_parts=per_write["headlock"]),
            Row(MODE_LABELS["entry"], count["entry"], rate["entry"], rate["headlock"], "head-lock",
                f"≥ {DRIVER_RATIO_TARGET}×", rate["entry"] / rate["headlock"] >= DRIVER_RATIO_TARGET,
                cpu_parts=per_write["entry"]),
        ]
    result = Result(dialect, rows, latencies, after.summary(), headlock_chain, notes)
    print_result(result, audited_rate=rate["audited"] if postgresql else None, verify_one=verify_one)
    return result


MODE_LABELS = {
    "bare": "app path: small change, no audit (baseline)",
    "audited": "app path: change + record(), sequencer running",
    "action": "driver only: action insert alone (baseline)",
    "headlock": "driver only: action + head-lock append (issue 4)",
    "entry": "driver only: action + entry insert (issue 22)",
}


@contextmanager
def _nothing() -> Iterator[None]:
    yield None

SQLITE_AUDITED_LABEL = "app path: change + record(), linked in-transaction"


def _cpu_text(row: Row) -> str:
    parts = ", ".join(f"{part} {row.cpu_parts[part] * 1e6:,.0f}" for part in CPU_PARTS if row.cpu_parts[part] >= 5e-7)
    return f"{row.cpu * 1e6:,.0f} ({parts})"


def print_result(result: Result, *, audited_rate: float | None, verify_one: float) -> None:
    print()
    print(f"{'audit operation':<50} {'count':>10} {'per s':>10} {'CPU µs':>7} {'ratio':>7}  {'of':<10} target")
    for row in result.rows:
        target = f"{row.target}: {_verdict(row.met)}" if row.target else ""
        cpu = f"{row.cpu * 1e6:,.0f}" if row.cpu is not None else "-"
        print(f"{row.label:<50} {row.count:>10,} {row.rate:>10,.0f} {cpu:>7} {row.ratio:>7.2f}  {row.of:<10} "
              f"{target}".rstrip())
    if result.latencies:
        print()
        print(f"{'commit → chained':<50} {'entries':>10} {'p50 ms':>10} {'p99 ms':>7}  {'max ms':<10} target")
        for latency in result.latencies:
            met = latency.unchained == 0 and latency.p99 <= CHAINED_P99_TARGET
            print(f"{latency.label:<50} {latency.entries:>10,} {latency.p50 * 1000:>10.0f} "
                  f"{latency.p99 * 1000:>7.0f}  {latency.worst * 1000:<10.0f} "
                  f"p99 ≤ {CHAINED_P99_TARGET * 1000:,.0f} ms: {_verdict(met)}"
                  + (f" ({latency.unchained} never linked)" if latency.unchained else ""))
    print()
    for note in result.notes:
        print(note)
    print(f"chain written by the rows: {result.chain_after}")
    if result.headlock_chain is not None:
        print(f"head-lock scratch chain: {result.headlock_chain}")
    rows = {row.label: row for row in result.rows}
    pairs = [(name, rows.get(base), rows.get(measured)) for name, base, measured in (
        ("app path, no audit → audited", MODE_LABELS["bare"], MODE_LABELS["audited"]),
        ("app path, no audit → audited", MODE_LABELS["bare"], SQLITE_AUDITED_LABEL),
        ("driver only, head lock → entry insert", MODE_LABELS["headlock"], MODE_LABELS["entry"]))]
    cpu = [f"{name} {_cpu_text(base)} → {_cpu_text(measured)}: {base.cpu / measured.cpu:.2f}×"
           for name, base, measured in pairs if base and measured and base.cpu and measured.cpu]
    if cpu:
        print("CPU per write, µs (the rows' own processes: other work on the machine does not count): "
              + "; ".join(cpu))
    if audited_rate is not None:
        app_row = rows[MODE_LABELS["audited"]]
        driver_row = rows[MODE_LABELS["entry"]]
        app_latency = result.latencies[0]
        print(f"targets (issue 22, {result.dialect}): app-path audited ÷ no audit {app_row.ratio:.3f} "
              f"(≥ {APP_RATIO_TARGET}: {_verdict(app_row.met)}); driver-only entry insert ÷ head lock "
              f"{driver_row.ratio:.3f} (≥ {DRIVER_RATIO_TARGET}: {_verdict(driver_row.met)}); commit → chained p99 "
              f"{app_latency.p99:.3f} s (≤ {CHAINED_P99_TARGET:g} s: "
              f"{_verdict(app_latency.unchained == 0 and app_latency.p99 <= CHAINED_P99_TARGET)})")
        print(f"targets (issue 4, {result.dialect}): verify {verify_one:,.0f} entries/s (≥ {VERIFY_TARGET:,}: "
              f"{_verdict(verify_one >= VERIFY_TARGET)}); app-path audited writes {audited_rate:,.0f}/s "
              f"(≥ {WRITES_TARGET:,}: {_verdict(audited_rate >= WRITES_TARGET)})")
    else:
        print(f"targets (issue 4, {result.dialect}): verify {verify_one:,.0f} entries/s (≥ {VERIFY_TARGET:,}: "
              f"{_verdict(verify_one >= VERIFY_TARGET)}); the write targets are PostgreSQL's (issue 22)")


# --- python -m bench.audit ---------------------------------------------------------------------------

@contextmanager
def bench_database(url: str | None) -> Iterator[str]:
    """The given database as it is; without one, a new database on the local PostgreSQL
    server, dropped afterwards."""
    if url:
        yield url
        return
    server = make_url(DEFAULT_SERVER)
    name = f"hoso_audit_{secrets.token_hex(4)}"
    admin_url = driver_url(DEFAULT_SERVER)
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        raise SystemExit(f"audit bench: no PostgreSQL at {server.host}:{server.port} ({type(error).__name__}); "
                         "give --database-url (a scratch PostgreSQL database, or sqlite:///FILE for the "
                         "SQLite rows only)") from None
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a scratch database, used as it is (default: a new database on the "
                                               "local PostgreSQL server, dropped afterwards); sqlite:///FILE "
                                               "runs the SQLite rows only")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="time per write row")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="client processes per write row")
    parser.add_argument("--entries", type=int, default=DEFAULT_ENTRIES, help="synthetic entries to verify")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="each write row split into this many turns")
    parser.add_argument("--instance", type=Path, help="the instance folder (keys) to use and keep, so that the "
                                                      "trail can be verified afterwards (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or args.entries < 1 or args.rounds < 1:
        parser.error("--clients, --seconds, --rounds and --entries must be positive")
    from bench.instance import build_hoso  # its crypto tables only where the bench runs

    with bench_database(args.database_url) as url, \
            (_kept(args.instance) if args.instance else tempfile.TemporaryDirectory()) as folder:
        instance = Path(folder)
        app = build_hoso(url, instance)
        with app.app_context():
            db.engine.dispose()
        run(url, instance, entries=args.entries, seconds=args.seconds, clients=args.clients, rounds=args.rounds)
    return 0


@contextmanager
def _kept(folder: Path) -> Iterator[str]:
    folder.mkdir(parents=True, exist_ok=True)
    yield str(folder)


if __name__ == "__main__":
    sys.exit(main())
