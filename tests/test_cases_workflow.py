"""The lifecycle tables and the deadline rules: pure functions, checked directly."""

from __future__ import annotations

from datetime import date

import pytest

from cases import workflow
from cases.workflow import (
    COORDINATION,
    PETITION,
    REVIEW,
    DeadlineRule,
    IllegalTransition,
    add_days,
    add_months,
    due_date,
    parse_rules,
    rule_for,
)


def test_review_steps_in_order_and_only_by_their_role():
    state = REVIEW.initial
    for action in ("start_examination", "start_verification", "start_appraisal", "start_conclusion",
                   "submit_conclusion"):
        state = REVIEW.transition(state, action, "officer").target
    assert state == "submitted"
    with pytest.raises(IllegalTransition):
        REVIEW.transition(state, "approve_conclusion", "officer")  # an officer never approves
    assert REVIEW.transition(state, "return_conclusion", "supervisor").target == "concluding"
    assert REVIEW.transition(state, "approve_conclusion", "supervisor").target == "closed"
    assert not REVIEW.is_open("closed")


def test_an_illegal_transition_names_nothing_but_the_step():
    with pytest.raises(IllegalTransition) as raised:
        REVIEW.transition("records_review", "approve_conclusion")
    assert "records_review" in str(raised.value) and "approve_conclusion" in str(raised.value)


def test_verification_can_be_skipped_but_not_the_appraisal():
    assert REVIEW.transition("examination", "start_appraisal", "officer").target == "appraisal"
    with pytest.raises(IllegalTransition):
        REVIEW.transition("examination", "start_conclusion", "officer")


def test_petition_intake_decisions_and_final_states():
    assert {t.action for t in PETITION.actions("received", "officer")} == {
        "accept", "forward", "keep_for_monitoring", "file"}
    assert PETITION.final == {"forwarded", "filed", "closed"}
    assert PETITION.transition("monitoring", "accept", "officer").target == "accepted"


def test_coordination_answer_loop():
    state = COORDINATION.transition("sent", "acknowledge", "liaison").target
    state = COORDINATION.transition(state, "answer", "liaison").target
    state = COORDINATION.transition(state, "request_more", "officer").target
    assert state == "more_requested"
    state = COORDINATION.transition(state, "answer", "liaison").target
    assert COORDINATION.transition(state, "accept_answer", "officer").target == "accepted"
    with pytest.raises(IllegalTransition):
        COORDINATION.transition("sent", "answer", "officer")


def test_a_table_with_two_rows_for_one_step_is_refused():
    with pytest.raises(ValueError):
        workflow.Workflow("x", "a", ("a", "b", "go", {"officer"}), ("a", "c", "go", {"officer"}))


# --- deadlines ---------------------------------------------------------------------------------

def test_working_days_skip_weekends_and_holidays():
    friday = date(2026, 11, 27)
    assert add_days(friday, 5, working_days=True) == date(2026, 12, 4)  # Mon..Fri next week
    assert add_days(friday, 1, working_days=True) == date(2026, 11, 30)  # Monday
    assert add_days(friday, 1, working_days=True, holidays=[date(2026, 11, 30)]) == date(2026, 12, 1)
    assert add_days(friday, 5, working_days=False) == date(2026, 12, 2)


def test_default_rules_match_the_regulation():
    accepted = date(2026, 3, 2)
    denunciation = rule_for("denunciation", accepted)
    assert due_date(denunciation, accepted) == date(2026, 4, 1)
    assert due_date(denunciation, accepted, extensions=2) == date(2026, 5, 31)
    with pytest.raises(ValueError):
        due_date(denunciation, accepted, extensions=3)
    assert due_date(rule_for("complaint", accepted), accepted) == date(2026, 4, 1)
    assert due_date(rule_for("complaint_complex", accepted), accepted) == date(2026, 4, 16)
    assert due_date(rule_for("reflection", accepted), accepted) == date(2026, 3, 17)
    assert workflow.petition_rule_key("complaint", True) == "complaint_complex"
    assert workflow.petition_rule_key("denunciation", True) == "denunciation"
    received_friday = date(2026, 11, 27)
    assert due_date(rule_for("forwarding", received_friday), received_friday) == date(2026, 12, 4)


def test_a_newer_rule_applies_from_its_effective_date_only():
    newer = DeadlineRule("reflection", "accepted", 10, effective_from=date(2027, 1, 1))
    rules = workflow.DEFAULT_DEADLINE_RULES + (newer,)
    assert rule_for("reflection", date(2026, 12, 31), rules).days == 15
    assert rule_for("reflection", date(2027, 1, 1), rules).days == 10
    with pytest.raises(KeyError):
        rule_for("no-such-rule", date(2026, 1, 1), rules)


def test_rules_from_settings_are_checked():
    parsed = parse_rules([{"key": "reflection", "start_event": "accepted", "days": 20,
                           "effective_from": "2027-07-01"}])
    assert parsed[0].effective_from == date(2027, 7, 1) and parsed[0].days == 20
    for bad in ([{"key": "x"}], [{"key": "x", "start_event": "y", "days": -1}],
                [{"key": "x", "start_event": "y", "days": 1, "effective_from": "31/12/2026"}]):
        with pytest.raises(ValueError, match="deadline rule 1"):
            parse_rules(bad)


@pytest.mark.parametrize(("start", "months", "expected"), [
    (date(2026, 1, 31), 1, date(2026, 2, 28)),
    (date(2026, 8, 15), 6, date(2027, 2, 15)),
    (date(2024, 8, 31), 6, date(2025, 2, 28)),
    (date(2026, 12, 1), 12, date(2027, 12, 1)),
])
def test_validity_in_months(start, months, expected):
    assert add_months(start, months) == expected
