"""Coordination requests: the officer's side (send, read the answer, accept or ask for
more) and the liaison's side (inbox, acknowledge, log findings, answer).

Thin views: load and authorise in one step, validate the form, call one service of
cases/coordination/operations.py through cases/actions.py (`change_request`: the request's
version, a lost race told as a stale form), flash, redirect. A refusal goes beside its field
on the same page (status 200, input kept). A liaison reaches a request only through
`coordination.load_for_liaison`, which answers 404 for anything not addressed to their
body; their pages show the package and their own answer, never the rest of the case.
Flash messages, audit details and URLs carry no protected text.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.routing import BuildError

from audit.trail import record
from cases import actions, labels
from cases.casework import operations
from cases.casework.forms import new_form_token
from cases.casework.operations import FindingData
from cases.coordination import operations as coordination
from cases.coordination.forms import (
    FINDING_CATEGORY_LABELS,
    AcknowledgeForm,
    AnswerFileForm,
    AnswerForm,
    BodyFindingForm,
    FollowUpForm,
    RequestForm,
    VersionedForm,
    parse_ids,
)
from cases.coordination.operations import RequestData
from cases.models import Case, CoordinationRequest
from protection import paging, policy
from protection.blobs import download_response
from protection.marking import mark_page_classification
from protection.policy import permission

coordination_bp = Blueprint("coordination", __name__)

STATE_LABELS = labels.REQUEST_STATES


def state_label(state: str) -> str:
    return str(STATE_LABELS.get(state, state))


def category_label(code: str) -> str:
    return str(FINDING_CATEGORY_LABELS.get(code, code))


@coordination_bp.app_context_processor
def _labels():
    return {"request_state_label": state_label, "finding_category_label": category_label}


# --- the officer's side ------------------------------------------------------------------------

def case_url(case: Case) -> str | None:
    """The case page, once the cases blueprint serves it (built alongside these pages)."""
    try:
        return url_for("cases.view", case_id=case.id)
    except BuildError:
        return None


def _request_form(case: Case, formdata=None) -> RequestForm:
    findings = operations.case_findings(case, current_user)
    attachments = operations.case_attachments(case, current_user)
    relatives = case.subject.relatives if case.subject is not None else []
    return RequestForm(formdata, bodies=coordination.coordinating_bodies(case), findings=findings,
                       attachments=attachments, has_subject=case.subject is not None,
                       relatives=[(relative, operations.person_label(relative)) for relative in relatives],
                       finding_people=operations.finding_person_labels(case, findings))


def _request_data(form: RequestForm) -> RequestData:
    body = form.body_unit_id.data
    return RequestData(body_unit_id=uuid.UUID(body) if body else None, questions=form.questions.data or "",
                       due_on=form.due_on.parsed, subject_fields=list(form.subject_fields.data or ()),
                       finding_ids=parse_ids(form.finding_ids.data),
                       attachment_ids=parse_ids(form.attachment_ids.data),
                       relative_ids=parse_ids(form.relative_ids.data),
                       relative_fields=list(form.relative_fields.data or ()))


@coordination_bp.route("/cases/<uuid:case_id>/requests/new", methods=["GET", "POST"])
@permission("case.work")
def new_request(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="work")
    form = _request_form(case, request.form if request.method == "POST" else None)
    if request.method == "GET":
        form.version.data = str(case.version)
        form.form_token.data = new_form_token()
    elif form.validate_on_submit():
        earlier = operations.earlier_submission(form.form_token.data, current_user)
        if earlier is not None and earlier.target_type == "coordination_request":
            # The same form sent twice (a double click, a resent POST): show the first result.
            flash(_("Yêu cầu này đã được gửi."), "info")
            return _to_request(case, earlier.target_id)

        def send():
            # The case's version: a stale form is told beside the form, here, not on the case page.
            operations.check_version(case, form.version.data)
            return coordination.send_request(case, _request_data(form), by=current_user)

        def sent(request_: CoordinationRequest):
            operations.remember_submission(form.form_token.data, current_user, "coordination_request", request_.id)
            return _to_request(case, request_.id)

        done = actions.run(form, lambda: actions.lost_race_told_as_stale(send), _("Đã gửi yêu cầu xác minh."), sent)
        if done:
            return done
        form.version.data = str(case.version)
    # The form lists the case's findings and files: a read of case content.
    operations.record_case_view(case, part="coordination_form")
    return render_template("coordination/request_form.html", case=case, form=form, case_url=case_url(case))


def _officer_page(case: Case, request_: CoordinationRequest, *, more_form: FollowUpForm | None = None):
    record("coordination.view", target_type="case", target_id=case.id, request=request_.id)
    version = str(request_.version)
    more_form = more_form or FollowUpForm(formdata=None, prefix="more")
    more_form.version.data = version
    accept_form = VersionedForm(formdata=None, prefix="accept")
    withdraw_form = VersionedForm(formdata=None, prefix="withdraw")
    accept_form.version.data = withdraw_form.version.data = version
    findings, attachments = coordination.body_findings(request_), coordination.body_attachments(request_)
    package = _officer_package(case, request_)
    mark_page_classification(*(item.classification for item in
                               findings + attachments + package["findings"] + package["attachments"]))
    return render_template(
        "coordination/officer.html", case=case, request_=request_, today=operations.today(),
        overdue=coordination.is_overdue(request_), findings=findings,
        finding_people=operations.finding_person_labels(case, findings + package["findings"]),
        attachments=attachments, package=package,
        can_work=policy.can_work_case(current_user, case), more_form=more_form, accept_form=accept_form,
        withdraw_form=withdraw_form,
        case_url=case_url(case))


def _officer_package(case: Case, request_: CoordinationRequest) -> dict:
    """What was disclosed, for the officer: field labels, and the shared findings and files."""
    shared_findings = set(request_.shared_finding_ids)
    shared_files = set(request_.shared_attachment_ids)
    return {
        "subject_fields": [coordination.SHAREABLE_SUBJECT_FIELDS[name] for name in request_.shared_subject_fields
                           if name in coordination.SHAREABLE_SUBJECT_FIELDS],
        "findings": [item for item in operations.case_findings(case, current_user) if str(item.id) in shared_findings],
        "attachments": [item for item in operations.case_attachments(case, current_user)
                        if str(item.id) in shared_files],
        "relatives": [operations.person_label(relative) for relative in coordination.shared_relatives(request_, for_body=False)],
        "relative_fields": [coordination.SHAREABLE_RELATIVE_FIELDS[name]
                            for name in request_.shared_relative_fields or ()
                            if name in coordination.SHAREABLE_RELATIVE_FIELDS],
    }


@coordination_bp.route("/cases/<uuid:case_id>/requests/<uuid:request_id>")
@permission("case.view")
def officer_view(case_id: uuid.UUID, request_id: uuid.UUID):
    case = operations.load_case(case_id, need="view")
    request_ = coordination.load_for_case(case, request_id)
    return _officer_page(case, request_)


def _to_request(case: Case, request_id: uuid.UUID):
    return redirect(url_for("coordination.officer_view", case_id=case.id, request_id=request_id))


def _officer_decision(case_id: uuid.UUID, request_id: uuid.UUID, form, decide, done: str):
    case = operations.load_case(case_id, need="work")
    request_ = coordination.load_for_case(case, request_id)
    if form.validate_on_submit():
        decided = actions.change_request(request_, form, decide, done, lambda _result: _to_request(case, request_.id))
        if decided:
            return decided
    elif form.errors.keys() - {"version", "follow_up"}:
        abort(400)  # no CSRF token: not a form of ours
    return _officer_page(case, request_, more_form=form if isinstance(form, FollowUpForm) else None)


@coordination_bp.route("/cases/<uuid:case_id>/requests/<uuid:request_id>/accept", methods=["POST"])
@permission("case.work")
def accept(case_id: uuid.UUID, request_id: uuid.UUID):
    return _officer_decision(case_id, request_id, VersionedForm(prefix="accept"),
                             lambda item: coordination.accept_answer(item, by=current_user),
                             _("Đã chấp nhận trả lời; kết quả xác minh đã được đưa vào hồ sơ."))


@coordination_bp.route("/cases/<uuid:case_id>/requests/<uuid:request_id>/more", methods=["POST"])
@permission("case.work")
def request_more(case_id: uuid.UUID, request_id: uuid.UUID):
    form = FollowUpForm(prefix="more")
    return _officer_decision(case_id, request_id, form,
                             lambda item: coordination.request_more(item, form.follow_up.data, by=current_user),
                             _("Đã gửi yêu cầu bổ sung."))


@coordination_bp.route("/cases/<uuid:case_id>/requests/<uuid:request_id>/withdraw", methods=["POST"])
@permission("case.work")
def withdraw(case_id: uuid.UUID, request_id: uuid.UUID):
    return _officer_decision(case_id, request_id, VersionedForm(prefix="withdraw"),
                             lambda item: coordination.withdraw(item, by=current_user),
                             _("Đã rút yêu cầu."))


@coordination_bp.route("/cases/<uuid:case_id>/requests/<uuid:request_id>/attachments/<uuid:attachment_id>")
@permission("case.view")
def officer_download(case_id: uuid.UUID, request_id: uuid.UUID, attachment_id: uuid.UUID):
    case = operations.load_case(case_id, need="view")
    request_ = coordination.load_for_case(case, request_id)
    attachment = operations.load_attachment(case, attachment_id, current_user)
    if attachment.request_id != request_.id and str(attachment.id) not in request_.shared_attachment_ids:
        policy.deny("case.view", status=404)
    record("attachment.download", target_type="case", target_id=case.id, attachment=attachment.id,
           request=request_.id)
    return download_response(attachment.blob)


# --- the liaison's side ------------------------------------------------------------------------

# The inbox's orders: plain columns only (the questions are sealed, so never by them).
INBOX_SORTS = {
    "due": (CoordinationRequest.due_on, Case.reference),
    "sent": (CoordinationRequest.sent_on, Case.reference),
    "reference": (Case.reference,),
    "state": (CoordinationRequest.state, CoordinationRequest.due_on),
}
INBOX_DEFAULT_SORT = paging.Sort("due")


@coordination_bp.route("/requests/")
@permission("coordination.respond")
def inbox():
    sort = paging.sort_choice(request.args, INBOX_SORTS, INBOX_DEFAULT_SORT)
    # Clearance and recusal are decided row by row after the database, so the page is cut
    # from the filtered rows (one body's requests: a short list).
    page = paging.paginate_rows(coordination.inbox(current_user, paging.sort_clause(sort, INBOX_SORTS)),
                                paging.page_number(request.args))
    record("coordination.list", target_type="coordination_request", results=len(page.rows))
    mark_page_classification(*(item.case.classification for item in page.rows))
    return render_template("coordination/inbox.html", page=page, sorting=sort, today=operations.today(),
                           rows=[(item, coordination.is_overdue(item)) for item in page.rows])


def _liaison_forms(request_: CoordinationRequest, **given) -> dict:
    case = request_.case
    levels = {"user_clearance": current_user.clearance, "case_classification": case.classification}
    forms = {
        "acknowledge_form": given.get("acknowledge_form") or AcknowledgeForm(formdata=None, prefix="ack"),
        "finding_form": given.get("finding_form") or BodyFindingForm(formdata=None, prefix="finding",
                                                                     people=_people(request_), **levels),
        "file_form": given.get("file_form") or AnswerFileForm(formdata=None, prefix="upload", **levels),
        "answer_form": given.get("answer_form") or AnswerForm(formdata=None, prefix="answer"),
    }
    for form in forms.values():
        form.version.data = str(request_.version)
    return forms


def _liaison_page(request_: CoordinationRequest, **given):
    record("coordination.view", target_type="coordination_request", target_id=request_.id)
    package = coordination.package(request_, current_user)
    findings, attachments = coordination.body_findings(request_), coordination.body_attachments(request_)
    mark_page_classification(request_.case.classification, *(item.classification for item in
                                                              package["findings"] + package["attachments"]
                                                              + findings + attachments))
    return render_template(
        "coordination/liaison.html", request_=request_, reference=request_.case.reference,
        overdue=coordination.is_overdue(request_), package=package, findings=findings, attachments=attachments,
        finding_people=coordination.liaison_person_labels(request_, findings + package["findings"]),
        today=operations.today(),
        # A refused form stays on the page with its message, whatever the state.
        working=coordination.being_answered(request_) or bool(given),
        **_liaison_forms(request_, **given))


@coordination_bp.route("/requests/<uuid:request_id>")
@permission("coordination.respond")
def liaison_view(request_id: uuid.UUID):
    return _liaison_page(coordination.load_for_liaison(request_id))


def _liaison_change(request_id: uuid.UUID, name: str, form, change: Callable[[CoordinationRequest], object],
                    done: str):
    request_ = coordination.load_for_liaison(request_id)
    if form.validate_on_submit():
        changed = actions.change_request(request_, form, change, done, lambda _result: redirect(
            url_for("coordination.liaison_view", request_id=request_.id)))
        if changed:
            return changed
    elif "csrf_token" in form.errors:
        abort(400)
    return _liaison_page(request_, **{name: form})


def _people(request_: CoordinationRequest) -> dict[str, str] | None:
    """Whom a review's finding may name, for the form (the service checks again)."""
    return coordination.disclosed_people(request_) if request_.case.kind == "review" else None


