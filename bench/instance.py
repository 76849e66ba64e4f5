"""The Hoso instance every bench section measures: a fresh instance folder with bench keys,
the schema at head, and one officer to sign in as (`python -m bench` and
`python -m bench.cases` both build it here)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask

from app import create_app
from bench import crypto as crypto_bench
from protection import accounts
from protection.accounts import NewUser
from protection.db import db
from protection.schema import upgrade_schema

PASSWORD = "Bench-mark-song-Hong-2026"  # noqa: S105 - a throwaway bench account


@contextmanager
def _logging_kept() -> Iterator[None]:
    """Alembic's env.py configures logging (fileConfig): the root logger's handler then writes to
    the sys.stderr of that moment. In a test (the benches run at a tiny size in the suite) that
    is the test's capture, closed after it, and every later log line became a "Logging error"."""
    loggers = [logging.getLogger(), *(item for item in logging.root.manager.loggerDict.values()
                                      if isinstance(item, logging.Logger))]
    saved = {logger: (logger.handlers[:], logger.level, logger.propagate, logger.disabled) for logger in loggers}
    try:
        yield
    finally:
        for logger in [logging.getLogger(), *logging.root.manager.loggerDict.values()]:
            if not isinstance(logger, logging.Logger):
                continue
            handlers, level, propagate, disabled = saved.get(logger, ([], logging.NOTSET, True, False))
            logger.handlers, logger.level, logger.propagate, logger.disabled = handlers, level, propagate, disabled


def build_hoso(database_url: str | None, instance: Path) -> Flask:
    config = {"SECRET_KEY": "bench", "HOSO_INSTANCE_PATH": str(instance),
              "HOSO_LOGIN_RATE_LIMIT": "1000000 per minute", "HOSO_LOG_LEVEL": "WARNING"}
    if database_url:
        config["HOSO_DATABASE_URL"] = database_url
    crypto_bench.write_bench_keys(instance)
    app = create_app(config)
    with app.app_context(), _logging_kept():
        upgrade_schema()
        if accounts.find_unit("BENCH") is None:
            accounts.create_unit(code="BENCH", name="Bench unit", kind="organisation", parent_code=None, by=None)
        if accounts.find_user("bench.officer") is None:
            accounts.create_user(NewUser("bench.officer", "Bench Officer", "BENCH", "officer", "secret"),
                                 password=PASSWORD, by=None, must_change_password=False)
        db.session.commit()
    return app
