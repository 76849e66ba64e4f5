"""`python -m bench.pages [--database sqlite|postgresql|both] [--seconds 8] [--connections 4,16]
[--quick] [--gc-freeze on|off|compare]`: Hoso's protected pages against a bare Flask page, from
outside, under concurrent load (issue 19), recorded here, never asserted as a timed test.

For each database (SQLite in a fresh instance folder; PostgreSQL in a scratch database on
postgres@127.0.0.1:5432, created and dropped here, SQLite with a loud line when it cannot be
reached), a fresh demo instance (`flask --app app init`, `flask --app app demo`) is served by
gunicorn with 2 sync workers and the repository's gunicorn.conf.py. The demo officers
(canbo.an, canbo.binh, canbo.son) sign in; `wrk` then drives, for a bounded time per cell,
each of three audited reads of protected data — a case page (/cases/<id>), the case list
(/cases/) and a dossier (/subjects/<id>) — at 4 and at 16 concurrent connections, each request
taking the next officer's cookie and page in turn (bench/pages.lua). Beside it, served by the
same gunicorn settings in the same run, the bare page (bench/bare_page.py: 21 rows read from
SQLite, a Jinja template with a small Flask-WTF form). The cells alternate, bare then Hoso,
so both see the same machine: the other load on it, its thermal state.

How to read the table, one per database: req/s is answers per second over the cell; p50, p95
and p99 are wrk's latency percentiles in ms (for the bare page, pooled over its runs: the
requests and seconds added up, the median of each percentile); errors are socket errors
(connect, read, write, timeouts after 10 s); non-2xx counts every other answer; ratio is
Hoso's req/s over the bare page's at the same connection count: the share of a bare page's
throughput a protected page keeps. The issue's targets follow, each met or not: ratio ≥ 0.5
at 4 connections; p99 ≤ 100 ms at 4 and ≤ 250 ms at 16; no error and no 5xx; then
`flask --app app audit verify` must say OK and the audit trail must have grown by exactly one
entry per protected page served with 200 (counted in gunicorn's access log).

`--gc-freeze compare` serves Hoso (and the bare page) twice in the same run, once with
gc.freeze() after the app is loaded in each worker (gunicorn.conf.py's post_worker_init) and
once without, cell beside cell, so both rows can be compared. gunicorn's sync workers close
the connection after each answer: wrk reconnects, as a browser behind a reverse proxy would.
Exits non-zero on any socket error, any answer but 200, a failed verification or an audit
count that does not match; a target missed is reported, not failed (speed is not a test).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text

from bench import bare_page
from bench.load import DEMO_OFFICERS, Client, LoadError, environment, flask, scratch_database
from bench.load import gunicorn as serve
from protection.settings import default_sqlite_url

DEFAULT_SECONDS = 8
QUICK_SECONDS = 2
MAX_SECONDS = 30
WORKERS = 2
WRK_THREADS = 2
WRK_TIMEOUT = "10s"
SCRIPT = Path(__file__).resolve().with_name("pages.lua")
BARE = "bare page"
PAGES = ("case page", "case list", "dossier")
RESULT_LINE = "HOSO_WRK "
# The conf's access log format: `%(h)s "%(m)s %(U)s" %(s)s ...`, path without query string.
PROTECTED_ANSWER = re.compile(r'"GET (?:/cases/|/cases/[0-9a-f-]{36}|/subjects/[0-9a-f-]{36})" (\d{3}) ')
TARGET_RATIO = 0.5
TARGET_P99_MS = {4: 100.0, 16: 250.0}


# --- one cell: wrk's answer -----------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """One page at one connection count for a bounded time, as wrk saw it."""

    page: str
    connections: int
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    socket_errors: int
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def non_2xx(self) -> int:
        return sum(count for status, count in self.statuses.items() if not 200 <= status < 300)

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)


def parse_wrk(output: str, page: str, connections: int) -> Cell:
    """The Cell of wrk's output: its last `HOSO_WRK {json}` line (bench/pages.lua's done())."""
    lines = [line for line in output.splitlines() if line.startswith(RESULT_LINE)]
    if not lines:
        raise LoadError(f"wrk printed no {RESULT_LINE.strip()} line: {output.strip()[-1000:]}")
    data = json.loads(lines[-1][len(RESULT_LINE):])
    return Cell(page=page, connections=connections, requests=data["requests"],
                seconds=data["duration_us"] / 1e6, p50_ms=data["p50_us"] / 1000,
                p95_ms=data["p95_us"] / 1000, p99_ms=data["p99_us"] / 1000,
                socket_errors=sum(data["socket_errors"].values()),
                statuses={int(status): count for status, count in data["statuses"].items()})


def pooled(cells: list[Cell]) -> Cell:
    """The bare page's runs at one connection count as one row: requests and seconds added
    up; of each percentile, the median over the runs (wrk gives no histogram to merge)."""
    statuses: Counter[int] = Counter()
    for cell in cells:
        statuses.update(cell.statuses)
    return Cell(page=cells[0].page, connections=cells[0].connections,
                requests=sum(cell.requests for cell in cells), seconds=sum(cell.seconds for cell in cells),
                p50_ms=statistics.median(cell.p50_ms for cell in cells),
                p95_ms=statistics.median(cell.p95_ms for cell in cells),
                p99_ms=statistics.median(cell.p99_ms for cell in cells),
                socket_errors=sum(cell.socket_errors for cell in cells), statuses=dict(statuses))


def run_wrk(wrk: str, port: int, targets: Path, *, page: str, connections: int, seconds: int) -> Cell:
    done = subprocess.run(  # noqa: S603 - wrk with fixed arguments
        [wrk, "--threads", str(min(WRK_THREADS, connections)), "--connections", str(connections),
         "--duration", f"{seconds}s", "--timeout", WRK_TIMEOUT, "--script", str(SCRIPT),
         f"http://127.0.0.1:{port}", "--", str(targets)],
        capture_output=True, text=True, timeout=seconds + 120, check=False)
    if done.returncode != 0:
        raise LoadError(f"wrk failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-1000:]}")
    return parse_wrk(done.stdout, page, connections)


# --- the verdict ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    label: str
    met: bool | None  # None: not measured in this run (e.g. --connections 8)
    detail: str


def ratios(hoso: list[Cell], bare: dict[int, Cell]) -> dict[tuple[str, int], float]:
    """Hoso's req/s over the bare page's at the same connection count, per (page, connections)."""
    return {(cell.page, cell.connections): cell.rate / bare[cell.connections].rate
            for cell in hoso if cell.connections in bare and bare[cell.connections].rate}


def targets(hoso: list[Cell], bare: dict[int, Cell]) -> list[Target]:
    """Issue 19's speed and error targets over one database's Hoso cells."""
    found = []
    shares = ratios(hoso, bare)
    at_four = {page: share for (page, connections), share in shares.items() if connections == 4}
    found.append(Target(f"Hoso / bare req/s ≥ {TARGET_RATIO} at 4 connections",
                        all(share >= TARGET_RATIO for share in at_four.values()) if at_four else None,
                        ", ".join(f"{page} {share:.2f}" for page, share in at_four.items()) or "not measured"))
    for connections, limit in TARGET_P99_MS.items():
        cells = [cell for cell in hoso if cell.connections == connections]
        found.append(Target(f"p99 ≤ {limit:.0f} ms at {connections} connections",
                            all(cell.p99_ms <= limit for cell in cells) if cells else None,
                            ", ".join(f"{cell.page} {cell.p99_ms:.0f} ms" for cell in cells) or "not measured"))
    errors = sum(cell.socket_errors for cell in hoso)
    server_errors = sum(cell.server_errors for cell in hoso)
    found.append(Target("0 socket errors and 0 5xx", errors == 0 and server_errors == 0,
                        f"{errors} socket errors, {server_errors} 5xx"))
    return found


def protected_answers(log: str) -> Counter[int]:
    """Per status, the protected pages (case list, case page, dossier) gunicorn answered."""
    return Counter(int(match.group(1)) for match in PROTECTED_ANSWER.finditer(log))


# --- one database ---------------------------------------------------------------------------

@dataclass
class Outcome:
    described: str
    variants: list[str]
    cells: dict[str, list[Cell]]  # per variant: Hoso's cells
    bare: dict[str, dict[int, Cell]]  # per variant, per connection count: the pooled bare page
    served: int = 0
    added: int = 0
    verify: str = ""
    verified: bool = False
    load: list[float] = field(default_factory=list)  # the machine's 1-minute load average, before and after


def audit_entries(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM audit_entries")).scalar_one()
    finally:
        engine.dispose()


def targets_file(path: Path, lines: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f"{page}\t{cookie}\n" for page, cookie in lines), encoding="utf-8")
    return path


def officer_targets(folder: Path, port: int) -> dict[str, Path]:
    """Sign the demo officers in; per page, a file of "path<TAB>cookie" lines (pages.lua):
    each officer's own case, the case list, a subject of one of their cases."""
    print(f"  signing in {', '.join(DEMO_OFFICERS)} and finding their pages ...", flush=True)
    officers = [Client.signed_in(port, name) for name in DEMO_OFFICERS]
    cookies = ["; ".join(f"{name}={value}" for name, value in officer.session.cookies.items())
               for officer in officers]
    pairs = list(zip(officers, cookies, strict=True))
    return {
        "case page": targets_file(folder / "case.txt", [(f"/cases/{officer.cases[0]}", cookie)
                                                       for officer, cookie in pairs]),
        "case list": targets_file(folder / "list.txt", [("/cases/", cookie) for cookie in cookies]),
        "dossier": targets_file(folder / "dossier.txt", [(f"/subjects/{officer.subjects[0]}", cookie)
                                                        for officer, cookie in pairs]),
        BARE: targets_file(folder / "bare.txt", [("/", "")]),
    }


