"""Fictional dossiers and case work for the demo organisation (`flask --app app demo`).

Every person, place, unit, petition and finding below is invented. The case work goes
through the services (open_review, transition, add_finding, receive_petition, decide,
send_request ... approve) with the demo accounts of protection/demo.py as the actors,
so the timeline, the audit trail, the document numbers and the signatures are real.

Two liberties, because the demo is fiction with a history:
- the services date everything today; to show overdue work and an expired conclusion the
  seeder then moves plain dates (opened_on, due_on, received/decided dates) into the past
  before the transaction commits;
- approval needs the supervisor to re-enter a password or a TOTP code; the seeder checks
  approves through conclusions.approve_unattended (four eyes, no prompt; command line
  only), backdating one approval so its validity has expired.

Idempotent like the dossiers: each scenario leaves a one-time token (the double-submit
guard's FormSubmission row), and a scenario whose token exists is skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from flask import current_app

from cases import deadlines, workflow
from cases.access.operations import break_glass
from cases.casework import operations
from cases.casework.operations import FindingData
from cases.conclusions import operations as conclusions
from cases.conclusions.operations import ConclusionData
from cases.coordination import operations as coordination
from cases.coordination.operations import RequestData
from cases.models import Case, Subject
from cases.petitions import operations as petitions
from cases.petitions import releases
from cases.petitions.operations import Decision, PetitionData
from cases.reviews import operations as reviews
from cases.reviews.operations import ReviewData
from cases.subjects import operations as subjects
from cases.subjects.operations import RelativeData, SubjectData
from protection.accounts import find_unit, find_user
from protection.db import db
from protection.identity import User

DEMO_SUBJECTS = (
    ("BTCTU", SubjectData("Trần Văn Hòa", date(1978, 3, 14), "038078001234", sex="male", native_place="Xã Đông Sơn",
                          current_unit="Sở Kế hoạch và Đầu tư", position="Phó Giám đốc", ethnicity="Kinh",
                          party_admission_date=date(2004, 5, 19), party_official_date=date(2005, 5, 19)),
     (RelativeData("father", "Trần Văn Quý", 1950, "Xã Đông Sơn", "Nghỉ hưu", True),
      RelativeData("mother", "Lê Thị Thơm", 1953, "Xã Đông Sơn", "Làm ruộng", False),
      RelativeData("spouse", "Nguyễn Thị Huệ", 1981, "Phường Bắc Sơn", "Giáo viên", True))),
    ("BTCTU", SubjectData("Lê Thị Mai", date(1985, 11, 2), "038185004567", sex="female", native_place="Xã Hải Hà",
                          current_unit="Báo tỉnh", position="Trưởng phòng", ethnicity="Kinh"),
     (RelativeData("father", "Lê Văn Tâm", 1958, "Xã Hải Hà", "Ngư dân", False),)),
    ("BTCTU", SubjectData("Phạm Đức Long", date(1990, 7, 21), "038090007890", sex="male", native_place="Xã Yên Lạc",
                          current_unit="Huyện đoàn Sơn Hà", position="Bí thư", ethnicity="Mường",
                          party_admission_date=date(2012, 9, 2), party_official_date=date(2013, 9, 2)),
     ()),
    ("HU-SONHA", SubjectData("Đinh Văn Tú", date(1982, 1, 9), "038082002468", sex="male", native_place="Xã Sơn Thủy",
                             current_unit="UBND xã Sơn Thủy", position="Chủ tịch", ethnicity="Thái"),
     (RelativeData("spouse", "Lò Thị Én", 1984, "Xã Sơn Thủy", "Làm nương", False),)),
)

# More people, for the case work below (reviews in every state need one person each).
DEMO_CASE_SUBJECTS = (
    ("BTCTU", SubjectData("Nguyễn Thị Thu Trang", date(1987, 4, 30), "038187011223", sex="female",
                          native_place="Xã Quảng Phú", current_unit="Sở Tài chính", position="Trưởng phòng Ngân sách",
                          ethnicity="Kinh", party_admission_date=date(2011, 3, 26),
                          party_official_date=date(2012, 3, 26)),
     (RelativeData("father", "Nguyễn Văn Lộc", 1960, "Xã Quảng Phú", "Cựu chiến binh", True),
      RelativeData("spouse", "Đỗ Mạnh Cường", 1985, "Phường Đông Vệ", "Kỹ sư xây dựng", False))),
    ("BTCTU", SubjectData("Hoàng Minh Đức", date(1993, 9, 12), "038093015678", sex="male", native_place="Xã Thiệu Giao",
                          current_unit="Trường Chính trị tỉnh", position="Giảng viên", ethnicity="Kinh",
                          party_admission_date=date(2016, 12, 22), party_official_date=date(2017, 12, 22)),
     (RelativeData("father", "Hoàng Văn Bảy", 1962, "Xã Thiệu Giao", "Buôn bán", False),
      RelativeData("sibling", "Hoàng Thị Duyên", 1996, "Đài Trung, Đài Loan (Trung Quốc)", "Lao động hợp đồng",
                   False))),
    ("BTCTU", SubjectData("Vũ Thị Hạnh", date(1996, 2, 8), "038196020304", sex="female", native_place="Xã Nga Điền",
                          current_unit="Bệnh viện Đa khoa tỉnh", position="Điều dưỡng", ethnicity="Kinh",
                          religion="Công giáo"),
     (RelativeData("father", "Vũ Văn Thuận", 1968, "Xã Nga Điền", "Làm ruộng", False),
      RelativeData("mother", "Phạm Thị Liên", 1970, "Xã Nga Điền", "Làm ruộng", False),
      RelativeData("paternal_grandfather", "Vũ Văn Cẩn", 1938, "Xã Nga Điền", "Đã mất", False))),
    ("BTCTU", SubjectData("Bùi Quang Vinh", date(1975, 6, 19), "038075030405", sex="male", native_place="Xã Cẩm Tú",
                          current_unit="Huyện ủy Cẩm Lương", position="Phó Bí thư", ethnicity="Mường",
                          party_admission_date=date(1999, 2, 3), party_official_date=date(2000, 2, 3)),
     (RelativeData("spouse", "Quách Thị Nhung", 1978, "Thị trấn Cẩm Lương", "Kế toán", True),
      RelativeData("child", "Bùi Quang Huy", 2002, "Hà Nội", "Sinh viên", False))),
    ("BTCTU", SubjectData("Đào Văn Khải", date(1981, 12, 1), "038081040506", sex="male", native_place="Xã Hoằng Lộc",
                          current_unit="Công ty Cổ phần Xi măng Lam Sơn", position="Chủ tịch Công đoàn",
                          ethnicity="Kinh", party_admission_date=date(2008, 8, 19),
                          party_official_date=date(2009, 8, 19)),
     (RelativeData("father", "Đào Văn Mùi", 1955, "Xã Hoằng Lộc", "Nghỉ hưu", True),
      RelativeData("sibling", "Đào Văn Khiêm", 1984, "Xã Hoằng Lộc", "Chủ doanh nghiệp vận tải", False))),
    ("BTCTU", SubjectData("Lương Thị Ngọc", date(1991, 3, 3), "038191050607", sex="female", native_place="Xã Xuân Hòa",
                          current_unit="Sở Ngoại vụ", position="Chuyên viên", ethnicity="Tày",
                          party_admission_date=date(2015, 5, 19), party_official_date=date(2016, 5, 19)),
     (RelativeData("spouse", "Trịnh Văn Hưng", 1989, "Phường Điện Biên", "Bộ đội", True),)),
    ("HU-SONHA", SubjectData("Hà Văn Thắng", date(1994, 10, 25), "038094060708", sex="male",
                             native_place="Xã Sơn Điện", current_unit="Trường THCS Sơn Điện", position="Giáo viên",
                             ethnicity="Thái"),
     (RelativeData("father", "Hà Văn Pấng", 1966, "Xã Sơn Điện", "Làm nương", False),)),
    # The districts' people of the unit board's work (cases/demo/board.py).
    ("TU-BINHMINH", SubjectData("Tạ Văn Khánh", date(1980, 8, 17), "038080090123", sex="male",
                                native_place="Phường Bình Minh", current_unit="UBND phường Bình Minh",
                                position="Phó Chủ tịch", ethnicity="Kinh"), ()),
    ("TU-BINHMINH", SubjectData("Kiều Thị Loan", date(1988, 5, 6), "038188091234", sex="female",
                                native_place="Xã Minh Tân", current_unit="Thị đoàn Bình Minh", position="Bí thư",
                                ethnicity="Kinh"), ()),
    ("HU-SONHA", SubjectData("Lò Văn Pha", date(1985, 12, 20), "038085092345", sex="male", native_place="Xã Sơn Lư",
                             current_unit="UBND xã Sơn Lư", position="Chủ tịch", ethnicity="Thái"), ()),
)


def seed_demo_subjects() -> list[str]:
    """The cases package's demo seeder: the dossiers, then the case work built on them."""
    created = 0
    everyone = DEMO_SUBJECTS + DEMO_CASE_SUBJECTS
    for unit_code, data, relatives in everyone:
        unit = find_unit(unit_code)
        if unit is None or subjects.find_in_unit(data.id_number, unit.id) is not None:
            continue
        subject = subjects.create_subject(data, owner_unit=unit, by=None)
        for relative in relatives:
            subjects.add_relative(subject, relative, by=None)
        created += 1
    lines = [f"Demo dossiers: {created} created, {len(everyone) - created} already there."]
    return lines + seed_demo_case_work()


