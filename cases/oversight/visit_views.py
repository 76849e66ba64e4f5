"""Inspection visits on the `oversight` blueprint (/oversight/visits/...): the list (visits by
my unit, visits to my unit), recording a visit, its page (recommendations, reports, files),
a recommendation's form, a sub-unit's report, the inspectors' decisions and closing. Thin
views: load and authorise in one step (cases/oversight/visits.py, protection/policy.py),
validate, run one operation, flash, redirect. Every page that shows sealed content records
the read (oversight.visit.view, oversight.file.download)."""

from __future__ import annotations

import uuid

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from cases.actions import press, require_submitted, submit
from cases.oversight import visits
from cases.oversight.blueprint import oversight_bp
from cases.oversight.visit_forms import (
    AcceptForm,
    RecommendationForm,
    ReportForm,
    SendBackForm,
    VisitButtonForm,
    VisitFilterForm,
    VisitForm,
    WaiveForm,
)
from cases.oversight.visits import RecommendationData, Upload, VisitData
from protection import policy
from protection.blobs import download_response
from protection.marking import mark_page_classification
from protection.policy import permission
from protection.web import signed_in_user


def _to_visit(visit, anchor: str | None = None):
    return redirect(url_for("oversight.view_visit", visit_id=visit.id, _anchor=anchor))


def _uuid(text):
    try:
        return uuid.UUID(str(text)) if text else None
    except ValueError:
        return None


# --- the list -----------------------------------------------------------------------------------

@oversight_bp.route("/visits")
@permission("visit.view")
def visits_index():
    """Dates, units, states and counts only: nothing sealed is shown, so nothing is opened."""
    user = signed_in_user()
    form = VisitFilterForm(request.args)
    state = form.state.data if form.validate() else None
    found = visits.list_visits(user, state=state or None)
    tallies = visits.tallies(visit.id for rows in found.values() for visit in rows)
    return render_template("oversight/visits/index.html", form=form, found=found, tallies=tallies,
                           can_create=bool(visits.sub_units_of(user)), labels=visits)


# --- recording a visit ----------------------------------------------------------------------------

@oversight_bp.route("/visits/new", methods=["GET", "POST"])
@permission("visit.manage")
def new_visit():
    user = signed_in_user()
    form = VisitForm(user=user, units=visits.sub_units_of(user))
    done = submit(form, lambda: visits.create_visit(VisitData(
        sub_unit_id=_uuid(form.sub_unit_id.data), visited_on=form.visited_on.parsed, team=form.team.data,
        scope=form.scope.data, findings=form.findings.data, classification=form.classification.data), by=user),
        _("Đã ghi nhận đợt kiểm tra. Hãy thêm các khuyến nghị."), _to_visit)
    return done or render_template("oversight/visits/new.html", form=form)


# --- the visit's page -----------------------------------------------------------------------------

@oversight_bp.route("/visits/<uuid:visit_id>")
@permission("visit.view")
def view_visit(visit_id: uuid.UUID):
    visit = visits.load_visit(visit_id)
    user = signed_in_user()
    shown = visits.visible_recommendations(visit, user)
    visits.record_view(visit, recommendations=len(shown))
    mark_page_classification(visit.classification)
    return render_template("oversight/visits/view.html", visit=visit, recommendations=shown,
                           inspects=policy.inspects_visit(user, visit),
                           # A unit below the visited one sees the recommendations addressed to it, not the findings.
                           whole_visit=policy.inspects_visit(user, visit) or policy.is_visited(user, visit),
                           can_report=lambda item: policy.can_report_recommendation(user, visit, item),
                           is_overdue=visits.is_overdue, counts=visits.counts(visit), button=VisitButtonForm(),
                           labels=visits)


@oversight_bp.route("/visits/<uuid:visit_id>/close", methods=["POST"])
@permission("visit.manage")
def close_visit(visit_id: uuid.UUID):
    visit = visits.load_visit(visit_id, need="manage")
    require_submitted(VisitButtonForm())
    return press(lambda: visits.close_visit(visit, by=current_user), _("Đã kết thúc đợt kiểm tra."),
                 lambda _result: _to_visit(visit))


@oversight_bp.route("/visits/<uuid:visit_id>/files/<uuid:file_id>")
@permission("visit.view")
def download_file(visit_id: uuid.UUID, file_id: uuid.UUID):
    visit = visits.load_visit(visit_id)
    item = visits.load_file(visit, file_id)
    visits.record_download(visit, item)
    return download_response(item.blob)


# --- recommendations ----------------------------------------------------------------------------------

@oversight_bp.route("/visits/<uuid:visit_id>/recommendations/new", methods=["GET", "POST"])
@permission("visit.manage")
def new_recommendation(visit_id: uuid.UUID):
    """The form shows the visit's date and units only (no sealed content)."""
    visit = visits.load_visit(visit_id, need="manage")
    form = RecommendationForm(visit=visit, units=visits.responsible_units(visit))
    done = submit(form, lambda: visits.add_recommendation(visit, _recommendation_data(form), by=current_user),
                  lambda item: _("Đã thêm khuyến nghị số %(number)d.", number=item.number),
                  lambda item: _to_visit(visit, f"recommendation-{item.number}"))
    return done or render_template("oversight/visits/recommendation.html", visit=visit, form=form, recommendation=None)