def _levels(request_id: uuid.UUID) -> dict:
    request_ = coordination.load_for_liaison(request_id)
    return {"user_clearance": current_user.clearance, "case_classification": request_.case.classification}


@coordination_bp.route("/requests/<uuid:request_id>/acknowledge", methods=["POST"])
@permission("coordination.respond")
def acknowledge(request_id: uuid.UUID):
    return _liaison_change(request_id, "acknowledge_form", AcknowledgeForm(prefix="ack"),
                           lambda item: coordination.acknowledge(item, by=current_user),
                           _("Đã xác nhận nhận yêu cầu."))


@coordination_bp.route("/requests/<uuid:request_id>/findings", methods=["POST"])
@permission("coordination.respond")
def log_finding(request_id: uuid.UUID):
    form = BodyFindingForm(prefix="finding", people=_people(coordination.load_for_liaison(request_id)),
                           **_levels(request_id))

    def log(item):
        person = form.person.data if "person" in form else ""
        data = FindingData(person=person or "", category=form.category.data, text=form.text.data or "",
                           classification=form.classification.data, source=form.source.data,
                           found_on=form.found_on.parsed)
        coordination.log_body_finding(item, data, by=current_user)

    return _liaison_change(request_id, "finding_form", form, log, _("Đã ghi kết quả xác minh."))


