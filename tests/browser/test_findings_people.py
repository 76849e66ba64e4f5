"""Findings that name their person, and relatives in a disclosure package (issue 17), in
Chromium on the demo organisation. Read-only journeys: no other journey's records change."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.demo import LIAISON, OFFICER, nav, open_case

BROTHER = "Anh, chị, em ruột: Đào Văn Khiêm"  # shared with the police in Đào Văn Khải's review
FATHER_NOT_SHARED = "Đào Văn Mùi"
ANSWERED = "Thẩm định nhân sự ứng cử Ban Chấp hành Công đoàn tỉnh"


def test_liaison_reads_the_shared_relative_and_who_their_finding_is_about(pages, sign_in):
    page = pages.new()
    sign_in(page, LIAISON)
    nav(page, "Yêu cầu phối hợp").click()
    page.get_by_role("row").filter(has_text="Đã trả lời").get_by_role("link").first.click()
    main = page.locator("main")
    expect(main).to_contain_text("Người thân của đối tượng")
    expect(main).to_contain_text(BROTHER)
    expect(main).to_contain_text("Chủ doanh nghiệp vận tải")
    # The finding names the brother, not the subject.
    finding = main.get_by_role("row").filter(has_text="Doanh nghiệp của em ruột")
    expect(finding).to_contain_text(BROTHER)
    # The father was not shared: neither his name nor the case's title reaches the body.
    expect(main).not_to_contain_text(FATHER_NOT_SHARED)
    expect(main).not_to_contain_text(ANSWERED)


def test_officer_sees_the_relatives_shared_and_who_each_finding_is_about(pages, sign_in):
    page = pages.new()
    sign_in(page, OFFICER)
    open_case(page, ANSWERED)
    page.locator("#requests").get_by_role("link", name="Đảng ủy Công an tỉnh").click()
    main = page.locator("main")
    shared = main.locator("dt", has_text="Người thân").locator("xpath=following-sibling::dd[1]")
    expect(shared).to_contain_text(BROTHER)
    expect(main.get_by_role("row").filter(has_text="Doanh nghiệp của em ruột")).to_contain_text(BROTHER)
