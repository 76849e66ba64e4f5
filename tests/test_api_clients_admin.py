"""The admin pages of API clients, /admin/partners/ (issue 21 §A.1): the list, registering a
client (its token shown once on the answer page, never flashed, never in a URL, not
stored by the browser), rotating and revoking; only admins reach them."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import func, select

from protection.api_tokens import ApiClient, ApiToken
from protection.db import db
from protection.identity import User
from tests.conftest import audit_entries, post_form
from tests.pages import page_post

TOKEN = re.compile(r"hoso_[0-9a-f]{32}_[A-Za-z0-9_-]{43}")


@pytest.fixture
def admin(make_unit, login_as):
    make_unit("CATINH", "Công an tỉnh", "police")
    make_unit("HUYEN1", "Huyện ủy Một", "district")
    return login_as("admin")


def client_count(app) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(ApiClient))
        db.session.commit()
    return count


def register(client, **fields):
    data = {"body": "CATINH", "name": "Hệ thống nghiệp vụ Công an tỉnh", "clearance": "confidential",
            "expires_on": "", "networks": "", "locale": "vi", **fields}
    return page_post(client, "/admin/partners/new", data=data)


def test_only_admins_reach_the_pages(app, client, make_unit, login_as):
    make_unit("CATINH", "Công an tỉnh", "police")
    login_as("supervisor")
    assert client.get("/admin/partners/").status_code == 403
    assert client.get("/admin/partners/new").status_code == 403


def test_the_navigation_links_the_page_for_admins(client, admin):
    assert 'href="/admin/partners/"' in client.get("/").get_data(as_text=True)


def test_registering_shows_the_token_once(app, client, admin):
    answer = register(client, networks="10.1.2.0/24\n\n192.0.2.7", expires_on="31/12/2099")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    [token] = TOKEN.findall(page)
    assert "chỉ hiển thị một lần" in page
    assert answer.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in answer.headers or token not in answer.headers["Set-Cookie"]
    with app.app_context():
        stored = db.session.scalars(select(ApiClient)).one()
        assert stored.allowed_networks == ["10.1.2.0/24", "192.0.2.7/32"]
        assert stored.expires_on.isoformat() == "2099-12-31" and stored.created_by_id == admin.id
        assert token not in db.session.scalars(select(ApiToken.token_hash)).one()
    # The list shows the client, never its token, and the next page has no flash of it.
    listed = client.get("/admin/partners/").get_data(as_text=True)
    assert "Hệ thống nghiệp vụ Công an tỉnh" in listed and "10.1.2.0/24" in listed
    assert TOKEN.search(listed) is None
    [entry] = audit_entries(app, "api_client.create")
    assert entry.actor_id == admin.id and token not in entry.detail
    assert audit_entries(app, "api_client.list")


@pytest.mark.parametrize(("fields", "field", "message"), [
    # A district committee is not offered: choosing it anyway is not a valid choice.
    ({"body": "HUYEN1"}, "body", "Lựa chọn không hợp lệ."),
    ({"body": ""}, "body", "Trường này là bắt buộc."),
    ({"name": ""}, "name", "Trường này là bắt buộc."),
    ({"expires_on": "01/01/2020"}, "expires_on", "Ngày hết hạn đã qua."),
    ({"expires_on": "31/02/2099"}, "expires_on", "Ngày không hợp lệ."),
    ({"networks": "10.1.2.0/24\nmạng nội bộ"}, "networks", "Địa chỉ hoặc dải mạng không hợp lệ"),
    ({"clearance": "cosmic"}, "clearance", "Lựa chọn không hợp lệ."),
])
def test_bad_input_is_shown_beside_its_field_and_kept(app, client, admin, fields, field, message):
    answer = register(client, **{"name": "Hệ thống giữ lại", **fields})
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert f'id="{field}-errors"' in page and message in page
    if fields.get("name", "x"):
        assert "Hệ thống giữ lại" in page or field == "name"
    assert TOKEN.search(page) is None
    assert client_count(app) == 0


def new_client_id(client) -> str:
    page = register(client).get_data(as_text=True)
    return re.search(r"<code>([0-9a-f-]{36})</code>", page).group(1)


def test_rotating_shows_the_new_token_and_the_old_one_grace(app, client, admin):
    client_id = new_client_id(client)
    form = client.get(f"/admin/partners/{client_id}/rotate").get_data(as_text=True)
    assert 'name="grace_hours"' in form and 'value="24"' in form
    answer = page_post(client, f"/admin/partners/{client_id}/rotate", data={"grace_hours": "3"})
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    page = answer.get_data(as_text=True)
    assert len(TOKEN.findall(page)) == 1 and "Mã cũ còn dùng được đến" in page
    refused = page_post(client, f"/admin/partners/{client_id}/rotate", data={"grace_hours": "-2"})
    assert refused.status_code == 200 and 'id="grace_hours-errors"' in refused.get_data(as_text=True)
    assert len(audit_entries(app, "api_client.rotate")) == 1


def test_revoking_asks_first_and_is_final(app, client, admin):
    client_id = new_client_id(client)
    listed = client.get("/admin/partners/").get_data(as_text=True)
    assert "data-confirm" in listed and f"/admin/partners/{client_id}/revoke" in listed
    done = post_form(client, f"/admin/partners/{client_id}/revoke", token_from="/admin/partners/",
                     follow_redirects=True)
    page = done.get_data(as_text=True)
    assert "Đã thu hồi máy khách API" in page and "Đã thu hồi" in page
    assert f"/admin/partners/{client_id}/revoke" not in page
    with app.app_context():
        assert db.session.get(ApiClient, uuid.UUID(client_id)).revoked_at is not None
    again = post_form(client, f"/admin/partners/{client_id}/revoke", token_from="/admin/partners/",
                      follow_redirects=True)
    assert "Máy khách này đã bị thu hồi." in again.get_data(as_text=True)
    assert len(audit_entries(app, "api_client.revoke")) == 1
    rotate = client.get(f"/admin/partners/{client_id}/rotate").get_data(as_text=True)
    assert "data-revoked" in rotate and 'name="grace_hours"' not in rotate


def test_a_revoke_without_the_form_token_is_refused(app, client, admin):
    client_id = new_client_id(client)
    assert client.post(f"/admin/partners/{client_id}/revoke").status_code == 400
    assert client.get(f"/admin/partners/{uuid.uuid4()}/rotate").status_code == 404
    with app.app_context():
        assert db.session.get(ApiClient, uuid.UUID(client_id)).revoked_at is None


def test_the_pages_are_in_english_for_an_english_admin(app, client, admin):
    with app.app_context():
        db.session.get(User, admin.id).locale = "en"
        db.session.commit()
    page = client.get("/admin/partners/").get_data(as_text=True)
    assert "API clients" in page
