"""Admin pages of exchange keys (issue 21 §B.4): the bodies a request can be addressed to,
each with its exchange key's fingerprint; registering or replacing a body's key; the
organisation's own public line and fingerprint, to print for the bodies.

They join the partners blueprint (/admin/partners, cases/partners/views.py); cases/setup.py
imports this module. Thin views: cases/partners/exchange_keys.py decides, audits and
notifies. Keys are public, so reading them records nothing; every change is audited.
"""

from __future__ import annotations

import uuid

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length

from cases.actions import REFUSALS
from cases.coordination import exchange
from cases.partners import exchange_keys
from cases.partners.views import partners_bp
from protection.exchange.keys import fingerprint_text
from protection.forms import REQUIRED, submit_form
from protection.identity import CLEARANCE_ORDER
from protection.policy import permission


class ExchangeKeyForm(FlaskForm):
    """A body's public line (as `hoso-exchange keygen` prints it) and the clearance of its
    exchange account. The service parses the line; its refusal goes beside the field."""

    public_key = TextAreaField(_l("Khóa công khai của cơ quan"), validators=[InputRequired(REQUIRED), Length(max=1000)],
                               render_kw={"rows": 3, "spellcheck": "false", "autocomplete": "off"},
                               description=_l("Dòng bắt đầu bằng hoso-exchange-1: do lệnh hoso-exchange keygen của "
                                              "cơ quan in ra. Trước khi lưu, đọc dấu vân tay qua điện thoại để đối "
                                              "chiếu với cơ quan."))
    clearance = SelectField(_l("Mức tiếp cận bí mật của tài khoản trao đổi"), validators=[InputRequired(REQUIRED)],
                            description=_l("Gói gửi cơ quan chỉ mang những nội dung mà tài khoản này được xem, như "
                                           "trên trang của cán bộ đầu mối."))
    submit = SubmitField(_l("Lưu khóa"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.clearance.choices = [("", "—")] + [(level.value, level.label) for level in CLEARANCE_ORDER]


def _organisation() -> dict | None:
    public = exchange.organisation_public_if_any()
    if public is None:
        return None
    return {"line": public.line, "fingerprint": fingerprint_text(public.fingerprint),
            "full_fingerprint": public.fingerprint}


@partners_bp.route("/exchange")
@permission("partners.manage")
def exchange_bodies():
    rows = [(unit, key, fingerprint_text(key.fingerprint) if key else None)
            for unit, key in exchange_keys.body_rows()]
    return render_template("partners/exchange_bodies.html", rows=rows, organisation=_organisation())


@partners_bp.route("/exchange/<uuid:unit_id>", methods=["GET", "POST"])
@permission("partners.manage")
def exchange_key(unit_id: uuid.UUID):
    unit = exchange_keys.load_body(unit_id)
    account = exchange_keys.exchange_account(unit)
    form = ExchangeKeyForm(request.form if request.method == "POST" else None)
    if request.method == "GET" and account is not None:
        form.clearance.data = account.clearance.value
    done = submit_form(
        form, lambda: exchange_keys.register_key(unit, form.public_key.data, form.clearance.data, by=current_user),
        REFUSALS, rollback=True, to=lambda _key: redirect(url_for("partners.exchange_key", unit_id=unit.id)),
        done=_("Đã lưu khóa trao đổi của cơ quan."))
    if done:
        return done
    history = [(row, fingerprint_text(row.fingerprint)) for row in exchange_keys.key_history(unit)]
    return render_template("partners/exchange_key.html", unit=unit, form=form, history=history, account=account,
                           organisation=_organisation())
