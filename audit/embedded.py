"""The audit sequencer started by gunicorn beside its workers (gunicorn.conf.py), so a
single-server installation cannot forget to run it. Standard library only: the gunicorn
master imports this, and never the app.

The child is `flask --app app audit sequence --embedded`; it exits at once, saying why (in
gunicorn's log), on SQLite (entries are linked as they are recorded) and where
HOSO_AUDIT_SEQUENCER=external says a service of its own runs it. It is started again if it
stops on an error, and stopped with the master. Two app servers each starting one do no
harm: the advisory lock lets one work and the other wait.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

RESTART_SECONDS = 5
# The first words of the child's line when it is not needed here (audit/cli.py prints it).
NOT_NEEDED = "not needed: "
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if the gunicorn master dies without stopping it."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class EmbeddedSequencer:
    def __init__(self, project_dir: Path):
        self.project_dir = project_dir
        self.process: subprocess.Popen | None = None
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self, log) -> None:
        self.log = log
        self.thread = threading.Thread(target=self._supervise, name="hoso-audit-sequencer", daemon=True)
        self.thread.start()

    def _spawn(self) -> subprocess.Popen:
        command = [sys.executable, "-m", "flask", "--app", "app", "audit", "sequence", "--embedded"]
        return subprocess.Popen(command, cwd=self.project_dir, env=os.environ.copy(),  # noqa: S603 - fixed argv
                                stdout=subprocess.PIPE, text=True,
                                preexec_fn=_die_with_parent)  # noqa: PLW1509 - only a prctl call

    def _supervise(self) -> None:
        while not self.stopping.is_set():
            self.process = self._spawn()
            self.log.info("audit sequencer started (pid %s)", self.process.pid)
            # Its end is read from its output, not from its exit status: gunicorn's master reaps
            # every child of its own (waitpid(-1)) and may collect this one's status first.
            not_needed = False
            for line in self.process.stdout:
                if line.startswith(NOT_NEEDED):
                    not_needed = True
                    self.log.info("audit sequencer not needed here: %s", line[len(NOT_NEEDED):].strip())
                elif line.strip():
                    self.log.info("audit sequencer: %s", line.strip())
            self.process.stdout.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
            if self.stopping.is_set() or not_needed:
                return
            self.log.error("audit sequencer stopped; starting it again in %s s", RESTART_SECONDS)
            self.stopping.wait(RESTART_SECONDS)

    def stop(self) -> None:
        self.stopping.set()
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()  # it finishes the pass in progress
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
