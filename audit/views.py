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
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from protection.db import db
from protection.forms import ConfirmForm
from protection.policy import permission

from .forms import TrailFilterForm
from .models import AuditEntry
from .service import (
    TrailFilter,
    chain_status,
    export_csv,
    filtered,
    record_verification,
    run_verification,
    usernames_for,
)
from .trail import detail_of, record

audit_bp = Blueprint("audit", __name__, url_prefix="/audit")
PAGE_SIZE = 50
MAX_PAGE = 10_000_000  # 500M entries; beyond, an OFFSET no longer fits the database's integer


def _filter_from(form: TrailFilterForm) -> TrailFilter:
    return TrailFilter(
        actor=form.actor.data or None, action=form.action.data or None,
        target_type=form.target_type.data or None, target_id=form.target_id.data or None,
        outcome=form.outcome.data or None,
        date_from=getattr(form.date_from, "parsed", None), date_to=getattr(form.date_to, "parsed", None),
    )


@audit_bp.route("/")
@permission("audit.read")
def trail():
    form = TrailFilterForm(request.args)
    page = request.args.get("page", 1, type=int)
    if not 1 <= page <= MAX_PAGE:
        abort(400)
    entries, total, names = [], 0, {}
    valid = form.validate()
    if valid:
        trail_filter = _filter_from(form)
        statement = filtered(trail_filter)
        total = db.session.scalar(select(func.count()).select_from(statement.subquery())) or 0
        entries = db.session.scalars(statement.order_by(AuditEntry.seq.desc())
                                     .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
        names = usernames_for(entries)
        record("audit.search", target_type="audit_log", **trail_filter.describe())
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    query = {key: value for key, value in request.args.items() if key not in ("page",)}
    return render_template("audit/trail.html", form=form, entries=entries, total=total, page=page, pages=pages,
                           names=names, status=chain_status(), confirm_form=ConfirmForm(), query=query,
                           detail_of=detail_of, valid=valid)


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
    flash(report.summary(), "success" if report.ok else "danger")
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
