"""Campaign pages: the list, the board, nominees, reuse, reviews, hand-out, summary (issue 20 §A)."""

from __future__ import annotations

from flask import Blueprint

campaigns_bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")