# --- case work ------------------------------------------------------------------------------

SCENARIO_MARK = "demo-case-work:"  # the FormSubmission token prefix of each scenario


class _Cast:
    """The demo accounts, by the part they play."""

    def __init__(self) -> None:
        names = {"an": "canbo.an", "binh": "canbo.binh", "son": "canbo.son", "minh": "lanhdao.minh",
                 "lan": "lanhdao.lan", "ubkt": "phoihop.ubkt", "congan": "phoihop.congan",
                 "quansu": "phoihop.quansu"}
        self.users: dict[str, User | None] = {key: find_user(name) for key, name in names.items()}
        self.missing = [names[key] for key, user in self.users.items() if user is None]

    def __getattr__(self, key: str) -> User:
        return self.__dict__["users"][key]


def _days_ago(days: int) -> date:
    return operations.today() - timedelta(days=days)


def _moment(day: date, hour: int = 9) -> datetime:
    # 09:00 in Vietnam (UTC+7), as an aware UTC datetime
    return datetime.combine(day, time(hour)).replace(tzinfo=UTC) - timedelta(hours=7)


def _subject(id_number: str, unit_code: str) -> Subject:
    unit = find_unit(unit_code)
    found = subjects.find_in_unit(id_number, unit.id)
    if found is None:
        raise LookupError(f"demo subject {id_number} missing in {unit_code}")
    return found


def _relative(subject: Subject, relation: str) -> str:
    return str(next(item.id for item in subject.relatives if item.relation == relation))


def _backdate(case: Case, opened_days_ago: int, due_in_days: int | None = None) -> None:
    """Fiction's history: the case was opened earlier (and so falls due earlier)."""
    case.opened_on = case.deadline_start = _days_ago(opened_days_ago)
    if due_in_days is not None:
        case.due_on = operations.today() + timedelta(days=due_in_days)


def _walk(case: Case, actions: tuple[str, ...], by: User) -> None:
    for action in actions:
        operations.transition(case, action, by=by)


def _approve(case: Case, by: User, at: datetime | None = None) -> None:
    """Approval as conclusions.approve() gives it, minus the password prompt: the same four
    eyes check, then the same numbering, validity, signature and transition."""
    if at is not None:
        conclusions.current(case).submitted_at = at - timedelta(days=3)
    conclusions.approve_unattended(case, by=by, at=at)


