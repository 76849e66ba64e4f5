"""`python -m bench.archive_import [--dossiers 100000] [--pages 1000] [--pages-per-scan 4]
[--scans-per-person 2] [--database-url URL]`: bulk digitisation at scale (issue 24,
Benchmark: digitising 1,000 scanned pages at 100k dossiers, pages/s beside a plain file copy
of the same bytes in the same run).

- The dossiers are bulk-written sealed for real (bench/cases.py: a data key each, sealed
  names, ID numbers and birth dates, blind indexes) over the bench unit, its districts and
  the other bench units.
- The folder: generated scans (bench/scans.py: grey A4 pages at 50 dpi with text and
  speckle, one image per page, as scanners write PDFs), `--pages-per-scan` pages each,
  `--scans-per-person` in each sub-folder, named by the citizen ID of a dossier of the bench
  unit (read back through the keyring).
- The figures are `flask archive import` itself (the click command, in this process, with
  its progress bars on stderr): first with --dry-run (the check alone: every file read, its
  type detected, its pages counted by PDFium, its keyed MAC computed, its dossier found by
  the citizen-ID blind index, duplicates looked up), then the real run (the check again, then
  every file read again, sealed under its dossier's key, its document and scan rows and
  audit entries written, one commit per dossier).
- The baseline, in the same run, is a plain copy of the same files (shutil.copyfile each to a
  temporary folder; the median of three rounds): what moving the bytes costs on this
  machine, with no checking, encryption or database.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from bench import cases as cases_bench
from bench.instance import build_hoso
from cases.archive.models import ArchiveDocument, ArchiveScan
from cases.demo.scans import pdf_scan
from cases.models import Subject
from protection import accounts
from protection.crypto import current_keyring
from protection.db import db


@dataclass
class Result:
    dossiers: int
    people: int
    scans: int
    pages: int
    megabytes: float
    check_seconds: float
    import_seconds: float
    copy_seconds: float


def _people(count: int) -> list[str]:
    """The citizen IDs of `count` dossiers of the bench unit (the import's --unit)."""
    unit = accounts.find_unit("BENCH")
    ids = list(db.session.scalars(select(Subject.id).where(Subject.owner_unit_id == unit.id).limit(count)))
    if len(ids) < count:
        raise SystemExit(f"the bench unit has {len(ids)} dossiers, {count} needed: give more --dossiers")
    current_keyring().preload(db.session, select(Subject.data_key_id).where(Subject.id.in_(ids)))
    numbers = [subject.id_number for subject in db.session.scalars(select(Subject).where(Subject.id.in_(ids)))]
    db.session.commit()
    return numbers


def write_folder(folder: Path, people: list[str], *, scans_per_person: int, scans: int, pages_per_scan: int) -> int:
    """Generated scans, `scans_per_person` in each person's sub-folder; their total bytes."""
    total, seed = 0, 0
    for id_number in people:
        person = folder / id_number
        person.mkdir(parents=True)
        for number in range(1, scans_per_person + 1):
            if seed == scans:
                break
            seed += 1
            data = pdf_scan(seed, pages=pages_per_scan)
            (person / f"van-ban-{number:02d}.pdf").write_bytes(data)
            total += len(data)
    return total


def copy_files(folder: Path, target: Path, rounds: int = 3) -> float:
    """The baseline: each file copied as it is, into a fresh folder each round; the median
    round (a copy of a few MB takes a fraction of a second, and one busy moment of the
    machine would otherwise be the whole figure)."""
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    times = []
    for round_ in range(rounds):
        into = target / str(round_)
        into.mkdir()
        started = time.perf_counter()
        for number, path in enumerate(files):
            shutil.copyfile(path, into / f"{number:06d}{path.suffix}")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _command(app: Flask, folder: Path, *options: str) -> float:
    """`flask archive import` in this process: its progress bars go to stderr."""
    output = io.StringIO()
    with app.app_context(), contextlib.redirect_stdout(output):
        started = time.perf_counter()
        app.cli.main(args=["archive", "import", "--unit", "BENCH", str(folder), *options], prog_name="flask",
                     standalone_mode=False)
        seconds = time.perf_counter() - started
    return seconds


def run(app: Flask, *, dossiers: int, pages: int, pages_per_scan: int, scans_per_person: int,
        seed: int = 24) -> Result:
    rng = random.Random(seed)
    keyring = app.extensions["hoso_keyring"]
    scans = -(-pages // pages_per_scan)
    people_needed = -(-scans // scans_per_person)
    with app.app_context():
        if db.session.scalar(select(func.count()).select_from(Subject)) < dossiers:
            units, _officers = cases_bench._units_and_people(rng)
            print(f"  preparing: {dossiers:,} dossiers (bulk, sealed) ...", flush=True)
            cases_bench._write_subjects(keyring, units, dossiers, rng)
            with db.engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE")
        db.session.commit()
        people = _people(people_needed)
    with tempfile.TemporaryDirectory() as scratch:
        folder, copies = Path(scratch) / "scans", Path(scratch) / "copies"
        copies.mkdir()
        print(f"  preparing: {scans:,} generated scans of {pages_per_scan} pages for {len(people):,} people ...",
              flush=True)
        size = write_folder(folder, people, scans_per_person=scans_per_person, scans=scans,
                            pages_per_scan=pages_per_scan)
        print("  measuring: plain copy of the same files (baseline, median of 3) ...", flush=True)
        copy_seconds = copy_files(folder, copies)
        print("  measuring: archive import --dry-run (the check alone) ...", flush=True)
        check_seconds = _command(app, folder, "--dry-run")
        print("  measuring: archive import ...", flush=True)
        import_seconds = _command(app, folder)
    with app.app_context():
        filed_scans = db.session.scalar(select(func.count()).select_from(ArchiveScan))
        filed_pages = db.session.scalar(select(func.sum(ArchiveDocument.page_count))) or 0
        db.session.commit()
    if (filed_scans, filed_pages) != (scans, scans * pages_per_scan):
        raise SystemExit(f"filed {filed_scans} scans of {filed_pages} pages, expected {scans} of "
                         f"{scans * pages_per_scan}")
    return Result(dossiers, len(people), scans, scans * pages_per_scan, size / 1024 / 1024, check_seconds,
                  import_seconds, copy_seconds)


def print_table(result: Result) -> None:
    print()
    print(f"{'figure':<62} {'seconds':>8} {'pages/s':>9} {'copy p/s':>9} {'× copy':>8}")
    copy_rate = result.pages / result.copy_seconds
    for label, seconds in (
        (f"archive import --dry-run: check {result.pages:,} pages", result.check_seconds),
        (f"archive import: {result.pages:,} pages ({result.scans:,} scans) at {result.dossiers:,} dossiers",
         result.import_seconds),
    ):
        rate = result.pages / seconds
        print(f"{label:<62} {seconds:>8.2f} {rate:>9.0f} {copy_rate:>9.0f} {seconds / result.copy_seconds:>8.0f}")
    print(f"baseline: shutil.copyfile of the same {result.scans:,} files ({result.megabytes:.1f} MB), median of 3: "
          f"{result.copy_seconds * 1000:.1f} ms; scans filed into {result.people:,} dossiers of the bench unit, "
          f"one commit per dossier")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.archive_import")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp folder")
    parser.add_argument("--dossiers", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=1_000)
    parser.add_argument("--pages-per-scan", type=int, default=4)
    parser.add_argument("--scans-per-person", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        app = build_hoso(args.database_url, Path(tmp))
        print(f"Hoso archive-import bench on {app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}", flush=True)
        result = run(app, dossiers=args.dossiers, pages=args.pages, pages_per_scan=args.pages_per_scan,
                     scans_per_person=args.scans_per_person)
        with app.app_context():
            db.engine.dispose()
    print_table(result)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
