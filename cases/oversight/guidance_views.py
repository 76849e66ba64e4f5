"""The guidance library on the `oversight` blueprint (/oversight/guidance...): the library of
what applies to the reader, an item's page with its versions and files, the read receipt,
and for the publishing unit's supervisors publishing, new versions, withdrawal and who has
read. The rules are cases/oversight/guidance.py and protection/policy.py."""

from __future__ import annotations

import uuid

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from cases.actions import press, require_submitted, run, submit
from cases.casework.forms import new_form_token
from cases.casework.operations import earlier_submission, remember_submission
from cases.oversight import guidance as operations
from cases.oversight.blueprint import oversight_bp
from cases.oversight.guidance import GuidanceData, Upload, VersionData
from cases.oversight.guidance_forms import (
    GuidanceForm,
    LibraryFilterForm,
    ReadForm,
    VersionForm,
    WithdrawForm,
    chosen_files,
)
from protection import policy
from protection.blobs import download_response
from protection.policy import permission


def _to_item(guidance) -> object:
    return redirect(url_for("oversight.guidance_view", guidance_id=guidance.id))


def _version_data(form) -> VersionData:
    return VersionData(form.effective_on.parsed, form.note.data,
                       [Upload(item.stream, item.filename) for item in chosen_files(form.files)])


@oversight_bp.route("/guidance/")
@permission("guidance.view")
def guidance_library():
    filters = LibraryFilterForm(request.args)
    kind = filters.kind.data if filters.kind.data in operations.KINDS else None
    entries = operations.library(current_user, kind=kind, withdrawn=bool(filters.withdrawn.data))
    return render_template("oversight/guidance/library.html", entries=entries, filters=filters,
                           kinds=operations.KINDS, can_publish=policy.can(current_user, "guidance.publish"))


@oversight_bp.route("/guidance/new", methods=["GET", "POST"])
@permission("guidance.publish")
def guidance_new():
    form = GuidanceForm()
    if form.validate_on_submit():
        earlier = earlier_submission(form.form_token.data, current_user)
        if earlier is not None and earlier.target_type == "guidance":
            # A double click or a resent POST: the item its first submit published, not a twin.
            flash(_("Biểu mẫu này đã được gửi."), "info")
            return redirect(url_for("oversight.guidance_view", guidance_id=earlier.target_id))

        def published(guidance):
            remember_submission(form.form_token.data, current_user, "guidance", guidance.id)
            return _to_item(guidance)

        done = run(form, lambda: operations.publish(current_user.unit, GuidanceData(
            form.kind.data, form.title.data, form.required_reading.data, _version_data(form)), by=current_user),
            _("Đã ban hành hướng dẫn."), published)
        if done:
            return done
    form.form_token.data = form.form_token.data or new_form_token()
    return render_template("oversight/guidance/new.html", form=form)


@oversight_bp.route("/guidance/<uuid:guidance_id>")
@permission("guidance.view")
def guidance_view(guidance_id: uuid.UUID):
    guidance = operations.load(guidance_id, current_user)
    operations.record_view(guidance)
    latest = operations.latest_version(guidance)
    receipt = operations.receipt_of(latest, current_user) if latest is not None else None
    return render_template("oversight/guidance/view.html", guidance=guidance, latest=latest, receipt=receipt,
                           current=operations.current_version(guidance), kinds=operations.KINDS,
                           read_form=ReadForm(), can_manage=policy.can_manage_guidance(current_user, guidance))


@oversight_bp.route("/guidance/<uuid:guidance_id>/versions/<uuid:version_id>/read", methods=["POST"])
@permission("guidance.view")
def guidance_read(guidance_id: uuid.UUID, version_id: uuid.UUID):
    guidance = operations.load(guidance_id, current_user)
    require_submitted(ReadForm())
    version = operations.load_version(guidance, version_id)
    return press(lambda: operations.confirm_read(guidance, version, by=current_user),
                 _("Đã ghi nhận bạn đã đọc phiên bản này."), lambda _result: _to_item(guidance))


@oversight_bp.route("/guidance/<uuid:guidance_id>/files/<uuid:file_id>")
@permission("guidance.view")
def guidance_download(guidance_id: uuid.UUID, file_id: uuid.UUID):
    guidance = operations.load(guidance_id, current_user)
    item, version = operations.load_file(guidance, file_id)
    operations.record_download(guidance, item, version)
    return download_response(item.blob)


@oversight_bp.route("/guidance/<uuid:guidance_id>/versions/new", methods=["GET", "POST"])
@permission("guidance.publish")
def guidance_new_version(guidance_id: uuid.UUID):
    guidance = operations.load(guidance_id, current_user, manage=True)
    form = VersionForm(previous=operations.latest_version(guidance))
    done = submit(form, lambda: operations.publish_version(guidance, _version_data(form), by=current_user),
                  _("Đã ban hành phiên bản mới."), lambda _version: _to_item(guidance))
    if done:
        return done
    operations.record_view(guidance, part="new_version")  # the form shows the title
    return render_template("oversight/guidance/new_version.html", guidance=guidance, form=form,
                           latest=operations.latest_version(guidance))


@oversight_bp.route("/guidance/<uuid:guidance_id>/withdraw", methods=["GET", "POST"])
@permission("guidance.publish")
def guidance_withdraw(guidance_id: uuid.UUID):
    guidance = operations.load(guidance_id, current_user, manage=True)
    form = WithdrawForm()
    done = submit(form, lambda: operations.withdraw(guidance, by=current_user), _("Đã bãi bỏ hướng dẫn."),
                  _to_item)
    if done:
        return done
    operations.record_view(guidance, part="withdraw")
    return render_template("oversight/guidance/withdraw.html", guidance=guidance, form=form)


@oversight_bp.route("/guidance/<uuid:guidance_id>/readers")
@permission("guidance.publish")
def guidance_readers(guidance_id: uuid.UUID):
    guidance = operations.load(guidance_id, current_user, manage=True)
    return render_template("oversight/guidance/readers.html", guidance=guidance,
                           reading=operations.reading(guidance), kinds=operations.KINDS)
