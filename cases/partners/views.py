"""Admin pages for partner bodies' machines: API clients (issue 21 §A.1).

A token is shown once, on the page that answers the form that made it (never flashed,
never in a URL, never kept: the answer is not stored by the browser, `no-store`). The
pages are thin over cases/partners/clients.py, which checks and audits.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, current_app, redirect, render_template, url_for
from flask_babel import gettext as _

from audit.trail import record
from cases.partners import clients
from cases.partners.clients import ClientError
from cases.partners.forms import ClientForm, RotateForm
from protection.api_tokens import ApiClient
from protection.db import db
from protection.forms import ConfirmForm, press, require_submitted, submit_form
from protection.identity import Clearance
from protection.policy import permission
from protection.web import signed_in_user

partners_bp = Blueprint("partners", __name__, url_prefix="/admin/partners")


def _client(client_id: uuid.UUID) -> ApiClient:
    client = db.session.get(ApiClient, client_id)
    if client is None:
        abort(404)
    return client


def _token_page(client: ApiClient, token: str, *, rotated: bool):
    answer = current_app.make_response(render_template(
        "partners/token.html", client=client, token=token, rotated=rotated,
        old_tokens_end=clients.old_tokens_end(client) if rotated else None))
    answer.headers["Cache-Control"] = "no-store"
    return answer


@partners_bp.route("/")
@permission("partners.manage")
def index():
    found = clients.list_clients()
    record("api_client.list", target_type="api_client", count=len(found))
    return render_template("partners/index.html", clients=found, states={c.id: clients.client_state(c) for c in found},
                           confirm_form=ConfirmForm())


@partners_bp.route("/new", methods=["GET", "POST"])
@permission("partners.manage")
def create():
    form = ClientForm(bodies=clients.partner_bodies())

    def register():
        return clients.create_client(
            body=clients.partner_body(form.body.data), name=form.name.data,
            clearance=Clearance(form.clearance.data), expires_on=form.expires_on.parsed,
            networks=form.network_lines(), locale=form.locale.data or None, by=signed_in_user())

    done = submit_form(form, register, ClientError, rollback=True,
                       to=lambda made: _token_page(made[0], made[1], rotated=False))
    return done or render_template("partners/new.html", form=form)


@partners_bp.route("/<uuid:client_id>/rotate", methods=["GET", "POST"])
@permission("partners.manage")
def rotate(client_id: uuid.UUID):
    client = _client(client_id)
    form = RotateForm()
    if not form.is_submitted():
        form.grace_hours.data = current_app.config["HOSO_API_TOKEN_GRACE_HOURS"]
    done = submit_form(form, lambda: clients.rotate_client(client, grace_hours=form.grace_hours.data,
                                                           by=signed_in_user()),
                       ClientError, rollback=True, to=lambda token: _token_page(client, token, rotated=True))
    return done or render_template("partners/rotate.html", form=form, client=client,
                                   state=clients.client_state(client))


@partners_bp.route("/<uuid:client_id>/revoke", methods=["POST"])
@permission("partners.manage")
def revoke(client_id: uuid.UUID):
    require_submitted(ConfirmForm())
    client = _client(client_id)
    return press(lambda: clients.revoke_client(client, by=signed_in_user()), ClientError, rollback=True,
                 done=_("Đã thu hồi máy khách API: mọi mã truy cập của nó hết hiệu lực ngay."),
                 to=lambda _result: redirect(url_for("partners.index"), 303))
