"""Coordination requests (phối hợp) end to end through the HTTP client, as the real roles:
an officer asks another body, its liaison sees exactly the package and answers, the
officer asks for more and accepts; nobody else reaches the request.

Cases are set up through the services (the case pages are built separately); every
request to the app is made after the app context that touched the database is closed
(SQLite's BEGIN IMMEDIATE would otherwise wait on itself)."""

from __future__ import annotations

import html
import io
import json
import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from cases.casework import operations
from cases.models import Case, CoordinationRequest, Finding
from cases.petitions import operations as petitions
from protection.db import db
from protection.identity import User
from tests.conftest import audit_entries, csrf_token, post_form
from tests.factories import receive_petition
from tests.pages import AN, PDF, assert_labelled, field_errors, hidden, org_today, text_of
from tests.scenes import (
    ANSWER,
    BODY_FINDING,
    FOLLOW_UP,
    PETITION_SUMMARY,
    PETITIONER,
    QUESTIONS,
    SHARED_FILE,
    SHARED_FINDING,
    SUMMARY,
    TITLE,
    UNSHARED_FILE,
    UNSHARED_FINDING,
    count_requests,
    liaison_post,
    new_request_path,
    officer_post,
    request_form,
    request_row,
    send,
)

# --- the whole exchange ----------------------------------------------------------------------

@pytest.mark.usefixtures("around_vietnam_midnight")
def test_request_answer_more_and_accept(app, scene):
    request_id = send(scene)
    send_entry = audit_entries(app, "coordination.send")[-1]
    assert (send_entry.target_type, send_entry.target_id) == ("case", str(scene.case_id))
    assert QUESTIONS not in send_entry.detail

    # The liaison's inbox: the reference, dates and state; no title, no names.
    inbox = text_of(scene.liaison_client.get("/requests/"))
    with app.app_context():
        reference = db.session.get(Case, scene.case_id).reference
        db.session.commit()
    assert reference in inbox and "Đã gửi" in inbox
    assert TITLE not in inbox and AN["full_name"] not in inbox
    assert audit_entries(app, "coordination.list")[-1].detail == '{"results":1}'

    # Exactly the package: two subject fields, one finding, one file.
    page = text_of(scene.liaison_client.get(f"/requests/{request_id}"))
    assert QUESTIONS in page
    assert_labelled(page)
    assert AN["full_name"] in page and AN["date_of_birth"] in page
    assert SHARED_FINDING in page and SHARED_FILE in page
    for secret in (AN["id_number"], AN["current_unit"], AN["residence"],
                   TITLE, SUMMARY, UNSHARED_FINDING, UNSHARED_FILE, scene.officer.username):
        assert secret not in page, secret
    view = audit_entries(app, "coordination.view")[-1]
    assert (view.target_type, view.target_id) == ("coordination_request", str(request_id))

    # The shared file downloads; the unshared one is unknown.
    shared = scene.liaison_client.get(f"/requests/{request_id}/attachments/{scene.shared_file}")
    assert shared.status_code == 200 and shared.data == PDF
    assert scene.liaison_client.get(f"/requests/{request_id}/attachments/{scene.unshared_file}").status_code == 404
    download = audit_entries(app, "attachment.download")[-1]
    assert (download.target_type, download.target_id) == ("coordination_request", str(request_id))

    # Findings cannot be logged before acknowledging.
    refused = liaison_post(scene.liaison_client, request_id, "findings", "finding",
                           {"category": "other", "text": BODY_FINDING, "classification": "unclassified"})
    assert refused.status_code == 200
    assert "Hãy xác nhận đã nhận yêu cầu" in field_errors(text_of(refused), "finding-text")

    assert liaison_post(scene.liaison_client, request_id, "acknowledge", "ack").status_code == 302
    assert request_row(app, request_id)["state"] == "acknowledged"
    assert_labelled(scene.liaison_client.get(f"/requests/{request_id}").get_data(as_text=True))
    response = liaison_post(scene.liaison_client, request_id, "findings", "finding",
                            {"category": "political_history", "text": BODY_FINDING, "source": "Hồ sơ Công an",
                             "found_on": org_today().strftime("%d/%m/%Y"), "classification": "unclassified"})
    assert response.status_code == 302, text_of(response)[:2000]
    response = liaison_post(scene.liaison_client, request_id, "attachments", "upload",
                            {"file": (io.BytesIO(PDF), "ket-qua-xac-minh.pdf"), "classification": "unclassified"},
                            content_type="multipart/form-data")
    assert response.status_code == 302, text_of(response)[:2000]
    assert liaison_post(scene.liaison_client, request_id, "answer", "answer", {"answer": ANSWER}).status_code == 302
    assert request_row(app, request_id)["state"] == "answered"

    # The officer reads the answer, the body's finding and file, and asks for more.
    officer_page = text_of(scene.officer_client.get(f"/cases/{scene.case_id}/requests/{request_id}"))
    assert ANSWER in officer_page and BODY_FINDING in officer_page and "ket-qua-xac-minh.pdf" in officer_page
    officer_view = audit_entries(app, "coordination.view")[-1]
    assert (officer_view.target_type, officer_view.target_id) == ("case", str(scene.case_id))
    assert json.loads(officer_view.detail) == {"request": str(request_id)}
    assert_labelled(officer_page)
    assert_labelled(scene.officer_client.get(new_request_path(scene)).get_data(as_text=True))
    body_file = re.search(rf'/requests/{request_id}/attachments/([0-9a-f-]{{36}})', officer_page).group(1)
    file_response = scene.officer_client.get(f"/cases/{scene.case_id}/requests/{request_id}/attachments/{body_file}")
    assert file_response.status_code == 200 and file_response.data == PDF
    officer_download = audit_entries(app, "attachment.download")[-1]
    assert (officer_download.target_type, officer_download.target_id) == ("case", str(scene.case_id))
    # The officer route serves only this request's files, not any file of the case.
    assert scene.officer_client.get(f"/cases/{scene.case_id}/requests/{request_id}/attachments/"
                                    f"{scene.unshared_file}").status_code == 404

    with app.app_context():
        assert BODY_FINDING not in [f.text for f in operations.case_findings(db.session.get(Case, scene.case_id),
                                                                            db.session.get(User, scene.officer.id))]
        db.session.commit()

    empty = officer_post(scene, request_id, "more", "more", {"follow_up": "  "})
    assert empty.status_code == 200 and field_errors(text_of(empty), "more-follow_up")
    assert officer_post(scene, request_id, "more", "more", {"follow_up": FOLLOW_UP}).status_code == 302
    assert request_row(app, request_id)["state"] == "more_requested"
    assert FOLLOW_UP in text_of(scene.liaison_client.get(f"/requests/{request_id}"))

    assert liaison_post(scene.liaison_client, request_id, "answer", "answer",
                        {"answer": ANSWER + " (bổ sung)"}).status_code == 302
    assert officer_post(scene, request_id, "accept", "accept").status_code == 302
    assert request_row(app, request_id)["state"] == "accepted"

    with app.app_context():
        accepted = [f.text for f in operations.case_findings(db.session.get(Case, scene.case_id),
                                                             db.session.get(User, scene.officer.id))]
        db.session.commit()
    assert BODY_FINDING in accepted

    transitions = audit_entries(app, "coordination.transition")
    assert [json.loads(e.detail)["step"] for e in transitions] == [
        "acknowledge", "answer", "request_more", "answer", "accept_answer"]
    for entry in audit_entries(app):
        for secret in (QUESTIONS, ANSWER, BODY_FINDING, FOLLOW_UP, "ket-qua-xac-minh"):
            assert secret not in (entry.detail or ""), entry.action


