"""Approving right after signing in, in Chromium: the code just used to sign in is refused
as already used, with the wait until the next one, not as a wrong password or code. Nothing
is approved (the journey that approves this conclusion still finds it waiting)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.live_server import DEMO_PASSWORD

SUPERVISOR = "lanhdao.minh"


def test_the_code_that_signed_in_is_told_apart_at_approval(pages, server):
    page = pages.new()
    page.goto("/login")
    page.get_by_label("Tên đăng nhập").fill(SUPERVISOR)
    page.get_by_label("Mật khẩu").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Đăng nhập").click()
    code = server.totp_code(SUPERVISOR)
    page.locator("#code").fill(code)
    with page.expect_navigation():
        page.locator("#code").press("Enter")
    expect(page.get_by_role("button", name="Đăng xuất")).to_be_visible()

    page.goto("/cases/?view=approval")
    page.get_by_role("row").filter(has_text="Chờ phê duyệt").first.get_by_role("link").first.click()
    page.get_by_role("link", name="Xem xét, phê duyệt").click()
    secret = page.get_by_label("Nhập lại mật khẩu hoặc mã xác thực 6 số")
    secret.fill(code)
    page.get_by_role("button", name="Phê duyệt và ký").click()

    expect(secret).to_have_accessible_description(
        re.compile(r"Mã này đã được dùng; hãy chờ mã tiếp theo \(còn \d+ giây\)\."))
    expect(page.get_by_role("heading", level=1)).to_have_text("Phê duyệt kết luận")
