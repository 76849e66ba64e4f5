"""The bell's page: a user's notifications, marking them read, and their delivery preferences."""

from __future__ import annotations

from flask import Blueprint

notifications_bp = Blueprint("notifications", __name__, url_prefix="/notifications")
