"""Classified-document lifetime through the real app: the protection-period end date set
on creation, the supervisors' list of items due for review, and the audited decisions
(extend, downgrade, declassify) with bad input shown next to its field."""

from __future__ import annotations

import io
import json
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from audit.models import AuditEntry
from cases.casework import operations
from cases.casework.operations import FindingData
from cases.models import Attachment, Case, ClassificationReview, Finding
from cases.retention.operations import add_years
from cases.reviews import operations as reviews
from cases.reviews.operations import ReviewData
from cases.subjects.operations import SubjectData, create_subject
from protection.db import db
from protection.i18n import local_date
from protection.identity import Clearance, User
from tests.conftest import post_form
from tests.factories import make_subject, open_review


@pytest.fixture
def people(make_user):
    return {"officer": make_user("officer"), "supervisor": make_user("supervisor", clearance="top_secret")}


def classified_case(app, officer_id) -> tuple[uuid.UUID, uuid.UUID]:
    """A Tối mật review with a Mật finding; returns (case id, finding id)."""
    with app.app_context():
        officer = db.session.get(User, officer_id)
        case = open_review(officer, make_subject(officer, "Đỗ Văn Mật", date(1970, 1, 1)), classification="secret")
        finding = operations.add_finding(case, FindingData("subject", "other", "Nội dung mật.", "confidential"),
                                         by=officer)
        db.session.commit()
        return case.id, finding.id


def _due(app, model, item_id) -> None:
    """As if the protection period had ended yesterday."""
    with app.app_context():
        yesterday = operations.today() - timedelta(days=1)
        db.session.execute(update(model).where(model.id == item_id).values(protection_ends_on=yesterday))
        db.session.commit()


def test_end_dates_follow_the_level(app, people):
    case_id, finding_id = classified_case(app, people["officer"].id)
    with app.app_context():
        case, finding = db.session.get(Case, case_id), db.session.get(Finding, finding_id)
        # The organisation's calendar day: from 17:00 UTC it is the next day in Vietnam.
        assert case.protection_ends_on == add_years(local_date(case.created_at), 20)
        assert finding.protection_ends_on == add_years(local_date(finding.created_at), 10)


def test_due_items_listed_and_decisions_audited(app, client, people, sign_in):
    case_id, finding_id = classified_case(app, people["officer"].id)
    with app.app_context():
        reference = db.session.get(Case, case_id).reference
    sign_in(people["supervisor"])
    assert reference not in client.get("/retention/classified").get_data(as_text=True)
    _due(app, Case, case_id)
    _due(app, Finding, finding_id)
    page = client.get("/retention/classified").get_data(as_text=True)
    assert reference in page and "Nội dung mật" not in page and "Đỗ Văn" not in page

    path = f"/retention/classified/case/{case_id}"
    missing_date = post_form(client, path, {"decision": "extend", "new_end": ""})
    assert missing_date.status_code == 200
    assert "Hãy nhập ngày hết hạn bảo vệ mới." in missing_date.get_data(as_text=True)
    bad_date = post_form(client, path, {"decision": "extend", "new_end": "31/02/2040"})
    assert "Ngày không hợp lệ" in bad_date.get_data(as_text=True)
    assert 'value="31/02/2040"' in bad_date.get_data(as_text=True)  # the input is kept
    upward = post_form(client, path, {"decision": "downgrade", "to_level": "top_secret"})
    assert "Độ mật mới phải thấp hơn độ mật hiện tại" in upward.get_data(as_text=True)

    assert post_form(client, path, {"decision": "extend", "new_end": "01/01/2045"}).status_code == 303
    finding_path = f"/retention/classified/finding/{finding_id}"
    assert post_form(client, finding_path, {"decision": "declassify"}).status_code == 303

    with app.app_context():
        case, finding = db.session.get(Case, case_id), db.session.get(Finding, finding_id)
        assert case.protection_ends_on == date(2045, 1, 1) and case.classification == Clearance.SECRET
        assert finding.classification == Clearance.UNCLASSIFIED and finding.protection_ends_on is None
        assert db.session.scalar(select(ClassificationReview.decision)
                                 .where(ClassificationReview.item_id == finding_id)) == "declassify"
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "classification.review")
                                     .order_by(AuditEntry.id)).all()
        details = [json.loads(entry.detail) for entry in entries]
        assert [(entry.target_type, detail["decision"], detail["from_level"], detail["to_level"])
                for entry, detail in zip(entries, details, strict=True)] == [
            ("case", "extend", "secret", "secret"), ("finding", "declassify", "confidential", "unclassified")]
        assert all("Nội dung" not in entry.detail for entry in entries)

    _due(app, Case, case_id)
    assert post_form(client, path, {"decision": "downgrade", "to_level": "confidential"}).status_code == 303
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case.classification == Clearance.CONFIDENTIAL
        assert case.protection_ends_on == add_years(operations.today(), 10)
    history = client.get("/retention/classified").get_data(as_text=True)
    assert "Giảm độ mật" in history and "Giải mật" in history and reference in history


