"""The classification marking of a page: a page that shows anything classified above
"unclassified" carries the highest level it shows in a banner at its top and bottom
(base.html), as a classified paper document carries its marking "MẬT", "TỐI MẬT" or
"TUYỆT MẬT" (Law on Protection of State Secrets, 29/2018/QH14): a reader, or whoever
looks over their shoulder or at a printout of the screen, sees at once how the page must
be handled, whichever part of it is in view.

Views (and operations.load_case, for every page about one case) call
`mark_page_classification` with the level of each case, finding, attachment or request
they render; base.html reads `g.page_classification`. Nothing marked, no banner.
"""

from __future__ import annotations

from flask import g, has_request_context

from .identity import Clearance


def mark_page_classification(*levels) -> None:
    """Raise this request's page marking to the highest of `levels` (Clearance values or
    their codes; None is ignored). Unclassified alone leaves the page unmarked."""
    if not has_request_context():
        return
    highest = g.get("page_classification")
    for level in levels:
        if level is None:
            continue
        level = Clearance(level)
        if level.rank > Clearance.UNCLASSIFIED.rank and (highest is None or level.rank > highest.rank):
            highest = level
    if highest is not None:
        g.page_classification = highest


def page_classification() -> Clearance | None:
    return g.get("page_classification") if has_request_context() else None
