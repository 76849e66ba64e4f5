"""The one place that decides who may do what.

Every view declares a permission with ``@permission("name")`` or ``@public``; one
``before_request`` hook (``enforce_request``) reads the declaration and lets the request
through, sends it to the next sign-in step, or refuses it. An endpoint with no
declaration is refused (fail closed), and a test walks ``app.url_map`` so none ships.

Predicates (``can``) answer for templates and lists; enforcers (``require``) raise for
views. A template may hide a button by asking ``can``; it is never the rule.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, current_app, g, has_request_context, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from . import index_plans, signals
from .api_tokens import authenticate_api_request, forget_the_cookie_session
from .db import db
from .identity import Clearance, Role, Unit, User
from .problems import is_api_request

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

PUBLIC = "public"
# Endpoints of the partner API (/api/v1/): authenticated by a bearer token only, never by the
# session cookie (api_tokens.authenticate_api_request), so the API needs no CSRF token.
API_PARTNER = "api.partner"
# Reachable between the password and the end of sign-in: second-factor entry or
# enrolment, a forced password change, and signing out.
SIGN_IN_STEP = "sign_in.step"

ALL_ROLES = frozenset(Role)

# permission -> roles that hold it. Object-level rules (unit, clearance, assignment)
# are predicates below that take the target.
ROLE_PERMISSIONS: dict[str, frozenset[Role]] = {
    "home.view": ALL_ROLES,
    "account.manage": ALL_ROLES,
    "users.manage": frozenset({Role.ADMIN}),
    "units.manage": frozenset({Role.ADMIN}),
    # Auditors read the trail and nothing of case content (issue 4, issue 6 rule 1).
    "audit.read": frozenset({Role.AUDITOR}),
    # Dossiers of people under review: the reviewing officers and their supervisors, within
    # their unit scope. Liaisons, auditors and admins never read them.
    "subject.view": frozenset({Role.OFFICER, Role.SUPERVISOR}),
    "subject.edit": frozenset({Role.OFFICER, Role.SUPERVISOR}),
    "subject.export": frozenset({Role.SUPERVISOR}),
    # Case work (issue 5). Object rules — unit scope, clearance against classification,
    # assignment, the four-eyes rule — are the can_*_case predicates below.
    "case.view": frozenset({Role.OFFICER, Role.SUPERVISOR}),
    "case.create": frozenset({Role.OFFICER}),
    "case.work": frozenset({Role.OFFICER}),
    "case.assign": frozenset({Role.SUPERVISOR}),
    "case.approve": frozenset({Role.SUPERVISOR}),
    # Auditors review break-the-glass accesses (justified or not); it changes no case.
    "access.review": frozenset({Role.AUDITOR}),
    # A liaison answers the coordination requests addressed to their body, nothing else.
    "coordination.respond": frozenset({Role.LIAISON}),
    # Paper copies of approved conclusions and the register of them (issue 7): the case's
    # assigned officers and the supervisors of its scope (can_print_conclusion).
    "conclusion.print": frozenset({Role.OFFICER, Role.SUPERVISOR}),
    "conclusion.print_register": frozenset({Role.OFFICER, Role.SUPERVISOR}),
    # The periodic statistics report (numbers only) is sent upward by the committee's
    # leadership: supervisors, over their scope.
    "report.view": frozenset({Role.SUPERVISOR}),
    # The unit board (issue 24 A.1): numbers on the units below a supervisor's, for its
    # supervisors (a unit without sub-units gets a page saying so).
    "oversight.board": frozenset({Role.SUPERVISOR}),
    # Lifetime of records (issue 8): purging cases past retention, reviewing classified items.
    "retention.manage": frozenset({Role.SUPERVISOR}),
    "classification.review": frozenset({Role.SUPERVISOR}),
    # Review campaigns (issue 20): supervisors create, fill, hand out and close them; officers
    # see the campaign rows of the nominees whose reviews they work (can_see_nominee below).
    "campaign.view": frozenset({Role.OFFICER, Role.SUPERVISOR}),
    "campaign.manage": frozenset({Role.SUPERVISOR}),
    # Everyone's own notifications (issue 20 §B): the bell, the page, the preferences.
    "notifications.view": ALL_ROLES,
    # Partner bodies outside the intranet (issue 21). A partner's system calls the API with
    # a bearer token as its client's service account, a liaison: the same object rules as
    # the liaison pages (can_respond_to_request). Admins register the clients and the
    # bodies' exchange keys; officers send and import exchange packages under case.work.
    API_PARTNER: frozenset({Role.LIAISON}),
    "partners.manage": frozenset({Role.ADMIN}),
    # The guidance library (issue 24 A.3): officers and supervisors read what their unit and
    # the units above it publish; a unit's supervisors publish to the units below it.
    "guidance.view": frozenset({Role.OFFICER, Role.SUPERVISOR}),
    "guidance.publish": frozenset({Role.SUPERVISOR}),
    # Inspection visits (issue 24 A.2): supervisors record visits by their unit to the units
    # below it and decide on the recommendations; the visited units' officers and supervisors
    # see them and report what they did. Object rules: the visit predicates below.
    "visit.view": frozenset({Role.OFFICER, Role.SUPERVISOR}),
    "visit.manage": frozenset({Role.SUPERVISOR}),
    "visit.report": frozenset({Role.OFFICER, Role.SUPERVISOR}),
}

# Endpoints we do not write ourselves (static files): anyone may fetch them.
PUBLIC_ENDPOINTS = frozenset({"static", "bootstrap.static", "api-docs.openapi_json"})

_ATTRIBUTE = "hoso_permission"


def permission(name: str) -> Callable[[F], F]:
    if name not in ROLE_PERMISSIONS and name != SIGN_IN_STEP:
        raise ValueError(f"unknown permission {name!r}")

    def declare(view: F) -> F:
        setattr(view, _ATTRIBUTE, name)
        return view

    return declare


def public(view: F) -> F:
    setattr(view, _ATTRIBUTE, PUBLIC)
    return view


def declared_permission(endpoint: str) -> str | None:
    if endpoint in PUBLIC_ENDPOINTS:
        return PUBLIC
    view = current_app.view_functions.get(endpoint)
    return getattr(view, _ATTRIBUTE, None)


# --- predicates -------------------------------------------------------------------------

def can(user: Any, name: str, target: Any = None) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if name == "users.manage" and isinstance(target, User):
        return user.role == Role.ADMIN
    return user.role in ROLE_PERMISSIONS.get(name, frozenset())


def unit_scope(user: User) -> frozenset:
    """Unit ids whose records the user's role may reach: their own unit, and for a
    supervisor every unit below it too (issue 6 rule 2)."""
    if user.role != Role.SUPERVISOR:
        return frozenset({user.unit_id})
    # Asked several times per page (lists, badges, loads): walk the unit tree once per request.
    cache = g.setdefault("hoso_unit_scope", {}) if has_request_context() else {}
    if user.id not in cache:
        cache[user.id] = _supervised_units(user)
    return cache[user.id]


def _supervised_units(user: User) -> frozenset:
    return units_under(user.unit_id)


def units_under(unit_id) -> frozenset:
    """A unit and every unit below it (a report for a unit counts its sub-units too)."""
    children: dict = {}
    for child_id, parent_id in db.session.execute(select(Unit.id, Unit.parent_id)):
        children.setdefault(parent_id, []).append(child_id)
    scope, frontier = {unit_id}, [unit_id]
    while frontier:
        for child in children.get(frontier.pop(), ()):
            if child not in scope:
                scope.add(child)
                frontier.append(child)
    return frozenset(scope)


def can_reach_unit_record(user: Any, name: str, owner_unit_id) -> bool:
    """A record owned by a unit: the role must hold `name` and the unit be in scope."""
    return can(user, name) and owner_unit_id in unit_scope(user)


def cleared_for(user: Any, classification: Any) -> bool:
    """Clearance against classification: nobody opens what is classified above them,
    whatever their role (issue 6 rule 3)."""
    return Clearance(user.clearance).covers(Clearance(classification))


def is_assigned(user: Any, case: Any) -> bool:
    return any(assignment.user_id == user.id for assignment in case.assignments)


def is_recused(user: Any, case: Any) -> bool:
    """A user who is the subject of a case, one of its subject's recorded relatives, or a
    person a petition names, neither sees nor works it (issue 6 rule 5). Matched by the
    blind index of the citizen ID number; the case says whose indexes it involves."""
    index = getattr(user, "citizen_index", None)
    return index is not None and index_plans.same_person(db.session, index, case.people_indexes())


def can_view_case(user: Any, case: Any) -> bool:
    """Content of a case: an assigned officer, a supervisor whose scope holds the owning
    unit, or an officer during a break-the-glass access; cleared for its classification
    and not recused, whoever they are."""
    if not can_reach_unit_record(user, "case.view", case.owner_unit_id) or not cleared_for(user, case.classification):
        return False
    if is_recused(user, case):
        return False
    return user.role == Role.SUPERVISOR or is_assigned(user, case) or case.has_emergency_access(user.id)


def can_break_glass(user: Any, case: Any) -> bool:
    """An officer of the owning unit itself, cleared for the case, not recused, and not
    already able to read it, may open it after stating a reason (issue 6 rule 7)."""
    return (user.role == Role.OFFICER and case.owner_unit_id == user.unit_id
            and cleared_for(user, case.classification) and not is_recused(user, case)
            and not is_assigned(user, case) and not case.has_emergency_access(user.id))


def can_work_case(user: Any, case: Any) -> bool:
    """Change a case (steps, findings, comments, files, requests, drafts): an assigned
    officer of the owning unit's scope, cleared for it, not recused. Break-the-glass
    access reads; it never changes anything."""
    return (can_reach_unit_record(user, "case.work", case.owner_unit_id) and cleared_for(user, case.classification)
            and is_assigned(user, case) and not is_recused(user, case))


def can_assign_case(user: Any, case: Any) -> bool:
    return (can_reach_unit_record(user, "case.assign", case.owner_unit_id) and cleared_for(user, case.classification)
            and not is_recused(user, case))


def can_approve_conclusion(user: Any, case: Any, conclusion: Any) -> bool:
    """Four eyes: a supervisor of the owning unit's scope, cleared for the case, not
    recused, and never the conclusion's author."""
    return (can_reach_unit_record(user, "case.approve", case.owner_unit_id)
            and cleared_for(user, case.classification) and conclusion.author_id != user.id
            and not is_recused(user, case))


