"""Conclusions through the service layer on the real database: gapless document numbers,
the Ed25519 signature and what breaks it, immutability of approved versions, corrections
as new versions, the four-eyes rule and re-authentication (the HTTP flow is in
test_cases_views.py)."""

from __future__ import annotations

import uuid
from datetime import date

import pyotp
import pytest
from sqlalchemy import select, update

from audit.models import AuditEntry
from cases.casework.operations import CaseError
from cases.conclusions import operations as conclusions
from cases.conclusions.operations import ConclusionData, ImmutableConclusion
from cases.models import Case, Conclusion
from cases.reviews import operations as reviews
from protection.db import db
from protection.identity import User
from tests.conftest import PASSWORD
from tests.factories import (
    approve_conclusion,
    make_subject,
    open_review,
    submit_conclusion,
    to_conclusion,
)


@pytest.fixture
def people(app, make_user):
    return {"officer": make_user("officer"), "supervisor": make_user("supervisor"),
            "other_officer": make_user("officer")}


def user(user_id) -> User:
    return db.session.get(User, user_id)


def concluding_case(app, officer_id, purpose: str = "appointment") -> uuid.UUID:
    with app.app_context():
        officer = user(officer_id)
        subject = make_subject(officer, "Vũ Thị Kết Luận", date(1980, 4, 5))
        case = to_conclusion(open_review(officer, subject, purpose=purpose), by=officer)
        db.session.commit()
        return case.id


def approved_case(app, people) -> uuid.UUID:
    case_id = concluding_case(app, people["officer"].id)
    with app.app_context():
        case = db.session.get(Case, case_id)
        submit_conclusion(case, by=user(people["officer"].id), reasoning="Lý lịch rõ ràng, không có vấn đề.")
        approve_conclusion(case, by=user(people["supervisor"].id))
        db.session.commit()
    return case_id


def test_approval_numbers_signs_and_closes(app, people):
    first, second = approved_case(app, people), approved_case(app, people)
    with app.app_context():
        numbers = []
        for case_id in (first, second):
            case = db.session.get(Case, case_id)
            conclusion = conclusions.current(case)
            assert case.state == "closed" and case.closed_on is not None
            assert conclusion.state == "approved" and conclusion.approver_id == people["supervisor"].id
            assert conclusions.verified(conclusion)
            assert conclusion.valid_until.month != conclusion.approved_at.month or conclusion.valid_until.year > \
                conclusion.approved_at.year
            numbers.append(conclusion.document_number)
        assert numbers == ["1-KL/BTCTU", "2-KL/BTCTU"]


def test_a_changed_row_no_longer_verifies(app, people):
    case_id = approved_case(app, people)
    with app.app_context():
        conclusion = conclusions.current(db.session.get(Case, case_id))
        # As a database administrator could: swap in another approved value directly.
        db.session.execute(update(Conclusion).where(Conclusion.id == conclusion.id)
                           .values(outcome="not_meeting_standard").execution_options(synchronize_session=False))
        db.session.commit()
        db.session.expire_all()
        assert not conclusions.verified(conclusions.current(db.session.get(Case, case_id)))


def test_an_approved_conclusion_cannot_change_or_be_deleted(app, people):
    case_id = approved_case(app, people)
    with app.app_context():
        conclusion = conclusions.current(db.session.get(Case, case_id))
        conclusion.reasoning = "Sửa lén sau khi đã duyệt."
        with pytest.raises(ImmutableConclusion):
            db.session.flush()
        db.session.rollback()
        conclusion = conclusions.current(db.session.get(Case, case_id))
        db.session.delete(conclusion)
        with pytest.raises(ImmutableConclusion):
            db.session.flush()
        db.session.rollback()
        assert conclusions.verified(conclusions.current(db.session.get(Case, case_id)))


