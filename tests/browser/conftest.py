"""Browser fixtures: one live server and one Chromium per session, a fresh browser context
per test, and a test that fails on any console error, page error or CSP violation.

Debian's Chromium drives the tests (Playwright's own browser download is not used). No
Chromium: the tests are skipped, except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.browser import chromium
from tests.browser.chromium import CHROMIUM
from tests.browser.live_server import DEMO_PASSWORD, ROOT, LiveServer, live_server
from tests.browser.sign_in import sign_in as sign_in_page

ARTIFACTS = ROOT / "tests" / "artifacts"
TIMEOUT_MS = 15_000

# Reported by Chromium whatever the console level; the init script below adds the DOM's
# own violation events, so an inline style or script that slips in cannot go unnoticed.
CSP_MARKERS = ("Content Security Policy", "Refused to")
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (event) {
  console.error("Content Security Policy violation: " + event.violatedDirective + " blocked "
                + (event.blockedURI || "inline") + " at " + event.sourceFile + ":" + event.lineNumber);
});
"""


@pytest.fixture(scope="session")
def chromium_executable() -> Path:
    if not CHROMIUM.exists():
        reason = f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true, so they must run", pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def server(chromium_executable, tmp_path_factory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("browser-server"), os.environ.get("TEST_DATABASE_URL")) as running:
        yield running


@pytest.fixture(scope="session")
def browser(chromium_executable):
    with sync_playwright() as playwright:
        launched = chromium.launch(playwright)
        try:
            yield launched
        finally:
            launched.close()


class Pages:
    """The browser contexts of one test, and everything their pages complained about."""

    def __init__(self, browser, server: LiveServer):
        self.browser, self.server = browser, server
        self.contexts: list = []
        self.issues: list[str] = []
        self.dialogs: list[str] = []
        self._allowed: list[re.Pattern] = []

    def new(self, *, host: str | None = None):
        """A page in a fresh context (its own cookies: one person at one desk), in the
        default language, that accepts the app's confirmation dialogs. `host="localhost"`
        opens the server by name: security keys refuse an IP address as the site's id."""
        base_url = self.server.base_url if host is None else self.server.base_url.replace("127.0.0.1", host)
        context = chromium.new_context(self.browser, base_url)
        context.set_default_timeout(TIMEOUT_MS)
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        context.on("page", self._watch)
        self.contexts.append(context)
        return context.new_page()

    def allow_console(self, pattern: str) -> None:
        """Expect a console error matching `pattern` (e.g. the status of a refused page)."""
        self._allowed.append(re.compile(pattern))

    def _watch(self, page) -> None:
        page.on("console", lambda message: self._console(page, message))
        page.on("pageerror", lambda error: self.issues.append(f"page error on {page.url}: {error}"))
        page.on("dialog", self._dialog)

    def _console(self, page, message) -> None:
        text = message.text
        if message.type != "error" and not any(marker in text for marker in CSP_MARKERS):
            return
        if message.type == "error" and not any(marker in text for marker in CSP_MARKERS) \
                and any(pattern.search(text) for pattern in self._allowed):
            return
        self.issues.append(f"console {message.type} on {page.url}: {text}")

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.accept()

    def screenshot(self, name: str) -> list[Path]:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        saved = []
        pages = [page for context in self.contexts for page in context.pages]
        for index, page in enumerate(pages):
            path = ARTIFACTS / (f"{name}.png" if index == 0 else f"{name}-{index + 1}.png")
            try:
                page.screenshot(path=str(path), full_page=True)
            except Exception:  # noqa: BLE001,S112 - a crashed page must not hide the real failure
                continue
            saved.append(path)
        return saved

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(browser, server, request) -> Iterator[Pages]:
    collected = Pages(browser, server)
    try:
        yield collected
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            collected.screenshot(_artifact_name(request.node.name))
        collected.close()


def _artifact_name(test_name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", test_name).strip("_")


@pytest.fixture
def sign_in(server):
    """sign_in(page, username): a demo account, second factor included."""
    return lambda page, username, password=DEMO_PASSWORD: sign_in_page(page, server, username, password)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After the test body: any console error, page error or CSP violation fails the test
    (in its call phase, so it counts as a failure and leaves a screenshot)."""
    collected = item.funcargs.get("pages") if hasattr(item, "funcargs") else None
    try:
        result = yield
    except BaseException:
        if collected is not None:
            if collected.issues:
                item.add_report_section("call", "browser", "\n".join(collected.issues))
            item.add_report_section("call", "server log (tail)", collected.server.log_tail())
        raise
    if collected is not None and collected.issues:
        listed = "\n  ".join(collected.issues)
        raise AssertionError(f"the browser reported {len(collected.issues)} problem(s):\n  {listed}")
    return result
