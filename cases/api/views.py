"""The partner API's endpoints (issue 21 §A.2): thin views over cases/coordination."""

from __future__ import annotations

from flask_smorest import Blueprint

api_bp = Blueprint("api", __name__, url_prefix="/api/v1", description="Coordination requests addressed to a partner body")
