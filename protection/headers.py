"""Security headers on every response."""

from __future__ import annotations

from flask import Flask, Response, request

from .policy import PUBLIC_ENDPOINTS

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))


def _apply(response: Response, https: bool) -> Response:
    headers = response.headers
    # The site-wide policy is the default, not an override: a response that sets a stricter
    # one of its own (attachment downloads: `default-src 'none'; sandbox`) keeps it.
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    # Replaces the WSGI server's banner (Werkzeug adds its own only when none is set;
    # gunicorn.conf.py renames gunicorn's).
    headers["Server"] = "Hoso"
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    if request.endpoint not in PUBLIC_ENDPOINTS:
        # Pages (signed-in or not: forms carry CSRF tokens) never stay in a shared
        # browser's cache; static files may.
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    return response


def configure_security_headers(app: Flask) -> None:
    https = app.config["HOSO_HTTPS"]
    app.after_request(lambda response: _apply(response, https))
