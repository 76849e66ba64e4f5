"""The demo organisation as the Chromium journeys meet it: its people and case titles
(cases/demo/), and moving around its pages. Shared here because test modules never import
one another (tests/test_test_hygiene.py)."""

from __future__ import annotations

from playwright.sync_api import expect

OFFICER, SUPERVISOR, LIAISON, AUDITOR, ADMIN = (
    "canbo.an", "lanhdao.minh", "phoihop.congan", "kiemtra.ha", "quantri")

# Demo case titles (cases/demo.py), by the part they play here.
COMMENTED = "Thẩm định lại tiêu chuẩn chính trị trước khi bổ nhiệm"  # canbo.an's re-review
SUBMITTED = "Thẩm định nhân sự bổ nhiệm Phó Giám đốc Sở Tài chính"  # waiting for lanhdao.minh
APPROVED = "Thẩm định cử đi học thạc sĩ ở nước ngoài"  # approved, written by canbo.an
REQUESTED = "Thẩm tra lý lịch kết nạp Đảng"  # its request to the police is not yet acknowledged
BREAK_GLASS = "Thẩm định quy hoạch Phó Giám đốc Sở Kế hoạch và Đầu tư"
# What an auditor or the admin must never read: case titles, subjects' names, findings.
CASE_CONTENT = (COMMENTED, SUBMITTED, APPROVED, REQUESTED, BREAK_GLASS,
                "Đơn tố cáo cán bộ xã nhận tiền hỗ trợ", "Trần Văn Hòa", "Lê Thị Mai", "Hoàng Minh Đức",
                "Nguyễn Thị Thu Trang", "Lê Văn Tâm")


def nav(page, link: str):
    return page.get_by_role("navigation", name="Điều hướng chính").get_by_role("link", name=link, exact=True)


def open_case(page, title: str, view: str = "mine") -> None:
    page.goto(f"/cases/?view={view}")
    page.get_by_role("row").filter(has_text=title).get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.locator("main")).to_contain_text(title)


def press_step(page, label: str, state: str) -> None:
    page.get_by_role("button", name=label, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(state)


def assert_no_case_content(page) -> None:
    text = page.locator("main").inner_text()
    shown = [value for value in CASE_CONTENT if value in text]
    assert not shown, f"{page.url} shows case content: {shown}"
