"""Vietnamese first: Flask-Babel with vi as the default locale, English on request."""

from __future__ import annotations

from flask import Flask, has_request_context, request
from flask_babel import Babel, format_datetime, get_locale

SUPPORTED_LOCALES = ("vi", "en")

babel = Babel()


def select_locale() -> str:
    if not has_request_context():
        return "vi"  # CLI messages: the organisation's language
    return request.accept_languages.best_match(SUPPORTED_LOCALES, default="vi") or "vi"


def configure_i18n(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    app.context_processor(lambda: {"current_locale": str(get_locale() or "vi")})
    app.jinja_env.filters["date"] = lambda value: value.strftime("%d/%m/%Y") if value else "—"
    app.jinja_env.filters["datetime"] = lambda value: format_datetime(value, "dd/MM/yyyy HH:mm") if value else "—"


def local_today():
    """Today in the organisation's time zone: a deadline falls due on a Vietnamese
    calendar day, not a UTC one."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from flask import current_app

    return datetime.now(ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Ho_Chi_Minh"))).date()
