"""/retention: cases past retention and their purge (supervisors), classified items due
for review; the `retention` CLI; the page a purged or archived case answers with."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import click
from flask import Blueprint, Flask, current_app, flash, redirect, render_template, url_for
from flask.cli import AppGroup
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from cases import labels
from cases.casework.operations import CaseError, CaseReadOnly, record_case_view, today
from cases.models import Case
from cases.retention import classification, purge_ledger
from cases.retention import operations as retention
from cases.retention.forms import ClassificationDecisionForm, PurgeForm
from protection import signals
from protection.db import db
from protection.policy import permission
from protection.schema import SchemaNotReady, ensure_schema_current

retention_bp = Blueprint("retention", __name__, url_prefix="/retention")


def _show_error(form, error: CaseError) -> None:
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        flash(error.message, "danger")


# --- retention and purge ----------------------------------------------------------------------

@retention_bp.route("/")
@permission("retention.manage")
def index():
    return render_template("retention/index.html", rows=retention.past_retention(current_user),
                           kinds=labels.translated(labels.KINDS_SHORT), today=today())


@retention_bp.route("/<uuid:case_id>/purge", methods=["GET", "POST"])
@permission("retention.manage")
def purge(case_id: uuid.UUID):
    case = retention.load_for_purge(case_id, current_user)
    form = PurgeForm()
    if case.purged_at is None and form.validate_on_submit():
        try:
            retention.purge(case, by=current_user, reference_typed=form.reference.data,
                            secret=form.secret.data)
        except CaseError as error:
            # No rollback: purge refuses before it changes anything (a wrong password was
            # counted and audited in a transaction of its own: accounts.recheck).
            _show_error(form, error)
        else:
            db.session.commit()
            flash(_("Đã hủy vĩnh viễn nội dung hồ sơ %(reference)s.", reference=case.reference), "success")
            try:
                # Only after the commit: see the module docstring of cases/retention.py.
                retention.append_to_ledger([case])
            except (retention.LedgerTampered, OSError) as error:
                # The purge stands; `retention status` appends the line once the ledger is
                # put right. The reason names files and line numbers, never content.
                db.session.rollback()
                current_app.logger.error("purge ledger not appended for case %s: %s", case.id, error)
                flash(_("Chưa ghi được sổ hủy hồ sơ (purge ledger): báo quản trị viên kiểm tra bằng lệnh "
                        "`retention status` trước khi sao lưu."), "danger")
            return redirect(url_for("retention.index"), 303)
    return render_template("retention/purge.html", case=case, form=form, ends_on=retention.retention_ends_on(case),
                           kinds=labels.translated(labels.KINDS_SHORT), today=today())


# --- classified items ---------------------------------------------------------------------------

@retention_bp.route("/classified")
@permission("classification.review")
def classified():
    return render_template("retention/classified.html", items=classification.due_items(current_user),
                           decisions=classification.recent_decisions(current_user),
                           levels=labels.translated_levels(), today=today())


@retention_bp.route("/classified/<any(case, attachment, finding):item_type>/<uuid:item_id>",
                    methods=["GET", "POST"])
@permission("classification.review")
def decide(item_type: str, item_id: uuid.UUID):
    item, case = classification.load_item(item_type, item_id, current_user)
    form = ClassificationDecisionForm()
    if form.validate_on_submit():
        try:
            decided = classification.decide(item_type, item, case, decision=form.decision.data, by=current_user,
                                            new_end=form.new_end.parsed, to_level=form.to_level.data)
        except CaseError as error:  # refused before anything changed
            _show_error(form, error)
        else:
            db.session.commit()
            flash(_("Đã ghi quyết định về độ mật."), "success")
            if decided.lowered:
                flash(ngettext("Độ mật của %(num)d tài liệu trong hồ sơ cao hơn mức mới nên đã được hạ theo.",
                               "Độ mật của %(num)d tài liệu trong hồ sơ cao hơn mức mới nên đã được hạ theo.",
                               decided.lowered), "info")
            return redirect(url_for("retention.classified"), 303)
    return render_template("retention/decide.html", form=form, item_type=item_type, item=item, case=case,
                           levels=labels.translated_levels())


# --- archived and purged cases answer for themselves ---------------------------------------------

def _case_read_only(error: CaseReadOnly):
    if error.purged:
        case = db.session.get(Case, error.case_id)
        # What is left of a purged case (reference, kind, dates) is still a case read: it
        # is audited like any other view, and the request commits it with the page.
        record_case_view(case, part="purged")
        return render_template("retention/purged_case.html", case=case,
                               kinds=labels.translated(labels.KINDS_SHORT))
    flash(error.message, "warning")
    return redirect(url_for("cases.view", case_id=error.case_id), 303)


# --- CLI --------------------------------------------------------------------------------------------

retention_cli = AppGroup("retention", help="Archive closed cases; report retention and purges.")


@retention_cli.command("archive", help="Archive the cases closed longer than HOSO_ARCHIVE_AFTER_DAYS.")
def archive_command():
    ids = retention.archivable_ids()
    try:
        with click.progressbar(length=len(ids), label="Archiving cases", file=sys.stderr) as bar:
            archived = retention.archive(ids, progress=bar.update)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    click.echo(f"Archived {archived} case(s).")


@retention_cli.command("status", help="Counts of closed, archived, past-retention and purged cases.")
def status_command():
    try:
        appended = retention.sync_ledger()
    except retention.LedgerTampered as error:
        raise click.ClickException(str(error)) from None
    for name, value in retention.status_counts().items():
        click.echo(f"{name}: {value}")
    if appended:
        click.echo(f"purge ledger: {appended} missing line(s) appended")


@retention_cli.command("replay-ledger")
@click.argument("ledger", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path))
def replay_ledger_command(ledger: Path | None):
    """Shred again every case the purge ledger lists that this database still holds readable.

    With LEDGER (a newer copy, e.g. from another server), it first becomes this instance's
    ledger, if it verifies and extends the one here."""
    try:
        ensure_schema_current()
        if ledger is not None:
            purge_ledger.adopt(ledger)
        total = len(purge_ledger.read().entries)
        with click.progressbar(length=total, label="Replaying the purge ledger", file=sys.stderr) as bar:
            shredded = retention.replay_purge_ledger(db.session, progress=bar.update)
    except (retention.LedgerTampered, SchemaNotReady) as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    except OSError as error:
        db.session.rollback()
        raise click.ClickException(f"cannot read or write the purge ledger: {error.strerror}") from None
    click.echo(f"Purge ledger replayed: {total} line(s), {shredded} purged case(s) shredded again.")


@retention_cli.command("upgrade-ledger")
def upgrade_ledger_command():
    """Chain a purge ledger of the old format (each line signed alone); the old file is kept."""
    try:
        ensure_schema_current()
        lines, kept = purge_ledger.upgrade_v1()
    except (retention.LedgerTampered, SchemaNotReady) as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    if kept is None:
        click.echo(f"The purge ledger is already chained ({lines} line(s)).")
    else:
        click.echo(f"Chained {lines} line(s); the old ledger is kept as {kept}.")


def configure_retention(app: Flask) -> None:
    app.register_blueprint(retention_bp)
    # The purge ledger takes part in init, backups and restores (protection/signals.py);
    # for this app only, as audit's receivers are.
    for signal, receiver in ((signals.instance_initialised, retention.on_instance_initialised),
                             (signals.backup_starting, retention.on_backup_starting),
                             (signals.restore_checking, retention.on_restore_checking),
                             (signals.restore_loaded, retention.on_restore_loaded)):
        signal.connect(receiver, sender=app, weak=False)
    app.register_error_handler(CaseReadOnly, _case_read_only)
    app.cli.add_command(retention_cli)