def can_print_conclusion(user: Any, case: Any) -> bool:
    """Numbered paper copies of a case's approved conclusion, and the register of them: an
    assigned officer, or a supervisor who may approve in the case's scope; cleared for it,
    not recused. Whoever may issue copies sees which were issued. An emergency
    (break-the-glass) reader prints nothing: that access is for reading."""
    return (can_reach_unit_record(user, "conclusion.print", case.owner_unit_id)
            and cleared_for(user, case.classification) and not is_recused(user, case)
            and (user.role == Role.SUPERVISOR or is_assigned(user, case)))


def can_see_petitioner(user: Any, case: Any) -> bool:
    """Who may ask for the petitioner's identity (and hold a release of it): only the
    assigned officer and a supervisor whose scope holds the case; never a coordinating body,
    never someone the petition names, never an emergency reader. Asking is not seeing: the
    page opens only under a live release (opens_petitioner_identity)."""
    return can_view_case(user, case) and (user.role == Role.SUPERVISOR or is_assigned(user, case))


def can_approve_identity_release(user: Any, case: Any, release: Any) -> bool:
    """Two persons (issue 23): a supervisor whose scope holds the case, cleared for it, not
    recused, and never the one who asked. (That each approves once is the release's state.)"""
    return (can_reach_unit_record(user, "case.approve", case.owner_unit_id)
            and cleared_for(user, case.classification) and not is_recused(user, case)
            and release.requested_by_id != user.id)


