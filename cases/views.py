"""The home page each role lands on."""

from __future__ import annotations

from flask import Flask, render_template
from flask_login import current_user

from protection.policy import permission


@permission("home.view")
def home():
    return render_template("home.html", role=current_user.role.value)


def configure_cases(app: Flask) -> None:
    app.add_url_rule("/", "home", home)
