"""The `archive` blueprint (/archive/...): a dossier's document register (register_views)
and reading its scans (reader_views) attach their routes here; cases/setup.py imports
those modules and registers the blueprint."""

from __future__ import annotations

from flask import Blueprint

archive_bp = Blueprint("archive", __name__, url_prefix="/archive")
