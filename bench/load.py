"""`python -m bench.load [--database-url URL] [--seconds 30] [--clients 16] [--workers N]`:
a bounded load test over loopback (issue 8), recorded here, never asserted as a timed test.

A fresh instance (`flask --app app init`, then `flask --app app demo`) behind gunicorn on
127.0.0.1; N client threads, each signed in as one of the demo officers (no second factor
for officers), run a realistic mix for at most 60 s: 80% reads (the "mine" case list, a case
page, a subject page — each an audited read of protected data) and 20% writes (a comment
on a case, audited). Before it, the same clients measure a bare baseline on the same
server: GET of a static file (no session, no database), so the ratio says what the app
costs. Exits non-zero on any 5xx or failed request.

The database: by default a scratch PostgreSQL database on postgres@127.0.0.1:5432, created
and dropped here; `--database-url` names another PostgreSQL server to do the same on (its
own database name is ignored), or a new SQLite file. When PostgreSQL cannot be reached the
bench says so and runs on SQLite in the instance folder.

gunicorn's sync workers close the connection after each response, so every request opens
a new loopback connection (http.client reconnects by itself), as behind a reverse proxy.
"""

from __future__ import annotations

import argparse
import http.client
import http.cookies
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEMO_PASSWORD = "Demo-Hoso-Lam-Son-2026"  # noqa: S105 - printed by `flask --app app demo`; demo only
DEMO_OFFICERS = ("canbo.an", "canbo.binh", "canbo.son")
MAX_SECONDS = 60
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
VERSION = re.compile(r'<input[^>]*name="version"[^>]*value="(\d+)"')
CASE_LINK = re.compile(r'href="/cases/([0-9a-f-]{36})"')
SUBJECT_LINK = re.compile(r'href="/subjects/([0-9a-f-]{36})"')
COMMENTED = re.compile(r"^/cases/[0-9a-f-]{36}#comments$")


class LoadError(RuntimeError):
    """The set-up failed (database, CLI, server, sign-in); carries what went wrong."""


# --- the database and the server ------------------------------------------------------------

@contextmanager
def scratch_database(url: str | None) -> Iterator[tuple[str | None, str]]:
    """(database URL or None for SQLite in the instance, a line saying which)."""
    if url and not url.startswith("postgresql"):
        yield url, f"{url.split(':')[0]} ({url})"
        return
    server = make_url(url or DEFAULT_SERVER)
    connect = {"host": server.host or "127.0.0.1", "port": server.port or 5432, "user": server.username,
               "password": server.password, "dbname": server.database or "postgres", "autocommit": True,
               "connect_timeout": 3}
    name = f"hoso_load_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(**connect) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"PostgreSQL unreachable at {server.host}:{server.port or 5432} ({first_line}): "
              "FALLING BACK TO SQLITE — these figures are not PostgreSQL's.")
        yield None, "sqlite (fallback: PostgreSQL unreachable)"
        return
    try:
        yield server.set(database=name).render_as_string(hide_password=False), f"postgresql (scratch database {name})"
    finally:
        with psycopg.connect(**connect) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def environment(instance: Path, database_url: str | None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("HOSO_")}
    env.update({"HOSO_INSTANCE_PATH": str(instance), "HOSO_LOG_LEVEL": "WARNING",
                # every client signs in from 127.0.0.1
                "HOSO_LOGIN_RATE_LIMIT": "1000000 per minute"})
    if database_url:
        env["HOSO_DATABASE_URL"] = database_url
    return env


def flask(env: dict[str, str], *args: str) -> str:
    """Run `flask --app app ARGS` in the repository; its standard output, LoadError if it fails."""
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args],  # noqa: S603 - our own CLI
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise LoadError(f"flask {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(env: dict[str, str], workers: int, log_path: Path, *, app: str = "app:create_app()",
             ready_path: str = "/login") -> Iterator[int]:
    """gunicorn serving APP on a free loopback port, settings from the repository's
    gunicorn.conf.py (read from the working directory), its log (access log included) to
    LOG_PATH; yields the port once READY_PATH answers, stops the server after."""
    port = free_port()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
            [sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}",
             "--workers", str(workers)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    connection.request("GET", ready_path)
                    connection.getresponse().read()
                    connection.close()
                    break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise LoadError(f"gunicorn did not start: {log_path.read_text(errors='replace')[-2000:]}") from None
                    time.sleep(0.2)
            yield port
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