def _conclude(case: Case, data: ConclusionData, author: User, approver: User | None = None, *,
              at: datetime | None = None) -> None:
    conclusions.save_draft(case, data, by=author)
    if approver is not None:
        conclusions.submit(case, by=author)
        _approve(case, approver, at=at)


# Review scenarios ----------------------------------------------------------------------------

def review_expired(cast: _Cast) -> Case:
    """Approved long ago; its validity has run out, so the subject needs re-review."""
    hoa = _subject("038078001234", "BTCTU")
    case = reviews.open_review(ReviewData(
        hoa.id, "cadre_planning", "confidential", "Thẩm định tiêu chuẩn chính trị quy hoạch Giám đốc Sở",
        "Rà soát lý lịch phục vụ quy hoạch chức danh Giám đốc Sở Kế hoạch và Đầu tư nhiệm kỳ 2025-2030."),
        by=cast.an)
    _walk(case, ("start_examination", "start_appraisal"), cast.an)
    operations.add_finding(case, FindingData(
        "subject", "political_history",
        "Lý lịch khai đầy đủ, trung thực; quá trình công tác liên tục tại các cơ quan nhà nước, "
        "không có thời gian gián đoạn chưa giải trình.", "confidential", "Hồ sơ đảng viên lưu tại Ban Tổ chức",
        _days_ago(300)), by=cast.an)
    operations.add_finding(case, FindingData(
        _relative(hoa, "father"), "political_history",
        "Thân phụ tham gia dân quân du kích xã Đông Sơn 1968-1972, được tặng Huân chương Kháng chiến hạng Ba.",
        "unclassified", "Xác nhận của Đảng ủy xã Đông Sơn", _days_ago(295)), by=cast.an)
    operations.transition(case, "start_conclusion", by=cast.an)
    validity = current_app.config["HOSO_CONCLUSION_VALIDITY_MONTHS"]
    approved_on = workflow.add_months(operations.today(), -(validity + 3))
    _conclude(case, ConclusionData(
        "no_issue", "Đồng chí Trần Văn Hòa có lịch sử chính trị rõ ràng; bản thân và gia đình chấp hành tốt "
        "chủ trương của Đảng, chính sách, pháp luật của Nhà nước. Đủ tiêu chuẩn chính trị để đưa vào quy hoạch."),
        cast.an, cast.minh, at=_moment(approved_on, 15))
    case.opened_on = case.deadline_start = approved_on - timedelta(days=40)
    case.due_on = case.opened_on + timedelta(days=30)
    case.closed_on = approved_on
    return case


def review_re_review(cast: _Cast) -> Case:
    """A fresh review of the same person, opened because the last conclusion expired."""
    hoa = _subject("038078001234", "BTCTU")
    case = reviews.open_review(ReviewData(
        hoa.id, "appointment", "confidential", "Thẩm định lại tiêu chuẩn chính trị trước khi bổ nhiệm",
        "Kết luận năm trước đã hết hiệu lực; thẩm định lại phục vụ bổ nhiệm Giám đốc Sở Kế hoạch và Đầu tư."),
        by=cast.an)
    _backdate(case, 3, due_in_days=27)
    operations.add_comment(case, "Đề nghị đối chiếu bản tự khai mới với hồ sơ năm trước, lưu ý phần quan hệ "
                                 "của vợ.", by=cast.minh)
    return case


def review_examination_overdue(cast: _Cast) -> Case:
    """A district review, past its due date, assigned to the district's officer."""
    tu = _subject("038082002468", "HU-SONHA")
    case = reviews.open_review(ReviewData(
        tu.id, "election", "unclassified", "Thẩm định nhân sự ứng cử Ban Chấp hành Đảng bộ huyện",
        "Nhân sự dự kiến giới thiệu ứng cử Ban Chấp hành Đảng bộ huyện Sơn Hà nhiệm kỳ tới."), by=cast.son)
    operations.transition(case, "start_examination", by=cast.son)
    _backdate(case, 42, due_in_days=-12)
    operations.add_finding(case, FindingData(
        _relative(tu, "spouse"), "other",
        "Vợ là hộ nghèo giai đoạn 2016-2018, nay đã thoát nghèo; không có vi phạm.", "unclassified",
        "UBND xã Sơn Thủy", _days_ago(20)), by=cast.son)
    operations.add_comment(case, "Hồ sơ đã quá hạn; đề nghị đồng chí Sơn hoàn thiện phiếu thẩm tra trong tuần.",
                           by=cast.lan)
    return case


def review_records_district(cast: _Cast) -> Case:
    thang = _subject("038094060708", "HU-SONHA")
    case = reviews.open_review(ReviewData(
        thang.id, "party_admission", "unclassified", "Thẩm tra lý lịch người xin vào Đảng",
        "Quần chúng ưu tú do Chi bộ Trường THCS Sơn Điện giới thiệu."), by=cast.son)
    _backdate(case, 1, due_in_days=29)
    return case


