"""Issue 17 in Chromium: an officer types part of a name and picks the person from a short
list (the demo organisation, cases/demo.py)."""

from __future__ import annotations

from playwright.sync_api import expect

OFFICER = "canbo.an"


def search(page, query: str) -> None:
    page.goto("/subjects/")
    page.get_by_label("Tìm theo họ tên").fill(query)
    page.get_by_role("button", name="Tìm").click()


def test_officer_finds_a_person_by_part_of_the_name_and_picks_them(pages, sign_in):
    page = pages.new()
    sign_in(page, OFFICER)

    # One word, typed without diacritics: the given name of one person.
    search(page, "hoa")
    results = page.get_by_role("table")
    expect(results.get_by_role("link", name="Trần Văn Hòa")).to_be_visible()
    expect(page.get_by_label("Tìm theo họ tên")).to_have_value("hoa")

    # A middle name shared by three people: all are listed, and the officer picks one.
    search(page, "Thị")
    for name in ("Lê Thị Mai", "Nguyễn Thị Thu Trang", "Vũ Thị Hạnh"):
        expect(results.get_by_role("link", name=name)).to_be_visible()
    expect(results.get_by_role("link", name="Trần Văn Hòa")).to_have_count(0)
    results.get_by_role("link", name="Nguyễn Thị Thu Trang").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Nguyễn Thị Thu Trang")

    # Another unit's dossier stays out (Đinh Văn Tú is the district's).
    search(page, "Văn")
    expect(results.get_by_role("link", name="Trần Văn Hòa")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("Đinh Văn Tú")

    # Part of a word finds nobody: the index holds whole words only.
    search(page, "Tra")
    expect(page.locator("main")).to_contain_text("Không tìm thấy đối tượng nào")