def drive(wrk: str, files: dict[str, Path], hoso_ports: dict[str, int], bare_ports: dict[str, int],
          outcome: Outcome, *, connections: list[int], seconds: int) -> dict[str, dict[int, list[Cell]]]:
    """Every cell, bare then Hoso, so each Hoso cell has a bare cell just before it; Hoso's
    cells go to the outcome, the bare runs (per variant, per connection count) are returned."""
    bare_runs: dict[str, dict[int, list[Cell]]] = {variant: {} for variant in outcome.variants}
    for count in connections:
        for page in PAGES:
            for variant in outcome.variants:
                for label, port in ((BARE, bare_ports[variant]), (page, hoso_ports[variant])):
                    cell = run_wrk(wrk, port, files[label], page=label, connections=count, seconds=seconds)
                    if label == BARE:
                        bare_runs[variant].setdefault(count, []).append(cell)
                    else:
                        outcome.cells[variant].append(cell)
                    print(f"  {count:>3} connections, {label:<10} gc.freeze {variant:<3}: "
                          f"{cell.rate:8.1f} req/s, p99 {cell.p99_ms:7.1f} ms, "
                          f"{cell.socket_errors} errors, {cell.non_2xx} non-2xx", flush=True)
    return bare_runs


def run_database(kind: str, *, wrk: str, seconds: int, connections: list[int], variants: list[str],
                 skip_sqlite_fallback: bool) -> Outcome | None:
    """Set up, drive every cell, check the trail; None when PostgreSQL fell back to SQLite
    and SQLite was measured already."""
    database = (scratch_database(None) if kind == "postgresql"
                else nullcontext((None, "sqlite (a fresh instance folder)")))
    with tempfile.TemporaryDirectory() as tmp, database as (url, described):
        if kind == "postgresql" and url is None and skip_sqlite_fallback:
            print("  (SQLite is measured here already: not twice)")
            return None
        folder = Path(tmp)
        instance = folder / "instance"
        env = environment(instance, url)
        database_url = url or default_sqlite_url(instance)
        outcome = Outcome(described, variants, {variant: [] for variant in variants},
                          {variant: {} for variant in variants})
        print(f"\nPage bench on {described}: gunicorn with {WORKERS} sync workers (gunicorn.conf.py), "
              f"wrk {WRK_THREADS} threads, {seconds} s per cell", flush=True)
        print("  preparing: flask --app app init, flask --app app demo ...", flush=True)
        flask(env, "init")
        flask(env, "demo")
        bare_database = folder / "bare.db"
        bare_page.create_database(bare_database)
        with ExitStack() as servers:
            hoso_ports, bare_ports, logs = {}, {}, {}
            for variant in variants:
                print(f"  starting gunicorn: Hoso and the bare page, gc.freeze {variant} ...", flush=True)
                logs[variant] = folder / f"hoso-{variant}.log"
                hoso_ports[variant] = servers.enter_context(
                    serve({**env, "HOSO_GC_FREEZE": variant}, WORKERS, logs[variant]))
                bare_ports[variant] = servers.enter_context(serve(
                    {**env, "HOSO_GC_FREEZE": variant, bare_page.DATABASE_VARIABLE: str(bare_database)},
                    WORKERS, folder / f"bare-{variant}.log", app="bench.bare_page:create_app()", ready_path="/"))
            files = officer_targets(folder, hoso_ports[variants[0]])
            time.sleep(1)  # the access log lines of the sign-ins land before the marks are taken
            outcome.load.append(os.getloadavg()[0])
            before_entries = audit_entries(database_url)
            before_answers = {variant: protected_answers(logs[variant].read_text(errors="replace"))
                              for variant in variants}
            bare_runs = drive(wrk, files, hoso_ports, bare_ports, outcome, connections=connections,
                              seconds=seconds)
            outcome.load.append(os.getloadavg()[0])
        # the servers have stopped: every answer is logged, every entry committed
        outcome.added = audit_entries(database_url) - before_entries
        for variant in variants:
            answers = protected_answers(logs[variant].read_text(errors="replace"))
            answers.subtract(before_answers[variant])
            outcome.served += answers[200]
        for variant in variants:
            outcome.bare[variant] = {count: pooled(runs) for count, runs in bare_runs[variant].items()}
        print("  flask --app app audit verify ...", flush=True)
        try:
            outcome.verify = flask(env, "audit", "verify").strip()
            outcome.verified = True
        except LoadError as error:
            outcome.verify = str(error)
    return outcome


