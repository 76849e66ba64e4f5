"""Case pages: the lists, the case page and its actions (steps, assignment, comments,
files, findings), break-the-glass. Reviews, petitions and conclusions have their own
folders; all of them serve the one `cases` blueprint (cases/casework/blueprint.py).

Thin views: load and authorise in one step, validate, call one operation through
cases/actions.py: refusals go beside the field they name, on the same page with
the user's input kept (status 200); a stale form sends the user back to the case page with
the message, so they see what changed before acting again.
"""

from __future__ import annotations

import uuid

from flask import abort, flash, render_template, request
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user

from audit.trail import record
from cases import labels
from cases.access import operations as access
from cases.actions import change_case, press_button, submit, to_case
from cases.casework import lists, operations, page
from cases.casework.blueprint import cases_bp
from cases.casework.forms import (
    AssignForm,
    AttachmentForm,
    BreakGlassForm,
    CaseFilterForm,
    CommentForm,
    FindingForm,
    TransitionForm,
    VersionedForm,
)
from cases.casework.operations import FindingData
from cases.conclusions import operations as conclusions
from cases.subjects import name_search
from protection import paging, policy
from protection.blobs import download_response
from protection.forms import show_error
from protection.marking import mark_page_classification
from protection.policy import permission
from protection.web import signed_in_user

# --- lists ----------------------------------------------------------------------------------


@cases_bp.route("/")
@permission("case.view")
def index():
    user = signed_in_user()
    views = lists.views_for(user)
    view = request.args.get("view", "mine")
    if view not in views:
        view = "mine"
    form = CaseFilterForm(request.args, user=user, states=list(labels.CASE_STATES))
    sort = paging.sort_choice(request.args, lists.SORTS, lists.default_sort(view))
    found = None
    if form.validate():
        found = lists.list_cases(user, lists.Filters(
            view=view, kind=form.kind.data or None, state=form.state.data or None,
            classification=form.classification.data or None, opened_from=form.opened_from.parsed,
            opened_to=form.opened_to.parsed, reference=(form.reference.data or "").strip() or None,
            subject_query=(form.subject.data or "").strip() or None,
            page=paging.page_number(request.args), sort=sort))
        mark_page_classification(*(row.classification for row in found.rows))
        if found.subject_too_common:
            show_error(form, name_search.too_common_message(), "subject")
    today = operations.today()
    return render_template("casework/list.html", form=form, page=found, view=view, views=views, today=today,
                           soon=lists.due_soon_limit(today), counts=lists.counts(user),
                           open_states=set(lists.OPEN_STATES), sorting=sort,
                           filtered=any(value.strip() for key, value in request.args.items()
                                        if key not in ("view", "page", "sort", "dir")))


# --- the case page --------------------------------------------------------------------------

@cases_bp.route("/<uuid:case_id>")
@permission("case.view")
def view(case_id: uuid.UUID):
    user = signed_in_user()
    # Loaded once: held here, it is what load_case below finds in the session.
    case = operations.find_case(case_id)
    offered = access.break_glass_offer(case, user)
    if offered is not None:
        # An officer of the unit, not assigned: refused (and recorded), with the offer to
        # open it in an emergency. The page shows only what they may know: the reference,
        # the state and the due date.
        policy.record_denial("case.view", status=403)
        return render_template("casework/restricted.html", case=offered, form=BreakGlassForm(),
                               today=operations.today()), 403
    return page.render_case(operations.load_case(case_id, need="view"), user)


@cases_bp.route("/<uuid:case_id>/break-glass", methods=["POST"])
@permission("case.view")
def break_glass(case_id: uuid.UUID):
    case = access.break_glass_offer(operations.find_case(case_id), current_user)
    if case is None:
        operations.load_case(case_id, need="view")  # 404 or 403 as for the page itself
        abort(400)  # they can already read it: nothing to open
    form = BreakGlassForm()
    done = submit(form, lambda: access.break_glass(case, form.reason.data, by=current_user), None,
                  lambda granted: _opened_in_emergency(case, granted))
    return done or render_template("casework/restricted.html", case=case, form=form, today=operations.today())


def _opened_in_emergency(case, granted):
    # A warning, not a success: the access will be reviewed.
    flash(_("Đã mở khẩn cấp hồ sơ đến %(time)s. Lượt truy cập này sẽ được kiểm tra.",
            time=format_datetime(granted.expires_at, "HH:mm dd/MM/yyyy")), "warning")
    return to_case(case)


@cases_bp.route("/<uuid:case_id>/transition", methods=["POST"])
@permission("case.work")
def transition(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="work")
    form = TransitionForm()
    action = form.action.data
    if action not in page.STEP_ACTIONS:
        abort(400)
    if action == "start_correction":
        def change():
            conclusions.start_correction(case, by=current_user)
    else:
        def change():
            operations.transition(case, action, by=current_user)
    return press_button(case, form, change,
                        lambda _result: _("Hồ sơ đã chuyển sang bước: %(state)s.", state=labels.state(case.state)))


@cases_bp.route("/<uuid:case_id>/assign", methods=["POST"])
@permission("case.assign")
def assign(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="assign")
    officers = operations.assignable_officers(case)
    form = AssignForm(officers=officers)

    def change():
        officer = next(user for user in officers if str(user.id) == form.officer.data)
        operations.assign(case, officer, by=current_user)

    done = change_case(case, form, change, _("Đã phân công cán bộ."), anchor="officers")
    return done or page.render_case(case, current_user, assign_form=form)


@cases_bp.route("/<uuid:case_id>/unassign/<uuid:user_id>", methods=["POST"])
@permission("case.assign")
def unassign(case_id: uuid.UUID, user_id: uuid.UUID):
    case = operations.load_case(case_id, need="assign")
    return press_button(case, VersionedForm(), lambda: operations.unassign(case, user_id, by=current_user),
                        _("Đã thôi phân công cán bộ."), anchor="officers")


@cases_bp.route("/<uuid:case_id>/comments", methods=["POST"])
@permission("case.work")
def comment(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="work")
    form = CommentForm()
    done = change_case(case, form, lambda: operations.add_comment(case, form.body.data, by=current_user),
                       _("Đã thêm ý kiến."), anchor="comments")
    return done or page.render_case(case, current_user, comment_form=form)


@cases_bp.route("/<uuid:case_id>/attachments", methods=["POST"])
@permission("case.work")
def upload(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="work")
    form = AttachmentForm(user=current_user)
    done = change_case(case, form, lambda: operations.add_attachment(
        case, form.file.data.stream, form.file.data.filename, form.classification.data, by=current_user),
        _("Đã tải tệp lên."), anchor="attachments")
    return done or page.render_case(case, current_user, attachment_form=form)


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
    people = [(key, operations.person_label(person)) for key, person in operations.finding_people(case)]
    form = FindingForm(user=current_user, people=people, version=case.version)
    if case.kind != "review":
        del form.person  # a petition's findings are about its content, not a dossier's person
    done = change_case(case, form, lambda: operations.add_finding(case, FindingData(
        person=form.person.data if case.kind == "review" else "", category=form.category.data,
        text=form.text.data, classification=form.classification.data, source=form.source.data,
        found_on=form.found_on.parsed), by=current_user), _("Đã ghi nhận nội dung."), anchor="findings")
    if done:
        return done
    operations.record_case_view(case, part="finding_form")
    return render_template("casework/finding_form.html", case=case, form=form)
