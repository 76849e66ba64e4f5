"""Admin pages for partner bodies' machines: API clients (issue 21 §A.1)."""

from __future__ import annotations

from flask import Blueprint

partners_bp = Blueprint("partners", __name__, url_prefix="/admin/partners")
