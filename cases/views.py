"""The home page each role lands on."""

from __future__ import annotations

from flask import Flask, render_template
from flask_login import current_user

from protection.policy import permission


@permission("home.view")
def home():
    return render_template("home.html", role=current_user.role.value)


def configure_cases(app: Flask) -> None:
    from . import models  # noqa: F401 - registers the domain tables
    from .cli import export_cli, import_cli
    from .demo import seed_demo_subjects
    from .subject_views import subjects_bp

    app.add_url_rule("/", "home", home)
    app.extensions.setdefault("hoso.demo_seeders", []).append(seed_demo_subjects)
    app.register_blueprint(subjects_bp)
    app.cli.add_command(import_cli)
    app.cli.add_command(export_cli)
