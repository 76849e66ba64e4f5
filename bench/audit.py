"""The audit trail's two figures from issue 4, each beside a baseline from the same run:

- verification speed (target ≥ 200k entries/s): `audit verify`'s own code over synthetic
  entries appended to the chain, beside reading the same rows without hashing them; the
  reference definition (chain.entry_hash over ORM rows) is shown on a sample for scale;
- verification split over one process per CPU (audit/parallel.py), as `audit verify` runs
  on a log longer than HOSO_AUDIT_VERIFY_PARALLEL_FROM;
- audited writes per second with 16 concurrent clients (target ≥ 1,000/s on PostgreSQL),
  each a process of its own as a gunicorn worker is: a small change plus its audit entry,
  each in its own transaction, beside the same change without the entry; on PostgreSQL
  also both through psycopg alone (no Flask, no ORM), with audit/trail.py's own append
  statement: the rate the chain-head lock allows on this machine whatever the app costs.

The synthetic entries are appended to the database's real chain under the chain-head lock
(so the trail stays valid): use a scratch database.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from datetime import UTC, timedelta
from pathlib import Path

import psycopg
from flask import Flask
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import make_url

from app import create_app
from audit import parallel, service, signing
from audit.chain import HASHED_FIELDS, entry_hash, link_hash, payload_of_text
from audit.models import AuditEntry
from audit.trail import (
    _APPEND_SQL,
    PendingEntry,
    _lock_head,
    _statement_parameters,
    keys_dir,
    record,
)
from protection.clock import utcnow
from protection.db import db
from protection.identity import Clearance, Role, Unit, User

CLIENTS = 16
INSERT_BATCH = 10_000
REFERENCE_SAMPLE = 20_000
DETAIL = '{"fields":["full_name"]}'


def audit_app(database_url: str | None, instance: Path) -> Flask:
    """Its own app on the bench's database, with a pool big enough for every client."""
    config = {"SECRET_KEY": "bench", "HOSO_INSTANCE_PATH": str(instance), "HOSO_LOG_LEVEL": "WARNING",
              "SQLALCHEMY_ENGINE_OPTIONS": {"hide_parameters": True, "pool_size": CLIENTS + 2, "max_overflow": 0}}
    if database_url:
        config["HOSO_DATABASE_URL"] = database_url
    return create_app(config)


def append_synthetic_entries(app: Flask, count: int) -> None:
    """`count` entries shaped like real ones, hashed and linked onto the current head."""
    actors = [(str(actor), actor) for actor in (uuid.uuid4() for _ in range(50))]
    with app.app_context():
        head = _lock_head()
        seq, prev = head.seq, head.entry_hash
        moment = (utcnow() - timedelta(days=30)).astimezone(UTC)
        rows = []
        for number in range(count):
            seq += 1
            actor_text, actor_id = actors[number % len(actors)]
            occurred = moment + timedelta(milliseconds=number)
            target = f"00000000-0000-4000-8000-{number:012x}"
            request_id = f"{number & 0xFFFFFFFF:08X}"
            link = link_hash(prev, payload_of_text(
                "subject.view", actor_text, "officer", "BTCTU", "10.20.30.40", DETAIL,
                occurred.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z", "success", request_id,
                target, "subject"))
            rows.append({"seq": seq, "occurred_at": occurred, "actor_id": actor_id, "actor_role": "officer",
                         "actor_unit": "BTCTU", "action": "subject.view", "target_type": "subject",
                         "target_id": target, "outcome": "success", "client_address": "10.20.30.40",
                         "request_id": request_id, "detail": DETAIL, "prev_hash": prev, "entry_hash": link})
            prev = link
            if len(rows) == INSERT_BATCH:
                db.session.connection().execute(insert(AuditEntry.__table__), rows)
                rows = []
        if rows:
            db.session.connection().execute(insert(AuditEntry.__table__), rows)
        head.seq, head.entry_hash = seq, prev
        db.session.commit()


def read_only_rate(app: Flask) -> tuple[int, float]:
    """The baseline: the verifier's own reads, every row, nothing hashed."""
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
        rows = db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(sample)
                                  .execution_options(yield_per=5000))
        matched = sum(1 for row in rows
                      if entry_hash(row.prev_hash, {name: getattr(row, name) for name in HASHED_FIELDS})
                      == row.entry_hash)
        elapsed = time.perf_counter() - start
        db.session.rollback()
        assert matched == sample, "the reference disagrees with the synthetic chain"
        return matched, elapsed


