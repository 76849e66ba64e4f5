"""Case pages end to end through the HTTP client, as officers and supervisors use them: a
review from opening to an approved, signed conclusion (with a return on the way), petitions
from intake to their decision, the four-eyes rule, stale forms, double submits and bad input.

Every request is made after any app context that touched the database is closed (SQLite's
BEGIN IMMEDIATE would otherwise wait on itself)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from io import BytesIO

import pytest
from sqlalchemy import func, select, update

from audit.trail import detail_of
from cases.casework import operations
from cases.models import Case, Comment, Conclusion, Finding
from cases.reviews import operations as reviews
from cases.reviews.operations import ReviewData
from protection.db import db
from protection.identity import User
from tests.conftest import PASSWORD, audit_entries
from tests.factories import count_rows, stored_case
from tests.pages import (
    PDF,
    PETITION_SUMMARY,
    PETITIONER,
    REASONING,
    SUMMARY,
    TITLE,
    add_relative_by_form,
    case_action,
    case_id_of,
    create_subject_by_form,
    day_text,
    draft_and_submit,
    field_errors,
    hidden,
    open_review_by_form,
    org_today,
    page_post,
    receive_petition_by_form,
    step,
    text_of,
    to_concluding,
)

FINDING = "Ông nội tham gia kháng chiến chống Pháp tại Sơn Hà"
COMMENT = "Đã đối chiếu lý lịch với hồ sơ gốc"
RETURN_COMMENT = "Bổ sung căn cứ xác minh của Công an huyện"


@pytest.fixture(autouse=True)
def _rate_limit_out_of_the_way(app_config):
    app_config["HOSO_LOGIN_RATE_LIMIT"] = "1000 per minute"


# --- helpers --------------------------------------------------------------------------------

@pytest.fixture
def officer(client, make_user, sign_in):
    user = make_user("officer", display_name="Phạm Văn Thẩm Định")
    assert sign_in(user).status_code == 302
    return user


@pytest.fixture
def supervisor_client(app, make_user, sign_in):
    user = make_user("supervisor", display_name="Lê Thị Lãnh Đạo")
    other = app.test_client()
    assert sign_in(user, target=other).status_code == 302
    other.user = user
    return other


@pytest.fixture
def subject_id(client, officer):
    return create_subject_by_form(client)


# --- a review from opening to an approved conclusion ---------------------------------------

def test_review_from_opening_to_signed_conclusion(app, client, officer, supervisor_client, subject_id):
    add_relative_by_form(client, subject_id)
    case_id = open_review_by_form(client, subject_id)
    page = text_of(client.get(f"/cases/{case_id}"))
    reference = stored_case(app, case_id)["reference"]
    assert reference.startswith("BVCT-") and reference in page and TITLE in page and "Rà soát" in page

    step(client, case_id, "start_examination")
    step(client, case_id, "start_verification")
    assert "Xác minh" in text_of(client.get(f"/cases/{case_id}"))

    # A finding about the subject, a file, a comment.
    form = text_of(client.get(f"/cases/{case_id}/findings/new"))
    assert "Đối tượng: Nguyễn Văn An" in form and "Cha: Nguyễn Văn Quý" in form
    response = page_post(client, f"/cases/{case_id}/findings/new", data={
        "person": "subject", "category": "political_history", "text": FINDING, "source": "Lý lịch gốc",
        "found_on": "01/02/2020", "classification": "unclassified"})
    assert response.status_code == 302
    response = case_action(client, case_id, "attachments", {
        "classification": "unclassified", "file": (BytesIO(PDF), "bien-ban.pdf")},
        content_type="multipart/form-data")
    assert response.status_code == 302
    assert case_action(client, case_id, "comments", {"body": COMMENT}).status_code == 302
    page = text_of(client.get(f"/cases/{case_id}"))
    assert FINDING in page and "Lịch sử chính trị" in page and COMMENT in page and "bien-ban.pdf" in page
    link = re.search(rf'href="(/cases/{case_id}/attachments/[0-9a-f-]{{36}})"', page).group(1)
    download = client.get(link)
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Type"] == "application/pdf"
    assert audit_entries(app, "attachment.download")[-1].target_id == case_id

    step(client, case_id, "start_appraisal")
    step(client, case_id, "start_conclusion")
    # Party admission needs the eligibility; refused beside the field, input kept.
    response = page_post(client, f"/cases/{case_id}/conclusion", data={"outcome": "no_issue",
                                                                       "reasoning": REASONING})
    assert response.status_code == 200
    assert "đủ hay không đủ điều kiện" in field_errors(text_of(response), "admission_eligible")
    assert REASONING in text_of(response)
    draft_and_submit(client, case_id)
    assert stored_case(app, case_id)["state"] == "submitted"

    # The supervisor returns it: a comment is required.
    approve_page = f"/cases/{case_id}/conclusion/approve"
    assert REASONING in text_of(supervisor_client.get(approve_page))
    response = page_post(supervisor_client, approve_page, f"/cases/{case_id}/conclusion/return", {"comment": ""})
    assert response.status_code == 200 and field_errors(text_of(response), "comment")
    assert stored_case(app, case_id)["conclusions"][0]["state"] == "submitted"
    response = page_post(supervisor_client, approve_page, f"/cases/{case_id}/conclusion/return",
                         {"comment": RETURN_COMMENT})
    assert response.status_code == 302
    stored = stored_case(app, case_id)
    assert stored["state"] == "concluding" and stored["conclusions"][0]["state"] == "returned"

    # The officer sees the comment, revises and resubmits.
    form = text_of(client.get(f"/cases/{case_id}/conclusion"))
    assert RETURN_COMMENT in form and REASONING in form
    draft_and_submit(client, case_id, REASONING + " Đã bổ sung xác minh.")

    # Wrong password: refused beside the field, nothing approved, the failure recorded.
    response = page_post(supervisor_client, approve_page, data={"secret": "Sai-mat-khau-99"})
    assert response.status_code == 200
    assert "không đúng" in field_errors(text_of(response), "secret")
    assert stored_case(app, case_id)["conclusions"][0]["state"] == "submitted"
    assert detail_of(audit_entries(app, "conclusion.approve")[-1])["reason"] == "reauth_failed"

    response = page_post(supervisor_client, approve_page, data={"secret": PASSWORD})
    assert response.status_code == 302
    stored = stored_case(app, case_id)
    assert stored["state"] == "closed"
    assert stored["conclusions"][0]["state"] == "approved"
    assert stored["conclusions"][0]["document_number"] == "1-KL/BTCTU"
    page = text_of(supervisor_client.get(f"/cases/{case_id}"))
    assert "1-KL/BTCTU" in page and "Chữ ký hợp lệ" in page and "KHÔNG HỢP LỆ" not in page
    assert "Đã phê duyệt" in page and "Trình kết luận" in page  # state and timeline labels

    # The dossier shows the review and its conclusion.
    dossier = text_of(client.get(f"/subjects/{subject_id}"))
    assert reference in dossier and "1-KL/BTCTU" in dossier and "Không có vấn đề chính trị" in dossier


@pytest.mark.usefixtures("around_vietnam_midnight")
def test_tampered_or_expired_conclusion(app, client, officer, supervisor_client, subject_id):
    case_id = open_review_by_form(client, subject_id, purpose="appointment")
    to_concluding(client, case_id)
    response = page_post(client, f"/cases/{case_id}/conclusion", data={"outcome": "no_issue",
                                                                       "reasoning": REASONING})
    assert response.status_code == 302
    assert case_action(client, case_id, "conclusion/submit").status_code == 302
    approve_page = f"/cases/{case_id}/conclusion/approve"
    assert page_post(supervisor_client, approve_page, data={"secret": PASSWORD}).status_code == 302
    with app.app_context():
        # As someone with database access could: move the validity past the flush guard.
        db.session.execute(update(Conclusion).where(Conclusion.case_id == uuid.UUID(case_id))
                           .values(valid_until=org_today() - timedelta(days=1)))
        db.session.commit()
    page = text_of(supervisor_client.get(f"/cases/{case_id}"))
    assert "CHỮ KÝ KHÔNG HỢP LỆ" in page and "Chữ ký hợp lệ" not in page
    # An expired conclusion: the subject needs a fresh review, wherever it shows.
    assert "cần thẩm định lại" in page
    assert "cần thẩm định lại" in text_of(client.get(f"/subjects/{subject_id}"))
    assert "cần thẩm định lại" in text_of(client.get(f"/cases/reviews/new?subject={subject_id}"))


def test_four_eyes_the_author_cannot_approve(app, client, officer, supervisor_client, subject_id):
    case_id = open_review_by_form(client, subject_id, purpose="appointment")
    to_concluding(client, case_id)
    page_post(client, f"/cases/{case_id}/conclusion", data={"outcome": "no_issue", "reasoning": REASONING})
    assert case_action(client, case_id, "conclusion/submit").status_code == 302
    with app.app_context():
        # Officers draft and supervisors approve, so the author is made the supervisor here.
        db.session.execute(update(Conclusion).where(Conclusion.case_id == uuid.UUID(case_id))
                           .values(author_id=supervisor_client.user.id))
        db.session.commit()
    approve_page = f"/cases/{case_id}/conclusion/approve"
    assert "nguyên tắc bốn mắt" in text_of(supervisor_client.get(approve_page))
    response = page_post(supervisor_client, approve_page, data={"secret": PASSWORD})
    assert response.status_code == 200
    assert "chính mình soạn" in field_errors(text_of(response), "secret")
    assert stored_case(app, case_id)["conclusions"][0]["state"] == "submitted"
    assert detail_of(audit_entries(app, "conclusion.approve")[-1])["reason"] == "own_conclusion"


def test_officers_cannot_approve_and_unassigned_officers_cannot_work(app, client, officer, make_user, sign_in,
                                                                       subject_id):
    case_id = open_review_by_form(client, subject_id)
    assert client.get(f"/cases/{case_id}/conclusion/approve").status_code == 403
    stranger = app.test_client()
    assert sign_in(make_user("officer"), target=stranger).status_code == 302
    assert stranger.get(f"/cases/{case_id}").status_code == 403
    listing = text_of(stranger.get("/cases/?view=unit"))
    assert stored_case(app, case_id)["reference"] in listing and TITLE not in listing
    assert "Không được giao" in listing
    # The assigned officer reads the title in the same list, and in "my work".
    for view in ("unit", "mine"):
        assert TITLE in text_of(client.get(f"/cases/?view={view}"))


# --- petitions --------------------------------------------------------------------------------

@pytest.mark.usefixtures("around_vietnam_midnight")
def test_petition_accepted_with_a_deadline_and_extended(app, client, officer, supervisor_client):
    case_id = receive_petition_by_form(client)
    stored = stored_case(app, case_id)
    assert stored["state"] == "received" and stored["reference"].startswith("DT-")
    page = text_of(client.get(f"/cases/{case_id}"))
    assert PETITION_SUMMARY in page and "Xem thông tin người gửi đơn" in page
    assert PETITIONER not in page  # the identity is one click (and one audit entry) away

    response = page_post(client, f"/cases/{case_id}/decision", data={"action": "accept", "note": ""})
    assert response.status_code == 200 and field_errors(text_of(response), "note")
    response = page_post(client, f"/cases/{case_id}/decision", data={"action": "accept",
                                                                     "note": "Đủ điều kiện thụ lý"})
    assert response.status_code == 302
    stored = stored_case(app, case_id)
    assert stored["state"] == "accepted" and stored["decision"] == "accept"
    assert stored["due_on"] == stored["decided_on"] + timedelta(days=30)

    assert case_action(client, case_id, "extend", {"note": "Cần xác minh thêm"}).status_code == 302
    stored = stored_case(app, case_id)
    assert stored["extensions"] == 1 and stored["due_on"] == stored["decided_on"] + timedelta(days=60)

    # The identity opens only under a release (tests/test_identity_release.py): the attempt
    # sends the supervisor to ask, and is recorded as a refused view.
    response = supervisor_client.get(f"/cases/{case_id}/petitioner", follow_redirects=True)
    assert PETITIONER not in text_of(response) and "Đề nghị mở danh tính" in text_of(response)
    entry = audit_entries(app, "petition.petitioner_view")[-1]
    assert entry.target_id == case_id and entry.actor_id == supervisor_client.user.id
    assert entry.outcome == "denied"


@pytest.mark.usefixtures("around_vietnam_midnight")
def test_anonymous_petition_kept_for_monitoring(app, client, officer):
    case_id = receive_petition_by_form(client, anonymous="y", petitioner_name="", petitioner_address="",
                               petitioner_contact="")
    response = page_post(client, f"/cases/{case_id}/decision", data={
        "action": "keep_for_monitoring", "note": "Nội dung, đối tượng rõ ràng"})
    assert response.status_code == 302
    stored = stored_case(app, case_id)
    assert stored["state"] == "monitoring" and stored["due_on"] is None
    assert "Đơn không ký tên" in text_of(client.get(f"/cases/{case_id}/petitioner"))


def test_repeat_is_linked_and_filed(app, client, officer):
    first = receive_petition_by_form(client)
    first_reference = stored_case(app, first)["reference"]
    repeat = receive_petition_by_form(client, repeat_of_reference=first_reference.lower())
    assert stored_case(app, repeat)["repeat_of"] == uuid.UUID(first)
    assert stored_case(app, repeat)["reference"] in text_of(client.get(f"/cases/{first}"))
    assert first_reference in text_of(client.get(f"/cases/{repeat}"))
    response = page_post(client, f"/cases/{repeat}/decision", data={
        "action": "file", "reason": "repeat_without_new_evidence"})
    assert response.status_code == 302
    stored = stored_case(app, repeat)
    assert stored["state"] == "filed" and stored["decision_reason"] == "repeat_without_new_evidence"


def test_petition_forwarded_to_the_competent_body(app, client, officer, make_unit):
    make_unit("UBKTTU", "Ủy ban Kiểm tra Tỉnh ủy", kind="inspection")
    case_id = receive_petition_by_form(client, petition_type="complaint")
    page = text_of(client.get(f"/cases/{case_id}/decision"))
    unit_id = re.search(r'<option value="([0-9a-f-]{36})">UBKTTU', page).group(1)
    response = page_post(client, f"/cases/{case_id}/decision", data={"action": "forward", "note": ""})
    assert response.status_code == 200 and field_errors(text_of(response), "forwarded_to")
    response = page_post(client, f"/cases/{case_id}/decision", data={
        "action": "forward", "forwarded_to": unit_id, "note": "Thuộc thẩm quyền Ủy ban Kiểm tra"})
    assert response.status_code == 302
    assert stored_case(app, case_id)["state"] == "forwarded"
    assert "Ủy ban Kiểm tra Tỉnh ủy" in text_of(client.get(f"/cases/{case_id}"))


# --- optimistic locking, double submits, bad input ------------------------------------------

def test_a_stale_form_changes_nothing_and_says_why(app, client, officer, subject_id):
    case_id = open_review_by_form(client, subject_id)
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    old_version = hidden(page, "version")
    step(client, case_id, "start_examination")  # someone else moved the case meanwhile

    comments_before = count_rows(app, Comment)
    response = client.post(f"/cases/{case_id}/comments", data={
        "csrf_token": hidden(page, "csrf_token"), "version": old_version, "body": COMMENT})
    assert response.status_code == 302
    assert text_of(client.get(response.headers["Location"])).count("vừa được người khác thay đổi") == 1
    assert count_rows(app, Comment) == comments_before

    response = client.post(f"/cases/{case_id}/transition", data={
        "csrf_token": hidden(page, "csrf_token"), "version": old_version, "action": "start_examination"})
    assert response.status_code == 302
    assert stored_case(app, case_id)["state"] == "examination"
    assert "vừa được người khác thay đổi" in text_of(client.get(response.headers["Location"]))


def test_only_plain_steps_go_through_the_transition_form(app, client, officer, subject_id):
    case_id = open_review_by_form(client, subject_id)
    assert case_action(client, case_id, "transition", {"action": "approve_conclusion"}).status_code == 400
    response = case_action(client, case_id, "transition", {"action": "start_conclusion"})
    assert response.status_code == 302  # not allowed from records review: a message, no change
    assert "Không thể thực hiện" in text_of(client.get(response.headers["Location"]))
    assert stored_case(app, case_id)["state"] == "records_review"


def test_double_submit_creates_one_case(app, client, officer, subject_id):
    page = client.get(f"/cases/reviews/new?subject={subject_id}").get_data(as_text=True)
    data = {"csrf_token": hidden(page, "csrf_token"), "form_token": hidden(page, "form_token"),
            "subject_id": subject_id, "purpose": "", "classification": "unclassified"}
    # Refused first (no purpose): the same form, corrected, still goes through once.
    refused = client.post("/cases/reviews/new", data=data)
    assert refused.status_code == 200 and count_rows(app, Case) == 0
    data["purpose"] = "appointment"
    first = case_id_of(client.post("/cases/reviews/new", data=data))
    second = client.post("/cases/reviews/new", data=data)
    assert case_id_of(second) == first
    assert "Biểu mẫu này đã được gửi" in text_of(client.get(second.headers["Location"]))
    assert count_rows(app, Case) == 1

    page = client.get("/cases/petitions/new", follow_redirects=True).get_data(as_text=True)
    data = {"csrf_token": hidden(page, "csrf_token"), "form_token": hidden(page, "form_token"),
            "received_on": day_text(), "channel": "post", "petition_type": "reflection",
            "anonymous": "y", "named_people": "Lê Văn C", "summary": PETITION_SUMMARY,
            "classification": "unclassified"}
    assert case_id_of(client.post("/cases/petitions/new", data=data)) == \
        case_id_of(client.post("/cases/petitions/new", data=data))
    assert count_rows(app, Case) == 2


@pytest.mark.usefixtures("around_vietnam_midnight")
def test_bad_input_is_refused_beside_the_field_with_input_kept(app, client, officer, subject_id):
    response = page_post(client, f"/cases/reviews/new?subject={subject_id}", "/cases/reviews/new", {
        "subject_id": subject_id, "purpose": "", "classification": "unclassified", "title": TITLE})
    page = text_of(response)
    assert response.status_code == 200 and field_errors(page, "purpose")
    assert hidden(page, "title") == TITLE and hidden(page, "form_token")
    response = page_post(client, f"/cases/reviews/new?subject={subject_id}", "/cases/reviews/new", {
        "subject_id": subject_id, "purpose": "appointment", "classification": "unclassified", "title": TITLE,
        "due_on": day_text(-3)})
    page = text_of(response)
    assert response.status_code == 200 and "trước ngày mở" in field_errors(page, "due_on")
    # Kept as the browser's date input reads it (yyyy-mm-dd), whichever way it was typed.
    assert hidden(page, "due_on") == (org_today() - timedelta(days=3)).isoformat()
    response = page_post(client, "/cases/reviews/new", data={
        "subject_id": str(uuid.uuid4()), "purpose": "appointment", "classification": "unclassified"})
    assert response.status_code == 200 and field_errors(text_of(response), "subject_id")
    response = page_post(client, "/cases/petitions/new", data={
        "received_on": day_text(), "channel": "post", "petition_type": "complaint", "summary": PETITION_SUMMARY,
        "named_people": "Lê Văn C", "classification": "unclassified"})
    assert response.status_code == 200 and field_errors(text_of(response), "petitioner_name")
    response = page_post(client, "/cases/petitions/new", data={
        "received_on": "31/02/2026", "channel": "post", "petition_type": "complaint", "summary": PETITION_SUMMARY,
        "anonymous": "y", "classification": "unclassified"})
    assert response.status_code == 200 and field_errors(text_of(response), "received_on")
    assert count_rows(app, Case) == 0


@pytest.mark.usefixtures("around_vietnam_midnight")
def test_list_filters_refuse_bad_input_and_filter(app, client, officer, subject_id):
    case_id = open_review_by_form(client, subject_id)
    reference = stored_case(app, case_id)["reference"]
    mine = text_of(client.get("/cases/"))
    assert reference in mine and TITLE in mine

    response = client.get("/cases/", query_string={"view": "unit", "opened_from": day_text(1),
                                                   "opened_to": day_text(-1)})
    page = text_of(response)
    assert response.status_code == 200 and field_errors(page, "opened_to")
    assert hidden(page, "opened_from") == (org_today() + timedelta(days=1)).isoformat()
    response = client.get("/cases/", query_string={"opened_from": "32/13/2026", "state": "bogus"})
    page = text_of(response)
    assert response.status_code == 200 and field_errors(page, "opened_from") and field_errors(page, "state")

    assert reference in text_of(client.get("/cases/", query_string={"view": "unit", "kind": "review",
                                                                     "state": "records_review"}))
    assert reference not in text_of(client.get("/cases/", query_string={"view": "unit", "kind": "petition"}))
    assert reference in text_of(client.get("/cases/", query_string={"view": "unit",
                                                                     "subject": "Nguyễn Văn An, 01/02/1980"}))
    assert reference not in text_of(client.get("/cases/", query_string={"view": "unit",
                                                                         "subject": "Trần Thị Khác"}))
    assert reference in text_of(client.get("/cases/", query_string={"view": "unit",
                                                                     "reference": reference.lower()}))


def test_assignment_by_a_supervisor(app, client, officer, make_user, sign_in, supervisor_client, subject_id):
    case_id = open_review_by_form(client, subject_id)
    colleague = make_user("officer", display_name="Đỗ Văn Đồng Nghiệp")
    response = case_action(supervisor_client, case_id, "assign", {"officer": str(colleague.id)})
    assert response.status_code == 302
    colleague_client = client.application.test_client()
    assert sign_in(colleague, target=colleague_client).status_code == 302
    assert colleague_client.get(f"/cases/{case_id}").status_code == 200
    response = case_action(supervisor_client, case_id, f"unassign/{colleague.id}")
    assert response.status_code == 302
    assert colleague_client.get(f"/cases/{case_id}").status_code == 403
    response = case_action(supervisor_client, case_id, f"unassign/{officer.id}")
    assert "ít nhất một cán bộ" in text_of(supervisor_client.get(response.headers["Location"]))


def test_case_pages_hold_no_inline_script_or_style(app, client, officer, subject_id):
    case_id = open_review_by_form(client, subject_id)
    for path in (f"/cases/{case_id}", "/cases/", "/cases/reviews/new", "/cases/petitions/new",
                 f"/cases/{case_id}/findings/new", "/"):
        page = client.get(path, follow_redirects=True).get_data(as_text=True)
        assert "<script>" not in page and " style=" not in page, path


def test_nothing_protected_reaches_flash_or_audit(app, client, officer, subject_id):
    case_id = open_review_by_form(client, subject_id)
    assert case_action(client, case_id, "comments", {"body": COMMENT}).status_code == 302
    trail = " ".join(entry.detail or "" for entry in audit_entries(app))
    for secret in (TITLE, SUMMARY, COMMENT, "Nguyễn Văn An"):
        assert secret not in trail
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Finding)) == 0
        db.session.commit()


def test_the_list_pages_fifty_rows_at_a_time(app, client, officer, subject_id):
    with app.app_context():
        user = db.session.get(User, officer.id)
        for _ in range(51):
            reviews.open_review(ReviewData(subject_id=uuid.UUID(subject_id), purpose="other",
                                              classification="unclassified", due_on=operations.today()), by=user)
        db.session.commit()
    page = client.get("/cases/?view=mine").get_data(as_text=True)
    assert len(re.findall(r'href="/cases/[0-9a-f-]{36}"', page)) == 50
    assert "Sắp đến hạn" in page and "trang 1/2" in page
    second = client.get("/cases/?view=mine&page=2").get_data(as_text=True)
    assert "trang 2/2" in second


def test_case_page_forms_refuse_beside_the_field(app, client, officer, subject_id):
    case_id = open_review_by_form(client, subject_id)
    response = case_action(client, case_id, "comments", {"body": "   "})
    assert response.status_code == 200 and field_errors(text_of(response), "body")
    response = case_action(client, case_id, "attachments", {
        "classification": "unclassified", "file": (BytesIO(b"<html><script>x</script>"), "trang.pdf")},
        content_type="multipart/form-data")
    assert response.status_code == 200 and "Chỉ nhận tệp PDF" in field_errors(text_of(response), "file")
    response = case_action(client, case_id, "attachments", {
        "classification": "top_secret", "file": (BytesIO(PDF), "to-trinh.pdf")}, content_type="multipart/form-data")
    assert response.status_code == 200 and field_errors(text_of(response), "classification")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Comment)) == 0
        db.session.commit()
    assert "trang.pdf" not in " ".join(entry.detail or "" for entry in audit_entries(app))


def test_an_attachment_download_keeps_its_own_sandbox_policy(app, client, officer, subject_id):
    """The site-wide policy allows the app's own scripts and styles; a downloaded file gets
    none of that (no script, no plugins, an opaque origin) even if a browser rendered it."""
    case_id = open_review_by_form(client, subject_id)
    response = case_action(client, case_id, "attachments", {
        "classification": "unclassified", "file": (BytesIO(PDF), "bien-ban.pdf")}, content_type="multipart/form-data")
    assert response.status_code == 302
    page = text_of(client.get(f"/cases/{case_id}"))
    link = re.search(rf'href="(/cases/{case_id}/attachments/[0-9a-f-]{{36}})"', page).group(1)
    download = client.get(link)
    assert download.status_code == 200 and download.data == PDF
    assert download.headers.getlist("Content-Security-Policy") == ["default-src 'none'; sandbox"]
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Content-Disposition"].startswith("attachment; ")
    # Pages keep the site-wide policy.
    assert "default-src 'self'" in client.get(f"/cases/{case_id}").headers["Content-Security-Policy"]


def test_a_petition_names_people_with_a_dossier_by_id_number(app, client, officer, subject_id):
    """No form lists dossiers: the officer types the ID number read off the petition, and the
    blind index finds the person within the unit; a wrong number is refused beside the field."""
    response = page_post(client, "/cases/petitions/new", data={
        "received_on": day_text(), "channel": "post", "petition_type": "denunciation",
        "petitioner_name": PETITIONER, "summary": PETITION_SUMMARY, "classification": "unclassified",
        "subject_id_numbers": "001 080 000001\n001080999999"})
    page = text_of(response)
    assert response.status_code == 200 and "Dòng 2" in field_errors(page, "subject_id_numbers")
    assert "001080999999" in page  # the input is kept
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Case)) == 0
    case_id = receive_petition_by_form(client, subject_id_numbers="001080000001", named_people="")
    with app.app_context():
        case = db.session.get(Case, uuid.UUID(case_id))
        assert [str(person.subject_id) for person in case.petition.concerned] == [subject_id]
    history = text_of(client.get(f"/subjects/{subject_id}"))
    assert stored_case(app, case_id)["reference"] in history  # the dossier lists the petition
