"""Prometheus metrics at /metrics (issue 25 §3): behind a bearer token, no session, nothing
audited; requests counted by endpoint name; labels only from the url_map and fixed
vocabularies, never a name, an id or a reference; gunicorn's workers summed in multiprocess
mode."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from cases.notifications.metrics import WATCHED_STATES
from protection.metrics import METHODS, UNMATCHED
from protection.settings import ConfigurationError
from tests.conftest import audit_entries, sequenced_all
from tests.journeys import demo_journey, normal, protected_values
from tests.pages import post_form

TOKEN = "metrics-token-for-tests-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STATUS_CLASSES = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"}


@pytest.fixture
def with_token(app_config):
    app_config["HOSO_METRICS_TOKEN"] = TOKEN


def scrape(client) -> dict[str, list]:
    """name -> samples of the exposition /metrics answers."""
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/plain" and "Set-Cookie" not in response.headers
    return {family.name: family.samples for family in text_string_to_metric_families(response.get_data(as_text=True))}


def requests_of(families, endpoint: str, method: str = "GET", status: str = "2xx") -> float:
    return sum(sample.value for sample in families.get("hoso_http_requests", ())
               if sample.name == "hoso_http_requests_total"
               and sample.labels == {"endpoint": endpoint, "method": method, "status": status})


def test_metrics_need_the_token_and_read_no_session_and_record_nothing(with_token, app, client, login_as):
    login_as("officer")  # a signed-in browser: its cookie counts for nothing here
    before = len(audit_entries(app))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {TOKEN}x"},
                    {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN},
                    {"Authorization": f"Bearer {TOKEN[:-1]}ệ"}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"] == "Bearer" and response.get_data() == b""
        assert "Set-Cookie" not in response.headers
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    assert b"hoso_http_requests_total" in response.get_data()
    assert client.post("/metrics", headers=AUTH).status_code == 405
    assert len(audit_entries(app)) == before  # neither the refusals nor the scrape are audited
    assert client.get("/").status_code == 200  # the browser's session went on untouched


def test_without_a_token_setting_metrics_are_not_offered(client):
    for headers in ({}, {"Authorization": "Bearer "}, AUTH):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 404 and "Set-Cookie" not in response.headers


@pytest.mark.parametrize("value", ["short", "x" * 31, "a token with spaces in it, long enough, surely"])
def test_a_bad_token_setting_stops_start_up_with_one_line_that_does_not_show_it(app_config, value):
    with pytest.raises(ConfigurationError) as caught:
        create_app({**app_config, "HOSO_METRICS_TOKEN": value})
    message = str(caught.value)
    assert "\n" not in message and "HOSO_METRICS_TOKEN" in message and value not in message


def test_a_request_counts_for_its_endpoint_and_locked_accounts_are_gauged(with_token, app, client, make_user):
    first = scrape(client)
    for _ in range(3):
        assert client.get("/login").status_code == 200
    assert client.get("/no-such-page").status_code == 404
    second = scrape(client)
    assert requests_of(second, "auth.login") - requests_of(first, "auth.login") == 3
    assert requests_of(second, UNMATCHED, status="4xx") - requests_of(first, UNMATCHED, status="4xx") == 1
    assert requests_of(second, "metrics.scrape") - requests_of(first, "metrics.scrape") == 1
    durations = {sample.labels["endpoint"]: sample.value for sample in second["hoso_http_request_duration_seconds"]
                 if sample.name.endswith("_count")}
    assert durations["auth.login"] >= 3

    assert [sample.value for sample in second["hoso_accounts_locked"]] == [0]
    person = make_user("officer")
    for _ in range(app.config["HOSO_LOCKOUT_THRESHOLD"]):
        post_form(client, "/login", {"username": person.username, "password": "wrong password"})
    assert [sample.value for sample in scrape(client)["hoso_accounts_locked"]] == [1]


def test_after_a_demo_journey_every_label_is_an_endpoint_or_a_fixed_word(with_token, app, runner, client):
    seeded = runner.invoke(args=["demo"])
    assert seeded.exit_code == 0, seeded.output
    demo_journey(app)
    response = client.get("/metrics", headers=AUTH)
    exposition = response.get_data(as_text=True)
    families = {family.name: family for family in text_string_to_metric_families(exposition)}

    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} | {UNMATCHED}
    vocabulary = {"endpoint": endpoints, "method": METHODS | {"other"}, "status": STATUS_CLASSES,
                  "state": set(WATCHED_STATES), "source": {"accounts", "audit", "cases.notifications"}}
    seen_endpoints = set()
    for family in families.values():
        assert family.name.startswith("hoso_"), family.name
        for sample in family.samples:
            for label, value in sample.labels.items():
                if label == "le":
                    float(value)  # a histogram bucket's bound: a number
                    continue
                assert value in vocabulary[label], (sample.name, label)
            seen_endpoints.add(sample.labels.get("endpoint"))
    assert {"cases.view", "subjects.view", "subjects.index", "archive.download_scan", "audit.trail",
            "coordination.liaison_view", UNMATCHED} <= seen_endpoints
    assert all(sample.value == 1 for sample in families["hoso_metrics_source_up"].samples)
    assert {"hoso_audit_entries_pending", "hoso_audit_sequencing_lag_seconds", "hoso_notification_mails",
            "hoso_notification_mail_oldest_waiting_seconds", "hoso_accounts_locked"} <= families.keys()

    protected = protected_values(app, with_identifiers=True)
    assert len(protected) > 100
    text = normal(exposition)
    leaked = sorted(value for value in protected if normal(value) in text)
    assert not leaked, f"{len(leaked)} protected value(s) or identifier(s) in the metrics"


def test_gunicorn_workers_are_summed_in_multiprocess_mode(database_url, tmp_path):
    # Imported here: tests/servers.py takes the test keys from conftest.
    from tests.servers import start_gunicorn

    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "counter_999999.db").write_bytes(b"left by an earlier run")  # gunicorn.conf.py clears it
    log = tmp_path / "gunicorn.log"
    environment = {"PROMETHEUS_MULTIPROC_DIR": str(folder), "HOSO_METRICS_TOKEN": TOKEN, "HOSO_LOG_FORMAT": "json",
                   "HOSO_LOG_LEVEL": "INFO"}
    with open(log, "wb") as log_file:
        try:
            process, base = start_gunicorn(database_url, tmp_path / "instance", log_file, environment=environment)
        except RuntimeError:
            raise RuntimeError(log.read_text()) from None
    try:
        def fetch(path: str, headers: dict | None = None) -> tuple[int, str]:
            request = urllib.request.Request(base + path, headers=headers or {})  # noqa: S310 - loopback
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
                    return response.status, response.read().decode()
            except urllib.error.HTTPError as error:
                return error.code, ""

        def unmatched() -> float:
            # Not /login's count: start_gunicorn's readiness probes ask for /login, and a probe
            # that gave up waiting for a booting worker may still be answered later.
            status, body = fetch("/metrics", AUTH)
            assert status == 200
            families = {family.name: family.samples for family in text_string_to_metric_families(body)}
            return requests_of(families, UNMATCHED, status="4xx")

        assert fetch("/metrics")[0] == 401
        assert unmatched() == 0
        # One worker is kept busy with a request whose headers are not finished (sync workers
        # take one connection at a time, in the order they came), so the next requests are
        # other workers' to answer: the counts of at least two processes must add up.
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as held:
            held.sendall(b"GET /no-such-page HTTP/1.1\r\nHost: hoso\r\n")
            for _ in range(6):
                assert fetch("/no-such-page")[0] == 404
            held.sendall(b"\r\n")
            answer = held.makefile("rb").readline()
        assert answer.startswith(b"HTTP/1.1 404"), answer
        assert unmatched() == 7  # whichever worker answered each
        files = {path.name for path in folder.iterdir()}
        assert "counter_999999.db" not in files
        assert len({name for name in files if name.startswith("counter_")}) >= 2, files  # several workers counted
    finally:
        process.terminate()
        process.wait(timeout=20)
    # HOSO_LOG_FORMAT=json: gunicorn's own lines and the app's, one JSON object each.
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    not_json = [line for line in lines if not line.startswith("{")]
    assert not not_json, not_json[:5]
    records = [json.loads(line) for line in lines]
    assert any(record.get("logger") == "hoso.access" and record.get("status") == 404 for record in records)
    assert any(record.get("logger") == "gunicorn.error" for record in records)


def test_the_audit_gauges_follow_the_sequencer(with_token, app, client, login_as):
    login_as("officer")  # its sign-in records entries
    families = scrape(client)
    pending = families["hoso_audit_entries_pending"][0].value
    lag = families["hoso_audit_sequencing_lag_seconds"][0].value
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        assert pending >= 1 and lag >= 0  # waiting for the sequencer, which no test server runs
    else:
        assert (pending, lag) == (0, 0)  # SQLite links each entry as it is recorded
    sequenced_all(app)
    families = scrape(client)
    assert families["hoso_audit_entries_pending"][0].value == 0
    assert families["hoso_audit_sequencing_lag_seconds"][0].value == 0