def opens_petitioner_identity(user: Any, case: Any, release: Any, now: Any) -> bool:
    """The identity page opens for the one who asked, on that petition, while the release
    they were given lasts; and only while they may still ask (a later recusal, a lost
    assignment or a lowered clearance closes it too)."""
    return (release is not None and release.state == "released" and release.case_id == case.id
            and release.requested_by_id == user.id and release.expires_at is not None
            and release.expires_at > now and can_see_petitioner(user, case))


def can_respond_to_request(user: Any, request_: Any) -> bool:
    """A liaison of the addressed body, cleared for the case the request comes from, and
    not a person the case is about."""
    return (can(user, "coordination.respond") and request_.body_unit_id == user.unit_id
            and cleared_for(user, request_.case.classification) and not is_recused(user, request_.case))


# --- review campaigns (issue 20) ---------------------------------------------------------
#
# A campaign is plain metadata over other records: its rows show what the policy already lets
# a user see of each nominee's case and dossier, never more. Callers pass the facts that need
# the database (which units hold its rows, whether the user works a row's case, whether the
# row is about them), so these stay pure.

def owns_campaign(user: Any, campaign: Any) -> bool:
    """Create, fill, hand out, reuse for and close a campaign; see all its rows: a supervisor
    whose scope holds the owning unit, cleared for the campaign's classification."""
    return (can_reach_unit_record(user, "campaign.manage", campaign.owner_unit_id)
            and cleared_for(user, campaign.classification))


