"""Hoso application factory: `flask --app app ...`, `gunicorn "app:create_app()"`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from flask import Flask, abort
from flask_bootstrap import Bootstrap5
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from audit.setup import configure_audit
from cases.setup import configure_cases
from protection.admin import admin
from protection.cli import configure_cli
from protection.crypto import configure_crypto
from protection.db import configure_postgresql, configure_request_transactions, configure_sqlite, db
from protection.demo import configure_demo
from protection.doctor import configure_health
from protection.errors import configure_errors, configure_logging, handle_unexpected
from protection.headers import configure_security_headers
from protection.i18n import configure_i18n
from protection.metrics import configure_metrics
from protection.policy import can, enforce_request
from protection.rendering import configure_rendering
from protection.schema import migrate
from protection.settings import ConfigurationError, load_settings, require_initialised
from protection.web import configure_auth

ROOT = Path(__file__).resolve().parent

csrf = CSRFProtect()
bootstrap = Bootstrap5()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    instance_path = (
        (config or {}).get("HOSO_INSTANCE_PATH")
        or os.environ.get("HOSO_INSTANCE_PATH")
        or str(ROOT / "instance")
    )
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    configure_settings(app, config)
    configure_logging(app)
    configure_proxy(app)
    configure_database(app)
    try:
        configure_crypto(app)
        configure_extensions(app)
        configure_errors(app)
        configure_auth(app)
        configure_audit(app)
        configure_policy(app)
        configure_security_headers(app)
        configure_metrics(app)
        configure_views(app)
        configure_commands(app)
    except BaseException:
        # A step refused to start (a bad key, a bad domain setting): close the connections
        # opened so far instead of leaving them to the garbage collector.
        with app.app_context():
            db.engine.dispose()
        raise
    return app


def configure_settings(app: Flask, config: Mapping[str, Any] | None) -> None:
    load_settings(app, config, os.environ)
    try:
        require_initialised(app)
    except ConfigurationError:
        # `flask --app app init` must be able to load the app that it initialises; any
        # other CLI command, and every web request, is refused until then.
        if click.get_current_context(silent=True) is None:
            raise
        app.config["SECRET_KEY"] = None
        app.config["HOSO_UNINITIALISED"] = True
        app.before_request(lambda: abort(503))


def configure_proxy(app: Flask) -> None:
    hops = app.config["HOSO_PROXY_HOPS"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def configure_database(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db)
    wait_seconds = app.config["HOSO_DATABASE_WAIT_SECONDS"]
    with app.app_context():
        configure_sqlite(db.engine, wait_seconds=wait_seconds)
        configure_postgresql(db.engine, wait_seconds=wait_seconds)
    configure_request_transactions(app)


def configure_extensions(app: Flask) -> None:
    csrf.init_app(app)
    bootstrap.init_app(app)
    configure_i18n(app)
    configure_rendering(app)


def configure_policy(app: Flask) -> None:
    app.before_request(enforce_request)
    app.jinja_env.globals["can"] = can

    @app.after_request
    def commit_unit_of_work(response):
        # One unit of work per request: a successful response commits everything the
        # request did (its audit entries included); anything else rolls it all back.
        if response.status_code < 400:
            try:
                db.session.commit()
            except Exception as error:  # noqa: BLE001 - e.g. the audit append failed: nothing was committed
                return app.make_response(handle_unexpected(error))
        else:
            db.session.rollback()
        return response


def configure_views(app: Flask) -> None:
    app.register_blueprint(admin)
    configure_health(app)
    configure_cases(app)


def configure_commands(app: Flask) -> None:
    configure_cli(app)
    configure_demo(app)
