"""The counts behind the report and the dashboards (cases/statistics.py), on the real
database with cases made through the services: they count what was created, and only
what the viewer may know exists (unit scope, clearance, recusal).

The world (`build_world`, shared with tests/test_reports.py and tests/test_dashboard.py):
BTCTU with its district HUYEN below it, and another unit BTGTU. In BTCTU: an approved
review of X (appointment, unclassified), a confidential review of Z in verification with a
request answered by the police committee DUCA, a top-secret review of Z, four petitions
(accepted complaint, filed denunciation, overdue reflection, forwarded recommendation).
In HUYEN: a secret review of Y and a petition. In BTGTU: one review.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from cases.access.operations import citizen_index
from cases.casework import operations
from cases.casework.operations import ReviewData
from cases.conclusions import operations as conclusions
from cases.conclusions.operations import ConclusionData
from cases.coordination import operations as coordination
from cases.coordination.operations import RequestData
from cases.models import Conclusion, CoordinationRequest, Subject
from cases.petitions import operations as petitions
from cases.petitions.operations import Decision, PetitionData
from cases.reports import statistics
from cases.subjects import operations as subjects
from cases.subjects.operations import SubjectData
from protection import accounts
from protection.db import db
from protection.i18n import local_date
from protection.identity import User
from tests.conftest import PASSWORD

# Protected values: none may show in a report or a chart.
TITLES = ("Thẩm định bổ nhiệm Giám đốc Sở Tài chính", "Thẩm định kết nạp Đảng viên mới",
          "Đơn khiếu nại về việc đánh giá cán bộ")
NAMES = ("Vương Thị Thống Kê", "Lục Văn Biểu Đồ", "Hà Thị Báo Cáo", "Người Gửi Đơn Khiếu Nại")
X_ID, Y_ID, Z_ID = "038079111111", "038080222222", "038081333333"


@dataclass
class World:
    users: dict
    ids: dict = field(default_factory=dict)
    today: date | None = None


def _user(made) -> User:
    return db.session.get(User, made.id)


def _review(subject, purpose, level, by, title=None):
    return operations.open_review(ReviewData(subject.id, purpose, level, title=title), by=by)


def build_world(app, make_unit, make_user) -> World:
    make_unit("BTCTU", "Ban Tổ chức Tỉnh ủy")
    make_unit("HUYEN", "Ban Tổ chức Huyện ủy", kind="district", parent="BTCTU")
    make_unit("BTGTU", "Ban Tuyên giáo Tỉnh ủy", kind="propaganda")
    make_unit("DUCA", "Đảng ủy Công an tỉnh", kind="police")
    made = {
        "officer": make_user("officer", unit="BTCTU", clearance="top_secret"),
        "officer_huyen": make_user("officer", unit="HUYEN", clearance="secret"),
        "officer_other": make_user("officer", unit="BTGTU", clearance="secret"),
        "supervisor": make_user("supervisor", unit="BTCTU", clearance="top_secret"),
        "supervisor_low": make_user("supervisor", unit="BTCTU", clearance="unclassified"),
        "supervisor_recused": make_user("supervisor", unit="BTCTU", clearance="top_secret"),
        "supervisor_huyen": make_user("supervisor", unit="HUYEN", clearance="top_secret"),
        "supervisor_other": make_user("supervisor", unit="BTGTU", clearance="top_secret"),
        "liaison": make_user("liaison", unit="DUCA", clearance="secret"),
        "auditor": make_user("auditor", unit="BTCTU", clearance="top_secret"),
    }
    world = World(made)
    with app.app_context():
        today = world.today = operations.today()
        officer, supervisor = _user(made["officer"]), _user(made["supervisor"])
        huyen_officer, other_officer = _user(made["officer_huyen"]), _user(made["officer_other"])
        btctu, huyen, btgtu = (accounts.find_unit(code) for code in ("BTCTU", "HUYEN", "BTGTU"))
        x = subjects.create_subject(SubjectData(NAMES[0], date(1979, 1, 2), X_ID), owner_unit=btctu, by=officer)
        y = subjects.create_subject(SubjectData(NAMES[1], date(1980, 3, 4), Y_ID), owner_unit=huyen, by=huyen_officer)
        z = subjects.create_subject(SubjectData(NAMES[2], date(1981, 5, 6), Z_ID), owner_unit=btctu, by=officer)
        w = subjects.create_subject(SubjectData("Đơn Vị Khác", date(1982, 7, 8), "038082444444"), owner_unit=btgtu,
                                    by=other_officer)

        approved = _review(x, "appointment", "unclassified", officer, TITLES[0])
        for action in ("start_examination", "start_appraisal", "start_conclusion"):
            operations.transition(approved, action, by=officer)
        conclusions.save_draft(approved, ConclusionData("no_issue", "Đủ tiêu chuẩn chính trị."), by=officer)
        conclusions.submit(approved, by=officer)
        conclusions.approve(approved, PASSWORD, by=supervisor)

        verifying = _review(z, "party_admission", "confidential", officer, TITLES[1])
        for action in ("start_examination", "start_verification"):
            operations.transition(verifying, action, by=officer)
        police = accounts.find_unit("DUCA")
        request_ = coordination.send_request(verifying, RequestData(police.id, "Đề nghị xác minh.",
                                                                   today + timedelta(days=10)), by=officer)
        liaison = _user(made["liaison"])
        coordination.acknowledge(request_, by=liaison)
        coordination.answer(request_, "Không có vấn đề.", by=liaison)
        # Sent six days before the answer: a known response time.
        request_.sent_on = (local_date(request_.answered_at) - timedelta(days=6))
        top_secret = _review(z, "other", "top_secret", officer)
        district = _review(y, "cadre_planning", "secret", huyen_officer)
        other = _review(w, "election", "unclassified", other_officer)

        complaint = petitions.receive_petition(PetitionData(
            received_on=today, channel="post", petition_type="complaint", classification="unclassified",
            summary="Nội dung khiếu nại.", petitioner_name=NAMES[3], title=TITLES[2], subject_id_numbers=[X_ID]),
            by=officer)
        petitions.decide(complaint, Decision("accept", note="Đủ điều kiện thụ lý."), by=officer)
        denunciation = petitions.receive_petition(PetitionData(
            received_on=today, channel="post", petition_type="denunciation", classification="unclassified",
            summary="Nội dung tố cáo.", anonymous=True, named_people=["Người Bị Nêu Tên"]), by=officer)
        petitions.decide(denunciation, Decision("file", reason="vague_content"), by=officer)
        reflection = petitions.receive_petition(PetitionData(
            received_on=today - timedelta(days=20), channel="in_person", petition_type="reflection",
            classification="unclassified", summary="Phản ánh.", petitioner_name="Người Phản Ánh",
            named_people=["Người Bị Phản Ánh"]), by=officer)
        reflection.due_on = today - timedelta(days=2)  # its intake decision is overdue
        recommendation = petitions.receive_petition(PetitionData(
            received_on=today, channel="electronic", petition_type="recommendation",
            classification="unclassified", summary="Kiến nghị.", petitioner_name="Người Kiến Nghị",
            named_people=["Người Được Nêu"]), by=officer)
        petitions.decide(recommendation, Decision("forward", note="Không thuộc thẩm quyền.",
                                                  forwarded_to=btgtu.id), by=officer)
        recommendation.due_on = today - timedelta(days=1)  # forwarded a day late
        district_petition = petitions.receive_petition(PetitionData(
            received_on=today, channel="post", petition_type="complaint", classification="unclassified",
            summary="Khiếu nại ở huyện.", petitioner_name="Người Ở Huyện", named_people=["Cán Bộ Huyện"]),
            by=huyen_officer)

        _user(made["supervisor_recused"]).citizen_index = citizen_index(X_ID)
        world.ids = {"approved": approved.id, "verifying": verifying.id, "top_secret": top_secret.id,
                     "district": district.id, "other": other.id, "complaint": complaint.id,
                     "denunciation": denunciation.id, "reflection": reflection.id,
                     "recommendation": recommendation.id, "district_petition": district_petition.id,
                     "x": x.id, "request": request_.id}
        db.session.commit()
    return world


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
            assert operations.needs_re_review(x, on) == bool(expected)
        # The recused supervisor does not count the review about themselves.
        assert statistics.re_reviews_due(scope_of(world, "supervisor_recused"), valid_until + timedelta(days=1)) == {}


def test_a_period_cannot_end_before_it_starts():
    with pytest.raises(ValueError):
        statistics.Period(date(2026, 2, 1), date(2026, 1, 31))
