"""The home page each role lands on."""

from __future__ import annotations

from flask import Flask, render_template
from flask_login import current_user

from protection.policy import permission


@permission("home.view")
def home():
    from . import dashboard

    return render_template("home.html", role=current_user.role.value, board=dashboard.for_user(current_user))


def configure_cases(app: Flask) -> None:
    from protection.settings import ConfigurationError

    from . import (
        conclusions,  # noqa: F401 - the flush guard that keeps approved conclusions immutable
        deadlines,
        models,  # noqa: F401 - registers the domain tables
    )
    from .access_views import access_bp
    from .audit_targets import configure_audit_targets
    from .case_views import cases_bp
    from .cli import export_cli, import_cli
    from .coordination_views import coordination_bp
    from .demo import seed_demo_subjects
    from .print_views import prints_bp
    from .subject_views import subjects_bp
    from .workflow import parse_rules

    try:
        app.extensions["hoso.deadline_rules"] = parse_rules(app.config["HOSO_DEADLINE_RULES"])
    except ValueError as error:
        raise ConfigurationError(f"HOSO_DEADLINE_RULES: {error}") from None

    from .access import citizen_index

    # The admin's user form records a citizen ID as the dossiers' blind index (recusal).
    app.extensions["hoso.citizen_index"] = citizen_index
    app.add_url_rule("/", "home", home)
    app.jinja_env.filters["relative_due"] = deadlines.relative_due_filter  # "còn 3 ngày", "trễ 5 ngày"
    app.extensions.setdefault("hoso.demo_seeders", []).append(seed_demo_subjects)
    configure_audit_targets(app)  # the trail shows and accepts case references
    app.register_blueprint(subjects_bp)
    app.register_blueprint(cases_bp)
    app.register_blueprint(coordination_bp)
    app.register_blueprint(access_bp)
    app.register_blueprint(prints_bp)
    app.cli.add_command(import_cli)
    app.cli.add_command(export_cli)
    from .report_cli import report_command
    from .report_views import reports_bp

    app.register_blueprint(reports_bp)
    app.cli.add_command(report_command)
    from . import classification  # noqa: F401 - the protection end date follows classification
    from .retention_views import configure_retention

    configure_retention(app)
