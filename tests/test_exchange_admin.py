"""Admin pages of exchange keys (issue 21 §B.4), as an admin clicks them: the bodies a request
can be addressed to with their keys' fingerprints, registering a body's public line (its
exchange account made with it), refusals beside the field with the input kept, replacing a
key (the old one kept, audited, the admins and the officers concerned told), and the
organisation's own key (made at `flask init` or first use, shown for printing)."""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cases.coordination import exchange
from cases.notifications import service
from cases.notifications.models import Notification
from cases.partners.models import ExchangeKey
from protection.db import db
from protection.exchange import keys as exchange_keys
from protection.identity import Unit, User
from tests import factories
from tests.conftest import audit_entries
from tests.pages import csrf_token, field_errors, input_value, post_form, selected_option, text_of
from tests.scenes import exported, send


@pytest.fixture
def admin(app, login_as, make_unit):
    """An admin signed in on `client`, with the police and military committees and a district."""
    make_unit()
    make_unit("DUCA", "Đảng ủy Công an tỉnh", kind="police")
    make_unit("DUQS", "Đảng ủy Quân sự tỉnh", kind="military")
    make_unit("HUYEN", "Huyện ủy Sơn Hà", kind="district", parent="BTCTU")
    return login_as("admin")


def unit_id(app, code: str):
    with app.app_context():
        found = db.session.scalar(select(Unit.id).where(Unit.code == code))
        db.session.commit()
    return found


def key_page(app, code: str) -> str:
    return f"/admin/partners/exchange/{unit_id(app, code)}"


def register(client, app, code: str, line: str, clearance: str = "secret"):
    return post_form(client, key_page(app, code), {"public_key": line, "clearance": clearance})


def key_rows(app) -> list[ExchangeKey]:
    with app.app_context():
        rows = list(db.session.scalars(select(ExchangeKey).order_by(ExchangeKey.registered_at)))
        db.session.expunge_all()
        db.session.commit()
    return rows


def account(app, username: str = "exchange.duca") -> User | None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        if user is not None:
            db.session.expunge(user)
        db.session.commit()
    return user


def notifications_of(app, user_id) -> list[Notification]:
    with app.app_context():
        rows = list(db.session.scalars(select(Notification).where(Notification.user_id == user_id)))
        db.session.expunge_all()
        db.session.commit()
    return rows


def test_the_page_lists_the_bodies_and_the_organisation_s_key(app, client, admin):
    response = client.get("/admin/partners/exchange")
    assert response.status_code == 200
    page = text_of(response)
    assert "Đảng ủy Công an tỉnh" in page and "Đảng ủy Quân sự tỉnh" in page
    assert "Huyện ủy Sơn Hà" not in page  # a district is never asked
    assert page.count("Chưa đăng ký") == 3  # BTCTU, DUCA, DUQS
    # The organisation's key: made once, owner-only, its line and fingerprint shown for printing.
    path = os.path.join(app.instance_path, "keys", exchange.ORGANISATION_KEY_NAME)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    public = exchange_keys.load_private(Path(path)).public
    assert public.line in page and exchange_keys.fingerprint_text(public.fingerprint) in page
    assert public.line in text_of(client.get("/admin/partners/exchange"))  # the same key next time


