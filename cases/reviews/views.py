"""Opening a review of a subject's political standard (from the subject's dossier), on
the `cases` blueprint. The form says when the chosen subject is due for re-review."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from cases.actions import open_from_form
from cases.casework import lists
from cases.casework.blueprint import cases_bp
from cases.casework.forms import new_form_token, uuid_in
from cases.reviews import operations as reviews
from cases.reviews.forms import ReviewForm
from cases.reviews.operations import ReviewData
from protection.policy import permission


@cases_bp.route("/reviews/new", methods=["GET", "POST"])
@permission("case.create")
def new_review():
    form = ReviewForm(user=current_user)
    if request.method == "GET":
        form.form_token.data = new_form_token()
        preselected = uuid_in(request.args.get("subject"))
        form.subject_id.data = str(preselected) if preselected else ""
    done = open_from_form(form, lambda: reviews.open_review(ReviewData(
        subject_id=uuid_in(form.subject_id.data), purpose=form.purpose.data,
        classification=form.classification.data, title=form.title.data, summary=form.summary.data,
        due_on=form.due_on.parsed), by=current_user),
        lambda case: _("Đã mở hồ sơ thẩm định %(reference)s.", reference=case.reference))
    if done:
        return done
    form.form_token.data = form.form_token.data or new_form_token()
    chosen_subject = lists.form_subject(current_user, uuid_in(form.subject_id.data))
    return render_template("reviews/form.html", form=form, subject=chosen_subject,
                           re_review=chosen_subject is not None and reviews.needs_re_review(chosen_subject))
