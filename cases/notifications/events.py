"""Who hears of what: the domain's operations call one function here per event, in the
transaction of the change (a rolled-back change raises nothing).

Recipients are chosen under the policy as it stands now (delivery time): an officer who may
no longer see the case, a recused supervisor, a liaison of another body, an account switched
off — none is told. The acting user is never told of their own act. Each event is a few
statements whatever the number of recipients: the candidates in one query, then the policy's
predicates, which read what the case already holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select

from cases.models import (
    Assignment,
    BreakGlassAccess,
    Case,
    Conclusion,
    CoordinationRequest,
    IdentityRelease,
)
from cases.oversight.models import InspectionVisit, Recommendation, RecommendationReport
from protection import policy
from protection.clock import utcnow
from protection.db import db
from protection.identity import Role, Unit, User

from . import service


def case_assigned(case: Case, assignment: Assignment, *, by: User) -> int:
    """The officer a case was assigned to. Keyed by the assignment: assigned again after being
    taken off, they hear of it again."""
    if assignment.user_id == by.id:
        return 0
    return service.notify([assignment.user_id], service.CASE_ASSIGNED, target_type="case", target_id=case.id,
                          reference=case.reference, due_on=case.due_on,
                          dedupe_key=f"{service.CASE_ASSIGNED}:{case.id}:{assignment.id}")


def conclusion_submitted(case: Case, conclusion: Conclusion, *, by: User) -> int:
    """The supervisors who may approve it: active, their scope holding the case's unit, cleared,
    not recused, not its author. A conclusion returned and submitted again is a new event
    (keyed by its submission time)."""
    candidates = db.session.scalars(select(User).where(
        User.role == Role.SUPERVISOR, User.active.is_(True), User.id != by.id,
        User.unit_id.in_(_units_above(case.owner_unit_id)))).all()
    # policy.can_approve_conclusion, with the unit scope answered by the query above: asking it
    # per supervisor would walk the unit tree once for each of them.
    approvers = [user.id for user in candidates
                 if policy.can(user, "case.approve") and policy.cleared_for(user, case.classification)
                 and conclusion.author_id != user.id and not policy.is_recused(user, case)]
    stamp = (conclusion.submitted_at or utcnow()).isoformat()
    return service.notify(approvers, service.APPROVAL_AWAITING, target_type="case", target_id=case.id,
                          reference=case.reference, due_on=case.due_on,
                          dedupe_key=f"{service.APPROVAL_AWAITING}:{conclusion.id}:{stamp}")


def conclusion_returned(case: Case, conclusion: Conclusion, *, by: User) -> int:
    """The case's officers; each return of the same version is its own event."""
    return service.notify(_officers_of(case, by), service.CONCLUSION_RETURNED, target_type="case", target_id=case.id,
                          reference=case.reference, due_on=case.due_on,
                          dedupe_key=f"{service.CONCLUSION_RETURNED}:{conclusion.id}:{utcnow().isoformat()}")


def conclusion_approved(case: Case, conclusion: Conclusion, *, by: User) -> int:
    """The case's officers; a version is approved once."""
    return service.notify(_officers_of(case, by), service.CONCLUSION_APPROVED, target_type="case", target_id=case.id,
                          reference=case.reference, dedupe_key=f"{service.CONCLUSION_APPROVED}:{conclusion.id}")


def request_sent(request_: CoordinationRequest, *, by: User) -> int:
    """The liaisons of the addressed body who may answer it (people: a service account, the
    body's exchange account or an API client's, reads no notification)."""
    candidates = db.session.scalars(select(User).where(
        User.role == Role.LIAISON, User.active.is_(True), User.id != by.id, User.service_account.is_(False),
        User.unit_id == request_.body_unit_id)).all()
    liaisons = [user.id for user in candidates if policy.can_respond_to_request(user, request_)]
    return service.notify(liaisons, service.REQUEST_RECEIVED, target_type="request", target_id=request_.id,
                          reference=request_.case.reference, due_on=request_.due_on)


def request_answered(request_: CoordinationRequest, *, by: User) -> int:
    """The officers of the case that sent it. Asked for more and answered again: a new event."""
    stamp = (request_.answered_at or utcnow()).isoformat()
    return service.notify(_officers_of(request_.case, by), service.REQUEST_ANSWERED, target_type="request",
                          target_id=request_.id, reference=request_.case.reference,
                          dedupe_key=f"{service.REQUEST_ANSWERED}:{request_.id}:{stamp}")


