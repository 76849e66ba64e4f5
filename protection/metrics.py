"""Prometheus metrics at /metrics, behind a bearer token (HOSO_METRICS_TOKEN; issue 25).

What is measured, and what a label may hold. A label value is only ever an endpoint's name
(from the app's url_map, or "unmatched" when no route matched), a method from a fixed list,
a status class ("2xx".."5xx") or a word of a fixed vocabulary a gauge declares: never a URL
path, an id, a reference, a name or any other value a person typed or a record holds.

* ``hoso_http_requests_total{endpoint, method, status}`` and
  ``hoso_http_request_duration_seconds{endpoint, method, status}`` (a histogram): counted
  when Flask finishes each request (``request_finished``), scrapes included.
* Gauges computed when scraped, one or two statements each, from the readings the layers
  above register through ``hooks.METRIC_READINGS`` (the audit trail's sequencing lag and
  checkpoint age, mails waiting to be sent) and the kernel's own (accounts locked now).

Under gunicorn, each worker counts its own requests: with PROMETHEUS_MULTIPROC_DIR set in
the environment (before the workers import prometheus_client), the counters live in files
there and any worker's answer sums them all (prometheus_client's multiprocess mode;
gunicorn.conf.py empties the folder at start and marks exited workers dead). Without it
(the development server, tests) the counters are the process's own.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from flask import Blueprint, Flask, Response, abort, current_app, request, request_finished
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from . import hooks, lockout
from .api_tokens import forget_the_cookie_session
from .db import db
from .errors import request_duration
from .policy import public

log = logging.getLogger(__name__)

_EXTENSION = "hoso.metrics"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
# Page loads take tens of milliseconds; an export or a scan's pages, seconds.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class Reading:
    """One gauge value a layer reports at scrape time. `labels` hold words of a fixed
    vocabulary the reading's own code names (a state, a kind), never data."""

    name: str
    documentation: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)


def multiprocess_directory() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


@dataclass
class _AppMetrics:
    requests: Counter
    latency: Histogram
    registry: CollectorRegistry | None  # the process's own (no multiprocess folder)


def _status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status < 600 else "other"


def _count_request(sender: Flask, response: Response, **_extra) -> None:
    metrics: _AppMetrics = sender.extensions[_EXTENSION]
    endpoint = request.endpoint if request.endpoint in sender.view_functions else UNMATCHED
    labels = (endpoint, request.method if request.method in METHODS else "other", _status_class(response.status_code))
    metrics.requests.labels(*labels).inc()
    duration = request_duration()
    if duration is not None:
        metrics.latency.labels(*labels).observe(duration)


# --- the gauges read at scrape time ---------------------------------------------------------

def _kernel_readings() -> list[Reading]:
    return [Reading("hoso_accounts_locked", "Accounts locked now by failed sign-ins.", lockout.active_lockouts())]


class _ScrapeTimeCollector:
    """Asks every reading function when scraped. One that fails (the database away) reports
    nothing but hoso_metrics_source_up 0 for its source, so the scrape still answers."""

    def __init__(self, sources: list[tuple[str, Callable[[], Iterable[Reading]]]]):
        self.sources = sources

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families: dict[str, GaugeMetricFamily] = {}
        up = GaugeMetricFamily("hoso_metrics_source_up", "1 when the source's gauges were read at this scrape.",
                               labels=["source"])
        for source, read in self.sources:
            try:
                readings = list(read())
                db.session.commit()  # end the read transaction
            except Exception as error:  # noqa: BLE001 - one source's failure must not fail the scrape
                db.session.rollback()
                log.warning("metrics source %s failed: %s", source, type(error).__name__)
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            for reading in readings:
                family = families.get(reading.name)
                if family is None:
                    family = families[reading.name] = GaugeMetricFamily(
                        reading.name, reading.documentation, labels=sorted(reading.labels))
                family.add_metric([reading.labels[name] for name in sorted(reading.labels)], reading.value)
        yield up
        yield from families.values()


def _sources(app: Flask) -> list[tuple[str, Callable[[], Iterable[Reading]]]]:
    sources: list[tuple[str, Callable[[], Iterable[Reading]]]] = [("accounts", _kernel_readings)]
    for function in hooks.every(app, hooks.METRIC_READINGS):
        sources.append((function.__module__.removesuffix(".metrics"), function))
    return sources


def exposition(app: Flask) -> bytes:
    """The text Prometheus reads: the request counters (every worker's, in multiprocess mode)
    and the gauges read now."""
    metrics: _AppMetrics = app.extensions[_EXTENSION]
    if metrics.registry is not None:
        registry = metrics.registry
    else:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    scrape_time = _ScrapeTimeCollector(_sources(app))
    registry.register(scrape_time)
    try:
        return generate_latest(registry)
    finally:
        registry.unregister(scrape_time)


# --- the endpoint ---------------------------------------------------------------------------

metrics_bp = Blueprint("metrics", __name__)


def _token_matches(expected: str) -> bool:
    sent = request.headers.get("Authorization", "")
    # Compared in constant time, as bytes (compare_digest refuses non-ASCII text).
    return hmac.compare_digest(sent.encode("utf-8", "replace"), f"Bearer {expected}".encode())


@metrics_bp.get("/metrics")
@public  # its own check: the bearer token below, never a session
def scrape():
    # No session: a scraper's request neither reads nor sets the session cookie.
    forget_the_cookie_session()
    token = current_app.config["HOSO_METRICS_TOKEN"]
    if not token:
        abort(404)  # not offered: the same answer as any unknown address
    if not _token_matches(token):
        return Response("", status=401, headers={"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"})
    return Response(exposition(current_app), mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Cache-Control": "no-store"})


def configure_metrics(app: Flask) -> None:
    # No `_created` series beside each counter (as multiprocess mode never has them): half the
    # series for the same figures. prometheus_client's switch is the process's.
    disable_created_metrics()
    labels = ("endpoint", "method", "status")
    # In multiprocess mode the values live in the folder's files whatever the registry; the
    # metric objects are the app's own (registry None) so that several apps in one process
    # (tests) never share or clash.
    own = None if multiprocess_directory() else CollectorRegistry()
    requests = Counter("hoso_http_requests", "HTTP requests answered, by endpoint, method and status class.",
                       labels, registry=own)
    latency = Histogram("hoso_http_request_duration_seconds",
                        "Time from the request's start to its answer, by endpoint, method and status class.",
                        labels, buckets=LATENCY_BUCKETS, registry=own)
    app.extensions[_EXTENSION] = _AppMetrics(requests, latency, own)
    request_finished.connect(_count_request, app)
    app.register_blueprint(metrics_bp)
