"""gunicorn settings read by `gunicorn "app:create_app()"` from this folder.

Override anything on the command line (e.g. `--bind 0.0.0.0:8000 --workers 4`).
"""

import gc
import os
import sys
from pathlib import Path

import gunicorn.http.wsgi
from gunicorn.arbiter import Arbiter

from audit.embedded import EmbeddedSequencer
from protection.serving import key_file_problems, served_instance_path, sign_in_lines

# No version banner: gunicorn otherwise sends "Server: gunicorn" on every response.
gunicorn.http.wsgi.SERVER = "Hoso"

bind = "127.0.0.1:8000"
workers = 3
worker_class = "sync"
timeout = 60
graceful_timeout = 30
# Request line and header limits well under what an intranet browser needs.
limit_request_line = 8190
limit_request_fields = 100
accesslog = "-"
# Method and path only, never the query string: a search term can be a protected value.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss'
# HOSO_LOG_FORMAT=json in the service's environment (protection/errors.py): the app writes a
# JSON line per request itself (with the endpoint's name, the user and the duration), so
# gunicorn's text access line goes, and gunicorn's own lines (start, workers) are JSON too.
if os.environ.get("HOSO_LOG_FORMAT", "").strip() == "json":
    accesslog = None
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "protection.errors.JsonLineFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json",
                                 "stream": "ext://sys.stderr"}},
        "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False}},
    }
forwarded_allow_ips = "127.0.0.1"
# Recent gunicorns (27 here) open a control socket (~/.gunicorn/gunicorn.ctl) through which `gunicornc`
# can stop and scale workers. Hoso is run by systemd or the README's command, never through
# it: one management interface fewer, and two instances on one host do not share its path.
# (Older gunicorns ignore the name.)
control_socket_disable = True


# One audit sequencer beside the workers (PostgreSQL; see audit/embedded.py). A larger
# installation runs it as a service of its own and sets HOSO_AUDIT_SEQUENCER=external.
audit_sequencer = EmbeddedSequencer(Path(__file__).resolve().parent)


def on_starting(server):
    """Before anything binds or loads the app: a missing key, or a key file or folder open to
    others, stops the server with one line (the worker would otherwise die with a traceback).
    Then Prometheus multiprocess mode (protection/metrics.py): PROMETHEUS_MULTIPROC_DIR holds the
    workers' counters; what a previous run left there would be counted again, so it goes."""
    problems, _found = key_file_problems(served_instance_path(Path(__file__).resolve().parent) / "keys",
                                         os.environ)
    if problems:
        server.log.error("Hoso refuses to start: keys: %s", "; ".join(problems))
        sys.exit(1)
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        Path(folder).mkdir(mode=0o700, parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):
            stale.unlink()


def child_exit(server, worker):
    """A worker gone: its live gauges leave the sum (prometheus_client's multiprocess docs)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess  # only in multiprocess mode: it reads the folder

        multiprocess.mark_process_dead(worker.pid)


def when_ready(server):
    """Say where to sign in once the sockets are bound: the real address, whatever --bind said."""
    for line in sign_in_lines([str(listener) for listener in server.LISTENERS]):
        server.log.info(line)
    audit_sequencer.start(server.log)


def on_exit(server):
    audit_sequencer.stop()


def refuse_half_configured(worker):
    """Issue 25's bad input: a key open to others, the database unreachable or at another
    migration, the clock over 30 s off the database's, a configured Redis that does not
    answer. The worker says so in one line and exits with gunicorn's boot-error status, on
    which the master stops every worker and exits (3): nothing serves half-configured.
    Checked here, in the serving path, and not in create_app: `flask db upgrade` must load
    the app that it repairs."""
    # Imported here: the master never imports the app (see audit/embedded.py); a worker
    # has just loaded it.
    from protection.db import db
    from protection.doctor import startup_refusal

    if getattr(worker.wsgi, "extensions", {}).get("sqlalchemy") is not db:
        return  # another app served with this file (bench/bare_page.py's baseline): not Hoso
    refusal = startup_refusal(worker.wsgi)
    if refusal is not None:
        worker.log.error(refusal)
        sys.exit(Arbiter.WORKER_BOOT_ERROR)


def post_worker_init(worker):
    """Refuse to serve when half-configured (refuse_half_configured). Then, once the worker
    has loaded the app, move everything loaded so far (modules, templates, mappers, key rings: ~200,000 objects) out of the garbage collector's sight: they live as
    long as the worker. Each full collection otherwise walks them all, ~0.2 s that some
    request waits for; collecting cost ~0.8 ms a request against ~0.2 ms frozen (in-process,
    demo pages). HOSO_GC_FREEZE=0 (or off) leaves the collector as Python sets it, so
    `python -m bench.pages --gc-freeze compare` can measure both in one run."""
    if worker is not None:  # tests/test_serving.py calls this hook without a worker
        refuse_half_configured(worker)
    if os.environ.get("HOSO_GC_FREEZE", "on").strip().lower() in ("0", "off"):
        return
    gc.collect()  # what start-up left unreachable goes now, not frozen forever
    gc.freeze()
