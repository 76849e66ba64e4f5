"""The bell's page: a user's notifications, marking them read, and their delivery preferences.

Views stay thin: the service chooses, checks, changes and audits; the request commits.
"""

from __future__ import annotations

import uuid

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from protection import paging
from protection.forms import require_submitted, submit_form
from protection.policy import permission
from protection.web import signed_in_user

from . import service
from .forms import ButtonForm, PreferencesForm, field_name

notifications_bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@notifications_bp.route("/")
@permission("notifications.view")
def index():
    page = service.list_for(signed_in_user(), paging.page_number(request.args))
    return render_template("notifications/index.html", page=page, rows=page.rows, form=ButtonForm())


@notifications_bp.route("/<uuid:notification_id>/open", methods=["POST"])
@permission("notifications.view")
def open_item(notification_id: uuid.UUID):
    require_submitted(ButtonForm())
    user = signed_in_user()
    notification = service.find_own(user, notification_id)
    if notification is None:
        abort(404)  # another user's notification: not even that it exists
    item = service.visible_item(user, notification)
    service.mark_read(user, [notification.id])
    if item is None:
        flash(_("Mục này không còn trong phạm vi của bạn."), "info")
        return redirect(url_for("notifications.index"), 303)
    return redirect(item.url, 303)


@notifications_bp.route("/read-all", methods=["POST"])
@permission("notifications.view")
def read_all():
    require_submitted(ButtonForm())
    count = service.mark_read(signed_in_user())
    flash(_("Đã đánh dấu %(count)d thông báo là đã đọc.", count=count) if count
          else _("Không có thông báo chưa đọc."), "success" if count else "info")
    return redirect(url_for("notifications.index"), 303)


@notifications_bp.route("/preferences", methods=["GET", "POST"])
@permission("notifications.view")
def preferences():
    user = signed_in_user()
    form, kinds = PreferencesForm(), service.kinds_for(user)
    if request.method == "GET":
        for kind, delivery in service.preferences(user).items():
            getattr(form, field_name(kind)).data = delivery
        form.mail_address.data = service.mail_address(user) or ""
    answer = submit_form(form, lambda: service.save_preferences(user, form.choices(request.form, kinds),
                                                                     form.address(request.form)),
                         service.NotificationError, done=_("Đã lưu cách nhận thông báo."),
                         to=lambda _result: redirect(url_for("notifications.preferences"), 303))
    if answer is not None:
        return answer
    return render_template("notifications/preferences.html", form=form, kinds=kinds,
                           mail_configured=service.mail_configured())


def bell() -> dict:
    """The top bar's bell: the unread count the sign-in query already asked
    (protection/sessions.py, UNREAD_COUNT hook); asked here only when that query did not run."""
    if not has_request_context() or not current_user.is_authenticated or g.get("sign_in_step") is not None:
        return {"bell_unread": None}
    count = g.get("unread_notifications")
    if count is None:
        count = service.unread_count(current_user)
    return {"bell_unread": count, "bell_cap": service.BELL_CAP}
