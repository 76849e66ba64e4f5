"""Several gunicorn workers writing at once never fail ("database is locked" on SQLite,
a forked chain or a 500 anywhere). A real server on loopback, a bounded burst, then stop."""

from __future__ import annotations

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from protection.db import db
from protection.sessions import AuthSession
from tests.conftest import TEST_INDEX_KEY, TEST_MASTER_KEY

ROOT = Path(__file__).resolve().parent.parent
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


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
    deadline = time.monotonic() + 30
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


@pytest.fixture
def gunicorn_server(database_url, tmp_path):
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as log_file:
        try:
            process, base = start_gunicorn(database_url, tmp_path / "instance", log_file)
        except RuntimeError:
            raise RuntimeError(log.read_text()) from None
        try:
            yield base, log
        finally:
            process.terminate()
            process.wait(timeout=20)


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
        token = CSRF.search(page).group(1)
        status, _page = self.request("/login", {"csrf_token": token, "username": username,
                                                "password": password})
        return status


def test_concurrent_sign_ins_and_page_views_on_several_workers(gunicorn_server, make_user, app):
    base, log = gunicorn_server
    users = [make_user("officer") for _ in range(4)]

    def work(index: int) -> list[int]:
        user = users[index % len(users)]
        statuses = []
        browser = Browser(base)
        # A wrong password (a lockout row is written), then the right one (a session is written).
        statuses.append(Browser(base).sign_in(user.username, "not-the-password-at-all"))
        statuses.append(browser.sign_in(user.username, user.password))
        for path in ("/", "/account/", "/account/sessions"):
            statuses.append(browser.request(path)[0])
        return statuses

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [status for statuses in pool.map(work, range(16)) for status in statuses]

    server_log = log.read_text()
    assert all(status < 500 for status in results), (results, server_log[-3000:])
    assert "database is locked" not in server_log
    with app.app_context():
        opened = db.session.scalar(select(func.count()).select_from(AuthSession))
    assert opened == 16, "every acknowledged sign-in left its session row"
