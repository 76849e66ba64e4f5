"""The auditors' review queues: break-the-glass accesses (issue 6 rule 7): who opened
which case, when, until when, and why; and beside them the releases of petitioners'
identities (issue 23): who asked, who approved or refused, when, until when. Each is marked
justified or not. Auditors read the stated reason, never the case nor the petitioner."""

from __future__ import annotations

import uuid

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField

from cases.access import operations as access
from cases.actions import press, require_submitted
from cases.petitions import releases
from protection import paging
from protection.policy import permission

access_bp = Blueprint("access", __name__, url_prefix="/access")

DECISION_LABELS = {"justified": _l("Có lý do chính đáng"), "unjustified": _l("Không chính đáng")}


class ReviewForm(FlaskForm):
    decision = HiddenField()


@access_bp.route("/break-glass")
@permission("access.review")
def queue():
    pending_only = request.args.get("show") != "all"
    sort = paging.sort_choice(request.args, access.QUEUE_SORTS, access.QUEUE_DEFAULT_SORT)
    page = access.review_queue(pending_only=pending_only, sort=sort, page=paging.page_number(request.args))
    return render_template("access/queue.html", page=page, accesses=page.rows, sorting=sort,
                           pending_only=pending_only, form=ReviewForm(), decisions=DECISION_LABELS)


@access_bp.route("/break-glass/<uuid:access_id>/review", methods=["POST"])
@permission("access.review")
def review(access_id: uuid.UUID):
    form = ReviewForm()
    require_submitted(form)
    item = access.load_access(access_id)
    return press(lambda: access.review(item, form.decision.data, by=current_user), _("Đã ghi đánh giá."),
                 lambda _result: redirect(url_for("access.queue")))


@access_bp.route("/identity-releases")
@permission("access.review")
def identity_releases():
    pending_only = request.args.get("show") != "all"
    sort = paging.sort_choice(request.args, releases.QUEUE_SORTS, releases.QUEUE_DEFAULT_SORT)
    page = releases.review_queue(pending_only=pending_only, sort=sort, page=paging.page_number(request.args))
    return render_template("access/identity_releases.html", page=page, items=page.rows, sorting=sort,
                           pending_only=pending_only, form=ReviewForm(), decisions=DECISION_LABELS)


@access_bp.route("/identity-releases/<uuid:release_id>/review", methods=["POST"])
@permission("access.review")
def review_identity_release(release_id: uuid.UUID):
    form = ReviewForm()
    require_submitted(form)
    item = releases.load_for_review(release_id)
    return press(lambda: releases.review(item, form.decision.data, by=current_user), _("Đã ghi đánh giá."),
                 lambda _result: redirect(url_for("access.identity_releases")))
