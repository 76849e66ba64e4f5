"""The case-lists section of `python -m bench` (issue 5): with 100k cases and 1M subjects
(--full), "my work" and the unit's filtered list render a 50-row page with p95 ≤ 50 ms of
server time, each beside a bare page that reads the same rows unprotected in the same run.

- Data is bulk-inserted (not through the services) but protected for real: every subject
  and every case owns a data key wrapped under the master key; subject names, ID numbers
  and birth dates, case titles and summaries are sealed AES-256-GCM with their row's AAD;
  subjects carry their blind indexes. Cases spread over 20 units (4 of them below the
  bench unit, so its supervisor's scope holds 5), every state of both kinds, four
  classifications, one or two assigned officers each. Petition details, findings and
  timelines are not generated: the lists read `cases` and `case_assignments` only.
- The Hoso figure is the real route (GET /cases/?view=...) through the test client, signed
  in as an officer (my work) and as a supervisor with two-factor (the unit's list filtered
  by kind and state): session lookup, policy, the count, the page query, the `case.list`
  audit entry and its commit, key unwrapping (the data-key cache emptied before every
  request, as for a page nobody opened recently), decryption of readable titles, the full
  layout.
- The bare page is a plain Flask app in the same process: the same 50 rows selected by
  plain SQL on unencrypted columns only (no count, no audit, no session), rendered in a
  trivial template. The first page of each is compared, so both read the same rows.

Setup writes into the database's real tables and leaves the rows there: give the bench a
fresh scratch database each run (its keys live in the run's temporary instance folder).
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pyotp
from flask import Flask, render_template_string
from sqlalchemy import Engine, exists, func, insert, select

from cases import workflow
from cases.casework import lists
from cases.models import Assignment, Case, Subject
from protection import accounts, policy
from protection.accounts import NewUser
from protection.clock import utcnow
from protection.db import db
from protection.fields import Sealed, compute_index, index_field
from protection.identity import CLEARANCE_ORDER, Clearance, Role, Unit, User

from .crypto import GIVEN, MIDDLE, PLACES, SURNAMES, percentile
from .instance import PASSWORD, build_hoso

OFFICER, SUPERVISOR = "bench.officer", "bench.supervisor"
UNITS = 20
CHILD_UNITS = 4  # below the bench unit: in its supervisor's scope
OFFICERS_PER_UNIT = 10
BATCH = 5000
REFERENCES = re.compile(r"(?:BVCT|DT)-\d{4}-\d{6}")
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')

SIZES = {
    "quick": {"cases": 5_000, "subjects": 50_000, "repetitions": 40},
    "default": {"cases": 20_000, "subjects": 200_000, "repetitions": 100},
    "full": {"cases": 100_000, "subjects": 1_000_000, "repetitions": 200},
}

TITLES = ["Thẩm định tiêu chuẩn chính trị kết nạp Đảng", "Thẩm định quy hoạch cán bộ", "Thẩm định bổ nhiệm",
          "Thẩm định nhân sự ứng cử", "Thẩm định cử đi học ở nước ngoài", "Đơn tố cáo cán bộ xã",
          "Đơn khiếu nại kết quả đánh giá", "Đơn phản ánh thái độ tiếp dân", "Đơn kiến nghị bồi thường"]
SUMMARY = ("Nhân sự do cấp ủy cơ sở giới thiệu; rà soát lý lịch, thẩm tra, xác minh theo Quy định 58-QĐ/TW "
           "và hướng dẫn của Ban Tổ chức Trung ương. ")
CLASSIFICATION_WEIGHTS = (60, 25, 12, 3)  # unclassified, Mật, Tối mật, Tuyệt mật


@dataclass
class Row:
    label: str
    hoso: list[float]
    bare: list[float]
    rows: int
    total: int
    same_rows: bool


# --- data ---------------------------------------------------------------------------------

def _seal(keyring, data_key_id: uuid.UUID, text: str, table: str, column: str, row_id: uuid.UUID) -> Sealed:
    return Sealed(keyring.seal(db.session, data_key_id, text.encode("utf-8"), table, column, row_id))


def _units_and_people(rng: random.Random) -> tuple[list[Unit], dict[uuid.UUID, list[uuid.UUID]]]:
    """The bench unit, its four districts and fifteen other units; ten officers in each
    (the bench officer among the bench unit's), and the bench supervisor with two-factor."""
    if accounts.find_unit("BENCH") is None:
        accounts.create_unit(code="BENCH", name="Bench unit", kind="organisation", parent_code=None, by=None)
    for number in range(1, UNITS):
        code = f"BENCH-{number:02d}"
        if accounts.find_unit(code) is None:
            accounts.create_unit(code=code, name=f"Bench unit {number:02d}",
                                 kind="district" if number <= CHILD_UNITS else "organisation",
                                 parent_code="BENCH" if number <= CHILD_UNITS else None, by=None)
    if accounts.find_user(OFFICER) is None:
        accounts.create_user(NewUser(OFFICER, "Bench Officer", "BENCH", "officer", "secret"),
                             password=PASSWORD, by=None, must_change_password=False)
    supervisor = accounts.find_user(SUPERVISOR)
    if supervisor is None:
        supervisor, _password = accounts.create_user(
            NewUser(SUPERVISOR, "Bench Supervisor", "BENCH", "supervisor", "secret"),
            password=PASSWORD, by=None, must_change_password=False)
        supervisor.totp_secret = pyotp.random_base32()
        supervisor.totp_enabled_at = utcnow()
    units = list(db.session.scalars(select(Unit).where(Unit.code.like("BENCH%")).order_by(Unit.code)))
    officers: dict[uuid.UUID, list[uuid.UUID]] = {}
    for unit in units:
        have = list(db.session.scalars(select(User.id).where(User.unit_id == unit.id, User.role == Role.OFFICER)))
        for number in range(len(have), OFFICERS_PER_UNIT):
            user = User(id=uuid.uuid4(), username=f"bench.{unit.code.lower()}.{number:02d}", display_name="Bench",
                        unit=unit, role=Role.OFFICER, clearance=Clearance.SECRET, active=False,
                        password_hash="!", must_change_password=True)  # noqa: S106 - never signs in
            db.session.add(user)
            have.append(user.id)
        officers[unit.id] = have
    db.session.commit()
    return units, officers


def _write_subjects(keyring, units: list[Unit], total: int, rng: random.Random) -> list[uuid.UUID]:
    """Subjects up to `total`, each under its own data key; returns a sample of their ids
    for the reviews to point at."""
    have = db.session.scalar(select(func.count()).select_from(Subject))
    sample = list(db.session.scalars(select(Subject.id).limit(50_000)))
    db.session.commit()
    name_index, id_index = index_field(Subject.full_name_index), index_field(Subject.id_number_index)
    name_birth = index_field(Subject.name_birth_index)
    serial = have
    started = time.perf_counter()
    while have < total:
        chunk = min(BATCH, total - have)
        key_rows, rows = [], []
        for _ in range(chunk):
            serial += 1
            data_key = keyring.new_data_key(db.session)
            key_rows.append(data_key.row)
            row_id = uuid.uuid4()
            name = f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
            born = date(1955, 1, 1) + timedelta(days=rng.randrange(365 * 50))
            id_number = f"0{rng.randrange(1, 96):02d}{rng.randrange(4)}{born.year % 100:02d}{serial % 1_000_000:06d}"
            rows.append({
                "id": row_id, "data_key_id": data_key.id, "owner_unit_id": rng.choice(units).id,
                "full_name": _seal(keyring, data_key.id, name, "subjects", "full_name", row_id),
                "id_number": _seal(keyring, data_key.id, id_number, "subjects", "id_number", row_id),
                "date_of_birth": _seal(keyring, data_key.id, born.isoformat(), "subjects", "date_of_birth", row_id),
                "residence": _seal(keyring, data_key.id, rng.choice(PLACES), "subjects", "residence", row_id),
                "full_name_index": compute_index(keyring, name_index, [name]),
                "id_number_index": compute_index(keyring, id_index, [id_number]),
                "name_birth_index": compute_index(keyring, name_birth, [name, born]),
                "created_at": utcnow(), "updated_at": utcnow(),
            })
            if len(sample) < 50_000:
                sample.append(row_id)
        keyring.insert_data_keys(db.session, key_rows)
        db.session.execute(insert(Subject.__table__), rows)
        db.session.commit()
        keyring.forget_all()
        have += chunk
        _progress("subjects", have, total, started)
    return sample


def _write_cases(keyring, units: list[Unit], officers: dict, subject_ids: list[uuid.UUID], total: int,
                 rng: random.Random) -> None:
    have = db.session.scalar(select(func.count()).select_from(Case))
    db.session.commit()
    # The bench unit holds 10% of the cases and each of its districts 5% (so its supervisor's
    # scope holds 30%); the other fifteen units share the rest.
    weights = [10] + [5] * CHILD_UNITS + [70 / (UNITS - 1 - CHILD_UNITS)] * (UNITS - 1 - CHILD_UNITS)
    today = date.today()
    started = time.perf_counter()
    serial = have
    while have < total:
        chunk = min(BATCH, total - have)
        key_rows, rows, assignments = [], [], []
        for _ in range(chunk):
            serial += 1
            kind = "review" if rng.random() < 0.6 else "petition"
            flow = workflow.CASE_WORKFLOWS[kind]
            # About half closed (or filed, forwarded): lists of open work skip them.
            state = rng.choice(sorted(flow.final)) if rng.random() < 0.5 else rng.choice(
                [state for state in flow.states if flow.is_open(state)])
            unit = rng.choices(units, weights)[0]
            opened = today - timedelta(days=rng.randrange(3 * 365))
            data_key = keyring.new_data_key(db.session)
            key_rows.append(data_key.row)
            row_id = uuid.uuid4()
            prefix = "BVCT" if kind == "review" else "DT"
            assigned = rng.sample(officers[unit.id], 2 if rng.random() < 0.1 else 1)
            rows.append({
                "id": row_id, "data_key_id": data_key.id, "reference": f"{prefix}-{opened.year}-{serial:06d}",
                "kind": kind, "state": state,
                "classification": rng.choices(CLEARANCE_ORDER, CLASSIFICATION_WEIGHTS)[0],
                "owner_unit_id": unit.id, "version": 1,
                "title": _seal(keyring, data_key.id, rng.choice(TITLES), "cases", "title", row_id),
                "summary": _seal(keyring, data_key.id, SUMMARY * 2, "cases", "summary", row_id),
                "subject_id": rng.choice(subject_ids) if kind == "review" and subject_ids else None,
                "purpose": rng.choice(workflow.REVIEW_PURPOSES) if kind == "review" else None,
                "opened_on": opened, "deadline_start": opened, "deadline_rule": "review" if kind == "review" else
                "denunciation", "due_on": opened + timedelta(days=30), "extensions": 0,
                "closed_on": opened + timedelta(days=rng.randrange(10, 60)) if not flow.is_open(state) else None,
                "created_by_id": assigned[0], "created_at": utcnow(), "updated_at": utcnow(),
            })
            assignments.extend({"id": uuid.uuid4(), "case_id": row_id, "user_id": user_id,
                                "assigned_by_id": user_id, "assigned_at": utcnow()} for user_id in assigned)
        keyring.insert_data_keys(db.session, key_rows)
        db.session.execute(insert(Case.__table__), rows)
        db.session.execute(insert(Assignment.__table__), assignments)
        db.session.commit()
        keyring.forget_all()
        have += chunk
        _progress("cases", have, total, started)


def _progress(what: str, have: int, total: int, started: float) -> None:
    if have == total or have % (BATCH * 10) == 0:
        print(f"  ({have:,} of {total:,} {what} in {time.perf_counter() - started:.0f} s)", flush=True)


def build(app: Flask, *, cases: int, subjects: int) -> None:
    keyring = app.extensions["hoso_keyring"]
    rng = random.Random(5)
    with app.app_context():
        units, officers = _units_and_people(rng)
        print(f"  preparing: {subjects:,} subjects and {cases:,} cases (bulk, sealed) ...", flush=True)
        subject_ids = _write_subjects(keyring, units, subjects, rng)
        _write_cases(keyring, units, officers, subject_ids, cases, rng)
        # After a bulk load, as `import subjects` does: planner statistics (committed).
        with db.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")


# --- the bare page --------------------------------------------------------------------------

BARE_TEMPLATE = """<table><tbody>{% for row in rows %}<tr><td>{{ row.reference }}</td><td>{{ row.kind }}</td>
<td>{{ row.state }}</td><td>{{ row.classification }}</td><td>{{ row.opened_on }}</td><td>{{ row.due_on }}</td></tr>
{% endfor %}</tbody></table>"""


def bare_statement(user: User, scope: frozenset, view: str, kind: str | None, state: str | None):
    """The page's rows by plain SQL on unencrypted columns: the filters of cases.casework.lists."""
    table = Case.__table__
    cleared = [level.value for level in CLEARANCE_ORDER if Clearance(user.clearance).covers(level)]
    statement = select(table.c.reference, table.c.kind, table.c.state, table.c.classification, table.c.opened_on,
                       table.c.due_on).where(table.c.owner_unit_id.in_(scope), table.c.classification.in_(cleared))
    if view == "mine":
        assignments = Assignment.__table__
        statement = statement.where(exists().where(assignments.c.case_id == table.c.id,
                                                   assignments.c.user_id == user.id),
                                    table.c.state.in_(lists.OPEN_STATES))
        order = (table.c.due_on.is_(None), table.c.due_on, table.c.reference)
    else:
        order = (table.c.opened_on.desc(), table.c.reference.desc())
    if kind:
        statement = statement.where(table.c.kind == kind)
    if state:
        statement = statement.where(table.c.state == state)
    return statement.order_by(*order).limit(lists.PAGE_SIZE)


def bare_app(engine: Engine, pages: dict[str, object]) -> Flask:
    bare = Flask("bare-list")

    @bare.route("/<name>")
    def page(name: str):
        with engine.connect() as connection:
            rows = connection.execute(pages[name]).all()
        return render_template_string(BARE_TEMPLATE, rows=rows)

    return bare


# --- signing in -------------------------------------------------------------------------------

def _sign_in(app: Flask, username: str) -> object:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"csrf_token": CSRF.search(page).group(1), "username": username,
                                           "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    if "second-factor" in response.headers.get("Location", ""):
        with app.app_context():
            secret = accounts.find_user(username).totp_secret
            db.session.rollback()
        page = client.get("/login/second-factor").get_data(as_text=True)
        response = client.post("/login/second-factor", data={"csrf_token": CSRF.search(page).group(1),
                                                             "code": pyotp.TOTP(secret).now()})
        assert response.status_code == 302, response.status_code
    return client


# --- the section ---------------------------------------------------------------------------------

def _references(page: str) -> list[str]:
    """The case references in a page's table rows (not the filter form's placeholder)."""
    start = page.find("<tbody>") if "<tbody>" in page else page.find("<table>")
    return REFERENCES.findall(page[start:])


def _time(operation, repetitions: int, keyring=None) -> list[float]:
    samples = []
    for _ in range(repetitions):
        if keyring is not None:
            keyring.forget_all()
        start = time.perf_counter()
        operation()
        samples.append(time.perf_counter() - start)
    return samples


def run(app: Flask, *, cases: int, subjects: int, repetitions: int) -> list[Row]:
    print(f"\nCase lists: {cases:,} cases, {subjects:,} subjects, 50-row pages, {repetitions} requests each")
    started = time.perf_counter()
    build(app, cases=cases, subjects=subjects)
    print(f"  (data ready in {time.perf_counter() - started:.0f} s)", flush=True)
    keyring = app.extensions["hoso_keyring"]
    officer_client = _sign_in(app, OFFICER)
    supervisor_client = _sign_in(app, SUPERVISOR)

    with app.app_context():
        officer, supervisor = accounts.find_user(OFFICER), accounts.find_user(SUPERVISOR)
        # The unit list's filter: a state common enough to fill more than a page.
        state = "appraisal"
        scenarios = [
            ("my work (officer)", officer_client, "/cases/?view=mine", officer, "mine", None, None),
            (f"unit list, review/{state} (supervisor)", supervisor_client,
             f"/cases/?view=unit&kind=review&state={state}", supervisor, "unit", "review", state),
            (f"unit list, review/{state} (officer)", officer_client,
             f"/cases/?view=unit&kind=review&state={state}", officer, "unit", "review", state),
        ]
        pages = {str(number): bare_statement(user, policy.unit_scope(user), view, kind, state_)
                 for number, (_l, _c, _u, user, view, kind, state_) in enumerate(scenarios)}
        totals = {str(number): db.session.scalar(
            select(func.count()).select_from(pages[str(number)].limit(None).order_by(None).subquery()))
            for number in range(len(scenarios))}
        engine = db.engine
        db.session.commit()
    bare = bare_app(engine, pages).test_client()

    results = []
    for number, (label, client, url, _user, _view, _kind, _state) in enumerate(scenarios):
        print(f"  measuring: {label} ...", flush=True)
        first = client.get(url)
        if first.status_code != 200:
            raise SystemExit(f"cases bench: GET {url} answered {first.status_code}")
        hoso_refs = _references(first.get_data(as_text=True))
        bare_refs = _references(bare.get(f"/{number}").get_data(as_text=True))
        hoso = _time(lambda client=client, url=url: client.get(url), repetitions, keyring)
        plain = _time(lambda number=number: bare.get(f"/{number}"), repetitions)
        results.append(Row(label, hoso, plain, len(bare_refs), totals[str(number)],
                           hoso_refs == bare_refs and len(bare_refs) > 0))
    return results


def print_table(rows: list[Row]) -> None:
    print()
    print("Case lists (server time through the test client; bare = the same rows, plain SQL, trivial template)")
    print(f"{'page':<42} {'rows':>5} {'of':>7} {'p50 ms':>8} {'p95 ms':>8} {'bare p50':>9} {'bare p95':>9} "
          f"{'× p95':>6}  target p95 ≤ 50 ms")
    for row in rows:
        p50, p95 = statistics.median(row.hoso) * 1000, percentile(row.hoso, 0.95) * 1000
        b50, b95 = statistics.median(row.bare) * 1000, percentile(row.bare, 0.95) * 1000
        verdict = "met" if p95 <= 50 else "MISSED"
        same = "" if row.same_rows else "  (rows differ from the bare page!)"
        print(f"{row.label:<42} {row.rows:>5} {row.total:>7,} {p50:>8.2f} {p95:>8.2f} {b50:>9.2f} {b95:>9.2f} "
              f"{p95 / b95:>6.1f}  {verdict}{same}")


def sizes(*, quick: bool, full: bool) -> dict:
    return SIZES["quick" if quick else "full" if full else "default"]


def main() -> None:
    """`python -m bench.cases [--quick | --full] [--database-url URL]`: this section alone."""
    parser = argparse.ArgumentParser(prog="python -m bench.cases")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp folder")
    parser.add_argument("--cases", type=int)
    parser.add_argument("--subjects", type=int)
    parser.add_argument("--repetitions", type=int)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true")
    size.add_argument("--full", action="store_true")
    args = parser.parse_args()
    chosen = dict(sizes(quick=args.quick, full=args.full))
    for name in ("cases", "subjects", "repetitions"):
        if getattr(args, name):
            chosen[name] = getattr(args, name)
    with tempfile.TemporaryDirectory() as tmp:
        app = build_hoso(args.database_url, Path(tmp))
        print(f"Hoso case-lists bench on {app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}")
        print_table(run(app, **chosen))


if __name__ == "__main__":
    main()
