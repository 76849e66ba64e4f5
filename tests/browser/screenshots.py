"""The README's screenshots, from a fresh demo server: the officer's home page and a demo
case page, 1280 px wide.

    .venv/bin/python -m tests.browser.screenshots          # writes docs/screenshots/*.png

Safe to run again at any time (after a redesign, say): it starts its own server on a free
port in a temporary folder and overwrites the two images.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from tests.browser import chromium
from tests.browser.live_server import ROOT, live_server
from tests.browser.sign_in import sign_in

OUTPUT = ROOT / "docs" / "screenshots"
OFFICER = "canbo.an"
# cases/demo.py's closed review: findings, a police answer, an approved and signed conclusion.
CASE_TITLE = "Thẩm định cử đi học thạc sĩ ở nước ngoài"


def take(output: Path = OUTPUT) -> list[Path]:
    if not chromium.CHROMIUM.exists():
        raise SystemExit(f"screenshots need Debian's Chromium at {chromium.CHROMIUM} (apt-get install chromium)")
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, live_server(Path(folder)) as server, \
            sync_playwright() as playwright:
        browser = chromium.launch(playwright)
        try:
            page = chromium.new_context(browser, server.base_url).new_page()
            sign_in(page, server, OFFICER)
            page.goto("/")
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            dashboard = output / "dashboard.png"
            page.screenshot(path=str(dashboard), full_page=True)

            page.goto("/cases/?view=unit")
            page.get_by_role("row").filter(has_text=CASE_TITLE).get_by_role("link").first.click()
            expect(page.locator("main")).to_contain_text(CASE_TITLE)
            case = output / "case.png"
            page.screenshot(path=str(case), full_page=True)
        finally:
            browser.close()
    return [dashboard, case]


if __name__ == "__main__":
    for path in take():
        sys.stdout.write(f"{path.relative_to(ROOT)}\n")
