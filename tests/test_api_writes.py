"""The partner API's writes (issue 21 §A.2): acknowledge, log a finding about a disclosed
person, upload a file with the web's checks, answer. Each needs If-Match with the request's
ETag (missing: 428, stale: 412) and takes an Idempotency-Key (a retried finding never makes
two). Bad input — malformed JSON, wrong types, unknown fields, another media type, a huge
body — is a 400/413/415/422 problem document, and nothing is written: the rows are counted."""

from __future__ import annotations

import io
import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from audit.models import AuditEntry
from cases.api import idempotency
from cases.models import Attachment, CoordinationRequest, Finding
from cases.partners.models import IdempotencyKey
from protection.clock import utcnow
from protection.db import db
from tests import scenes
from tests.conftest import audit_entries
from tests.pages import PDF
from tests.scenes import ANSWER, BODY_FINDING, bearer, request_row

BASE = "/api/v1/requests"


@pytest.fixture
def api(app, scene) -> scenes.ApiScene:
    return scenes.api_scene(app, scene)


def etag_of(client, api) -> str:
    return client.get(f"{BASE}/{api.request_id}", headers=bearer(api.token)).headers["ETag"]


def acknowledged(client, api) -> str:
    """Acknowledge the police's request through the API; the new ETag."""
    response = client.post(f"{BASE}/{api.request_id}/acknowledge", headers=bearer(api.token, If_Match=etag_of(client, api)))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.headers["ETag"]


def finding(api, **changes) -> dict:
    return {"person": str(api.father), "category": "political_history", "text": BODY_FINDING,
            "classification": "unclassified", "source": "Hồ sơ lưu trữ", "found_on": "2020-05-01", **changes}


def post_finding(client, api, etag: str, body=None, **headers):
    return client.post(f"{BASE}/{api.request_id}/findings", headers=bearer(api.token, If_Match=etag, **headers),
                       json=finding(api) if body is None else body)


def counts(app) -> dict[str, int]:
    """What a write could leave behind."""
    with app.app_context():
        values = {name: db.session.scalar(select(func.count()).select_from(model)) for name, model in
                  (("findings", Finding), ("attachments", Attachment), ("keys", IdempotencyKey),
                   ("audit", AuditEntry))}
        values["version"] = db.session.scalar(select(func.max(CoordinationRequest.version)))
        db.session.commit()
    return values


def own(app, api, action: str) -> list[AuditEntry]:
    """The audit entries of `action` the police client's service account made."""
    return [entry for entry in audit_entries(app, action) if entry.actor_id == api.user_id]


def written(before: dict, after: dict) -> dict:
    """What changed between two counts, the refusal's own audit entry aside."""
    return {key: after[key] - before[key] for key in before if key != "audit" and after[key] != before[key]}


# --- the four writes ----------------------------------------------------------------------

def test_acknowledge_moves_the_request_and_answers_the_new_etag(app, client, api):
    response = client.post(f"{BASE}/{api.request_id}/acknowledge", headers=bearer(api.token, If_Match='"1"'))
    assert response.status_code == 200
    row = request_row(app, api.request_id)
    assert row["state"] == "acknowledged"
    assert response.headers["ETag"] == f'"{row["version"]}"' != '"1"'
    assert response.get_json()["state"] == "acknowledged" and response.get_json()["acknowledged_at"]
    [step] = audit_entries(app, "coordination.transition")
    assert step.actor_id == api.user_id and json.loads(step.detail)["step"] == "acknowledge"
    [call] = audit_entries(app, "api.write")
    detail = json.loads(call.detail)
    assert call.actor_id == api.user_id
    assert (detail["via"], detail["api_client"], detail["operation"]) == ("api", str(api.client_id), "acknowledge")


def test_a_finding_names_a_disclosed_relative(app, client, api):
    etag = acknowledged(client, api)
    response = post_finding(client, api, etag)
    assert response.status_code == 201, response.get_data(as_text=True)
    document = response.get_json()
    assert document["person"] == str(api.father) and document["text"] == BODY_FINDING
    assert document["found_on"] == "2020-05-01" and document["classification"] == "unclassified"
    assert response.headers["ETag"] == etag  # a finding does not move the request
    with app.app_context():
        row = db.session.get(Finding, uuid.UUID(document["id"]))
        assert (row.relative_id, row.request_id, row.accepted, row.author_id) == (
            api.father, api.request_id, False, api.user_id)
        db.session.commit()
    [entry] = own(app, api, "finding.create")
    read = client.get(f"{BASE}/{api.request_id}", headers=bearer(api.token)).get_json()
    assert [item["id"] for item in read["findings"]] == [document["id"]]