def test_registering_a_key_makes_the_body_s_exchange_account_and_is_audited(app, client, admin):
    body = exchange_keys.generate().public
    page = text_of(client.get(key_page(app, "DUCA")))
    assert "chưa đăng ký khóa trao đổi" in page
    response = register(client, app, "DUCA", "  " + body.line + "\n", clearance="confidential")
    assert response.status_code == 302
    assert "Đã lưu khóa trao đổi của cơ quan" in text_of(client.get(response.headers["Location"]))

    listed = text_of(client.get("/admin/partners/exchange"))
    assert exchange_keys.fingerprint_text(body.fingerprint) in listed and listed.count("Chưa đăng ký") == 2
    [row] = key_rows(app)
    assert (row.public_key, row.fingerprint, row.replaced_at, row.registered_by_id) == (
        body.line, body.fingerprint, None, admin.id)
    user = account(app)
    assert (user.id, user.service_account, user.role.value, user.clearance.value) == (
        row.service_user_id, True, "liaison", "confidential")
    assert "Đảng ủy Công an tỉnh" in user.display_name
    # It never signs in on the web, whatever is typed.
    other = app.test_client()
    for password in ("", user.password_hash, factories.PASSWORD):
        post_form(other, "/login", {"username": user.username, "password": password})
        assert other.get("/").status_code == 302  # still sent to the sign-in page

    entry = audit_entries(app, "exchange_key.register")[-1]
    assert (entry.target_type, entry.target_id, entry.actor_id) == ("unit", str(unit_id(app, "DUCA")), admin.id)
    assert json.loads(entry.detail) == {"key": str(row.id), "fingerprint": body.fingerprint, "old_fingerprint": None,
                                        "clearance": "confidential", "account": str(user.id)}
    created = audit_entries(app, "user.created")[-1]
    assert (created.target_id, created.actor_id) == (str(user.id), admin.id)
    # The key page shows it, and the account's clearance is preselected for a replacement.
    page = client.get(key_page(app, "DUCA")).get_data(as_text=True)
    assert body.line in page and selected_option(page, "clearance") == "confidential"


def _own_line(app) -> str:
    with app.app_context():
        line = exchange.organisation_public().line
        db.session.commit()
    return line


BAD_LINES = {
    "not a key": ("Nguyễn Văn An 0123456789", "Đây không phải kh"),
    "a truncated key": (lambda app: exchange_keys.generate().public.line[:-6], "Đây không phải kh"),
    "an age key alone": (lambda app: exchange_keys.generate().public.age_recipient, "Đây không phải kh"),
    "the organisation's own key": (_own_line, "Đây là khóa của chính Tỉnh ủy"),
}


@pytest.mark.parametrize("case", list(BAD_LINES), ids=list(BAD_LINES))
def test_a_line_that_is_not_the_body_s_key_is_refused_beside_the_field(app, client, admin, case):
    line, message = BAD_LINES[case]
    line = line(app) if callable(line) else line
    response = register(client, app, "DUCA", line)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert field_errors(page, "public_key").startswith(message)
    assert input_value(page, "public_key") is None and line.strip() in text_of(response)  # the textarea keeps it
    assert selected_option(page, "clearance") == "secret"
    assert key_rows(app) == [] and account(app) is None
    assert audit_entries(app, "exchange_key.register") == []


def test_a_key_another_body_registered_or_a_missing_clearance_is_refused(app, client, admin):
    body = exchange_keys.generate().public
    assert register(client, app, "DUCA", body.line).status_code == 302
    taken = register(client, app, "DUQS", body.line)
    assert "đang được đăng ký cho một cơ quan khác" in field_errors(taken.get_data(as_text=True), "public_key")
    missing = register(client, app, "DUQS", exchange_keys.generate().public.line, clearance="")
    assert "bắt buộc" in field_errors(missing.get_data(as_text=True), "clearance")
    assert len(key_rows(app)) == 1 and account(app, "exchange.duqs") is None


def test_the_same_key_again_changes_only_the_clearance(app, client, admin):
    body = exchange_keys.generate().public
    assert register(client, app, "DUCA", body.line, "confidential").status_code == 302
    again = register(client, app, "DUCA", body.line, "confidential")
    assert "đã được đăng ký cho cơ quan, với cùng mức tiếp cận" in field_errors(again.get_data(as_text=True),
                                                                                 "public_key")
    assert register(client, app, "DUCA", body.line, "top_secret").status_code == 302
    assert len(key_rows(app)) == 1 and account(app).clearance.value == "top_secret"
    assert json.loads(audit_entries(app, "user.updated")[-1].detail) == {"fields": ["clearance"]}
    assert audit_entries(app, "exchange_key.replace") == []


