"""Relatives in the disclosure package, and findings that name the person they are about
(issue 17): the officer ticks relatives of the subject (and which of their fields) for a
coordinating body; its liaison sees those relatives only, and a finding they log names the
subject or one of them — never an undisclosed relative, whatever the form is sent. Every
page that lists findings says who each is about: the case page, the approval page, both
sides of the request."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from cases.casework import operations
from cases.casework.operations import CaseError, FindingData
from cases.conclusions import operations as conclusions
from cases.coordination import operations as coordination
from cases.models import Case, CoordinationRequest, Finding, Subject
from cases.subjects.operations import RelativeData, add_relative
from protection.db import db
from protection.identity import User
from tests.conftest import audit_entries
from tests.pages import assert_labelled, field_errors, org_today, text_of
from tests.scenes import (
    SHARED_FINDING,
    count_requests,
    liaison_post,
    new_request_path,
    officer_post,
    request_form,
    send,
)

FATHER = "Nguyễn Văn Cha Đẻ"
FATHER_RESIDENCE = "Thôn Đoài, xã Đông Sơn"
MOTHER = "Lê Thị Mẹ Ruột"
MOTHER_OCCUPATION = "Giáo viên mầm non"
ABOUT_FATHER = "Cha đẻ từng bị xử lý hành chính năm 1992, đã xóa"


@pytest.fixture
def family(app, scene) -> dict[str, uuid.UUID]:
    """The subject's father and mother on the dossier."""
    with app.app_context():
        subject = db.session.get(Subject, uuid.UUID(scene.subject_id))
        officer = db.session.get(User, scene.officer.id)
        father = add_relative(subject, RelativeData("father", FATHER, birth_year=1950, residence=FATHER_RESIDENCE,
                                                    occupation="Hưu trí", party_member=True), by=officer)
        mother = add_relative(subject, RelativeData("mother", MOTHER, birth_year=1954,
                                                    occupation=MOTHER_OCCUPATION), by=officer)
        ids = {"father": father.id, "mother": mother.id}
        db.session.commit()
    return ids


def send_with_father(scene, family, **changes) -> uuid.UUID:
    return send(scene, relative_ids=[str(family["father"])],
                                   relative_fields=["birth_year", "occupation", "party_member"], **changes)


def body_findings(app, request_id) -> list[tuple[uuid.UUID | None, uuid.UUID | None]]:
    with app.app_context():
        rows = [(row.subject_id, row.relative_id) for row in db.session.scalars(
            select(Finding).where(Finding.request_id == request_id).order_by(Finding.created_at))]
        db.session.commit()
    return rows


def test_the_package_shares_the_chosen_relatives_and_only_their_ticked_fields(app, scene, family):
    form = text_of(scene.officer_client.get(new_request_path(scene)))
    assert f"Cha: {FATHER}" in form and f"Mẹ: {MOTHER}" in form
    assert f'value="{family["father"]}"' in form and 'name="relative_fields"' in form

    request_id = send_with_father(scene, family)
    with app.app_context():
        stored = db.session.get(CoordinationRequest, request_id)
        assert stored.shared_relative_ids == [str(family["father"])]
        assert stored.shared_relative_fields == ["birth_year", "occupation", "party_member"]
        db.session.commit()
    detail = json.loads(audit_entries(app, "coordination.send")[-1].detail)
    assert detail["relatives"] == 1 and detail["relative_fields"] == ["birth_year", "occupation", "party_member"]
    assert FATHER not in json.dumps(detail, ensure_ascii=False)

    page = text_of(scene.liaison_client.get(f"/requests/{request_id}"))
    assert f"Cha: {FATHER}" in page and "1950" in page and "Hưu trí" in page
    for secret in (FATHER_RESIDENCE, MOTHER, MOTHER_OCCUPATION, "1954"):
        assert secret not in page, secret
    assert_labelled(page)

    officer_page = text_of(scene.officer_client.get(f"/cases/{scene.case_id}/requests/{request_id}"))
    assert f"Cha: {FATHER}" in officer_page and MOTHER not in officer_page


def test_a_relative_of_another_dossier_or_an_unknown_field_is_refused(app, scene, family):
    page = scene.officer_client.post(new_request_path(scene), data=request_form(
        scene, relative_ids=[str(uuid.uuid4())]))
    assert page.status_code == 200
    assert "Lựa chọn không hợp lệ" in field_errors(text_of(page), "relative_ids")
    with app.app_context():
        case = db.session.get(Case, scene.case_id)
        officer = db.session.get(User, scene.officer.id)
        with pytest.raises(CaseError) as refused:
            coordination.send_request(case, coordination.RequestData(
                scene.police_unit, "Câu hỏi", org_today() + timedelta(days=9),
                relative_ids=[uuid.uuid4()]), by=officer)
        assert refused.value.field == "relative_ids"
        db.session.rollback()
    assert count_requests(app) == 0


