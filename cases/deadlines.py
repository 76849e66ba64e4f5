"""Deadlines in the app's context: the rule table of cases.workflow plus the rules and
holidays an installation configures (HOSO_DEADLINE_RULES, HOSO_HOLIDAYS)."""

from __future__ import annotations

from datetime import date, timedelta

from flask import current_app

from . import workflow


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
