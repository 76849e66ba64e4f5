"""Petition pages on the `cases` blueprint: receiving a petition, its intake decision,
extending its deadline, and the petitioner's identity (shown only under a two-person release,
cases/petitions/release_views.py, and recorded)."""

from __future__ import annotations

import uuid

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from cases import labels
from cases.actions import change_case, open_from_form, to_case
from cases.casework import operations, page
from cases.casework.blueprint import cases_bp
from cases.casework.forms import form_token_in, new_form_token, uuid_in
from cases.casework.operations import CaseError
from cases.petitions import operations as petitions
from cases.petitions import releases
from cases.petitions.forms import DecisionForm, ExtendForm, PetitionForm
from cases.petitions.operations import Decision, PetitionData
from protection import policy
from protection.policy import permission


def _petition_data(form: PetitionForm) -> PetitionData:
    return PetitionData(
        received_on=form.received_on.parsed, channel=form.channel.data,
        petition_type=form.petition_type.data, classification=form.classification.data,
        summary=form.summary.data, anonymous=bool(form.anonymous.data),
        petitioner_name=form.petitioner_name.data, petitioner_address=form.petitioner_address.data,
        petitioner_contact=form.petitioner_contact.data, title=form.title.data,
        subject_id_numbers=(form.subject_id_numbers.data or "").splitlines(),
        named_people=[line for line in (form.named_people.data or "").splitlines() if line.strip()],
        repeat_of_reference=form.repeat_of_reference.data)


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
    done = open_from_form(form, lambda: petitions.receive_petition(_petition_data(form), by=current_user),
                          lambda case: _("Đã tiếp nhận đơn %(reference)s.", reference=case.reference))
    if done:
        return done
    form.form_token.data = form.form_token.data or token or new_form_token()
    return render_template("petitions/form.html", form=form,
                           already=operations.submitted_with(form.form_token.data, current_user))


@cases_bp.route("/<uuid:case_id>/petitioner")
@permission("case.view")
def petitioner(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="view")
    if case.kind != "petition":
        abort(404)
    if not policy.can_see_petitioner(current_user, case):
        policy.deny("case.view")
    try:
        release = releases.open_identity(case, by=current_user)
    except CaseError as refusal:
        # Recorded as a refused view; the way on is to ask (or to follow one's ask).
        flash(refusal.message, "warning")
        return redirect(url_for("cases.identity_release", case_id=case.id))
    return render_template("petitions/petitioner.html", case=case, petition=case.petition, release=release)


@cases_bp.route("/<uuid:case_id>/decision", methods=["GET", "POST"])
@permission("case.work")
def decide(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="work")
    if case.kind != "petition":
        abort(404)
    if not petitions.awaiting_decision(case):
        flash(_("Đơn này đã có quyết định xử lý."), "info")
        return to_case(case)
    units = [unit for unit in petitions.forwarding_units() if unit.id != case.owner_unit_id]
    form = DecisionForm(units=units, version=case.version)
    complaint = case.petition.petition_type == "complaint"
    done = change_case(case, form, lambda: petitions.decide(case, Decision(
        action=form.action.data, reason=form.reason.data or None, note=form.note.data,
        forwarded_to=uuid_in(form.forwarded_to.data),
        complex_case=complaint and bool(form.complex_case.data)), by=current_user),
        _("Đã ghi quyết định: %(decision)s.", decision=labels.of(labels.DECISIONS, form.action.data)))
    if done:
        return done
    operations.record_case_view(case, part="decision")
    return render_template("petitions/decision.html", case=case, petition=case.petition, form=form)


@cases_bp.route("/<uuid:case_id>/extend", methods=["POST"])
@permission("case.work")
def extend(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="work")
    form = ExtendForm()
    done = change_case(case, form, lambda: petitions.extend_deadline(case, by=current_user, note=form.note.data),
                       lambda due: _("Đã gia hạn đến %(date)s.", date=due.strftime("%d/%m/%Y")))
    return done or page.render_case(case, current_user, extend_form=form)
