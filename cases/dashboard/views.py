"""The home page each role lands on."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user

from cases.dashboard import board
from protection.policy import permission


@permission("home.view")
def home():
    return render_template("dashboard/home.html", role=current_user.role.value, board=board.for_user(current_user))
