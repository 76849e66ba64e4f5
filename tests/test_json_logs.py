"""HOSO_LOG_FORMAT=json (issue 25 §4): one JSON object per line for a log collector, a line per
request with its endpoint, status and duration, and never a name, an ID number or a title in
any of it; the text format stays as it was."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from app import create_app
from protection.settings import ConfigurationError
from tests.journeys import demo_journey, demo_user, normal, protected_values


@pytest.fixture
def json_logs(app_config):
    app_config.update(HOSO_LOG_FORMAT="json", HOSO_LOG_LEVEL="INFO")


def capture(app) -> io.StringIO:
    """Everything the app's log handler writes from now on (the one handler every Hoso
    logger shares), with its real formatter and filter."""
    handler = logging.getLogger("hoso").handlers[0]
    assert handler is app.logger.handlers[0] and handler is logging.getLogger("cases").handlers[0]
    buffer = io.StringIO()
    handler.setStream(buffer)
    return buffer


def test_a_demo_journey_logs_json_lines_with_no_protected_value(json_logs, app, runner):
    output = capture(app)
    seeded = runner.invoke(args=["demo"])
    assert seeded.exit_code == 0, seeded.output
    seen = demo_journey(app)
    protected = protected_values(app)
    assert len(protected) > 50

    lines = output.getvalue().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(record, dict) for record in records)
    for record in records:
        assert {"time", "level", "logger", "message", "request_id"} <= record.keys(), record
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", record["time"]), record

    access = [record for record in records if record["logger"] == "hoso.access"]
    assert len(access) >= len(seen)  # the journey's requests, and the sign-ins around them
    for record in access:
        assert record["method"] in ("GET", "POST") and isinstance(record["status"], int)
        assert isinstance(record["duration_ms"], float) and record["duration_ms"] >= 0
        assert re.fullmatch(r"[0-9A-F]{8}", record["request_id"]), record
        assert record["message"] == f"{record['method']} {record['endpoint'] or '-'} {record['status']}"
    statuses = {status for _path, status in seen}
    assert {200, 400, 403, 404} <= statuses, statuses
    assert {status for status in statuses} <= {record["status"] for record in access}
    # A line per request names its endpoint (None when no route matched) and its user.
    endpoints = {record["endpoint"] for record in access}
    assert {"auth.login", "cases.view", "subjects.view", "subjects.index", "archive.download_scan",
            "coordination.liaison_view", "subjects.export", "audit.trail", None} <= endpoints, endpoints
    users = {record["user_id"] for record in access}
    assert {str(demo_user(app, name).id) for name in ("canbo.an", "phoihop.ubkt", "lanhdao.minh",
                                                       "kiemtra.ha")} <= users
    # Other lines of a request carry its id too: the denials' lines, the 404's and the 400's.
    requests = {record["request_id"] for record in access}
    others = [record for record in records if record["logger"] != "hoso.access" and record["request_id"] != "-"]
    assert others and all(record["request_id"] in requests for record in others)

    # Nothing of the demo's protected values, in the raw lines or decoded (\u escapes undone),
    # and no query string: the searches were by name and by ID number.
    text = normal(output.getvalue() + "\n".join(json.dumps(record, ensure_ascii=False) for record in records))
    leaked = sorted(value for value in protected if normal(value) in text)
    assert not leaked, f"{len(leaked)} protected value(s) in the JSON log, e.g. {leaked[0][:3]}..."
    assert "q=" not in text and "?" not in "".join(record["message"] for record in access)


@pytest.fixture
def info_logs(app_config):
    app_config["HOSO_LOG_LEVEL"] = "INFO"


def test_the_text_format_is_unchanged_and_writes_no_line_per_request(info_logs, app, client):
    output = capture(app)
    assert client.get("/no-such-page").status_code == 404
    lines = output.getvalue().splitlines()
    # gunicorn writes the line per request in this format (gunicorn.conf.py's access log).
    assert len(lines) == 1, lines
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO \[[0-9A-F]{8}\] hoso: HTTP 404 on GET "
                        r"/no-such-page", lines[0]), lines[0]


def test_an_unknown_log_format_stops_start_up_with_one_line(app_config, monkeypatch):
    monkeypatch.setenv("HOSO_LOG_FORMAT", "xml")
    with pytest.raises(ConfigurationError) as caught:
        create_app(app_config)
    message = str(caught.value)
    assert "\n" not in message and "HOSO_LOG_FORMAT" in message and "text, json" in message
