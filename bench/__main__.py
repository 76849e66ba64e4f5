"""`python -m bench [--database-url URL] [--seconds S] [--audit-entries N] [--quick | --full] [--load] [--pages] [--workload] [--api]`:
request costs of the foundation, then the audit trail (bench/audit.py: verification speed; on
PostgreSQL audited writes with the sequencer running beside no audit, driver-only beside issue
4's head lock, commit-to-chained latency; `python -m bench.audit` runs it alone), then what
encryption costs (bench/crypto.py), then the case lists (bench/cases.py). --quick runs it all in about a minute; --full runs the crypto section at
issue 3's sizes (100k dossiers, 1M rows), the case lists at issue 5's (100k cases, 1M
subjects) and verifies 1M audit entries. `python -m bench.cases` runs the case lists alone.
--load adds the load test against gunicorn (bench/load.py, `python -m bench.load` alone):
30 s, 10 s with --quick. --pages adds the page bench (bench/pages.py, `python -m bench.pages`
alone): the case page, case list and dossier under wrk beside a bare Flask page, on SQLite and
PostgreSQL. --workload adds issue 20's benches (campaign import at 100k dossiers, the campaign
board at 2,000 nominees, `notify send-due` for 500 users at 100k cases) and issue 24's
`archive import` of 1,000 scanned pages at 100k dossiers beside a plain copy of the files, each
also alone.
--api adds issue 21's partner API bench (bench/api.py, `python -m bench.api` alone): API reads
and writes per second at 16 clients beside the liaison's pages and a bare page, under gunicorn.

Each figure stands beside a bare baseline measured in the same process and run: a Flask app
with one view returning "ok" through the same test client, so the ratio says what Hoso's
kernel (session lookup, policy gate, CSRF, templates, argon2id) costs on this machine.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask

from bench import audit as audit_bench
from bench import cases as cases_bench
from bench import crypto as crypto_bench
from bench import load as load_bench
from bench import pages as pages_bench
from bench.instance import PASSWORD, build_hoso
from protection.db import db

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def measure(operation: Callable[[], object], seconds: float, min_runs: int = 5) -> list[float]:
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < min_runs:
        start = time.perf_counter()
        operation()
        samples.append(time.perf_counter() - start)
    return samples


def bare_baseline_app() -> Flask:
    bare = Flask("bare")
    bare.add_url_rule("/", "ok", lambda: "ok")
    return bare


def sign_in(client) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = CSRF.search(page).group(1)
    response = client.post("/login", data={"csrf_token": token, "username": "bench.officer",
                                           "password": PASSWORD})
    assert response.status_code == 302, response.status_code


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp folder")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--audit-entries", type=int, default=None,
                        help="synthetic audit entries to verify, appended to the database's chain "
                             "(default 200,000; 1,000,000 with --full; 20,000 at most with --quick)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes: the whole bench in about a minute")
    size.add_argument("--full", action="store_true", help="crypto at issue 3's sizes (100k dossiers, lookups among 1M); case lists among 100k cases, 1M subjects; 1M audit entries")
    parser.add_argument("--load", action="store_true",
                        help="then the load test against gunicorn (scratch PostgreSQL database, SQLite fallback)")
    parser.add_argument("--workload", action="store_true",
                        help="then issue 20's benches: campaign import at 100k dossiers, the campaign board at "
                             "2,000 nominees, notify send-due for 500 users at 100k cases, archive import "
                             "of 1,000 scanned pages at 100k dossiers (each alone too)")
    parser.add_argument("--api", action="store_true",
                        help="then the partner API bench: reads and writes per second at 16 clients beside the "
                             "liaison's web pages (gunicorn on loopback; its own process)")
    parser.add_argument("--pages", action="store_true",
                        help="then the page bench: protected pages under wrk beside a bare Flask page "
                             "(SQLite and scratch PostgreSQL)")
    args = parser.parse_args()
    if args.quick:
        args.seconds = min(args.seconds, 0.5)
        args.audit_entries = min(args.audit_entries or 20_000, 20_000)
    if args.audit_entries is None:
        # --full: a log bigger than the database's cache (at 200k entries the whole table
        # sits in PostgreSQL's default shared_buffers, and reading it costs little).
        args.audit_entries = 1_000_000 if args.full else 200_000

    with tempfile.TemporaryDirectory() as tmp:
        app = build_hoso(args.database_url, Path(tmp))
        bare = bare_baseline_app().test_client()
        anonymous = app.test_client()
        signed_in = app.test_client()
        sign_in(signed_in)

        rows: list[tuple[str, list[float]]] = []
        steps = [
            ("bare Flask GET / (baseline)", lambda: bare.get("/")),
            ("GET /login (anonymous, CSRF form)", lambda: anonymous.get("/login")),
            ("GET / signed in (session + policy)", lambda: signed_in.get("/")),
            ("GET /account/sessions (DB list)", lambda: signed_in.get("/account/sessions")),
            ("sign-in POST (argon2id RFC 9106)", lambda: sign_in(app.test_client())),
        ]
        print(f"Hoso bench on {app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}, "
              f"{args.seconds:.1f} s per row")
        for label, operation in steps:
            print(f"  measuring: {label} ...", flush=True)
            rows.append((label, measure(operation, args.seconds)))
        with app.app_context():
            db.engine.dispose()
        report_requests(rows)
        audit_bench.run(args.database_url, Path(tmp), entries=args.audit_entries, seconds=args.seconds)
        run_crypto(app, quick=args.quick, full=args.full)
        cases_bench.print_table(cases_bench.run(app, **cases_bench.sizes(quick=args.quick, full=args.full)))
    if args.load:
        print()
        load_server = args.database_url if (args.database_url or "").startswith("postgresql") else None
        if load_bench.run(load_server, seconds=10 if args.quick else 30) != 0:
            raise SystemExit(1)
    if args.pages:
        seconds = pages_bench.QUICK_SECONDS if args.quick else pages_bench.DEFAULT_SECONDS
        if pages_bench.run(["sqlite", "postgresql"], seconds=seconds, connections=[4, 16], variants=["on"]) != 0:
            raise SystemExit(1)
    if args.workload:
        run_workload(quick=args.quick, database_url=args.database_url)
    if args.api:
        run_api(quick=args.quick, database_url=args.database_url)


# Issue 20's province-sized work, each bench in a process of its own (they build instances of
# their own and register bench tables): at the sizes, or small ones with --quick.
WORKLOAD = (
    ("bench.campaigns", ["--dossiers", "100000", "--nominees", "2000"], ["--dossiers", "2000", "--nominees", "200"]),
    ("bench.campaign_board", ["--nominees", "2000"], ["--nominees", "200", "--requests", "40"]),
    ("bench.notify", ["--users", "500", "--cases", "100000"], ["--users", "50", "--cases", "2000"]),
    # Issue 24 B.3: rendering a scan page (PDF and TIFF, A4 at 200 dpi) beside a bare render.
    ("bench.archive_reading", ["--dpi", "200", "--requests", "40"], ["--dpi", "150", "--requests", "10"]),
    # Issue 24: digitising 1,000 scanned pages at 100k dossiers, beside a plain copy of the files.
    ("bench.archive_import", ["--dossiers", "100000", "--pages", "1000"], ["--dossiers", "2000", "--pages", "100"]),
)


def run_workload(*, quick: bool, database_url: str | None) -> None:
    for module, full_size, quick_size in WORKLOAD:
        print(f"\n$ python -m {module} {' '.join(quick_size if quick else full_size)}", flush=True)
        extra = ["--database-url", database_url] if database_url else []
        command = [sys.executable, "-m", module, *(quick_size if quick else full_size), *extra]
        if subprocess.run(command).returncode:  # noqa: S603 - our own benches, fixed arguments
            raise SystemExit(1)


def run_api(*, quick: bool, database_url: str | None) -> None:
    """bench/api.py in a process of its own, as the workload benches (it starts servers and
    builds an instance of its own)."""
    arguments = ["--seconds", "3"] if quick else []
    if database_url:
        arguments += ["--database-url", database_url]
    print(f"\n$ python -m bench.api {' '.join(arguments)}", flush=True)
    if subprocess.run([sys.executable, "-m", "bench.api", *arguments]).returncode:  # noqa: S603 - our own bench
        raise SystemExit(1)


def run_crypto(app: Flask, *, quick: bool, full: bool) -> None:
    if quick:
        sizes = {"subjects": 500, "relatives": 10, "populations": [10_000], "lookups": 100, "rounds": 2}
    elif full:
        # Two rounds: each side writes once first and once second (bench/crypto.py).
        sizes = {"subjects": 100_000, "relatives": 10, "populations": [10_000, 1_000_000], "lookups": 500,
                 "rounds": 2}
    else:
        sizes = {"subjects": 5_000, "relatives": 10, "populations": [10_000], "lookups": 300}
    print()
    print(f"Crypto bench: {sizes['subjects']} dossiers of a subject and {sizes['relatives']} relatives, "
          f"lookups among {', '.join(f'{n:,}' for n in sizes['populations'])} subjects")
    rows = crypto_bench.run_crypto_bench(app, **sizes)
    with app.app_context():
        db.engine.dispose()
    crypto_bench.print_crypto_table(rows)


def report_requests(rows: list[tuple[str, list[float]]]) -> None:
    baseline = statistics.median(rows[0][1])
    print()
    print(f"{'operation':<40} {'runs':>6} {'median ms':>10} {'p95 ms':>9} {'per s':>9} {'× baseline':>11}")
    for label, samples in rows:
        median = statistics.median(samples)
        p95 = sorted(samples)[int(0.95 * (len(samples) - 1))]
        print(f"{label:<40} {len(samples):>6} {median * 1000:>10.2f} {p95 * 1000:>9.2f} "
              f"{1 / median:>9.0f} {median / baseline:>11.1f}")


if __name__ == "__main__":
    main()
