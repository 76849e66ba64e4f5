"""Signing a browser page in as a demo account, second factor included."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.live_server import DEMO_PASSWORD, LiveServer


def sign_in(page, server: LiveServer, username: str, password: str = DEMO_PASSWORD) -> None:
    """Username and password; supervisors, auditors and the admin then type the current
    TOTP code on the second-factor page (a refused code waits for the next step)."""
    page.goto("/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Đăng nhập").click()
    for _attempt in range(2):
        if not page.url.endswith("/login/second-factor"):
            break
        # The form's own field and Enter, not the first submit button: that one is "Hủy đăng nhập".
        page.locator("#code").fill(server.totp_code(username))
        with page.expect_navigation():
            page.locator("#code").press("Enter")
    assert not page.url.endswith("/login"), f"sign-in refused for {username}"
    assert not page.url.endswith("/login/second-factor"), f"second factor refused for {username}"
    expect(page.get_by_role("button", name="Đăng xuất")).to_be_visible()