def can_view_campaign(user: Any, campaign: Any, *, nominee_unit_ids: Any = (), works_on_it: bool = False) -> bool:
    """The campaign's page: cleared for it, and its owning unit in scope, or a unit holding
    some of its nominees in a supervisor's scope (cadre management levels), or an officer
    who works one of its reviews."""
    if not can(user, "campaign.view") or not cleared_for(user, campaign.classification):
        return False
    scope = unit_scope(user)
    if campaign.owner_unit_id in scope or works_on_it:
        return True
    return user.role == Role.SUPERVISOR and any(unit_id in scope for unit_id in nominee_unit_ids)


def can_see_nominee(user: Any, campaign: Any, nominee_unit_id: Any, *, works_on_it: bool, recused: bool) -> bool:
    """One row of a campaign: never the row about oneself or one's family (recusal); the
    owners and the supervisors of the unit working it see it; an officer, the rows of the
    reviews assigned to them."""
    if recused or not can(user, "campaign.view") or not cleared_for(user, campaign.classification):
        return False
    if user.role == Role.SUPERVISOR:
        scope = unit_scope(user)
        return campaign.owner_unit_id in scope or nominee_unit_id in scope
    return works_on_it


def can_manage_nominee(user: Any, campaign: Any, nominee_unit_id: Any, *, recused: bool) -> bool:
    """Open, assign and reuse for a row: a supervisor of the campaign's owners or of the unit
    the row was handed to, not recused from it."""
    return (not recused and can(user, "campaign.manage") and cleared_for(user, campaign.classification)
            and (campaign.owner_unit_id in unit_scope(user) or nominee_unit_id in unit_scope(user)))


def can_see_nominee_name(user: Any, subject_owner_unit_id: Any, *, recused: bool) -> bool:
    """A row's name: only for whoever may read that dossier (in scope, not recused)."""
    return not recused and can_reach_unit_record(user, "subject.view", subject_owner_unit_id)


def can_see_case_outcome(user: Any, case_owner_unit_id: Any, classification: Any, *, assigned: bool) -> bool:
    """A case's conclusion number, date and outcome on a campaign row: whoever may view
    the case (its scope's supervisors, its officers), cleared for its classification."""
    return (can_reach_unit_record(user, "case.view", case_owner_unit_id) and cleared_for(user, classification)
            and (user.role == Role.SUPERVISOR or assigned))


# --- the guidance library (issue 24 A.3) ---------------------------------------------------

def reads_guidance_of(user: Any, publishing_unit_id: Any) -> bool:
    """A reader of a unit's guidance: an officer or supervisor of the publishing unit or of a
    unit below it (units_under: a partner body's liaison is below no organisation unit)."""
    return can(user, "guidance.view") and user.unit_id in units_under(publishing_unit_id)


def can_view_guidance(user: Any, guidance: Any) -> bool:
    return reads_guidance_of(user, guidance.unit_id)


def can_manage_guidance(user: Any, guidance: Any) -> bool:
    """New versions, withdrawal, who has read it: a supervisor of the publishing unit itself
    (the unit publishes; a unit above it oversees, it does not rewrite a sub-unit's guidance)."""
    return can(user, "guidance.publish") and user.unit_id == guidance.unit_id


# --- the digital archive: reading scans (issue 24 B.3) ---------------------------------------

def can_read_scan(user: Any, subject: Any, classification: Any, need: str = "subject.view") -> bool:
    """A scan of a dossier's document, as watermarked pages and its recognised text: whoever
    may `need` the dossier (its role, the owning unit in scope, not recused: nobody reads
    their own or their family's dossier), cleared for the document's classification.
    `need` "subject.edit" for recognising its text."""
    return (can_reach_unit_record(user, need, subject.owner_unit_id) and cleared_for(user, classification)
            and not is_recused(user, subject))


