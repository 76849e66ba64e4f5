"""The top bar's language switch in Chromium: the page comes back in the other language, on
the same address, and the choice is kept; then back to Vietnamese. Uses an officer no other
browser test signs in as, so their saved language disturbs no other journey."""

from __future__ import annotations

from playwright.sync_api import expect

OFFICER = "canbo.binh"


def topbar(page):
    return page.locator("nav.hoso-navbar")  # its accessible name changes with the language


def test_switch_language_from_the_top_bar_and_back(pages, sign_in):
    page = pages.new()
    sign_in(page, OFFICER)
    page.goto("/cases/?view=unit")
    expect(page.locator("html")).to_have_attribute("lang", "vi")

    topbar(page).get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    # The same page; its query string stays out of the form (it can hold a searched name).
    assert page.url.endswith("/cases/")
    expect(page.get_by_role("status")).to_contain_text("Interface language saved.")
    page.goto("/account/")  # kept: the account page agrees
    expect(page.get_by_role("combobox", name="Interface language")).to_have_value("en")

    # Back to Vietnamese, by keyboard this time.
    back = topbar(page).get_by_role("button", name="Tiếng Việt")
    expect(back).to_have_attribute("lang", "vi")
    back.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    assert page.url.endswith("/account/")
    expect(page.get_by_role("combobox", name="Ngôn ngữ giao diện")).to_have_value("vi")
