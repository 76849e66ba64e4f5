"""Security headers on every page, no inline code anywhere, and error pages that show a
reference id (the one in the server log) and never a traceback."""

from __future__ import annotations

import logging
import re
import uuid
from html.parser import HTMLParser

import pytest

from app import create_app
from protection import policy
from protection.db import db
from tests.conftest import logger_into_caplog, post_form

REFERENCE = re.compile(r'Mã tham chiếu: <span class="hoso-secret">([0-9A-F]{8})</span>')


def csp_directives(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_security_headers(response) -> None:
    csp = csp_directives(response)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    server = response.headers.get("Server")
    assert server, "no Server header"
    assert not re.search(r"\d", server), server
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP by default


def assert_page_headers(response) -> None:
    assert_security_headers(response)
    assert "no-store" in response.headers["Cache-Control"]


class InlineCodeFinder(HTMLParser):
    """Collects what a CSP without 'unsafe-inline' would block (or what needs it)."""

    def __init__(self):
        super().__init__()
        self.problems: list[str] = []
        self.scripts = 0
        self.tags = 0

    def handle_starttag(self, tag, attrs):
        self.tags += 1
        names = {name.lower() for name, _value in attrs}
        if tag == "script":
            self.scripts += 1
            if "src" not in names:
                self.problems.append("<script> without src")
        if tag == "style":
            self.problems.append("<style> element")
        if "style" in names:
            self.problems.append(f"style= on <{tag}>")
        self.problems += [f"{name}= on <{tag}>" for name in names if name.startswith("on")]
        for name, value in attrs:
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL on <{tag}>")

    handle_startendtag = handle_starttag


def assert_no_inline_code(response) -> None:
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    finder = InlineCodeFinder()
    finder.feed(text)
    finder.close()
    assert finder.tags > 10, "not an HTML page"
    assert finder.scripts >= 1  # the layout's scripts were seen, each with src
    assert finder.problems == [], finder.problems
    assert "style=" not in text and "onclick=" not in text


def assert_error_page(response, status: int) -> str:
    assert response.status_code == status
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert 'class="navbar' in page and "<footer" in page  # the app's layout
    assert f"Lỗi {status}" in page
    match = REFERENCE.search(page)
    assert match, f"no reference id on the {status} page"
    assert "Traceback" not in page
    assert_page_headers(response)
    assert_no_inline_code(response)
    return match.group(1)


# --- headers and inline code ------------------------------------------------------------

def test_login_page_headers_and_no_inline_code(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert_page_headers(response)
    assert_no_inline_code(response)


def test_static_files_get_security_headers_but_may_be_cached(client):
    with client.get("/static/js/hoso.js") as response:
        assert response.status_code == 200
        assert_security_headers(response)
        assert "no-store" not in response.headers.get("Cache-Control", "")


def test_https_adds_strict_transport_security(app_config):
    app_config["HOSO_HTTPS"] = "true"
    application = create_app(app_config)
    try:
        response = application.test_client().get("/login", base_url="https://localhost")
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize("role", ["officer", "admin"])
def test_signed_in_pages_headers_and_no_inline_code(role, client, login_as, make_user):
    user = login_as(role)
    paths = ["/", "/account/", "/account/password", "/account/sessions", "/account/two-factor/enrol"]
    if role == "admin":
        other = make_user("supervisor")
        paths += ["/admin/users", "/admin/users/new", "/admin/units", f"/admin/users/{other.id}",
                  f"/admin/users/{user.id}"]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        assert_page_headers(response)
        assert_no_inline_code(response)
    with client.get("/account/two-factor/qr.svg") as response:
        assert response.status_code == 200
        assert response.mimetype == "image/svg+xml"
        assert_page_headers(response)
        assert b"<script" not in response.data


def test_pages_of_the_sign_in_steps_have_no_inline_code(app, client, make_user, sign_in):
    supervisor = make_user("supervisor")
    response = sign_in(supervisor, with_code=False)
    assert response.headers["Location"] == "/login/second-factor"
    page = client.get("/login/second-factor")
    assert page.status_code == 200
    assert_page_headers(page)
    assert_no_inline_code(page)

    admin_client = app.test_client()
    admin = make_user("admin")
    assert sign_in(admin, target=admin_client).status_code == 302
    created = post_form(admin_client, "/admin/users/new", {
        "username": "canbo.moi", "display_name": "Cán Bộ Mới", "unit": "BTCTU", "role": "officer",
        "clearance": "secret"})
    assert created.status_code == 200
    assert "hoso-temp-password" in created.get_data(as_text=True)
    assert_page_headers(created)
    assert_no_inline_code(created)


def test_form_errors_keep_no_inline_code(client):
    response = post_form(client, "/login", {"username": "", "password": ""})
    assert response.status_code == 200
    assert "is-invalid" in response.get_data(as_text=True)
    assert_no_inline_code(response)


# --- error pages ------------------------------------------------------------------------

def test_404_page(client, login_as):
    assert_error_page(client.get("/khong-co-trang-nay"), 404)
    login_as("officer")
    assert_error_page(client.get(f"/admin/users/{uuid.uuid4()}/khong-co"), 404)


def test_405_page(client, login_as):
    assert_error_page(client.get("/logout"), 405)
    login_as("officer")
    assert_error_page(client.get("/logout"), 405)


def test_400_page_for_a_missing_csrf_token(client, make_user):
    user = make_user("officer")
    response = client.post("/login", data={"username": user.username, "password": user.password})
    reference = assert_error_page(response, 400)
    assert "mã chống giả mạo" in response.get_data(as_text=True)
    assert reference


def test_400_page_for_a_forged_csrf_token(client, make_user):
    user = make_user("officer")
    client.get("/login")
    response = client.post("/login", data={"username": user.username, "password": user.password,
                                           "csrf_token": "forged-token"})
    assert_error_page(response, 400)
    assert client.get("/").headers["Location"].startswith("/login")  # not signed in


def test_400_for_a_nul_character_in_a_form_or_a_query(app, client, login_as):
    # PostgreSQL cannot store a NUL in a text column: it is refused before any view, on both
    # databases alike, and nothing is written.
    login_as("admin")
    with app.app_context():
        users_before = db.session.execute(db.text("SELECT count(*) FROM users")).scalar()
    response = post_form(client, "/admin/users/new", {
        "username": "nul.test", "display_name": "Nguyễn\x00Văn", "unit": "BTCTU", "role": "officer",
        "clearance": "confidential"})
    assert_error_page(response, 400)
    with app.app_context():
        assert db.session.execute(db.text("SELECT count(*) FROM users")).scalar() == users_before
    assert_error_page(client.get("/admin/users?sort=%00"), 400)
    problem = client.get("/api/v1/requests?state=%00")
    assert problem.status_code == 400 and problem.mimetype == "application/problem+json"


def test_401_page_for_an_anonymous_post(client):
    response = post_form(client, "/account/password", {
        "current_password": "x", "new_password": "y", "confirm_password": "y"}, token_from="/login")
    page_reference = assert_error_page(response, 401)
    assert "Cần đăng nhập" in response.get_data(as_text=True)
    assert page_reference


def test_403_page(client, login_as):
    login_as("liaison")
    response = client.get("/admin/users")
    assert_error_page(response, 403)
    assert "Không có quyền truy cập" in response.get_data(as_text=True)


def test_413_page_for_a_too_large_request(app_config, request):
    app_config["HOSO_MAX_REQUEST_MB"] = 1
    client = request.getfixturevalue("client")  # the app is made after the change
    token_page = client.get("/login")
    assert token_page.status_code == 200
    response = client.post("/login", data={"username": "someone", "password": "x" * (2 * 1024 * 1024)})
    assert_error_page(response, 413)
    assert "quá lớn" in response.get_data(as_text=True)


def test_reference_ids_differ_between_requests(client):
    first = assert_error_page(client.get("/khong-co-1"), 404)
    second = assert_error_page(client.get("/khong-co-2"), 404)
    assert first != second


@pytest.fixture
def hoso_log(caplog):
    with logger_into_caplog(caplog, "hoso") as captured:
        yield captured


def test_500_page_hides_the_error_and_logs_it_under_the_reference(app, client, login_as, hoso_log):
    @policy.permission("home.view")
    def explode():
        raise RuntimeError("secret-value-xyz")

    app.add_url_rule("/test-explode", "test_explode", explode)
    login_as("officer")

    response = client.get("/test-explode")
    reference = assert_error_page(response, 500)
    page = response.get_data(as_text=True)
    assert "secret-value-xyz" not in page
    assert "RuntimeError" not in page

    records = [record for record in hoso_log.records
               if record.levelno >= logging.ERROR and "RuntimeError" in record.getMessage()]
    assert len(records) == 1
    record = records[0]
    assert record.request_id == reference
    line = logging.getLogger("hoso").handlers[0].format(record)
    assert f"[{reference}]" in line.splitlines()[0]
    assert "/test-explode" in line
    assert record.exc_info is not None  # the traceback is in the server log, not the page

    # The app goes on serving after the failure.
    assert client.get("/").status_code == 200
