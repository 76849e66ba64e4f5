"""`flask --app app api-clients create|list|revoke|rotate` (issue 21 §A.1)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

api_clients_cli = AppGroup("api-clients", help="API clients of partner bodies: create, list, revoke, rotate.")


@api_clients_cli.command("list")
def list_clients() -> None:
    """List API clients (not implemented yet)."""
    raise click.ClickException("not implemented yet")
