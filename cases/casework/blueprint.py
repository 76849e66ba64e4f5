"""The one `cases` blueprint (/cases/...). Its pages live in the feature folders that own
them (casework, reviews, petitions, conclusions) and attach their routes here, so their
endpoint names (`cases.view`, `cases.approve`, ...) and URLs stay one family whatever
folder serves them; cases/setup.py imports those views and registers the blueprint.

Also here: what templates may ask of case work (each rule by the name of its one home),
and the answer to a lost race between two changes of a case.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from cases import labels, workflow
from cases.casework import lists
from cases.casework.operations import StaleCase
from cases.conclusions import rules as conclusion_rules
from protection import policy
from protection.db import db

cases_bp = Blueprint("cases", __name__, url_prefix="/cases")


@cases_bp.app_context_processor
def _case_template_helpers():
    def case_counts():
        if not current_user.is_authenticated or not policy.can(current_user, "case.view"):
            return {}
        return lists.counts(current_user)

    return {"labels": labels, "case_counts": case_counts,
            "has_endpoint": lambda name: name in current_app.view_functions,
            "awaiting_liaison": workflow.awaiting_liaison,
            "drafting_conclusion": conclusion_rules.drafting,
            "conclusion_in_revision": conclusion_rules.in_revision,
            "awaiting_approval": conclusion_rules.awaiting_approval,
            "can_approve_conclusion": conclusion_rules.can_approve_conclusion}


@cases_bp.errorhandler(StaleDataError)
def _lost_race(_error):
    """Two requests passed the version check together; the database's versioned UPDATE
    caught the second. Same answer as a stale form: nothing changed, look again."""
    db.session.rollback()
    case_id = (request.view_args or {}).get("case_id")
    flash(StaleCase().message, "danger")
    return redirect(url_for("cases.view", case_id=case_id) if case_id else url_for("cases.index"))