def review_verification(cast: _Cast) -> Case:
    """Verification under way: one request sent (overdue), one acknowledged."""
    mai = _subject("038185004567", "BTCTU")
    case = reviews.open_review(ReviewData(
        mai.id, "party_admission", "confidential", "Thẩm tra lý lịch kết nạp Đảng",
        "Quần chúng Lê Thị Mai, Trưởng phòng Báo tỉnh, được Chi bộ Báo tỉnh đề nghị kết nạp."), by=cast.an)
    _walk(case, ("start_examination", "start_verification"), cast.an)
    _backdate(case, 35, due_in_days=-5)
    shared = operations.add_finding(case, FindingData(
        _relative(mai, "father"), "current_political_issue",
        "Theo phản ánh của chi bộ thôn, thân phụ từng tham gia nhóm ngư dân khiếu kiện đông người về đền bù "
        "năm 2019; cần xác minh mức độ tham gia.", "confidential", "Chi bộ thôn Hải Thành", _days_ago(30)),
        by=cast.an)
    sent = coordination.send_request(case, RequestData(
        find_unit("DUCA").id, "Đề nghị cho biết ông Lê Văn Tâm (sinh 1958, xã Hải Hà) có liên quan đến vụ "
                              "tụ tập đông người năm 2019 hay không, mức độ và đã xử lý thế nào.",
        operations.today() + timedelta(days=10), ["full_name", "date_of_birth", "native_place"], [shared.id],
        relative_ids=[uuid.UUID(_relative(mai, "father"))], relative_fields=["birth_year", "residence"]),
        by=cast.an)
    sent.sent_on, sent.due_on = _days_ago(25), _days_ago(4)  # overdue, not yet acknowledged
    acknowledged = coordination.send_request(case, RequestData(
        find_unit("UBKTTU").id, "Đề nghị cho biết Ủy ban Kiểm tra có đang giải quyết đơn thư nào liên quan đến "
                                "quần chúng Lê Thị Mai không.", operations.today() + timedelta(days=12),
        ["full_name", "current_unit", "position"]), by=cast.an)
    coordination.acknowledge(acknowledged, by=cast.ubkt)
    acknowledged.sent_on = _days_ago(3)
    return case


def review_verification_answers(cast: _Cast) -> Case:
    """Verification with an answer to read and one where more was asked for."""
    khai = _subject("038081040506", "BTCTU")
    case = reviews.open_review(ReviewData(
        khai.id, "election", "confidential", "Thẩm định nhân sự ứng cử Ban Chấp hành Công đoàn tỉnh",
        "Giới thiệu ứng cử Ban Chấp hành Liên đoàn Lao động tỉnh khóa mới."), by=cast.an)
    operations.assign(case, cast.binh, by=cast.minh)
    _walk(case, ("start_examination", "start_verification"), cast.an)
    _backdate(case, 20, due_in_days=10)
    answered = coordination.send_request(case, RequestData(
        find_unit("DUCA").id, "Đề nghị xác minh doanh nghiệp vận tải của ông Đào Văn Khiêm (em ruột) có vi phạm "
                              "pháp luật đang bị điều tra hay không.", operations.today() + timedelta(days=7),
        ["full_name", "native_place"], relative_ids=[uuid.UUID(_relative(khai, "sibling"))],
        relative_fields=["birth_year", "residence", "occupation"]), by=cast.an)
    coordination.acknowledge(answered, by=cast.congan)
    coordination.log_body_finding(answered, FindingData(
        _relative(khai, "sibling"), "other", "Doanh nghiệp của em ruột bị xử phạt hành chính năm 2022 về tải trọng xe, đã chấp hành; "
                            "không có dấu hiệu hình sự.", "confidential", "Phòng Cảnh sát giao thông",
        _days_ago(6)), by=cast.congan)
    coordination.answer(answered, "Qua xác minh, không phát hiện đương sự và gia đình có liên quan đến hoạt động "
                                  "vi phạm pháp luật đang điều tra. Kèm kết quả tra cứu.", by=cast.congan)
    more = coordination.send_request(case, RequestData(
        find_unit("DUQS").id, "Đề nghị xác nhận quá trình phục vụ trong quân đội của ông Đào Văn Khải "
                              "(2000-2003).", operations.today() + timedelta(days=7),
        ["full_name", "date_of_birth", "id_number"]), by=cast.an)
    coordination.acknowledge(more, by=cast.quansu)
    coordination.answer(more, "Đương sự phục vụ tại Trung đoàn 762 từ 02/2000 đến 02/2003.", by=cast.quansu)
    coordination.request_more(more, "Đề nghị bổ sung hình thức ra quân và nhận xét của đơn vị khi ra quân.",
                              by=cast.an)
    more.due_on = _days_ago(2)  # the follow-up is overdue on both sides
    operations.add_comment(case, "Đồng chí Bình tổng hợp trả lời của Công an, trình tôi trước thứ Sáu.",
                           by=cast.an)
    return case


def review_examination(cast: _Cast) -> Case:
    ngoc = _subject("038191050607", "BTCTU")
    case = reviews.open_review(ReviewData(
        ngoc.id, "abroad", "unclassified", "Thẩm định tiêu chuẩn chính trị đi công tác nước ngoài",
        "Cử đi học tập kinh nghiệm xúc tiến đầu tư tại Nhật Bản 3 tháng."), by=cast.binh)
    operations.transition(case, "start_examination", by=cast.binh)
    _backdate(case, 6, due_in_days=3)  # due soon
    operations.add_finding(case, FindingData(
        "subject", "political_history", "Chưa từng đi nước ngoài; không có thân nhân định cư ở nước ngoài.",
        "unclassified", "Bản tự khai và xác nhận của Sở Ngoại vụ", _days_ago(5)), by=cast.binh)
    return case


def review_break_glass(cast: _Cast) -> Case:
    """A case of canbo.binh that canbo.an opened in an emergency: flagged on the case and
    waiting in the auditors' review queue (/access/break-glass)."""
    ngoc = _subject("038191050607", "BTCTU")
    case = reviews.open_review(ReviewData(
        ngoc.id, "cadre_planning", "unclassified", "Thẩm định quy hoạch Phó Giám đốc Sở Kế hoạch và Đầu tư",
        "Rà soát tiêu chuẩn chính trị trước hội nghị quy hoạch nhiệm kỳ tới."), by=cast.binh)
    _backdate(case, 2, due_in_days=20)
    break_glass(case, "Đồng chí Bình nghỉ ốm; Thường trực cần số liệu cho cuộc họp quy hoạch chiều nay.",
                by=cast.an)
    return case