# --- writes ------------------------------------------------------------------------------------

def writer_users(app: Flask) -> list[uuid.UUID]:
    """One account per client, so the baseline's row locks never collide either."""
    with app.app_context():
        unit = db.session.scalar(select(Unit).where(Unit.code == "BENCH"))
        ids = []
        for number in range(CLIENTS):
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


def _count_operations(operation, seconds: float, start_line) -> int:
    """Once to warm up (the first connection, statements compiled), then as many times as
    `seconds` allow once every client is ready."""
    operation()
    start_line.wait(timeout=120)
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        operation()
        count += 1
    return count


def _client_process(database_url, instance, audited, user_id, seconds, start_line, results) -> None:
    """One client in a process of its own, as a gunicorn sync worker is: its own app,
    engine and interpreter (threads of one process would measure the GIL instead)."""
    try:
        app = audit_app(database_url, Path(instance))
        operation = small_change_audited if audited else small_change

        def one_write() -> None:
            with app.app_context():
                operation(user_id)
                db.session.commit()

        count = _count_operations(one_write, seconds, start_line)
        with app.app_context():
            db.engine.dispose()
        results.put(count)
    except BaseException as error:  # reported by the parent, never swallowed
        results.put(f"{type(error).__name__}: {error}"[:300])


def _driver_client_process(database_url, instance, audited, user_id, seconds, start_line, results) -> None:
    """The same write and the same append statement (audit/trail.py's, with its
    parameters) straight through psycopg, without Flask or SQLAlchemy: how many appends
    the chain head lets through on this machine at all, whatever the application costs."""
    try:
        url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        connection = psycopg.connect(url)
        change = "UPDATE users SET last_sign_in_at = %s WHERE id = %s"

        def operation() -> None:
            moment = utcnow()
            with connection.pipeline():
                connection.execute(change, (moment.replace(tzinfo=None), user_id))
                if audited:
                    fields = {"occurred_at": moment, "actor_id": None, "actor_role": None, "actor_unit": None,
                              "action": "bench.write", "target_type": "user", "target_id": str(user_id),
                              "outcome": "success", "client_address": "cli", "request_id": None,
                              "detail": '{"fields":["last_sign_in_at"]}'}
                    connection.execute(_APPEND_SQL, _statement_parameters(PendingEntry(fields)))
                connection.commit()

        count = _count_operations(operation, seconds, start_line)
        connection.close()
        results.put(count)
    except BaseException as error:  # reported by the parent, never swallowed
        results.put(f"{type(error).__name__}: {error}"[:300])


def concurrent_rate(database_url: str | None, instance: Path, audited: bool, ids: list[uuid.UUID],
                    seconds: float, *, client=_client_process) -> tuple[int, float]:
    context = multiprocessing.get_context("spawn")
    start_line = context.Barrier(len(ids) + 1)
    results = context.Queue()
    processes = [context.Process(target=client,
                                 args=(database_url, str(instance), audited, user_id, seconds, start_line, results))
                 for user_id in ids]
    for process in processes:
        process.start()
    start_line.wait(timeout=180)
    counts = [results.get(timeout=seconds + 180) for _ in processes]
    for process in processes:
        process.join()
    failures = [count for count in counts if isinstance(count, str)]
    if failures:
        raise RuntimeError(f"a client failed: {failures[0]}")
    return sum(counts), seconds


_SMALL_CHANGE = (update(User.__table__).where(User.__table__.c.id == bindparam("user_id"))
                 .values(last_sign_in_at=bindparam("moment")))


def small_change(user_id: uuid.UUID) -> None:
    db.session.execute(_SMALL_CHANGE, {"user_id": user_id, "moment": utcnow()})


def small_change_audited(user_id: uuid.UUID) -> None:
    small_change(user_id)
    record("bench.write", target_type="user", target_id=user_id, fields=["last_sign_in_at"])


# --- the section ---------------------------------------------------------------------------------

