"""Issue 17 in Chromium: the auditor finds a case's history by typing its reference, reads
actions in Vietnamese, and is told beside the field when a reference names nothing. Reads
the demo trail only (no journey depends on what this one records)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

AUDITOR = "kiemtra.ha"
REFERENCE = re.compile(r"\b(?:BVCT|DT)-\d{4}-\d{6}\b")


def test_auditor_filters_the_trail_by_a_case_reference(pages, sign_in):
    page = pages.new()
    sign_in(page, AUDITOR)
    page.goto("/audit/?action=case.create")
    first = page.locator("main tbody tr").first
    expect(first).to_contain_text("Mở hồ sơ")  # the action in words, its code beside it
    reference = REFERENCE.search(first.inner_text()).group(0)

    target = page.get_by_label("Đối tượng", exact=True)
    page.get_by_label("Hành động").fill("")
    target.fill("BVCT-2020-999999")
    page.get_by_role("button", name="Lọc").click()
    expect(page.locator("#target_id-errors")).to_have_text("Không có hồ sơ nào mang số BVCT-2020-999999.")
    expect(target).to_have_value("BVCT-2020-999999")
    expect(page.locator("main tbody tr")).to_have_count(0)

    target.fill(reference.lower())
    page.get_by_role("button", name="Lọc").click()
    expect(page.get_by_role("heading", name=f"Lịch sử truy cập: Hồ sơ {reference}")).to_be_visible()
    rows = page.locator("main tbody tr")
    expect(rows.filter(has_text="case.create")).to_have_count(1)
    assert rows.count() == rows.filter(has_text=f"Hồ sơ {reference}").count()