def review_appraisal(cast: _Cast) -> Case:
    vinh = _subject("038075030405", "BTCTU")
    case = reviews.open_review(ReviewData(
        vinh.id, "appointment", "secret", "Thẩm định nhân sự bổ nhiệm Bí thư Huyện ủy",
        "Nhân sự dự kiến điều động, chỉ định giữ chức Bí thư Huyện ủy Cẩm Lương."), by=cast.an)
    _walk(case, ("start_examination", "start_verification"), cast.an)
    accepted = coordination.send_request(case, RequestData(
        find_unit("UBKTTU").id, "Đề nghị cho biết kết quả kiểm tra Ban Thường vụ Huyện ủy Cẩm Lương năm 2024 có "
                                "nội dung liên quan trách nhiệm của đồng chí Bùi Quang Vinh không.",
        operations.today() + timedelta(days=10), ["full_name", "current_unit", "position"]), by=cast.an)
    coordination.acknowledge(accepted, by=cast.ubkt)
    coordination.log_body_finding(accepted, FindingData(
        "subject", "other", "Thông báo kết luận kiểm tra năm 2024 nêu thiếu sót trong lãnh đạo đầu tư công thuộc "
                            "trách nhiệm tập thể; không kết luận vi phạm của cá nhân đồng chí Vinh.", "secret",
        "Thông báo kết luận số 17-TB/UBKTTU (giả định)", _days_ago(12)), by=cast.ubkt)
    coordination.answer(accepted, "Gửi kèm trích thông báo kết luận kiểm tra; không có nội dung vi phạm của cá "
                                  "nhân.", by=cast.ubkt)
    coordination.accept_answer(accepted, by=cast.an)
    accepted.sent_on = _days_ago(20)
    operations.transition(case, "start_appraisal", by=cast.an)
    _backdate(case, 28, due_in_days=2)
    operations.add_finding(case, FindingData(
        _relative(vinh, "child"), "current_political_issue",
        "Con trai là sinh viên, có tham gia một nhóm mạng xã hội chia sẻ bài viết xuyên tạc; đã được nhà trường "
        "nhắc nhở, rời nhóm năm 2023.", "secret", "Đảng ủy Công an tỉnh (trao đổi nghiệp vụ)", _days_ago(15)),
        by=cast.an)
    return case


def review_concluding(cast: _Cast) -> Case:
    long_ = _subject("038090007890", "BTCTU")
    case = reviews.open_review(ReviewData(
        long_.id, "cadre_planning", "unclassified", "Thẩm định quy hoạch Ban Thường vụ Tỉnh đoàn",
        "Quy hoạch Ủy viên Ban Thường vụ Tỉnh đoàn nhiệm kỳ 2027-2032."), by=cast.an)
    _walk(case, ("start_examination", "start_appraisal", "start_conclusion"), cast.an)
    _backdate(case, 25, due_in_days=5)
    operations.add_finding(case, FindingData(
        "subject", "political_history", "Kết nạp Đảng khi là sinh viên; các năm đều hoàn thành tốt nhiệm vụ.",
        "unclassified", "Hồ sơ đảng viên", _days_ago(20)), by=cast.an)
    conclusions.save_draft(case, ConclusionData(
        "no_issue", "Dự thảo: lịch sử chính trị rõ ràng; chưa phát hiện vấn đề chính trị hiện nay. Đề nghị "
                    "Thường trực xem xét đưa vào quy hoạch."), by=cast.an)
    return case


def review_submitted(cast: _Cast) -> Case:
    trang = _subject("038187011223", "BTCTU")
    case = reviews.open_review(ReviewData(
        trang.id, "appointment", "confidential", "Thẩm định nhân sự bổ nhiệm Phó Giám đốc Sở Tài chính",
        "Đề nghị của Đảng ủy Sở Tài chính về bổ nhiệm Phó Giám đốc."), by=cast.an)
    _walk(case, ("start_examination", "start_appraisal"), cast.an)
    operations.add_finding(case, FindingData(
        _relative(trang, "spouse"), "other", "Chồng là cổ đông nhỏ (2%) của công ty xây dựng có hợp đồng với Sở "
                                             "năm 2021; đã kê khai.", "confidential", "Bản kê khai tài sản, thu nhập",
        _days_ago(14)), by=cast.an)
    operations.transition(case, "start_conclusion", by=cast.an)
    conclusions.save_draft(case, ConclusionData(
        "issue_not_affecting", "Có vấn đề chính trị không ảnh hưởng tiêu chuẩn: quan hệ kinh tế của chồng đã "
                               "được kê khai đầy đủ, không có xung đột lợi ích trong thời gian giữ chức vụ."),
        by=cast.an)
    conclusions.submit(case, by=cast.an)
    _backdate(case, 24, due_in_days=6)
    return case


def review_returned(cast: _Cast) -> Case:
    hanh = _subject("038196020304", "BTCTU")
    case = reviews.open_review(ReviewData(
        hanh.id, "party_admission", "unclassified", "Thẩm tra lý lịch kết nạp Đảng",
        "Quần chúng ưu tú do Chi bộ Khoa Nội, Bệnh viện Đa khoa tỉnh giới thiệu."), by=cast.binh)
    _walk(case, ("start_examination", "start_appraisal"), cast.binh)
    operations.add_finding(case, FindingData(
        _relative(hanh, "paternal_grandfather"), "political_history",
        "Ông nội từng làm lý trưởng dưới chế độ cũ (1950-1954); sau 1954 ở lại địa phương, không có hoạt động "
        "chống đối.", "unclassified", "Hồ sơ lưu trữ huyện Nga Sơn", _days_ago(18)), by=cast.binh)
    operations.transition(case, "start_conclusion", by=cast.binh)
    conclusions.save_draft(case, ConclusionData(
        "issue_not_affecting", "Ông nội có thời gian làm việc cho chế độ cũ nhưng không có nợ máu; không ảnh "
                               "hưởng tiêu chuẩn kết nạp.", admission_eligible=True), by=cast.binh)
    conclusions.submit(case, by=cast.binh)
    conclusions.return_for_revision(
        case, "Đề nghị bổ sung xác nhận của Đảng ủy xã Nga Điền về thân nhân bên ngoại trước khi trình lại; "
              "nêu rõ căn cứ Quy định 58-QĐ/TW.", by=cast.minh)
    _backdate(case, 33, due_in_days=-3)
    return case