# --- the report -----------------------------------------------------------------------------

def print_outcome(outcome: Outcome) -> int:
    """The table and the targets of one database; returns the count of failures."""
    compare = len(outcome.variants) > 1
    busy = any(load > (os.cpu_count() or 1) for load in outcome.load)
    print(f"\n{outcome.described}: {os.cpu_count()} CPUs, 1-minute load average "
          f"{' then '.join(f'{load:.1f}' for load in outcome.load)} before and after the runs"
          f"{' (above the CPU count: other work shared the machine)' if busy else ''}")
    width = 44 if compare else 30
    print(f"{'page':<{width}} {'conns':>5} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'errors':>7} {'non-2xx':>8} {'ratio':>6}")
    rows = []  # (sort key, label, cell, ratio): with --gc-freeze compare, off and on side by side
    for order, variant in enumerate(outcome.variants):
        bare = outcome.bare[variant]
        shares = ratios(outcome.cells[variant], bare)
        suffix = f" [gc.freeze {variant}]" if compare else ""
        rows += [((cell.connections, 0, order), f"{BARE} ({len(PAGES)} runs pooled){suffix}", cell, None)
                 for cell in bare.values()]
        rows += [((cell.connections, 1 + PAGES.index(cell.page), order), f"{cell.page}{suffix}", cell,
                  shares.get((cell.page, cell.connections))) for cell in outcome.cells[variant]]
    failures = 0
    for _key, label, cell, share in sorted(rows, key=lambda row: row[0]):
        print(f"{label:<{width}} {cell.connections:>5} {cell.rate:>8.1f} {cell.p50_ms:>8.1f} {cell.p95_ms:>8.1f} "
              f"{cell.p99_ms:>8.1f} {cell.socket_errors:>7} {cell.non_2xx:>8} "
              f"{'' if share is None else f'{share:.2f}':>6}")
        failures += cell.socket_errors + cell.non_2xx
    for variant in outcome.variants:
        print(f"targets{f' (gc.freeze {variant})' if compare else ''}:")
        for target in targets(outcome.cells[variant], outcome.bare[variant]):
            verdict = {True: "met", False: "NOT MET", None: "not measured"}[target.met]
            print(f"  {target.label:<46} {verdict:<13} {target.detail}")
    matched = outcome.served == outcome.added
    print(f"  {'audit verify OK after the runs':<46} {'met' if outcome.verified else 'NOT MET':<13} "
          f"{outcome.verify.splitlines()[-1] if outcome.verify else ''}")
    print(f"  {'one audit entry per protected page served':<46} {'met' if matched else 'NOT MET':<13} "
          f"{outcome.served} pages answered 200, {outcome.added} audit entries added")
    return failures + (not outcome.verified) + (not matched)


