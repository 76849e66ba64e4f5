"""Defects found in review of issue 21 (partner API, exchange packages), each pinned by a test
that failed before its fix."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from cases.models import Finding
from cases.partners.models import ExchangePackage, IdempotencyKey
from protection.api_tokens import ApiClient
from protection.db import db
from protection.sessions import AuthSession
from tests import factories, scenes
from tests.pages import csrf_token, field_errors, page_post, text_of
from tests.scenes import bearer

BASE = "/api/v1/requests"


# --- the session cookie is never read on /api/ ---------------------------------------------------

def test_the_api_reference_page_never_reads_the_session_cookie(app, client, login_as, age_sessions):
    """/api/v1/docs is public and standalone; before the fix, rendering it ran the app's context
    processors, which loaded the browser's web session from its cookie: an idle session was
    ended (and its cookie rewritten with a flash message) by a page of the API."""
    user = login_as("liaison")
    age_sessions(user, idle_minutes=16)
    for path in ("/api/v1/docs", "/api/v1/openapi.json"):
        response = client.get(path)
        assert response.status_code == 200
        assert "Set-Cookie" not in response.headers, path
    with app.app_context():
        [row] = db.session.scalars(select(AuthSession).where(AuthSession.user_id == user.id)).all()
        assert row.ended_at is None  # the API left the web session alone
        db.session.commit()
    # The web itself still ends it, as before.
    assert client.get("/").status_code == 302


# --- JSON the parser cannot take is a 400 problem, never a 500 -----------------------------------

@pytest.fixture
def api(app, scene) -> scenes.ApiScene:
    return scenes.api_scene(app, scene)


def counts(app) -> dict[str, int]:
    with app.app_context():
        values = {name: db.session.scalar(select(func.count()).select_from(model)) for name, model in
                  (("findings", Finding), ("keys", IdempotencyKey))}
        db.session.commit()
    return values


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,  # nested past the interpreter's recursion limit
    b'{"text": ' + b"1" * 5000 + b"}",  # an integer past Python's limit on digits
], ids=["deeply-nested", "huge-integer"])
def test_json_the_parser_cannot_take_is_a_400_problem_and_writes_nothing(app, client, api, body):
    etag = client.get(f"{BASE}/{api.request_id}", headers=bearer(api.token)).headers["ETag"]
    before = counts(app)
    response = client.post(f"{BASE}/{api.request_id}/findings", data=body, content_type="application/json",
                           headers=bearer(api.token, If_Match=etag, Idempotency_Key="k-1"))
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["detail"].startswith("Nội dung JSON không đọc được")
    assert counts(app) == before


# --- an API client's name with a control character is refused beside the field --------------------

def test_a_client_name_with_a_control_character_is_refused_beside_the_field(app, client, make_unit, login_as):
    """Before the fix a NUL in the name reached the database: a 500 on PostgreSQL (text cannot
    hold it), a name with a NUL on SQLite."""
    make_unit("CATINH", "Công an tỉnh", "police")
    login_as("admin")
    fields = {"body": "CATINH", "clearance": "confidential", "expires_on": "", "networks": "", "locale": "vi"}
    # An escape sequence would reach the terminal of whoever runs `api-clients list`.
    response = page_post(client, "/admin/partners/new", data={**fields, "name": "Hệ thống\x1b[2JCông an"})
    assert response.status_code == 200
    assert field_errors(text_of(response), "name") == "Tên máy khách không được chứa ký tự điều khiển."
    # A NUL never reaches a form: every request carrying one is refused (protection/errors.py).
    response = page_post(client, "/admin/partners/new", data={**fields, "name": "Hệ thống\x00Công an"})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ApiClient)) == 0
        db.session.commit()


# --- an exchange request package is answered once -------------------------------------------------

def _import(scene, request_id, data: bytes):
    path = f"/cases/{scene.case_id}/requests/{request_id}"
    return scene.officer_client.post(f"{path}/import", content_type="multipart/form-data", data={
        "exchange-csrf_token": csrf_token(scene.officer_client, path),
        "exchange-package": (io.BytesIO(data), "tra-loi.hoso")})


def test_a_second_answer_to_an_answered_package_is_refused_until_a_new_one_goes_out(app, scene, make_user):
    """Before the fix, once the officer asked for more without sending a new package, a second
    answer the body had made to the first package (a new package id, so no replay) was taken
    as the answer to a follow-up question the body had never received."""
    body_key = factories.register_exchange_key(app, "DUCA", by=make_user("admin"))
    request_id = scenes.send(scene)
    first_package = scenes.exported(scene, request_id)
    first, second = (scenes.body_answer(first_package, body_key), scenes.body_answer(
        first_package, body_key, findings=[scenes.body_finding(text="Một câu trả lời khác cho cùng gói")]))
    assert _import(scene, request_id, first).status_code == 303
    assert scenes.officer_post(scene, request_id, "more", "more", {"follow_up": scenes.FOLLOW_UP}).status_code == 302
    before = (scenes.request_row(app, request_id), factories.count_rows(app, Finding),
              factories.count_rows(app, ExchangePackage))

    response = _import(scene, request_id, second)
    assert response.status_code == 200
    reason = field_errors(text_of(response), "exchange-package")
    assert reason == ("Gói yêu cầu này đã được trả lời: hãy xuất gói yêu cầu mới (có nội dung yêu cầu bổ sung) "
                      "để cơ quan trả lời gói đó.")
    assert (scenes.request_row(app, request_id), factories.count_rows(app, Finding),
            factories.count_rows(app, ExchangePackage)) == before

    # The answer to the new package, which carries the follow-up, is taken.
    new_package = scenes.exported(scene, request_id)
    assert scenes.opened_request(new_package, body_key).content["follow_up"] == scenes.FOLLOW_UP
    assert _import(scene, request_id, scenes.body_answer(new_package, body_key)).status_code == 303
    assert scenes.request_row(app, request_id)["state"] == "answered"
