"""`flask --app app archive ...`: bulk digitisation and text recognition (issue 24).

The operator at the command line acts as `import subjects` does: as nobody in particular
(by=None, audited as the command line). Failures are one line with a non-zero exit.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import gettext as _
from sqlalchemy import select

from cases.archive import importing, ocr, reader
from cases.archive.models import ArchiveScan
from protection.accounts import find_unit
from protection.db import db
from protection.schema import SchemaNotReady, ensure_schema_current

archive_cli = AppGroup("archive", help="Kho lưu trữ số: số hóa hồ sơ giấy (archive import), nhận dạng chữ.")


def _ready() -> None:
    try:
        ensure_schema_current()
    except SchemaNotReady as error:
        raise click.ClickException(str(error)) from None


def _counts(counts: importing.Counts) -> str:
    return _("%(dossiers)d hồ sơ, %(documents)d văn bản, %(scans)d bản quét, %(pages)d trang",
             dossiers=counts.dossiers, documents=counts.documents, scans=counts.scans, pages=counts.pages)


def _report_problems(problems: list[importing.Problem]) -> None:
    if problems:
        click.echo(_("Bị từ chối (%(count)d):", count=len(problems)), err=True)
        for problem in problems:
            click.echo(f"  {problem}", err=True)


@archive_cli.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--unit", "unit_code", required=True, help="Code of the unit whose dossiers receive the scans.")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A UTF-8 CSV naming each file's dossier and register fields (see above).")
@click.option("--dry-run", is_flag=True, help="Check and report only; file nothing.")
@click.option("--skip-refused", is_flag=True,
              help="File the acceptable documents and report the refused ones (exit 0).")
def import_scans(folder: Path, unit_code: str, manifest: Path | None, dry_run: bool, skip_refused: bool) -> None:
    """File a folder of scans (PDF, TIFF, JPEG, PNG: checked by content) as documents of the
    unit's dossiers, each new document after the dossier's existing ones.

    \b
    Without --manifest: one sub-folder per person, named by citizen ID (12 digits,
    or 9 for an old CMND); each file in it is one document, in file-name order
    (trang-2 before trang-10), titled by its file name without the extension,
    of type "other" (khác). Hidden files, Thumbs.db and desktop.ini are skipped.

    \b
    With --manifest FILE.csv (UTF-8, header row), one line per file:
      citizen_id, file           required; file is a path relative to FOLDER
      doc_type                   a type code or its Vietnamese name (default: other):
                                 party_biography, decision, assessment,
                                 self_criticism, application, minutes,
                                 official_letter, report, certificate, other
      number, issuer, title      text (title default: the file name without extension)
      issued_on                  YYYY-MM-DD or DD/MM/YYYY, not in the future
      classification             unclassified/confidential/secret/top_secret or
                                 không mật/mật/tối mật/tuyệt mật (default: unclassified)
      paper_location             where the paper original is kept
      document                   optional label: one person's lines with the same
                                 label are one document with several scans (line
                                 order); its fields may be given on any of them.
    Files in FOLDER that the manifest does not name are not filed.

    \b
    Everything is checked first: unknown citizen IDs, another unit's dossiers,
    unreadable or disguised files, files over HOSO_MAX_UPLOAD_MB, duplicates (in the
    archive or twice in the folder) and bad manifest lines are reported by file or line.
    If anything is refused, NOTHING is filed and the exit status is 1 (unless
    --skip-refused). Filing commits dossier by dossier: a crash leaves each dossier
    whole or untouched; running the folder again refuses what was filed as duplicates.
    """
    _ready()
    unit = find_unit(unit_code)
    if unit is None:
        raise click.ClickException(_("Không có đơn vị mã %(code)s.", code=unit_code))
    unit_id, unit_shown = unit.id, unit.code
    try:
        if manifest is not None:
            plan = importing.gather_manifest(folder, manifest.read_bytes())
        else:
            plan = importing.gather_folders(folder)
    except importing.ManifestError as error:
        raise click.ClickException(f"{manifest}: {error}") from None
    except OSError as error:
        raise click.ClickException(_("Không đọc được %(path)s (%(error)s).", path=error.filename or folder,
                                     error=error.strerror or type(error).__name__)) from None

    try:
        with click.progressbar(length=plan.files, label="Checking scans", file=sys.stderr) as bar:
            importing.check(plan, unit, progress=bar.update)
        db.session.commit()  # the lookups' read transaction ends here
    except Exception:
        db.session.rollback()
        raise
    acceptable = plan.acceptable()
    click.echo(_("Đã kiểm tra %(files)d tệp của %(dossiers)d hồ sơ.", files=plan.files,
                 dossiers=len(plan.dossiers)))
    _report_problems(plan.problems)

    if dry_run:
        importing.record_run(unit_id, acceptable, refused=len(plan.problems), dry_run=True)
        db.session.commit()
        click.echo(_("Chạy thử (--dry-run), không nạp gì. Sẽ nạp: %(counts)s.", counts=_counts(acceptable)))
        if plan.problems:
            raise click.ClickException(_("%(count)d lỗi: sửa rồi chạy lại.", count=len(plan.problems)))
        return
    if plan.problems and not skip_refused:
        importing.record_run(unit_id, importing.Counts(), refused=len(plan.problems), outcome="refused")
        db.session.commit()
        raise click.ClickException(_(
            "%(count)d lỗi trong %(folder)s: không nạp gì (sửa rồi chạy lại, hoặc dùng --skip-refused để "
            "nạp các văn bản hợp lệ).", count=len(plan.problems), folder=folder))

    with click.progressbar(length=acceptable.scans, label="Filing scans", file=sys.stderr) as bar:
        filed, failed = importing.file_plan(plan, unit, progress=bar.update)
    _report_problems(failed)
    click.echo(_("Đã nạp vào đơn vị %(unit)s: %(counts)s.", unit=unit_shown, counts=_counts(filed)))
    if failed:
        raise click.ClickException(_("%(count)d hồ sơ không được nạp (xem trên): chạy lại với --skip-refused "
                                     "để nạp chúng, những gì đã nạp sẽ bị từ chối là trùng.", count=len(failed)))


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