def run(databases: list[str], *, seconds: int, connections: list[int], variants: list[str]) -> int:
    """The whole page bench; returns the process exit code."""
    wrk = shutil.which("wrk")
    if wrk is None:
        print("page bench: `wrk` is not installed (apt-get install wrk): it drives the pages; nothing measured",
              file=sys.stderr)
        return 2
    outcomes = []
    for kind in databases:
        outcome = run_database(kind, wrk=wrk, seconds=seconds, connections=connections, variants=variants,
                               skip_sqlite_fallback="sqlite" in databases)
        if outcome is not None:
            outcomes.append(outcome)
    failures = sum(print_outcome(outcome) for outcome in outcomes)
    if failures:
        print(f"\n{failures} socket errors, answers other than 200, or audit failures: the page bench FAILED")
        return 1
    return 0


def connection_counts(value: str) -> list[int]:
    try:
        counts = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {value!r}") from None
    if not counts or any(count <= 0 for count in counts):
        raise argparse.ArgumentTypeError("connection counts must be positive")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seconds", type=int, default=None,
                        help=f"per cell (default {DEFAULT_SECONDS}, {QUICK_SECONDS} with --quick; at most {MAX_SECONDS})")
    parser.add_argument("--connections", type=connection_counts, default=[4, 16],
                        help="comma-separated concurrent connections (default 4,16)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SECONDS} s per cell")
    parser.add_argument("--gc-freeze", choices=("on", "off", "compare"), default="on",
                        help="gc.freeze() in each worker after the app is loaded (gunicorn.conf.py); "
                             "compare: serve both and measure them cell beside cell")
    args = parser.parse_args()
    seconds = args.seconds if args.seconds is not None else (QUICK_SECONDS if args.quick else DEFAULT_SECONDS)
    if seconds <= 0:
        parser.error("--seconds must be positive")
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    variants = ["off", "on"] if args.gc_freeze == "compare" else [args.gc_freeze]
    try:
        sys.exit(run(databases, seconds=min(seconds, MAX_SECONDS), connections=args.connections, variants=variants))
    except LoadError as error:
        print(f"page bench: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
