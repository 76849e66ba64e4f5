"""The partner API bench (bench/api.py) at a tiny size, so that it cannot rot: it builds its
instance and requests, serves Hoso and the bare page under gunicorn, drives every row with
concurrent clients and prints its table. Speed is not a test: no figure is asserted, only
the table's shape and that every row did what it says (no 5xx, every call answered as
expected).

In a process of its own: the bench's modules and its app configure logging and start servers,
none of which belongs in the suite's process. On the suite's PostgreSQL server when the suite
runs on one (a scratch database made and dropped by the bench), else on SQLite."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS = ("bare page (bench/bare_page.py)", "API read: GET /api/v1/requests/<id>", "web read: GET /requests/<id>",
        "API write: POST .../findings (If-Match, key)", "web write: POST finding form + its GET")
# label, calls, per s, p50, p95, p99, not ok, × bare rate
ROW = re.compile(r"^(?P<label>.+?)\s+(?P<calls>\d+)\s+(?P<rate>[\d.]+)\s+(?P<p50>[\d.]+)\s+(?P<p95>[\d.]+)\s+"
                 r"(?P<p99>[\d.]+)\s+(?P<not_ok>\d+)\s+(?P<ratio>[\d.]+)$")


def test_the_api_bench_runs_at_a_tiny_size():
    environment = {name: value for name, value in os.environ.items() if not name.startswith("HOSO_")}
    database = os.environ.get("TEST_DATABASE_URL", "")
    extra = ["--database-url", database] if database.startswith("postgresql") else []
    result = subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-m", "bench.api", "--seconds", "1", "--clients", "3", "--workers", "2", *extra],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    lines = result.stdout.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("operation ")))
    assert lines[header].split() == ["operation", "calls", "per", "s", "p50", "ms", "p95", "ms", "p99", "ms",
                                     "not", "ok", "×", "bare", "rate"]
    rows = [ROW.match(line) for line in lines[header + 1: header + 1 + len(ROWS)]]
    assert all(rows), lines[header:]
    assert tuple(row["label"] for row in rows) == ROWS
    for row in rows:
        assert int(row["calls"]) > 0 and float(row["rate"]) > 0
        assert int(row["not_ok"]) == 0, row.string
    assert float(rows[0]["ratio"]) == 1.0
    assert re.search(r"^API reads per second ÷ web reads per second: \d+\.\d\d$", result.stdout, re.MULTILINE)
    assert re.search(r"^API writes per second ÷ web writes per second: \d+\.\d\d$", result.stdout, re.MULTILINE)
    assert "sqlite" in lines[0] or "postgresql" in lines[0]
