"""WCAG 2.1 A and AA, checked by axe-core in Chromium on the main pages of every role (and
the pages before sign-in). Any violation fails, with the rule, the page and the elements.

axe-core comes inside the axe-playwright-python package (axe.min.js), so the check runs
offline; it is injected through the DevTools protocol, which the page's CSP does not block.
"""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.browser.live_server import DEMO_PASSWORD

# Demo accounts (protection/demo.py), one per role.
OFFICER, SUPERVISOR, LIAISON, AUDITOR, ADMIN = (
    "canbo.an", "lanhdao.minh", "phoihop.congan", "kiemtra.ha", "quantri")

WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
              "resultTypes": ["violations"]}

# The main pages of each role: its menu, its lists and forms, its account pages, and the
# pages it reaches from its lists ("first-..." names a step below); an error page too.
ROLE_PAGES = {
    OFFICER: ["/", "/cases/", "/cases/?view=unit", "/cases/?view=due", "/subjects/", "/subjects/new",
              "/cases/reviews/new", "/cases/petitions/new", "/account/", "/account/password",
              "/account/sessions", "/account/two-factor/enrol", "first-case", "first-subject", "/no-such-page"],
    SUPERVISOR: ["/", "/cases/", "/cases/?view=approval", "/reports/", "/retention/", "/retention/classified",
                 "/subjects/", "first-case", "first-subject", "first-approval"],
    LIAISON: ["/", "/requests/", "first-request", "/account/"],
    AUDITOR: ["/", "/audit/", "/access/break-glass", "/account/", "/account/sessions"],
    ADMIN: ["/", "/admin/users", "/admin/users/new", "first-user", "/admin/units", "/account/"],
}

UUID = r"[0-9a-f-]{36}"
CASE_PAGE = rf"/cases/{UUID}"
SUBJECT_PAGE = rf"/subjects/{UUID}"

_axe = Axe()


def violations(page) -> list[str]:
    """One line per violated rule: the page, the rule, its impact and the first elements."""
    found = _axe.run(page, options=WCAG_21_AA).response["violations"]
    lines = []
    for rule in found:
        targets = ", ".join(" ".join(node["target"]) for node in rule["nodes"][:5])
        lines.append(f"{page.url}: {rule['id']} ({rule['impact']}, {len(rule['nodes'])} nodes): "
                     f"{rule['help']} — {targets}")
    return lines


def links(page, pattern: str) -> list[str]:
    hrefs = page.locator("main a[href]").evaluate_all("links => links.map(link => link.getAttribute('href'))")
    return [href for href in hrefs if re.fullmatch(pattern, href)]


def open_first(page, list_path: str, pattern: str, suffix: str = "") -> None:
    """The first link of a list whose path matches `pattern` (plus `suffix`: a page of it)."""
    page.goto(list_path)
    found = links(page, pattern)
    assert found, f"no link matching {pattern} on {list_path}"
    page.goto(found[0] + suffix)


def open_first_subject(page) -> None:
    """A subject's page, reached from the first case of the unit's list that is about one."""
    page.goto("/cases/?view=unit")
    for case in links(page, CASE_PAGE)[:10]:
        page.goto(case)
        subjects = links(page, SUBJECT_PAGE)
        if subjects:
            page.goto(subjects[0])
            return
    raise AssertionError("no case of the list links to a subject")


STEPS = {
    "first-case": lambda page: open_first(page, "/cases/?view=unit", CASE_PAGE),
    "first-subject": open_first_subject,
    "first-approval": lambda page: open_first(page, "/cases/?view=approval", CASE_PAGE, "/conclusion/approve"),
    "first-request": lambda page: open_first(page, "/requests/", rf"/requests/{UUID}"),
    "first-user": lambda page: open_first(page, "/admin/users", rf"/admin/users/{UUID}"),
}


@pytest.mark.parametrize("username", list(ROLE_PAGES))
def test_main_pages_of_each_role_meet_wcag_21_aa(pages, sign_in, username):
    page = pages.new()
    sign_in(page, username)
    problems = []
    pages.allow_console(r"404 \(NOT FOUND\)")  # /no-such-page: the error page is checked too
    for path in ROLE_PAGES[username]:
        if path in STEPS:
            STEPS[path](page)
        else:
            page.goto(path)
        problems += violations(page)
    assert not problems, "\n".join(problems)


def test_pages_before_sign_in_meet_wcag_21_aa(pages):
    page = pages.new()
    page.goto("/login")
    problems = violations(page)
    # The second step, as a supervisor sees it after the password.
    page.get_by_label("Tên đăng nhập").fill(SUPERVISOR)
    page.get_by_label("Mật khẩu").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Đăng nhập").click()
    assert page.url.endswith("/login/second-factor")
    problems += violations(page)
    assert not problems, "\n".join(problems)

