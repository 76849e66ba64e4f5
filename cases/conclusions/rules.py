"""Who may decide on a conclusion, and when: the one home of the rule.

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


def awaiting_approval(case: Any, conclusion: Any) -> bool:
    """The case waits for a supervisor's decision on this conclusion."""
    return conclusion is not None and case.state == "submitted" and conclusion.state == "submitted"


def can_approve_conclusion(user: Any, case: Any, conclusion: Any) -> bool:
    """May `user` approve (or return) `conclusion` now."""
    return awaiting_approval(case, conclusion) and policy.can_approve_conclusion(user, case, conclusion)
