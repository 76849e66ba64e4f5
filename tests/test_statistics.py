"""The counts behind the report and the dashboards (cases/statistics.py), on the real
database with cases made through the services: they count what was created, and only
what the viewer may know exists (unit scope, clearance, recusal).

The world is `build_world` in tests/factories.py (shared with tests/test_reports.py and
tests/test_dashboard.py): BTCTU with its district HUYEN below it, and another unit BTGTU. In
BTCTU: an approved review of X (appointment, unclassified), a confidential review of Z in
verification with a request answered by the police committee DUCA, a top-secret review of Z,
four petitions (accepted complaint, filed denunciation, overdue reflection, forwarded
recommendation). In HUYEN: a secret review of Y and a petition. In BTGTU: one review.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from cases.models import Conclusion, CoordinationRequest, Subject
from cases.reports import statistics
from cases.reviews import operations as reviews
from protection import accounts
from protection.db import db
from tests.factories import World, build_world
from tests.factories import user_row as _user


@pytest.fixture
def world(app, make_unit, make_user) -> World:
    return build_world(app, make_unit, make_user)


def scope_of(world: World, who: str, unit: str | None = None) -> statistics.Scope:
    user = _user(world.users[who])
    unit_id = accounts.find_unit(unit).id if unit else None
    return statistics.viewer_scope(user, unit_id)


def this_year(world: World) -> statistics.Period:
    return statistics.Period(world.today - timedelta(days=365), world.today)


# --- what was created is what is counted ------------------------------------------------------

def test_cases_by_state_and_kind_count_the_scope(app, world):
    with app.app_context():
        everything = statistics.cases_by_state_and_kind(scope_of(world, "supervisor"))
        assert everything == {("review", "closed"): 1, ("review", "verification"): 1,
                              ("review", "records_review"): 2, ("petition", "accepted"): 1,
                              ("petition", "filed"): 1, ("petition", "received"): 2,
                              ("petition", "forwarded"): 1}
        # One unit of the scope: the district alone.
        assert statistics.cases_by_state_and_kind(scope_of(world, "supervisor", "HUYEN")) == {
            ("review", "records_review"): 1, ("petition", "received"): 1}
        # The command line's scope: a unit and its sub-units at every classification.
        command_line = statistics.unit_scope(accounts.find_unit("BTCTU").id)
        assert statistics.cases_by_state_and_kind(command_line) == everything
        assert sum(statistics.cases_by_state_and_kind(statistics.unit_scope(None)).values()) == 10


def test_nobody_counts_what_they_may_not_see(app, world):
    with app.app_context():
        def total(who, unit=None):
            return sum(statistics.cases_by_state_and_kind(scope_of(world, who, unit)).values())

        assert total("supervisor") == 9
        # Below clearance: the confidential, secret and top-secret reviews are not counted.
        assert total("supervisor_low") == 6
        # Recused (the citizen ID of X): the review of X and the complaint naming X are not counted.
        assert total("supervisor_recused") == 7
        # Another unit: only its own case; a district's supervisor: the district only.
        assert total("supervisor_other") == 1
        assert total("supervisor_huyen") == 2
        # Officers have no sub-units: the BTCTU officer does not count the district's cases.
        assert total("officer") == 7
        assert total("officer_huyen") == 2
        # A unit outside the viewer's scope counts nothing, whatever is asked.
        assert total("supervisor_other", "BTCTU") == 0
        # Roles that never see cases count nothing at all.
        assert total("liaison") == 0 and total("auditor") == 0
        low = statistics.reviews_by_purpose(scope_of(world, "supervisor_low"), this_year(world))
        assert "party_admission" not in low and low["appointment"].concluded == 1
        recused = statistics.reviews_by_purpose(scope_of(world, "supervisor_recused"), this_year(world))
        assert "appointment" not in recused


def test_reviews_by_purpose_and_outcome(app, world):
    with app.app_context():
        counts = statistics.reviews_by_purpose(scope_of(world, "supervisor"), this_year(world))
        assert {purpose: item.opened for purpose, item in counts.items()} == {
            "appointment": 1, "party_admission": 1, "other": 1, "cadre_planning": 1}
        assert counts["appointment"].outcomes == {"no_issue": 1} and counts["appointment"].concluded == 1
        assert counts["party_admission"].concluded == 0
        # A period that ended yesterday saw the reviews neither opened nor concluded.
        yesterday = world.today - timedelta(days=1)
        assert statistics.reviews_by_purpose(scope_of(world, "supervisor"),
                                             statistics.Period(yesterday, yesterday)) == {}


def test_petitions_by_type_disposition_and_deadline(app, world):
    with app.app_context():
        counts = statistics.petitions_by_type(scope_of(world, "supervisor"), this_year(world), world.today)
        assert {kind: item.received for kind, item in counts.items()} == {
            "complaint": 2, "denunciation": 1, "reflection": 1, "recommendation": 1}
        assert counts["complaint"].decisions == {"accept": 1, None: 1}
        assert counts["denunciation"].decisions == {"file": 1}
        assert counts["denunciation"].timeliness == {"on_time": 1}
        assert counts["reflection"].timeliness == {"overdue": 1}
        assert counts["recommendation"].decisions == {"forward": 1}
        assert counts["recommendation"].timeliness == {"late": 1}
        assert counts["complaint"].timeliness == {"open": 2}


def test_petitions_per_month(app, world):
    with app.app_context():
        months = statistics.petitions_per_month(scope_of(world, "supervisor"), world.today)
        assert len(months) == 12 and months[-1].first_day == world.today.replace(day=1)
        assert months[0].first_day < months[1].first_day
        assert sum(month.received for month in months) == 5
        assert sum(month.resolved for month in months) == 2  # filed and forwarded
        earlier = (world.today - timedelta(days=20)).replace(day=1)
        by_month = {month.first_day: month for month in months}
        assert by_month[earlier].received >= 1  # the reflection, received 20 days ago
    assert statistics.month_starts(date(2026, 2, 15), 3) == [date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1)]


def test_coordination_by_body(app, world):
    with app.app_context():
        bodies = statistics.coordination_by_body(scope_of(world, "supervisor"), this_year(world), world.today)
        assert [(body.code, body.sent, body.answered, body.response_days, body.overdue) for body in bodies] == [
            ("DUCA", 1, 1, [6], 0)]
        assert bodies[0].median_days == 6.0 and bodies[0].mean_days == 6.0
        # The confidential case is above this supervisor's clearance: its request is not counted.
        assert statistics.coordination_by_body(scope_of(world, "supervisor_low"), this_year(world), world.today) == []
        # Overdue: still open past its due date.
        request_ = db.session.get(CoordinationRequest, world.ids["request"])
        request_.state, request_.answered_at, request_.due_on = "more_requested", None, world.today - timedelta(days=1)
        db.session.flush()
        body = statistics.coordination_by_body(scope_of(world, "supervisor"), this_year(world), world.today)[0]
        assert (body.answered, body.overdue, body.median_days) == (0, 1, None)
        db.session.rollback()


def test_on_time_rate(app, world):
    with app.app_context():
        counts = statistics.on_time(scope_of(world, "supervisor"), this_year(world))
        # The review closed today, due in 30 days; the filed denunciation on time; the
        # recommendation forwarded after its due date.
        assert (counts["review"].closed, counts["review"].on_time) == (1, 1)
        assert (counts["petition"].closed, counts["petition"].on_time, counts["petition"].late) == (2, 1, 1)
        total = statistics.total_on_time(counts)
        assert (total.closed, total.on_time, total.rate) == (3, 2, 66.7)
        assert statistics.OnTime().rate is None


def test_re_reviews_due_agree_with_the_case_rules(app, world):
    with app.app_context():
        valid_until = db.session.scalar(select(Conclusion.valid_until).where(
            Conclusion.case_id == world.ids["approved"], Conclusion.state == "approved"))
        x = db.session.get(Subject, world.ids["x"])
        for on, expected in ((valid_until, {}), (valid_until + timedelta(days=1), {"appointment": 1})):
            assert statistics.re_reviews_due(scope_of(world, "supervisor"), on) == expected
            assert reviews.needs_re_review(x, on) == bool(expected)
        # The recused supervisor does not count the review about themselves.
        assert statistics.re_reviews_due(scope_of(world, "supervisor_recused"), valid_until + timedelta(days=1)) == {}


def test_a_period_cannot_end_before_it_starts():
    with pytest.raises(ValueError):
        statistics.Period(date(2026, 2, 1), date(2026, 1, 31))
