"""Journeys through the real app in Chromium, one role at a time, in Vietnamese (the
default language). The server holds the demo organisation (cases/demo.py); each journey
works on demo records no other journey changes, so they pass in any order."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from pypdf import PdfReader

from tests.browser.demo import (
    ADMIN,
    APPROVED,
    AUDITOR,
    COMMENTED,
    LIAISON,
    OFFICER,
    REQUESTED,
    SUBMITTED,
    SUPERVISOR,
    assert_no_case_content,
    nav,
    open_case,
    press_step,
)
from tests.browser.live_server import DEMO_PASSWORD


def test_officer_comments_on_a_case_then_opens_and_submits_a_review(pages, sign_in):
    page = pages.new()
    sign_in(page, OFFICER)
    expect(page.get_by_role("heading", level=1)).to_have_text("Xin chào, Nguyễn Văn An")

    # Công việc → a demo case → a comment, on the case and on its timeline.
    nav(page, "Công việc").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Công việc")
    page.get_by_role("row").filter(has_text=COMMENTED).get_by_role("link").click()
    expect(page.locator("main")).to_contain_text(COMMENTED)
    comment = "Đã đối chiếu bản tự khai mới với hồ sơ năm 2025: thống nhất, không có thay đổi."
    page.get_by_label("Ý kiến", exact=True).fill(comment)
    page.get_by_role("button", name="Gửi ý kiến").click()
    expect(page.get_by_role("status").filter(has_text="Đã thêm ý kiến.")).to_be_visible()
    comments = page.locator("#comments")
    expect(comments).to_contain_text(comment)
    expect(comments).to_contain_text("Nguyễn Văn An")
    latest = page.locator("#timeline li").last
    expect(latest).to_contain_text("Thêm ý kiến")
    expect(latest).to_contain_text("Nguyễn Văn An")

    # Đối tượng → find the person → "Mở thẩm định".
    nav(page, "Đối tượng").click()
    page.get_by_label("Tìm theo họ tên").fill("Hoàng Minh Đức")
    page.get_by_role("button", name="Tìm").click()
    page.get_by_role("link", name="Hoàng Minh Đức").click()
    page.get_by_role("link", name="Mở thẩm định").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mở hồ sơ thẩm định tiêu chuẩn chính trị")

    # Wrong input once: no purpose. The error sits beside the field; what was typed stays.
    title = "Thẩm định cử đi bồi dưỡng quản lý giáo dục tại Singapore"
    page.get_by_label("Tiêu đề").fill(title)
    page.get_by_label("Nội dung, yêu cầu thẩm định").fill("Khóa bồi dưỡng 2 tháng theo kế hoạch của Sở.")
    page.get_by_role("button", name="Mở hồ sơ thẩm định").click()
    purpose = page.get_by_label("Mục đích thẩm định")
    expect(purpose).to_have_attribute("aria-invalid", "true")
    expect(purpose).to_have_accessible_description(re.compile("Trường này là bắt buộc."))
    expect(page.get_by_label("Tiêu đề")).to_have_value(title)
    expect(page.get_by_label("Nội dung, yêu cầu thẩm định")).to_have_value(
        "Khóa bồi dưỡng 2 tháng theo kế hoạch của Sở.")

    purpose.select_option(label="Học tập / công tác nước ngoài")
    page.get_by_label("Độ mật").select_option(label="Mật")
    page.get_by_role("button", name="Mở hồ sơ thẩm định").click()
    expect(page.get_by_role("status").filter(has_text="Đã mở hồ sơ thẩm định")).to_be_visible()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("Rà soát")
    expect(page.locator("main")).to_contain_text(title)

    # Every step the officer can take, then a finding, then the conclusion.
    press_step(page, "Chuyển sang thẩm tra", "Thẩm tra")
    press_step(page, "Chuyển sang xác minh", "Xác minh")
    press_step(page, "Chuyển sang thẩm định", "Thẩm định")
    page.get_by_role("link", name="Ghi nhận nội dung").click()
    page.get_by_label("Người được ghi nhận").select_option(label="Đối tượng: Hoàng Minh Đức")
    page.get_by_label("Loại nội dung").select_option(index=1)
    finding = "Không có thân nhân định cư ở nước ngoài ngoài em gái đã được xác minh năm trước."
    page.get_by_label("Nội dung", exact=True).fill(finding)
    page.get_by_label("Nguồn").fill("Bản tự khai bổ sung")
    page.get_by_role("button", name="Lưu nội dung").click()
    expect(page.locator("#findings")).to_contain_text(finding)
    press_step(page, "Chuyển sang kết luận", "Kết luận")

    page.get_by_role("link", name="Soạn kết luận").click()
    page.get_by_label("Không có vấn đề chính trị").check()
    reasoning = "Lịch sử chính trị rõ ràng; thân nhân đã được xác minh. Đủ tiêu chuẩn đi bồi dưỡng."
    page.get_by_label("Căn cứ, lý do").fill(reasoning)
    page.get_by_role("button", name="Lưu dự thảo").click()
    conclusion = page.locator("#conclusion")
    expect(conclusion).to_contain_text(reasoning)
    expect(conclusion).to_contain_text("Dự thảo")

    conclusion.get_by_role("button", name="Trình phê duyệt").click()
    expect(heading).to_contain_text("Chờ phê duyệt")
    assert pages.dialogs[-1] == "Trình kết luận này để lãnh đạo phê duyệt?"
    expect(page.locator("#timeline li").last).to_contain_text("Trình kết luận")
    expect(conclusion.get_by_role("button", name="Trình phê duyệt")).to_have_count(0)


def test_supervisor_approves_a_submitted_conclusion_with_reauthentication(pages, sign_in):
    page = pages.new()
    sign_in(page, SUPERVISOR)
    expect(page.locator("main")).to_contain_text("Chờ tôi phê duyệt")

    nav(page, "Công việc").click()
    page.get_by_role("link", name=re.compile(r"^Chờ phê duyệt")).click()
    row = page.get_by_role("row").filter(has_text=SUBMITTED)
    expect(row).to_contain_text("Chờ phê duyệt")
    row.get_by_role("link").click()

    page.get_by_role("link", name="Xem xét, phê duyệt").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Phê duyệt kết luận")
    expect(page.locator("main")).to_contain_text("quan hệ kinh tế của chồng đã được kê khai đầy đủ")
    # The page asks for the password or a TOTP code: the password, so no 30 s wait.
    secret = page.get_by_label("Nhập lại mật khẩu hoặc mã xác thực 6 số")
    expect(secret).to_have_attribute("type", "password")
    secret.fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Phê duyệt và ký").click()

    flash = page.get_by_role("status").filter(has_text="Đã phê duyệt kết luận số")
    expect(flash).to_be_visible()
    number = re.search(r"số (\S+-KL/BTCTU)", flash.inner_text()).group(1)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Đã kết thúc")
    conclusion = page.locator("#conclusion")
    expect(conclusion).to_contain_text("Đã phê duyệt")
    expect(conclusion).to_contain_text(number)
    expect(conclusion).to_contain_text("Phạm Quang Minh")
    expect(conclusion.get_by_text("Chữ ký hợp lệ")).to_be_visible()
    check = conclusion.get_by_text("Mã kiểm tra").locator("span.font-monospace")
    expect(check).to_have_text(re.compile(r"^[0-9A-F]{4}( [0-9A-F]{4})+$"))


def test_officer_prints_an_approved_conclusion(pages, sign_in):
    page = pages.new()
    sign_in(page, OFFICER)
    open_case(page, APPROVED, view="unit")
    conclusion = page.locator("#conclusion")
    expect(conclusion).to_contain_text("Đã phê duyệt")
    number = conclusion.locator("dt", has_text="Số văn bản").locator("xpath=following-sibling::dd[1]").inner_text()
    conclusion.get_by_role("link", name="In kết luận").click()
    assert re.search(r"/cases/[^/]+/conclusions/[^/]+/", page.url), page.url
    expect(page.get_by_role("heading", level=1)).to_have_text(f"In kết luận số {number}")

    page.get_by_label("Số bản in").fill("2")
    with page.expect_download() as waiting:
        page.get_by_role("button", name="In kết luận (tải tệp PDF)").click()
    download = waiting.value
    assert download.suggested_filename.endswith(".pdf")
    path = download.path()
    with open(path, "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"
    reader = PdfReader(path)
    assert len(reader.pages) >= 2, "each copy starts on a page of its own"
    assert number in reader.pages[0].extract_text()

    # The copy register counts the two numbered copies.
    page.reload()
    expect(page.locator("main")).to_contain_text("Bản số 1–2 · Nguyễn Văn An")


def test_liaison_acknowledges_a_request_and_answers_it(pages, sign_in):
    page = pages.new()
    sign_in(page, LIAISON)
    nav(page, "Yêu cầu phối hợp").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Yêu cầu xác minh gửi đơn vị")
    row = page.get_by_role("row").filter(has_text="Đã gửi")
    reference = row.get_by_role("link").inner_text()
    row.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(reference)
    main = page.locator("main")
    expect(main).to_contain_text("ông Lê Văn Tâm (sinh 1958, xã Hải Hà)")
    # Only the request's package: never the case's title.
    expect(main).not_to_contain_text(REQUESTED)

    page.get_by_role("button", name="Xác nhận đã nhận yêu cầu").click()
    expect(main.locator("dd").first).to_have_text("Đã nhận")

    result = "Ông Lê Văn Tâm có mặt tại buổi tụ tập năm 2019 với tư cách người xem; không bị xử lý."
    page.get_by_label("Loại nội dung").select_option(index=1)
    page.get_by_label("Nội dung xác minh được").fill(result)
    page.get_by_label("Nguồn").fill("Công an xã Hải Hà")
    page.get_by_role("button", name="Ghi kết quả").click()
    expect(main).to_contain_text(result)

    answer = "Đã xác minh: đương sự không tham gia tổ chức, không có vi phạm pháp luật."
    page.get_by_label("Nội dung trả lời").fill(answer)
    page.get_by_role("button", name="Gửi trả lời").click()
    expect(main.locator("dd").first).to_have_text("Đã trả lời")
    expect(main).to_contain_text(answer)
    expect(main).not_to_contain_text(REQUESTED)


def test_auditor_reads_the_trail_and_reviews_emergency_access_without_case_content(pages, sign_in):
    page = pages.new()
    sign_in(page, AUDITOR)
    assert_no_case_content(page)

    nav(page, "Nhật ký").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Nhật ký kiểm toán")
    page.get_by_label("Hành động").fill("case.break_glass")
    page.get_by_role("button", name="Lọc").click()
    expect(page.locator("main")).to_contain_text("1 bản ghi")
    rows = page.locator("main tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("canbo.an")
    assert_no_case_content(page)

    # The case's own access history: everything recorded against it, and only that.
    rows.first.get_by_title("Ai đã truy cập đối tượng này").click()
    expect(page.get_by_label("Loại đối tượng")).to_have_value("case")
    case_id = page.get_by_label("Đối tượng", exact=True).input_value()
    history = page.locator("main tbody tr")
    expect(history.filter(has_text="case.create")).to_have_count(1)
    expect(history.filter(has_text="case.break_glass")).to_have_count(1)
    reference = re.search(r"Lịch sử truy cập: Hồ sơ (\S+)", page.locator("main").inner_text()).group(1)
    assert history.count() == history.filter(has_text=f"Hồ sơ {reference}").count()
    assert_no_case_content(page)

    nav(page, "Truy cập khẩn cấp").click()
    row = page.get_by_role("row").filter(has_text="Nguyễn Văn An")
    expect(row).to_contain_text("Đồng chí Bình nghỉ ốm")
    assert_no_case_content(page)
    row.get_by_role("button", name="Có lý do chính đáng").click()
    expect(page.locator("main")).to_contain_text("Không có lượt truy cập khẩn cấp nào cần đánh giá.")
    page.get_by_role("link", name="Tất cả").click()
    expect(page.get_by_role("row").filter(has_text="Nguyễn Văn An")).to_contain_text("Có lý do chính đáng")
    assert_no_case_content(page)

    # The case itself stays closed to an auditor.
    pages.allow_console(r"status of 40[34]")
    response = page.goto(f"/cases/{case_id}")
    assert response.status in (403, 404)
    assert_no_case_content(page)
    expect(nav(page, "Công việc")).to_have_count(0)


def test_admin_creates_a_user_who_must_choose_a_strong_password(pages, sign_in):
    page = pages.new()
    sign_in(page, ADMIN)
    expect(nav(page, "Công việc")).to_have_count(0)
    nav(page, "Người dùng").click()
    expect(page.get_by_role("row").filter(has_text="lanhdao.minh")).to_contain_text("Lãnh đạo phê duyệt")
    assert_no_case_content(page)

    page.get_by_role("link", name="Thêm người dùng").click()
    page.get_by_label("Tên đăng nhập").fill("canbo.an")  # taken: refused beside the field
    page.get_by_label("Họ và tên").fill("Lê Thị Thanh Tâm")
    page.get_by_label("Đơn vị").select_option(value="BTCTU")
    page.get_by_label("Vai trò").select_option(value="officer")
    page.get_by_label("Mức tiếp cận bí mật").select_option(value="confidential")
    page.get_by_role("button", name="Lưu").click()
    username = page.get_by_label("Tên đăng nhập")
    expect(username).to_have_attribute("aria-invalid", "true")
    expect(username).to_have_accessible_description(re.compile("Tên đăng nhập đã được dùng"))
    expect(page.get_by_label("Họ và tên")).to_have_value("Lê Thị Thanh Tâm")

    username.fill("canbo.tam")
    page.get_by_role("button", name="Lưu").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Đã tạo tài khoản canbo.tam")
    temporary = page.locator(".hoso-temp-password").inner_text().strip()
    assert len(temporary) >= 12
    assert_no_case_content(page)

    # The new officer signs in with it and has to choose a password: a weak one is refused.
    desk = pages.new()
    desk.goto("/login")
    desk.get_by_label("Tên đăng nhập").fill("canbo.tam")
    desk.get_by_label("Mật khẩu").fill(temporary)
    desk.get_by_role("button", name="Đăng nhập").click()
    expect(desk.get_by_role("heading", level=1)).to_have_text("Đổi mật khẩu")
    desk.get_by_label("Mật khẩu hiện tại").fill(temporary)
    desk.get_by_label("Mật khẩu mới", exact=True).fill("matkhau123456")
    desk.get_by_label("Nhập lại mật khẩu mới").fill("matkhau123456")
    desk.get_by_role("button", name="Đổi mật khẩu").click()
    new_password = desk.get_by_label("Mật khẩu mới", exact=True)
    expect(new_password).to_have_attribute("aria-invalid", "true")
    expect(new_password).to_have_accessible_description(re.compile("Mật khẩu quá dễ đoán"))

    strong = "Sông-Mã-chảy-qua-Bá-Thước-1987"
    desk.get_by_label("Mật khẩu hiện tại").fill(temporary)
    new_password.fill(strong)
    desk.get_by_label("Nhập lại mật khẩu mới").fill(strong)
    desk.get_by_role("button", name="Đổi mật khẩu").click()
    expect(desk.get_by_role("heading", level=1)).to_have_text("Xin chào, Lê Thị Thanh Tâm")


def test_sign_in_by_keyboard_alone(pages):
    page = pages.new()
    page.goto("/login")

    def focused() -> str:
        return page.evaluate("document.activeElement.id || document.activeElement.name || document.activeElement.tagName")

    # The page opens in the username field; Tab walks the form in reading order.
    assert focused() == "username"
    page.keyboard.type(OFFICER)
    page.keyboard.press("Tab")
    assert focused() == "password"
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Tab")
    assert focused() == "submit"
    expect(page.locator(":focus")).to_have_value("Đăng nhập")
    # Enter in the password field submits, as people expect.
    page.keyboard.press("Shift+Tab")
    assert focused() == "password"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Xin chào, Nguyễn Văn An")
