"""Printing an approved conclusion (a PDF of numbered copies) and its copy register.

Loading answers like the case page: 404 when the user may not know the case, 403 when they
may know it but not print; a conclusion that is not approved, or belongs to another case,
answers 404. Every refusal is recorded by the policy.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from cases import actions
from cases.casework import operations
from cases.casework.forms import new_form_token
from cases.conclusions import operations as conclusions
from cases.models import Case, Conclusion
from cases.printing import operations as prints
from cases.printing.forms import PrintForm
from protection import policy
from protection.db import db
from protection.errors import render_error
from protection.policy import permission

prints_bp = Blueprint("prints", __name__, url_prefix="/cases")


@prints_bp.app_context_processor
def _print_helpers():
    # The case page asks the same predicate the routes enforce, to show its links.
    return {"can_print_conclusion": lambda case: policy.can_print_conclusion(current_user, case)}


def _load(case_id: uuid.UUID, conclusion_id: uuid.UUID, need: str) -> tuple[Case, Conclusion]:
    case = operations.load_case(case_id, need="view")
    if not policy.can_print_conclusion(current_user, case):
        policy.deny(need)
    conclusion = prints.approved_conclusion(case, conclusion_id)
    if conclusion is None:
        policy.deny(need, status=404)
    return case, conclusion


def _pdf(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Content-Length"] = str(len(data))
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _to_register(case: Case, conclusion: Conclusion):
    return redirect(url_for("prints.register", case_id=case.id, conclusion_id=conclusion.id))


@prints_bp.route("/<uuid:case_id>/conclusions/<uuid:conclusion_id>/print", methods=["GET", "POST"])
@permission("conclusion.print")
def print_conclusion(case_id: uuid.UUID, conclusion_id: uuid.UUID):
    case, conclusion = _load(case_id, conclusion_id, "conclusion.print")
    required = prints.copies_required(case)
    form = PrintForm(required=required)
    if request.method == "GET":
        form.form_token.data = new_form_token()
        form.copies.data = "" if required else "1"
        form.recipients.data = "\n".join(prints.default_recipients(case))
    if form.validate_on_submit():
        earlier = operations.earlier_submission(form.form_token.data, current_user)
        if earlier is not None:
            issued = prints.issued_by(earlier.target_id)
            flash(_("Biểu mẫu này đã được gửi: các bản số %(first)d–%(last)d đã được in và ghi sổ.",
                    first=issued.first_number, last=issued.last_number), "info")
            return _to_register(case, conclusion)
        def issued(printed):
            operations.remember_submission(form.form_token.data, current_user, "print_record", printed.record.id)
            return _pdf(printed.pdf, prints.file_name(conclusion))

        try:
            # No rollback on a refusal: a refused print of a superseded version keeps its audit entry.
            done = actions.run(form, lambda: prints.print_conclusion(
                current_user, case, conclusion, form.parsed, (form.recipients.data or "").splitlines()),
                None, issued)
        except prints.PrintFailed:
            db.session.rollback()
            return render_error(500, _("Không tạo được bản in. Không bản nào được cấp số hay ghi sổ. "
                                       "Hãy báo mã tham chiếu cho quản trị viên."))
        if done:
            return done
    form.form_token.data = form.form_token.data or new_form_token()
    prints.record_register_view(case, conclusion, page="print_form")
    return render_template("printing/form.html", case=case, conclusion=conclusion, form=form,
                           required=required, rows=prints.register(conclusion), max_copies=prints.MAX_COPIES,
                           replacement=conclusions.replacement_of(conclusion))


@prints_bp.route("/<uuid:case_id>/conclusions/<uuid:conclusion_id>/prints")
@permission("conclusion.print_register")
def register(case_id: uuid.UUID, conclusion_id: uuid.UUID):
    case, conclusion = _load(case_id, conclusion_id, "conclusion.print_register")
    rows = prints.register(conclusion)
    prints.record_register_view(case, conclusion, page="register")
    return render_template("printing/register.html", case=case, conclusion=conclusion, rows=rows,
                           replacement=conclusions.replacement_of(conclusion))
