"""API clients and their tokens through the real app (issue 21 §A.1): every refusal is a 401
problem document with a bearer challenge, audited with its reason; rotation's grace; the
client's service account never signs in on the web and is never reset by an admin.

The token is checked by the policy's gate for every endpoint declaring `api.partner`; these
tests declare one of their own (a probe answering who the request runs as), so they test the
gate and not any one endpoint of the API.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from flask import abort, jsonify, session
from flask_login import current_user
from sqlalchemy import select

from app import create_app
from cases.partners import clients
from protection import passwords
from protection.api_tokens import ApiClient, ApiToken
from protection.db import db
from protection.identity import Clearance, Unit, User
from protection.policy import permission
from tests.conftest import audit_entries, post_form

PROBE = "/api/v1/_probe"
MISSING = "/api/v1/_probe/missing"
VIETNAM = timedelta(hours=7)


@pytest.fixture
def probe(app):
    """An `api.partner` endpoint that says who it runs as (and what cookie session it
    sees), and one that answers 404."""
    @permission("api.partner")
    def whoami():
        return jsonify(user=str(current_user.id), role=current_user.role.value, session=sorted(session.keys()))

    @permission("api.partner")
    def missing():
        abort(404)

    app.add_url_rule(PROBE, "api_clients_probe", whoami)
    app.add_url_rule(MISSING, "api_clients_probe_missing", missing)
    return PROBE


@pytest.fixture
def police(make_unit):
    return make_unit("CATINH", "Công an tỉnh", "police")


def new_client(app, body: str = "CATINH", **options) -> tuple[uuid.UUID, uuid.UUID, str]:
    """(client id, service account id, token) of a client made through the service."""
    with app.app_context():
        unit = db.session.scalar(select(Unit).where(Unit.code == body))
        client, token = clients.create_client(body=unit, name="Hệ thống nghiệp vụ Công an tỉnh", **options)
        made = (client.id, client.user_id, token)
        db.session.commit()
    return made


def with_client(app, client_id, change) -> None:
    with app.app_context():
        change(db.session.get(ApiClient, client_id))
        db.session.commit()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def assert_refused(response) -> dict:
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="hoso", error="invalid_token"'
    assert "Set-Cookie" not in response.headers
    body = json.loads(response.get_data(as_text=True))
    assert body["status"] == 401
    assert body["title"] == "Cần xác thực"
    # One detail whatever failed: the caller is not told which check it was.
    assert body["detail"] == "Mã truy cập API không hợp lệ, đã hết hạn hoặc đã bị thu hồi."
    return body


def refusals(app) -> list[tuple[str | None, dict]]:
    return [(entry.target_id, json.loads(entry.detail)) for entry in audit_entries(app, "api_client.refused")]


def test_a_token_acts_as_its_client_service_account(app, client, police, probe):
    client_id, user_id, token = new_client(app)
    answer = client.get(probe, headers=bearer(token))
    assert answer.status_code == 200
    assert answer.json == {"user": str(user_id), "role": "liaison", "session": []}
    assert "Set-Cookie" not in answer.headers
    with app.app_context():
        account = db.session.get(User, user_id)
        assert account.service_account and account.role.value == "liaison" and account.unit.code == "CATINH"
        assert account.username == f"api.catinh.{client_id.hex[:8]}"
        assert account.clearance == Clearance.CONFIDENTIAL
        stored = db.session.scalars(select(ApiToken.token_hash)).all()
    # Only a hash is kept: the text is nowhere in the database's token rows.
    assert len(stored) == 1 and token not in stored[0] and len(stored[0]) == 64


@pytest.mark.parametrize(("headers", "reason"), [
    ({}, "missing"),
    ({"Authorization": "Bearer"}, "missing"),
    ({"Authorization": "Bearer not-a-token"}, "malformed"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "malformed"),
    ({"Authorization": "Bearer hoso_XYZ_" + "a" * 43}, "malformed"),
    ({"Authorization": f"Bearer hoso_{uuid.uuid4().hex}_{'a' * 43}"}, "unknown"),
])
def test_missing_malformed_and_unknown_tokens_are_refused_and_audited(app, client, police, probe, headers, reason):
    new_client(app)
    assert_refused(client.get(probe, headers=headers))
    assert refusals(app) == [(None, {"endpoint": "api_clients_probe", "reason": reason})]


def test_the_right_id_with_a_wrong_secret_is_unknown(app, client, police, probe):
    _client_id, _user, token = new_client(app)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert_refused(client.get(probe, headers=bearer(forged)))
    assert refusals(app) == [(None, {"endpoint": "api_clients_probe", "reason": "unknown"})]


def test_a_revoked_client_is_refused_with_its_id_in_the_trail(app, client, police, probe):
    client_id, user_id, token = new_client(app)
    with_client(app, client_id, lambda found: clients.revoke_client(found))
    body = assert_refused(client.get(probe, headers=bearer(token)))
    assert token not in json.dumps(body)
    assert refusals(app) == [(str(client_id), {"endpoint": "api_clients_probe", "reason": "revoked"})]
    [entry] = audit_entries(app, "api_client.refused")
    assert entry.outcome == "failure" and entry.actor_id == user_id
    # Nothing in the trail holds the token or its secret.
    assert all(token not in (entry.detail or "") and token.split("_", 2)[2] not in (entry.detail or "")
               for entry in audit_entries(app))
    with app.app_context():
        assert db.session.get(User, user_id).active is False


def test_a_client_works_through_its_last_day_in_vietnam_then_expires(app, client, police, probe):
    # 23:59:30 on 10 March in Vietnam is 16:59:30 UTC; a minute later it is 11 March there.
    last_day = date(2031, 3, 10)
    evening = datetime(2031, 3, 10, 16, 59, 30, tzinfo=UTC)
    with time_machine.travel(evening - timedelta(days=5), tick=False):
        client_id, _user, token = new_client(app, expires_on=last_day)
    with time_machine.travel(evening, tick=False):
        assert client.get(probe, headers=bearer(token)).status_code == 200
    with time_machine.travel(evening + timedelta(minutes=1), tick=False):
        assert_refused(client.get(probe, headers=bearer(token)))
    assert refusals(app) == [(str(client_id), {"endpoint": "api_clients_probe", "reason": "expired"})]


def test_a_client_is_refused_outside_its_allowed_networks(app, client, police, probe):
    client_id, _user, token = new_client(app, networks=["10.1.2.0/24", "2001:db8::/32"])
    inside = client.get(probe, headers=bearer(token), environ_base={"REMOTE_ADDR": "10.1.2.77"})
    assert inside.status_code == 200
    assert client.get(probe, headers=bearer(token), environ_base={"REMOTE_ADDR": "2001:db8::5"}).status_code == 200
    assert_refused(client.get(probe, headers=bearer(token), environ_base={"REMOTE_ADDR": "10.1.3.1"}))
    assert refusals(app) == [(str(client_id), {"endpoint": "api_clients_probe", "reason": "address"})]


@pytest.fixture
def own_app(app_config, police):
    """own_app(**settings): a second app on the test's database with settings of its own
    (read when an app is made); its connections closed afterwards. The test's `app` (through
    `police`) empties the tables."""
    made = []

    def make(**settings):
        made.append(create_app({**app_config, **settings}))
        return made[-1]

    yield make
    for application in made:
        with application.app_context():
            db.engine.dispose()


def test_the_proxy_corrected_address_is_the_one_checked(own_app):
    application = own_app(HOSO_PROXY_HOPS=1)

    @permission("api.partner")
    def whoami():
        return jsonify(user=str(current_user.id))

    application.add_url_rule(PROBE, "api_clients_probe", whoami)
    client_id, _user, token = new_client(application, networks=["10.1.2.0/24"])
    browser = application.test_client()
    behind_proxy = {"REMOTE_ADDR": "127.0.0.1"}
    allowed = browser.get(PROBE, headers={**bearer(token), "X-Forwarded-For": "10.1.2.9"}, environ_base=behind_proxy)
    assert allowed.status_code == 200
    assert_refused(browser.get(PROBE, headers={**bearer(token), "X-Forwarded-For": "192.0.2.1"},
                               environ_base=behind_proxy))


def test_a_disabled_service_account_is_refused(app, client, police, probe, login_as):
    client_id, user_id, token = new_client(app)
    login_as("admin")
    page = f"/admin/users/{user_id}"
    assert post_form(client, f"{page}/disable", token_from=page).status_code == 302
    api = app.test_client()
    assert_refused(api.get(probe, headers=bearer(token)))
    assert refusals(app) == [(str(client_id), {"endpoint": "api_clients_probe", "reason": "disabled"})]


def test_rotation_keeps_the_old_token_for_its_grace_then_only_the_new_one(app, client, police, probe):
    start = datetime(2031, 5, 4, 3, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        client_id, _user, old = new_client(app)
        with app.app_context():
            new = clients.rotate_client(db.session.get(ApiClient, client_id), grace_hours=2)
            db.session.commit()
        assert new != old
        assert client.get(probe, headers=bearer(old)).status_code == 200
        assert client.get(probe, headers=bearer(new)).status_code == 200
    with time_machine.travel(start + timedelta(hours=1, minutes=59), tick=False):
        assert client.get(probe, headers=bearer(old)).status_code == 200
    with time_machine.travel(start + timedelta(hours=2, minutes=1), tick=False):
        assert_refused(client.get(probe, headers=bearer(old)))
        assert client.get(probe, headers=bearer(new)).status_code == 200
    assert refusals(app) == [(str(client_id), {"endpoint": "api_clients_probe", "reason": "expired"})]
    [rotation] = audit_entries(app, "api_client.rotate")
    assert rotation.target_id == str(client_id)
    assert json.loads(rotation.detail)["grace_hours"] == 2


def test_rotation_with_no_grace_ends_the_old_token_at_once(app, client, police, probe):
    client_id, _user, old = new_client(app)
    with app.app_context():
        new = clients.rotate_client(db.session.get(ApiClient, client_id), grace_hours=0)
        db.session.commit()
    assert_refused(client.get(probe, headers=bearer(old)))
    assert client.get(probe, headers=bearer(new)).status_code == 200


def test_the_default_grace_is_the_setting(own_app):
    application = own_app(HOSO_API_TOKEN_GRACE_HOURS=5)
    client_id, _user, _old = new_client(application)
    with application.app_context():
        found = db.session.get(ApiClient, client_id)
        clients.rotate_client(found)
        end = clients.old_tokens_end(found)
        db.session.commit()
    assert timedelta(hours=4, minutes=59) < end - datetime.now(UTC) <= timedelta(hours=5)


def test_the_session_cookie_is_never_read_on_the_api(app, client, police, probe, make_user, sign_in):
    liaison = make_user("liaison", unit="CATINH")
    assert sign_in(liaison).status_code == 302
    # Signed in on the web, the same browser has no access to the API without a token, and
    # the refusal is nobody's: the cookie's user is not its actor.
    assert_refused(client.get(probe))
    [refusal] = audit_entries(app, "api_client.refused")
    assert refusal.actor_id is None
    # With a token, it is the token's account, not the cookie's, and the cookie's session
    # is not even visible to the view.
    _client_id, user_id, token = new_client(app)
    answer = client.get(probe, headers=bearer(token))
    assert answer.status_code == 200 and answer.json["user"] == str(user_id)
    assert answer.json["session"] == []
    assert "Set-Cookie" not in answer.headers
    # The web session itself is untouched by the API calls.
    assert client.get("/").status_code == 200


def test_last_use_is_written_at_most_once_a_minute(app, client, police, probe):
    start = datetime(2031, 6, 1, 2, 0, tzinfo=UTC)

    def last_used(client_id):
        with app.app_context():
            return db.session.get(ApiClient, client_id).last_used_at

    with time_machine.travel(start, tick=False):
        client_id, _user, token = new_client(app)
        assert last_used(client_id) is None
        client.get(probe, headers=bearer(token))
        assert last_used(client_id) == start
    with time_machine.travel(start + timedelta(seconds=40), tick=False):
        client.get(probe, headers=bearer(token))
        assert last_used(client_id) == start
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        client.get(probe, headers=bearer(token))
        assert last_used(client_id) == start + timedelta(seconds=61)


def test_problems_are_in_the_client_language_never_the_browser(app, client, police, probe):
    _id, _user, vietnamese = new_client(app)
    _id, _user, english = new_client(app, locale="en")
    answer = client.get(MISSING, headers={**bearer(vietnamese), "Accept-Language": "en"})
    assert answer.status_code == 404 and answer.json["title"] == "Không tìm thấy"
    answer = client.get(MISSING, headers={**bearer(english), "Accept-Language": "vi"})
    assert answer.status_code == 404 and answer.json["title"] == "Not found"
    # A refused token has no client yet: Vietnamese, whatever the browser asks for.
    refused = client.get(probe, headers={"Accept-Language": "en"})
    assert refused.status_code == 401 and refused.json["title"] == "Cần xác thực"


def test_a_service_account_never_signs_in_on_the_web(app, client, police):
    _client_id, user_id, _token = new_client(app)
    with app.app_context():
        account = db.session.get(User, user_id)
        username = account.username
        # Even if its password field held a real hash of a known password.
        account.password_hash = passwords.hash_password("Mot-mat-khau-rat-dai-2031")
        db.session.commit()
    answer = post_form(client, "/login", {"username": username, "password": "Mot-mat-khau-rat-dai-2031"})
    assert answer.status_code == 200 and "Tên đăng nhập hoặc mật khẩu không đúng" in answer.get_data(as_text=True)
    [failure] = audit_entries(app, "auth.login.failed")
    assert failure.target_id == str(user_id) and json.loads(failure.detail)["reason"] == "service_account"


def test_an_admin_cannot_reset_or_reopen_a_service_account(app, client, police, login_as):
    client_id, user_id, _token = new_client(app)
    login_as("admin")
    page = f"/admin/users/{user_id}"
    shown = client.get(page).get_data(as_text=True)
    assert "data-service-account" in shown
    assert f"{page}/reset-password" not in shown and f"{page}/reset-two-factor" not in shown
    refused = post_form(client, f"{page}/reset-password", token_from=page, follow_redirects=True)
    assert "không có mật khẩu hay xác thực hai lớp để đặt lại" in refused.get_data(as_text=True)
    refused = post_form(client, f"{page}/reset-two-factor", token_from=page, follow_redirects=True)
    assert "không có mật khẩu hay xác thực hai lớp để đặt lại" in refused.get_data(as_text=True)
    with app.app_context():
        account = db.session.get(User, user_id)
        assert account.password_hash == clients.NO_PASSWORD and not account.must_change_password
    assert audit_entries(app, "auth.password.reset") == []
    # Revoked: the account stays disabled.
    with_client(app, client_id, lambda found: clients.revoke_client(found))
    shown = client.get(page).get_data(as_text=True)
    assert f"{page}/enable" not in shown
    refused = post_form(client, f"{page}/enable", token_from=page, follow_redirects=True)
    assert "tài khoản không mở lại được" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, user_id).active is False
    # Nor is it moved to another body or role (its client would answer for that body).
    make_unit_form = {"display_name": "Hệ thống", "unit": "BTCTU", "role": "liaison", "clearance": "confidential"}
    moved = post_form(client, page, make_unit_form)
    assert moved.status_code == 200 and "không đổi vai trò hay đơn vị được" in moved.get_data(as_text=True)


def test_the_users_list_marks_api_accounts(app, client, police, login_as):
    new_client(app)
    login_as("admin")
    assert "Tài khoản API" in client.get("/admin/users").get_data(as_text=True)


def test_the_lifecycle_through_the_request_list(app, police):
    """The same gate in front of a real endpoint of the API (GET /api/v1/requests): a new
    token lists, a rotated-out one stops after its grace, a revoked client stops at once."""
    client_id, _user, first = new_client(app)
    api = app.test_client()
    listed = api.get("/api/v1/requests", headers=bearer(first))
    assert listed.status_code == 200 and "Set-Cookie" not in listed.headers
    assert_refused(api.get("/api/v1/requests"))
    with app.app_context():
        second = clients.rotate_client(db.session.get(ApiClient, client_id), grace_hours=0)
        db.session.commit()
    assert_refused(api.get("/api/v1/requests", headers=bearer(first)))
    assert api.get("/api/v1/requests", headers=bearer(second)).status_code == 200
    with_client(app, client_id, lambda found: clients.revoke_client(found))
    assert_refused(api.get("/api/v1/requests", headers=bearer(second)))
    assert [detail["reason"] for _target, detail in refusals(app)] == ["missing", "expired", "revoked"]
