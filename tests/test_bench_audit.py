"""The audit bench (bench/audit.py, `python -m bench.audit`) at a tiny size, so that it cannot
rot: it records and links its synthetic entries, verifies them, drives every write row with
client processes (and on PostgreSQL the real sequencer beside them, and issue 4's head lock in
its scratch tables) and prints its table. Speed is not a test: no figure is asserted, only the
table's shape, that every row did something, and that the trail the bench wrote verifies
afterwards with `flask --app app audit verify` on the bench's own instance.

In a process of its own, as the other benches: it builds an instance (Alembic configures
logging) and registers the crypto bench's tables, neither of which belongs in the suite's
process. On a scratch database of the suite's PostgreSQL server when the suite runs on one,
else on an SQLite file, where the bench says which rows it leaves out."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from tests.conftest import scratch_postgresql_database

ROOT = Path(__file__).resolve().parent.parent
ENTRIES = 300
VERIFY_ROWS = ("read every entry, no hashing (baseline)", "audit verify, one walk (chain + checkpoints)",
               "audit verify, parallel ({workers} processes)", "reference: ORM rows + chain.entry_hash")
APP_ROWS = ("app path: small change, no audit (baseline)", "app path: change + record(), sequencer running")
SQLITE_APP_ROWS = ("app path: small change, no audit (baseline)", "app path: change + record(), linked in-transaction")
DRIVER_ROWS = ("driver only: action insert alone (baseline)", "driver only: action + head-lock append (issue 4)",
               "driver only: action + entry insert (issue 22)")
LATENCY_ROWS = ("app path: change + record()", "driver only: action + entry insert")
# label, count, per s, CPU µs per operation (or -), ratio, of, [target: verdict]
ROW = re.compile(r"^(?P<label>.+?)\s+(?P<count>[\d,]+)\s+(?P<rate>[\d,]+)\s+(?P<cpu>[\d,]+|-)\s+(?P<ratio>[\d.]+)\s+"
                 r"(?P<of>read|no audit|action|head-lock)(?:\s+(?P<target>.+))?$")
# label, entries, p50 ms, p99 ms, max ms, target: verdict
LATENCY = re.compile(r"^(?P<label>.+?)\s+(?P<entries>[\d,]+)\s+(?P<p50>-?\d+)\s+(?P<p99>-?\d+)\s+(?P<max>-?\d+)\s+"
                     r"p99 ≤ 1,000 ms: (?:met|NOT MET)$")
VERDICT = r"(?:met|NOT MET)"


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _rows(lines: list[str], header: str, count: int, pattern: re.Pattern) -> list[re.Match]:
    start = next(index for index, line in enumerate(lines) if line.startswith(header))
    rows = [pattern.match(line) for line in lines[start + 1: start + 1 + count]]
    assert all(rows), lines[start: start + 1 + count]
    return rows


def test_the_audit_bench_runs_at_a_tiny_size(tmp_path):
    server = os.environ.get("TEST_DATABASE_URL", "")
    postgresql = server.startswith("postgresql")
    scratch = scratch_postgresql_database("hoso_bench_audit", "") if postgresql else nullcontext(
        f"sqlite:///{tmp_path / 'bench-audit.db'}")
    instance = tmp_path / "instance"
    environment = {name: value for name, value in os.environ.items() if not name.startswith("HOSO_")}
    with scratch as database_url:
        result = subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
            [sys.executable, "-m", "bench.audit", "--database-url", database_url, "--seconds", "1", "--rounds", "1",
             "--clients", "2", "--entries", str(ENTRIES), "--instance", str(instance)],
            cwd=ROOT, env=environment, capture_output=True, text=True, timeout=900, check=False)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        lines = result.stdout.splitlines()
        dialect = "postgresql" if postgresql else "sqlite"
        assert any(line.startswith(f"Audit trail on {dialect}: 2 client processes") for line in lines)

        labels = [*VERIFY_ROWS, *(APP_ROWS if postgresql else SQLITE_APP_ROWS), *(DRIVER_ROWS if postgresql else ())]
        rows = _rows(lines, "audit operation ", len(labels), ROW)
        workers = re.search(r"parallel \((\d+) processes\)", rows[2]["label"]).group(1)
        assert [row["label"] for row in rows] == [label.format(workers=workers) for label in labels]
        assert all(_number(row["count"]) > 0 for row in rows)
        assert _number(rows[0]["count"]) == _number(rows[1]["count"]) == _number(rows[2]["count"]) >= ENTRIES
        assert [float(rows[index]["ratio"]) for index in (0, 4)] == [1.0, 1.0]  # the baselines
        assert {row["cpu"] for row in rows[:4]} == {"-"}  # no CPU figure for the verification rows
        cpu_line = next((line for line in lines if line.startswith("CPU per write, µs ")), None)
        if cpu_line is not None:  # the rows' processes could be read (a local server, or SQLite)
            assert all(row["cpu"] != "-" for row in rows[4:])
            assert re.search(r"app path, no audit → audited [\d,]+ \(clients [\d,]+.*\) → [\d,]+ \(clients [\d,]+.*\): "
                             r"[\d.]+×", cpu_line), cpu_line
        assert re.fullmatch(rf"≥ 200,000/s: {VERDICT}", rows[1]["target"])
        assert re.search(rf"^targets \(issue 4, {dialect}\): verify [\d,]+ entries/s \(≥ 200,000: {VERDICT}\)",
                         result.stdout, re.MULTILINE)
        chain_line = next(line for line in lines if line.startswith("chain written by the rows: "))
        assert chain_line.startswith("chain written by the rows: OK: ")

        if postgresql:
            assert re.fullmatch(rf"≥ 0.75×: {VERDICT}", rows[5]["target"])
            assert float(rows[6]["ratio"]) == 1.0 and rows[8]["of"] == "head-lock"
            assert re.fullmatch(rf"≥ 2.5×: {VERDICT}", rows[8]["target"])
            latencies = _rows(lines, "commit → chained ", len(LATENCY_ROWS), LATENCY)
            assert [row["label"] for row in latencies] == list(LATENCY_ROWS)
            assert all(_number(row["entries"]) > 0 for row in latencies)
            assert "never linked" not in result.stdout  # every entry the clients committed was chained
            assert re.search(r"^head-lock scratch chain: [\d,]+ entries, consecutive, every server-computed link "
                             r"equal to chain.entry_hash$", result.stdout, re.MULTILINE)
            assert re.search(rf"^targets \(issue 22, postgresql\): app-path audited ÷ no audit [\d.]+ \(≥ 0.75: "
                             rf"{VERDICT}\); driver-only entry insert ÷ head lock [\d.]+ \(≥ 2.5: {VERDICT}\); "
                             rf"commit → chained p99 -?[\d.]+ s \(≤ 1 s: {VERDICT}\)$", result.stdout, re.MULTILINE)
            url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
            with psycopg.connect(url) as connection:
                left = connection.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'bench\\_%'").fetchone()
            assert left == (0,)  # the scratch tables are gone
        else:
            assert not [line for line in lines if line.startswith(("driver only", "commit → chained"))]
            assert any(line.startswith("PostgreSQL only, not measured on sqlite: driver-only rows") for line in lines)

        # The trail the bench wrote (its synthetic entries and every audited write) verifies
        # with the CLI, against the checkpoints the bench's instance key signed.
        verified = subprocess.run(  # noqa: S603 - our own interpreter and CLI, fixed arguments
            [sys.executable, "-m", "flask", "--app", "app", "audit", "verify"], cwd=ROOT, capture_output=True,
            text=True, timeout=300, check=False,
            env={**environment, "HOSO_INSTANCE_PATH": str(instance), "HOSO_DATABASE_URL": database_url,
                 "HOSO_SECRET_KEY": "bench", "HOSO_LOG_LEVEL": "WARNING"})
        assert verified.returncode == 0, verified.stdout[-2000:] + verified.stderr[-2000:]
        summary = re.search(r"^OK: (\d+) entries verified, last seq (\d+), (\d+) checkpoints verified",
                            verified.stdout, re.MULTILINE)
        assert summary is not None, verified.stdout[-2000:]
        written = ENTRIES + sum(_number(row["count"]) for row in rows
                                if row["label"].startswith(("app path: change", "driver only: action + entry")))
        assert int(summary.group(1)) == int(summary.group(2)) >= written
        assert int(summary.group(3)) >= 1
