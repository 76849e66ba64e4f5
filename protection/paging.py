"""One page of a list, and the order it is read in: the same rules for every list.

- The order comes from the address (`sort=KEY&dir=asc|desc`) but only through a whitelist
  of plain columns a list names: the database never orders by a sealed value (it holds
  ciphertext, whose order says nothing and would hint at lengths), and no text from the
  address reaches SQL. An unknown key or direction falls back to the list's default.
- The page number: text that is not a number (`page=abc`, a truncated link) falls back to
  the first page, like an unknown sort; a number no link of ours makes (0, negative, or
  past MAX_PAGE, where an OFFSET no longer fits the database's integer) gets the 400 page;
  a page past the end shows the last one (rows come and go between two clicks).
- Counting stops at a cap where a list asks for it (the case list: "5000+"), so a long
  history costs no more than the page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import abort
from sqlalchemy import ColumnElement, Select, func, literal_column, select

from .db import db

PER_PAGE = 50
MAX_PAGE = 10_000_000
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")


class Count(int):
    """A count that may have stopped at its cap: shows as "999+" then."""

    capped: bool = False

    def __new__(cls, value: int, cap: int):
        count = super().__new__(cls, min(value, cap))
        count.capped = value > cap
        return count

    def __str__(self) -> str:
        return f"{int(self)}+" if self.capped else str(int(self))


def bounded_count(statement: Select, cap: int, column: Any = None) -> Count:
    """How many rows `statement` gives, counting no further than cap + 1."""
    limited = (statement.with_only_columns(column if column is not None else literal_column("1"))
               .order_by(None).limit(cap + 1).subquery())
    return Count(db.session.scalar(select(func.count()).select_from(limited)), cap)


def exact_count(statement: Select) -> int:
    return db.session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0


@dataclass
class Page:
    """The rows of one page, and where it sits: `page` of `pages`, `total` rows in all."""

    rows: list
    total: int
    page: int
    pages: int
    per_page: int = PER_PAGE

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def _placed(total: int, page: int, per_page: int) -> tuple[int, int]:
    pages = max(1, -(-int(total) // per_page))
    return min(max(1, page), pages), pages


def paginate(statement: Select, page: int, per_page: int = PER_PAGE, *, cap: int | None = None,
             count_column: Any = None) -> Page:
    """One page of an ordered SELECT of entities; the total exact, or bounded by `cap`."""
    total = bounded_count(statement, cap, count_column) if cap is not None else exact_count(statement)
    page, pages = _placed(total, page, per_page)
    rows = list(db.session.scalars(statement.limit(per_page).offset((page - 1) * per_page)))
    return Page(rows=rows, total=total, page=page, pages=pages, per_page=per_page)


def paginate_rows(rows: Sequence, page: int, per_page: int = PER_PAGE) -> Page:
    """One page of rows already in memory: a list the policy filters row by row after the
    database (clearance and recusal in the liaison's inbox, a subject search's matches)."""
    page, pages = _placed(len(rows), page, per_page)
    start = (page - 1) * per_page
    return Page(rows=list(rows[start:start + per_page]), total=len(rows), page=page, pages=pages, per_page=per_page)


def page_number(args: Mapping[str, str], name: str = "page") -> int:
    """The page asked for; see the module's rules."""
    text = (args.get(name) or "").strip()
    if not _WHOLE_NUMBER.fullmatch(text):
        return 1
    number = int(text)
    if not 1 <= number <= MAX_PAGE:
        abort(400)
    return number


# --- sorting ----------------------------------------------------------------------------

@dataclass(frozen=True)
class NullsLast:
    """A column whose empty values go last in either direction (a case with no due date
    is never the most urgent, nor the least)."""

    column: Any


@dataclass(frozen=True)
class Sort:
    """The order a list is shown in: a key of its whitelist and a direction."""

    key: str
    descending: bool = False

    @property
    def direction(self) -> str:
        return "desc" if self.descending else "asc"


def sort_choice(args: Mapping[str, str], allowed: Mapping[str, Any], default: Sort) -> Sort:
    """The order asked for in the address, when its key is one the list offers; else the
    list's default. A direction other than asc/desc keeps the key's usual direction."""
    key = args.get("sort")
    if key not in allowed:
        return default
    direction = args.get("dir")
    if direction not in ("asc", "desc"):
        return Sort(key, default.descending if key == default.key else False)
    return Sort(key, direction == "desc")


def sort_clause(sort: Sort, allowed: Mapping[str, Sequence[Any]]) -> list[ColumnElement]:
    """ORDER BY terms for `sort`: each column of the key's entry, in the chosen direction
    (a NullsLast column keeps its empty values last). The whitelist's columns only."""
    terms: list[ColumnElement] = []
    for column in allowed[sort.key]:
        if isinstance(column, NullsLast):
            terms.append(column.column.is_(None))
            column = column.column
        terms.append(column.desc() if sort.descending else column.asc())
    return terms


def sort_rows(rows: Sequence, sort: Sort, allowed: Mapping[str, Callable[[Any], Any]]) -> list:
    """Rows in memory in the chosen order (see paginate_rows)."""
    return sorted(rows, key=allowed[sort.key], reverse=sort.descending)
