"""`python -m bench.api [--database-url URL] [--seconds 8] [--clients 16] [--workers N]`: the
partner API's reads and writes per second at 16 concurrent clients, beside the same
operations through the liaison's web pages and a bare page, all in the same run (issue 21).

- Data: a fresh instance (`flask --app app init`), the organisation's committee and one partner
  body (the provincial police committee), an officer who opens one review per client, walks it
  to verification and sends the body a coordination request sharing the subject's name and
  date of birth; the body acknowledges each. One API client of the body (its token, through
  cases.partners.clients, as `api-clients create` makes it) and one web liaison per client.
- Served by gunicorn on loopback with the repository's gunicorn.conf.py (sync workers), the
  per-token rate limit raised out of the way (HOSO_API_RATE_LIMIT): what is measured is the
  work, not the limiter's refusals.
- Each row: every client in a thread of its own, back to back, for the same time.
  * bare page: bench/bare_page.py under the same gunicorn settings (21 rows read from SQLite,
    a Jinja template with a Flask-WTF form): what a page costs with no sign-in, policy,
    encryption or audit.
  * API read: GET /api/v1/requests/<id> with the bearer token (a random request): the token
    check, the liaison's scope, the package's names decrypted, the audit entry, JSON.
  * API write: POST /api/v1/requests/<id>/findings with If-Match (the ETag the last answer
    gave) and a new Idempotency-Key, each client on its own request (no version conflicts
    between clients): the finding sealed, the idempotency row and the audit entries.
  * web read: GET /requests/<id> signed in as the body's liaison (session, policy, the page).
  * web write: the finding form POSTed with its CSRF token and version, and the GET its
    redirect leads to (a browser cannot write again before it has the page's new version).
- Columns: answered calls, calls per second over the row's wall time, latency percentiles,
  answers that were not the expected 2xx/3xx, and per-second rate as a fraction of the bare
  page's. The last lines put each API figure beside its web one.

Exits non-zero on any 5xx or failed call. The database: a new SQLite file by default; with
`--database-url postgresql+psycopg://...` a scratch database made on that server and dropped
after (bench/load.py's scratch_database).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import sys
import tempfile
import threading
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select

from app import create_app
from bench import bare_page
from bench.load import CSRF, LoadError, Session, environment, flask, gunicorn, scratch_database
from cases.casework import operations as casework
from cases.coordination import operations as coordination
from cases.coordination.operations import RequestData
from cases.partners import clients as api_clients
from cases.reviews import operations as reviews
from cases.reviews.operations import ReviewData
from cases.subjects import operations as subjects
from cases.subjects.operations import SubjectData
from protection import accounts
from protection.accounts import NewUser
from protection.db import db
from protection.i18n import local_today
from protection.identity import Unit

ROOT = Path(__file__).resolve().parent.parent
ORGANISATION, BODY = "BENCH-BAN", "BENCH-CA"
OFFICER = "bench.api.officer"
LIAISON = "bench.api.liaison.{number}"
PASSWORD = "Bench-mark-song-Hong-2026"  # noqa: S105 - throwaway bench accounts
VERSION = re.compile(r'name="finding-version"[^>]*value="(\d+)"')
FINDING = {"person": "subject", "category": "other", "classification": "unclassified"}
DEFAULT_SECONDS = 8.0
MAX_SECONDS = 60


# --- the data -------------------------------------------------------------------------------------

def build(env: dict[str, str], clients: int) -> tuple[str, list[str]]:
    """The people, one acknowledged request per client and the API client, made in this
    process through the operations; (the token, the request ids)."""
    # The app reads its instance and database from the environment, as `flask` did for init.
    os.environ.update(env)
    app = create_app()
    with app.app_context():
        accounts.create_unit(code=ORGANISATION, name="Ban Bảo vệ chính trị nội bộ (bench)", kind="organisation",
                             parent_code=None, by=None)
        accounts.create_unit(code=BODY, name="Đảng ủy Công an tỉnh (bench)", kind="police", parent_code=None, by=None)
        officer, _ = accounts.create_user(NewUser(OFFICER, "Bench Officer", ORGANISATION, "officer", "secret"),
                                          password=PASSWORD, by=None, must_change_password=False)
        liaisons = [accounts.create_user(NewUser(LIAISON.format(number=number), f"Bench Liaison {number}", BODY,
                                                 "liaison", "secret"), password=PASSWORD, by=None,
                                         must_change_password=False)[0] for number in range(clients)]
        body = db.session.scalar(select(Unit).where(Unit.code == BODY))
        request_ids = []
        for number in range(clients):
            subject = subjects.create_subject(SubjectData(f"Nguyễn Văn Bench {number}", date(1980, 1, 1),
                                                          f"0380{number:08d}"), owner_unit=officer.unit, by=officer)
            case = reviews.open_review(ReviewData(subject.id, "appointment", "confidential"), by=officer)
            for action in ("start_examination", "start_verification"):
                casework.transition(case, action, by=officer)
            request_ = coordination.send_request(case, RequestData(
                body.id, "Đề nghị xác minh quá trình công tác (bench)", local_today() + timedelta(days=30),
                subject_fields=["full_name", "date_of_birth"]), by=officer)
            coordination.acknowledge(request_, by=liaisons[number])
            request_ids.append(str(request_.id))
        _client, token = api_clients.create_client(body=body, name="Bench partner system", by=None)
        db.session.commit()
        db.engine.dispose()
    return token, request_ids


# --- the clients ----------------------------------------------------------------------------------

class Api:
    """A partner system's connection: the bearer token, JSON, no cookies."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, body: dict | None = None,
             headers: dict | None = None) -> tuple[int, dict[str, str], bytes]:
        sent = {"Authorization": f"Bearer {self.token}", "Accept": "application/json", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            sent["Content-Type"] = "application/json"
        try:
            self.connection.request(method, path, body=data, headers=sent)
            response = self.connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.connection.close()  # the sync worker closed the connection: once more, fresh
            self.connection.request(method, path, body=data, headers=sent)
            response = self.connection.getresponse()
        payload = response.read()
        if response.will_close:
            self.connection.close()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, payload


@dataclass
class Client:
    api: Api
    web: Session
    own_request: str
    requests: list[str]
    etag: str = ""
    version: str = ""
    web_csrf: str = ""
    stale: int = 0

    def refresh_etag(self) -> None:
        status, headers, _ = self.api.call("GET", f"/api/v1/requests/{self.own_request}")
        if status != 200 or "etag" not in headers:
            raise LoadError(f"GET /api/v1/requests/<id> answered {status} (ETag: {headers.get('etag')})")
        self.etag = headers["etag"]

    def refresh_form(self) -> int:
        status, page, _ = self.web.request("GET", f"/requests/{self.own_request}")
        version, token = VERSION.search(page), CSRF.search(page)
        if status == 200 and version and token:
            self.version, self.web_csrf = version.group(1), token.group(1)
        return status


def sign_in(port: int, username: str) -> Session:
    session = Session(port)
    _status, page, _ = session.request("GET", "/login")
    status, _page, _ = session.request("POST", "/login", {"csrf_token": CSRF.search(page).group(1),
                                                          "username": username, "password": PASSWORD})
    if status != 302:
        raise LoadError(f"{username} could not sign in (HTTP {status})")
    return session


# --- the operations: (status, expected) --------------------------------------------------------

def bare(client: BareClient, _pick: random.Random) -> tuple[int, bool]:
    status = client.session.request("GET", "/")[0]
    return status, status == 200


def api_read(client: Client, pick: random.Random) -> tuple[int, bool]:
    status, _headers, _body = client.api.call("GET", f"/api/v1/requests/{pick.choice(client.requests)}")
    return status, status == 200


def api_write(client: Client, _pick: random.Random) -> tuple[int, bool]:
    body = {**FINDING, "text": f"Kết quả xác minh qua API (bench) {uuid.uuid4().hex[:8]}"}
    status, headers, _ = client.api.call("POST", f"/api/v1/requests/{client.own_request}/findings", body,
                                         {"If-Match": client.etag, "Idempotency-Key": str(uuid.uuid4())})
    if status == 201:
        client.etag = headers.get("etag", client.etag)
        return status, True
    if status == 412:  # stale ETag (should not happen: one writer per request): fetch it again
        client.stale += 1
        client.refresh_etag()
    return status, False


def web_read(client: Client, pick: random.Random) -> tuple[int, bool]:
    status = client.web.request("GET", f"/requests/{pick.choice(client.requests)}")[0]
    return status, status == 200


def web_write(client: Client, _pick: random.Random) -> tuple[int, bool]:
    form = {"finding-csrf_token": client.web_csrf, "finding-version": client.version, "finding-person": "subject",
            "finding-category": "other", "finding-classification": "unclassified",
            "finding-text": f"Kết quả xác minh qua trang (bench) {uuid.uuid4().hex[:8]}"}
    status, _page, location = client.web.request("POST", f"/requests/{client.own_request}/findings", form)
    written = status == 302 and location.endswith(f"/requests/{client.own_request}")
    # The redirect's GET: the page a browser shows next, and the version of the next write.
    after = client.refresh_form()
    if not written:
        client.stale += 1
    return (status if not written else after), written and after == 200


@dataclass
class BareClient:
    session: Session


# --- driving and reporting ------------------------------------------------------------------------

@dataclass
class Row:
    label: str
    samples: list[float] = field(default_factory=list)
    unexpected: int = 0
    server_errors: int = 0
    failures: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.samples) / self.elapsed if self.elapsed else 0.0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] * 1000 if ordered else 0.0


