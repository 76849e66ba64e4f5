"""Wiring for the factory: models, signal listeners, views and CLI."""

from __future__ import annotations

from flask import Flask

from protection import hooks

from . import models  # noqa: F401 - registers the audit tables on the metadata
from .backup_check import TrailCheck
from .cli import audit_cli
from .health import audit_checkpoint, audit_sequencing, ready
from .listeners import connect_listeners
from .metrics import audit_readings
from .targets import configure_target_kinds
from .views import audit_bp


def configure_audit(app: Flask) -> None:
    connect_listeners(app)
    configure_target_kinds(app)
    hooks.register(app, hooks.BACKUP_CHECKS, TrailCheck)
    app.register_blueprint(audit_bp)
    app.cli.add_command(audit_cli)
    hooks.register(app, hooks.DOCTOR_CHECKS, audit_sequencing)
    hooks.register(app, hooks.DOCTOR_CHECKS, audit_checkpoint)
    hooks.register(app, hooks.READINESS_CHECKS, ready)
    hooks.register(app, hooks.METRIC_READINGS, audit_readings)