@coordination_bp.route("/requests/<uuid:request_id>/attachments", methods=["POST"])
@permission("coordination.respond")
def upload(request_id: uuid.UUID):
    form = AnswerFileForm(prefix="upload", **_levels(request_id))

    def attach(item):
        upload_ = form.file.data
        coordination.attach_to_answer(item, upload_.stream, upload_.filename, form.classification.data,
                                      by=current_user)

    return _liaison_change(request_id, "file_form", form, attach, _("Đã tải tệp lên."))


@coordination_bp.route("/requests/<uuid:request_id>/answer", methods=["POST"])
@permission("coordination.respond")
def answer(request_id: uuid.UUID):
    form = AnswerForm(prefix="answer")
    return _liaison_change(request_id, "answer_form", form,
                           lambda item: coordination.answer(item, form.answer.data, by=current_user),
                           _("Đã gửi trả lời."))


@coordination_bp.route("/requests/<uuid:request_id>/attachments/<uuid:attachment_id>")
@permission("coordination.respond")
def liaison_download(request_id: uuid.UUID, attachment_id: uuid.UUID):
    request_ = coordination.load_for_liaison(request_id)
    attachment = coordination.shared_attachment(request_, attachment_id, current_user)
    record("attachment.download", target_type="coordination_request", target_id=request_.id,
           attachment=attachment.id)
    return download_response(attachment.blob)
