"""Deadlines in the app's context: the rule table of cases.workflow plus the rules and
holidays an installation configures (HOSO_DEADLINE_RULES, HOSO_HOLIDAYS)."""

from __future__ import annotations

from datetime import date, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext

from cases import workflow
from protection.i18n import local_today


def rules() -> tuple[workflow.DeadlineRule, ...]:
    return workflow.DEFAULT_DEADLINE_RULES + current_app.extensions["hoso.deadline_rules"]


def holidays() -> tuple[date, ...]:
    return tuple(current_app.config["HOSO_HOLIDAYS"])


def rule(key: str, start: date) -> workflow.DeadlineRule:
    return workflow.rule_for(key, start, rules())


def due(key: str, start: date, extensions: int = 0) -> date:
    return workflow.due_date(rule(key, start), start, extensions=extensions, holidays=holidays())


def add_working_days(start: date, days: int) -> date:
    return workflow.add_days(start, days, working_days=True, holidays=holidays())


def due_soon_limit(today: date) -> date:
    return today + timedelta(days=current_app.config["HOSO_DUE_SOON_DAYS"])


def relative_due(due_on: date, today: date) -> str:
    """A due date as the person acting on it thinks of it: "còn 3 ngày", "hôm nay",
    "trễ 5 ngày" (in English "in 3 days", "today", "5 days late"). Calendar days, whatever
    rule set the date: the question is how soon, not how many working days remain."""
    days = (due_on - today).days
    if days == 0:
        return _("hôm nay")
    if days > 0:
        return ngettext("còn %(num)d ngày", "còn %(num)d ngày", days)
    return ngettext("trễ %(num)d ngày", "trễ %(num)d ngày", -days)


def relative_due_filter(due_on: date | None, today: date | None = None) -> str:
    """The `relative_due` template filter: today is the organisation's unless given."""
    if due_on is None:
        return "—"
    return relative_due(due_on, today or local_today())
