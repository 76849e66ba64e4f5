"""Wiring of the domain into the app: its tables, rules, blueprints, commands and hooks.

`create_app` calls `configure_cases` once; nothing else in `cases/` touches the app object.
"""

from __future__ import annotations

from flask import Flask

from cases import (
    deadlines,
    models,  # noqa: F401 - registers the domain tables
)
from cases.access.operations import citizen_index
from cases.access.views import access_bp
from cases.api.setup import configure_api
from cases.archive import models as _archive_models  # noqa: F401 - registers the archive tables
from cases.archive import reader_views as _archive_reader_views  # noqa: F401 - these views join the archive blueprint
from cases.archive import register_views as _archive_register_views  # noqa: F401 - these views join the archive blueprint
from cases.archive.blueprint import archive_bp
from cases.archive.cli import archive_cli
from cases.audit_targets import configure_audit_targets
from cases.campaigns.cli import campaign_cli
from cases.campaigns.views import campaigns_bp
from cases.casework import views as _casework_views  # noqa: F401 - these views join the cases blueprint
from cases.casework.blueprint import cases_bp
from cases.conclusions import operations as _conclusions  # noqa: F401 - the flush guard that keeps approved conclusions immutable
from cases.conclusions import views as _conclusion_views  # noqa: F401 - these views join the cases blueprint
from cases.coordination import exchange_views as _exchange_views  # noqa: F401 - these views join the coordination blueprint
from cases.coordination.views import coordination_bp
from cases.dashboard.views import home
from cases.demo.archive import seed_demo_archive
from cases.demo.board import seed_demo_board
from cases.demo.campaign import seed_demo_campaign
from cases.demo.guidance import seed_demo_guidance
from cases.demo.notifications import seed_demo_notifications
from cases.demo.oversight_visits import seed_demo_oversight_visits
from cases.demo.seed import seed_demo_subjects
from cases.notifications import models as _notification_models  # noqa: F401 - registers the notification tables
from cases.notifications.cli import notify_cli
from cases.notifications.metrics import mail_readings
from cases.notifications.service import unread_filter
from cases.notifications.views import bell, notifications_bp
from cases.oversight import board_views as _board_views  # noqa: F401 - these views join the oversight blueprint
from cases.oversight import guidance_views as _guidance_views  # noqa: F401 - these views join the oversight blueprint
from cases.oversight import models as _oversight_models  # noqa: F401 - registers the oversight tables
from cases.oversight import visit_views as _visit_views  # noqa: F401 - these views join the oversight blueprint
from cases.oversight.blueprint import oversight_bp
from cases.partners import exchange_views as _exchange_key_views  # noqa: F401 - these views join the partners blueprint
from cases.partners import models as _partner_models  # noqa: F401 - registers the partner tables
from cases.partners.cli import api_clients_cli
from cases.partners.views import partners_bp
from cases.petitions import release_views as _release_views  # noqa: F401 - these views join the cases blueprint
from cases.petitions import views as _petition_views  # noqa: F401 - these views join the cases blueprint
from cases.petitions.releases import check_approvals_setting
from cases.printing.views import prints_bp
from cases.reports.cli import report_command
from cases.reports.views import reports_bp
from cases.retention import classification  # noqa: F401 - the protection end date follows classification
from cases.retention.views import configure_retention
from cases.reviews import views as _review_views  # noqa: F401 - these views join the cases blueprint
from cases.subjects.cli import export_cli, import_cli
from cases.subjects.views import subjects_bp
from cases.workflow import parse_rules
from protection import hooks
from protection.settings import ConfigurationError


def configure_cases(app: Flask) -> None:
    try:
        app.extensions["hoso.deadline_rules"] = parse_rules(app.config["HOSO_DEADLINE_RULES"])
    except ValueError as error:
        raise ConfigurationError(f"HOSO_DEADLINE_RULES: {error}") from None
    check_approvals_setting(app)  # the petition types it names are the domain's

    # The admin's user form records a citizen ID as the dossiers' blind index (recusal).
    hooks.register(app, hooks.CITIZEN_INDEX, citizen_index)
    hooks.register(app, hooks.METRIC_READINGS, mail_readings)  # /metrics: mails waiting
    app.add_url_rule("/", "home", home)
    app.jinja_env.filters["relative_due"] = deadlines.relative_due_filter  # "còn 3 ngày", "trễ 5 ngày"
    # Mail addresses and choices first: the case work seeded next raises events that find them.
    hooks.register(app, hooks.DEMO_SEEDERS, seed_demo_notifications)
    hooks.register(app, hooks.DEMO_SEEDERS, seed_demo_subjects)
    hooks.register(app, hooks.DEMO_SEEDERS, seed_demo_campaign)  # after the case work it reuses
    hooks.register(app, hooks.DEMO_SEEDERS, seed_demo_guidance)
    hooks.register(app, hooks.DEMO_SEEDERS, seed_demo_archive)  # registers of two of its dossiers
    hooks.register(app, hooks.DEMO_SEEDERS, seed_demo_board)  # the districts' work for the unit board
    hooks.register(app, hooks.DEMO_SEEDERS, seed_demo_oversight_visits)
    configure_audit_targets(app)  # the trail shows and accepts case references
    # The bell: its unread count is asked in the sign-in query (protection/sessions.py).
    hooks.register(app, hooks.UNREAD_COUNT, unread_filter)
    app.context_processor(bell)
    for blueprint in (subjects_bp, cases_bp, coordination_bp, access_bp, prints_bp, reports_bp, campaigns_bp,
                      notifications_bp, partners_bp, oversight_bp, archive_bp):
        app.register_blueprint(blueprint)
    configure_api(app)
    for command in (import_cli, export_cli, report_command, campaign_cli, notify_cli, api_clients_cli, archive_cli):
        app.cli.add_command(command)
    configure_retention(app)