def test_a_finding_about_the_subject_by_default(client, api):
    etag = acknowledged(client, api)
    body = finding(api)
    del body["person"]
    response = post_finding(client, api, etag, body)
    assert response.status_code == 201 and response.get_json()["person"] == "subject"


@pytest.mark.parametrize("who", ["mother", "stranger"])
def test_a_finding_about_an_undisclosed_person_is_refused(app, client, api, who):
    etag = acknowledged(client, api)
    person = str(api.mother) if who == "mother" else str(uuid.uuid4())
    before = counts(app)
    response = post_finding(client, api, etag, finding(api, person=person))
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["person"]
    assert written(before, counts(app)) == {}
    [refused] = audit_entries(app, "api.refused")
    assert json.loads(refused.detail)["status"] == 422 and refused.actor_id == api.user_id


def test_a_finding_before_acknowledging_is_a_conflict(app, client, api):
    before = counts(app)
    response = post_finding(client, api, '"1"')
    assert response.status_code == 409
    assert response.get_json()["type"].endswith("/wrong-state")
    assert written(before, counts(app)) == {}


def test_a_file_is_checked_as_on_the_web(app, client, api):
    etag = acknowledged(client, api)
    path = f"{BASE}/{api.request_id}/files"
    created = client.post(path, headers=bearer(api.token, If_Match=etag),
                          data={"file": (io.BytesIO(PDF), "ket-qua.pdf"), "classification": "unclassified"})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["media_type"] == "application/pdf" and created.get_json()["name"] == "ket-qua.pdf"
    assert created.headers["Location"] == created.get_json()["href"]
    assert len(own(app, api, "attachment.upload")) == 1

    before = counts(app)
    not_a_document = client.post(path, headers=bearer(api.token, If_Match=etag),
                                 data={"file": (io.BytesIO(b"#!/bin/sh\necho hi\n"), "ket-qua.pdf"),
                                       "classification": "unclassified"})
    assert not_a_document.status_code == 422 and list(not_a_document.get_json()["errors"]) == ["file"]
    above_the_case = client.post(path, headers=bearer(api.token, If_Match=etag),
                                 data={"file": (io.BytesIO(PDF), "mat.pdf"), "classification": "secret"})
    assert above_the_case.status_code == 422 and "classification" in above_the_case.get_json()["errors"]
    boundary, text_part = encode_multipart({"file": "văn bản", "classification": "unclassified"})
    not_a_file = client.post(path, headers=bearer(api.token, If_Match=etag), data=text_part,
                             content_type=f"multipart/form-data; boundary={boundary}")
    assert not_a_file.status_code == 422 and "file" in not_a_file.get_json()["errors"]
    as_json = client.post(path, headers=bearer(api.token, If_Match=etag), json={"classification": "unclassified"})
    assert as_json.status_code == 415
    assert written(before, counts(app)) == {}


@pytest.fixture
def small_bodies(app_config):
    """Files up to 1 MB, request bodies up to 2 MB: request before `app`."""
    app_config["HOSO_MAX_UPLOAD_MB"] = 1
    app_config["HOSO_MAX_REQUEST_MB"] = 2


def multipart(content: bytes, filename: str, classification: str = "unclassified") -> dict:
    """A large multipart body as bytes (the test client would spool it to a temporary file
    that nobody closes when the server refuses it unread)."""
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(content), filename),
                                       "classification": classification})
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def test_the_size_limits_are_the_webs(small_bodies, app, client, api):
    etag = acknowledged(client, api)
    path = f"{BASE}/{api.request_id}/files"
    before = counts(app)
    over_file_limit = PDF + b"0" * (1024 * 1024)
    response = client.post(path, headers=bearer(api.token, If_Match=etag),
                           **multipart(over_file_limit, "lon.pdf"))
    assert response.status_code == 422 and list(response.get_json()["errors"]) == ["file"]
    over_body_limit = PDF + b"0" * (3 * 1024 * 1024)
    response = client.post(path, headers=bearer(api.token, If_Match=etag), **multipart(over_body_limit, "qua-lon.pdf"))
    assert response.status_code == 413 and response.mimetype == "application/problem+json"
    huge_json = post_finding(client, api, etag, finding(api, text="x" * (3 * 1024 * 1024)))
    assert huge_json.status_code == 413
    assert written(before, counts(app)) == {}


def test_answer_closes_the_bodys_part(app, client, api):
    etag = acknowledged(client, api)
    assert post_finding(client, api, etag).status_code == 201
    response = client.post(f"{BASE}/{api.request_id}/answer", headers=bearer(api.token, If_Match=etag),
                           json={"answer": ANSWER})
    assert response.status_code == 200
    assert response.get_json()["state"] == "answered" and response.get_json()["answer"] == ANSWER
    row = request_row(app, api.request_id)
    assert (row["state"], row["answer"]) == ("answered", ANSWER)
    # Answered: no more findings, and no second answer.
    again = client.post(f"{BASE}/{api.request_id}/answer", headers=bearer(api.token, If_Match=response.headers["ETag"]),
                        json={"answer": ANSWER})
    assert again.status_code == 409
    assert post_finding(client, api, response.headers["ETag"]).status_code == 409


