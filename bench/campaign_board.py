"""`python -m bench.campaign_board [--nominees 2000] [--requests 200] [--database-url URL]`: the
campaign board (issue 20 §A5) with a campaign of 2,000 nominees, target p95 ≤ 100 ms of server
time, beside a bare page measured in the same process and run.

- Data: a fresh instance (bench/instance.py), a province unit with a district below it, five
  officers, a supervisor with two-factor. The campaign's list is added as `campaign import`
  adds a file (cases.campaigns.operations.add_nominees_from_roster: each row matched by
  citizen ID, a new person gets a dossier with sealed fields and blind indexes), then worked
  through the same operations into mixed states: some still-valid conclusions reused, 40 % of
  the rows with reviews opened and assigned evenly, some of those submitted and some
  concluded (approved without a password prompt, as the demo seeder does), a tenth of the
  reviews overdue (their due date moved into the past afterwards, as the demo does) and a
  tenth of the untouched rows handed to the district.
- The Hoso figure is the real route through the test client, signed in as the supervisor:
  the first page of the board (GET /campaigns/<id>) and a filtered page (reviews in progress,
  overdue only): session check, policy, every row's state, the 50 shown rows' names
  decrypted, the bulk form's choices, the audit entry and its commit, the full layout. The
  data-key cache is emptied before every request, as for a board nobody opened recently.
- As in production (gunicorn.conf.py), gc.freeze() once the app and data are loaded, unless
  `--gc-freeze off`: a full collection walking the objects loaded at start-up is a pause of
  its own, not the board's.
- The bare page is bench/bare_page.py's, in this process through its own test client: 21 rows
  read from an SQLite file and a Jinja template with a small Flask-WTF form. What a page
  costs with no sign-in, policy, encryption or audit: the floor.

Setup writes into the database and leaves it there (units BENCH-TINH and BENCH-HUYEN, their
people, two campaigns): give the bench a fresh database each run
(by default a temporary SQLite file, removed afterwards).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pyotp
from flask import Flask
from sqlalchemy import select

from bench import bare_page
from cases.campaigns import operations as campaigns
from cases.campaigns.operations import CampaignData
from cases.casework import operations as casework
from cases.conclusions import operations as conclusions
from cases.conclusions.operations import ConclusionData
from cases.models import Assignment, CampaignNominee, Case
from cases.subjects.roster import RosterRow
from protection import accounts
from protection.accounts import NewUser
from protection.clock import utcnow
from protection.db import db
from protection.i18n import local_today

SUPERVISOR = "bench.campaign.lead"
PASSWORD = "Bench-mark-song-Hong-2026"  # noqa: S105 - throwaway bench accounts
SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ")
MIDDLE = ("Văn", "Thị", "Hữu", "Đức", "Minh", "Quang", "Thanh", "Ngọc", "Xuân", "Hồng", "Thu", "Đình")
GIVEN = ("An", "Bình", "Cường", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hiếu", "Hoa", "Hùng", "Hương")
OFFICERS = 5
PROVINCE, DISTRICT = "BENCH-TINH", "BENCH-HUYEN"
TARGET_P95_MS = 100.0
ROW = '<tr data-nominee="'
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass
class Row:
    label: str
    samples: list[float]
    rows_shown: int

    @property
    def p50(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def p95(self) -> float:
        return percentile(self.samples, 0.95) * 1000

    @property
    def p99(self) -> float:
        return percentile(self.samples, 0.99) * 1000


# --- data -----------------------------------------------------------------------------------------

def _people(count: int, rng: random.Random) -> list[RosterRow]:
    rows = []
    for serial in range(count):
        born = date(1960, 1, 1) + timedelta(days=rng.randrange(365 * 35))
        rows.append(RosterRow(
            line=serial + 2, full_name=f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}",
            date_of_birth=born, id_number=f"0{38 + serial % 50:02d}{born.year % 100:02d}{serial:07d}"[:12],
            native_place="", unit="Sở Nội vụ", position="Phó Giám đốc"))
    return rows


def _cast(app: Flask) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """The units, the supervisor (with two-factor) and the officers; (supervisor id, officer ids)."""
    with app.app_context():
        for code, kind, parent in ((PROVINCE, "organisation", None), (DISTRICT, "district", PROVINCE)):
            if accounts.find_unit(code) is None:
                accounts.create_unit(code=code, name=f"Bench {code}", kind=kind, parent_code=parent, by=None)
        supervisor, _password = accounts.create_user(
            NewUser(SUPERVISOR, "Bench Lead", PROVINCE, "supervisor", "top_secret"), password=PASSWORD, by=None,
            must_change_password=False)
        supervisor.totp_secret, supervisor.totp_enabled_at = pyotp.random_base32(), utcnow()
        officers = [accounts.create_user(NewUser(f"bench.campaign.{number}", f"Bench Officer {number}", PROVINCE,
                                                 "officer", "secret"), password=PASSWORD, by=None,
                                         must_change_password=False)[0] for number in range(OFFICERS)]
        db.session.commit()
        return supervisor.id, [officer.id for officer in officers]


def _conclude(case: Case, officer, supervisor) -> None:
    for action in ("start_examination", "start_appraisal", "start_conclusion"):
        casework.transition(case, action, by=officer)
    conclusions.save_draft(case, ConclusionData("no_issue", "Lý lịch rõ ràng, đủ tiêu chuẩn chính trị."), by=officer)
    conclusions.submit(case, by=officer)
    if supervisor is not None:
        conclusions.approve_unattended(case, by=supervisor)


def build(app: Flask, nominees: int) -> uuid.UUID:
    """The campaign in mixed states; its id."""
    rng = random.Random(20)
    supervisor_id, officer_ids = _cast(app)
    rows = _people(nominees, rng)
    reused = max(1, nominees // 100)
    with app.app_context():
        supervisor = db.session.get(accounts.User, supervisor_id)
        officers = [db.session.get(accounts.User, officer_id) for officer_id in officer_ids]
        province, district = accounts.find_unit(PROVINCE), accounts.find_unit(DISTRICT)
        # Earlier conclusions of some nominees, approved and still valid: the board offers them.
        earlier = campaigns.create_campaign(CampaignData("planning", "Quy hoạch (bench)", province.id,
                                                         local_today() + timedelta(days=60), "unclassified"),
                                            by=supervisor)
        campaigns.add_nominees_from_roster(earlier, rows[:reused], by=supervisor)
        first = [nominee.id for nominee in db.session.scalars(select(CampaignNominee).where(
            CampaignNominee.campaign_id == earlier.id))]
        campaigns.open_reviews(earlier, first, [officers[0].id], by=supervisor)
        for nominee in db.session.scalars(select(CampaignNominee).where(CampaignNominee.campaign_id == earlier.id)):
            _conclude(nominee.case, officers[0], supervisor)
        campaigns.close_campaign(earlier, by=supervisor)

        campaign = campaigns.create_campaign(CampaignData(
            "congress", "Nhân sự Đại hội Đảng bộ tỉnh nhiệm kỳ 2025–2030 (bench)", province.id,
            local_today() + timedelta(days=45), "confidential"), by=supervisor)
        campaigns.add_nominees_from_roster(campaign, rows, by=supervisor)
        db.session.commit()
        ids = list(db.session.scalars(select(CampaignNominee.id).where(CampaignNominee.campaign_id == campaign.id)
                                      .order_by(CampaignNominee.position_in_list)))
        campaigns.reuse_conclusions(campaign, ids[:reused], by=supervisor)
        rest = ids[reused:]
        reviewed = rest[: len(rest) * 2 // 5]
        campaigns.open_reviews(campaign, reviewed, officer_ids, by=supervisor)
        untouched = rest[len(reviewed):]
        campaigns.hand_to_unit(campaign, untouched[: len(untouched) // 10], district, by=supervisor)
        db.session.commit()
        cases = list(db.session.scalars(select(Case).join(CampaignNominee, CampaignNominee.case_id == Case.id)
                                        .where(CampaignNominee.campaign_id == campaign.id).order_by(Case.reference)))
        assigned = dict(db.session.execute(select(Assignment.case_id, Assignment.user_id)
                                           .where(Assignment.case_id.in_([case.id for case in cases]))).all())
        by_id = {officer.id: officer for officer in officers}
        walked = cases[: max(1, len(cases) // 8)]
        for number, case in enumerate(walked):
            _conclude(case, by_id[assigned[case.id]], supervisor if number % 2 else None)
        for case in cases[len(walked):][: max(1, len(cases) // 10)]:
            case.due_on = local_today() - timedelta(days=3)
        db.session.commit()
        return campaign.id


# --- measuring ------------------------------------------------------------------------------------

def _token(page: str) -> str:
    return CSRF.search(page).group(1)


def _sign_in(app: Flask) -> object:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"csrf_token": _token(page), "username": SUPERVISOR, "password": PASSWORD})
    if "second-factor" in response.headers.get("Location", ""):
        with app.app_context():
            secret = accounts.find_user(SUPERVISOR).totp_secret
            db.session.rollback()
        page = client.get("/login/second-factor").get_data(as_text=True)
        response = client.post("/login/second-factor", data={"csrf_token": _token(page),
                                                             "code": pyotp.TOTP(secret).now()})
    if response.status_code != 302:
        raise SystemExit(f"campaign board bench: the supervisor could not sign in ({response.status_code})")
    return client


def _time(get, requests: int, keyring=None) -> list[float]:
    samples = []
    for _ in range(requests):
        if keyring is not None:
            keyring.forget_all()
        start = time.perf_counter()
        response = get()
        samples.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise SystemExit(f"campaign board bench: a page answered {response.status_code}")
    return samples


def run(app: Flask, *, nominees: int, requests: int, folder: Path, freeze: bool = True) -> list[Row]:
    print(f"\nCampaign board: {nominees:,} nominees, 50-row pages, {requests} requests each, "
          f"gc.freeze {'on' if freeze else 'off'}", flush=True)
    started = time.perf_counter()
    campaign_id = build(app, nominees)
    print(f"  (data ready in {time.perf_counter() - started:.0f} s)", flush=True)
    bare_database = folder / "bare.db"
    bare_page.create_database(bare_database)
    os.environ[bare_page.DATABASE_VARIABLE] = str(bare_database)
    bare = bare_page.create_app().test_client()
    client = _sign_in(app)
    keyring = app.extensions["hoso_keyring"]
    if freeze:
        # As each gunicorn worker does once the app is loaded (gunicorn.conf.py's
        # post_worker_init): what was loaded stays out of the full collections.
        gc.collect()
        gc.freeze()
    pages = (("board, first page", f"/campaigns/{campaign_id}"),
             ("board, in review and overdue", f"/campaigns/{campaign_id}?state=in_review&overdue=y"))
    results = [Row("bare page (bench/bare_page.py)", _time(lambda: bare.get("/"), requests), bare_page.ROWS)]
    for label, url in pages:
        print(f"  measuring: {label} ...", flush=True)
        shown = client.get(url).get_data(as_text=True).count(ROW)  # the first request warms what stays warm
        results.append(Row(label, _time(lambda url=url: client.get(url), requests, keyring), shown))
    return results


def print_table(rows: list[Row]) -> int:
    """The table and the verdict; returns how many Hoso rows missed the target."""
    bare = rows[0]
    print()
    print("Campaign board (server time through the test client, data keys cold; bare = bench/bare_page.py in-process)")
    print(f"{'page':<34} {'rows':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'× bare p95':>11}  "
          f"target p95 ≤ {TARGET_P95_MS:.0f} ms")
    missed = 0
    for row in rows:
        verdict = ""
        if row is not bare:
            met = row.p95 <= TARGET_P95_MS
            missed += not met
            verdict = "met" if met else "MISSED"
        print(f"{row.label:<34} {row.rows_shown:>5} {row.p50:>8.2f} {row.p95:>8.2f} {row.p99:>8.2f} "
              f"{row.p95 / bare.p95 if bare.p95 else 0:>11.1f}  {verdict}")
    return missed


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.campaign_board", description=__doc__.split("\n\n")[0])
    parser.add_argument("--nominees", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp folder")
    parser.add_argument("--gc-freeze", choices=("on", "off"), default="on",
                        help="gc.freeze() once the data is built, as the gunicorn workers do (default on)")
    args = parser.parse_args()
    if args.nominees < 10 or args.requests < 1:
        parser.error("--nominees must be at least 10 and --requests at least 1")
    # Here, not at the top: bench.instance brings bench.crypto's own tables into the models'
    # metadata, which the test suite (which runs this bench small, on its own app) must not see.
    from bench.instance import build_hoso

    with tempfile.TemporaryDirectory() as tmp:
        app = build_hoso(args.database_url, Path(tmp))
        print(f"Hoso campaign-board bench on {app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}")
        missed = print_table(run(app, nominees=args.nominees, requests=args.requests, folder=Path(tmp),
                                 freeze=args.gc_freeze == "on"))
        gc.unfreeze()
        with app.app_context():
            db.engine.dispose()
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
