"""The `oversight` blueprint (/oversight/...): the unit board (board_views), inspection
visits (visit_views) and the guidance library (guidance_views) attach their routes here;
cases/setup.py imports those modules and registers the blueprint."""

from __future__ import annotations

from flask import Blueprint

oversight_bp = Blueprint("oversight", __name__, url_prefix="/oversight")
