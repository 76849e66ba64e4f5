"""`flask --app app demo`: a realistic, fictional provincial organisation to try every role.

Idempotent: what exists is left alone. Accounts it creates are marked `demo_account`,
and only those get a code from `flask --app app demo code USERNAME`.
"""

from __future__ import annotations

import click
import pyotp
from flask import Flask, current_app
from flask.cli import with_appcontext

from . import accounts, hooks, totp
from .accounts import NewUser
from .clock import utcnow
from .db import db
from .schema import SchemaNotReady, ensure_schema_current

DEMO_PASSWORD = "Demo-Hoso-Lam-Son-2026"  # noqa: S105 - printed on purpose; demo only

DEMO_UNITS = (
    # code, name, kind, parent
    ("BTCTU", "Ban Tổ chức Tỉnh ủy", "organisation", None),
    ("UBKTTU", "Ủy ban Kiểm tra Tỉnh ủy", "inspection", None),
    ("BTGTU", "Ban Tuyên giáo Tỉnh ủy", "propaganda", None),
    ("BNCTU", "Ban Nội chính Tỉnh ủy", "internal_affairs", None),
    ("DUCA", "Đảng ủy Công an tỉnh", "police", None),
    ("DUQS", "Đảng ủy Quân sự tỉnh", "military", None),
    ("DUBP", "Đảng ủy Bộ đội Biên phòng tỉnh", "border_guard", None),
    ("TTT", "Thanh tra tỉnh", "inspectorate", None),
    ("HU-SONHA", "Huyện ủy Sơn Hà", "district", "BTCTU"),
    ("TU-BINHMINH", "Thị ủy Bình Minh", "district", "BTCTU"),
)

DEMO_USERS = (
    # username, display name, unit, role, clearance
    ("canbo.an", "Nguyễn Văn An", "BTCTU", "officer", "secret"),
    ("canbo.binh", "Trần Thị Bình", "BTCTU", "officer", "confidential"),
    ("canbo.son", "Lê Văn Sơn", "HU-SONHA", "officer", "confidential"),
    ("canbo.phuong", "Lê Thị Phương", "TU-BINHMINH", "officer", "confidential"),
    ("lanhdao.minh", "Phạm Quang Minh", "BTCTU", "supervisor", "top_secret"),
    # A deputy head: a denouncer's identity is released only by two supervisors (issue 23).
    ("lanhdao.tuan", "Vũ Anh Tuấn", "BTCTU", "supervisor", "secret"),
    ("lanhdao.lan", "Hoàng Thị Lan", "HU-SONHA", "supervisor", "secret"),
    ("phoihop.ubkt", "Võ Văn Hùng", "UBKTTU", "liaison", "secret"),
    ("phoihop.congan", "Đặng Thị Hoa", "DUCA", "liaison", "secret"),
    ("phoihop.quansu", "Ngô Đức Thắng", "DUQS", "liaison", "secret"),
    ("phoihop.bienphong", "Lý Văn Hải", "DUBP", "liaison", "secret"),
    ("phoihop.thanhtra", "Mai Thị Thu", "TTT", "liaison", "confidential"),
    ("phoihop.tuyengiao", "Trịnh Văn Lâm", "BTGTU", "liaison", "confidential"),
    ("phoihop.noichinh", "Dương Thị Nga", "BNCTU", "liaison", "secret"),
    ("kiemtra.ha", "Bùi Thu Hà", "BTCTU", "auditor", "secret"),
    ("quantri", "Đỗ Minh Quân", "BTCTU", "admin", "unclassified"),
)


def _ready() -> None:
    try:
        ensure_schema_current()
    except SchemaNotReady as error:
        raise click.ClickException(str(error)) from None


def seed_demo() -> list[tuple[str, str, str | None, bool]]:
    """Create what is missing; returns (username, role, totp secret, created) per demo user."""
    for code, name, kind, parent in DEMO_UNITS:
        if accounts.find_unit(code) is None:
            accounts.create_unit(code=code, name=name, kind=kind, parent_code=parent, by=None)
    rows = []
    with click.progressbar(DEMO_USERS, label="Demo accounts") as bar:
        for username, display_name, unit, role, clearance in bar:
            user = accounts.find_user(username)
            created = False
            if user is None:
                user, _password = accounts.create_user(
                    NewUser(username, display_name, unit, role, clearance),
                    password=DEMO_PASSWORD, by=None, must_change_password=False,
                )
                user.demo_account = True
                if user.role.requires_second_factor:
                    user.totp_secret = totp.new_secret()
                    user.totp_enabled_at = utcnow()
                created = True
            if not user.demo_account:
                rows.append((username, None, None, False))
                continue
            rows.append((username, user.role.value, user.totp_secret, created))
    db.session.flush()
    return rows


def run_domain_seeders() -> list[str]:
    """Domain packages register their own demo data (the kernel knows nothing of cases)."""
    lines: list[str] = []
    for seeder in hooks.every(current_app, hooks.DEMO_SEEDERS):
        lines.extend(seeder())
    return lines


@click.group("demo", invoke_without_command=True)
@click.pass_context
@with_appcontext
def demo_cli(ctx: click.Context) -> None:
    """Load the demo organisation (idempotent) and print how to sign in."""
    if ctx.invoked_subcommand is not None:
        return
    _ready()
    rows = seed_demo()
    domain_lines = run_domain_seeders()
    db.session.commit()
    click.echo("")
    click.echo("Hoso demo — fictional organisation, units and people.")
    click.echo(f"Password for every demo account: {DEMO_PASSWORD}")
    click.echo(f"{'USERNAME':<20} {'ROLE':<11} TWO-FACTOR (TOTP secret for an authenticator app)")
    for username, role, secret, _created in rows:
        if role is None:
            click.echo(f"{username:<20} (exists and is not a demo account: left alone)")
            continue
        factor = secret if secret else "-"
        click.echo(f"{username:<20} {role:<11} {factor}")
    for line in domain_lines:
        click.echo(line)
    click.echo("")
    click.echo("No phone? `flask --app app demo code USERNAME` prints the current code.")
    click.echo("Start the server (`gunicorn \"app:create_app()\"`, as the README's quick start does): "
               "once it listens it prints where to sign in (http://127.0.0.1:8000/login unless told "
               "another --bind).")


@demo_cli.command("code")
@click.argument("username")
def demo_code(username: str) -> None:
    """Print the current two-factor code of a demo account."""
    _ready()
    user = accounts.find_user(username)
    if user is None or not user.demo_account:
        raise click.ClickException(f"{username!r} is not an account created by `flask --app app demo`")
    if not user.second_factor_enabled:
        raise click.ClickException(f"{user.username!r} has no two-factor enrolled")
    totp_obj = pyotp.TOTP(user.totp_secret)
    remaining = totp_obj.interval - int(utcnow().timestamp()) % totp_obj.interval
    click.echo(totp_obj.now())
    click.echo(f"(valid for about {remaining} s; each code works once)", err=True)


def configure_demo(app: Flask) -> None:
    app.cli.add_command(demo_cli)