def signed_elsewhere(app: Flask) -> bool:
    """Checkpoints signed by another instance's key (an earlier bench run on this database,
    whose temporary instance folder is gone): this run could not check them."""
    with app.app_context():
        lines = service.stored_checkpoint_lines()
        key = signing.load_public_key(keys_dir())
    return bool(lines) and (key is None or any(line.key_id != signing.key_id(key) for line in lines))


def run(database_url: str | None, instance: Path, *, entries: int, seconds: float) -> None:
    app = audit_app(database_url, instance)
    dialect = app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0]
    if signed_elsewhere(app):
        raise SystemExit("audit bench: this database's trail was signed by another instance's key "
                         "(an earlier bench run?); give the bench a fresh database")
    print(f"\nAudit trail on {dialect}")
    print(f"  appending {entries:,} synthetic entries to the chain ...", flush=True)
    started = time.perf_counter()
    append_synthetic_entries(app, entries)
    print(f"  (written in {time.perf_counter() - started:.1f} s)")
    print("  measuring: verification ...", flush=True)
    read_count, read_seconds = read_only_rate(app)
    checked, verify_seconds, summary = verify_rate(app, workers=1)
    parallel_checked, parallel_seconds, parallel_summary = verify_rate(app, workers=0)
    if not (summary.startswith("OK") and parallel_summary.startswith("OK")):
        raise RuntimeError(f"the bench's own chain does not verify: {summary} / {parallel_summary}")
    sample = min(REFERENCE_SAMPLE, checked)
    reference_count, reference_seconds = reference_rate(app, sample)

    ids = writer_users(app)
    # The machine's CPUs, printed with the rates: the clients, and on a local PostgreSQL
    # its backends too, share them, and the audited rate depends on it (README, "How many
    # audited writes per second").
    print(f"  measuring: writes with {CLIENTS} concurrent client processes on {os.cpu_count()} CPUs ...", flush=True)
    bare_writes, bare_seconds = concurrent_rate(database_url, instance, False, ids, seconds)
    with app.app_context():
        before_writes = service.head_seq()
    audited_writes, audited_seconds = concurrent_rate(database_url, instance, True, ids, seconds)
    driver_rows = []
    if dialect.startswith("postgresql"):
        print(f"  measuring: the same writes with {CLIENTS} driver-only clients (no Flask, no ORM) ...", flush=True)
        driver_bare, _ = concurrent_rate(database_url, instance, False, ids, seconds, client=_driver_client_process)
        driver_audited, _ = concurrent_rate(database_url, instance, True, ids, seconds, client=_driver_client_process)
        driver_rows = [
            (f"{CLIENTS} driver-only clients: small change", driver_bare, driver_bare / seconds, driver_bare / seconds),
            (f"{CLIENTS} driver-only clients: change + append", driver_audited, driver_audited / seconds,
             driver_bare / seconds),
        ]
    with app.app_context():
        after = service.run_verification(from_seq=before_writes + 1)  # what the clients appended
        db.engine.dispose()
    if not after.ok:
        raise RuntimeError(f"concurrent audited writes broke the chain: {after.summary()}")

    read_rate = read_count / read_seconds
    bare_rate = bare_writes / bare_seconds
    rows = [
        ("read every entry, no hashing (baseline)", read_count, read_rate, read_rate),
        ("audit verify, one walk (chain + checkpoints)", checked, checked / verify_seconds, read_rate),
        (f"audit verify, parallel ({parallel.worker_count(0)} processes)", parallel_checked,
         parallel_checked / parallel_seconds, read_rate),
        ("reference: ORM rows + chain.entry_hash", reference_count, reference_count / reference_seconds, read_rate),
        (f"{CLIENTS} client processes: small change (baseline)", bare_writes, bare_rate, bare_rate),
        (f"{CLIENTS} client processes: change + audit entry", audited_writes, audited_writes / audited_seconds, bare_rate),
        *driver_rows,
    ]
    print()
    print(f"{'audit operation':<44} {'count':>9} {'per s':>10} {'× baseline':>11}")
    for label, count, rate, baseline in rows:
        print(f"{label:<44} {count:>9,} {rate:>10,.0f} {rate / baseline:>11.2f}")
    print(f"targets (issue 4): verify ≥ 200,000 entries/s; audited writes ≥ 1,000/s on PostgreSQL. "
          f"Chain after the writes: {after.summary()[:2]}")