def exchange_key_changed(unit: Unit, key, requests: Iterable[CoordinationRequest], *, by: User) -> int:
    """A body's exchange key was replaced: the other admins (about the body), and the officers
    of the body's open requests that went out as packages (about each request: an answer
    signed with the old key is refused from now on). Each replacement is its own event."""
    admins = db.session.scalars(select(User.id).where(
        User.role == Role.ADMIN, User.active.is_(True), User.id != by.id)).all()
    told = service.notify(admins, service.EXCHANGE_KEY_CHANGED, target_type="exchange_key", target_id=unit.id,
                          reference=unit.code, dedupe_key=f"{service.EXCHANGE_KEY_CHANGED}:{key.id}")
    for request_ in requests:
        told += service.notify(_officers_of(request_.case, by), service.EXCHANGE_KEY_CHANGED, target_type="request",
                               target_id=request_.id, reference=request_.case.reference,
                               dedupe_key=f"{service.EXCHANGE_KEY_CHANGED}:{key.id}:{request_.id}")
    return told


def break_glass_started(access: BreakGlassAccess, case: Case, *, by: User) -> int:
    """The auditors, who review every emergency access."""
    auditors = db.session.scalars(select(User.id).where(
        User.role == Role.AUDITOR, User.active.is_(True), User.id != by.id)).all()
    return service.notify(auditors, service.BREAK_GLASS_REVIEW, target_type="break_glass", target_id=access.id,
                          reference=case.reference)


def identity_release_asked(release: IdentityRelease, case: Case, *, by: User) -> int:
    """The supervisors who may approve the release of a petitioner's identity: active, their
    scope holding the case, cleared, not recused, not the asker."""
    candidates = db.session.scalars(select(User).where(
        User.role == Role.SUPERVISOR, User.active.is_(True), User.id != by.id,
        User.unit_id.in_(_units_above(case.owner_unit_id)))).all()
    # policy.can_approve_identity_release, with the unit scope answered by the query above.
    approvers = [user.id for user in candidates
                 if policy.can(user, "case.approve") and policy.cleared_for(user, case.classification)
                 and release.requested_by_id != user.id and not policy.is_recused(user, case)]
    return service.notify(approvers, service.IDENTITY_RELEASE_AWAITING, target_type="identity_release",
                          target_id=release.id, reference=case.reference,
                          dedupe_key=f"{service.IDENTITY_RELEASE_AWAITING}:{release.id}")


def identity_release_decided(release: IdentityRelease, case: Case, *, by: User) -> int:
    """The asker: their ask was released or refused (a release is decided once)."""
    if release.requested_by_id == by.id:
        return 0
    return service.notify([release.requested_by_id], service.IDENTITY_RELEASE_DECIDED,
                          target_type="identity_release", target_id=release.id, reference=case.reference,
                          dedupe_key=f"{service.IDENTITY_RELEASE_DECIDED}:{release.id}")


def recommendation_issued(visit: InspectionVisit, recommendation: Recommendation, *, by: User) -> int:
    """The officers and supervisors of the unit a recommendation is addressed to, cleared for
    the visit. Keyed by the recommendation and its unit: given to another unit, that one hears."""
    candidates = db.session.scalars(select(User).where(
        User.role.in_((Role.OFFICER, Role.SUPERVISOR)), User.active.is_(True), User.id != by.id,
        User.unit_id == recommendation.responsible_unit_id)).all()
    told = [user.id for user in candidates if policy.can_report_recommendation(user, visit, recommendation)]
    return service.notify(told, service.RECOMMENDATION_ISSUED, target_type="recommendation",
                          target_id=recommendation.id, reference=service.recommendation_reference(visit, recommendation),
                          due_on=recommendation.due_on,
                          dedupe_key=f"{service.RECOMMENDATION_ISSUED}:{recommendation.id}:"
                                     f"{recommendation.responsible_unit_id}")


def recommendation_reported(visit: InspectionVisit, recommendation: Recommendation, report: RecommendationReport,
                            *, by: User) -> int:
    """The supervisors of the inspecting unit, cleared for the visit; each report is an event."""
    candidates = db.session.scalars(select(User).where(
        User.role == Role.SUPERVISOR, User.active.is_(True), User.id != by.id, User.unit_id == visit.unit_id)).all()
    told = [user.id for user in candidates if policy.inspects_visit(user, visit)]
    return service.notify(told, service.RECOMMENDATION_REPORTED, target_type="recommendation",
                          target_id=recommendation.id, reference=service.recommendation_reference(visit, recommendation),
                          due_on=recommendation.due_on,
                          dedupe_key=f"{service.RECOMMENDATION_REPORTED}:{report.id}")


def _officers_of(case: Case, by: User) -> Iterable[uuid.UUID]:
    """The case's assigned officers who may still see it, but the actor."""
    return [assignment.user_id for assignment in case.assignments
            if assignment.user_id != by.id and assignment.user.active
            and policy.can_view_case(assignment.user, case)]


def _units_above(unit_id: uuid.UUID) -> set[uuid.UUID]:
    """A unit and every unit above it: the supervisors whose scope holds it sit there."""
    parents = {child: parent for child, parent in db.session.execute(select(Unit.id, Unit.parent_id))}
    found, current = set(), unit_id
    while current is not None and current not in found:
        found.add(current)
        current = parents.get(current)
    return found