# --- one client -----------------------------------------------------------------------------

@dataclass
class Session:
    """A browser over http.client: cookies, no redirects followed."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, str, str]:
        headers = {"Connection": "keep-alive"}
        body = None
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.connection.close()  # the server closed an idle keep-alive: once more, fresh
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
        text = response.read().decode(errors="replace")
        for header in response.headers.get_all("Set-Cookie") or ():
            for name, morsel in http.cookies.SimpleCookie(header).items():
                if morsel.value and morsel["max-age"] not in ("0",):
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        if response.will_close:
            self.connection.close()
        return response.status, text, response.headers.get("Location", "")


@dataclass
class Client:
    session: Session
    cases: list[str]
    workable: list[str]
    subjects: list[str]
    forms: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def signed_in(cls, port: int, username: str) -> Client:
        session = Session(port)
        _status, page, _ = session.request("GET", "/login")
        status, _page, _ = session.request("POST", "/login", {"csrf_token": CSRF.search(page).group(1),
                                                              "username": username, "password": DEMO_PASSWORD})
        if status != 302:
            raise LoadError(f"{username} could not sign in (HTTP {status})")
        _status, page, _ = session.request("GET", "/cases/?view=mine")
        cases = list(dict.fromkeys(CASE_LINK.findall(page)))
        client = cls(session, cases, [], [])
        for case_id in cases:
            status, page, _ = session.request("GET", f"/cases/{case_id}")
            client.subjects.extend(SUBJECT_LINK.findall(page))
            if f'action="/cases/{case_id}/comments"' in page:
                client.workable.append(case_id)
                client.forms[case_id] = client.form_of(page)
        client.subjects = list(dict.fromkeys(client.subjects))
        if not (client.cases and client.workable and client.subjects):
            raise LoadError(f"{username} has no case to read or comment on in the demo")
        return client

    @staticmethod
    def form_of(page: str) -> dict:
        return {"csrf_token": CSRF.search(page).group(1), "version": VERSION.search(page).group(1)}

    def read(self, pick: random.Random) -> int:
        choice = pick.randrange(3)
        if choice == 0:
            return self.session.request("GET", "/cases/?view=mine")[0]
        if choice == 1:
            return self.session.request("GET", f"/cases/{pick.choice(self.cases)}")[0]
        return self.session.request("GET", f"/subjects/{pick.choice(self.subjects)}")[0]

    def write(self, pick: random.Random) -> int:
        case_id = pick.choice(self.workable)
        body = f"Ý kiến thử tải {secrets.token_hex(6)}"
        status, _page, location = self.session.request("POST", f"/cases/{case_id}/comments",
                                                       {**self.forms[case_id], "body": body})
        if status == 302 and not COMMENTED.match(location):  # the case moved on: a fresh form next time
            _status, page, _ = self.session.request("GET", f"/cases/{case_id}")
            self.forms[case_id] = self.form_of(page)
            return 409
        return status


# --- the runs -------------------------------------------------------------------------------

@dataclass
class Tally:
    samples: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, list[int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float, status: int) -> None:
        with self.lock:
            self.samples.setdefault(kind, []).append(seconds)
            self.statuses.setdefault(kind, []).append(status)


def drive(clients: list[Client], seconds: float, operation) -> tuple[Tally, float]:
    """Every client in a thread of its own, back to back, until the time is up."""
    tally = Tally()
    deadline = time.perf_counter() + seconds

    def loop(index: int, client: Client) -> None:
        pick = random.Random(index)  # noqa: S311 - a workload mix, not a secret
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                kind, status = operation(client, pick)
            except (OSError, http.client.HTTPException, AttributeError) as error:
                with tally.lock:
                    tally.failures.append(type(error).__name__)
                continue
            tally.add(kind, time.perf_counter() - start, status)

    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(index, client)) for index, client in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally, time.perf_counter() - started


def bare(client: Client, _pick: random.Random) -> tuple[str, int]:
    return "baseline", client.session.request("GET", "/static/css/hoso.css")[0]


def mix(client: Client, pick: random.Random) -> tuple[str, int]:
    if pick.random() < 0.8:
        return "read", client.read(pick)
    return "write", client.write(pick)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def print_table(baseline: tuple[Tally, float], load: tuple[Tally, float]) -> int:
    """The table; returns the count of 5xx answers and failed requests."""
    base_tally, base_elapsed = baseline
    tally, elapsed = load
    base = base_tally.samples.get("baseline", [])
    rows = [("baseline: GET static file", base, base_tally.statuses.get("baseline", []), base_elapsed)]
    every, every_status = [], []
    for kind in ("read", "write"):
        rows.append((f"{kind}s (audited)", tally.samples.get(kind, []), tally.statuses.get(kind, []), elapsed))
        every += tally.samples.get(kind, [])
        every_status += tally.statuses.get(kind, [])
    rows.append(("all (80% reads, 20% writes)", every, every_status, elapsed))
    base_p50 = statistics.median(base) if base else float("nan")
    print()
    print(f"{'requests':<30} {'count':>7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'5xx':>5} {'other':>6} {'p50 × base':>11}")
    for label, samples, statuses, seconds in rows:
        if not samples:
            print(f"{label:<30} {0:>7}")
            continue
        server_errors = sum(1 for status in statuses if status >= 500)
        other = sum(1 for status in statuses if status not in (200, 302, 409) and status < 500)
        print(f"{label:<30} {len(samples):>7} {len(samples) / seconds:>8.1f} {percentile(samples, .5) * 1000:>8.1f} "
              f"{percentile(samples, .95) * 1000:>8.1f} {percentile(samples, .99) * 1000:>8.1f} "
              f"{server_errors:>5} {other:>6} {statistics.median(samples) / base_p50:>11.1f}")
    stale = sum(1 for status in tally.statuses.get("write", []) if status == 409)
    failures = base_tally.failures + tally.failures
    if stale:
        print(f"({stale} writes found their form stale and fetched a fresh one: counted, not failed)")
    if failures:
        print(f"FAILED requests (no answer): {len(failures)} ({', '.join(sorted(set(failures)))})")
    bad = sum(1 for statuses in (every_status, base_tally.statuses.get("baseline", []))
              for status in statuses if status >= 500)
    return bad + len(failures)


def run(database_url: str | None = None, *, seconds: float = 30, clients: int = 16, workers: int | None = None) -> int:
    """The whole load bench; returns the process exit code (0: no 5xx, no failed request)."""
    seconds = min(seconds, MAX_SECONDS)
    workers = workers or 2 * (os.cpu_count() or 1) + 1
    with tempfile.TemporaryDirectory() as tmp, scratch_database(database_url) as (url, described):
        env = environment(Path(tmp) / "instance", url)
        print(f"Load bench on {described}: gunicorn with {workers} sync workers on loopback, {clients} clients")
        print("  preparing: flask --app app init, flask --app app demo ...", flush=True)
        flask(env, "init")
        flask(env, "demo")
        with gunicorn(env, workers, Path(tmp) / "gunicorn.log") as port:
            print("  signing in the clients (demo officers) ...", flush=True)
            sessions = [Client.signed_in(port, DEMO_OFFICERS[index % len(DEMO_OFFICERS)])
                        for index in range(clients)]
            baseline_seconds = max(3.0, seconds / 5)
            print(f"  baseline: {baseline_seconds:.0f} s of GET /static/css/hoso.css ...", flush=True)
            baseline = drive(sessions, baseline_seconds, bare)
            print(f"  mix: {seconds:.0f} s of 80% audited reads, 20% audited writes ...", flush=True)
            load = drive(sessions, seconds, mix)
        bad = print_table(baseline, load)
    if bad:
        print(f"{bad} server errors or failed requests: the load bench FAILED")
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("--database-url", help=f"a PostgreSQL server to make a scratch database on (default "
                                               f"{DEFAULT_SERVER}), or a new SQLite file")
    parser.add_argument("--seconds", type=float, default=30, help=f"length of the mix, at most {MAX_SECONDS}")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, help="gunicorn workers (default 2 × CPUs + 1)")
    args = parser.parse_args()
    if args.seconds <= 0 or args.clients <= 0 or (args.workers is not None and args.workers <= 0):
        parser.error("--seconds, --clients and --workers must be positive")
    try:
        sys.exit(run(args.database_url, seconds=args.seconds, clients=args.clients, workers=args.workers))
    except LoadError as error:
        print(f"load bench: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
