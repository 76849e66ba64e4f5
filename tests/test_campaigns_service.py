"""Review campaigns' operations (issue 20 §A): creating and closing, nominees from a list or
from dossiers, reuse before work, opening and assigning reviews, cadre management levels,
the board and the committee's summary — through the real operations on the real database.

The province BTCTU has the district HUYEN below it; BTGTU is another unit. Nominees whose
dossier a district keeps are worked by the district."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import event, select

from cases.campaigns import operations as campaigns
from cases.campaigns.operations import BoardFilters, CampaignData, CampaignError
from cases.models import Campaign, CampaignNominee, Case, Subject
from cases.notifications.models import Notification
from cases.subjects.operations import RelativeData, add_relative
from cases.subjects.roster import NOMINEE_COLUMNS, RosterFileError, parse_roster
from protection import accounts
from protection.db import db
from protection.identity import Role
from tests import factories
from tests.conftest import audit_entries
from tests.factories import PASSWORD, user_row

NAMES = ("Lê Văn Đề Cử", "Phạm Thị Ứng Viên", "Hoàng Văn Huyện Quản", "Đinh Thị Mới Toanh", "Vũ Văn Ngoài Tầm")
IDS = ("038090000001", "038090000002", "038090000003", "038090000004", "038090000005")
TITLE = "Nhân sự Đại hội Đảng bộ tỉnh nhiệm kỳ 2025–2030 (thử)"


@dataclass
class Province:
    users: dict
    today: date


@pytest.fixture
def province(app, make_unit, make_user) -> Province:
    make_unit("BTCTU", "Ban Tổ chức Tỉnh ủy")
    make_unit("HUYEN", "Ban Tổ chức Huyện ủy", kind="district", parent="BTCTU")
    make_unit("BTGTU", "Ban Tuyên giáo Tỉnh ủy", kind="propaganda")
    users = {
        "supervisor": make_user("supervisor", unit="BTCTU", clearance="top_secret"),
        "officer1": make_user("officer", unit="BTCTU", clearance="secret"),
        "officer2": make_user("officer", unit="BTCTU", clearance="secret"),
        "officer_low": make_user("officer", unit="BTCTU", clearance="unclassified"),
        "supervisor_huyen": make_user("supervisor", unit="HUYEN", clearance="top_secret"),
        "officer_huyen": make_user("officer", unit="HUYEN", clearance="secret"),
        "supervisor_other": make_user("supervisor", unit="BTGTU", clearance="top_secret"),
    }
    with app.app_context():
        return Province(users, factories.operations.today())


def _user(province, name):
    return user_row(province.users[name])


def _unit(code):
    return accounts.find_unit(code)


def _campaign(province, *, due_in: int = 30, classification: str = "confidential", purpose: str = "congress",
              unit: str = "BTCTU") -> Campaign:
    return campaigns.create_campaign(CampaignData(purpose, TITLE, _unit(unit).id, province.today + timedelta(days=due_in),
                                                  classification), by=_user(province, "supervisor"))


def _csv(*rows: tuple) -> str:
    lines = [",".join(NOMINEE_COLUMNS)]
    lines += [f"{id_number},{name},01/02/1975,Sở Nội vụ,Giám đốc" for id_number, name in rows]
    return "\n".join(lines) + "\n"


def _rows(*rows: tuple):
    parsed = parse_roster(_csv(*rows), required=NOMINEE_COLUMNS)
    assert parsed.problems == []
    return parsed.rows


def _dossier(by, name, id_number, unit_code):
    return factories.make_subject(by, name, id_number=id_number, owner_unit=_unit(unit_code))


def _nominees(campaign) -> list[CampaignNominee]:
    return list(db.session.scalars(select(CampaignNominee).where(CampaignNominee.campaign_id == campaign.id)
                                   .order_by(CampaignNominee.position_in_list)))


def _approved_review(subject, officer, supervisor, *, outcome="no_issue") -> Case:
    case = factories.open_review(officer, subject, purpose="election", classification="confidential")
    factories.to_conclusion(case, by=officer)
    factories.submit_conclusion(case, by=officer, outcome=outcome)
    factories.approve_conclusion(case, by=supervisor, secret=PASSWORD)
    return case


# --- creating and closing --------------------------------------------------------------------------

def test_a_supervisor_creates_a_campaign_with_a_reference_and_an_audit_entry_without_its_title(app, province):
    with app.app_context():
        campaign = _campaign(province)
        reference, campaign_id = campaign.reference, campaign.id
        db.session.commit()
    assert reference == f"DTD-{province.today.year}-0001"
    (entry,) = audit_entries(app, "campaign.create")
    assert entry.target_id == str(campaign_id) and TITLE not in entry.detail and "congress" in entry.detail


@pytest.mark.parametrize(("change", "field"), [
    ({"purpose": "coronation"}, "purpose"),
    ({"title": "   "}, "title"),
    ({"title": "x" * 301}, "title"),
    ({"due_in": -1}, "due_on"),
    ({"unit": "BTGTU"}, "owner_unit_id"),
    ({"classification": "cosmic"}, "classification"),
])
def test_bad_campaign_data_is_refused_beside_its_field(app, province, change, field):
    with app.app_context():
        supervisor = _user(province, "supervisor")
        data = CampaignData(change.get("purpose", "congress"), change.get("title", TITLE),
                            _unit(change.get("unit", "BTCTU")).id,
                            province.today + timedelta(days=change.get("due_in", 10)),
                            change.get("classification", "secret"))
        with pytest.raises(CampaignError) as refused:
            campaigns.create_campaign(data, by=supervisor)
        assert refused.value.field == field
        assert db.session.scalar(select(Campaign.id)) is None


def test_a_campaign_above_the_creators_clearance_or_by_an_officer_is_refused(app, province, make_user):
    low = make_user("supervisor", unit="BTCTU", clearance="confidential")
    with app.app_context():
        data = CampaignData("planning", TITLE, _unit("BTCTU").id, province.today, "secret")
        with pytest.raises(CampaignError) as refused:
            campaigns.create_campaign(data, by=user_row(low))
        assert refused.value.field == "classification"
        with pytest.raises(CampaignError):
            campaigns.create_campaign(data, by=_user(province, "officer1"))


def test_a_closed_campaign_refuses_every_change(app, province):
    with app.app_context():
        supervisor = _user(province, "supervisor")
        campaign = _campaign(province)
        campaigns.add_nominees_from_roster(campaign, _rows((IDS[0], NAMES[0])), by=supervisor)
        (nominee,) = _nominees(campaign)
        campaigns.close_campaign(campaign, by=supervisor)
        assert campaign.state == "closed" and campaign.closed_by_id == supervisor.id
        for attempt in (lambda: campaigns.add_nominees_from_roster(campaign, _rows((IDS[1], NAMES[1])), by=supervisor),
                        lambda: campaigns.open_reviews(campaign, [nominee.id], [province.users["officer1"].id],
                                                       by=supervisor),
                        lambda: campaigns.hand_to_unit(campaign, [nominee.id], _unit("HUYEN"), by=supervisor),
                        lambda: campaigns.close_campaign(campaign, by=supervisor)):
            with pytest.raises(CampaignError):
                attempt()
        db.session.commit()
    assert [entry.action for entry in audit_entries(app, "campaign.")][-1] == "campaign.close"


# --- nominees -------------------------------------------------------------------------------------

def test_the_list_parser_takes_the_campaign_columns_and_keeps_the_rosters_checks():
    parsed = parse_roster(_csv((IDS[0], NAMES[0]), (IDS[0], NAMES[1]), ("12345", NAMES[2])), required=NOMINEE_COLUMNS)
    assert [row.line for row in parsed.rows] == [2]
    assert parsed.rows[0].native_place == ""
    assert [(problem.line, problem.reason) for problem in parsed.problems] == [
        (3, "ID number repeats line 2"), (4, "id_number must be 12 digits (CCCD) or 9 digits (CMND)")]
    with pytest.raises(RosterFileError, match="missing column"):
        parse_roster("full_name,date_of_birth,unit,position\n", required=NOMINEE_COLUMNS)
    with pytest.raises(RosterFileError, match="native_place"):
        parse_roster(_csv((IDS[0], NAMES[0])))  # the roster itself still wants a birthplace


def test_nominees_are_matched_by_citizen_id_within_the_owners_scope_and_the_list_runs_twice_idempotently(
        app, province):
    with app.app_context():
        supervisor, officer = _user(province, "supervisor"), _user(province, "officer1")
        at_province = _dossier(officer, NAMES[0], IDS[0], "BTCTU")
        at_province.current_unit = "Ủy ban nhân dân tỉnh"
        at_district = _dossier(user_row(province.users["officer_huyen"]), NAMES[2], IDS[2], "HUYEN")
        elsewhere = _dossier(user_row(province.users["supervisor_other"]), NAMES[4], IDS[4], "BTGTU")
        campaign = _campaign(province)
        rows = _rows((IDS[0], NAMES[0]), (IDS[2], NAMES[2]), (IDS[3], NAMES[3]), (IDS[4], NAMES[4]))
        ticks = []
        result = campaigns.add_nominees_from_roster(campaign, rows, by=supervisor, progress=ticks.append)
        assert (result.added, result.matched, result.created, result.already, result.problems) == (4, 2, 2, 0, [])
        assert sum(ticks) == 4
        nominees = _nominees(campaign)
        assert [item.subject_id for item in nominees[:2]] == [at_province.id, at_district.id]
        assert [item.unit_id for item in nominees] == [_unit(code).id for code in ("BTCTU", "HUYEN", "BTCTU", "BTCTU")]
        assert nominees[3].subject_id != elsewhere.id  # another unit's dossier is out of the owner's scope
        new = db.session.get(Subject, nominees[2].subject_id)
        assert (new.full_name, new.current_unit, new.position, new.owner_unit_id) == (
            NAMES[3], "Sở Nội vụ", "Giám đốc", _unit("BTCTU").id)
        assert at_province.current_unit == "Ủy ban nhân dân tỉnh"  # a matched dossier is left as it is
        db.session.commit()
        again = campaigns.add_nominees_from_roster(campaign, rows, by=supervisor)
        assert (again.added, again.already, again.created) == (0, 4, 0)
        assert len(_nominees(campaign)) == 4
        db.session.commit()
    entries = audit_entries(app, "campaign.nominees_add")
    assert [entry.detail for entry in entries][0].count("added") == 1
    assert not any(name in entry.detail for entry in audit_entries(app) for name in NAMES + IDS)


def test_the_uploading_user_or_their_relative_on_the_list_refuses_the_file_unless_skipped(app, province):
    with app.app_context():
        supervisor = _user(province, "supervisor")
        accounts.set_citizen_id(supervisor, IDS[1], by=None)
        relative_of = _dossier(_user(province, "officer1"), NAMES[0], IDS[0], "BTCTU")
        add_relative(relative_of, RelativeData("child", "Người Có Con", id_number=IDS[1]), by=None)
        campaign = _campaign(province)
        rows = _rows((IDS[0], NAMES[0]), (IDS[1], NAMES[1]), (IDS[3], NAMES[3]))
        assert [problem.line for problem in campaigns.nominee_problems(campaign, rows, by=supervisor)] == [2, 3]
        refused = campaigns.add_nominees_from_roster(campaign, rows, by=supervisor)
        assert [problem.line for problem in refused.problems] == [2, 3] and refused.added == 0
        assert _nominees(campaign) == [] and db.session.scalar(select(Subject.id).where(
            Subject.id != relative_of.id)) is None
        skipped = campaigns.add_nominees_from_roster(campaign, rows, by=supervisor, skip_invalid=True)
        assert (skipped.added, skipped.created) == (1, 1)
        assert NAMES[1] not in str(refused.problems)


def test_picked_dossiers_must_be_in_scope_and_not_about_the_user(app, province):
    with app.app_context():
        supervisor = _user(province, "supervisor")
        mine = _dossier(_user(province, "officer1"), NAMES[0], IDS[0], "BTCTU")
        district = _dossier(user_row(province.users["officer_huyen"]), NAMES[2], IDS[2], "HUYEN")
        other = _dossier(user_row(province.users["supervisor_other"]), NAMES[4], IDS[4], "BTGTU")
        campaign = _campaign(province)
        with pytest.raises(CampaignError) as refused:
            campaigns.add_nominees_from_dossiers(campaign, [mine.id, other.id], by=supervisor)
        assert refused.value.field == "subject_ids" and _nominees(campaign) == []
        result = campaigns.add_nominees_from_dossiers(campaign, [mine.id, district.id, mine.id], by=supervisor)
        assert (result.added, result.already) == (2, 0)
        assert [item.unit_id for item in _nominees(campaign)] == [_unit("BTCTU").id, _unit("HUYEN").id]
        assert campaigns.add_nominees_from_dossiers(campaign, [mine.id], by=supervisor).already == 1
        accounts.set_citizen_id(supervisor, IDS[3], by=None)
        about_me = _dossier(_user(province, "officer1"), NAMES[3], IDS[3], "BTCTU")
        with pytest.raises(CampaignError):
            campaigns.add_nominees_from_dossiers(campaign, [about_me.id], by=supervisor)


# --- reuse, reviews, officers -----------------------------------------------------------------------

def test_a_still_valid_approved_conclusion_is_offered_and_reused_once(app, province):
    with app.app_context():
        supervisor, officer = _user(province, "supervisor"), _user(province, "officer1")
        concluded = _dossier(officer, NAMES[0], IDS[0], "BTCTU")
        case = _approved_review(concluded, officer, supervisor)
        campaign = _campaign(province)
        campaigns.add_nominees_from_roster(campaign, _rows((IDS[0], NAMES[0]), (IDS[1], NAMES[1])), by=supervisor)
        first, second = _nominees(campaign)
        offers = campaigns.reusable_conclusions(campaign, [first.id, second.id])
        assert list(offers) == [first.id] and offers[first.id].outcome == "no_issue"
        assert campaigns.reuse_conclusions(campaign, [first.id, second.id], by=supervisor) == 1
        assert first.reused_by_id == supervisor.id and campaigns.reused_conclusion(first).case_id == case.id
        assert campaigns.reuse_conclusions(campaign, [first.id], by=supervisor) == 0
        # An officer works reviews; reuse is the supervisors'.
        assert campaigns.reuse_conclusions(campaign, [second.id], by=officer) == 0
        db.session.commit()
    assert '"count":1' in audit_entries(app, "campaign.reuse")[0].detail


def test_a_conclusion_expiring_before_the_campaigns_date_is_not_reusable(app, province):
    app.config["HOSO_CONCLUSION_VALIDITY_MONTHS"] = 1
    with app.app_context():
        supervisor, officer = _user(province, "supervisor"), _user(province, "officer1")
        _approved_review(_dossier(officer, NAMES[0], IDS[0], "BTCTU"), officer, supervisor)
        campaign = _campaign(province, due_in=60)
        campaigns.add_nominees_from_roster(campaign, _rows((IDS[0], NAMES[0])), by=supervisor)
        (nominee,) = _nominees(campaign)
        assert campaigns.reusable_conclusions(campaign, [nominee.id]) == {}
        assert campaigns.reuse_conclusions(campaign, [nominee.id], by=supervisor) == 0


def test_reviews_open_round_robin_to_the_chosen_officers_not_the_supervisor_due_by_the_campaign(app, province):
    with app.app_context():
        supervisor = _user(province, "supervisor")
        officers = [province.users["officer1"].id, province.users["officer2"].id]
        campaign = _campaign(province, due_in=20, classification="secret")
        campaigns.add_nominees_from_roster(campaign, _rows(*zip(IDS[:4], NAMES[:4], strict=True)), by=supervisor)
        nominees = _nominees(campaign)
        opened = campaigns.open_reviews(campaign, [item.id for item in nominees], officers, by=supervisor,
                                        due_on=province.today + timedelta(days=90))
        assert opened == 4
        cases = [item.case for item in nominees]
        assert [[assignment.user_id for assignment in case.assignments] for case in cases] == [
            [officers[0]], [officers[1]], [officers[0]], [officers[1]]]
        assert {(case.purpose, case.classification.value, case.due_on, case.kind, case.owner_unit_id)
                for case in cases} == {("election", "secret", campaign.due_on, "review", campaign.owner_unit_id)}
        assert campaigns.open_reviews(campaign, [nominees[0].id], officers, by=supervisor) == 0  # has one already
        db.session.commit()
    created = audit_entries(app, "case.create")
    assert len(created) == 4 and all(f'"campaign":"{campaign.id}"' in entry.detail for entry in created)
    assert '"count":4' in audit_entries(app, "campaign.open_reviews")[0].detail


def test_officers_given_a_campaigns_reviews_are_told_once_each_and_the_supervisor_not_at_all(app, province):
    with app.app_context():
        supervisor = _user(province, "supervisor")
        officer1, officer2 = _user(province, "officer1"), _user(province, "officer2")
        campaign = _campaign(province)
        campaigns.add_nominees_from_roster(campaign, _rows(*zip(IDS[:3], NAMES[:3], strict=True)), by=supervisor)
        nominees = _nominees(campaign)
        campaigns.open_reviews(campaign, [item.id for item in nominees[:2]], [officer1.id, officer2.id],
                               by=supervisor)
        # Officer 2 is added to the first review: told by the assignment itself, once.
        campaigns.assign_officers(campaign, [nominees[0].id], [officer2.id], by=supervisor)
        db.session.commit()
        told = db.session.execute(select(Notification.user_id, Notification.kind, Notification.reference)
                                  .order_by(Notification.created_at)).all()
        references = [item.case.reference for item in nominees[:2]]
    assert sorted(told) == sorted([(officer1.id, "case_assigned", references[0]),
                                   (officer2.id, "case_assigned", references[1]),
                                   (officer2.id, "case_assigned", references[0])])


def test_an_officer_who_cannot_take_a_nominee_is_passed_over_and_none_able_refuses_all(app, province):
    with app.app_context():
        supervisor = _user(province, "supervisor")
        officer1, officer2 = _user(province, "officer1"), _user(province, "officer2")
        accounts.set_citizen_id(officer1, IDS[0], by=None)
        campaign = _campaign(province, classification="secret")
        campaigns.add_nominees_from_roster(campaign, _rows((IDS[0], NAMES[0]), (IDS[1], NAMES[1])), by=supervisor)
        first, second = _nominees(campaign)
        low = province.users["officer_low"].id  # not cleared for a secret campaign
        with pytest.raises(CampaignError) as refused:
            campaigns.open_reviews(campaign, [first.id, second.id], [officer1.id, low], by=supervisor)
        assert refused.value.field == "officers"
        assert first.case_id is None and second.case_id is None
        assert db.session.scalar(select(Case.id)) is None
        campaigns.open_reviews(campaign, [first.id, second.id], [officer1.id, officer2.id], by=supervisor)
        assert [a.user_id for a in first.case.assignments] == [officer2.id]  # officer1 is the nominee


def test_assigning_and_reassigning_the_chosen_rows_reviews(app, province):
    with app.app_context():
        supervisor = _user(province, "supervisor")
        officer1, officer2 = _user(province, "officer1"), _user(province, "officer2")
        campaign = _campaign(province)
        campaigns.add_nominees_from_roster(campaign, _rows((IDS[0], NAMES[0]), (IDS[1], NAMES[1])), by=supervisor)
        nominees = _nominees(campaign)
        ids = [item.id for item in nominees]
        campaigns.open_reviews(campaign, ids, [officer1.id], by=supervisor)
        assert campaigns.assign_officers(campaign, ids, [officer2.id], by=supervisor) == 2
        assert all({a.user_id for a in item.case.assignments} == {officer1.id, officer2.id} for item in nominees)
        assert campaigns.assign_officers(campaign, ids, [officer2.id], by=supervisor) == 0  # already on both
        assert campaigns.assign_officers(campaign, ids[:1], [officer1.id], by=supervisor, replace=True) == 1
        assert [a.user_id for a in nominees[0].case.assignments] == [officer1.id]


def test_nominees_are_handed_to_a_district_whose_supervisors_then_work_only_those(app, province):
    with app.app_context():
        supervisor, huyen = _user(province, "supervisor"), _user(province, "supervisor_huyen")
        campaign = _campaign(province)
        campaigns.add_nominees_from_roster(campaign, _rows((IDS[0], NAMES[0]), (IDS[1], NAMES[1])), by=supervisor)
        first, second = _nominees(campaign)
        for unit in (_unit("BTGTU"), _unit("BTCTU")):
            with pytest.raises(CampaignError) as refused:
                campaigns.hand_to_unit(campaign, [first.id], unit, by=supervisor)
            assert refused.value.field == "unit_id"
        with pytest.raises(CampaignError):
            campaigns.hand_to_unit(campaign, [first.id], _unit("HUYEN"), by=huyen)  # not an owner
        assert campaigns.hand_to_unit(campaign, [first.id], _unit("HUYEN"), by=supervisor) == 1
        district_board = campaigns.board(campaign, huyen, BoardFilters())
        assert [row.nominee.id for row in district_board.rows] == [first.id] and district_board.counts["total"] == 1
        assert district_board.rows[0].name is None  # the dossier is the province's
        officer_huyen = province.users["officer_huyen"].id
        with pytest.raises(CampaignError):  # a province officer cannot work a district's row
            campaigns.open_reviews(campaign, [first.id], [province.users["officer1"].id], by=huyen)
        assert campaigns.open_reviews(campaign, [first.id, second.id], [officer_huyen], by=huyen) == 1
        assert first.case.owner_unit_id == _unit("HUYEN").id and second.case_id is None
        assert campaigns.board(campaign, supervisor, BoardFilters()).counts["total"] == 2


# --- the board and the summary -----------------------------------------------------------------------

def _every_state(app, province):
    """A campaign with a nominee in each state: reused, not started, in review, submitted,
    concluded (with the outcome 'issue_not_affecting'), and an overdue review."""
    supervisor, officer = _user(province, "supervisor"), _user(province, "officer1")
    _approved_review(_dossier(officer, NAMES[0], IDS[0], "BTCTU"), officer, supervisor)
    campaign = _campaign(province)
    ids = (*IDS, "038090000006")
    campaigns.add_nominees_from_roster(campaign, _rows(*zip(ids, (*NAMES, "Tạ Văn Trễ Hạn"), strict=True)),
                                       by=supervisor)
    nominees = _nominees(campaign)
    campaigns.reuse_conclusions(campaign, [nominees[0].id], by=supervisor)
    campaigns.open_reviews(campaign, [item.id for item in nominees[2:]], [officer.id], by=supervisor)
    submitted, concluded, late = (nominees[3].case, nominees[4].case, nominees[5].case)
    factories.to_conclusion(submitted, by=officer)
    factories.submit_conclusion(submitted, by=officer)
    factories.to_conclusion(concluded, by=officer)
    factories.submit_conclusion(concluded, by=officer, outcome="issue_not_affecting")
    factories.approve_conclusion(concluded, by=supervisor)
    late.due_on = province.today - timedelta(days=3)  # seeded history: the review ran late
    db.session.flush()
    return campaign, nominees


def test_the_board_counts_states_and_overdue_and_shows_conclusions(app, province):
    with app.app_context():
        supervisor = _user(province, "supervisor")
        campaign, nominees = _every_state(app, province)
        view = campaigns.board(campaign, supervisor, BoardFilters())
        assert view.counts == {"not_started": 1, "reused": 1, "in_review": 2, "submitted": 1, "concluded": 1,
                               "overdue": 1, "total": 6}
        assert [row.state for row in view.rows] == ["reused", "not_started", "in_review", "submitted", "concluded",
                                                    "in_review"]
        assert [row.overdue for row in view.rows] == [False] * 5 + [True]
        assert view.rows[0].outcome == "no_issue" and view.rows[0].conclusion_number
        assert view.rows[4].outcome == "issue_not_affecting" and view.rows[4].case_reference.startswith("BVCT-")
        assert view.rows[1].outcome is None and view.rows[3].outcome is None
        assert [row.name for row in view.rows][:2] == [NAMES[0], NAMES[1]]
        assert campaigns.board(campaign, supervisor, BoardFilters(state="submitted")).rows[0].nominee.id == nominees[3].id
        assert [row.nominee.id for row in campaigns.board(campaign, supervisor, BoardFilters(overdue=True)).rows] == [
            nominees[5].id]
        for query in (IDS[2], "hoang van huyen quan"):
            assert [row.nominee.id for row in campaigns.board(campaign, supervisor, BoardFilters(query=query)).rows] == [
                nominees[2].id]
        summary = campaigns.summary(campaign, supervisor)
        assert [(line.number, line.full_name, line.outcome, line.reused) for line in summary][:2] == [
            (1, NAMES[0], "no_issue", True), (2, NAMES[1], None, False)]
        assert summary[4].outcome == "issue_not_affecting" and summary[4].conclusion_number


def test_an_officer_sees_the_rows_of_their_reviews_and_nobody_sees_the_row_about_themselves(app, province, make_user):
    made = make_user("supervisor", unit="BTCTU", clearance="top_secret")
    with app.app_context():
        campaign, nominees = _every_state(app, province)
        officer2 = _user(province, "officer2")
        assert campaigns.board(campaign, officer2, BoardFilters()).counts["total"] == 0
        campaigns.assign_officers(campaign, [nominees[2].id], [officer2.id], by=_user(province, "supervisor"))
        mine = campaigns.board(campaign, officer2, BoardFilters())
        assert [row.nominee.id for row in mine.rows] == [nominees[2].id] and mine.counts["total"] == 1
        recused = user_row(made)
        accounts.set_citizen_id(recused, IDS[1], by=None)
        theirs = campaigns.board(campaign, recused, BoardFilters())
        assert nominees[1].id not in {row.nominee.id for row in theirs.rows}
        assert theirs.counts["total"] == 5 and theirs.counts["not_started"] == 0
        assert len(campaigns.summary(campaign, recused)) == 5
        assert campaigns.board(campaign, _user(province, "supervisor_other"), BoardFilters()).rows == []


def test_campaigns_for_lists_what_each_user_may_see(app, province):
    with app.app_context():
        campaign, nominees = _every_state(app, province)
        supervisor = _user(province, "supervisor")
        campaigns.hand_to_unit(campaign, [nominees[1].id], _unit("HUYEN"), by=supervisor)
        assert campaigns.campaigns_for(supervisor) == [campaign]
        assert campaigns.campaigns_for(_user(province, "supervisor_huyen")) == [campaign]
        assert campaigns.campaigns_for(_user(province, "supervisor_other")) == []
        assert campaigns.campaigns_for(user_row(province.users["officer_huyen"])) == []
        assert user_row(province.users["officer_huyen"]).role == Role.OFFICER


def test_the_board_pages_by_fifty_and_its_statements_do_not_grow_with_the_rows(app, province):
    with app.app_context():
        supervisor = _user(province, "supervisor")
        campaign = _campaign(province)
        rows = [(f"0381{number:08d}", f"Nguyễn Văn Số {number}") for number in range(120)]
        campaigns.add_nominees_from_roster(campaign, _rows(*rows[:60]), by=supervisor)
        db.session.flush()
        few = _statements(lambda: campaigns.board(campaign, supervisor, BoardFilters()))
        campaigns.add_nominees_from_roster(campaign, _rows(*rows[60:]), by=supervisor)
        many = _statements(lambda: campaigns.board(campaign, supervisor, BoardFilters(page=3)))
        view = campaigns.board(campaign, supervisor, BoardFilters(page=3))
        assert (view.pages, view.page, len(view.rows), view.counts["total"]) == (3, 3, 20, 120)
        assert view.rows[0].name == "Nguyễn Văn Số 100"
        assert many <= few <= 12


def _statements(action) -> int:
    count = 0

    def counted(*_args):
        nonlocal count
        count += 1

    engine = db.session.get_bind()
    event.listen(engine, "before_cursor_execute", counted)
    try:
        db.session.expire_all()
        action()
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    return count


def test_unknown_ids_never_reach_another_campaigns_rows(app, province):
    with app.app_context():
        supervisor = _user(province, "supervisor")
        first, second = _campaign(province), _campaign(province)
        campaigns.add_nominees_from_roster(first, _rows((IDS[0], NAMES[0])), by=supervisor)
        (nominee,) = _nominees(first)
        assert campaigns.open_reviews(second, [nominee.id, uuid.uuid4()], [province.users["officer1"].id],
                                      by=supervisor) == 0
        assert campaigns.hand_to_unit(second, [nominee.id], _unit("HUYEN"), by=supervisor) == 0
        assert nominee.case_id is None and nominee.unit_id == _unit("BTCTU").id
