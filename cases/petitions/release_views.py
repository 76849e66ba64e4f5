"""The release of a petitioner's identity on the `cases` blueprint (issue 23): the asker's
page (ask, follow, withdraw), a supervisor's approval page (approve with re-authentication,
or refuse), and the list of asks waiting for a supervisor. The rules are
cases/petitions/releases.py and protection/policy.py."""

from __future__ import annotations

import uuid

from flask import abort, redirect, render_template, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user

from cases.actions import press, require_submitted, submit
from cases.casework import operations
from cases.casework.blueprint import cases_bp
from cases.petitions import releases
from cases.petitions.forms import (
    ReleaseApproveForm,
    ReleaseAskForm,
    ReleaseButtonForm,
    ReleaseRefuseForm,
)
from protection import policy
from protection.policy import permission


def _petition(case_id: uuid.UUID):
    case = operations.load_case(case_id, need="view")
    if case.kind != "petition":
        abort(404)
    return case


def _asker_page(case, form=None, status: int = 200):
    operations.record_case_view(case, part="identity_release")  # the asker's own reasons, sealed
    return render_template("petitions/release.html", case=case, asks=releases.asks_of(case, current_user),
                           form=form or ReleaseAskForm(formdata=None), button=ReleaseButtonForm(),
                           can_ask=releases.can_ask(case, current_user),
                           required=releases.required_approvals(case.petition.petition_type)), status


@cases_bp.route("/<uuid:case_id>/identity-release", methods=["GET", "POST"])
@permission("case.view")
def identity_release(case_id: uuid.UUID):
    case = _petition(case_id)
    if not policy.can_see_petitioner(current_user, case):
        policy.deny("case.view")
    form = ReleaseAskForm()
    done = submit(form, lambda: releases.ask(case, form.reason.data, by=current_user),
                  _("Đã gửi đề nghị mở danh tính người gửi đơn. Lãnh đạo phụ trách sẽ xem xét."),
                  lambda _release: redirect(url_for("cases.identity_release", case_id=case.id)))
    return done or _asker_page(case, form)


@cases_bp.route("/<uuid:case_id>/identity-release/<uuid:release_id>/withdraw", methods=["POST"])
@permission("case.view")
def withdraw_identity_release(case_id: uuid.UUID, release_id: uuid.UUID):
    case = _petition(case_id)
    require_submitted(ReleaseButtonForm())
    release = releases.load(case, release_id, need="case.view")
    return press(lambda: releases.withdraw(release, by=current_user), _("Đã rút đề nghị."),
                 lambda _result: redirect(url_for("cases.identity_release", case_id=case.id)))


def _approval_page(case, release, form=None, refuse_form=None):
    operations.record_case_view(case, part="identity_release_approval")  # the asker's reason
    return render_template("petitions/release_approve.html", case=case, release=release,
                           waiting=releases.waits_for(release, current_user),
                           form=form or ReleaseApproveForm(formdata=None),
                           refuse_form=refuse_form or ReleaseRefuseForm(formdata=None))


@cases_bp.route("/<uuid:case_id>/identity-release/<uuid:release_id>/approve", methods=["GET", "POST"])
@permission("case.approve")
def approve_identity_release(case_id: uuid.UUID, release_id: uuid.UUID):
    case = _petition(case_id)
    release = releases.load(case, release_id, need="case.approve")
    form = ReleaseApproveForm()
    # A refusal is not rolled back: its audit entry and a failed re-authentication's count
    # must commit (approve refuses before it changes anything).
    done = submit(form, lambda: releases.approve(release, form.secret.data, by=current_user,
                                                                  assertion=form.assertion.data), _released,
                  lambda _release: redirect(url_for("cases.view", case_id=case.id)))
    return done or _approval_page(case, release, form=form)


def _released(release) -> str:
    if release.state == "released":
        return _("Đã phê duyệt: danh tính người gửi đơn mở cho người đề nghị đến %(time)s.",
                 time=format_datetime(release.expires_at, "HH:mm dd/MM/yyyy"))
    return _("Đã ghi phê duyệt của bạn (%(count)d/%(required)d). Cần thêm lãnh đạo khác phê duyệt.",
             count=len(release.approvals), required=release.required_approvals)


@cases_bp.route("/<uuid:case_id>/identity-release/<uuid:release_id>/refuse", methods=["POST"])
@permission("case.approve")
def refuse_identity_release(case_id: uuid.UUID, release_id: uuid.UUID):
    case = _petition(case_id)
    release = releases.load(case, release_id, need="case.approve")
    form = ReleaseRefuseForm()
    done = submit(form, lambda: releases.refuse(release, form.note.data, by=current_user),
                  _("Đã từ chối đề nghị mở danh tính."),
                  lambda _release: redirect(url_for("cases.view", case_id=case.id)))
    return done or _approval_page(case, release, refuse_form=form)


@cases_bp.route("/identity-releases")
@permission("case.approve")
def identity_releases_awaiting():
    """References, askers and deadlines only: no reason, no petitioner."""
    return render_template("petitions/releases_awaiting.html", asks=releases.awaiting(current_user))