def review_closed(cast: _Cast) -> Case:
    duc = _subject("038093015678", "BTCTU")
    case = reviews.open_review(ReviewData(
        duc.id, "abroad", "confidential", "Thẩm định cử đi học thạc sĩ ở nước ngoài",
        "Cử đi học thạc sĩ chính sách công tại Úc theo Đề án 89."), by=cast.an)
    _walk(case, ("start_examination", "start_verification"), cast.an)
    request_ = coordination.send_request(case, RequestData(
        find_unit("DUCA").id, "Đề nghị cho biết em gái Hoàng Thị Duyên (sinh 1996) đi lao động tại Đài Loan có "
                              "vi phạm pháp luật hoặc liên quan tổ chức phản động không.",
        operations.today() + timedelta(days=15), ["full_name", "native_place"]), by=cast.an)
    coordination.acknowledge(request_, by=cast.congan)
    coordination.log_body_finding(request_, FindingData(
        "subject", "political_history", "Em gái xuất cảnh hợp pháp theo hợp đồng lao động năm 2019; không có "
                                        "thông tin vi phạm hoặc liên hệ tổ chức phản động.", "confidential",
        "Phòng Quản lý xuất nhập cảnh", _days_ago(30)), by=cast.congan)
    coordination.answer(request_, "Không có thông tin bất lợi về thân nhân.", by=cast.congan)
    coordination.accept_answer(request_, by=cast.an)
    request_.sent_on = _days_ago(40)
    operations.transition(case, "start_appraisal", by=cast.an)
    operations.add_finding(case, FindingData(
        _relative(duc, "sibling"), "other", "Em gái lao động có thời hạn ở nước ngoài, thường xuyên liên lạc "
                                            "với gia đình, chấp hành tốt pháp luật nước sở tại.", "unclassified",
        "Xác nhận của gia đình và UBND xã Thiệu Giao", _days_ago(25)), by=cast.an)
    operations.transition(case, "start_conclusion", by=cast.an)
    _conclude(case, ConclusionData(
        "issue_not_affecting", "Có thân nhân lao động ở nước ngoài, đã được xác minh không có vấn đề bất lợi. "
                               "Đủ tiêu chuẩn chính trị để cử đi học ở nước ngoài."), cast.an, cast.minh)
    operations.add_comment(case, "Kết luận đã phê duyệt; gửi Sở Nội vụ làm thủ tục cử đi học.", by=cast.minh)
    _backdate(case, 45)
    case.due_on = case.opened_on + timedelta(days=30)
    return case


# Petition scenarios ----------------------------------------------------------------------------

def _petition(cast: _Cast, by: User, *, days_ago: int, channel: str, kind: str, summary: str, title: str,
              classification: str = "confidential", petitioner: tuple[str, str, str] | None = None,
              subject_ids: tuple[uuid.UUID, ...] = (), named: tuple[str, ...] = (),
              repeat_of: str | None = None) -> Case:
    name, address, contact = petitioner or (None, None, None)
    case = petitions.receive_petition(PetitionData(
        _days_ago(days_ago), channel, kind, classification, summary, anonymous=petitioner is None,
        petitioner_name=name, petitioner_address=address, petitioner_contact=contact, title=title,
        subject_ids=list(subject_ids), named_people=list(named), repeat_of_reference=repeat_of), by=by)
    case.opened_on = _days_ago(days_ago)
    return case


def _decided_days_ago(case: Case, days: int) -> None:
    """Move an intake decision (and the deadline it started) into the past."""
    case.petition.decided_on = case.deadline_start = _days_ago(days)
    if case.deadline_rule not in (None, "forwarding") and case.state != "monitoring":
        case.due_on = deadlines.due(case.deadline_rule, case.deadline_start, case.extensions)


def petition_received(cast: _Cast) -> Case:
    """Received ten days ago and not yet decided: the 5 working days have run out."""
    return _petition(cast, cast.an, days_ago=10, channel="post", kind="denunciation",
                     title="Đơn tố cáo cán bộ xã nhận tiền hỗ trợ",
                     summary="Tố cáo Phó Chủ tịch UBND xã Đông Sơn nhận tiền của hộ dân khi xét hỗ trợ nhà ở "
                             "năm 2024.", petitioner=("Nguyễn Văn Thành", "Thôn 4, xã Đông Sơn", "0912 000 111"),
                     named=("Lê Đình Phúc, Phó Chủ tịch UBND xã Đông Sơn",))


def petition_accepted(cast: _Cast) -> Case:
    case = _petition(cast, cast.an, days_ago=12, channel="in_person", kind="complaint",
                     title="Đơn khiếu nại kết quả đánh giá cán bộ",
                     summary="Khiếu nại việc bị đánh giá không hoàn thành nhiệm vụ năm 2025 mà không được "
                             "nghe giải trình.", petitioner=("Phạm Thị Lụa", "Phường Ba Đình", "0983 222 333"),
                     named=("Hội đồng đánh giá Sở Văn hóa (giả định)",), classification="unclassified")
    petitions.decide(case, Decision("accept", note="Đơn có họ tên, nội dung rõ, thuộc thẩm quyền; thụ lý "
                                                   "giải quyết."), by=cast.an)
    operations.assign(case, cast.binh, by=cast.minh)
    _decided_days_ago(case, 8)
    return case


