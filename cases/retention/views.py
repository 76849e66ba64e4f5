"""/retention: cases past retention and their purge (supervisors), classified items due
for review; the page a purged or archived case answers with. The `retention` commands are
in cases/retention/cli.py."""

from __future__ import annotations

import uuid

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from cases import labels
from cases.actions import submit
from cases.casework.operations import CaseReadOnly, record_case_view, today
from cases.retention import classification
from cases.retention import operations as retention
from cases.retention.cli import retention_cli
from cases.retention.forms import ClassificationDecisionForm, PurgeForm
from protection import signals
from protection.db import db
from protection.policy import permission

retention_bp = Blueprint("retention", __name__, url_prefix="/retention")


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
    # No rollback on a refusal: purge refuses before it changes anything (a wrong password
    # was counted and audited in a transaction of its own: accounts.recheck).
    done = submit(form, lambda: retention.purge(case, by=current_user, reference_typed=form.reference.data,
                                                secret=form.secret.data, assertion=form.assertion.data),
                  None, lambda _result: _purged(case)) if case.purged_at is None else None
    return done or render_template("retention/purge.html", case=case, form=form,
                                   ends_on=retention.retention_ends_on(case),
                                   kinds=labels.translated(labels.KINDS_SHORT), today=today())


def _purged(case):
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


# --- classified items ---------------------------------------------------------------------------

@retention_bp.route("/classified")
@permission("classification.review")
def classified():
    return render_template("retention/classified.html", items=classification.due_items(current_user),
                           decisions=classification.recent_decisions(current_user),
                           levels=labels.translated_levels(), today=today())


@retention_bp.route("/classified/<any(case, attachment, finding, archive_document):item_type>/<uuid:item_id>",
                    methods=["GET", "POST"])
@permission("classification.review")
def decide(item_type: str, item_id: uuid.UUID):
    item, case = classification.load_item(item_type, item_id, current_user)
    form = ClassificationDecisionForm()
    # A refusal comes before anything changed: nothing to roll back.
    done = submit(form, lambda: classification.decide(
        item_type, item, case, decision=form.decision.data, by=current_user, new_end=form.new_end.parsed,
        to_level=form.to_level.data), None, _decided)
    return done or render_template("retention/decide.html", form=form, item_type=item_type, item=item, case=case,
                                   levels=labels.translated_levels())


def _decided(decided):
    db.session.commit()
    flash(_("Đã ghi quyết định về độ mật."), "success")
    if decided.lowered:
        flash(ngettext("Độ mật của %(num)d tài liệu trong hồ sơ cao hơn mức mới nên đã được hạ theo.",
                       "Độ mật của %(num)d tài liệu trong hồ sơ cao hơn mức mới nên đã được hạ theo.",
                       decided.lowered), "info")
    return redirect(url_for("retention.classified"), 303)


# --- archived and purged cases answer for themselves ---------------------------------------------

def _case_read_only(error: CaseReadOnly):
    if error.purged:
        case = retention.purged_case(error.case_id)
        # What is left of a purged case (reference, kind, dates) is still a case read: it
        # is audited like any other view, and the request commits it with the page.
        record_case_view(case, part="purged")
        return render_template("retention/purged_case.html", case=case,
                               kinds=labels.translated(labels.KINDS_SHORT))
    flash(error.message, "warning")
    return redirect(url_for("cases.view", case_id=error.case_id), 303)


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
