"""The page bench's own reading (bench/pages.py): wrk's result line, the pooled bare row, the
verdict on issue 19's targets, the count of protected pages in gunicorn's access log; and the
gc.freeze hook of gunicorn.conf.py. wrk itself never runs here: speed is not a test."""

from __future__ import annotations

import gc
import runpy
from pathlib import Path

import pytest

from bench.load import LoadError
from bench.pages import Cell, parse_wrk, pooled, protected_answers, targets

ROOT = Path(__file__).resolve().parent.parent

WRK_OUTPUT = """Running 8s test @ http://127.0.0.1:40123
  2 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    40.12ms   60.44ms 802.90ms   94.38%
  600 requests in 8.01s, 9.77MB read
HOSO_WRK {"requests": 600, "duration_us": 8010000, "p50_us": 31700, "p95_us": 381900, "p99_us": 582500, \
"max_us": 802900, "socket_errors": {"connect": 0, "read": 2, "write": 0, "timeout": 1}, \
"statuses": {"200": 590, "302": 7, "503": 3}}
"""


def cell(page: str, connections: int, rate: float, p99_ms: float, *, errors: int = 0,
         statuses: dict[int, int] | None = None) -> Cell:
    return Cell(page=page, connections=connections, requests=int(rate * 10), seconds=10.0, p50_ms=p99_ms / 4,
                p95_ms=p99_ms / 2, p99_ms=p99_ms, socket_errors=errors, statuses=statuses or {200: int(rate * 10)})


def test_the_result_line_of_the_wrk_script_becomes_a_cell():
    result = parse_wrk(WRK_OUTPUT, "case page", 4)
    assert (result.page, result.connections, result.requests) == ("case page", 4, 600)
    assert result.rate == pytest.approx(600 / 8.01)
    assert (result.p50_ms, result.p95_ms, result.p99_ms) == (31.7, 381.9, 582.5)
    assert result.socket_errors == 3
    assert result.statuses == {200: 590, 302: 7, 503: 3}
    assert (result.non_2xx, result.server_errors) == (10, 3)


def test_wrk_output_without_the_result_line_is_an_error_not_a_zero():
    with pytest.raises(LoadError, match="HOSO_WRK"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n", "case page", 4)


def test_the_bare_runs_pool_their_requests_and_seconds():
    runs = [cell("bare page", 4, 500, 10), cell("bare page", 4, 700, 30), cell("bare page", 4, 600, 20, errors=1)]
    row = pooled(runs)
    assert row.rate == pytest.approx(600)
    assert row.p99_ms == 20
    assert row.socket_errors == 1
    assert row.statuses == {200: 18_000}


def test_the_targets_say_met_only_when_every_page_meets_them():
    bare = {4: cell("bare page", 4, 600, 12), 16: cell("bare page", 16, 600, 40)}
    good = [cell("case page", 4, 320, 90), cell("case list", 4, 300, 60),
            cell("case page", 16, 310, 240), cell("case list", 16, 305, 200)]
    assert [target.met for target in targets(good, bare)] == [True, True, True, True]

    slow = [cell("case page", 4, 320, 90), cell("case list", 4, 290, 101, statuses={200: 2800, 503: 100}),
            cell("case page", 16, 310, 251, errors=2), cell("case list", 16, 305, 200)]
    verdict = targets(slow, bare)
    assert [target.met for target in verdict] == [False, False, False, False]
    assert verdict[0].detail == "case page 0.53, case list 0.48"
    assert verdict[3].detail == "2 socket errors, 100 5xx"


def test_a_target_at_a_connection_count_not_driven_is_not_measured():
    bare = {8: cell("bare page", 8, 600, 12)}
    verdict = targets([cell("case page", 8, 400, 20)], bare)
    assert [target.met for target in verdict] == [None, None, None, True]


def test_the_access_log_count_takes_the_protected_pages_by_status():
    log = "\n".join([
        '[2026-12-06 09:20:01 +0000] [41] [INFO] Booting worker with pid: 41',
        '127.0.0.1 "GET /login" 200 4410 0.011s',
        '127.0.0.1 "POST /login" 302 189 0.310s',
        '127.0.0.1 "GET /cases/" 200 35120 0.040s',  # /cases/?view=mine: the log drops the query
        '127.0.0.1 "GET /cases/0b7f0c3e-6a59-4a57-9d39-5a1f0f8f2a11" 200 51000 0.031s',
        '127.0.0.1 "GET /cases/0b7f0c3e-6a59-4a57-9d39-5a1f0f8f2a11" 503 900 5.000s',
        '127.0.0.1 "GET /subjects/5d0e8a0e-1c55-4a1b-8d2e-9f4b8a7c6d10" 200 22000 0.029s',
        '127.0.0.1 "POST /cases/0b7f0c3e-6a59-4a57-9d39-5a1f0f8f2a11/comments" 302 200 0.050s',
        '127.0.0.1 "GET /cases/0b7f0c3e-6a59-4a57-9d39-5a1f0f8f2a11/print" 200 9000 0.050s',
        '127.0.0.1 "GET /static/css/hoso.css" 200 9000 0.001s',
    ])
    assert protected_answers(log) == {200: 3, 503: 1}


@pytest.mark.parametrize(("setting", "frozen"), [(None, True), ("on", True), ("0", False), ("off", False)])
def test_the_gunicorn_hook_freezes_what_the_worker_loaded_unless_told_not_to(monkeypatch, setting, frozen):
    if setting is None:
        monkeypatch.delenv("HOSO_GC_FREEZE", raising=False)
    else:
        monkeypatch.setenv("HOSO_GC_FREEZE", setting)
    hook = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["post_worker_init"]
    gc.unfreeze()
    try:
        hook(worker=None)
        assert (gc.get_freeze_count() > 0) is frozen
    finally:
        gc.unfreeze()
