"""Issue 17's forms in Chromium, in Vietnamese: a date typed into the browser's own date
input (shown dd/mm/yyyy in a vi page) and submitted; a form with several errors answered
with one summary at the top whose links take the focus to each field."""

from __future__ import annotations

import re
from datetime import date, timedelta

from playwright.sync_api import expect

from tests.pages import org_today

OFFICER = "canbo.an"


def type_date(field, day: date, order: str) -> None:
    """Focus the date input's first part and type the digits (the input moves on by itself)."""
    field.blur()
    field.focus()
    field.press_sequentially(day.strftime(order))


def test_officer_types_a_date_and_corrects_every_error_from_the_summary(pages, sign_in):
    page = pages.new()
    sign_in(page, OFFICER)
    page.get_by_role("link", name="Tiếp nhận đơn thư").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tiếp nhận đơn thư")
    expect(page).to_have_url(re.compile(r"/cases/petitions/new\?form=[\w-]+$"))

    # The browser's date input, typed digit by digit as a person does. Its field order is the
    # browser's own locale's (dd/mm/yyyy in a Vietnamese Chromium; this machine's Chromium
    # has only en-US, mm/dd/yyyy): a probe date tells which, then the real one is typed.
    received = page.get_by_label("Ngày nhận đơn")
    expect(received).to_have_attribute("type", "date")
    type_date(received, date(2003, 2, 1), "%d%m%Y")
    order = "%d%m%Y" if received.input_value() == "2003-02-01" else "%m%d%Y"
    day = org_today() - timedelta(days=2)
    type_date(received, day, order)
    expect(received).to_have_value(day.isoformat())

    # Several errors at once: no channel, no type, no summary, no petitioner, nobody concerned.
    page.get_by_role("button", name="Tiếp nhận đơn").click()
    summary = page.get_by_role("alert").filter(has_text="chỗ cần sửa")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    links = summary.get_by_role("link")
    expect(links).to_have_count(5)
    expect(links).to_have_text(["Hình thức nhận", "Loại đơn", "Họ tên người gửi đơn",
                                "Người bị phản ánh khác (mỗi dòng một người)", "Tóm tắt nội dung đơn"])
    expect(received).to_have_value(day.isoformat())  # what was typed is kept

    # Each link takes the focus to its field; the field says what is wrong.
    summary.get_by_role("link", name="Tóm tắt nội dung đơn").click()
    summary_field = page.get_by_label("Tóm tắt nội dung đơn")
    expect(summary_field).to_be_focused()
    expect(summary_field).to_have_attribute("aria-invalid", "true")
    summary_field.fill("Phản ánh việc chậm giải quyết hồ sơ đất đai tại xã.")
    summary.get_by_role("link", name="Hình thức nhận").click()
    expect(page.get_by_label("Hình thức nhận")).to_be_focused()
    page.get_by_label("Hình thức nhận").select_option(label="Trực tiếp")
    summary.get_by_role("link", name="Loại đơn").click()
    expect(page.get_by_label("Loại đơn")).to_be_focused()
    page.get_by_label("Loại đơn").select_option(label="Phản ánh")
    summary.get_by_role("link", name="Họ tên người gửi đơn").click()
    expect(page.get_by_label("Họ tên người gửi đơn")).to_be_focused()
    page.get_by_label("Họ tên người gửi đơn").fill("Người Gửi Đơn Thử")
    page.get_by_label("Người bị phản ánh khác (mỗi dòng một người)").fill("Cán Bộ Địa Chính Xã")

    page.get_by_role("button", name="Tiếp nhận đơn").click()
    expect(page.get_by_role("status").filter(has_text="Đã tiếp nhận đơn")).to_be_visible()
    expect(page.locator("main")).to_contain_text(day.strftime("%d/%m/%Y"))

    # Back, and the same form again: received once, said so.
    page.go_back()
    expect(page.get_by_role("alert").filter(has_text="Biểu mẫu này đã được gửi")).to_be_visible()
