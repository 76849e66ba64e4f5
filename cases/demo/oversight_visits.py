"""The demo's inspection visits (issue 24 A.2): the provincial organisation committee (BTCTU,
lanhdao.minh) inspected the district of Sơn Hà (HU-SONHA) twice. The first visit is closed:
one recommendation accepted after the district's report, one waived. The second is open:
one recommendation overdue, one reported by canbo.son and waiting for the province, one not
yet due. Worked through the same operations as the pages, so the trail and the
notifications are as they would be. Run once: a one-time token marks it done, like the
campaign seeder.
"""

from __future__ import annotations

import io
from datetime import timedelta

from cases.casework import operations
from cases.demo.seed import _Cast
from cases.oversight import visits
from cases.oversight.visits import RecommendationData, Upload, VisitData
from protection.accounts import find_unit
from protection.db import db

DONE_MARK = "demo-oversight-visits:hu-sonha"  # the FormSubmission token that says it ran
TEAM = "Đồng chí Phạm Quang Minh (Trưởng đoàn), đồng chí Vũ Anh Tuấn và một chuyên viên Ban Tổ chức Tỉnh ủy"
# A minimal PDF: the report's file (the content checks take it as a PDF).
REPORT_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def seed_demo_oversight_visits() -> list[str]:
    cast = _Cast()
    if cast.missing:
        return [f"Demo inspection visits: skipped (no demo account {', '.join(cast.missing)})."]
    if operations.earlier_submission(DONE_MARK, cast.minh) is not None:
        return ["Demo inspection visits: already there."]
    district = find_unit("HU-SONHA")
    today = operations.today()

    closed = visits.create_visit(VisitData(
        district.id, today - timedelta(days=90), TEAM,
        "Kiểm tra việc thẩm định tiêu chuẩn chính trị cán bộ diện Ban Thường vụ Huyện ủy quản lý năm 2025",
        "Hồ sơ thẩm định đầy đủ; hai hồ sơ chậm cập nhật bản tự khai lý lịch bổ sung.", "confidential"), by=cast.minh)
    first = visits.add_recommendation(closed, RecommendationData(
        "Cập nhật bản tự khai lý lịch bổ sung cho hai hồ sơ còn thiếu.", today - timedelta(days=60), district.id),
        by=cast.minh)
    second = visits.add_recommendation(closed, RecommendationData(
        "Lập sổ theo dõi riêng hồ sơ thẩm định theo mẫu cũ.", today - timedelta(days=45), district.id), by=cast.minh)
    visits.report(first, "Đã bổ sung bản tự khai lý lịch cho hai hồ sơ; biên bản kèm theo.",
                  [Upload(io.BytesIO(REPORT_PDF), "bien-ban-bo-sung-ly-lich.pdf")], by=cast.son)
    visits.accept(first, "Đã kiểm tra lại, đạt yêu cầu.", by=cast.minh)
    visits.waive(second, "Mẫu sổ cũ đã được thay bằng phần mềm Hoso; không cần lập sổ riêng.", by=cast.minh)
    visits.close_visit(closed, by=cast.minh)

    visit = visits.create_visit(VisitData(
        district.id, today - timedelta(days=20), TEAM,
        "Kiểm tra chuyên đề công tác giải quyết đơn thư liên quan đến bảo vệ chính trị nội bộ",
        "Một số đơn chưa được vào sổ trong ngày nhận; chưa có quy trình bảo mật danh tính người tố cáo.",
        "confidential"), by=cast.minh)
    visits.add_recommendation(visit, RecommendationData(
        "Vào sổ mọi đơn thư trong ngày nhận, kể cả đơn không ký tên.", today - timedelta(days=5), district.id),
        by=cast.minh)  # overdue
    reported = visits.add_recommendation(visit, RecommendationData(
        "Ban hành quy trình bảo mật danh tính người tố cáo.", today + timedelta(days=15), district.id), by=cast.minh)
    visits.add_recommendation(visit, RecommendationData(
        "Tập huấn nghiệp vụ giải quyết đơn thư cho cán bộ các chi bộ.", today + timedelta(days=40), district.id),
        by=cast.minh)
    visits.report(reported, "Đã dự thảo quy trình, trình Thường trực Huyện ủy ký ban hành.",
                  [Upload(io.BytesIO(REPORT_PDF), "du-thao-quy-trinh.pdf")], by=cast.son)
    operations.remember_submission(DONE_MARK, cast.minh, "inspection_visit", visit.id)
    db.session.flush()
    return ["Demo inspection visits: 2 visits to HU-SONHA (one closed, one open with 3 recommendations)."]