def test_other_units_and_officers_are_refused(app, client, people, sign_in, make_user, make_unit):
    case_id, _ = classified_case(app, people["officer"].id)
    make_unit("BTCHU", "Ban Tổ chức Huyện ủy")
    outsider = make_user("supervisor", unit="BTCHU")
    sign_in(outsider)
    assert client.get(f"/retention/classified/case/{case_id}").status_code == 404
    officer_client = app.test_client()
    sign_in(people["officer"], target=officer_client)
    assert officer_client.get("/retention/classified").status_code == 403
    assert officer_client.get("/retention/").status_code == 403


def test_a_case_downgraded_takes_its_higher_items_down_with_it(app, client, make_user, sign_in):
    """Issue 17: a case downgraded to Mật kept findings marked Tối mật. The items above the
    new level are lowered to it, each recorded; the others keep their level."""
    officer = make_user("officer", clearance="secret")
    supervisor = make_user("supervisor", clearance="top_secret")
    with app.app_context():
        officer = db.session.get(User, officer.id)
        subject = create_subject(SubjectData("Đỗ Văn Hạ", date(1971, 2, 2), f"0380{uuid.uuid4().int % 10**8:08d}"),
                                 owner_unit=officer.unit, by=officer)
        case = reviews.open_review(ReviewData(subject.id, "appointment", "secret"), by=officer)
        high = operations.add_finding(case, FindingData("subject", "other", "Nội dung tối mật.", "secret"), by=officer)
        low = operations.add_finding(case, FindingData("subject", "other", "Nội dung mật.", "confidential"),
                                     by=officer)
        attachment = operations.add_attachment(case, io.BytesIO(b"%PDF-1.4\n% bien ban\n"), "bien-ban.pdf",
                                               "secret", by=officer)
        db.session.commit()
        case_id, high_id, low_id, attachment_id = case.id, high.id, low.id, attachment.id
        low_end = low.protection_ends_on
    _due(app, Case, case_id)
    sign_in(supervisor)
    done = post_form(client, f"/retention/classified/case/{case_id}",
                     {"decision": "downgrade", "to_level": "confidential"}, follow_redirects=True)
    assert done.status_code == 200
    assert "Độ mật của 2 tài liệu trong hồ sơ cao hơn mức mới nên đã được hạ theo." in done.get_data(as_text=True)
    with app.app_context():
        new_end = add_years(operations.today(), 10)
        assert db.session.get(Case, case_id).classification == Clearance.CONFIDENTIAL
        for model, item_id in ((Finding, high_id), (Attachment, attachment_id)):
            item = db.session.get(model, item_id)
            assert item.classification == Clearance.CONFIDENTIAL and item.protection_ends_on == new_end
        low = db.session.get(Finding, low_id)
        assert low.classification == Clearance.CONFIDENTIAL and low.protection_ends_on == low_end  # untouched
        recorded = db.session.scalars(select(ClassificationReview).where(ClassificationReview.case_id == case_id)).all()
        assert sorted((review.item_type, review.from_level.value, review.to_level.value) for review in recorded) == [
            ("attachment", "secret", "confidential"), ("case", "secret", "confidential"),
            ("finding", "secret", "confidential")]
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "classification.review")
                                     .order_by(AuditEntry.id)).all()
        assert [(entry.target_id, json.loads(entry.detail).get("with_case")) for entry in entries] == [
            (str(case_id), None), (str(high_id), True), (str(attachment_id), True)]
        assert all("Nội dung" not in entry.detail for entry in entries)