def petition_extended(cast: _Cast) -> Case:
    ngoc = _subject("038191050607", "BTCTU")
    case = _petition(cast, cast.an, days_ago=40, channel="electronic", kind="denunciation",
                     title="Đơn tố cáo vi phạm trong tuyển dụng",
                     summary="Tố cáo việc can thiệp để người thân trúng tuyển viên chức Sở Ngoại vụ năm 2025.",
                     petitioner=("Trịnh Quốc Bảo", "Phường Điện Biên", "bao.tq@example.vn"), subject_ids=(ngoc.id,))
    petitions.decide(case, Decision("accept", note="Tố cáo có danh tính, có tài liệu kèm theo; thụ lý."),
                     by=cast.an)
    _decided_days_ago(case, 35)
    petitions.extend_deadline(case, by=cast.an, note="Nội dung phức tạp, cần thêm thời gian làm việc với "
                                                     "Hội đồng tuyển dụng.")
    return case


def petition_overdue(cast: _Cast) -> Case:
    case = _petition(cast, cast.an, days_ago=30, channel="forwarded", kind="reflection",
                     title="Đơn phản ánh thái độ tiếp dân",
                     summary="Phản ánh cán bộ Bộ phận một cửa huyện có thái độ hách dịch khi tiếp công dân.",
                     petitioner=("Lê Thị Sen", "Xã Yên Lạc", "0977 444 555"),
                     named=("Cán bộ Bộ phận một cửa huyện Yên Lạc (chưa rõ tên)",), classification="unclassified")
    petitions.decide(case, Decision("accept", note="Thuộc thẩm quyền; giao xác minh."), by=cast.an)
    _decided_days_ago(case, 25)  # 15 days from acceptance: ten days overdue
    return case


def petition_forwarded(cast: _Cast) -> Case:
    case = _petition(cast, cast.an, days_ago=6, channel="in_person", kind="recommendation",
                     title="Đơn kiến nghị về bồi thường giải phóng mặt bằng",
                     summary="Kiến nghị xem xét lại đơn giá bồi thường đất nông nghiệp dự án khu công nghiệp.",
                     petitioner=("Hoàng Văn Nhất", "Xã Hoằng Lộc", "0904 666 777"),
                     named=("Hội đồng bồi thường huyện Hoằng Hóa",), classification="unclassified")
    petitions.decide(case, Decision("forward", note="Thuộc thẩm quyền giải quyết của Thanh tra tỉnh.",
                                    forwarded_to=find_unit("TTT").id), by=cast.an)
    return case


def petition_monitoring(cast: _Cast) -> Case:
    trang = _subject("038187011223", "BTCTU")
    case = _petition(cast, cast.binh, days_ago=9, channel="post", kind="reflection",
                     title="Đơn không ký tên phản ánh cán bộ Sở Tài chính",
                     summary="Đơn không ký tên phản ánh bà Nguyễn Thị Thu Trang có quan hệ làm ăn với doanh "
                             "nghiệp xây dựng trên địa bàn.", subject_ids=(trang.id,))
    petitions.decide(case, Decision("keep_for_monitoring", note="Đơn không ký tên, nội dung và đối tượng rõ; "
                                                                "lưu để theo dõi khi thẩm định bổ nhiệm."),
                     by=cast.binh)
    return case


def petition_filed(cast: _Cast) -> Case:
    case = _petition(cast, cast.an, days_ago=15, channel="electronic", kind="denunciation",
                     title="Thư điện tử không rõ nội dung",
                     summary="Thư điện tử nêu chung chung 'cán bộ tỉnh tham nhũng', không nêu người, việc cụ thể.",
                     petitioner=("Người gửi ký tên 'Công dân'", "Không ghi", "congdan@example.vn"),
                     named=("Không xác định",), classification="unclassified")
    petitions.decide(case, Decision("file", reason="vague_content",
                                    note="Nội dung không rõ ràng, không có căn cứ để xác minh."), by=cast.an)
    return case


def petition_closed_and_repeat(cast: _Cast) -> Case:
    """A denunciation handled to an approved conclusion, then the same letter again."""
    long_ = _subject("038090007890", "BTCTU")
    case = _petition(cast, cast.an, days_ago=70, channel="post", kind="denunciation",
                     title="Đơn tố cáo kê khai lý lịch không trung thực",
                     summary="Tố cáo ông Phạm Đức Long khai man năm sinh để kéo dài tuổi quy hoạch.",
                     petitioner=("Đinh Thị Hoa", "Xã Yên Lạc", "0356 888 999"), subject_ids=(long_.id,))
    petitions.decide(case, Decision("accept", note="Tố cáo có danh tính, nội dung cụ thể; thụ lý."), by=cast.an)
    _decided_days_ago(case, 65)
    operations.transition(case, "start_conclusion", by=cast.an)
    operations.add_finding(case, FindingData(
        "subject", "other", "Đối chiếu giấy khai sinh gốc, học bạ và hồ sơ đảng viên: năm sinh thống nhất 1990.",
        "confidential", "Sở Tư pháp, Trường THPT Yên Lạc", _days_ago(45)), by=cast.an)
    _conclude(case, ConclusionData(
        "no_issue", "Nội dung tố cáo không đúng: năm sinh của ông Phạm Đức Long thống nhất trong mọi hồ sơ gốc. "
                    "Thông báo kết quả cho người tố cáo."), cast.an, cast.minh)
    case.closed_on = _days_ago(40)
    repeat = _petition(cast, cast.an, days_ago=5, channel="post", kind="denunciation",
                       title="Đơn tố cáo (gửi lại) về năm sinh",
                       summary="Nội dung như đơn trước, không có tài liệu, chứng cứ mới.",
                       petitioner=("Đinh Thị Hoa", "Xã Yên Lạc", "0356 888 999"), subject_ids=(long_.id,),
                       repeat_of=case.reference)
    petitions.decide(repeat, Decision("file", reason="repeat_without_new_evidence",
                                      note="Đã giải quyết và thông báo; đơn gửi lại không có tình tiết mới."),
                     by=cast.an)
    return case


