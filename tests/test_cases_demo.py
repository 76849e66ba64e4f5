"""`flask --app app demo` fills case work with every kind and state (issue 5 §6)."""

from __future__ import annotations

from sqlalchemy import func, select

from cases import workflow
from cases.campaigns import operations as campaigns
from cases.campaigns.operations import BoardFilters
from cases.casework import operations
from cases.conclusions import operations as conclusions
from cases.labels import NOMINEE_STATES
from cases.models import (
    BreakGlassAccess,
    Campaign,
    CampaignNominee,
    Case,
    Comment,
    Conclusion,
    CoordinationRequest,
    Finding,
    Petition,
    Subject,
    TimelineEvent,
)
from cases.notifications.models import Notification
from cases.oversight.models import InspectionVisit
from cases.reviews import operations as reviews
from protection.accounts import find_user
from protection.db import db
from tests.conftest import sequenced
from tests.factories import count_rows

COUNTED = (Case, Petition, CoordinationRequest, Conclusion, Finding, Comment, TimelineEvent, Subject)


def _counts() -> dict[str, int]:
    return {model.__name__: db.session.scalar(select(func.count()).select_from(model)) for model in COUNTED}


def _states(column, *where) -> set[str]:
    return set(db.session.scalars(select(column).where(*where).distinct()))


def test_the_demo_fills_every_state_of_case_work_once(app, runner):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "Demo case work: 24 scenarios created, 0 already there." in first.output

    with app.app_context():
        after_first = _counts()
        assert _states(Case.state, Case.kind == "review") >= set(workflow.REVIEW.states)
        assert _states(Case.state, Case.kind == "petition") >= set(workflow.PETITION.states)
        assert _states(CoordinationRequest.state) >= set(workflow.COORDINATION.states) - {"withdrawn"}
        assert _states(Conclusion.state) >= set(workflow.CONCLUSION.states)

        approved = db.session.scalars(select(Conclusion).where(Conclusion.state == "approved")).all()
        assert approved and all(conclusions.verified(item) for item in approved)
        returned = db.session.scalars(select(Conclusion).where(Conclusion.state == "returned")).one()
        assert returned.return_comment

        today = operations.today()
        assert db.session.scalar(select(func.count()).select_from(Case).where(
            Case.due_on < today, Case.state.in_(["examination", "verification", "concluding", "accepted",
                                                 "received"]))) >= 3
        assert db.session.scalar(select(func.count()).select_from(CoordinationRequest).where(
            CoordinationRequest.due_on < today, CoordinationRequest.state.in_(["sent", "more_requested"]))) >= 2
        # One approval has expired: its subject needs re-review, and has a new review open.
        expired = [item for item in approved if item.valid_until < today]
        assert len(expired) == 1
        subject = expired[0].case.subject
        assert reviews.needs_re_review(subject)
        assert db.session.scalar(select(func.count()).select_from(Case).where(
            Case.subject_id == subject.id, Case.state == "records_review")) == 1
        # Petitions: a repeat linked to an earlier one, an extension, a forward, an anonymous one monitored.
        assert db.session.scalar(select(func.count()).select_from(Petition).where(
            Petition.repeat_of_id.is_not(None))) == 1
        assert db.session.scalar(select(func.count()).select_from(Case).where(Case.extensions > 0)) >= 1
        assert db.session.scalar(select(func.count()).select_from(Petition).where(
            Petition.forwarded_to_id.is_not(None))) == 1
        assert db.session.scalar(select(func.count()).select_from(Petition).where(
            Petition.anonymous.is_(True), Petition.decision == "keep_for_monitoring")) == 1
        # Findings on the subject and on relatives; a body's findings join the case once accepted.
        assert db.session.scalar(select(func.count()).select_from(Finding).where(Finding.relative_id.is_not(None)))
        assert db.session.scalar(select(func.count()).select_from(Finding).where(
            Finding.request_id.is_not(None), Finding.accepted.is_(True)))
        # An emergency access waiting in the auditors' queue.
        assert db.session.scalar(select(func.count()).select_from(BreakGlassAccess).where(
            BreakGlassAccess.review.is_(None))) == 1
        db.session.commit()

    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0, second.output
    assert "Demo case work: 0 scenarios created, 24 already there." in second.output
    with app.app_context():
        assert _counts() == after_first
        db.session.commit()

    sequenced(app)  # PostgreSQL: link the entries first, so that verify checks them all
    verify = runner.invoke(args=["audit", "verify"])
    assert verify.exit_code == 0 and "pending" not in verify.output, verify.output


def test_the_demo_campaign_has_nominees_in_every_state_once(app, runner):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "Demo campaign: DTD-" in first.output and "with 11 nominees" in first.output
    with app.app_context():
        campaign = db.session.scalars(select(Campaign)).one()
        assert (campaign.title, campaign.purpose, campaign.owner_unit.code) == (
            "Nhân sự Đại hội Đảng bộ tỉnh nhiệm kỳ 2025–2030", "congress", "BTCTU")
        minh, lan = find_user("lanhdao.minh"), find_user("lanhdao.lan")
        board = campaigns.board(campaign, minh, BoardFilters())
        assert all(board.counts[state] >= 1 for state in NOMINEE_STATES)
        assert board.counts["total"] == 11 and board.counts["overdue"] >= 1
        assert all(row.name for row in board.rows)
        concluded = [row for row in board.rows if row.state in ("concluded", "reused")]
        assert all(row.conclusion_number and row.outcome for row in concluded)
        # The district's supervisor sees the rows handed to the district and the district's own.
        district = campaigns.board(campaign, lan, BoardFilters())
        assert {row.nominee.unit.code for row in district.rows} == {"HU-SONHA"} and district.counts["total"] == 3
        db.session.commit()
    nominees = count_rows(app, CampaignNominee)
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0, second.output
    assert "Demo campaign: already there." in second.output
    assert count_rows(app, Campaign) == 1 and count_rows(app, CampaignNominee) == nominees


def test_the_demo_inspection_visits_one_closed_one_open_once(app, runner):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "Demo inspection visits: 2 visits to HU-SONHA" in first.output
    with app.app_context():
        found = db.session.scalars(select(InspectionVisit).order_by(InspectionVisit.visited_on)).all()
        assert [(visit.unit.code, visit.sub_unit.code, visit.state) for visit in found] == [
            ("BTCTU", "HU-SONHA", "closed"), ("BTCTU", "HU-SONHA", "open")]
        assert sorted(item.state for item in found[0].recommendations) == ["resolved", "waived"]
        today = operations.today()
        open_ones = found[1].recommendations
        assert sorted(item.state for item in open_ones) == ["open", "open", "reported"]
        assert sum(item.state == "open" and item.due_on < today for item in open_ones) == 1
        # The district's officer was told of the recommendations addressed to the district.
        son = find_user("canbo.son")
        assert db.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.user_id == son.id, Notification.kind == "recommendation_issued")) == 5
        db.session.commit()
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0 and "Demo inspection visits: already there." in second.output
    assert count_rows(app, InspectionVisit) == 2
