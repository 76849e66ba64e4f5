"""The auditor's view: the trail with filters, access history, chain status, CSV export."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy.exc import SQLAlchemyError

from protection import paging
from protection.db import db
from protection.forms import ConfirmForm
from protection.policy import permission

from .forms import TrailFilterForm
from .labels import action_label, role_label, verification_summary
from .models import AuditEntry
from .service import (
    TrailFilter,
    chain_status,
    export_csv,
    filtered,
    record_history,
    record_verification,
    run_verification,
    usernames_for,
)
from .targets import describe_targets, kind_label, target_kinds, user_targets
from .trail import detail_of, record

audit_bp = Blueprint("audit", __name__, url_prefix="/audit")
PAGE_SIZE = paging.PER_PAGE
# The trail's orders: the sequence (the order things happened in), or the action or the
# outcome, each entry's sequence breaking ties. All plain, indexed or short columns.
SORTS = {
    "seq": (AuditEntry.id,),
    "action": (AuditEntry.action, AuditEntry.id),
    "outcome": (AuditEntry.outcome, AuditEntry.id),
}
DEFAULT_SORT = paging.Sort("seq", descending=True)


def _filter_from(form: TrailFilterForm) -> TrailFilter:
    # The form has turned a username into its user's id and a reference into its case's.
    target_type, target_id = getattr(form.target_id, "resolved", None) or (form.target_type.data or None, None)
    return TrailFilter(
        actor=getattr(form.actor, "resolved", None), action=form.action.data or None,
        target_type=target_type, target_id=target_id,
        outcome=form.outcome.data or None,
        date_from=getattr(form.date_from, "parsed", None), date_to=getattr(form.date_to, "parsed", None),
    )


@audit_bp.route("/")
@permission("audit.read")
def trail():
    form = TrailFilterForm(request.args)
    number = paging.page_number(request.args)
    sort = paging.sort_choice(request.args, SORTS, DEFAULT_SORT)
    shown, names, described, history = None, {}, {}, None
    valid = form.validate()
    if valid:
        trail_filter = _filter_from(form)
        shown = paging.paginate(filtered(trail_filter).order_by(*paging.sort_clause(sort, SORTS)), number, PAGE_SIZE)
        history = record_history(trail_filter)
        targets = [(entry.target_type, entry.target_id) for entry in shown.rows] + ([history.target] if history else [])
        names = usernames_for(shown.rows, also=user_targets(targets))
        described = describe_targets(targets, known={"user": names})
        record("audit.search", target_type="audit_log", **trail_filter.describe())
    # The export takes the filters, not the page or the order.
    query = {key: value for key, value in request.args.items() if key not in ("page", "sort", "dir")}
    return render_template("audit/trail.html", form=form, page=shown, entries=shown.rows if shown else [],
                           total=shown.total if shown else 0, sorting=sort, names=names, status=chain_status(),
                           confirm_form=ConfirmForm(), query=query, detail_of=detail_of, valid=valid,
                           described=described, history=history, kinds=target_kinds(), kind_label=kind_label,
                           action_label=action_label, role_label=role_label)


@audit_bp.route("/verify", methods=["POST"])
@permission("audit.read")
def verify_now():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    report = run_verification()
    try:
        record_verification(report)
        db.session.flush()
    except SQLAlchemyError:
        # Rows inserted past the chain head leave no free sequence number to append at.
        db.session.rollback()
        flash(_("Không ghi được lượt kiểm tra này vào nhật ký: chuỗi nhật ký đã bị sửa ngoài ứng dụng."), "danger")
    flash(verification_summary(report), "success" if report.ok else "danger")
    return redirect(url_for("audit.trail"))


@audit_bp.route("/export.csv")
@permission("audit.read")
def export():
    form = TrailFilterForm(request.args)
    if not form.validate():
        abort(400)
    trail_filter = _filter_from(form)
    record("audit.export", target_type="audit_log", format="csv", **trail_filter.describe())
    # Committed by the request boundary before the body streams: the export is on record
    # even if the download is interrupted.
    response = Response(stream_with_context(export_csv(filtered(trail_filter))), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="hoso-audit.csv"'
    return response
