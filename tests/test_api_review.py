"""Defects found in review of issue 21 (partner API, exchange packages), each pinned by a test
that failed before its fix."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from cases.models import Finding
from cases.partners.models import IdempotencyKey
from protection.db import db
from protection.sessions import AuthSession
from tests import scenes
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
