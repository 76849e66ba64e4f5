"""Running a change from a form: the one pattern every domain view follows, for every feature
folder (cases, petitions, reviews, conclusions, coordination, subjects, retention, printing,
access). It builds on the kernel's protection/forms.py (`submit_form`, `run_form`, `press`),
which says the shape once; here the domain says what its refusals and its stale forms are.

A refusal is a CaseError or a SubjectError (`REFUSALS`): a message for the user and the field
it belongs beside. Where it goes is the caller's choice, by the function it calls:
- a form with fields (`submit`, `change_case`, `open_from_form`, `change_request`, `run`): beside the
  field it names, on the same page with the user's input kept (the view renders it again);
  no rollback, for a refusal may carry an audit entry or a counted failed re-authentication
  that must commit;
- a bare button (`press_button`, `press`): flashed on the page the button sends back to;
  `press_button` rolls back (an operation may have moved something before the case refused).

A form that changes a case carries the version of the case the user saw (`change_case`,
`press_button`). The change runs only if that is still the version; else StaleCase: nothing
changed, back to the case page with the message, so the user sees what changed before acting
again. A coordination request has its own version (`change_request`), and there a lost race
with another request (SQLAlchemy's versioned UPDATE: StaleDataError) is rolled back and told
like a stale form, beside the form. A form that opens a case (a review, a petition) carries a
one-time token instead of a version: `open_from_form` opens the case once, however often the
form is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.wrappers import Response

from cases.casework.operations import (
    CaseError,
    StaleCase,
    check_version,
    created_by,
    earlier_submission,
    remember_submission,
)
from cases.coordination import operations as coordination
from cases.coordination.operations import StaleRequest
from cases.subjects.operations import SubjectError
from protection.db import db
from protection.forms import Done, require_submitted, run_form, submit_form
from protection.forms import press as press_kernel

__all__ = ["REFUSALS", "Done", "change_case", "change_request", "open_from_form", "press", "press_button",
           "require_submitted", "run", "submit", "to_case", "versioned"]

# The domain's refusals: each carries `.message` and `.field` (protection.forms.Refusal).
REFUSALS = (CaseError, SubjectError)


def to_case(case, anchor: str | None = None) -> Response:
    return redirect(url_for("cases.view", case_id=case.id, _anchor=anchor))


def versioned(form_class, case, **kwargs):
    """A fresh form (not filled from this request's POST) carrying the case's version."""
    return form_class(formdata=None, version=case.version, **kwargs)


# --- forms with fields: the refusal beside its field ----------------------------------------------

def submit(form, change: Callable[[], Any], done: Done, to: Callable[[Any], Response]) -> Response | None:
    """Submit `form` to `change` (one operation): `to(result)` once it is done; None when the
    view is to show the form again (not submitted, invalid, or refused, with the refusal
    beside its field). Nothing is rolled back."""
    return submit_form(form, change, REFUSALS, to=to, done=done)


def change_case(case, form, change: Callable[[], Any], done: Done, *, anchor: str | None = None) -> Response | None:
    """Submit `form` (it carries the case's version) to `change`: the redirect to the case
    once it is done or the form was stale; None when the view is to show the form again."""
    def checked():
        check_version(case, form.version.data)
        return change()

    return submit_form(form, checked, REFUSALS, to=lambda _result: to_case(case, anchor), done=done,
                       stale=StaleCase, back=lambda: to_case(case))


def change_request(request_, form, change: Callable[[Any], Any], done: Done,
                   to: Callable[[Any], Response]) -> Response | None:
    """Run `change(request_)` for a form that has passed its checks and carries the
    coordination request's version: `to(result)` once it is done; None when the view is to
    show its page again, the refusal beside its field (a stale version or a lost race is
    flashed for the form, rolled back when the race was lost)."""
    def checked():
        coordination.check_version(request_, form.version.data)
        return change(request_)

    return run(form, lambda: lost_race_told_as_stale(checked), done, to)


def run(form, change: Callable[[], Any], done: Done, to: Callable[[Any], Response]) -> Response | None:
    """`submit` for a form that has passed its checks already (the view had more to check
    between the two: a one-time token, which of its errors mean it is not ours)."""
    return run_form(form, change, REFUSALS, to=to, done=done)


def lost_race_told_as_stale(change: Callable[[], Any]) -> Any:
    """The services check before they change anything, so a refusal leaves nothing behind;
    a lost race with another request (SQLAlchemy's versioned UPDATE) has changed something:
    it is rolled back and reported like a stale form."""
    try:
        return change()
    except StaleDataError:
        db.session.rollback()
        raise StaleRequest() from None


def open_from_form(form, open_case: Callable[[], Any], done: Callable[[Any], str]) -> Response | None:
    """Submit a create form (it carries a one-time token) to `open_case`: the way to the new
    case, or to the one its first submit opened; None when the view is to show the form
    again (not submitted, invalid, or refused with the refusal beside its field)."""
    if not form.validate_on_submit():
        return None
    if (earlier := _sent_before(form.form_token.data)) is not None:
        return earlier

    def opened(case) -> Response:
        remember_submission(form.form_token.data, current_user, "case", case.id)
        return to_case(case)

    return run_form(form, open_case, REFUSALS, to=opened, done=done)


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


# --- buttons: the refusal flashed -----------------------------------------------------------------

def press_button(case, form, change: Callable[[], Any], done: Done, *, anchor: str | None = None) -> Response:
    """A button that carries only the case's version: 400 for a form that is not ours;
    otherwise run `change` and go back to the case saying what happened, or why not (rolled
    back: an operation may have moved something before the case refused)."""
    require_submitted(form)

    def checked():
        check_version(case, form.version.data)  # a stale version is one more refusal here
        return change()

    return press_kernel(checked, REFUSALS, to=lambda _result: to_case(case, anchor), done=done,
                        back=lambda: to_case(case), rollback=True)


def press(change: Callable[[], Any], done: Done, to: Callable[[Any], Response]) -> Response:
    """A button whose form the view has checked (`require_submitted`), on no case's version:
    run `change`; `to(result)` says where to go, the refusal flashed there (no rollback)."""
    return press_kernel(change, REFUSALS, to=to, done=done)
