"""The campaign-board bench (bench/campaign_board.py) at a tiny size, so that it cannot rot: it
builds its campaign in every state through the operations, measures the board's pages and the
bare page, and prints its table. Speed is not asserted here (a bench reports, a test checks).
It runs on the test's own app and database (`python -m bench.campaign_board` makes a fresh
instance with bench/instance.py, whose crypto tables the suite's models must not see)."""

from __future__ import annotations

from bench import bare_page
from bench import campaign_board as bench


def test_the_bench_builds_its_campaign_and_measures_every_page(app, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(bare_page.DATABASE_VARIABLE, "")  # the bench sets it; restored afterwards
    rows = bench.run(app, nominees=12, requests=2, folder=tmp_path, freeze=False)
    assert [row.label for row in rows] == ["bare page (bench/bare_page.py)", "board, first page",
                                           "board, in review and overdue"]
    assert all(len(row.samples) == 2 and row.p50 > 0 for row in rows)
    assert rows[0].rows_shown == bare_page.ROWS
    assert rows[1].rows_shown == 12  # every nominee fits on the first page
    assert 1 <= rows[2].rows_shown < 12  # the overdue reviews only
    missed = bench.print_table(rows)
    assert 0 <= missed <= 2
    table = capsys.readouterr().out
    assert "board, first page" in table and "× bare p95" in table
