"""What the campaign pages offer to choose from: the units a supervisor may own a campaign
in, the units below a campaign's owner to hand nominees to, and the officers to assign; and
the list's nominee counts.
Offering is a courtesy; the operations check every choice again (scope, clearance,
recusal), so a forged choice is refused there, beside its field or flashed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select

from cases.models import Campaign, CampaignNominee, subjects_about
from protection import policy
from protection.db import db
from protection.identity import Role, Unit, User


def units_in_scope(user: User) -> list[Unit]:
    """The units the user's role reaches, their own first, then by code."""
    units = db.session.scalars(select(Unit).where(Unit.id.in_(policy.unit_scope(user)))).all()
    return sorted(units, key=lambda unit: (unit.id != user.unit_id, unit.code))


def working_units(campaign: Campaign, user: User) -> list[Unit]:
    """Units of the campaign's tree that the user reaches: where its reviews may be worked."""
    reach = policy.units_under(campaign.owner_unit_id) & policy.unit_scope(user)
    return [unit for unit in units_in_scope(user) if unit.id in reach]


def units_below(campaign: Campaign, units: list[Unit]) -> list[Unit]:
    """Of the working units, those a supervisor may hand nominees to (cadre management
    levels): below the owner."""
    return [unit for unit in units if unit.id != campaign.owner_unit_id]


@dataclass(frozen=True)
class Officer:
    id: object
    name: str
    unit_id: object
    unit_code: str


def officers(units: list[Unit]) -> list[Officer]:
    """Active officers of the working units: whom the campaign's reviews may be assigned to."""
    codes = {unit.id: unit.code for unit in units}
    rows = db.session.execute(select(User.id, User.display_name, User.unit_id)
                              .where(User.unit_id.in_(codes), User.role == Role.OFFICER, User.active.is_(True))
                              .order_by(User.display_name, User.username)).all()
    return [Officer(row.id, row.display_name, row.unit_id, codes[row.unit_id]) for row in rows]


def nominee_counts(campaigns: list[Campaign], user: User) -> dict:
    """{campaign id: how many of its nominees the user sees}, in one query: a count, never who.
    The board's rule (policy.can_see_nominee for a supervisor): rows of a campaign whose owning
    unit is in scope, or rows handed to a unit in scope; never a row about the user or a
    relative — a total one higher than the board would tell them they are listed."""
    if not campaigns:
        return {}
    scope = list(policy.unit_scope(user))
    statement = (select(CampaignNominee.campaign_id, func.count())
                 .join(Campaign, Campaign.id == CampaignNominee.campaign_id)
                 .where(CampaignNominee.campaign_id.in_([item.id for item in campaigns]),
                        or_(Campaign.owner_unit_id.in_(scope), CampaignNominee.unit_id.in_(scope))))
    index = getattr(user, "citizen_index", None)
    if index is not None:
        statement = statement.where(CampaignNominee.subject_id.not_in(subjects_about(index)))
    return dict(db.session.execute(statement.group_by(CampaignNominee.campaign_id)).all())
