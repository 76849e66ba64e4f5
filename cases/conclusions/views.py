"""Conclusion pages on the `cases` blueprint: the officer drafts and submits; a supervisor
approves (re-entering a password or a TOTP code) or returns it; a closed case reopens for a
correction. Who may approve is cases/conclusions/rules.py; the operations enforce it."""

from __future__ import annotations

import uuid

from flask import flash, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from cases.actions import change_case, press_button, to_case, versioned
from cases.casework import operations
from cases.casework.blueprint import cases_bp
from cases.casework.forms import VersionedForm
from cases.conclusions import operations as conclusions
from cases.conclusions import rules
from cases.conclusions.forms import ApproveForm, ConclusionForm, ReturnForm
from protection.marking import mark_page_classification
from protection.policy import permission


@cases_bp.route("/<uuid:case_id>/conclusion", methods=["GET", "POST"])
@permission("case.work")
def conclusion(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="work")
    if not rules.drafting(case):
        flash(_("Chỉ soạn kết luận khi hồ sơ ở bước kết luận."), "info")
        return to_case(case)
    draft = conclusions.current(case)
    working = draft if rules.in_revision(draft) else None
    admission = case.kind == "review" and case.purpose == "party_admission"
    prefill = {}
    if working is not None:
        prefill = {"outcome": working.outcome, "reasoning": working.reasoning,
                   "admission_eligible": {True: "yes", False: "no"}.get(working.admission_eligible)}
    form = ConclusionForm(admission=admission, version=case.version,
                          **(prefill if request.method == "GET" else {}))
    done = change_case(case, form, lambda: conclusions.save_draft(case, conclusions.ConclusionData(
        outcome=form.outcome.data, reasoning=form.reasoning.data, admission_eligible=form.eligible()),
        by=current_user), _("Đã lưu dự thảo kết luận. Khi hoàn chỉnh, hãy trình phê duyệt."), anchor="conclusion")
    if done:
        return done
    operations.record_case_view(case, part="conclusion")
    return render_template("conclusions/form.html", case=case, form=form, working=working,
                           previous=draft if draft is not None and draft.state == "approved" else None)


@cases_bp.route("/<uuid:case_id>/conclusion/submit", methods=["POST"])
@permission("case.work")
def submit_conclusion(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="work")
    # A refusal rolls back: submit may have moved the draft before the case refused.
    return press_button(case, VersionedForm(), lambda: conclusions.submit(case, by=current_user),
                        _("Đã trình kết luận để phê duyệt."), anchor="conclusion")


def _render_approval(case, submitted, form, return_form):
    operations.record_case_view(case, part="approval")
    findings = operations.case_findings(case, current_user)
    mark_page_classification(*(item.classification for item in findings))
    return render_template("conclusions/approve.html", case=case, conclusion=submitted, form=form,
                           return_form=return_form, is_author=submitted.author_id == current_user.id,
                           findings=findings, finding_people=operations.finding_person_labels(case, findings))


def _nothing_to_decide(case):
    flash(_("Không có kết luận nào đang chờ phê duyệt."), "info")
    return to_case(case)


@cases_bp.route("/<uuid:case_id>/conclusion/approve", methods=["GET", "POST"])
@permission("case.approve")
def approve(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="view")
    submitted = conclusions.awaiting_decision(case)
    if submitted is None:
        return _nothing_to_decide(case)
    form = ApproveForm(version=case.version)
    # A refusal is not rolled back: its audit entry and the failed re-authentication's
    # lockout count must commit (approve refuses before it changes anything).
    done = change_case(case, form, lambda: conclusions.approve(case, form.secret.data, by=current_user,
                                                                  assertion=form.assertion.data),
                       lambda approved: _("Đã phê duyệt kết luận số %(number)s.", number=approved.document_number),
                       anchor="conclusion")
    return done or _render_approval(case, submitted, form, versioned(ReturnForm, case))


@cases_bp.route("/<uuid:case_id>/conclusion/return", methods=["POST"])
@permission("case.approve")
def return_conclusion(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="view")
    submitted = conclusions.awaiting_decision(case)
    if submitted is None:
        return _nothing_to_decide(case)
    form = ReturnForm()
    done = change_case(case, form, lambda: conclusions.return_for_revision(case, form.comment.data, by=current_user),
                       _("Đã trả lại kết luận để cán bộ chỉnh sửa."), anchor="conclusion")
    return done or _render_approval(case, submitted, versioned(ApproveForm, case), form)


@cases_bp.route("/<uuid:case_id>/correction", methods=["POST"])
@permission("case.work")
def correction(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="work")
    return press_button(case, VersionedForm(), lambda: conclusions.start_correction(case, by=current_user),
                        _("Hồ sơ đã mở lại để soạn kết luận đính chính."), anchor="conclusion")
