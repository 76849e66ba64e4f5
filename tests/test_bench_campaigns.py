"""The campaign-import bench (bench/campaigns.py) runs end to end at a tiny size, so it cannot
rot: the dossiers are built, the list is half known people, both imports run and the table
prints. Speed is not a test.

In a process of its own, as `python -m bench.campaigns` runs: importing the bench registers its
own sealed tables (bench/crypto.py) with the key machinery, and building an instance lets
Alembic reconfigure logging; neither may leak into the tests that follow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_campaign_bench_runs_at_a_tiny_size():
    environment = {name: value for name, value in os.environ.items() if not name.startswith("HOSO_")}
    environment["PYTHONPATH"] = str(ROOT)
    finished = subprocess.run([sys.executable, "-m", "bench.campaigns", "--dossiers", "60", "--nominees", "12"],
                              cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300, check=False)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "campaign import: 12 nominees at 60 dossiers (s)" in finished.stdout
    assert "6 nominees matched to dossiers" in finished.stdout and "target: under 30 s — met" in finished.stdout
    assert "Matching nominees" in finished.stderr  # the command's own progress bar
