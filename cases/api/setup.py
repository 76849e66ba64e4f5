"""Wiring of the partner API into the app: flask-smorest's Api (the OpenAPI 3.1 document at
/api/v1/openapi.json), the blueprint, CSRF exemption (token auth only) and rate limits."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from cases.api.views import api_bp


class HosoApi(Api):
    """flask-smorest's Api without its app-wide HTTPException handler: the app's own error
    handling (protection/errors.py) answers problem documents under /api/ and keeps the
    HTML error pages everywhere else."""

    def _register_error_handlers(self):
        return None


def configure_api(app: Flask) -> None:
    app.config.setdefault("API_TITLE", "Hoso partner API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = HosoApi(app)
    api.register_blueprint(api_bp)
    app.extensions["hoso.api"] = api
