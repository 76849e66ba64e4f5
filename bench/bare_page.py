"""The bare page `python -m bench.pages` measures Hoso's pages against: a minimal Flask app
that reads 21 rows from an SQLite file and renders a Jinja template with a small Flask-WTF
form (a comment box, its CSRF token in Flask's cookie session), served by the same gunicorn
settings as Hoso (`gunicorn "bench.bare_page:create_app()"` from the repository, so gunicorn.conf.py
applies). What a page costs with no sign-in, policy, encryption or audit: the floor.

The file is named by the environment variable BENCH_BARE_DATABASE; `create_database()` makes
it, with its 21 rows, before the server starts.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from pathlib import Path

from flask import Flask, render_template
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

DATABASE_VARIABLE = "BENCH_BARE_DATABASE"
ROWS = 21


class CommentForm(FlaskForm):
    title = StringField("Tiêu đề", validators=[Length(max=200)])
    body = TextAreaField("Ý kiến", validators=[DataRequired(), Length(max=4000)])


def create_database(path: Path) -> None:
    """A new SQLite file with the 21 comments the page lists."""
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE comments (id INTEGER PRIMARY KEY, author TEXT NOT NULL, "
                           "body TEXT NOT NULL, created_at TEXT NOT NULL)")
        connection.executemany(
            "INSERT INTO comments (author, body, created_at) VALUES (?, ?, ?)",
            [(f"Cán bộ {number}", f"Ý kiến số {number} về hồ sơ: đã xem, đề nghị bổ sung tài liệu.",
              f"2026-01-{number:02d} 08:{number:02d}") for number in range(1, ROWS + 1)])
    connection.close()


def create_app() -> Flask:
    app = Flask(__name__)  # templates from bench/templates
    app.config["SECRET_KEY"] = secrets.token_hex(32)  # each worker its own: the bench never posts
    database = os.environ[DATABASE_VARIABLE]

    @app.get("/")
    def page():
        # a connection per request, closed after it: no pool, nothing kept between requests
        connection = sqlite3.connect(database)
        try:
            rows = connection.execute("SELECT id, author, body, created_at FROM comments "
                                      "ORDER BY id LIMIT ?", (ROWS,)).fetchall()
        finally:
            connection.close()
        return render_template("bare.html", rows=rows, form=CommentForm())

    return app

