"""`flask --app app api-clients create|list|revoke|rotate` (issue 21 §A.1).

The operator at the command line acts as `import subjects` does: as nobody in particular
(by=None, audited as the command line). A token is printed once, on a line of its own,
and never again: `list` shows ids, bodies and states only. A refusal is one line on stderr
with exit 1, and nothing is written.
"""

from __future__ import annotations

from datetime import date

import click
from flask.cli import AppGroup

from cases.partners import clients
from cases.partners.clients import ClientError
from protection.api_tokens import ApiClient
from protection.db import db
from protection.i18n import SUPPORTED_LOCALES
from protection.identity import Clearance
from protection.schema import SchemaNotReady, ensure_schema_current

api_clients_cli = AppGroup("api-clients", help="API clients of partner bodies: create, list, revoke, rotate.")

CLEARANCES = tuple(level.value for level in Clearance)


def _ready() -> None:
    try:
        ensure_schema_current()
    except SchemaNotReady as error:
        raise click.ClickException(str(error)) from None


def _expiry(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise click.ClickException(f"--expires {text!r}: write the date as YYYY-MM-DD") from None


def _refused(error: ClientError) -> click.ClickException:
    db.session.rollback()
    return click.ClickException(f"{error.field or 'client'}: {error.message}")


def _committed(change):
    """Run `change()` and commit what it did, returning its result; a refusal is the
    command's one line, and anything else is rolled back before it propagates."""
    try:
        result = change()
        db.session.commit()
    except ClientError as error:
        raise _refused(error) from None
    except Exception:
        db.session.rollback()
        raise
    return result


def _moment(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "-"


def _client(text_id: str) -> ApiClient:
    try:
        return clients.find_client(text_id)
    except ClientError as error:
        raise _refused(error) from None


def _print_token(token: str) -> None:
    click.echo("The token is shown once, now: store it in the partner system's secret store.")
    click.echo(token)


@api_clients_cli.command("create")
@click.option("--body", "body_code", required=True, help="Code of the partner body (unit) the client acts for.")
@click.option("--name", required=True, help="What the client is called (its system), e.g. 'Hệ thống Công an tỉnh'.")
@click.option("--expires", "expires_text", help="Last day the client works, YYYY-MM-DD (Vietnam's date).")
@click.option("--clearance", type=click.Choice(CLEARANCES), default=Clearance.CONFIDENTIAL.value,
              show_default=True, help="What the client's service account is cleared for.")
@click.option("--network", "networks", multiple=True,
              help="An address or CIDR network the client may call from (repeat; none: any address).")
@click.option("--locale", type=click.Choice(SUPPORTED_LOCALES), help="Language of its problem documents (vi default).")
def create(body_code: str, name: str, expires_text: str | None, clearance: str, networks: tuple[str, ...],
           locale: str | None) -> None:
    """Register an API client for a partner body and print its token (once)."""
    _ready()
    expires_on = _expiry(expires_text)
    def create_one():
        body = clients.partner_body(body_code)
        client, token = clients.create_client(body=body, name=name, clearance=Clearance(clearance),
                                              expires_on=expires_on, networks=networks, locale=locale, by=None)
        return body.code, client.id, client.user.username, token

    body_code_shown, client_id, username, token = _committed(create_one)
    click.echo(f"Created API client {client_id} for {body_code_shown} (service account {username}).")
    _print_token(token)


@api_clients_cli.command("list")
def list_clients() -> None:
    """List the API clients: id, name, body, state, expiry, last use, networks (never a token)."""
    _ready()
    rows = clients.list_clients()
    if not rows:
        click.echo("No API client.")
        return
    click.echo("\t".join(("id", "name", "body", "state", "expires", "last_used", "networks")))
    for client in rows:
        click.echo("\t".join((str(client.id), client.name, client.unit.code, clients.client_state(client),
                              client.expires_on.isoformat() if client.expires_on else "-",
                              _moment(client.last_used_at), ",".join(client.allowed_networks or ()) or "any")))


@api_clients_cli.command("revoke")
@click.argument("client_id")
def revoke(client_id: str) -> None:
    """Revoke a client (id, or the start of it): every token stops working now."""
    _ready()
    client = _client(client_id)
    shown = client.id
    _committed(lambda: clients.revoke_client(client, by=None))
    click.echo(f"Revoked API client {shown}: its tokens no longer work; its service account is disabled.")


@api_clients_cli.command("rotate")
@click.argument("client_id")
@click.option("--grace-hours", type=int, help="How long the old token keeps working "
              "(default HOSO_API_TOKEN_GRACE_HOURS; 0: it stops now).")
def rotate(client_id: str, grace_hours: int | None) -> None:
    """Issue a new token for a client (printed once); the old one works for the grace period."""
    _ready()
    client = _client(client_id)
    shown = client.id
    token, old_end = _committed(lambda: (clients.rotate_client(client, grace_hours=grace_hours, by=None),
                                         clients.old_tokens_end(client)))
    click.echo(f"Rotated API client {shown}.")
    _print_token(token)
    if old_end is not None:
        click.echo(f"The previous token works until {_moment(old_end)}.")
    else:
        click.echo("The previous token no longer works.")
