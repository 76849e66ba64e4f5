"""The partner API's reads (issue 21 §A.2, §A.4): a body's system lists the requests addressed
to it and reads one with exactly its disclosure package, downloads the package's files, and
reaches nothing else — another body's request, one above its clearance or a file outside the
package is a 404, as on the liaison pages. Every read is audited with the client's service
account as actor. No cookie is read or set; the document and its HTML reference are public."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from cases.coordination import operations as coordination
from cases.models import CoordinationRequest
from protection.db import db
from protection.headers import CONTENT_SECURITY_POLICY
from protection.identity import User
from tests import scenes
from tests.conftest import audit_entries
from tests.pages import PDF
from tests.scenes import (
    API_FATHER,
    API_MOTHER,
    OTHER_SUBJECT,
    QUESTIONS,
    SHARED_FILE,
    SHARED_FINDING,
    SUMMARY,
    TITLE,
    UNSHARED_FILE,
    UNSHARED_FINDING,
    bearer,
    make_api_client,
    send,
)


@pytest.fixture
def api(app, scene) -> scenes.ApiScene:
    return scenes.api_scene(app, scene)


@pytest.fixture
def tight_limits(app_config):
    """Pages of 5 and 3 calls a minute per token: request before `app` (and `scene`)."""
    app_config["HOSO_API_PAGE_SIZE"] = 5
    app_config["HOSO_API_RATE_LIMIT"] = "3 per minute"


def get(client, path: str, token: str, **headers):
    return client.get(f"/api/v1{path}", headers=bearer(token, **headers))


# --- the list -----------------------------------------------------------------------------

def test_the_list_holds_the_bodys_requests_only(client, api):
    response = get(client, "/requests", api.token)
    assert response.status_code == 200
    document = response.get_json()
    assert [item["id"] for item in document["items"]] == [str(api.request_id)]
    assert document["total"] == 1 and document["page"] == 1 and document["pages"] == 1
    item = document["items"][0]
    assert item["state"] == "sent" and item["classification"] == "confidential" and item["version"] == 1
    assert str(api.other_request_id) not in response.get_data(as_text=True)
    assert api.other_reference not in response.get_data(as_text=True)

    military = get(client, "/requests", api.other_token).get_json()
    assert [item["id"] for item in military["items"]] == [str(api.other_request_id)]


def test_the_list_pages_and_filters_by_state(app, client, api):
    second = send(api.scene)
    page_one = get(client, "/requests?per_page=1", api.token).get_json()
    page_two = get(client, "/requests?per_page=1&page=2", api.token).get_json()
    assert (page_one["total"], page_one["pages"], page_two["page"]) == (2, 2, 2)
    assert {page_one["items"][0]["id"], page_two["items"][0]["id"]} == {str(api.request_id), str(second)}
    assert get(client, "/requests?per_page=1&page=3", api.token).get_json()["items"] == []

    with app.app_context():
        coordination.acknowledge(db.session.get(CoordinationRequest, second),
                                 by=db.session.get(User, api.user_id))
        db.session.commit()
    acknowledged = get(client, "/requests?state=acknowledged", api.token).get_json()
    assert [item["id"] for item in acknowledged["items"]] == [str(second)]
    assert [item["id"] for item in get(client, "/requests?state=sent", api.token).get_json()["items"]] \
        == [str(api.request_id)]


@pytest.mark.parametrize(("query", "field"), [
    ("state=lost", "state"), ("page=0", "page"), ("page=two", "page"), ("per_page=51", "per_page"),
    ("per_page=0", "per_page"), ("sort=due", "sort"),
])
def test_a_bad_query_is_a_422_naming_its_parameter(client, api, query, field):
    response = get(client, f"/requests?{query}", api.token)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert field in response.get_json()["errors"]


def test_the_page_size_setting_bounds_per_page(tight_limits, client, api):
    assert get(client, "/requests?per_page=6", api.token).status_code == 422
    assert get(client, "/requests", api.token).get_json()["per_page"] == 5


# --- one request --------------------------------------------------------------------------

def test_a_request_comes_with_exactly_its_package(client, api):
    response = get(client, f"/requests/{api.request_id}", api.token)
    assert response.status_code == 200
    assert response.headers["ETag"] == '"1"'
    document = response.get_json()
    assert document["questions"] == QUESTIONS and document["state"] == "sent" and document["version"] == 1
    assert [(item["field"], item["value"]) for item in document["subject_fields"]] == [
        ("full_name", "Nguyễn Văn An"), ("date_of_birth", "01/02/1980")]
    assert [item["label"] for item in document["relatives"]] == [f"Cha: {API_FATHER}"]
    assert [item["field"] for item in document["relatives"][0]["fields"]] == ["birth_year", "occupation"]
    assert {item["key"] for item in document["people"]} == {"subject", str(api.father)}
    assert [item["text"] for item in document["shared_findings"]] == [SHARED_FINDING]
    assert document["shared_findings"][0]["person"] == "subject"
    assert [item["name"] for item in document["shared_files"]] == [SHARED_FILE]
    assert document["findings"] == [] and document["files"] == [] and document["answer"] is None
    text = json.dumps(document, ensure_ascii=False)  # the body escapes non-ASCII; compare the text
    assert API_FATHER in text
    # Never the rest of the case: its title, summary, other findings and files, the mother.
    for hidden in (TITLE, SUMMARY, UNSHARED_FINDING, UNSHARED_FILE, API_MOTHER, str(api.mother)):
        assert hidden not in text, hidden


def test_reading_is_audited_with_the_service_account_as_actor(app, client, api):
    get(client, "/requests", api.token)
    get(client, f"/requests/{api.request_id}", api.token)
    [listed] = audit_entries(app, "coordination.list")
    [viewed] = audit_entries(app, "coordination.view")
    for entry in (listed, viewed):
        assert entry.actor_id == api.user_id and entry.actor_role == "liaison"
        detail = json.loads(entry.detail)
        assert detail["via"] == "api" and detail["api_client"] == str(api.client_id)
    assert viewed.target_id == str(api.request_id)


def test_another_bodys_request_is_a_404_and_recorded(app, client, api):
    response = get(client, f"/requests/{api.other_request_id}", api.token)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    body = json.dumps(response.get_json(), ensure_ascii=False)
    assert api.other_reference not in body and OTHER_SUBJECT not in body
    assert get(client, f"/requests/{uuid.uuid4()}", api.token).status_code == 404
    denied = audit_entries(app, "access.denied")
    assert denied and denied[-1].actor_id == api.user_id


def test_a_request_above_the_clients_clearance_is_not_known(app, client, api):
    _client, _user, low = make_api_client(app, "DUCA", clearance="unclassified", name="Hệ thống cấp thấp")
    assert get(client, f"/requests/{api.request_id}", low).status_code == 404
    assert get(client, "/requests", low).get_json()["items"] == []
    assert get(client, f"/requests/{api.request_id}/files/{api.scene.shared_file}", low).status_code == 404


# --- files ----------------------------------------------------------------------------------

def test_a_shared_file_downloads_and_is_audited(app, client, api):
    response = get(client, f"/requests/{api.request_id}/files/{api.scene.shared_file}", api.token)
    assert response.status_code == 200
    assert response.data == PDF and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    [entry] = audit_entries(app, "attachment.download")
    assert entry.actor_id == api.user_id and json.loads(entry.detail)["via"] == "api"


def test_a_file_outside_the_package_is_a_404(client, api):
    for file_id in (api.scene.unshared_file, uuid.uuid4()):
        response = get(client, f"/requests/{api.request_id}/files/{file_id}", api.token)
        assert response.status_code == 404, file_id
        assert response.mimetype == "application/problem+json"
    # The police's file through the military's token, and through the military's request.
    assert get(client, f"/requests/{api.request_id}/files/{api.scene.shared_file}", api.other_token).status_code == 404
    assert get(client, f"/requests/{api.other_request_id}/files/{api.scene.shared_file}",
               api.other_token).status_code == 404


def test_the_bodys_own_answer_file_downloads_too(client, api):
    etag = get(client, f"/requests/{api.request_id}", api.token).headers["ETag"]
    etag = client.post(f"/api/v1/requests/{api.request_id}/acknowledge",
                       headers=bearer(api.token, If_Match=etag)).headers["ETag"]
    created = client.post(f"/api/v1/requests/{api.request_id}/files", headers=bearer(api.token, If_Match=etag),
                          data={"file": (io.BytesIO(PDF), "tra-loi.pdf"), "classification": "unclassified"})
    assert created.status_code == 201, created.get_data(as_text=True)
    document = get(client, f"/requests/{api.request_id}", api.token).get_json()
    assert [item["name"] for item in document["files"]] == ["tra-loi.pdf"]
    assert client.get(created.headers["Location"], headers=bearer(api.token)).data == PDF


# --- tokens, not cookies --------------------------------------------------------------------

def test_no_cookie_is_set_and_a_browsers_session_alone_is_refused(client, api):
    for path in ("/requests", f"/requests/{api.request_id}", f"/requests/{api.request_id}/files/{api.scene.shared_file}"):
        response = get(client, path, api.token)
        assert response.status_code == 200 and "Set-Cookie" not in response.headers, path
    # The police liaison is signed in on this client: their session cookie opens nothing here.
    browser = api.scene.liaison_client
    assert browser.get("/requests/").status_code == 200
    refused = browser.get("/api/v1/requests")
    assert refused.status_code == 401 and refused.mimetype == "application/problem+json"
    assert "Set-Cookie" not in refused.headers
    posted = browser.post(f"/api/v1/requests/{api.request_id}/acknowledge", headers={"If-Match": '"1"'})
    assert posted.status_code == 401


def test_the_api_needs_no_csrf_token_and_the_web_still_does(app, client, api):
    acknowledged = client.post(f"/api/v1/requests/{api.request_id}/acknowledge",
                               headers=bearer(api.token, If_Match='"1"'))
    assert acknowledged.status_code == 200
    # The liaison's web form without its CSRF token is still refused.
    browser = api.scene.liaison_client
    assert browser.post(f"/requests/{api.request_id}/answer", data={"answer-answer": "x"}).status_code == 400


# --- rate limits ----------------------------------------------------------------------------

def test_each_token_has_its_own_rate_limit(tight_limits, client, api):
    assert [get(client, "/requests", api.token).status_code for _ in range(3)] == [200, 200, 200]
    refused = get(client, "/requests", api.token)
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert int(refused.headers["Retry-After"]) >= 1
    # Counted by token: the military's system is not held up by the police's.
    assert get(client, "/requests", api.other_token).status_code == 200
    # The counter holds the token's digest, never the token.
    assert get(client, "/requests", api.token).status_code == 429


@pytest.fixture
def few_refusals(app_config):
    """Three refused tokens a minute per address: request before `app` (and `scene`)."""
    app_config["HOSO_API_REFUSED_RATE_LIMIT"] = "3 per minute"


def test_an_address_sending_made_up_tokens_is_held_after_a_few(few_refusals, app, client, api):
    made_up = [f"hoso_{uuid.uuid4().hex}_{uuid.uuid4().hex}" for _ in range(4)]
    assert [get(client, "/requests", token).status_code for token in made_up[:3]] == [401, 401, 401]
    held = get(client, "/requests", made_up[3])
    assert held.status_code == 429 and held.mimetype == "application/problem+json"
    assert int(held.headers["Retry-After"]) >= 1
    # Only refusals count: from another address a good token is heard, and a fourth made-up
    # token from there is refused, not held.
    other = {"REMOTE_ADDR": "10.9.8.7"}
    assert client.get("/api/v1/requests", headers=bearer(api.token), environ_base=other).status_code == 200
    assert client.get("/api/v1/requests", headers=bearer(made_up[0]), environ_base=other).status_code == 401


# --- the document and its reference -----------------------------------------------------------

def test_the_openapi_document_is_public_and_documents_every_status(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"] == "3.1.0"
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": spec["components"]["securitySchemes"]["bearerAuth"]
        ["description"]}
    writes = {"/api/v1/requests/{request_id}/acknowledge", "/api/v1/requests/{request_id}/findings",
              "/api/v1/requests/{request_id}/files", "/api/v1/requests/{request_id}/answer"}
    for path in writes:
        operation = spec["paths"][path]["post"]
        assert {"200", "201"} & set(operation["responses"])
        assert {"400", "401", "404", "409", "412", "413", "415", "422", "428", "429"} <= set(operation["responses"])
        assert {"If-Match", "Idempotency-Key"} <= {item["name"] for item in operation["parameters"]}
    problem = spec["components"]["responses"]["PRECONDITION_FAILED"]["content"]
    assert list(problem) == ["application/problem+json"]


def test_the_html_reference_is_public_offline_and_in_vietnamese(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for text in ("Tài liệu API cho cơ quan phối hợp", "Các thao tác", "Nội dung gửi lên", "Kết quả trả về",
                 "POST /api/v1/requests/{request_id}/findings", "If-Match", "FindingInput",
                 "application/problem+json"):
        assert text in page, text
    assert "<script" not in page and "https://" not in page  # no CDN, nothing to run
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "Set-Cookie" not in response.headers


def test_reads_leave_nothing_but_their_audit_entries(app, client, api):
    with app.app_context():
        before = db.session.scalar(select(CoordinationRequest.version).where(CoordinationRequest.id == api.request_id))
        entries = len(db.session.scalars(select(AuditEntry.id)).all())
        db.session.commit()
    get(client, f"/requests/{api.request_id}", api.token)
    with app.app_context():
        after = db.session.scalar(select(CoordinationRequest.version).where(CoordinationRequest.id == api.request_id))
        assert len(db.session.scalars(select(AuditEntry.id)).all()) == entries + 1
        db.session.commit()
    assert before == after == 1