def test_replacing_a_key_keeps_the_old_one_and_tells_the_admins_and_the_officers_concerned(
        app, scene, make_user, sign_in):
    acting, other_admin = make_user("admin"), make_user("admin")
    admin_client = app.test_client()
    assert sign_in(acting, target=admin_client).status_code == 302
    old = exchange_keys.generate()
    assert register(admin_client, app, "DUCA", old.public.line).status_code == 302
    exported_request, waiting_request = send(scene), send(scene)
    exported(scene, exported_request)  # only this one went out as a package

    new = exchange_keys.generate().public
    response = register(admin_client, app, "DUCA", new.line)
    assert response.status_code == 302
    first, second = key_rows(app)
    assert (first.fingerprint, second.fingerprint) == (old.public.fingerprint, new.fingerprint)
    assert first.replaced_at is not None and second.replaced_at is None
    assert first.service_user_id == second.service_user_id  # one account, whatever the key
    entry = audit_entries(app, "exchange_key.replace")[-1]
    assert json.loads(entry.detail)["fingerprint"] == new.fingerprint
    assert json.loads(entry.detail)["old_fingerprint"] == old.public.fingerprint
    page = text_of(admin_client.get(key_page(app, "DUCA")))
    assert "Các khóa trước đây" in page and exchange_keys.fingerprint_text(old.public.fingerprint) in page

    # The other admin hears of the body; the officer of the exported request of that request only.
    [told_admin] = notifications_of(app, other_admin.id)
    assert (told_admin.kind, told_admin.target_type, told_admin.reference) == (
        service.EXCHANGE_KEY_CHANGED, "exchange_key", "DUCA")
    [told_officer] = notifications_of(app, scene.officer.id)
    assert (told_officer.kind, told_officer.target_type, told_officer.target_id) == (
        service.EXCHANGE_KEY_CHANGED, "request", exported_request)
    assert waiting_request != exported_request
    assert notifications_of(app, acting.id) == []
    other_client = app.test_client()
    assert sign_in(other_admin, target=other_client).status_code == 302
    listed = text_of(other_client.get("/notifications/"))
    assert "Khóa trao đổi gói của cơ quan phối hợp đã thay đổi" in listed and "DUCA" in listed
    officer_page = text_of(scene.officer_client.get("/notifications/"))
    assert "Khóa trao đổi gói của cơ quan phối hợp đã thay đổi" in officer_page


def test_only_admins_reach_the_pages(app, client, admin, make_user, sign_in):
    police = key_page(app, "DUCA")
    for role in ("officer", "supervisor", "liaison", "auditor"):
        other = app.test_client()
        assert sign_in(make_user(role), target=other).status_code == 302
        assert other.get("/admin/partners/exchange").status_code == 403
        assert other.get(police).status_code == 403
        assert other.post(police, data={"csrf_token": csrf_token(other, "/"), "public_key": "x",
                                        "clearance": "secret"}).status_code == 403
    anonymous = app.test_client()
    assert anonymous.get("/admin/partners/exchange").status_code in (302, 303)
    # A district, or no unit at all: not a body to register.
    assert client.get(key_page(app, "HUYEN")).status_code == 404
    assert client.get(f"/admin/partners/exchange/{uuid.uuid4()}").status_code == 404
    assert key_rows(app) == []


def test_init_makes_the_organisation_s_exchange_key_once(app, runner):
    path = os.path.join(app.instance_path, "keys", exchange.ORGANISATION_KEY_NAME)
    assert not os.path.exists(path)
    result = runner.invoke(args=["init"])
    assert result.exit_code == 0, result.output
    assert "Wrote the exchange key" in result.output
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = Path(path).read_bytes()
    again = runner.invoke(args=["init", "--exist-ok"])
    assert again.exit_code == 0 and "Using the exchange key" in again.output
    assert Path(path).read_bytes() == first
    with app.app_context():
        assert exchange_keys.fingerprint_text(exchange.organisation_public().fingerprint) in result.output
        assert db.session.scalar(select(func.count()).select_from(ExchangeKey)) == 0
        db.session.commit()
