"""`python -m bench.campaigns [--dossiers 100000] [--nominees 2000] [--database-url URL]`: a
campaign's list of nominees imported and matched at scale (issue 20, Benchmark: 2,000 nominees
at 100k dossiers in under 30 s).

- The dossiers are bulk-written sealed for real (bench/cases.py: a data key each, sealed
  names, ID numbers and birth dates, blind indexes) over the bench unit, its four districts
  and fifteen other units.
- The list: half the nominees are people with a dossier in the bench unit's scope (their ID
  number, name and birth date read back through the keyring), half are new.
- The figure is `flask campaign import` itself (the click command, in this process, with its
  progress bar on stderr): parse and validate, create the campaign, match every row by the
  citizen-ID blind index in batches, create the new dossiers, add the nominee rows, audit,
  commit.
- The baseline, in the same run, is the plain roster import of the same rows
  (cases.subjects.operations.import_roster, what `import subjects` runs: one lookup per row),
  into the same unit; measured up to its flush and then rolled back, so the campaign import
  finds the database as the bench built it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from bench import cases as cases_bench
from bench.instance import build_hoso
from cases.models import CampaignNominee, Subject
from cases.subjects import operations as subjects
from cases.subjects.roster import decode, parse_roster
from protection import accounts, policy
from protection.crypto import current_keyring
from protection.db import db
from protection.i18n import local_today

TARGET_SECONDS = 30.0
HEADER = "id_number,full_name,date_of_birth,unit,position,native_place"


@dataclass
class Result:
    dossiers: int
    nominees: int
    campaign_seconds: float
    baseline_seconds: float
    matched: int
    reference: str

    @property
    def met(self) -> bool:
        return self.campaign_seconds < TARGET_SECONDS


def _existing_people(count: int) -> list[tuple[str, str, str]]:
    """(ID number, name, birth date) of `count` dossiers in the bench unit's scope."""
    scope = policy.units_under(accounts.find_unit("BENCH").id)
    ids = list(db.session.scalars(select(Subject.id).where(Subject.owner_unit_id.in_(scope)).limit(count)))
    current_keyring().preload(db.session, select(Subject.data_key_id).where(Subject.id.in_(ids)))
    people = [(subject.id_number, subject.full_name, subject.date_of_birth.strftime("%d/%m/%Y"))
              for subject in db.session.scalars(select(Subject).where(Subject.id.in_(ids)))]
    db.session.commit()
    return people


def write_list(path: Path, nominees: int, rng: random.Random) -> int:
    """The list: half known people, half new ones ("099…": a prefix the bench's dossiers never
    carry). Returns how many are known."""
    known = _existing_people(nominees // 2)
    lines = [HEADER]
    for number, name, born in known:
        lines.append(f"{number},{name},{born},Sở Nội vụ,Chuyên viên,Xã Đông Sơn")
    for serial in range(nominees - len(known)):
        name = f"{rng.choice(cases_bench.SURNAMES)} {rng.choice(cases_bench.MIDDLE)} {rng.choice(cases_bench.GIVEN)}"
        lines.append(f"099{serial:09d},{name},{rng.randrange(1, 28):02d}/{rng.randrange(1, 13):02d}/"
                     f"{rng.randrange(1960, 2000)},Huyện ủy,Phó Bí thư,Xã Yên Lạc")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(known)


def _baseline(app: Flask, path: Path) -> float:
    """`import subjects` of the same rows into the same unit, timed to its flush, undone."""
    with app.app_context():
        started = time.perf_counter()
        parsed = parse_roster(decode(path.read_bytes()), today=local_today())
        subjects.import_roster(parsed.rows, owner_unit=accounts.find_unit("BENCH"))
        db.session.flush()
        seconds = time.perf_counter() - started
        db.session.rollback()
    return seconds


def _campaign_import(app: Flask, path: Path) -> tuple[float, str]:
    """The `campaign import` command in this process: its progress bar goes to stderr."""
    output = io.StringIO()
    with app.app_context(), contextlib.redirect_stdout(output):
        due = local_today().replace(year=local_today().year + 1).isoformat()
        started = time.perf_counter()
        app.cli.main(args=["campaign", "import", "--unit", "BENCH", "--purpose", "congress", "--title",
                           "Bench campaign", "--due", due, str(path)], prog_name="flask", standalone_mode=False)
        seconds = time.perf_counter() - started
    return seconds, output.getvalue().strip().splitlines()[-1]


def run(app: Flask, *, dossiers: int, nominees: int, seed: int = 20) -> Result:
    rng = random.Random(seed)
    keyring = app.extensions["hoso_keyring"]
    with app.app_context():
        if db.session.scalar(select(func.count()).select_from(Subject)) < dossiers:
            units, _officers = cases_bench._units_and_people(rng)
            print(f"  preparing: {dossiers:,} dossiers (bulk, sealed) ...", flush=True)
            cases_bench._write_subjects(keyring, units, dossiers, rng)
            with db.engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE")
        db.session.commit()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "nominees.csv"
        with app.app_context():
            known = write_list(path, nominees, rng)
        print(f"  measuring: import subjects of {nominees:,} rows (baseline, rolled back) ...", flush=True)
        baseline = _baseline(app, path)
        print(f"  measuring: campaign import of {nominees:,} nominees ({known:,} with a dossier) ...", flush=True)
        seconds, reference = _campaign_import(app, path)
    with app.app_context():
        added = db.session.scalar(select(func.count()).select_from(CampaignNominee))
        db.session.commit()
    if added != nominees:
        raise SystemExit(f"the campaign has {added} nominees, expected {nominees}")
    return Result(dossiers, nominees, seconds, baseline, known, reference)


def print_table(result: Result) -> None:
    print()
    print(f"{'figure':<58} {'value':>10} {'baseline':>10} {'ratio':>7}")
    per_row = 1000 / result.nominees
    rows = [
        (f"campaign import: {result.nominees:,} nominees at {result.dossiers:,} dossiers (s)",
         result.campaign_seconds, result.baseline_seconds),
        ("  per nominee (ms)", result.campaign_seconds * per_row, result.baseline_seconds * per_row),
    ]
    for label, value, baseline in rows:
        print(f"{label:<58} {value:>10.2f} {baseline:>10.2f} {value / baseline if baseline else 0:>7.2f}")
    print(f"baseline: import subjects of the same rows into the same unit (to its flush, rolled back); "
          f"{result.matched:,} nominees matched to dossiers; campaign {result.reference}")
    print(f"target: under {TARGET_SECONDS:.0f} s — {'met' if result.met else 'MISSED'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.campaigns")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp folder")
    parser.add_argument("--dossiers", type=int, default=100_000)
    parser.add_argument("--nominees", type=int, default=2_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        app = build_hoso(args.database_url, Path(tmp))
        print(f"Hoso campaign-import bench on {app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}", flush=True)
        result = run(app, dossiers=args.dossiers, nominees=args.nominees)
        with app.app_context():
            db.engine.dispose()
    print_table(result)
    sys.stdout.flush()
    return 0 if result.met else 1


if __name__ == "__main__":
    raise SystemExit(main())
