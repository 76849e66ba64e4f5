"""The notify bench (bench/notify.py) at a tiny size, so that it cannot rot: it builds its
instance, runs `notify send-due` twice against its loopback relay and prints its table.
Speed is not a test: no figure is asserted, only that the runs did what they say.

In a process of its own: the bench's modules add their own tables to the models' registry
(bench/crypto.py) and its app configures logging, neither of which belongs in the suite's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_notify_bench_runs_at_a_tiny_size():
    environment = {name: value for name, value in os.environ.items() if not name.startswith("HOSO_")}
    result = subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-m", "bench.notify", "--users", "40", "--cases", "300", "--subjects", "100"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr[-1500:]
    first = re.search(r"([\d,]+) notifications, (\d+) mails .*; (\d+) reminders raised", result.stdout)
    assert first is not None, result.stdout[-1500:]
    assert int(first.group(2)) > 0 and int(first.group(3)) > 0
    assert "send-due, second run same day" in result.stdout and "none new, 0 mails" in result.stdout
