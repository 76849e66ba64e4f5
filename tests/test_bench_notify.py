"""The notify bench (bench/notify.py) at a tiny size, so that it cannot rot: it builds its
instance, runs `notify send-due` twice against its loopback relay and prints its table.
Speed is not a test: no figure is asserted, only that the runs did what they say."""

from __future__ import annotations

import re

from bench import notify


def test_the_notify_bench_runs_at_a_tiny_size(capsys):
    rows = notify.bench(None, users=40, cases=300, subjects=100)
    notify.print_table(rows)
    first, second = rows
    mails = int(re.search(r"(\d+) mails", first.detail).group(1))
    assert mails > 0 and "reminders raised" in first.detail
    assert "none new, 0 mails" in second.detail
    assert all(row.seconds > 0 and row.baseline_seconds > 0 for row in rows)
    assert "send-due, first run of the day" in capsys.readouterr().out
