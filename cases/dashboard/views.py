"""The home page each role lands on."""

from __future__ import annotations

from flask import render_template

from cases.dashboard import board
from protection.policy import permission
from protection.web import signed_in_user


@permission("home.view")
def home():
    user = signed_in_user()
    return render_template("dashboard/home.html", role=user.role.value, board=board.for_user(user))
