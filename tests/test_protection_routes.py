"""Every route declares who may reach it; undeclared routes are refused; roles see only
their pages; anonymous visitors reach only the sign-in page and static files."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from flask import Flask, url_for
from sqlalchemy import func, select

from app import create_app
from audit.models import AuditEntry
from protection import policy
from protection.db import db
from protection.identity import Unit, User
from tests.conftest import post_form

ADMIN_PAGES = ("/admin/users", "/admin/users/new", "/admin/units")
NON_ADMIN_ROLES = ("officer", "liaison", "supervisor", "auditor")
ALL_ROLES = (*NON_ADMIN_ROLES, "admin")
ARGUMENT = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def undeclared_endpoints(app: Flask) -> list[str]:
    """The walk: every endpoint in the URL map that has no permission declaration."""
    with app.test_request_context():
        return sorted({
            rule.endpoint for rule in app.url_map.iter_rules()
            if policy.declared_permission(rule.endpoint) is None
        })


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def counts(app) -> tuple[int, int]:
    with app.app_context():
        result = (_count(User), _count(Unit))
        db.session.rollback()
    return result


@pytest.fixture
def fresh_app(app_config):
    """A second app on the same database, to which a test may still add routes."""
    application = create_app(app_config)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


# --- the walk ---------------------------------------------------------------------------

def test_every_route_declares_a_permission(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    # The walk really sees the app's routes (it cannot pass on an empty map).
    assert {"home", "auth.login", "admin.users", "account.overview", "static"} <= endpoints
    assert undeclared_endpoints(app) == []


def test_walk_reports_an_undeclared_route_and_the_gate_refuses_it(fresh_app, make_user, sign_in):
    assert undeclared_endpoints(fresh_app) == []
    fresh_app.add_url_rule("/undeclared", "undeclared", lambda: "served-undeclared-content")
    assert undeclared_endpoints(fresh_app) == ["undeclared"]

    client = fresh_app.test_client()
    user = make_user("officer")
    assert sign_in(user, target=client).status_code == 302
    assert client.get("/").status_code == 200
    response = client.get("/undeclared")
    assert response.status_code == 403
    assert "served-undeclared-content" not in response.get_data(as_text=True)
    # The refusal does not break the session: the next request is served.
    assert client.get("/").status_code == 200


def test_undeclared_route_is_not_served_to_anonymous_either(fresh_app):
    fresh_app.add_url_rule("/undeclared", "undeclared", lambda: "served-undeclared-content")
    response = fresh_app.test_client().get("/undeclared")
    assert response.status_code == 403
    assert "served-undeclared-content" not in response.get_data(as_text=True)


def test_unknown_permission_name_is_refused_at_declaration():
    with pytest.raises(ValueError, match="unknown permission"):
        policy.permission("cases.everything")


# --- anonymous visitors -----------------------------------------------------------------

def anonymous_get_urls(app: Flask) -> list[tuple[str, str]]:
    """(endpoint, url) for every GET rule whose arguments are all uuids (or none)."""
    urls = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "GET" not in (rule.methods or ()):
                continue
            arguments = ARGUMENT.findall(rule.rule)
            if any(converter != "uuid" for converter, _name in arguments):
                continue
            values = {name: uuid.uuid4() for _converter, name in arguments}
            urls.append((rule.endpoint, url_for(rule.endpoint, **values)))
    return urls


def test_anonymous_reaches_only_login_and_static(app, client):
    urls = anonymous_get_urls(app)
    assert ("auth.login", "/login") in urls
    assert len(urls) >= 10  # home, login, second factor, enrol, account pages, admin pages...
    with app.app_context():
        api_endpoints = {endpoint for endpoint, _url in urls
                         if policy.declared_permission(endpoint) == policy.API_PARTNER}
    assert "api.list_requests" in api_endpoints
    for endpoint, url in urls:
        response = client.get(url)
        if endpoint in ("auth.login", "api-docs.openapi_json", "api_reference.reference", "health.healthz",
                        "health.readyz"):
            # The sign-in page, the partner API's OpenAPI document and its HTML reference
            # (no record in either), and the health answers (no detail; tests/test_doctor.py).
            assert response.status_code == 200, url
            continue
        if endpoint in api_endpoints:
            # The partner API: a bearer token or a 401 problem document, never a redirect to
            # a sign-in page a system cannot use.
            assert response.status_code == 401, (url, response.status_code)
            assert response.mimetype == "application/problem+json", url
            continue
        assert response.status_code in (302, 303, 404, 405), (url, response.status_code)
        if response.status_code in (302, 303):
            assert response.headers["Location"].startswith("/login"), (url, response.headers["Location"])


def test_anonymous_redirect_remembers_the_page(client):
    response = client.get("/admin/users")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/admin/users"


def test_static_files_are_public(client):
    for path in ("/static/css/hoso.css", "/static/js/hoso.js"):
        with client.get(path) as response:  # closes the file Flask streams
            assert response.status_code == 200, path


def test_anonymous_post_is_refused_not_redirected(app, client):
    before = counts(app)
    response = post_form(client, "/admin/units", {"code": "ANON", "name": "Đơn vị lạ", "kind": "district"},
                         token_from="/login")
    assert response.status_code == 401
    assert counts(app) == before


# --- roles ------------------------------------------------------------------------------

@pytest.mark.parametrize("role", NON_ADMIN_ROLES)
def test_admin_pages_are_refused_to_other_roles(role, client, login_as):
    login_as(role)
    for path in ADMIN_PAGES:
        response = client.get(path)
        assert response.status_code == 403, path
        assert "Không có quyền truy cập" in response.get_data(as_text=True)
    # Each refusal leaves the session working.
    assert client.get("/").status_code == 200


def test_admin_reaches_admin_pages(client, login_as):
    login_as("admin")
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 200, path


@pytest.mark.parametrize("role", ALL_ROLES)
def test_every_role_reaches_home_and_own_account(role, client, login_as):
    user = login_as(role)
    home = client.get("/")
    assert home.status_code == 200
    assert "Xin chào" in home.get_data(as_text=True)
    account = client.get("/account/")
    assert account.status_code == 200
    assert user.username in account.get_data(as_text=True)


def audit_actions(app) -> list[tuple[str, str, str | None]]:
    with app.app_context():
        rows = db.session.execute(
            select(AuditEntry.action, AuditEntry.outcome, AuditEntry.detail).order_by(AuditEntry.id)).all()
        db.session.rollback()
    return [(action, outcome, json.loads(detail).get("endpoint")) for action, outcome, detail in rows]


@pytest.mark.parametrize("role", NON_ADMIN_ROLES)
def test_refused_writes_change_nothing_and_the_app_keeps_working(role, app, client, login_as,
                                                                 make_user, sign_in):
    login_as(role)
    victim = make_user("officer")
    before = counts(app)
    trail_before = audit_actions(app)

    response = post_form(client, "/admin/users/new", {
        "username": "khong.duoc.tao", "display_name": "Không Được Tạo", "unit": "BTCTU",
        "role": "admin", "clearance": "top_secret",
    }, token_from="/account/")
    assert response.status_code == 403
    response = post_form(client, "/admin/units", {"code": "KHONGDUOC", "name": "Không được tạo",
                                                  "kind": "district", "parent": ""}, token_from="/account/")
    assert response.status_code == 403
    response = post_form(client, f"/admin/users/{victim.id}/disable", token_from="/account/")
    assert response.status_code == 403

    # Nothing was written but the denials themselves, each committed on its own.
    assert counts(app) == before
    with app.app_context():
        assert db.session.get(User, victim.id).active is True
        assert db.session.scalar(select(User).where(User.username == "khong.duoc.tao")) is None
        db.session.rollback()
    trail_after = audit_actions(app)
    assert trail_after[:len(trail_before)] == trail_before
    new_entries = trail_after[len(trail_before):]
    assert [(action, outcome) for action, outcome, _endpoint in new_entries] == [("access.denied", "denied")] * 3
    assert [endpoint for *_rest, endpoint in new_entries] == [
        "admin.create_user", "admin.units", "admin.disable_user"]

    # The same session goes on, and another person can still sign in and write.
    assert client.get("/").status_code == 200
    other = app.test_client()
    assert sign_in(victim, target=other).status_code == 302
    assert other.get("/account/").status_code == 200
