"""`python -m bench.notify [--users 500] [--cases 100000] [--database-url URL]`: the daily
`notify send-due` of a province (issue 20: 500 users at 100k cases in under 30 s).

The instance is bench/cases.py's (cases sealed for real, spread over 20 units, one or two
officers each), with its officers made active and `--users` of them in all; every user has a
mail address, a third want every kind immediately, a third in the daily digest, a third in the
app only. An aiosmtpd relay on loopback, in a process of its own as a real relay is, takes
the mails (and counts them).

Measured through the command itself (the CLI runner): the first run of the day (reminders
raised, immediate mails and digests sent, each audited and committed per mail), and a second
run the same day (nothing to raise or send). Beside them, in the same run:
- the bare reminder queries: the same four set-based selects, rows fetched, nothing written;
- the bare mail: the same number of mails of the same size sent with raw smtplib over one
  connection to the same relay.

Setup leaves its rows in the database: give it a fresh one each run (the default is a new
SQLite file in a temporary folder).
"""

from __future__ import annotations

import argparse
import os
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import func, insert, select, update

from bench import cases as cases_bench
from bench.instance import build_hoso
from cases.notifications import reminders, service
from cases.notifications.models import MailAddress, Notification, NotificationPreference
from protection.db import db
from protection.i18n import local_today
from protection.identity import User

TARGET_SECONDS = 30.0
ROOT = Path(__file__).resolve().parent.parent


class Tally:
    """The relay's handler, in a process of its own (`python -m aiosmtpd -c bench.notify.Tally
    FILE`), as a real relay is: one line per mail accepted, its size, appended to FILE."""

    def __init__(self, path: str):
        self.path = path

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(*args)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with open(self.path, "a", encoding="ascii") as tally:
            tally.write(f"{len(envelope.content)}\n")
        return "250 OK"


class Relay:
    """aiosmtpd on a free loopback port in a child process; `sizes()` reads its tally."""

    def __init__(self, folder: Path):
        self.port = _free_port()
        self.tally = folder / "relay.tally"
        self.tally.touch()
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}", "-c", "bench.notify.Tally",
             str(self.tally)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise SystemExit("notify bench: the loopback relay did not start") from None
                time.sleep(0.1)

    def sizes(self) -> list[int]:
        return [int(line) for line in self.tally.read_text(encoding="ascii").split()]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


@dataclass
class Row:
    label: str
    seconds: float
    baseline: str
    baseline_seconds: float
    detail: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(app, *, users: int, cases: int, subjects: int) -> None:
    # bench/cases.py makes ten officers per unit; as many as the users asked for here.
    saved, cases_bench.OFFICERS_PER_UNIT = cases_bench.OFFICERS_PER_UNIT, max(1, users // cases_bench.UNITS)
    try:
        cases_bench.build(app, cases=cases, subjects=subjects)
    finally:
        cases_bench.OFFICERS_PER_UNIT = saved
    with app.app_context():
        db.session.execute(update(User).where(User.username.like("bench.%")).values(active=True))
        ids = list(db.session.scalars(select(User.id).order_by(User.username)))
        db.session.execute(insert(MailAddress.__table__),
                           [{"user_id": user_id, "address": f"u{number}@bench.test"}
                            for number, user_id in enumerate(ids)])
        choices = [{"user_id": user_id, "kind": kind, "delivery": ("immediate", "digest", "app")[number % 3]}
                   for number, user_id in enumerate(ids) for kind in service.KINDS]
        db.session.execute(insert(NotificationPreference.__table__), choices)
        db.session.commit()
        print(f"  {len(ids)} users, {cases:,} cases; mail: a third immediate, a third digest, a third app only",
              flush=True)


def _bare_reminders(app) -> tuple[float, int]:
    with app.app_context():
        today = local_today()
        start = time.perf_counter()
        rows = sum(len(finder(today)) for finder in reminders.REMINDERS)
        elapsed = time.perf_counter() - start
        db.session.rollback()
    return elapsed, rows


def _bare_mail(port: int, count: int, size: int) -> float:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "hoso@bench.test", "u0@bench.test", "[Hoso] bench"
    message.set_content("x" * max(size - 300, 10) + "\n")
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        for _ in range(count):
            smtp.send_message(message)
    return time.perf_counter() - start


def run(app, relay: Relay) -> list[Row]:
    runner = app.test_cli_runner()
    start = time.perf_counter()
    first = runner.invoke(args=["notify", "send-due"])
    first_seconds = time.perf_counter() - start
    if first.exit_code != 0:
        raise SystemExit(f"notify bench: send-due failed: {first.output.strip()[-300:]}")
    summary = first.output.strip().splitlines()[-1]
    sizes = relay.sizes()
    mails = len(sizes)
    start = time.perf_counter()
    second = runner.invoke(args=["notify", "send-due"])
    second_seconds = time.perf_counter() - start
    if second.exit_code != 0 or len(relay.sizes()) != mails:
        raise SystemExit("notify bench: the second run sent something or failed")
    with app.app_context():
        raised = db.session.scalar(select(func.count()).select_from(Notification))
        db.session.rollback()
    reminder_seconds, reminder_rows = _bare_reminders(app)
    size = sum(sizes) // max(mails, 1)
    mail_seconds = _bare_mail(relay.port, mails, size)
    return [
        Row("send-due, first run of the day", first_seconds, "bare reminder selects + raw smtplib",
            reminder_seconds + mail_seconds,
            f"{raised:,} notifications, {mails} mails (avg {size:,} B); {summary}"),
        Row("send-due, second run same day", second_seconds, "bare reminder selects", reminder_seconds,
            f"{reminder_rows:,} reminder rows found again, none new, 0 mails"),
    ]


def print_table(rows: list[Row]) -> None:
    print()
    print(f"{'notify send-due':<34} {'s':>7} {'baseline':<38} {'s':>7} {'×':>6}  target < {TARGET_SECONDS:.0f} s")
    for row in rows:
        verdict = "met" if row.seconds < TARGET_SECONDS else "MISSED"
        print(f"{row.label:<34} {row.seconds:>7.2f} {row.baseline:<38} {row.baseline_seconds:>7.2f} "
              f"{row.seconds / max(row.baseline_seconds, 1e-6):>6.1f}  {verdict}")
        print(f"  {row.detail}")


def bench(database_url: str | None, *, users: int, cases: int, subjects: int) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        relay = Relay(Path(tmp))
        settings = {"HOSO_SMTP_URL": f"smtp://127.0.0.1:{relay.port}", "HOSO_MAIL_FROM": "hoso@bench.test",
                    "HOSO_PUBLIC_URL": "https://hoso.bench.test", "HOSO_REMINDER_HOUR": "0"}
        saved = {name: os.environ.get(name) for name in settings}
        os.environ.update(settings)
        try:
            app = build_hoso(database_url, Path(tmp) / "instance")
            print(f"Hoso notify bench on {app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}", flush=True)
            prepare(app, users=users, cases=cases, subjects=subjects)
            rows = run(app, relay)
            with app.app_context():
                db.engine.dispose()
            return rows
        finally:
            relay.stop()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.notify")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp folder")
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--subjects", type=int, help="default: one per two cases")
    args = parser.parse_args()
    print_table(bench(args.database_url, users=args.users, cases=args.cases,
                      subjects=args.subjects or max(args.cases // 2, 10)))


if __name__ == "__main__":
    main()
