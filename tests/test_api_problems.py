"""How the partner API says no (issue 21 §A.3, §A.4): RFC 9457 problem documents
(`application/problem+json`) for every refusal, in Vietnamese unless the client chose
otherwise, naming fields and reasons — never a protected value: not in the document, not
in a server log line, not in an audit detail, whatever the caller sent."""

from __future__ import annotations

import json
import logging
import uuid

import pytest

from tests import scenes
from tests.conftest import audit_entries, logger_into_caplog
from tests.scenes import (
    API_MOTHER,
    QUESTIONS,
    SHARED_FINDING,
    SUMMARY,
    TITLE,
    UNSHARED_FINDING,
    bearer,
)

BASE = "/api/v1/requests"
PROBLEM_KEYS = {"type", "title", "status", "instance", "request_id"}
# What a careless client might send in its input: protected values of its own.
SENT_SECRET = "Lê Văn Bí Mật sinh năm 1961 ở Nghệ An"


@pytest.fixture
def api(app, scene) -> scenes.ApiScene:
    return scenes.api_scene(app, scene)


def refusals(client, api) -> list:
    """One call for each way the API says no, each carrying protected text where it can."""
    ack = client.post(f"{BASE}/{api.request_id}/acknowledge", headers=bearer(api.token, If_Match='"1"'))
    etag = ack.headers["ETag"]
    finding = {"person": str(api.mother), "category": "other", "text": SENT_SECRET, "classification": "unclassified",
               "source": SENT_SECRET}
    return [
        client.get(f"{BASE}/{api.other_request_id}", headers=bearer(api.token)),  # 404
        client.get(f"{BASE}/{uuid.uuid4()}/files/{uuid.uuid4()}", headers=bearer(api.token)),  # 404
        client.get(f"{BASE}", headers={"Authorization": f"Bearer {SENT_SECRET.encode().decode('latin-1')}"}),  # 401
        client.get(f"{BASE}", headers=bearer("hoso_not_a_token")),  # 401
        client.get(f"{BASE}?state=bí-mật", headers=bearer(api.token)),  # 422
        client.post(f"{BASE}/{api.request_id}/findings", headers=bearer(api.token, If_Match=etag), json=finding),  # 422
        client.post(f"{BASE}/{api.request_id}/findings", headers=bearer(api.token, If_Match='"1"'), json=finding),  # 412
        client.post(f"{BASE}/{api.request_id}/findings", headers=bearer(api.token), json=finding),  # 428
        client.post(f"{BASE}/{api.request_id}/findings", headers=bearer(api.token, If_Match=etag),
                    data=f'{{"text": "{SENT_SECRET}"', content_type="application/json"),  # 400
        client.post(f"{BASE}/{api.request_id}/findings", headers=bearer(api.token, If_Match=etag),
                    data=SENT_SECRET.encode(), content_type="text/plain"),  # 415
        client.post(f"{BASE}/{api.request_id}/findings", headers=bearer(api.token, If_Match=etag),
                    json={**finding, "person": "subject", "found_on": SENT_SECRET}),  # 422
        client.post(f"{BASE}/{api.request_id}/acknowledge", headers=bearer(api.token, If_Match=etag)),  # 409
        client.delete(f"{BASE}/{api.request_id}", headers=bearer(api.token)),  # 405
        client.get("/api/v1/nothing-here", headers=bearer(api.token)),  # 404, no route
    ]


def test_every_refusal_is_a_problem_document_in_vietnamese(client, api):
    answers = refusals(client, api)
    assert [answer.status_code for answer in answers] == [404, 404, 401, 401, 422, 422, 412, 428, 400, 415, 422, 409,
                                                          405, 404]
    for answer in answers:
        assert answer.mimetype == "application/problem+json", answer.status_code
        document = answer.get_json()
        assert PROBLEM_KEYS <= set(document), document
        assert document["status"] == answer.status_code
        assert document["instance"] == answer.request.path
        assert "Set-Cookie" not in answer.headers
    titles = {answer.status_code: answer.get_json()["title"] for answer in answers}
    assert titles[404] == "Không tìm thấy" and titles[422] == "Dữ liệu không hợp lệ"
    assert titles[412] == "Phiên bản không khớp" and titles[428] == "Thiếu điều kiện phiên bản"
    assert answers[5].get_json()["errors"] == {
        "person": ["Chỉ ghi kết quả về đối tượng hoặc người thân được chia sẻ trong yêu cầu."]}
    assert set(answers[10].get_json()["errors"]) == {"found_on"}
    assert answers[12].headers["Allow"]


def test_no_protected_value_in_problems_logs_or_audit_details(app, client, api, caplog):
    protected = (SENT_SECRET, API_MOTHER, QUESTIONS, SHARED_FINDING, UNSHARED_FINDING, TITLE, SUMMARY,
                 "Nguyễn Văn An", api.token, api.other_token)
    caplog.set_level(logging.DEBUG)
    with logger_into_caplog(caplog, "hoso"), logger_into_caplog(caplog, "protection"), \
            logger_into_caplog(caplog, "cases"), logger_into_caplog(caplog, "audit"):
        answers = refusals(client, api)
    documents = [json.dumps(answer.get_json(), ensure_ascii=False) for answer in answers]
    log_text = "\n".join(record.getMessage() for record in caplog.records)
    details = [entry.detail for entry in audit_entries(app)]
    for value in protected:
        for document in documents:
            assert value not in document, (value, document)
        assert value not in log_text, value
        for detail in details:
            assert value not in detail, (value, detail)
    # The refusals of the authenticated client are in the trail, by code (a 404 as a denial;
    # a 401 by the token check; a 405 matched no endpoint, so no token was checked).
    refused = [json.loads(entry.detail) for entry in audit_entries(app, "api.refused")]
    assert sorted(item["status"] for item in refused) == [400, 409, 412, 415, 422, 422, 422, 428]
    assert all(item["via"] == "api" and item["api_client"] == str(api.client_id) for item in refused)


def test_the_clients_language_choice_is_kept(app, client, api):
    _client, _user, english = scenes.make_api_client(app, "DUCA", locale="en", name="English system")
    vietnamese = client.get(f"{BASE}/{api.other_request_id}", headers=bearer(api.token)).get_json()
    chosen = client.get(f"{BASE}/{api.other_request_id}", headers=bearer(english)).get_json()
    assert vietnamese["title"] == "Không tìm thấy"
    assert chosen["title"] == "Not found"