def test_a_double_submitted_request_is_sent_once(app, scene):
    data = request_form(scene)
    first = scene.officer_client.post(new_request_path(scene), data=data)
    second = scene.officer_client.post(new_request_path(scene), data=data)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert count_requests(app) == 1


# --- nobody else reaches it --------------------------------------------------------------------

def test_another_body_and_other_pages_are_out_of_reach(app, scene):
    request_id = send(scene)
    other = scene.other_client
    assert "Quá hạn" not in text_of(other.get("/requests/"))
    assert str(request_id) not in text_of(other.get("/requests/"))
    assert other.get(f"/requests/{request_id}").status_code == 404
    assert other.get(f"/requests/{request_id}/attachments/{scene.shared_file}").status_code == 404
    assert post_form(other, f"/requests/{request_id}/acknowledge", {"ack-version": "1"},
                     token_from="/requests/").status_code == 404
    assert request_row(app, request_id)["state"] == "sent"

    liaison = scene.liaison_client
    assert liaison.get(f"/cases/{scene.case_id}").status_code in (403, 404)
    assert liaison.get(f"/cases/{scene.case_id}/requests/{request_id}").status_code == 403
    assert liaison.get(f"/subjects/{scene.subject_id}").status_code == 403
    assert liaison.get(f"/requests/{uuid.uuid4()}").status_code == 404
    # An officer is not a liaison: the liaison pages refuse them.
    assert scene.officer_client.get(f"/requests/{request_id}").status_code == 403


def test_a_liaison_cleared_below_the_case_does_not_see_it(app, scene, make_user, sign_in):
    request_id = send(scene)
    low = make_user("liaison", unit="DUCA", clearance="unclassified")
    low_client = app.test_client()
    assert sign_in(low, target=low_client).status_code == 302
    assert low_client.get(f"/requests/{request_id}").status_code == 404
    assert "Chưa có yêu cầu" in text_of(low_client.get("/requests/"))


def test_a_petition_request_never_shows_the_petitioner(app, scene):
    with app.app_context():
        officer = db.session.get(User, scene.officer.id)
        case = receive_petition(officer, petition_type="reflection", summary=PETITION_SUMMARY,
                                petitioner_name=PETITIONER, petitioner_address="Số 1 đường Lê Lợi",
                                title="Đơn phản ánh", named_people=["Phạm Văn Được Nêu"])
        petitions.decide(case, petitions.Decision("accept", note="Đủ điều kiện thụ lý"), by=officer)
        operations.transition(case, "start_verification", by=officer)
        case_id = case.id
        db.session.commit()
    scene.case_id = case_id
    request_id = send(scene, subject_fields=[], finding_ids=[], attachment_ids=[])
    page = text_of(scene.liaison_client.get(f"/requests/{request_id}"))
    assert QUESTIONS in page
    for secret in (PETITIONER, "Số 1 đường Lê Lợi", PETITION_SUMMARY, "Đơn phản ánh", "Phạm Văn Được Nêu"):
        assert secret not in page, secret


