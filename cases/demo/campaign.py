"""The demo's review campaign (issue 20 §A.8): "Nhân sự Đại hội Đảng bộ tỉnh nhiệm kỳ
2025–2030", owned by the provincial organisation committee, with nominees in every state.

The list is the demo's own people (cases/demo/seed.py), added the way `campaign import` adds
a file — every row matched to its dossier by citizen ID, the district's people to the
district — and worked through the same operations by the demo accounts: one conclusion
reused, reviews opened and assigned, one submitted, two approved, one handed to a district,
one overdue (its due date moved into the past afterwards, as the case-work seeder does).
Run once: a one-time token marks it done, like the case-work scenarios.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from cases.campaigns import operations as campaigns
from cases.casework import operations
from cases.conclusions import operations as conclusions
from cases.conclusions.operations import ConclusionData
from cases.demo.seed import DEMO_CASE_SUBJECTS, DEMO_SUBJECTS, _Cast, _walk
from cases.models import CampaignNominee
from cases.subjects.roster import RosterRow
from protection.accounts import find_unit
from protection.db import db

DONE_MARK = "demo-campaign:congress-2025-2030"  # the FormSubmission token that says it ran
TITLE = "Nhân sự Đại hội Đảng bộ tỉnh nhiệm kỳ 2025–2030"

# The committee's list, in its order, by citizen ID, and what becomes of each nominee.
LIST = (
    ("038093015678", "reused"),        # Hoàng Minh Đức: approved abroad-study conclusion, still valid
    ("038078001234", "not_started"),   # Trần Văn Hòa: his last conclusion has expired
    ("038187011223", "submitted"),     # Nguyễn Thị Thu Trang
    ("038196020304", "concluded"),     # Vũ Thị Hạnh
    ("038075030405", "concluded_issue"),  # Bùi Quang Vinh
    ("038090007890", "in_review"),     # Phạm Đức Long
    ("038081040506", "overdue"),       # Đào Văn Khải
    ("038191050607", "in_review_binh"),  # Lương Thị Ngọc
    ("038185004567", "handed"),        # Lê Thị Mai: handed to the district of Sơn Hà
    ("038082002468", "district"),      # Đinh Văn Tú: the district's own dossier, not started
    ("038094060708", "district_review"),  # Hà Văn Thắng: reviewed by the district
)


def _rows() -> list[RosterRow]:
    people = {data.id_number: data for _unit, data, _relatives in DEMO_SUBJECTS + DEMO_CASE_SUBJECTS}
    return [RosterRow(line=line, full_name=people[number].full_name, date_of_birth=people[number].date_of_birth,
                      id_number=number, native_place="", unit=people[number].current_unit or "",
                      position=people[number].position or "")
            for line, (number, _fate) in enumerate(LIST, start=2)]


def seed_demo_campaign() -> list[str]:
    cast = _Cast()
    if cast.missing:
        return [f"Demo campaign: skipped (no demo account {', '.join(cast.missing)})."]
    if operations.earlier_submission(DONE_MARK, cast.minh) is not None:
        return ["Demo campaign: already there."]
    today = operations.today()
    campaign = campaigns.create_campaign(campaigns.CampaignData(
        "congress", TITLE, find_unit("BTCTU").id, today + timedelta(days=45), "confidential"), by=cast.minh)
    campaigns.add_nominees_from_roster(campaign, _rows(), by=cast.minh)
    nominees = list(db.session.scalars(select(CampaignNominee).where(CampaignNominee.campaign_id == campaign.id)
                                       .order_by(CampaignNominee.position_in_list)))
    fate = {nominee.id: LIST[index][1] for index, nominee in enumerate(nominees)}
    chosen = {name: [nominee.id for nominee in nominees if fate[nominee.id] in names]
              for name, names in (("reuse", {"reused"}), ("an", {"in_review", "overdue", "concluded",
                                                                  "concluded_issue"}),
                                  ("binh", {"submitted", "in_review_binh"}), ("handed", {"handed"}),
                                  ("district", {"district_review"}))}
    campaigns.reuse_conclusions(campaign, chosen["reuse"], by=cast.minh)
    campaigns.open_reviews(campaign, chosen["an"], [cast.an.id], by=cast.minh, due_on=today + timedelta(days=30))
    campaigns.open_reviews(campaign, chosen["binh"], [cast.binh.id], by=cast.minh)
    campaigns.hand_to_unit(campaign, chosen["handed"], find_unit("HU-SONHA"), by=cast.minh)
    campaigns.open_reviews(campaign, chosen["district"], [cast.son.id], by=cast.lan)
    for nominee in nominees:
        _work(nominee, fate[nominee.id], cast)
    operations.remember_submission(DONE_MARK, cast.minh, "campaign", campaign.id)
    db.session.flush()
    return [f"Demo campaign: {campaign.reference} with {len(nominees)} nominees."]


def _work(nominee: CampaignNominee, fate: str, cast: _Cast) -> None:
    case = nominee.case
    if case is None:
        return
    officer = cast.binh if fate in ("submitted", "in_review_binh") else cast.son if fate == "district_review" else cast.an
    if fate in ("submitted", "concluded", "concluded_issue"):
        _walk(case, ("start_examination", "start_appraisal", "start_conclusion"), officer)
        outcome, reasoning = (("issue_not_affecting", "Có quan hệ thân nhân cần lưu ý, đã được làm rõ; không ảnh "
                                                      "hưởng tiêu chuẩn chính trị để giới thiệu ứng cử.")
                              if fate == "concluded_issue" else
                              ("no_issue", "Lịch sử chính trị rõ ràng; đủ tiêu chuẩn chính trị để giới thiệu ứng cử "
                                           "Ban Chấp hành Đảng bộ tỉnh."))
        conclusions.save_draft(case, ConclusionData(outcome, reasoning), by=officer)
        conclusions.submit(case, by=officer)
        if fate != "submitted":
            conclusions.approve_unattended(case, by=cast.minh)
    elif fate in ("in_review", "in_review_binh", "district_review"):
        operations.transition(case, "start_examination", by=officer)
    elif fate == "overdue":
        operations.transition(case, "start_examination", by=officer)
        # Fiction's history: opened weeks ago with a short deadline that has passed.
        case.opened_on = case.deadline_start = operations.today() - timedelta(days=25)
        case.due_on = operations.today() - timedelta(days=4)