def petition_verification(cast: _Cast) -> Case:
    case = _petition(cast, cast.an, days_ago=20, channel="forwarded", kind="denunciation",
                     title="Đơn tố cáo lợi dụng chức vụ trong cấp phép khai thác cát",
                     summary="Tố cáo cán bộ Phòng Tài nguyên huyện nhận tiền để làm ngơ việc khai thác cát trái "
                             "phép trên sông Mã.", petitioner=("Trần Văn Biên", "Xã Thiệu Giao", "0868 123 321"),
                     named=("Nguyễn Hữu Tài, Phó Trưởng phòng Tài nguyên huyện (giả định)",))
    petitions.decide(case, Decision("accept", note="Tố cáo có dấu hiệu vi phạm; thụ lý, đề nghị phối hợp "
                                                   "xác minh."), by=cast.an)
    _decided_days_ago(case, 16)
    operations.transition(case, "start_verification", by=cast.an)
    coordination.send_request(case, RequestData(
        find_unit("UBKTTU").id, "Đề nghị Ủy ban Kiểm tra cho biết đã nhận đơn cùng nội dung chưa và kết quả "
                                "kiểm tra (nếu có).", operations.today() + timedelta(days=9)), by=cast.an)
    # An ask to open the denouncer's identity, waiting for lanhdao.minh's approval.
    releases.ask(case, "Cần liên hệ người tố cáo để lấy thêm tài liệu về các chuyến khai thác cát.", by=cast.an)
    return case


def petition_concluding(cast: _Cast) -> Case:
    case = _petition(cast, cast.binh, days_ago=25, channel="in_person", kind="complaint",
                     title="Đơn khiếu nại việc không được xét nâng lương",
                     summary="Khiếu nại việc bị chậm nâng lương do bị cho là vi phạm kỷ luật đã hết thời hạn.",
                     petitioner=("Mạc Văn Tùng", "Phường Đông Vệ", "0988 765 432"),
                     named=("Văn phòng Sở Xây dựng (giả định)",), classification="unclassified")
    petitions.decide(case, Decision("accept", note="Thuộc thẩm quyền; thụ lý."), by=cast.binh)
    _decided_days_ago(case, 22)
    operations.transition(case, "start_conclusion", by=cast.binh)
    conclusions.save_draft(case, ConclusionData(
        "issue_not_affecting", "Dự thảo: khiếu nại đúng một phần; thời hạn kỷ luật đã hết từ 03/2025, đề nghị "
                               "Sở Xây dựng xét nâng lương từ thời điểm đó."), by=cast.binh)
    # The petitioner's identity released to the officer (a complaint: one approval), for
    # HOSO_IDENTITY_RELEASE_HOURS from the seeding: the page opens for canbo.binh only.
    asked = releases.ask(case, "Cần mời người khiếu nại đến làm việc để đối chiếu quyết định kỷ luật cũ.",
                         by=cast.binh)
    releases.approve_unattended(asked, by=cast.minh)
    return case


def petition_submitted(cast: _Cast) -> Case:
    case = _petition(cast, cast.an, days_ago=28, channel="post", kind="reflection",
                     title="Đơn phản ánh sinh hoạt chi bộ không đúng quy định",
                     summary="Phản ánh chi bộ thôn Hải Thành nhiều tháng không sinh hoạt định kỳ.",
                     petitioner=("Lê Văn Khoa", "Xã Hải Hà", "0913 111 000"),
                     named=("Chi bộ thôn Hải Thành",), classification="unclassified")
    petitions.decide(case, Decision("accept", note="Thuộc thẩm quyền; thụ lý."), by=cast.an)
    _decided_days_ago(case, 14)
    operations.transition(case, "start_conclusion", by=cast.an)
    conclusions.save_draft(case, ConclusionData(
        "issue_not_affecting", "Phản ánh đúng: chi bộ bỏ sinh hoạt 3 tháng do bí thư chi bộ ốm dài ngày; đã "
                               "kiện toàn. Đề nghị Đảng ủy xã chấn chỉnh."), by=cast.an)
    conclusions.submit(case, by=cast.an)
    return case


SCENARIOS: tuple[tuple[str, str, Callable[[_Cast], Case]], ...] = (
    # key, the account that creates it, the scenario
    ("review-expired", "an", review_expired),
    ("review-re-review", "an", review_re_review),
    ("review-examination-overdue", "son", review_examination_overdue),
    ("review-records-district", "son", review_records_district),
    ("review-verification", "an", review_verification),
    ("review-verification-answers", "an", review_verification_answers),
    ("review-examination", "binh", review_examination),
    ("review-break-glass", "binh", review_break_glass),
    ("review-appraisal", "an", review_appraisal),
    ("review-concluding", "an", review_concluding),
    ("review-submitted", "an", review_submitted),
    ("review-returned", "binh", review_returned),
    ("review-closed", "an", review_closed),
    ("petition-received", "an", petition_received),
    ("petition-accepted", "an", petition_accepted),
    ("petition-extended", "an", petition_extended),
    ("petition-overdue", "an", petition_overdue),
    ("petition-forwarded", "an", petition_forwarded),
    ("petition-monitoring", "binh", petition_monitoring),
    ("petition-filed", "an", petition_filed),
    ("petition-closed-and-repeat", "an", petition_closed_and_repeat),
    ("petition-verification", "an", petition_verification),
    ("petition-concluding", "binh", petition_concluding),
    ("petition-submitted", "an", petition_submitted),
)


def seed_demo_case_work() -> list[str]:
    """Reviews, petitions, coordination requests and conclusions in every state."""
    cast = _Cast()
    if cast.missing:
        return [f"Demo case work: skipped (no demo account {', '.join(cast.missing)})."]
    created = 0
    for key, creator_key, scenario in SCENARIOS:
        creator = getattr(cast, creator_key)
        token = SCENARIO_MARK + key
        if operations.earlier_submission(token, creator) is not None:
            continue
        case = scenario(cast)
        operations.remember_submission(token, creator, "case", case.id)
        db.session.flush()
        created += 1
    return [f"Demo case work: {created} scenarios created, {len(SCENARIOS) - created} already there."]