@oversight_bp.route("/visits/<uuid:visit_id>/recommendations/<uuid:recommendation_id>/edit", methods=["GET", "POST"])
@permission("visit.manage")
def edit_recommendation(visit_id: uuid.UUID, recommendation_id: uuid.UUID):
    visit = visits.load_visit(visit_id, need="manage")
    item = visits.load_recommendation(visit, recommendation_id, need="manage")
    form = RecommendationForm(visit=visit, units=visits.responsible_units(visit),
                              data={"text": item.text, "due_on": item.due_on,
                                    "responsible_unit_id": str(item.responsible_unit_id)}
                              if request.method == "GET" else None)
    done = submit(form, lambda: visits.edit_recommendation(item, _recommendation_data(form), by=current_user),
                  lambda _item: _("Đã sửa khuyến nghị số %(number)d.", number=item.number),
                  lambda _item: _to_visit(visit, f"recommendation-{item.number}"))
    if done:
        return done
    visits.record_view(visit, part="recommendation", recommendation=item.id)
    mark_page_classification(visit.classification)
    return render_template("oversight/visits/recommendation.html", visit=visit, form=form, recommendation=item)


def _recommendation_data(form) -> RecommendationData:
    return RecommendationData(text=form.text.data, due_on=form.due_on.parsed,
                              responsible_unit_id=_uuid(form.responsible_unit_id.data))


# --- the sub-unit's report ----------------------------------------------------------------------------

@oversight_bp.route("/visits/<uuid:visit_id>/recommendations/<uuid:recommendation_id>/report",
                    methods=["GET", "POST"])
@permission("visit.report")
def report(visit_id: uuid.UUID, recommendation_id: uuid.UUID):
    visit = visits.load_visit(visit_id)
    item = visits.load_recommendation(visit, recommendation_id, need="report")
    form = ReportForm()
    done = submit(form, lambda: visits.report(item, form.body.data, [
        Upload(upload.stream, upload.filename) for upload in form.chosen_files()], by=current_user),
        _("Đã gửi báo cáo thực hiện khuyến nghị."),
        lambda _entry: _to_visit(visit, f"recommendation-{item.number}"))
    if done:
        return done
    visits.record_view(visit, part="report_form", recommendation=item.id)
    mark_page_classification(visit.classification)
    return render_template("oversight/visits/report.html", visit=visit, recommendation=item, form=form,
                           is_overdue=visits.is_overdue, labels=visits)


# --- the inspectors' decisions --------------------------------------------------------------------------

def _decision_page(visit, item, accept_form=None, send_back_form=None, waive_form=None):
    visits.record_view(visit, part="decision", recommendation=item.id)
    mark_page_classification(visit.classification)
    return render_template("oversight/visits/decide.html", visit=visit, recommendation=item,
                           accept_form=accept_form or AcceptForm(formdata=None),
                           send_back_form=send_back_form or SendBackForm(formdata=None),
                           waive_form=waive_form or WaiveForm(formdata=None),
                           moves=visits.RECOMMENDATION_MOVES, is_overdue=visits.is_overdue, labels=visits)


@oversight_bp.route("/visits/<uuid:visit_id>/recommendations/<uuid:recommendation_id>")
@permission("visit.manage")
def decide(visit_id: uuid.UUID, recommendation_id: uuid.UUID):
    visit = visits.load_visit(visit_id, need="manage")
    item = visits.load_recommendation(visit, recommendation_id, need="manage")
    return _decision_page(visit, item)


def _decide(visit_id: uuid.UUID, recommendation_id: uuid.UUID, form_class, field: str, operation, message: str,
            page_form: str):
    """One inspectors' decision on a recommendation (accept, send back, waive): load and
    authorise, run `operation(item, the form's `field`, by=...)`, flash `message` (with the
    recommendation's number) and go back to the visit; a refused form shows the decision
    page again with this form's errors."""
    visit = visits.load_visit(visit_id, need="manage")
    item = visits.load_recommendation(visit, recommendation_id, need="manage")
    form = form_class()
    done = submit(form, lambda: operation(item, getattr(form, field).data, by=current_user),
                  message % {"number": item.number},
                  lambda _item: _to_visit(visit, f"recommendation-{item.number}"))
    return done or _decision_page(visit, item, **{page_form: form})


@oversight_bp.route("/visits/<uuid:visit_id>/recommendations/<uuid:recommendation_id>/accept", methods=["POST"])
@permission("visit.manage")
def accept(visit_id: uuid.UUID, recommendation_id: uuid.UUID):
    return _decide(visit_id, recommendation_id, AcceptForm, "accept_note", visits.accept,
                   _("Đã chấp nhận kết quả thực hiện khuyến nghị số %(number)d."), "accept_form")


@oversight_bp.route("/visits/<uuid:visit_id>/recommendations/<uuid:recommendation_id>/send-back", methods=["POST"])
@permission("visit.manage")
def send_back(visit_id: uuid.UUID, recommendation_id: uuid.UUID):
    return _decide(visit_id, recommendation_id, SendBackForm, "note", visits.send_back,
                   _("Đã trả lại khuyến nghị số %(number)d để đơn vị thực hiện tiếp."), "send_back_form")


@oversight_bp.route("/visits/<uuid:visit_id>/recommendations/<uuid:recommendation_id>/waive", methods=["POST"])
@permission("visit.manage")
def waive(visit_id: uuid.UUID, recommendation_id: uuid.UUID):
    return _decide(visit_id, recommendation_id, WaiveForm, "reason", visits.waive,
                   _("Đã miễn thực hiện khuyến nghị số %(number)d."), "waive_form")
