"""A real Hoso on loopback for the browser tests and the README screenshots: a fresh
instance folder (`flask --app app init`), the demo organisation (`flask --app app demo`),
then gunicorn with two workers, as the README's quick start runs it.

On SQLite the database lives in the instance folder. With TEST_DATABASE_URL (PostgreSQL)
the server gets a database of its own beside the suite's, `<name>_browser`, created empty
and dropped afterwards: the suite's fixtures empty every table between tests, which would
pull the demo out from under a browser halfway through a journey.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
DEMO_PASSWORD = "Demo-Hoso-Lam-Son-2026"  # printed by `flask --app app demo`; demo only
STARTUP_SECONDS = 60


class ServerError(RuntimeError):
    """The server (or one of its set-up commands) did not come up; carries its output."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveServer:
    base_url: str
    env: dict[str, str]
    log_path: Path
    _used_codes: dict[str, set[str]] = field(default_factory=dict)

    def flask(self, *args: str) -> subprocess.CompletedProcess:
        return _run_flask(self.env, *args)

    def totp_code(self, username: str) -> str:
        """A code the server has not accepted yet, from `flask --app app demo code USER`.
        The server takes each time step once, so a second sign-in within the same 30 s
        waits for the next step."""
        used = self._used_codes.setdefault(username, set())
        for _attempt in range(3):
            result = self.flask("demo", "code", username)
            code = result.stdout.strip()
            if code not in used:
                used.add(code)
                return code
            remaining = re.search(r"valid for about (\d+) s", result.stderr)
            time.sleep((int(remaining.group(1)) if remaining else 5) + 0.5)
        raise ServerError(f"no fresh TOTP code for {username} after waiting two steps")

    def log_tail(self, characters: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-characters:]
        except OSError:
            return ""


def _run_flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    if result.returncode != 0:
        raise ServerError(f"flask {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def server_environment(instance_path: Path, database_url: str | None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("HOSO_")}
    env.update({
        "HOSO_INSTANCE_PATH": str(instance_path),
        # Every browser signs in from 127.0.0.1: the per-address limit would throttle the suite.
        "HOSO_LOGIN_RATE_LIMIT": "10000 per minute",
        "HOSO_LOG_LEVEL": "WARNING",
    })
    if database_url:
        env["HOSO_DATABASE_URL"] = database_url
    return env


@contextmanager
def scratch_postgres_database(test_url: str, suffix: str = "_browser") -> Iterator[str]:
    """An empty PostgreSQL database next to the one TEST_DATABASE_URL names; dropped after."""
    url = make_url(test_url)
    name = f"{url.database}{suffix}"
    admin_conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)

    def admin(statement) -> None:
        with psycopg.connect(admin_conninfo, autocommit=True) as connection:
            connection.execute(statement)

    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    admin(drop)
    admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        admin(drop)


@contextmanager
def _database(test_url: str | None) -> Iterator[str | None]:
    if test_url and test_url.startswith("postgresql"):
        with scratch_postgres_database(test_url) as url:
            yield url
    else:
        yield None  # SQLite in the fresh instance folder


@contextmanager
def live_server(workdir: Path, test_database_url: str | None = None, workers: int = 2) -> Iterator[LiveServer]:
    workdir.mkdir(parents=True, exist_ok=True)
    with _database(test_database_url) as database_url:
        env = server_environment(workdir / "instance", database_url)
        _run_flask(env, "init")
        _run_flask(env, "demo")
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        log_path = workdir / "gunicorn.log"
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
                [sys.executable, "-m", "gunicorn", "app:create_app()", "-b", f"127.0.0.1:{port}",
                 "-w", str(workers)],
                cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
            )
            try:
                server = LiveServer(base_url, env, log_path)
                _wait_until_answering(base_url + "/login", process, server)
                yield server
            finally:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


def _wait_until_answering(url: str, process: subprocess.Popen, server: LiveServer) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                response.read()
            return
        except OSError:  # refused, reset or timed out while the workers boot
            if process.poll() is not None or time.monotonic() > deadline:
                raise ServerError(f"gunicorn did not answer {url}:\n{server.log_tail()}") from None
            time.sleep(0.2)