def drive(label: str, clients: list, seconds: float, operation) -> Row:
    """Every client in a thread of its own, back to back, until the time is up."""
    row = Row(label)
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def loop(index: int, client) -> None:
        pick = random.Random(index)  # noqa: S311 - which request to read, not a secret
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                status, expected = operation(client, pick)
            except (OSError, http.client.HTTPException, LoadError) as error:
                with lock:
                    row.failures.append(type(error).__name__)
                continue
            spent = time.perf_counter() - start
            with lock:
                row.samples.append(spent)
                row.unexpected += not expected
                row.server_errors += status >= 500

    print(f"  measuring: {label} ...", flush=True)
    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(index, client)) for index, client in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    row.elapsed = time.perf_counter() - started
    return row


def print_table(rows: list[Row], clients: int) -> int:
    """The table; returns the count of 5xx answers and failed calls."""
    bare_row = rows[0]
    print()
    print(f"Partner API beside the liaison's pages: {clients} concurrent clients, gunicorn on loopback")
    print(f"{'operation':<44} {'calls':>7} {'per s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'not ok':>7} {'× bare rate':>12}")
    for row in rows:
        ratio = row.rate / bare_row.rate if bare_row.rate else 0.0
        print(f"{row.label:<44} {len(row.samples):>7} {row.rate:>8.1f} {row.percentile(.5):>8.1f} "
              f"{row.percentile(.95):>8.1f} {row.percentile(.99):>8.1f} {row.unexpected:>7} {ratio:>12.2f}")
    by_label = {row.label.split(":")[0]: row for row in rows}
    print()
    for kind in ("read", "write"):
        api, web = by_label.get(f"API {kind}"), by_label.get(f"web {kind}")
        if api and web and web.rate:
            print(f"API {kind}s per second ÷ web {kind}s per second: {api.rate / web.rate:.2f}")
    failures = [failure for row in rows for failure in row.failures]
    if failures:
        print(f"FAILED calls (no answer): {len(failures)} ({', '.join(sorted(set(failures)))})")
    return sum(row.server_errors for row in rows) + len(failures)


