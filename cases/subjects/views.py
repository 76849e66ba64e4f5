"""Subject dossiers: search, create, view, edit, relatives, export. Thin views: load and
authorise in one step, then cases/actions.py validates the form, calls one operation (a
refusal goes beside its field), flashes and redirects."""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from cases.actions import submit
from cases.casework import lists
from cases.reviews import operations as reviews
from cases.subjects import name_search
from cases.subjects import operations as subjects
from cases.subjects.forms import RelativeForm, SubjectForm, SubjectSearchForm
from cases.subjects.operations import RelativeData, SubjectData
from cases.subjects.relations import relation_label, sex_label
from protection import paging, policy
from protection.forms import ConfirmForm, show_error
from protection.marking import mark_page_classification
from protection.policy import permission
from protection.web import signed_in_user

subjects_bp = Blueprint("subjects", __name__, url_prefix="/subjects")


def _subject_data(form: SubjectForm) -> SubjectData:
    return SubjectData(
        full_name=form.full_name.data, date_of_birth=form.date_of_birth.parsed, id_number=form.id_number.data,
        other_names=form.other_names.data, sex=form.sex.data or None, native_place=form.native_place.data,
        residence=form.residence.data, ethnicity=form.ethnicity.data, religion=form.religion.data,
        current_unit=form.current_unit.data, position=form.position.data,
        party_admission_date=form.party_admission_date.parsed, party_official_date=form.party_official_date.parsed,
        notes=form.notes.data,
    )


def _relative_data(form: RelativeForm) -> RelativeData:
    return RelativeData(relation=form.relation.data, full_name=form.full_name.data, birth_year=form.birth_year.data,
                        residence=form.residence.data, occupation=form.occupation.data,
                        party_member=bool(form.party_member.data), id_number=form.id_number.data)


def _to_subject(subject_id: uuid.UUID):
    return redirect(url_for("subjects.view", subject_id=subject_id))


def _changed(changed: bool) -> str:
    return _("Đã lưu thay đổi.") if changed else _("Không có gì thay đổi.")


# Search results are the exact matches of a blind-index search (a handful of people), and
# they are decrypted anyway to be shown: they are ordered here, in memory. The database
# never orders subjects by name or date of birth: it holds only their ciphertext.
RESULT_SORTS = {
    "name": lambda subject: (subject.full_name, subject.date_of_birth),
    "birth": lambda subject: (subject.date_of_birth, subject.full_name),
    "unit": lambda subject: (subject.owner_unit.code, subject.full_name),
}
DEFAULT_RESULT_SORT = paging.Sort("name")


@subjects_bp.route("/")
@permission("subject.view")
def index():
    form = SubjectSearchForm(request.args)
    sort = paging.sort_choice(request.args, RESULT_SORTS, DEFAULT_RESULT_SORT)
    number = paging.page_number(request.args)
    searched = bool((form.q.data or "").strip()) and form.validate()
    found = subjects.search_subjects(current_user, form.q.data) if searched else None
    if found is not None and found.too_common:
        show_error(form, name_search.too_common_message(), "q")
    page = paging.paginate_rows(paging.sort_rows(found.results if found else [], sort, RESULT_SORTS), number)
    return render_template("subjects/index.html", form=form, results=page.rows, page=page, sorting=sort,
                           searched=searched, too_common=bool(found and found.too_common),
                           words_incomplete=bool(found and found.words_incomplete),
                           can_export=policy.can(current_user, "subject.export"))


@subjects_bp.route("/new", methods=["GET", "POST"])
@permission("subject.edit")
def create():
    form = SubjectForm()
    done = submit(form, lambda: subjects.create_subject(_subject_data(form), owner_unit=current_user.unit,
                                                        by=current_user), _("Đã tạo hồ sơ đối tượng."),
                  lambda subject: _to_subject(subject.id))
    return done or render_template("subjects/form.html", form=form, title=_("Thêm đối tượng"),
                           action=url_for("subjects.create"), back_url=url_for("subjects.index"))


