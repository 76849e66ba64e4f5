"""Running a change to a case from a form: the one pattern every action on a case follows.

A form that changes a case carries the version of the case the user saw. The change runs
only if that is still the version (else StaleCase: nothing changed, back to the case page
with the message, so the user sees what changed before acting again); then one operation
runs, and the user goes back to the case saying what happened. An operation's refusal
(CaseError) is shown as it is today:
- a form with fields (`change_case`): beside the field it names, on the same page with the
  user's input kept (the view renders it again); no rollback, for a refusal may carry an
  audit entry or a counted failed re-authentication that must commit;
- a bare button (`press_button`, the form carries only the version): rolled back (an
  operation may have moved something before the case refused) and flashed on the case page.
A form that opens a case (a review, a petition) carries a one-time token instead of a
version: `open_from_form` opens the case once, however often the form is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from cases.casework.operations import (
    CaseError,
    StaleCase,
    check_version,
    created_by,
    earlier_submission,
    remember_submission,
)
from protection.db import db
from protection.forms import show_error

# What to say when the change is done: a text, or a function of the operation's result
# (e.g. the document number an approval gave).
Done = str | Callable[[Any], str]


def to_case(case, anchor: str | None = None) -> Response:
    return redirect(url_for("cases.view", case_id=case.id, _anchor=anchor))


def refused(case, error: CaseError) -> Response:
    """A bare button's refusal, or a stale form: nothing to keep, so back to the case
    with the message."""
    db.session.rollback()
    flash(error.message, "danger")
    return to_case(case)


def versioned(form_class, case, **kwargs):
    """A fresh form (not filled from this request's POST) carrying the case's version."""
    return form_class(formdata=None, version=case.version, **kwargs)


def _said(done: Done, result: Any) -> str:
    return done(result) if callable(done) else done


def change_case(case, form, change: Callable[[], Any], done: Done, *, anchor: str | None = None) -> Response | None:
    """Submit `form` to `change` (one operation): the redirect to the case once it is done
    or the form was stale; None when the view is to show the form again (not submitted,
    invalid, or refused, with the refusal beside its field)."""
    if not form.validate_on_submit():
        return None
    try:
        check_version(case, form.version.data)
        result = change()
    except StaleCase as error:
        return refused(case, error)
    except CaseError as error:
        show_error(form, error.message, error.field)
        return None
    flash(_said(done, result), "success")
    return to_case(case, anchor)


def press_button(case, form, change: Callable[[], Any], done: Done, *, anchor: str | None = None) -> Response:
    """A button that carries only the case's version: 400 for a form that is not ours;
    otherwise run `change` and go back to the case saying what happened, or why not."""
    if not form.validate_on_submit():
        abort(400)
    try:
        check_version(case, form.version.data)
        result = change()
    except CaseError as error:  # a stale version included
        return refused(case, error)
    flash(_said(done, result), "success")
    return to_case(case, anchor)



def open_from_form(form, open_case: Callable[[], Any], done: Callable[[Any], str]) -> Response | None:
    """Submit a create form (it carries a one-time token) to `open_case`: the way to the new
    case, or to the one its first submit opened; None when the view is to show the form
    again (not submitted, invalid, or refused with the refusal beside its field)."""
    if not form.validate_on_submit():
        return None
    if (earlier := _sent_before(form.form_token.data)) is not None:
        return earlier
    try:
        case = open_case()
    except CaseError as error:
        show_error(form, error.message, error.field)
        return None
    remember_submission(form.form_token.data, current_user, "case", case.id)
    flash(done(case), "success")
    return to_case(case)


def _sent_before(token: str | None) -> Response | None:
    """A create form sent again (a double click, a resent POST, Back then submit): the way
    to the case its first submit opened, instead of a twin; None for a first submit."""
    earlier = earlier_submission(token, current_user)
    if earlier is None:
        return None
    case = created_by(earlier)
    flash(_("Biểu mẫu này đã được gửi: hồ sơ %(reference)s đã được tạo từ lần gửi trước, không tạo thêm hồ sơ trùng.",
            reference=case.reference) if case is not None else _("Biểu mẫu này đã được gửi."), "info")
    return redirect(url_for("cases.view", case_id=earlier.target_id))
