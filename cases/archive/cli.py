"""`flask --app app archive ...`: bulk digitisation and text recognition (issue 24)."""

from __future__ import annotations

from flask.cli import AppGroup

archive_cli = AppGroup("archive", help="Kho lưu trữ số: số hóa hồ sơ giấy (archive import), nhận dạng chữ.")