@pytest.mark.parametrize("body", [{"answer": ""}, {"answer": "   "}, {}, {"answer": None}, {"answer": 5}])
def test_an_empty_or_mistyped_answer_is_refused_beside_its_field(app, client, api, body):
    etag = acknowledged(client, api)
    before = counts(app)
    response = client.post(f"{BASE}/{api.request_id}/answer", headers=bearer(api.token, If_Match=etag), json=body)
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["answer"]
    assert written(before, counts(app)) == {}
    assert request_row(app, api.request_id)["state"] == "acknowledged"


# --- If-Match -------------------------------------------------------------------------------

@pytest.mark.parametrize(("if_match", "status"), [
    (None, 428), ("", 428), ("*", 428), ('"0"', 412), ('W/"1"', 412), ('"2", "7"', 412),
])
def test_a_write_without_the_current_etag_writes_nothing(app, client, api, if_match, status):
    headers = bearer(api.token) if if_match is None else bearer(api.token, If_Match=if_match)
    before = counts(app)
    response = client.post(f"{BASE}/{api.request_id}/acknowledge", headers=headers)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert written(before, counts(app)) == {}
    assert request_row(app, api.request_id)["state"] == "sent"


def test_a_stale_etag_after_another_write_is_412(app, client, api):
    old = etag_of(client, api)
    acknowledged(client, api)
    before = counts(app)
    response = post_finding(client, api, old)
    assert response.status_code == 412 and response.get_json()["type"].endswith("/stale-version")
    assert written(before, counts(app)) == {}


def test_one_of_several_etags_may_match(client, api):
    response = client.post(f"{BASE}/{api.request_id}/acknowledge", headers=bearer(api.token, If_Match='"9", "1"'))
    assert response.status_code == 200


# --- Idempotency-Key --------------------------------------------------------------------------

def test_a_retried_finding_is_replayed_not_written_twice(app, client, api):
    etag = acknowledged(client, api)
    first = post_finding(client, api, etag, Idempotency_Key="lan-1")
    before = counts(app)
    # The retry comes after another write moved the ETag on: the first answer is still replayed.
    second = post_finding(client, api, '"1"', Idempotency_Key='"lan-1"')
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert second.get_json() == first.get_json()
    assert written(before, counts(app)) == {}
    assert len(own(app, api, "finding.create")) == 1
    [replay] = audit_entries(app, "api.write_replayed")
    assert json.loads(replay.detail)["created"] == first.get_json()["id"]


def test_a_retried_acknowledge_replays_the_request(app, client, api):
    first = client.post(f"{BASE}/{api.request_id}/acknowledge", headers=bearer(api.token, If_Match='"1"',
                                                                               Idempotency_Key="ack-1"))
    second = client.post(f"{BASE}/{api.request_id}/acknowledge", headers=bearer(api.token, If_Match='"1"',
                                                                                Idempotency_Key="ack-1"))
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.headers["Idempotent-Replayed"] == "true" and second.headers["ETag"] == first.headers["ETag"]
    assert len(audit_entries(app, "coordination.transition")) == 1


def test_a_retried_upload_is_one_file(app, client, api):
    etag = acknowledged(client, api)

    def upload():
        return client.post(f"{BASE}/{api.request_id}/files", headers=bearer(api.token, If_Match=etag,
                                                                           Idempotency_Key="tep-1"),
                           data={"file": (io.BytesIO(PDF), "ket-qua.pdf"), "classification": "unclassified"})

    first, second = upload(), upload()
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.get_json()["id"] == first.get_json()["id"] and second.headers["Idempotent-Replayed"] == "true"
    assert len(own(app, api, "attachment.upload")) == 1


def test_the_same_key_with_another_body_is_422(app, client, api):
    etag = acknowledged(client, api)
    assert post_finding(client, api, etag, Idempotency_Key="lan-2").status_code == 201
    before = counts(app)
    response = post_finding(client, api, etag, finding(api, text="Nội dung khác"), Idempotency_Key="lan-2")
    assert response.status_code == 422 and "Idempotency-Key" in response.get_json()["errors"]
    # ... and on another path (the same key for an answer)
    response = client.post(f"{BASE}/{api.request_id}/answer", headers=bearer(api.token, If_Match=etag,
                                                                             Idempotency_Key="lan-2"),
                           json={"answer": ANSWER})
    assert response.status_code == 422
    assert written(before, counts(app)) == {}