def test_a_liaison_finding_names_the_subject_or_a_disclosed_relative_only(app, scene, family):
    request_id = send_with_father(scene, family)
    liaison = scene.liaison_client
    assert liaison_post(liaison, request_id, "acknowledge", "ack").status_code == 302
    page = liaison.get(f"/requests/{request_id}").get_data(as_text=True)
    options = re.search(r'<select[^>]*name="finding-person"[^>]*>(.*?)</select>', page, re.S).group(1)
    assert f'value="{family["father"]}"' in options and 'value="subject"' in options
    assert str(family["mother"]) not in page

    finding = {"category": "political_history", "text": ABOUT_FATHER, "classification": "unclassified"}
    assert liaison_post(liaison, request_id, "findings", "finding",
                        {**finding, "person": str(family["father"])}).status_code == 302
    for person in (str(family["mother"]), str(uuid.uuid4()), "someone"):
        refused = liaison_post(liaison, request_id, "findings", "finding", {**finding, "person": person})
        assert refused.status_code == 200
        message = field_errors(text_of(refused), "finding-person")
        assert message and "người thân được chia sẻ" in message, person
        assert MOTHER not in text_of(refused)
    assert body_findings(app, request_id) == [(None, family["father"])]
    created = json.loads(audit_entries(app, "finding.create")[-1].detail)
    assert created["relative"] == str(family["father"]) and FATHER not in json.dumps(created, ensure_ascii=False)

    # The operation refuses it too, whatever form sends it.
    with app.app_context():
        item = db.session.get(CoordinationRequest, request_id)
        by = db.session.get(User, scene.liaison.id)
        with pytest.raises(CaseError) as refused:
            coordination.log_body_finding(item, FindingData(str(family["mother"]), "other", "x", "unclassified"),
                                          by=by)
        assert refused.value.field == "person"
        db.session.rollback()

    # Both sides see who the finding is about.
    assert f"Cha: {FATHER}" in text_of(liaison.get(f"/requests/{request_id}"))
    assert liaison_post(liaison, request_id, "answer", "answer", {"answer": "Đã xác minh"}).status_code == 302
    officer_page = text_of(scene.officer_client.get(f"/cases/{scene.case_id}/requests/{request_id}"))
    row = re.search(r"<tr>(?:(?!</tr>).)*" + re.escape(ABOUT_FATHER), officer_page, re.S).group(0)
    assert f"Cha: {FATHER}" in row
    assert officer_post(scene, request_id, "accept", "accept").status_code == 302
    case_page = text_of(scene.officer_client.get(f"/cases/{scene.case_id}"))
    row = re.search(r"<tr>(?:(?!</tr>).)*" + re.escape(ABOUT_FATHER), case_page, re.S).group(0)
    assert f"Cha: {FATHER}" in row


def test_a_shared_finding_about_an_undisclosed_relative_does_not_name_them(app, scene, family):
    with app.app_context():
        case = db.session.get(Case, scene.case_id)
        officer = db.session.get(User, scene.officer.id)
        about_mother = operations.add_finding(case, FindingData(str(family["mother"]), "other", "Mẹ đã nghỉ hưu",
                                                                "unclassified"), by=officer).id
        db.session.commit()
    request_id = send(scene, finding_ids=[str(about_mother)])
    page = text_of(scene.liaison_client.get(f"/requests/{request_id}"))
    assert "Mẹ đã nghỉ hưu" in page and "Người thân (không được chia sẻ)" in page
    assert MOTHER not in page and "Mẹ:" not in page


def test_a_withdrawn_request_shares_no_relative(app, scene, family):
    request_id = send_with_father(scene, family)
    assert officer_post(scene, request_id, "withdraw", "withdraw").status_code == 302
    page = text_of(scene.liaison_client.get(f"/requests/{request_id}"))
    assert FATHER not in page and "1950" not in page
    # The officer still sees what was sent.
    assert f"Cha: {FATHER}" in text_of(scene.officer_client.get(f"/cases/{scene.case_id}/requests/{request_id}"))


def test_the_approval_page_says_who_each_finding_is_about(app, scene, family, make_user, sign_in):
    with app.app_context():
        case = db.session.get(Case, scene.case_id)
        officer = db.session.get(User, scene.officer.id)
        operations.add_finding(case, FindingData(str(family["father"]), "other", ABOUT_FATHER, "unclassified"),
                               by=officer)
        for action in ("start_appraisal", "start_conclusion"):
            operations.transition(case, action, by=officer)
        conclusions.save_draft(case, conclusions.ConclusionData("no_issue", "Đủ tiêu chuẩn"), by=officer)
        conclusions.submit(case, by=officer)
        db.session.commit()
    supervisor = app.test_client()
    assert sign_in(make_user("supervisor"), target=supervisor).status_code == 302
    page = text_of(supervisor.get(f"/cases/{scene.case_id}/conclusion/approve"))
    entry = re.search(r'<div class="border-bottom py-2">(?:(?!</div></div>).)*' + re.escape(ABOUT_FATHER),
                      page, re.S).group(0)
    assert f"Cha: {FATHER}" in entry
    subject_entry = re.search(r'<div class="border-bottom py-2">(?:(?!</div></div>).)*'
                              + re.escape(SHARED_FINDING), page, re.S).group(0)
    assert "Đối tượng: Nguyễn Văn An" in subject_entry
