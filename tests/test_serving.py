"""The server says where to sign in once it listens, with the address it really bound."""

from __future__ import annotations

import gc
import os
import re
import runpy
import subprocess
import sys
import time
from pathlib import Path

from protection.serving import sign_in_lines
from tests.conftest import TEST_INDEX_KEY, TEST_MASTER_KEY

ROOT = Path(__file__).resolve().parent.parent


def test_gunicorn_names_the_port_it_bound(database_url, tmp_path):
    """Port 0 lets the kernel choose: only a line written after binding can know it."""
    log_path = tmp_path / "gunicorn.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HOSO_")},
        "HOSO_SECRET_KEY": "serving-test-secret",
        "HOSO_DATABASE_URL": database_url,
        "HOSO_INSTANCE_PATH": str(tmp_path / "instance"),
        "HOSO_MASTER_KEY": TEST_MASTER_KEY,
        "HOSO_INDEX_KEY": TEST_INDEX_KEY,
    }
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
            [sys.executable, "-m", "gunicorn", "app:create_app()", "--bind", "127.0.0.1:0",
             "--workers", "1"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            match = None
            while match is None and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.2)
                match = re.search(r"sign in at http://127\.0\.0\.1:(\d+)/login", log_path.read_text())
        finally:
            process.terminate()
            process.wait(timeout=30)
    assert match is not None, log_path.read_text()
    port = int(match.group(1))
    assert port != 0
    assert f"Listening at: http://127.0.0.1:{port}" in log_path.read_text()
    # No management socket beside the app (gunicorn.conf.py): gunicorn says when it opens one.
    assert "control socket" not in log_path.read_text().lower()


def test_wildcard_and_unix_listeners_are_explained():
    wildcard, unix = sign_in_lines(["http://0.0.0.0:8080", "unix:/run/hoso.sock"])
    assert "every address" in wildcard and "http://127.0.0.1:8080/login" in wildcard
    assert "unix:/run/hoso.sock" in unix and "proxy" in unix


def test_demo_no_longer_promises_port_8000(runner):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "Sign in at http://127.0.0.1:8000" not in result.output
    assert "prints where to sign in" in result.output


def test_workers_freeze_what_they_loaded():
    """gunicorn.conf.py: after a worker loads the app, what it loaded is frozen out of the
    garbage collector's full collections (they would walk it all, again and again)."""
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert gc.get_freeze_count() == 0
    try:
        settings["post_worker_init"](None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