# --- deadlines, stale forms, bad input -----------------------------------------------------------

@pytest.mark.usefixtures("around_vietnam_midnight")
def test_an_overdue_request_is_highlighted_on_both_sides(app, scene):
    request_id = send(scene)
    assert "Quá hạn" not in text_of(scene.liaison_client.get("/requests/"))
    with app.app_context():
        db.session.execute(update(CoordinationRequest).where(CoordinationRequest.id == request_id)
                           .values(due_on=org_today() - timedelta(days=1)))
        db.session.commit()
    inbox = scene.liaison_client.get("/requests/").get_data(as_text=True)
    assert "Quá hạn" in inbox and 'class="table-danger"' in inbox
    assert "Quá hạn" in text_of(scene.liaison_client.get(f"/requests/{request_id}"))
    assert "Quá hạn" in text_of(scene.officer_client.get(f"/cases/{scene.case_id}/requests/{request_id}"))


def test_a_stale_form_is_refused_with_a_clear_message_and_nothing_changes(app, scene):
    request_id = send(scene)
    page_path = f"/requests/{request_id}"
    response = scene.liaison_client.post(f"{page_path}/acknowledge", data={
        "ack-csrf_token": csrf_token(scene.liaison_client, page_path), "ack-version": "0"})
    assert response.status_code == 200
    assert "Yêu cầu vừa được người khác cập nhật" in text_of(response)
    assert request_row(app, request_id)["state"] == "sent"
    assert hidden(response.get_data(as_text=True), "ack-version") == str(request_row(app, request_id)["version"])

    # A stale request form: the case moved on since the form was drawn.
    stale = request_form(scene, version="0")
    response = scene.officer_client.post(new_request_path(scene), data=stale)
    assert response.status_code == 200
    assert "Hồ sơ vừa được người khác thay đổi" in text_of(response)
    assert count_requests(app) == 1


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"questions": "   "}, "questions", "Hãy nêu nội dung cần xác minh"),
    ({"questions": ""}, "questions", "bắt buộc"),
    ({"due_on": (org_today() - timedelta(days=3)).strftime("%d/%m/%Y")}, "due_on", "Hạn trả lời phải sau hôm nay"),
    ({"due_on": "31/02/2030"}, "due_on", "Ngày không hợp lệ"),
    ({"body_unit_id": ""}, "body_unit_id", "bắt buộc"),
    ({"finding_ids": [str(uuid.uuid4())]}, "finding_ids", "Lựa chọn không hợp lệ"),
])
@pytest.mark.usefixtures("around_vietnam_midnight")
def test_bad_input_is_shown_beside_the_field_and_kept(app, scene, changes, field, message):
    response = scene.officer_client.post(new_request_path(scene), data=request_form(scene, **changes))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in (field_errors(page, field) or ""), field_errors(page, field)
    if field != "questions":
        assert QUESTIONS in html.unescape(page)  # the typed text is kept
    assert re.search(r'<input checked[^>]*value="full_name"', page)  # the ticked boxes are kept
    assert count_requests(app) == 0
    assert not audit_entries(app, "coordination.send")


def test_a_request_is_sent_only_in_verification(app, scene):
    with app.app_context():
        officer = db.session.get(User, scene.officer.id)
        case = db.session.get(Case, scene.case_id)
        operations.transition(case, "start_appraisal", by=officer)
        db.session.commit()
    response = scene.officer_client.post(new_request_path(scene), data=request_form(scene))
    assert response.status_code == 200
    assert "Chỉ gửi yêu cầu xác minh khi hồ sơ ở bước xác minh" in field_errors(
        response.get_data(as_text=True), "body_unit_id")
    assert count_requests(app) == 0


def test_the_request_form_records_its_read_and_withdrawal_is_recorded(app, scene):
    scene.officer_client.get(new_request_path(scene))
    entry = audit_entries(app, "case.view")[-1]
    assert (entry.target_type, entry.target_id) == ("case", str(scene.case_id))
    assert entry.detail == '{"part":"coordination_form"}'

    request_id = send(scene)
    assert officer_post(scene, request_id, "withdraw", "withdraw").status_code == 302
    assert request_row(app, request_id)["state"] == "withdrawn"
    transition = audit_entries(app, "coordination.transition")[-1]
    assert json.loads(transition.detail)["step"] == "withdraw"
    # Nothing more can be answered on a withdrawn request.
    page = text_of(scene.liaison_client.get(f"/requests/{request_id}"))
    assert "Đã rút" in page and 'action="/requests/' + str(request_id) + '/answer"' not in page
    with app.app_context():
        assert db.session.scalars(select(Finding).where(Finding.request_id == request_id)).all() == []
        db.session.commit()