# --- inspection visits (issue 24 A.2) -------------------------------------------------------
#
# Two sides: the inspecting unit's supervisors (and those above them) record and decide; the
# visited unit's users, and those of a unit below it that a recommendation is addressed to,
# see and report. Nobody opens a visit classified above their clearance.

def inspects_visit(user: Any, visit: Any) -> bool:
    """Record recommendations, accept, send back, waive, close: a supervisor whose scope holds
    the inspecting unit, cleared for the visit."""
    return can_reach_unit_record(user, "visit.manage", visit.unit_id) and cleared_for(user, visit.classification)


def is_visited(user: Any, visit: Any, responsible_unit_ids: Any = ()) -> bool:
    """The visited unit's officers and supervisors, and those of a unit a recommendation of
    the visit is addressed to, cleared for the visit."""
    return (can(user, "visit.view") and cleared_for(user, visit.classification)
            and (user.unit_id == visit.sub_unit_id or user.unit_id in responsible_unit_ids))


def can_view_visit(user: Any, visit: Any, responsible_unit_ids: Any = ()) -> bool:
    return inspects_visit(user, visit) or is_visited(user, visit, responsible_unit_ids)


def can_see_recommendation(user: Any, visit: Any, recommendation: Any) -> bool:
    """The inspectors and the visited unit see every recommendation; a unit below it, those
    addressed to it."""
    return (inspects_visit(user, visit) or is_visited(user, visit)
            or is_visited(user, visit, (recommendation.responsible_unit_id,)))


def can_report_recommendation(user: Any, visit: Any, recommendation: Any) -> bool:
    """Say what was done about a recommendation: the users of the unit it is addressed to."""
    return (can(user, "visit.report") and cleared_for(user, visit.classification)
            and user.unit_id == recommendation.responsible_unit_id)


def can_change_user_status(actor: User, target: User) -> bool:
    """An admin never disables or demotes their own account: the last admin would lock
    everyone out, and separation of duties wants a second person for that."""
    return can(actor, "users.manage", target) and actor.id != target.id


# --- enforcers --------------------------------------------------------------------------

def deny(name: str, *, status: int = 403) -> None:
    """Refuse, after recording the denial in a short transaction of its own: whatever
    the request had changed so far is rolled back, the denial is kept."""
    record_denial(name, status=status)
    abort(status)


def record_denial(name: str, *, status: int = 403) -> None:
    """The record of a refusal, committed on its own (for a view that answers the refusal
    with a page of its own, such as the break-the-glass offer)."""
    db.session.rollback()
    user = current_user if current_user.is_authenticated else None
    # The URL's arguments (ids from the path, never a protected value) say which record was
    # asked for: "who tried to open this dossier" must be answerable from the trail.
    signals.access_denied.send(current_app._get_current_object(), user=user,
                               permission=name, endpoint=request.endpoint, status=status,
                               view_args=dict(request.view_args or {}))
    db.session.commit()
    log.info("access denied: permission=%s endpoint=%s status=%s", name, request.endpoint, status)


def require(name: str, target: Any = None) -> None:
    if not can(current_user, name, target):
        deny(name)


def enforce_request():
    """before_request: the single gate every request passes."""
    endpoint = request.endpoint
    if is_api_request():
        # The API never reads the session cookie, its public reference pages included.
        forget_the_cookie_session()
    if endpoint is None:
        return None  # no route matched: Flask answers 404/405 next
    declared = declared_permission(endpoint)
    if declared is None:
        log.error("endpoint %s has no permission declaration; refused", endpoint)
        deny("undeclared")
    if declared == PUBLIC:
        return None
    if declared == API_PARTNER:
        refused = authenticate_api_request()
        if refused is not None:
            return refused
        require(declared)
        return None
    if not current_user.is_authenticated:
        if request.method in ("GET", "HEAD"):
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(401)
    pending_step = g.get("sign_in_step")
    if pending_step is not None and endpoint not in g.get("sign_in_step_endpoints", ()):
        # Half signed in (second factor, enrolment or forced password change to do):
        # nothing else answers until that step is done.
        return redirect(url_for(pending_step), code=303)
    if declared == SIGN_IN_STEP:
        return None
    require(declared)
    return None
