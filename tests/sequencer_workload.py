"""Helpers for tests/test_audit_sequencer.py: the appending worker processes (each an OS
process with its own app, as gunicorn workers are), the real sequencer CLI as a subprocess,
and a bounded wait."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from app import create_app
from audit.trail import record
from protection import accounts
from protection.accounts import NewUser
from protection.db import db

ROOT = Path(__file__).resolve().parent.parent


def wait_until(condition: Callable[[], object], what: str, timeout: float = 120, every: float = 0.1):
    """Poll `condition` until it returns something true (returned), or fail naming `what`.
    Generous bounds: an entry waits for every transaction older than its own on the whole
    PostgreSQL server (pg_snapshot_xmin), other databases' included."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting after {timeout} s: {what}")
        time.sleep(every)


# --- the appending processes ---------------------------------------------------------------

def append_actions(config: dict, worker: int, actions: int, start, resume, results) -> None:
    """One OS process with its own app, engine and connections: `actions` audited actions,
    each committed in a transaction of its own. Every tenth is a real audited change (an
    account created: its row and its entry commit together), the others a bare record().
    Before every 25th, an account created and rolled back, which must leave no entry. With
    `resume` (an Event), it stops half-way until the test sets it."""
    try:
        app = create_app(config)
        with app.app_context():
            start.wait(timeout=120)  # BrokenBarrierError if the others do not come
            for number in range(actions):
                if resume is not None and number == actions // 2 and not resume.wait(timeout=180):
                    raise RuntimeError("the test did not resume the workers")
                if number % 25 == 0:
                    accounts.create_user(NewUser(f"gone.{worker}.{number}", "Người Bỏ Dở", "BTCTU", "officer"),
                                         password=None, by=None, must_change_password=True)
                    db.session.rollback()
                if number % 10 == 0:
                    accounts.create_user(NewUser(f"seq.{worker}.{number}", "Người Thử Song Song", "BTCTU",
                                                 "officer"), password=None, by=None, must_change_password=True)
                else:
                    record("test.sequencer", target_type="worker", target_id=worker, number=number)
                db.session.commit()
            db.session.remove()
            db.engine.dispose()
    except Exception as error:  # reported to the test, which fails with it
        results.put((worker, f"{type(error).__name__}: {error}"[:500]))
        return
    results.put((worker, actions))


# --- the sequencer CLI ----------------------------------------------------------------------

def cli_env(app_config: dict, **extra: str) -> dict[str, str]:
    """The test app's settings as the environment of a `flask --app app` process."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HOSO_")}
    env.update({key: str(value) for key, value in app_config.items()
                if key.startswith("HOSO_") and key != "HOSO_ARGON2_PROFILE"})  # that one is for TESTING only
    env["HOSO_SECRET_KEY"] = app_config["SECRET_KEY"]
    env.update(extra)
    return env


def run_cli(app_config: dict, *args: str, timeout: float = 60, **extra: str) -> subprocess.CompletedProcess:
    """`flask --app app ARGS` to its end."""
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args],  # noqa: S603 - our own CLI
                          cwd=ROOT, env=cli_env(app_config, **extra), capture_output=True, text=True,
                          timeout=timeout, check=False)


class SequencerProcess:
    """`flask --app app audit sequence` running in the background; its output in files."""

    def __init__(self, app_config: dict, folder: Path, name: str, **extra: str):
        self.out_path = folder / f"{name}.out"
        self.err_path = folder / f"{name}.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
                [sys.executable, "-m", "flask", "--app", "app", "audit", "sequence"],
                cwd=ROOT, env=cli_env(app_config, **extra), stdout=out, stderr=err)

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.out_path.read_text() + self.err_path.read_text()

    def wait_for_output(self, text: str, timeout: float = 60) -> None:
        wait_until(lambda: text in self.output() or self.process.poll() is not None,
                   f"{text!r} from the sequencer", timeout)
        assert text in self.output(), self.output()

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM: it ends after the pass in progress. Returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
