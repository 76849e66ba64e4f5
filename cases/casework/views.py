"""Case pages: lists, opening reviews and petitions, the case page and its actions,
conclusions. Thin views: load and authorise in one step, validate, call one operation.

Refusals of an operation (CaseError) go beside the field they name, on the same page with
the user's input kept (status 200). A stale form (StaleCase) sends the user back to the
case page with the message, so they see what changed before acting again.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from audit.trail import record
from cases import labels, workflow
from cases.access import operations as access
from cases.casework import lists, operations
from cases.casework.forms import (
    ApproveForm,
    AssignForm,
    AttachmentForm,
    BreakGlassForm,
    CaseFilterForm,
    CommentForm,
    ConclusionForm,
    DecisionForm,
    ExtendForm,
    FindingForm,
    PetitionForm,
    ReturnForm,
    ReviewForm,
    TransitionForm,
    VersionedForm,
    form_token_in,
    new_form_token,
)
from cases.casework.operations import CaseError, FindingData, ReviewData, StaleCase
from cases.conclusions import operations as conclusions
from cases.conclusions import signing
from cases.coordination import operations as coordination
from cases.models import Case
from cases.petitions import operations as petitions
from cases.petitions.operations import Decision, PetitionData
from cases.subjects import name_search
from protection import paging, policy
from protection.blobs import download_response
from protection.db import db
from protection.forms import show_error
from protection.identity import Role
from protection.marking import mark_page_classification
from protection.policy import permission

cases_bp = Blueprint("cases", __name__, url_prefix="/cases")

# The plain steps the case page offers as buttons; conclusions and petition decisions
# have forms of their own.
STEP_ACTIONS = frozenset(labels.STEP_ACTIONS)


@cases_bp.app_context_processor
def _case_template_helpers():
    def case_counts():
        if not current_user.is_authenticated or not policy.can(current_user, "case.view"):
            return {}
        return lists.counts(current_user)

    return {"labels": labels, "case_counts": case_counts,
            "has_endpoint": lambda name: name in current_app.view_functions}


@cases_bp.errorhandler(StaleDataError)
def _lost_race(_error):
    """Two requests passed the version check together; the database's versioned UPDATE
    caught the second. Same answer as a stale form: nothing changed, look again."""
    db.session.rollback()
    case_id = (request.view_args or {}).get("case_id")
    flash(StaleCase().message, "danger")
    return redirect(url_for("cases.view", case_id=case_id) if case_id else url_for("cases.index"))


# --- small helpers --------------------------------------------------------------------------

def _uuid(text) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(text)) if text else None
    except ValueError:
        return None


def _to_case(case, anchor: str | None = None):
    return redirect(url_for("cases.view", case_id=case.id, _anchor=anchor))


def _refused(case, error: CaseError):
    """A bare button's refusal, or a stale form: nothing to keep, so back to the case
    with the message."""
    db.session.rollback()
    flash(error.message, "danger")
    return _to_case(case)


def _bare_action(case, form, change, done, anchor: str | None = None):
    """A button that carries only the case's version (already validated): check the
    version, run one operation, and go back to the case saying what happened (`done`, a
    text or a function giving it afterwards) or why not."""
    try:
        operations.check_version(case, form.version.data)
        change()
    except CaseError as error:  # a stale version included
        return _refused(case, error)
    flash(done() if callable(done) else done, "success")
    return _to_case(case, anchor)


def _versioned(form_class, case, **kwargs):
    """A fresh form (not filled from this request's POST) carrying the case's version."""
    return form_class(formdata=None, version=case.version, **kwargs)


def _finding_people(case) -> list[tuple[str, str]]:
    return [(key, operations.person_label(person)) for key, person in operations.finding_people(case)]


# --- lists ----------------------------------------------------------------------------------

@cases_bp.route("/")
@permission("case.view")
def index():
    view = request.args.get("view", "mine")
    if view not in lists.VIEWS or (view == "approval" and current_user.role != Role.SUPERVISOR):
        view = "mine"
    form = CaseFilterForm(request.args, user=current_user, states=list(labels.CASE_STATES))
    sort = paging.sort_choice(request.args, lists.SORTS, lists.default_sort(view))
    page = None
    if form.validate():
        page = lists.list_cases(current_user, lists.Filters(
            view=view, kind=form.kind.data or None, state=form.state.data or None,
            classification=form.classification.data or None, opened_from=form.opened_from.parsed,
            opened_to=form.opened_to.parsed, reference=(form.reference.data or "").strip() or None,
            subject_query=(form.subject.data or "").strip() or None,
            page=paging.page_number(request.args), sort=sort))
        mark_page_classification(*(row.classification for row in page.rows))
        if page.subject_too_common:
            show_error(form, name_search.too_common_message(), "subject")
    today = operations.today()
    return render_template("cases/case_list.html", form=form, page=page, view=view, today=today,
                           soon=lists.due_soon_limit(today), counts=lists.counts(current_user),
                           open_states=set(lists.OPEN_STATES), sorting=sort,
                           filtered=any(value.strip() for key, value in request.args.items()
                                        if key not in ("view", "page", "sort", "dir")))


# --- opening --------------------------------------------------------------------------------

def _earlier(token):
    earlier = operations.earlier_submission(token, current_user)
    if earlier is None:
        return None
    case = db.session.get(Case, earlier.target_id)
    flash(_("Biểu mẫu này đã được gửi: hồ sơ %(reference)s đã được tạo từ lần gửi trước, không tạo thêm hồ sơ trùng.",
            reference=case.reference) if case is not None else _("Biểu mẫu này đã được gửi."), "info")
    return redirect(url_for("cases.view", case_id=earlier.target_id))


@cases_bp.route("/reviews/new", methods=["GET", "POST"])
@permission("case.create")
def new_review():
    form = ReviewForm(user=current_user)
    if request.method == "GET":
        form.form_token.data = new_form_token()
        preselected = _uuid(request.args.get("subject"))
        form.subject_id.data = str(preselected) if preselected else ""
    if form.validate_on_submit():
        if (earlier := _earlier(form.form_token.data)) is not None:
            return earlier
        try:
            case = operations.open_review(ReviewData(
                subject_id=_uuid(form.subject_id.data), purpose=form.purpose.data,
                classification=form.classification.data, title=form.title.data, summary=form.summary.data,
                due_on=form.due_on.parsed), by=current_user)
        except CaseError as error:
            show_error(form, error.message, error.field)
        else:
            operations.remember_submission(form.form_token.data, current_user, "case", case.id)
            flash(_("Đã mở hồ sơ thẩm định %(reference)s.", reference=case.reference), "success")
            return _to_case(case)
    form.form_token.data = form.form_token.data or new_form_token()
    chosen_subject = lists.form_subject(current_user, _uuid(form.subject_id.data))
    return render_template("cases/case_review_form.html", form=form, subject=chosen_subject,
                           re_review=chosen_subject is not None and operations.needs_re_review(chosen_subject))


@cases_bp.route("/petitions/new", methods=["GET", "POST"])
@permission("case.create")
def new_petition():
    # The one-time token lives in the page's address too: Back (the page is never cached,
    # so the browser fetches it again) returns to the same token, and a second submit of
    # the same petition finds the first instead of making a twin (issue 17).
    token = form_token_in(request.args.get("form"))
    if request.method == "GET" and token is None:
        return redirect(url_for("cases.new_petition", form=new_form_token()))
    form = PetitionForm(user=current_user)
    if request.method == "GET":
        form.form_token.data = token
        form.received_on.process_data(operations.today())
    if form.validate_on_submit():
        if (earlier := _earlier(form.form_token.data)) is not None:
            return earlier
        named = [line for line in (form.named_people.data or "").splitlines() if line.strip()]
        try:
            case = petitions.receive_petition(PetitionData(
                received_on=form.received_on.parsed, channel=form.channel.data,
                petition_type=form.petition_type.data, classification=form.classification.data,
                summary=form.summary.data, anonymous=bool(form.anonymous.data),
                petitioner_name=form.petitioner_name.data, petitioner_address=form.petitioner_address.data,
                petitioner_contact=form.petitioner_contact.data, title=form.title.data,
                subject_id_numbers=(form.subject_id_numbers.data or "").splitlines(),
                named_people=named, repeat_of_reference=form.repeat_of_reference.data), by=current_user)
        except CaseError as error:
            show_error(form, error.message, error.field)
        else:
            operations.remember_submission(form.form_token.data, current_user, "case", case.id)
            flash(_("Đã tiếp nhận đơn %(reference)s.", reference=case.reference), "success")
            return _to_case(case)
    form.form_token.data = form.form_token.data or token or new_form_token()
    return render_template("cases/case_petition_form.html", form=form,
                           already=operations.submitted_with(form.form_token.data, current_user))


# --- the case page --------------------------------------------------------------------------

def _render_case(case, status: int = 200, **forms):
    """The case page; `forms` replace the blank ones (a refused POST keeps its input)."""
    operations.record_case_view(case)
    user = current_user
    can_work = policy.can_work_case(user, case)
    can_assign = policy.can_assign_case(user, case)
    role = user.role.value
    steps = [item for item in workflow.CASE_WORKFLOWS[case.kind].actions(case.state, role)
             if item.action in STEP_ACTIONS] if can_work else []
    versions = conclusions.conclusions(case)
    current = versions[-1] if versions else None
    signatures = {item.id: (conclusions.verified(item), signing.check_value(item))
                  for item in versions if item.state == "approved"}
    requests_ = coordination.case_requests(case)
    findings = operations.case_findings(case, user)
    context = {
        "case": case,
        "emergency": access.active_access(case, user) if not policy.is_assigned(user, case) else None,
        "emergency_accesses": access.case_accesses(case) if user.role == Role.SUPERVISOR or can_work else [],
        "petition": case.petition,
        "can_work": can_work,
        "can_assign": can_assign,
        "can_approve": policy.can(user, "case.approve") and current is not None and current.state == "submitted"
        and case.state == "submitted",
        "is_author": current is not None and current.author_id == user.id,
        "steps": steps,
        "re_review": case.subject is not None and operations.needs_re_review(case.subject),
        "repeats": petitions.repeats_of(case) if case.kind == "petition" else [],
        "can_extend": can_work and petitions.can_extend(case),
        "can_decide": can_work and case.kind == "petition" and case.state in ("received", "monitoring"),
        "can_see_petitioner": case.kind == "petition" and policy.can_see_petitioner(user, case),
        "officers": operations.assignable_officers(case) if can_assign else [],
        "findings": findings,
        "finding_people": operations.finding_person_labels(case, findings),
        "attachments": operations.case_attachments(case, user),
        "comments": operations.comments(case),
        "timeline": operations.timeline(case),
        "extensions": petitions.extensions_of(case) if case.extensions else {},
        "versions": versions,
        "current": current,
        "signatures": signatures,
        "superseded_by": conclusions.superseded_by(versions),
        "requests": [(item, coordination.is_overdue(item)) for item in requests_],
        "can_request": can_work and case.state == "verification",
        "today": operations.today(),
        "soon": lists.due_soon_limit(operations.today()),
    }
    mark_page_classification(*(item.classification for item in context["findings"] + context["attachments"]))
    context["transition_form"] = forms.get("transition_form") or _versioned(TransitionForm, case)
    context["bare_form"] = _versioned(VersionedForm, case)
    context["assign_form"] = forms.get("assign_form") or _versioned(AssignForm, case, officers=context["officers"])
    context["comment_form"] = forms.get("comment_form") or _versioned(CommentForm, case)
    context["attachment_form"] = forms.get("attachment_form") or _versioned(AttachmentForm, case, user=user)
    context["extend_form"] = forms.get("extend_form") or _versioned(ExtendForm, case)
    return render_template("cases/case.html", **context), status


@cases_bp.route("/<uuid:case_id>")
@permission("case.view")
def view(case_id: uuid.UUID):
    offered = access.break_glass_offer(case_id, current_user)
    if offered is not None:
        # An officer of the unit, not assigned: refused (and recorded), with the offer to
        # open it in an emergency. The page shows only what they may know: the reference,
        # the state and the due date.
        policy.record_denial("case.view", status=403)
        return render_template("cases/case_restricted.html", case=offered, form=BreakGlassForm(),
                               today=operations.today()), 403
    return _render_case(operations.load_case(case_id, need="view"))


@cases_bp.route("/<uuid:case_id>/break-glass", methods=["POST"])
@permission("case.view")
def break_glass(case_id: uuid.UUID):
    case = access.break_glass_offer(case_id, current_user)
    if case is None:
        operations.load_case(case_id, need="view")  # 404 or 403 as for the page itself
        abort(400)  # they can already read it: nothing to open
    form = BreakGlassForm()
    if form.validate_on_submit():
        try:
            granted = access.break_glass(case, form.reason.data, by=current_user)
        except CaseError as error:
            show_error(form, error.message, error.field)
        else:
            flash(_("Đã mở khẩn cấp hồ sơ đến %(time)s. Lượt truy cập này sẽ được kiểm tra.",
                    time=format_datetime(granted.expires_at, "HH:mm dd/MM/yyyy")), "warning")
            return _to_case(case)
    return render_template("cases/case_restricted.html", case=case, form=form, today=operations.today())


@cases_bp.route("/<uuid:case_id>/petitioner")
@permission("case.view")
def petitioner(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="view")
    if case.kind != "petition":
        abort(404)
    if not policy.can_see_petitioner(current_user, case):
        policy.deny("case.view")
    petitions.record_petitioner_view(case, by=current_user)
    return render_template("cases/case_petitioner.html", case=case, petition=case.petition)


@cases_bp.route("/<uuid:case_id>/transition", methods=["POST"])
@permission("case.work")
def transition(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="work")
    form = TransitionForm()
    if not form.validate_on_submit() or form.action.data not in STEP_ACTIONS:
        abort(400)
    if form.action.data == "start_correction":
        def change():
            conclusions.start_correction(case, by=current_user)
    else:
        def change():
            operations.transition(case, form.action.data, by=current_user)
    return _bare_action(case, form, change,
                        lambda: _("Hồ sơ đã chuyển sang bước: %(state)s.", state=labels.state(case.state)))


@cases_bp.route("/<uuid:case_id>/decision", methods=["GET", "POST"])
@permission("case.work")
def decide(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="work")
    if case.kind != "petition":
        abort(404)
    if case.state not in ("received", "monitoring"):
        flash(_("Đơn này đã có quyết định xử lý."), "info")
        return _to_case(case)
    units = [unit for unit in petitions.forwarding_units() if unit.id != case.owner_unit_id]
    form = DecisionForm(units=units, version=case.version)
    if form.validate_on_submit():
        complaint = case.petition.petition_type == "complaint"
        try:
            operations.check_version(case, form.version.data)
            petitions.decide(case, Decision(
                action=form.action.data, reason=form.reason.data or None, note=form.note.data,
                forwarded_to=_uuid(form.forwarded_to.data),
                complex_case=complaint and bool(form.complex_case.data)), by=current_user)
        except StaleCase as error:
            return _refused(case, error)
        except CaseError as error:
            show_error(form, error.message, error.field)
        else:
            flash(_("Đã ghi quyết định: %(decision)s.", decision=labels.of(labels.DECISIONS, form.action.data)),
                  "success")
            return _to_case(case)
    operations.record_case_view(case, part="decision")
    return render_template("cases/case_decision.html", case=case, petition=case.petition, form=form)


@cases_bp.route("/<uuid:case_id>/extend", methods=["POST"])
@permission("case.work")
def extend(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="work")
    form = ExtendForm()
    if form.validate_on_submit():
        try:
            operations.check_version(case, form.version.data)
            due = petitions.extend_deadline(case, by=current_user, note=form.note.data)
        except StaleCase as error:
            return _refused(case, error)
        except CaseError as error:
            show_error(form, error.message, error.field)
        else:
            flash(_("Đã gia hạn đến %(date)s.", date=due.strftime("%d/%m/%Y")), "success")
            return _to_case(case)
    return _render_case(case, extend_form=form)


@cases_bp.route("/<uuid:case_id>/assign", methods=["POST"])
@permission("case.assign")
def assign(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="assign")
    officers = operations.assignable_officers(case)
    form = AssignForm(officers=officers)
    if form.validate_on_submit():
        officer = next(user for user in officers if str(user.id) == form.officer.data)
        try:
            operations.check_version(case, form.version.data)
            operations.assign(case, officer, by=current_user)
        except StaleCase as error:
            return _refused(case, error)
        except CaseError as error:
            show_error(form, error.message, error.field)
        else:
            flash(_("Đã phân công cán bộ."), "success")
            return _to_case(case, "officers")
    return _render_case(case, assign_form=form)


@cases_bp.route("/<uuid:case_id>/unassign/<uuid:user_id>", methods=["POST"])
@permission("case.assign")
def unassign(case_id: uuid.UUID, user_id: uuid.UUID):
    case = operations.load_case(case_id, need="assign")
    form = VersionedForm()
    if not form.validate_on_submit():
        abort(400)
    return _bare_action(case, form, lambda: operations.unassign(case, user_id, by=current_user),
                        _("Đã thôi phân công cán bộ."), "officers")


@cases_bp.route("/<uuid:case_id>/comments", methods=["POST"])
@permission("case.work")
def comment(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="work")
    form = CommentForm()
    if form.validate_on_submit():
        try:
            operations.check_version(case, form.version.data)
            operations.add_comment(case, form.body.data, by=current_user)
        except StaleCase as error:
            return _refused(case, error)
        except CaseError as error:
            show_error(form, error.message, error.field)
        else:
            flash(_("Đã thêm ý kiến."), "success")
            return _to_case(case, "comments")
    return _render_case(case, comment_form=form)


@cases_bp.route("/<uuid:case_id>/attachments", methods=["POST"])
@permission("case.work")
def upload(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="work")
    form = AttachmentForm(user=current_user)
    if form.validate_on_submit():
        try:
            operations.check_version(case, form.version.data)
            operations.add_attachment(case, form.file.data.stream, form.file.data.filename,
                                      form.classification.data, by=current_user)
        except StaleCase as error:
            return _refused(case, error)
        except CaseError as error:
            show_error(form, error.message, error.field)
        else:
            flash(_("Đã tải tệp lên."), "success")
            return _to_case(case, "attachments")
    return _render_case(case, attachment_form=form)


@cases_bp.route("/<uuid:case_id>/attachments/<uuid:attachment_id>")
@permission("case.view")
def download(case_id: uuid.UUID, attachment_id: uuid.UUID):
    case = operations.load_case(case_id, need="view")
    attachment = operations.load_attachment(case, attachment_id, current_user)
    record("attachment.download", target_type="case", target_id=case.id, attachment=attachment.id)
    return download_response(attachment.blob)


@cases_bp.route("/<uuid:case_id>/findings/new", methods=["GET", "POST"])
@permission("case.work")
def add_finding(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="work")
    form = FindingForm(user=current_user, people=_finding_people(case), version=case.version)
    if case.kind != "review":
        del form.person  # a petition's findings are about its content, not a dossier's person
    if form.validate_on_submit():
        try:
            operations.check_version(case, form.version.data)
            operations.add_finding(case, FindingData(
                person=form.person.data if case.kind == "review" else "", category=form.category.data,
                text=form.text.data, classification=form.classification.data, source=form.source.data,
                found_on=form.found_on.parsed), by=current_user)
        except StaleCase as error:
            return _refused(case, error)
        except CaseError as error:
            show_error(form, error.message, error.field)
        else:
            flash(_("Đã ghi nhận nội dung."), "success")
            return _to_case(case, "findings")
    operations.record_case_view(case, part="finding_form")
    return render_template("cases/case_finding_form.html", case=case, form=form)


# --- conclusions ----------------------------------------------------------------------------

@cases_bp.route("/<uuid:case_id>/conclusion", methods=["GET", "POST"])
@permission("case.work")
def conclusion(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="work")
    if case.state != "concluding":
        flash(_("Chỉ soạn kết luận khi hồ sơ ở bước kết luận."), "info")
        return _to_case(case)
    draft = conclusions.current(case)
    working = draft if draft is not None and draft.state in ("draft", "returned") else None
    admission = case.kind == "review" and case.purpose == "party_admission"
    prefill = {}
    if working is not None:
        prefill = {"outcome": working.outcome, "reasoning": working.reasoning,
                   "admission_eligible": {True: "yes", False: "no"}.get(working.admission_eligible)}
    form = ConclusionForm(admission=admission, version=case.version,
                          **(prefill if request.method == "GET" else {}))
    if form.validate_on_submit():
        try:
            operations.check_version(case, form.version.data)
            conclusions.save_draft(case, conclusions.ConclusionData(
                outcome=form.outcome.data, reasoning=form.reasoning.data, admission_eligible=form.eligible()),
                by=current_user)
        except StaleCase as error:
            return _refused(case, error)
        except CaseError as error:
            show_error(form, error.message, error.field)
        else:
            flash(_("Đã lưu dự thảo kết luận. Khi hoàn chỉnh, hãy trình phê duyệt."), "success")
            return _to_case(case, "conclusion")
    operations.record_case_view(case, part="conclusion")
    return render_template("cases/case_conclusion_form.html", case=case, form=form, working=working,
                           previous=draft if draft is not None and draft.state == "approved" else None)


@cases_bp.route("/<uuid:case_id>/conclusion/submit", methods=["POST"])
@permission("case.work")
def submit_conclusion(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="work")
    form = VersionedForm()
    if not form.validate_on_submit():
        abort(400)
    # A refusal rolls back: submit may have moved the draft before the case refused.
    return _bare_action(case, form, lambda: conclusions.submit(case, by=current_user),
                        _("Đã trình kết luận để phê duyệt."), "conclusion")


def _render_approval(case, submitted, form, return_form):
    operations.record_case_view(case, part="approval")
    findings = operations.case_findings(case, current_user)
    mark_page_classification(*(item.classification for item in findings))
    return render_template("cases/case_approve.html", case=case, conclusion=submitted, form=form,
                           return_form=return_form, is_author=submitted.author_id == current_user.id,
                           findings=findings, finding_people=operations.finding_person_labels(case, findings))


def _submitted(case):
    submitted = conclusions.current(case)
    if case.state != "submitted" or submitted is None or submitted.state != "submitted":
        return None
    return submitted


@cases_bp.route("/<uuid:case_id>/conclusion/approve", methods=["GET", "POST"])
@permission("case.approve")
def approve(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="view")
    submitted = _submitted(case)
    if submitted is None:
        flash(_("Không có kết luận nào đang chờ phê duyệt."), "info")
        return _to_case(case)
    form = ApproveForm(version=case.version)
    if form.validate_on_submit():
        try:
            operations.check_version(case, form.version.data)
            approved = conclusions.approve(case, form.secret.data, by=current_user)
        except StaleCase as error:
            return _refused(case, error)
        except CaseError as error:
            # No rollback: the refusal's audit entry and the failed re-authentication's
            # lockout count must commit (approve refuses before it changes anything).
            show_error(form, error.message, error.field)
        else:
            flash(_("Đã phê duyệt kết luận số %(number)s.", number=approved.document_number), "success")
            return _to_case(case, "conclusion")
    return _render_approval(case, submitted, form, _versioned(ReturnForm, case))


@cases_bp.route("/<uuid:case_id>/conclusion/return", methods=["POST"])
@permission("case.approve")
def return_conclusion(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="view")
    submitted = _submitted(case)
    if submitted is None:
        flash(_("Không có kết luận nào đang chờ phê duyệt."), "info")
        return _to_case(case)
    form = ReturnForm()
    if form.validate_on_submit():
        try:
            operations.check_version(case, form.version.data)
            conclusions.return_for_revision(case, form.comment.data, by=current_user)
        except StaleCase as error:
            return _refused(case, error)
        except CaseError as error:
            show_error(form, error.message, error.field)
        else:
            flash(_("Đã trả lại kết luận để cán bộ chỉnh sửa."), "success")
            return _to_case(case, "conclusion")
    return _render_approval(case, submitted, _versioned(ApproveForm, case), form)


@cases_bp.route("/<uuid:case_id>/correction", methods=["POST"])
@permission("case.work")
def correction(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="work")
    form = VersionedForm()
    if not form.validate_on_submit():
        abort(400)
    return _bare_action(case, form, lambda: conclusions.start_correction(case, by=current_user),
                        _("Hồ sơ đã mở lại để soạn kết luận đính chính."), "conclusion")
