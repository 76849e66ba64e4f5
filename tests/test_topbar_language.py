"""The language switch in the top bar: on every signed-in page, a CSRF-protected form that
posts to the account page's language route, returns to the page it was on and is audited
as the account page's switch is."""

from __future__ import annotations

import html
import re

import pytest

from protection.db import db
from protection.identity import User
from tests.conftest import audit_entries, csrf_token


def topbar(page: str) -> str:
    return page[page.index("<nav"):page.index("</nav>")]


def switch_form(page: str) -> str:
    match = re.search(r'<form method="post" action="/account/language".*?</form>', topbar(page), re.S)
    assert match, "no language switch in the top bar"
    return match.group(0)


def saved_locale(app, user_id) -> str | None:
    with app.app_context():
        locale = db.session.get(User, user_id).locale
        db.session.commit()
    return locale


@pytest.mark.parametrize(("role", "path"), [
    ("officer", "/cases/"), ("supervisor", "/reports/"), ("auditor", "/audit/"), ("admin", "/admin/users"),
    ("liaison", "/"),
])
def test_every_signed_in_page_offers_the_other_language_in_the_top_bar(client, login_as, role, path):
    login_as(role)
    page = client.get(path).get_data(as_text=True)
    form = switch_form(page)
    assert 'name="csrf_token"' in form
    assert f'name="next" value="{path}"' in html.unescape(form)
    assert re.search(r'<button type="submit" name="locale" value="en" lang="en"[^>]*>English</button>', form)
    assert 'value="vi"' not in form  # the page is in Vietnamese already


def test_switching_stays_on_the_page_and_is_audited(app, client, login_as):
    officer = login_as("officer")
    page = client.get("/cases/?sort=due").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', switch_form(page)).group(1)
    response = client.post("/account/language", data={"csrf_token": token, "locale": "en",
                                                      "next": "/cases/?sort=due"})
    assert response.status_code == 302 and response.headers["Location"] == "/cases/?sort=due"
    assert saved_locale(app, officer.id) == "en"
    [entry] = audit_entries(app, "user.language")
    assert (entry.actor_id, entry.target_id, entry.detail) == (officer.id, str(officer.id), '{"fields":["locale"]}')

    english = client.get("/cases/?sort=due").get_data(as_text=True)
    assert '<html lang="en">' in english and "Interface language saved." in english
    assert re.search(r'name="locale" value="vi" lang="vi"[^>]*>Tiếng Việt</button>', switch_form(english))


def test_the_switch_never_writes_the_query_string_into_the_page(app, client, login_as):
    """A search term in the address can be a name: the form returns to the path alone."""
    login_as("officer")
    page = client.get("/subjects/", query_string={"q": "Qzhoten Bimat"}).get_data(as_text=True)
    form = switch_form(page)
    assert 'name="next" value="/subjects/"' in form and "qzhoten" not in form.casefold()


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil", ""])
def test_only_a_page_of_this_site_is_returned_to(app, client, login_as, target):
    login_as("officer")
    response = client.post("/account/language", data={"csrf_token": csrf_token(client, "/"), "locale": "en",
                                                      "next": target})
    assert response.status_code == 302 and response.headers["Location"] == "/account/"


def test_switching_without_the_csrf_token_is_refused(app, client, login_as):
    officer = login_as("officer")
    response = client.post("/account/language", data={"locale": "en", "next": "/"})
    assert response.status_code == 400
    assert saved_locale(app, officer.id) is None and audit_entries(app, "user.language") == []


def test_no_switch_while_signing_in(client, make_user):
    user = make_user("supervisor")
    client.post("/login", data={"csrf_token": csrf_token(client), "username": user.username,
                                "password": user.password})
    page = client.get("/login/second-factor").get_data(as_text=True)
    assert "/account/language" not in page  # the route waits for the sign-in to finish