def run(database_url: str | None, *, seconds: float, clients: int, workers: int) -> int:
    seconds = min(seconds, MAX_SECONDS)
    # SQLite in the instance folder unless a PostgreSQL server is named (load's default would
    # be a local PostgreSQL).
    database = (scratch_database(database_url) if database_url
                else nullcontext((None, "sqlite (a new file in the instance folder)")))
    with tempfile.TemporaryDirectory() as tmp, database as (url, described):
        folder = Path(tmp)
        env = environment(folder / "instance", url)
        env["HOSO_API_RATE_LIMIT"] = "10000000 per minute"
        print(f"API bench on {described}: gunicorn with {workers} sync workers on loopback, {clients} clients, "
              f"{seconds:.0f} s per row")
        print("  preparing: flask --app app init, the people and the requests ...", flush=True)
        flask(env, "init")
        token, request_ids = build(env, clients)
        bare_database = folder / "bare.db"
        bare_page.create_database(bare_database)
        bare_env = {**env, bare_page.DATABASE_VARIABLE: str(bare_database)}
        with gunicorn(env, workers, folder / "hoso.log") as port, \
                gunicorn(bare_env, workers, folder / "bare.log", app="bench.bare_page:create_app()",
                         ready_path="/") as bare_port:
            print("  signing in the liaisons, fetching the first ETags and forms ...", flush=True)
            people = []
            for number in range(clients):
                client = Client(Api(port, token), sign_in(port, LIAISON.format(number=number)),
                                own_request=request_ids[number], requests=request_ids)
                client.refresh_etag()
                if client.refresh_form() != 200 or not client.version:
                    raise LoadError("the liaison's request page has no finding form")
                people.append(client)
            bares = [BareClient(Session(bare_port)) for _ in range(clients)]
            rows = [drive("bare page (bench/bare_page.py)", bares, seconds, bare),
                    drive("API read: GET /api/v1/requests/<id>", people, seconds, api_read),
                    drive("web read: GET /requests/<id>", people, seconds, web_read),
                    drive("API write: POST .../findings (If-Match, key)", people, seconds, api_write),
                    drive("web write: POST finding form + its GET", people, seconds, web_write)]
        bad = print_table(rows, clients)
        stale = sum(client.stale for client in people)
        if stale:
            print(f"({stale} writes were refused as stale and refetched their version: counted as not ok)")
    if bad:
        print(f"{bad} server errors or failed calls: the API bench FAILED")
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL server to make a scratch database on, or a new "
                                               "SQLite file (default: SQLite in the instance folder)")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS,
                        help=f"time per row (default {DEFAULT_SECONDS:.0f}, at most {MAX_SECONDS})")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers, each server (default 4)")
    args = parser.parse_args()
    if args.seconds <= 0 or args.clients <= 0 or args.workers <= 0:
        parser.error("--seconds, --clients and --workers must be positive")
    try:
        sys.exit(run(args.database_url, seconds=args.seconds, clients=args.clients, workers=args.workers))
    except LoadError as error:
        print(f"API bench: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
