"""`flask --app app archive ...`: bulk digitisation and text recognition (issue 24)."""

from __future__ import annotations

import sys
import uuid

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from cases.archive import ocr, reader
from cases.archive.models import ArchiveScan
from protection.db import db
from protection.schema import SchemaNotReady, ensure_schema_current

archive_cli = AppGroup("archive", help="Kho lưu trữ số: số hóa hồ sơ giấy (archive import), nhận dạng chữ.")


def _ready() -> None:
    try:
        ensure_schema_current()
    except SchemaNotReady as error:
        raise click.ClickException(str(error)) from None


# --- text recognition (issue 24 B.4) --------------------------------------------------------------

@archive_cli.command("recognise")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Recognise at most this many scans.")
@click.option("--scan", "scan_id", type=click.UUID, default=None,
              help="Recognise this one scan (again, if it was recognised before).")
def recognise_command(limit: int | None, scan_id: uuid.UUID | None) -> None:
    """Recognise the text of scans not recognised yet (tesseract-ocr, Vietnamese), stored
    encrypted with each scan; one scan at a time, each committed as it is done."""
    _ready()
    if current_app.config["HOSO_OCR"] == "off":
        raise click.ClickException("text recognition is off (HOSO_OCR=off); nothing was recognised")
    if not ocr.available():
        raise click.ClickException("text recognition is not available: install tesseract-ocr and "
                                   "tesseract-ocr-vie (Debian); nothing was recognised")
    if scan_id is not None:
        if db.session.get(ArchiveScan, scan_id) is None:
            raise click.ClickException(f"no scan with id {scan_id}")
        todo = [(scan_id, db.session.get(ArchiveScan, scan_id).page_count)]
    else:
        query = (select(ArchiveScan.id, ArchiveScan.page_count).where(ArchiveScan.recognised_at.is_(None))
                 .order_by(ArchiveScan.created_at, ArchiveScan.id))
        todo = [tuple(row) for row in db.session.execute(query.limit(limit) if limit else query)]
    db.session.commit()
    done = pages = characters = 0
    failed: list[uuid.UUID] = []
    with click.progressbar(length=sum(count for _id, count in todo), label="Recognising scans",
                           file=sys.stderr) as bar:
        for item_id, page_count in todo:
            scan = db.session.get(ArchiveScan, item_id)
            try:
                result = reader.recognise(scan, by=None, progress=lambda _page: bar.update(1))
                db.session.commit()
            except reader.ScanNotRecognised:
                db.session.rollback()
                failed.append(item_id)
                bar.update(page_count)
                continue
            except Exception:
                db.session.rollback()
                raise
            done, pages, characters = done + 1, pages + len(result.texts), characters + result.characters
    click.echo(f"Recognised {done} scan(s): {pages} page(s), {characters} characters"
               + (f"; {len(failed)} failed: {', '.join(str(item) for item in failed)}" if failed else "") + ".")
    if failed:
        sys.exit(1)
