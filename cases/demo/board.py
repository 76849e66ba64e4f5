"""Work in the two districts of the demo organisation, so that the unit board (issue 24 A.1)
of lanhdao.minh (BTCTU) has figures for both of them: HU-SONHA already has two reviews
(cases/demo/seed.py); Thị ủy Bình Minh (TU-BINHMINH) had none.

Everything invented, done through the services by demo accounts, with the same liberties as
cases/demo/seed.py (plain dates moved into the past; approvals without the prompt):
- TU-BINHMINH (its officer canbo.phuong is a demo account of protection/demo.py, its two people
  are dossiers of cases/demo/seed.py): a review concluded after a month whose conclusion expires
  within 90 days, a review past its due date in verification with a request to the police
  committee past its due date, a petition accepted four days after it arrived, and one just
  received;
- HU-SONHA: a review concluded after 25 days and a petition accepted six days after it arrived.

Idempotent: each scenario leaves a one-time token, as the case-work scenarios do.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import current_app

from cases import workflow
from cases.casework import operations
from cases.conclusions.operations import ConclusionData
from cases.coordination import operations as coordination
from cases.coordination.operations import RequestData
from cases.demo.seed import (
    _backdate,
    _Cast,
    _conclude,
    _days_ago,
    _decided_days_ago,
    _moment,
    _walk,
)
from cases.models import Case, Subject
from cases.petitions import operations as petitions
from cases.petitions.operations import Decision, PetitionData
from cases.reviews import operations as reviews
from cases.reviews.operations import ReviewData
from cases.subjects import operations as subjects
from protection.accounts import find_unit, find_user
from protection.db import db
from protection.identity import User

MARK = "demo-board:"  # the FormSubmission token prefix of each scenario
OFFICER = "canbo.phuong"  # Thị ủy Bình Minh


def _person(id_number: str, unit_code: str) -> Subject:
    return subjects.find_in_unit(id_number, find_unit(unit_code).id)


def _expiring_approval(days_left: int):
    """The approval moment whose conclusion (validity HOSO_CONCLUSION_VALIDITY_MONTHS) runs
    out `days_left` days from today."""
    validity = current_app.config["HOSO_CONCLUSION_VALIDITY_MONTHS"]
    return workflow.add_months(operations.today(), -validity) + timedelta(days=days_left)


def binhminh_concluded(cast: _Cast, phuong: User) -> Case:
    """Concluded a month after opening; the conclusion expires within 90 days."""
    khanh = _person("038080090123", "TU-BINHMINH")
    case = reviews.open_review(ReviewData(
        khanh.id, "cadre_planning", "unclassified", "Thẩm định quy hoạch Phó Bí thư Thị ủy",
        "Rà soát lý lịch phục vụ quy hoạch chức danh Phó Bí thư Thị ủy Bình Minh."), by=phuong)
    _walk(case, ("start_examination", "start_appraisal", "start_conclusion"), phuong)
    approved_on = _expiring_approval(75)
    _conclude(case, ConclusionData(
        "no_issue", "Lịch sử chính trị rõ ràng; bản thân và gia đình chấp hành tốt chủ trương, chính sách."),
        phuong, cast.minh, at=_moment(approved_on, 10))
    case.opened_on = case.deadline_start = approved_on - timedelta(days=30)
    case.due_on = case.opened_on + timedelta(days=30)
    case.closed_on = approved_on
    return case


def binhminh_overdue(cast: _Cast, phuong: User) -> Case:
    """Past its due date in verification, waiting on the police committee, also late."""
    loan = _person("038188091234", "TU-BINHMINH")
    case = reviews.open_review(ReviewData(
        loan.id, "party_admission", "confidential", "Thẩm tra lý lịch kết nạp Đảng",
        "Quần chúng ưu tú do Chi bộ Thị đoàn giới thiệu."), by=phuong)
    _walk(case, ("start_examination", "start_verification"), phuong)
    _backdate(case, 48, due_in_days=-6)
    sent = coordination.send_request(case, RequestData(
        find_unit("DUBP").id, "Đề nghị cho biết quần chúng Kiều Thị Loan có liên quan đến vụ việc nào đang "
                              "được Bộ đội Biên phòng tỉnh xem xét hay không.", operations.today() + timedelta(days=10),
        ["full_name", "date_of_birth", "current_unit"]), by=phuong)
    sent.sent_on, sent.due_on = _days_ago(30), _days_ago(3)
    return case


def _petition(by: User, *, days_ago: int, kind: str, summary: str, named: str) -> Case:
    case = petitions.receive_petition(PetitionData(
        received_on=_days_ago(days_ago), channel="post", petition_type=kind, classification="unclassified",
        summary=summary, anonymous=True, named_people=[named]), by=by)
    case.opened_on = _days_ago(days_ago)
    return case


def _accepted(case: Case, by: User, decided_days_ago: int) -> Case:
    petitions.decide(case, Decision("accept", note="Đơn có nội dung cụ thể, thuộc thẩm quyền; thụ lý."), by=by)
    _decided_days_ago(case, decided_days_ago)
    return case


def binhminh_petition_accepted(cast: _Cast, phuong: User) -> Case:
    case = _petition(phuong, days_ago=12, kind="reflection", named="Trưởng khu phố 3",
                     summary="Phản ánh việc kê khai lý lịch chưa trung thực của một cán bộ khu phố.")
    return _accepted(case, phuong, 8)


def binhminh_petition_received(cast: _Cast, phuong: User) -> Case:
    return _petition(phuong, days_ago=2, kind="complaint", named="Cán bộ Thị đoàn",
                     summary="Khiếu nại về kết quả đánh giá đảng viên cuối năm.")


def sonha_concluded(cast: _Cast, _phuong: User) -> Case:
    pha = _person("038085092345", "HU-SONHA")
    case = reviews.open_review(ReviewData(
        pha.id, "appointment", "unclassified", "Thẩm định bổ nhiệm Trưởng phòng Nội vụ huyện",
        "Phục vụ bổ nhiệm Trưởng phòng Nội vụ huyện Sơn Hà."), by=cast.son)
    _walk(case, ("start_examination", "start_appraisal", "start_conclusion"), cast.son)
    approved_on = _days_ago(40)
    _conclude(case, ConclusionData("no_issue", "Đủ tiêu chuẩn chính trị để bổ nhiệm."), cast.son, cast.lan,
              at=_moment(approved_on, 14))
    case.opened_on = case.deadline_start = approved_on - timedelta(days=25)
    case.due_on = case.opened_on + timedelta(days=30)
    case.closed_on = approved_on
    return case


def sonha_petition_accepted(cast: _Cast, _phuong: User) -> Case:
    case = _petition(cast.son, days_ago=20, kind="denunciation", named="Cán bộ địa chính xã",
                     summary="Tố cáo việc cán bộ địa chính xã nhận tiền khi làm thủ tục đất đai.")
    return _accepted(case, cast.son, 14)


SCENARIOS: tuple[tuple[str, Callable[[_Cast, User], Case]], ...] = (
    ("binhminh-concluded", binhminh_concluded),
    ("binhminh-overdue", binhminh_overdue),
    ("binhminh-petition-accepted", binhminh_petition_accepted),
    ("binhminh-petition-received", binhminh_petition_received),
    ("sonha-concluded", sonha_concluded),
    ("sonha-petition-accepted", sonha_petition_accepted),
)


def seed_demo_board() -> list[str]:
    """The district work of the unit board; skipped without the demo accounts it needs."""
    cast = _Cast()
    phuong = find_user(OFFICER)
    if cast.missing or phuong is None or not phuong.demo_account or find_unit("DUBP") is None:
        return ["Demo unit board: skipped (demo accounts or units missing)."]
    created = 0
    for key, scenario in SCENARIOS:
        token = MARK + key
        if operations.earlier_submission(token, phuong) is not None:
            continue
        case = scenario(cast, phuong)
        operations.remember_submission(token, phuong, "case", case.id)
        db.session.flush()
        created += 1
    return [f"Demo unit board: {created} district scenarios created, {len(SCENARIOS) - created} already there."]