def test_keys_are_per_client(app, client, api):
    """The military's key of the same text is theirs: it neither replays nor blocks the police's."""
    etag = acknowledged(client, api)
    other = client.post(f"{BASE}/{api.other_request_id}/acknowledge",
                        headers=bearer(api.other_token, If_Match='"1"', Idempotency_Key="chung"))
    assert other.status_code == 200
    response = post_finding(client, api, etag, Idempotency_Key="chung")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers


def test_an_expired_key_is_forgotten(app, client, api):
    etag = acknowledged(client, api)
    assert post_finding(client, api, etag, Idempotency_Key="cu").status_code == 201
    with app.app_context():
        hours = app.config["HOSO_API_IDEMPOTENCY_HOURS"]
        db.session.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=hours, minutes=1)))
        db.session.commit()
    again = post_finding(client, api, etag, Idempotency_Key="cu")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert len(own(app, api, "finding.create")) == 2 and counts(app)["keys"] == 1


@pytest.mark.parametrize("key", ["", "x" * 201, "khóa"])
def test_an_unusable_key_is_400(app, client, api, key):
    etag = acknowledged(client, api)
    before = counts(app)
    # A header carries bytes: a non-ASCII key arrives as its UTF-8 bytes read as Latin-1.
    response = post_finding(client, api, etag, Idempotency_Key=key.encode("utf-8").decode("latin-1"))
    assert response.status_code == 400 and "Idempotency-Key" in response.get_json()["errors"]
    assert written(before, counts(app)) == {}


def test_a_key_held_by_an_unfinished_call_is_in_use(app, api):
    """The key's row is the write's first insert: a second call with the same key meets the
    unique index (on PostgreSQL it waits there for the first to commit) and is told 409."""
    with app.app_context():
        row = idempotency.claim(api.client_id, "en-cours", "0" * 64)
        idempotency.settle(row, 201, "finding", uuid.uuid4())
        db.session.commit()
    with app.app_context():
        with pytest.raises(idempotency.KeyInUse):
            idempotency.claim(api.client_id, "en-cours", "1" * 64)
        db.session.rollback()


# --- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "content_type", "status", "field"), [
    ('{"text": "chưa đóng'.encode(), "application/json", 400, None),
    (b"\xff\xfe\x00", "application/json", 400, None),
    (b'{"text": "x"}', "text/plain", 415, None),
    (b"text=x", "application/x-www-form-urlencoded", 415, None),
    (b"[1, 2]", "application/json", 422, "_schema"),
    (b"null", "application/json", 422, "_schema"),
])
def test_unreadable_bodies_write_nothing(app, client, api, data, content_type, status, field):
    etag = acknowledged(client, api)
    before = counts(app)
    response = client.post(f"{BASE}/{api.request_id}/findings", headers=bearer(api.token, If_Match=etag),
                           data=data, content_type=content_type)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    if field:
        assert field in response.get_json()["errors"]
    assert written(before, counts(app)) == {}


@pytest.mark.parametrize(("changes", "field"), [
    ({"text": 5}, "text"), ({"category": "gossip"}, "category"), ({"classification": 1}, "classification"),
    ({"found_on": "01/05/2020"}, "found_on"), ({"found_on": "2999-01-01"}, "found_on"), ({"person": ["subject"]}, "person"),
    ({"text": "x" * 10001}, "text"), ({"extra": "x"}, "extra"), ({"text": None}, "text"),
    ({"classification": "top_secret"}, "classification"),
])
def test_wrong_fields_are_422_beside_the_field(app, client, api, changes, field):
    etag = acknowledged(client, api)
    before = counts(app)
    response = post_finding(client, api, etag, finding(api, **changes))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert field in response.get_json()["errors"]
    assert written(before, counts(app)) == {}


def test_a_missing_required_field_is_422(app, client, api):
    etag = acknowledged(client, api)
    response = post_finding(client, api, etag, {"person": "subject"})
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"category", "text", "classification"}


def test_acknowledge_takes_no_body(app, client, api):
    response = client.post(f"{BASE}/{api.request_id}/acknowledge", headers=bearer(api.token, If_Match='"1"'),
                           json={"state": "answered"})
    assert response.status_code == 415
    assert request_row(app, api.request_id)["state"] == "sent"


def test_writes_to_another_bodys_request_are_404(app, client, api):
    before = counts(app)
    for action, body in (("acknowledge", None), ("findings", finding(api)), ("answer", {"answer": ANSWER})):
        response = client.post(f"{BASE}/{api.other_request_id}/{action}", headers=bearer(api.token, If_Match='"1"'),
                               json=body)
        assert response.status_code == 404, action
    assert written(before, counts(app)) == {}
    assert request_row(app, api.other_request_id)["state"] == "sent"
