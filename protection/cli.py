"""`flask --app app init` and `flask --app app users ...`.

Each command is one unit of work: it commits at the end or, on any refusal, rolls back
and exits non-zero with one line.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select
from sqlalchemy.engine import make_url

from . import accounts, signals
from .accounts import AccountError, NewUser
from .backup.cli import backup_cli
from .db import db
from .identity import CLEARANCE_ORDER, Role, UnitKind, User
from .keys_cli import keys_cli, provision_keys
from .schema import SchemaNotReady, ensure_schema_current, upgrade_schema

CONFIG_TEMPLATE = '''\
# Written by `flask --app app init`. Keep this file secret and out of version control.
# Any HOSO_* environment variable overrides the value here.
SECRET_KEY = {secret_key!r}
'''


def _write_secret_file(path: Path, content: str) -> None:
    """Create with mode 0600, atomically refusing to replace an existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)


def describe_database(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@click.command("init")
@click.option("--exist-ok", is_flag=True,
              help="If already initialised, keep the secrets and only bring the schema up to date.")
@with_appcontext
def init_command(exist_ok: bool) -> None:
    """Create instance/config.py with new secrets, instance/keys/ (master.key, index.key), and the schema."""
    instance = Path(current_app.instance_path)
    # Owner-only, like everything in it (config, keys, the SQLite files): a checkout's
    # instance/ (it holds a README) is 0755 until now.
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(instance, 0o700)
    config_path = instance / "config.py"
    if config_path.exists():
        if not exist_ok:
            raise click.ClickException(
                f"{config_path} already exists: refusing to overwrite its secrets "
                "(use --exist-ok to keep them and only update the schema)"
            )
        click.echo(f"Instance already initialised ({config_path}); keeping its secrets.")
    else:
        _write_secret_file(config_path, CONFIG_TEMPLATE.format(secret_key=secrets.token_urlsafe(48)))
        click.echo(f"Wrote {config_path} (mode 0600).")
    keys = instance / "keys"
    keys.mkdir(mode=0o700, exist_ok=True)
    os.chmod(keys, 0o700)
    try:
        upgrade_schema()
    except Exception as error:  # one line, never a traceback
        raise click.ClickException(f"could not create the schema: {type(error).__name__}") from None
    for line in provision_keys(current_app):
        click.echo(line)
    # The keys upper layers own (the purge ledger's), made now rather than at first use so
    # that a copy of instance/keys taken after `init` already holds them.
    for _receiver, line in signals.instance_initialised.send(current_app._get_current_object(), keys_dir=keys):
        if line:
            click.echo(line)
    click.echo(f"Database ready: {describe_database(current_app.config['SQLALCHEMY_DATABASE_URI'])}")


users_cli = AppGroup("users", help="Create, list and disable user accounts.")


def _ready() -> None:
    try:
        ensure_schema_current()
    except SchemaNotReady as error:
        raise click.ClickException(str(error)) from None


@users_cli.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice([role.value for role in Role]))
@click.option("--unit", "unit_code", required=True, help="Unit code, e.g. BTCTU.")
@click.option("--clearance", default="unclassified", show_default=True,
              type=click.Choice([level.value for level in CLEARANCE_ORDER]))
@click.option("--display-name", help="Full name shown in the app (default: the username).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def create_user_command(username, role, unit_code, clearance, display_name, password_stdin):
    """Create USERNAME with a password from a prompt (or stdin)."""
    _ready()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user, _password = accounts.create_user(
            NewUser(username, display_name or username, unit_code, role, clearance),
            password=password, by=None, must_change_password=False,
        )
        db.session.commit()
    except AccountError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    click.echo(f"Created {user.username} ({user.role.value}, {user.unit.code}, {user.clearance.value}).")
    if user.role.requires_second_factor:
        click.echo("Two-factor sign-in is required for this role: the user enrols at first sign-in.")


@users_cli.command("list")
def list_users_command():
    """List every account."""
    _ready()
    rows = db.session.scalars(select(User).order_by(User.username)).all()
    if not rows:
        click.echo("No users yet. Create one with `flask --app app users create`.")
        return
    click.echo(f"{'USERNAME':<24} {'ROLE':<11} {'UNIT':<14} {'CLEARANCE':<13} {'2FA':<4} STATUS")
    for user in rows:
        click.echo(
            f"{user.username:<24} {user.role.value:<11} {user.unit.code:<14} "
            f"{user.clearance.value:<13} {'yes' if user.second_factor_enabled else 'no':<4} "
            f"{'active' if user.active else 'disabled'}"
        )


@users_cli.command("disable")
@click.argument("username")
def disable_user_command(username):
    """Disable USERNAME and end all of its sessions at once."""
    _ready()
    user = accounts.find_user(username)
    if user is None:
        raise click.ClickException(f"no user named {accounts.normalise_username(username)!r}")
    accounts.set_user_active(user, by=None, active=False)
    db.session.commit()
    click.echo(f"Disabled {user.username}; its sessions have ended.")


units_cli = AppGroup("units", help="Create the first units of a new installation (later: Quản trị → Đơn vị).")


@units_cli.command("create")
@click.argument("code")
@click.option("--name", required=True, help="The unit's full name, e.g. 'Ban Tổ chức Tỉnh ủy'.")
@click.option("--kind", default=UnitKind.ORGANISATION.value, show_default=True,
              type=click.Choice([kind.value for kind in UnitKind]))
@click.option("--parent", "parent_code", help="Code of the unit above it.")
def create_unit_command(code, name, kind, parent_code):
    """Create unit CODE: a new installation's first unit, which its first admin belongs to
    (`users create` needs one); audited like the admin page's."""
    _ready()
    try:
        unit = accounts.create_unit(code=code, name=name, kind=kind, parent_code=parent_code, by=None)
        db.session.commit()
    except AccountError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    click.echo(f"Created unit {unit.code} ({unit.kind.value}).")


def configure_cli(app: Flask) -> None:
    app.cli.add_command(init_command)
    app.cli.add_command(users_cli)
    app.cli.add_command(units_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(backup_cli)
