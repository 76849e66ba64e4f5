"""Petitions through the service layer on the real database: intake checks, each intake
decision with its reason, deadlines from the rule table (working days, extensions, rules
that take effect later), repeats, and the timeline (HTTP flows: test_cases_views.py)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app import create_app
from audit.models import AuditEntry
from cases.casework import operations
from cases.casework.operations import CaseError
from cases.models import Case, TimelineEvent
from cases.petitions import operations as petitions
from cases.petitions.operations import Decision, PetitionData
from protection.db import db
from protection.identity import Unit, User
from tests.pages import org_today


@pytest.fixture
def officer(app, make_user, make_unit):
    make_unit("UBKTTU", "Ủy ban Kiểm tra Tỉnh ủy", "inspection")
    return make_user("officer")


def received(app, officer, **changes) -> Case:
    values = {"received_on": date(2026, 11, 27), "channel": "post", "petition_type": "denunciation",
              "classification": "confidential", "summary": "Tố cáo vi phạm trong kê khai tài sản.",
              "petitioner_name": "Người Gửi Đơn", "named_people": ["Người Bị Tố Cáo"]}
    values.update(changes)
    return petitions.receive_petition(PetitionData(**values), by=db.session.get(User, officer.id))


def test_intake_decision_is_due_in_five_working_days(app, officer):
    with app.app_context():
        case = received(app, officer)  # a Friday
        assert (case.state, case.deadline_rule, case.due_on) == ("received", "forwarding", date(2026, 12, 4))
        assert case.reference.startswith("DT-2026-")
        assert case.petition.petitioner_name == "Người Gửi Đơn"


def test_holidays_move_the_intake_deadline(app_config, make_user, make_unit, app):
    app.config["HOSO_HOLIDAYS"] = (date(2026, 12, 1), date(2026, 12, 2))
    officer = make_user("officer")
    with app.app_context():
        assert received(app, officer).due_on == date(2026, 12, 8)


@pytest.mark.parametrize(("changes", "field"), [
    ({"received_on": None}, "received_on"),
    ({"received_on": date(2099, 1, 1)}, "received_on"),
    ({"channel": "pigeon"}, "channel"),
    ({"petition_type": "gossip"}, "petition_type"),
    ({"summary": "   "}, "summary"),
    ({"petitioner_name": ""}, "petitioner_name"),
    ({"named_people": []}, "named_people"),
    ({"classification": "top_secret"}, "classification"),  # above the officer's clearance
    ({"repeat_of_reference": "DT-2026-999999"}, "repeat_of_reference"),
])
def test_bad_intake_is_refused_beside_its_field_and_nothing_is_kept(app, officer, changes, field):
    with app.app_context():
        with pytest.raises(CaseError) as refused:
            received(app, officer, **changes)
        assert refused.value.field == field
        db.session.rollback()
        assert db.session.scalar(select(Case.id)) is None


def test_accepting_a_denunciation_starts_thirty_days_extendable_twice(app, officer):
    with app.app_context():
        case = received(app, officer)
        by = db.session.get(User, officer.id)
        with pytest.raises(CaseError) as refused:
            petitions.decide(case, Decision("accept"), by=by)
        assert refused.value.field == "note"
        petitions.decide(case, Decision("accept", note="Đủ điều kiện thụ lý."), by=by)
        decided = case.petition.decided_on
        assert (case.state, case.deadline_rule) == ("accepted", "denunciation")
        assert case.due_on == decided + timedelta(days=30)
        for extension in (1, 2):
            assert petitions.extend_deadline(case, by=by, note="Cần xác minh thêm.") == \
                decided + timedelta(days=30 + 30 * extension)
        with pytest.raises(CaseError):
            petitions.extend_deadline(case, by=by, note="Lần thứ ba.")
        assert case.extensions == 2 and not petitions.can_extend(case)
        db.session.commit()
        events = db.session.scalars(select(TimelineEvent.event).where(TimelineEvent.case_id == case.id)
                                    .order_by(TimelineEvent.at)).all()
        assert events == ["received", "accept", "deadline_extended", "deadline_extended"]


def test_a_complex_complaint_gets_forty_five_days(app, officer):
    with app.app_context():
        case = received(app, officer, petition_type="complaint")
        petitions.decide(case, Decision("accept", note="Thụ lý.", complex_case=True), by=db.session.get(User, officer.id))
        assert case.deadline_rule == "complaint_complex"
        assert case.due_on == case.petition.decided_on + timedelta(days=45)


def test_forwarding_needs_another_body_and_closes_the_petition(app, officer):
    with app.app_context():
        case = received(app, officer)
        by = db.session.get(User, officer.id)
        with pytest.raises(CaseError) as refused:
            petitions.decide(case, Decision("forward", note="Không thuộc thẩm quyền."), by=by)
        assert refused.value.field == "forwarded_to"
        inspection = db.session.scalars(select(Unit).where(Unit.code == "UBKTTU")).one()
        petitions.decide(case, Decision("forward", note="Thuộc thẩm quyền UBKT.", forwarded_to=inspection.id), by=by)
        assert case.state == "forwarded" and case.closed_on is not None
        assert case.petition.forwarded_to_id == inspection.id and case.petition.forwarded_on is not None


def test_only_an_anonymous_petition_with_a_clear_subject_is_kept_for_monitoring(app, officer):
    with app.app_context():
        by = db.session.get(User, officer.id)
        signed = received(app, officer)
        with pytest.raises(CaseError):
            petitions.decide(signed, Decision("keep_for_monitoring", note="Theo dõi."), by=by)
        anonymous = received(app, officer, petitioner_name=None, anonymous=True)
        assert anonymous.petition.petitioner_name is None
        petitions.decide(anonymous, Decision("keep_for_monitoring", note="Nội dung rõ, đối tượng rõ."), by=by)
        assert anonymous.state == "monitoring" and anonymous.due_on is None


def test_a_repeat_is_linked_and_may_be_filed_for_that_reason(app, officer):
    with app.app_context():
        by = db.session.get(User, officer.id)
        first = received(app, officer)
        unlinked = received(app, officer)
        with pytest.raises(CaseError) as refused:
            petitions.decide(unlinked, Decision("file", reason="repeat_without_new_evidence"), by=by)
        assert refused.value.field == "reason"
        repeat = received(app, officer, repeat_of_reference=first.reference.lower())
        assert repeat.petition.repeat_of_id == first.id
        petitions.decide(repeat, Decision("file", reason="repeat_without_new_evidence"), by=by)
        assert repeat.state == "filed" and repeat.petition.decision_reason == "repeat_without_new_evidence"
        assert petitions.repeats_of(first) == [repeat]
        with pytest.raises(CaseError):  # a filed petition takes no other decision
            petitions.decide(repeat, Decision("accept", note="Thụ lý."), by=by)


@pytest.mark.usefixtures("around_vietnam_midnight")
def test_a_later_rule_applies_to_petitions_accepted_after_it_takes_effect(app_config, make_user, make_unit):
    future = org_today() + timedelta(days=400)
    app_config["HOSO_DEADLINE_RULES"] = [{"key": "reflection", "start_event": "accepted", "days": 3,
                                          "effective_from": future.isoformat()},
                                         {"key": "reflection", "start_event": "accepted", "days": 9,
                                          "effective_from": "2020-01-01"}]
    officer = make_user("officer")
    application = create_app(app_config)
    try:
        with application.app_context():
            case = received(application, officer, petition_type="reflection")
            petitions.decide(case, Decision("accept", note="Thụ lý."), by=db.session.get(User, officer.id))
            assert case.due_on == case.petition.decided_on + timedelta(days=9)
            db.session.rollback()
    finally:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


def test_every_change_is_audited_without_its_content(app, officer):
    with app.app_context():
        case = received(app, officer)
        petitions.decide(case, Decision("accept", note="Ghi chú bí mật của cán bộ."), by=db.session.get(User, officer.id))
        operations.add_comment(case, "Ý kiến nội bộ rất nhạy cảm.", by=db.session.get(User, officer.id))
        db.session.commit()
        entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        actions = [entry.action for entry in entries]
        assert {"case.create", "case.transition", "case.comment"} <= set(actions)
        everything = " ".join(entry.detail for entry in entries)
        for secret in ("Người Gửi Đơn", "Người Bị Tố Cáo", "Ghi chú bí mật", "nhạy cảm", "kê khai"):
            assert secret not in everything
