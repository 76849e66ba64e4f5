"""What the administration pages read: users and units, in the orders their lists offer.

Account columns are plain (names included), so these are ordinary queries; the views in
protection/admin.py only choose the page and the order and render.
"""

from __future__ import annotations

import uuid

from sqlalchemy import case, select

from . import paging
from .db import db
from .identity import CLEARANCE_ORDER, Unit, User

# The lists' orders (protection/paging.py): account columns are plain, names included.
_CLEARANCE_RANK = case({level.value: level.rank for level in CLEARANCE_ORDER}, value=User.clearance, else_=0)
USER_SORTS = {
    "username": (User.username,),
    "name": (User.display_name, User.username),
    "unit": (Unit.code, User.username),
    "role": (User.role, User.username),
    "clearance": (_CLEARANCE_RANK, User.username),
    "status": (User.active, User.username),
}
UNIT_SORTS = {
    "code": (Unit.code,),
    "name": (Unit.name, Unit.code),
    "kind": (Unit.kind, Unit.code),
}


def active_units() -> list[Unit]:
    """The units a user can be placed in, by code."""
    return list(db.session.scalars(select(Unit).where(Unit.active.is_(True)).order_by(Unit.code)))


def all_units() -> list[Unit]:
    """Every unit, inactive ones too (a new unit's parent may be any of them), by code."""
    return list(db.session.scalars(select(Unit).order_by(Unit.code)))


def user_by_id(user_id: uuid.UUID) -> User | None:
    return db.session.get(User, user_id)


def users_page(sort: paging.Sort, number: int) -> paging.Page:
    return paging.paginate(select(User).join(Unit, User.unit_id == Unit.id)
                           .order_by(*paging.sort_clause(sort, USER_SORTS)), number)


def units_page(sort: paging.Sort, number: int) -> paging.Page:
    return paging.paginate(select(Unit).order_by(*paging.sort_clause(sort, UNIT_SORTS)), number)
