"""A real gunicorn on loopback for the tests that need several worker processes
(tests/test_concurrency_gunicorn.py, test_audit_concurrency.py, test_crash_safety.py), and a
small cookie-keeping browser to talk to it. The `gunicorn_server` fixture is in conftest.py."""

from __future__ import annotations

import http.cookiejar
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tests.conftest import TEST_INDEX_KEY, TEST_MASTER_KEY
from tests.pages import CSRF_PATTERN

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_environment(database_url: str, instance_path: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("HOSO_")},
        "HOSO_SECRET_KEY": "concurrency-test-secret",
        "HOSO_DATABASE_URL": database_url,
        "HOSO_INSTANCE_PATH": str(instance_path),
        "HOSO_LOGIN_RATE_LIMIT": "100000 per minute",
        "HOSO_LOG_LEVEL": "WARNING",
        "HOSO_MASTER_KEY": TEST_MASTER_KEY,
        "HOSO_INDEX_KEY": TEST_INDEX_KEY,
    }


def start_gunicorn(database_url: str, instance_path: Path, log_file, workers: int = 3) -> tuple[subprocess.Popen, str]:
    """gunicorn on a free loopback port, answering /login when this returns. The master
    leads a process group of its own, so a test can kill it and its workers at once."""
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
        [sys.executable, "-m", "gunicorn", "app:create_app()", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--access-logfile", "-"],
        cwd=ROOT, env=gunicorn_environment(database_url, instance_path), stdout=log_file,
        stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    # Generous: three workers importing the app on a loaded 2-core machine took over 30 s once.
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(base + "/login", timeout=2).read()  # noqa: S310 - loopback
            return process, base
        except OSError:  # refused, reset or timed out while workers boot
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                process.wait(timeout=20)
                raise RuntimeError(f"gunicorn did not come up; see {log_file.name}") from None
            time.sleep(0.2)


class Browser:
    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
        )

    def request(self, path: str, data: dict | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(self.base + path, data=body, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def sign_in(self, username: str, password: str) -> int:
        _status, page = self.request("/login")
        token = CSRF_PATTERN.search(page).group(1)
        status, _page = self.request("/login", {"csrf_token": token, "username": username,
                                                "password": password})
        return status