def test_a_correction_is_a_new_version_pointing_at_the_old(app, people):
    case_id = approved_case(app, people)
    with app.app_context():
        case = db.session.get(Case, case_id)
        officer, supervisor = user(people["officer"].id), user(people["supervisor"].id)
        first = conclusions.current(case)
        conclusions.start_correction(case, by=officer)
        assert case.state == "concluding"
        draft = conclusions.save_draft(case, ConclusionData("issue_not_affecting", "Bổ sung tình tiết mới."),
                                       by=officer)
        assert (draft.version_number, draft.previous_id, draft.state) == (2, first.id, "draft")
        conclusions.submit(case, by=officer)
        conclusions.approve(case, PASSWORD, by=supervisor)
        db.session.commit()
        versions = conclusions.conclusions(case)
        assert [(c.version_number, c.state) for c in versions] == [(1, "approved"), (2, "approved")]
        assert versions[0].reasoning == "Lý lịch rõ ràng, không có vấn đề." and all(map(conclusions.verified, versions))
        assert versions[1].document_number == "2-KL/BTCTU"


def test_nobody_approves_their_own_conclusion(app, make_user, people):
    """A supervisor who drafted (here: recorded as author) cannot approve it."""
    case_id = concluding_case(app, people["officer"].id)
    with app.app_context():
        case = db.session.get(Case, case_id)
        conclusions.save_draft(case, ConclusionData("no_issue", "Không có vấn đề."), by=user(people["officer"].id))
        conclusions.submit(case, by=user(people["officer"].id))
        db.session.commit()
        supervisor = user(people["supervisor"].id)
        db.session.execute(update(Conclusion).where(Conclusion.case_id == case_id)
                           .values(author_id=supervisor.id).execution_options(synchronize_session=False))
        db.session.expire_all()
        case = db.session.get(Case, case_id)
        with pytest.raises(CaseError):
            conclusions.approve(case, PASSWORD, by=supervisor)
        db.session.commit()
        assert conclusions.current(case).state == "submitted"
        denied = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "conclusion.approve")).all()
        assert [entry.outcome for entry in denied] == ["denied"]


def test_approval_needs_the_password_or_a_fresh_code(app, people, make_user):
    case_id = concluding_case(app, people["officer"].id)
    with app.app_context():
        case = db.session.get(Case, case_id)
        conclusions.save_draft(case, ConclusionData("no_issue", "Không có vấn đề."), by=user(people["officer"].id))
        conclusions.submit(case, by=user(people["officer"].id))
        db.session.commit()
        supervisor = user(people["supervisor"].id)
        for wrong in ("", "Sai-mat-khau-Ha-Long-99", "000000"):
            with pytest.raises(CaseError) as refused:
                conclusions.approve(case, wrong, by=supervisor)
            assert refused.value.field == "secret"
            db.session.commit()
        assert conclusions.current(case).state == "submitted" and case.state == "submitted"
        code = pyotp.TOTP(people["supervisor"].totp_secret).now()
        assert conclusions.approve(case, code, by=supervisor).state == "approved"
        db.session.commit()


def test_admission_needs_an_eligibility_answer(app, people):
    case_id = concluding_case(app, people["officer"].id, purpose="party_admission")
    with app.app_context():
        case = db.session.get(Case, case_id)
        with pytest.raises(CaseError) as refused:
            conclusions.save_draft(case, ConclusionData("no_issue", "Đủ tiêu chuẩn."), by=user(people["officer"].id))
        assert refused.value.field == "admission_eligible"
        draft = conclusions.save_draft(case, ConclusionData("no_issue", "Đủ tiêu chuẩn.", admission_eligible=True),
                                       by=user(people["officer"].id))
        assert draft.admission_eligible is True


def test_an_expired_conclusion_makes_the_next_review_a_re_review(app, people):
    case_id = approved_case(app, people)
    with app.app_context():
        case = db.session.get(Case, case_id)
        subject = case.subject
        assert not reviews.needs_re_review(subject)
        assert reviews.needs_re_review(subject, on=date(2099, 1, 1))
        conclusion = conclusions.current(case)
        assert reviews.needs_re_review(subject, on=conclusion.valid_until.replace(day=1).__class__.fromordinal(
            conclusion.valid_until.toordinal() + 1))
