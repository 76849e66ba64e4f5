"""Admin pages for partner bodies' machines: API clients (issue 21 §A.1)."""

from __future__ import annotations

from flask import Blueprint

from cases.partners.clients import connect_refusal_audit

partners_bp = Blueprint("partners", __name__, url_prefix="/admin/partners")


@partners_bp.record_once
def _connect(state) -> None:
    # Refused API tokens are recorded by this layer (the kernel never imports audit): wired
    # once per app, when configure_cases registers this blueprint.
    connect_refusal_audit(state.app)
