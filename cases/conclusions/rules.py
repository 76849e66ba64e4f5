"""When a conclusion is drafted and submitted, and who may decide on it: the one home of
these rules.

A conclusion is drafted while its case is at the "concluding" step; the latest version is
being revised (and may be submitted) while it is a draft or has been returned.

A conclusion awaits a decision when it and its case are both "submitted" (workflow.py:
the officer's submit_conclusion moves both). Approving or returning it is the policy's
four eyes (protection.policy.can_approve_conclusion: a supervisor of the owning unit's
scope, cleared for the case, not recused, never the author) on a conclusion that awaits
a decision. The operations enforce it (conclusions.approve, return_for_revision); the case
page asks the same predicate to offer the button. Pure: no database, no Flask.
"""

from __future__ import annotations

from typing import Any

from protection import policy


def drafting(case: Any) -> bool:
    """The case is at the step where its conclusion is drafted."""
    return case.state == "concluding"


def in_revision(conclusion: Any) -> bool:
    """The conclusion is being written: a draft, or returned for revision."""
    return conclusion is not None and conclusion.state in ("draft", "returned")


def awaiting_approval(case: Any, conclusion: Any) -> bool:
    """The case waits for a supervisor's decision on this conclusion."""
    return conclusion is not None and case.state == "submitted" and conclusion.state == "submitted"


def can_approve_conclusion(user: Any, case: Any, conclusion: Any) -> bool:
    """May `user` approve (or return) `conclusion` now."""
    return awaiting_approval(case, conclusion) and policy.can_approve_conclusion(user, case, conclusion)
