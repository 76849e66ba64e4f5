"""Debian's Chromium, launched the way every browser test and the screenshot script use it
(Playwright's own browser download is not used: the machines are offline)."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}
LOCALE = "vi-VN"  # Vietnamese, the default language; the browser's Accept-Language would win


def launch(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def new_context(browser, base_url: str):
    return browser.new_context(base_url=base_url, locale=LOCALE, viewport=VIEWPORT, accept_downloads=True)
