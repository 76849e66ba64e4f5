"""The officer's exchange packages on the request page (issue 21 §B.1, §B.3): export the
request as a package file for a body off the intranet, import the body's answer package,
and print a package's fingerprints so both sides can compare them by phone or on paper.

These routes join the coordination blueprint (cases/setup.py imports this module). The
request page itself is coordination.views.officer_view; its template asks `exchange_part`
(a template global) for the packages exchanged and the two forms, so the page needs no
change of its view. Thin views: cases/coordination/exchange.py checks, writes and audits.
"""

from __future__ import annotations

import uuid

from flask import Response, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SubmitField

from audit.trail import record
from cases import actions, workflow
from cases.casework import operations
from cases.coordination import exchange, views
from cases.coordination import operations as coordination
from cases.coordination.exchange import ExchangeRefused
from cases.coordination.views import coordination_bp
from cases.models import Case, CoordinationRequest
from protection import policy, signals
from protection.exchange.format import MAX_PACKAGE_BYTES
from protection.exchange.keys import fingerprint_text
from protection.forms import REQUIRED, require_submitted
from protection.policy import permission


@coordination_bp.record_once
def _make_key_at_init(state) -> None:
    """`flask init` makes the organisation's exchange key with the other keys (for this app
    only, as the audit trail's receivers are), so a copy of instance/keys taken after it
    holds it; otherwise it is made at first use."""
    signals.instance_initialised.connect(exchange.on_instance_initialised, sender=state.app, weak=False)


class ExportForm(FlaskForm):
    submit = SubmitField(_l("Xuất gói yêu cầu"))


class ImportForm(FlaskForm):
    package = FileField(_l("Gói trả lời của cơ quan"), validators=[FileRequired(REQUIRED)],
                        description=_l("Tệp do lệnh hoso-exchange answer của cơ quan tạo ra."))
    submit = SubmitField(_l("Nhập gói trả lời"))


@coordination_bp.app_template_global()
def exchange_part(case: Case, request_: CoordinationRequest) -> dict:
    """What the request page shows of exchange packages: the body's key, the packages sent
    and received, and the export and import forms when they can be used (the services check
    again). An import refused a moment ago brings its form back with the reason."""
    key = exchange.current_key(request_.body_unit_id)
    packages = exchange.packages_of(request_)
    working = policy.can_work_case(current_user, case) and workflow.awaiting_liaison(request_.state)
    refused = g.get("exchange_import_form")
    return {
        "key": key,
        "fingerprint": fingerprint_text(key.fingerprint) if key else None,
        "packages": packages,
        "can_export": working and key is not None,
        # A refused import keeps its form and reason on the page, whatever the request's state.
        "can_import": refused is not None or (working and key is not None
                                              and any(row.direction == "out" for row in packages)),
        "export_form": ExportForm(formdata=None, prefix="export"),
        "import_form": refused or ImportForm(formdata=None, prefix="exchange"),
    }


def _request(case_id: uuid.UUID, request_id: uuid.UUID, need: str) -> tuple[Case, CoordinationRequest]:
    case = operations.load_case(case_id, need=need)
    return case, coordination.load_for_case(case, request_id)


def _to_request(case: Case, request_: CoordinationRequest):
    return redirect(url_for("coordination.officer_view", case_id=case.id, request_id=request_.id), 303)


@coordination_bp.route("/cases/<uuid:case_id>/requests/<uuid:request_id>/export", methods=["POST"])
@permission("case.work")
def export_package(case_id: uuid.UUID, request_id: uuid.UUID):
    case, request_ = _request(case_id, request_id, "work")
    require_submitted(ExportForm(prefix="export"))
    try:
        made = exchange.export_request(request_, by=current_user)
    except ExchangeRefused as refusal:
        flash(refusal.message, "danger")
        return _to_request(case, request_)
    # The file goes to the officer's browser as a download and is not kept: the ledger holds
    # its digest. The name is ASCII (reference, ids, time): no protected value.
    response = Response(made.data, mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = f'attachment; filename="{made.filename}"'
    response.headers["Content-Length"] = str(len(made.data))
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@coordination_bp.route("/cases/<uuid:case_id>/requests/<uuid:request_id>/import", methods=["POST"])
@permission("case.work")
def import_package(case_id: uuid.UUID, request_id: uuid.UUID):
    case, request_ = _request(case_id, request_id, "work")
    form = ImportForm(prefix="exchange")
    if form.validate_on_submit():
        # One byte past the limit is enough to know it is too big (the service refuses it).
        data = form.package.data.stream.read(MAX_PACKAGE_BYTES + 1)
        done = actions.run(form, lambda: exchange.import_answer(request_, data, by=current_user),
                           lambda imported: _("Đã nhập gói trả lời của cơ quan: %(findings)d kết quả xác minh, "
                                              "%(files)d tệp. Hãy xem lại rồi chấp nhận hoặc yêu cầu bổ sung.",
                                              findings=imported.findings, files=imported.files),
                           lambda _imported: _to_request(case, request_))
        if done:
            return done
    elif "csrf_token" in form.errors:
        require_submitted(form)  # not a form of ours: 400
    # The request page again, the reason beside the upload field (exchange_part finds it).
    g.exchange_import_form = form
    return views.officer_view(case_id=case_id, request_id=request_id)


@coordination_bp.route("/cases/<uuid:case_id>/requests/<uuid:request_id>/packages/<uuid:package_id>")
@permission("case.view")
def package_printout(case_id: uuid.UUID, request_id: uuid.UUID, package_id: uuid.UUID):
    case, request_ = _request(case_id, request_id, "view")
    row = exchange.load_package(request_, package_id)
    organisation = exchange.organisation_public_if_any()
    record("exchange.printout", target_type="case", target_id=case.id, request=request_.id, package=row.id)
    return render_template("coordination/exchange_printout.html", case=case, request_=request_, row=row,
                           digest=exchange.digest_text(row.sha256),
                           body_fingerprint=fingerprint_text(row.key_fingerprint),
                           organisation_fingerprint=fingerprint_text(organisation.fingerprint) if organisation else None)
