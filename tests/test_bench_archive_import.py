"""The archive-import bench (bench/archive_import.py) runs end to end at a tiny size, so it
cannot rot: the dossiers are built, the folder of generated scans is written, copied, checked
(--dry-run) and filed, and the table prints. Speed is not a test: no figure is asserted.

In a process of its own, as `python -m bench.archive_import` runs: importing the bench
registers its own sealed tables (bench/crypto.py) with the key machinery, and building an
instance lets Alembic reconfigure logging; neither may leak into the tests that follow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_archive_import_bench_runs_at_a_tiny_size():
    environment = {name: value for name, value in os.environ.items() if not name.startswith("HOSO_")}
    environment["PYTHONPATH"] = str(ROOT)
    finished = subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-m", "bench.archive_import", "--dossiers", "200", "--pages", "12", "--pages-per-scan", "2"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300, check=False)
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    assert "archive import: 12 pages (6 scans) at 200 dossiers" in finished.stdout
    assert "archive import --dry-run: check 12 pages" in finished.stdout
    assert "shutil.copyfile of the same 6 files" in finished.stdout and "into 3 dossiers" in finished.stdout
    assert "Checking scans" in finished.stderr and "Filing scans" in finished.stderr  # the command's own bars
