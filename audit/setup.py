"""Wiring for the factory: models, signal listeners, views and CLI."""

from __future__ import annotations

from flask import Flask

from protection import hooks

from . import models  # noqa: F401 - registers the audit tables on the metadata
from .cli import audit_cli
from .listeners import connect_listeners
from .metrics import audit_readings
from .targets import configure_target_kinds
from .views import audit_bp


def configure_audit(app: Flask) -> None:
    connect_listeners(app)
    configure_target_kinds(app)
    app.register_blueprint(audit_bp)
    app.cli.add_command(audit_cli)
    hooks.register(app, hooks.METRIC_READINGS, audit_readings)
