"""Who may see and work a campaign: the facts the policy's campaign predicates need, read
in a few queries (never one per nominee), and loading a campaign with its check."""

from __future__ import annotations

import uuid

from flask_login import current_user
from sqlalchemy import case, exists, or_, select

from cases.models import Assignment, Campaign, CampaignNominee, subjects_about
from protection import policy
from protection.db import db
from protection.identity import Clearance, Role, User
from protection.marking import mark_page_classification


def recused_subject_ids(user: User | None, campaign_id: uuid.UUID) -> set[uuid.UUID]:
    """The campaign's nominees who are the user or one of their recorded relatives."""
    index = getattr(user, "citizen_index", None)
    if index is None:
        return set()
    return set(db.session.scalars(select(CampaignNominee.subject_id).where(
        CampaignNominee.campaign_id == campaign_id, CampaignNominee.subject_id.in_(subjects_about(index)))))


def worked_case_ids(user: User | None, campaign_id: uuid.UUID) -> set[uuid.UUID]:
    """The campaign's reviews assigned to the user."""
    if user is None:
        return set()
    return set(db.session.scalars(select(CampaignNominee.case_id).join(
        Assignment, Assignment.case_id == CampaignNominee.case_id).where(
        CampaignNominee.campaign_id == campaign_id, Assignment.user_id == user.id)))


def nominee_unit_ids(campaign_id: uuid.UUID, user: User | None = None) -> set[uuid.UUID]:
    """The units holding the campaign's rows; for `user`, leaving out the rows about them or
    a relative (recusal): a campaign reaching them only through such a row stays unknown."""
    statement = select(CampaignNominee.unit_id).where(CampaignNominee.campaign_id == campaign_id)
    index = getattr(user, "citizen_index", None)
    if index is not None:
        statement = statement.where(CampaignNominee.subject_id.not_in(subjects_about(index)))
    return set(db.session.scalars(statement.distinct()))


def can_view(user: User, campaign: Campaign) -> bool:
    """policy.can_view_campaign with its facts; the queries only when the owning unit alone
    does not answer."""
    if policy.can_view_campaign(user, campaign):
        return True
    return policy.can_view_campaign(user, campaign, nominee_unit_ids=nominee_unit_ids(campaign.id, user),
                                    works_on_it=bool(worked_case_ids(user, campaign.id)))


def can_manage_some(user: User, campaign: Campaign) -> bool:
    """An owner, or a supervisor of a unit holding some of its nominees (handed to it)."""
    if policy.owns_campaign(user, campaign):
        return True
    return any(policy.can_manage_nominee(user, campaign, unit_id, recused=False)
               for unit_id in nominee_unit_ids(campaign.id, user))


def load_campaign(campaign_id: uuid.UUID, need: str = "campaign.view") -> Campaign:
    """404 when the user may not know the campaign exists, 403 when they may see it but not
    `need` ("campaign.manage": its owners and the supervisors of units it was handed to;
    each operation checks its own rule again). Every refusal is recorded by the policy."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or not can_view(current_user, campaign):
        policy.deny(need, status=404)
    if need == "campaign.manage" and not can_manage_some(current_user, campaign):
        policy.deny(need)
    mark_page_classification(campaign.classification)
    return campaign


def campaigns_for(user: User) -> list[Campaign]:
    """Campaigns the user sees (can_view_campaign, in SQL): open first, by due date."""
    if not policy.can(user, "campaign.view"):
        return []
    scope = list(policy.unit_scope(user))
    cleared = [level for level in Clearance if Clearance(user.clearance).covers(level)]
    reach = [Campaign.owner_unit_id.in_(scope),
             exists().where(CampaignNominee.campaign_id == Campaign.id, Assignment.case_id == CampaignNominee.case_id,
                            Assignment.user_id == user.id)]
    if user.role == Role.SUPERVISOR:
        handed = [CampaignNominee.campaign_id == Campaign.id, CampaignNominee.unit_id.in_(scope)]
        if user.citizen_index is not None:  # never through the row about them (nominee_unit_ids)
            handed.append(CampaignNominee.subject_id.not_in(subjects_about(user.citizen_index)))
        reach.append(exists().where(*handed))
    return list(db.session.scalars(
        select(Campaign).where(Campaign.classification.in_(cleared), or_(*reach))
        .order_by(case((Campaign.state == "open", 0), else_=1), Campaign.due_on, Campaign.reference)))