@subjects_bp.route("/<uuid:subject_id>")
@permission("subject.view")
def view(subject_id: uuid.UUID):
    subject = subjects.load_subject(subject_id, "subject.view")
    subjects.record_view(subject)
    user = signed_in_user()
    history = lists.subject_history(subject, user)
    # The history lists classified cases and their conclusions: the page carries their marking.
    mark_page_classification(*(case.classification for case in history["reviews"] + history["petitions"]))
    return render_template("subjects/subject.html", subject=subject, relatives=subject.relatives,
                           confirm_form=ConfirmForm(), relation_label=relation_label, sex_label=sex_label,
                           history=history,
                           re_review=reviews.needs_re_review(subject),
                           can_open_review=policy.can(user, "case.create"))


@subjects_bp.route("/<uuid:subject_id>/edit", methods=["GET", "POST"])
@permission("subject.edit")
def edit(subject_id: uuid.UUID):
    subject = subjects.load_subject(subject_id, "subject.edit")
    form = SubjectForm(obj=subject if request.method == "GET" else None)
    if request.method == "GET":
        subjects.record_view(subject)  # the form shows every field
    done = submit(form, lambda: subjects.update_subject(subject, _subject_data(form), by=current_user), _changed,
                  lambda _result: _to_subject(subject.id))
    return done or render_template("subjects/form.html", form=form, title=_("Sửa thông tin đối tượng"),
                           action=url_for("subjects.edit", subject_id=subject.id),
                           back_url=url_for("subjects.view", subject_id=subject.id))


@subjects_bp.route("/<uuid:subject_id>/relatives/new", methods=["GET", "POST"])
@permission("subject.edit")
def add_relative(subject_id: uuid.UUID):
    subject = subjects.load_subject(subject_id, "subject.edit")
    form = RelativeForm()
    done = submit(form, lambda: subjects.add_relative(subject, _relative_data(form), by=current_user),
                  _("Đã thêm người thân."), lambda _result: _to_subject(subject.id))
    return done or render_template("subjects/form.html", form=form, title=_("Thêm người thân"),
                           action=url_for("subjects.add_relative", subject_id=subject.id),
                           back_url=url_for("subjects.view", subject_id=subject.id))


@subjects_bp.route("/<uuid:subject_id>/relatives/<uuid:relative_id>", methods=["GET", "POST"])
@permission("subject.edit")
def edit_relative(subject_id: uuid.UUID, relative_id: uuid.UUID):
    subject = subjects.load_subject(subject_id, "subject.edit")
    relative = subjects.load_relative(subject, relative_id)
    form = RelativeForm(obj=relative if request.method == "GET" else None)
    if request.method == "GET":
        subjects.record_relative_view(relative)
    done = submit(form, lambda: subjects.update_relative(relative, _relative_data(form), by=current_user), _changed,
                  lambda _result: _to_subject(subject.id))
    return done or render_template("subjects/form.html", form=form, title=_("Sửa thông tin người thân"),
                           action=url_for("subjects.edit_relative", subject_id=subject.id, relative_id=relative.id),
                           back_url=url_for("subjects.view", subject_id=subject.id))


@subjects_bp.route("/<uuid:subject_id>/relatives/<uuid:relative_id>/delete", methods=["POST"])
@permission("subject.edit")
def remove_relative(subject_id: uuid.UUID, relative_id: uuid.UUID):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    subject = subjects.load_subject(subject_id, "subject.edit")
    subjects.remove_relative(subjects.load_relative(subject, relative_id), by=current_user)
    flash(_("Đã xóa người thân khỏi hồ sơ."), "success")
    return _to_subject(subject.id)


@subjects_bp.route("/export.csv")
@permission("subject.export")
def export():
    body = subjects.export_csv(policy.unit_scope(current_user), by=current_user)
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="hoso-subjects.csv"'
    return response
