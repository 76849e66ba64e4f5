"""Review campaigns through their pages (issue 20 §A): a supervisor creates one (and is told
beside each field what is wrong), adds nominees from a CSV (refused by line, nothing written,
unless told to skip; never the uploading user) and from dossiers, reuses still-valid
conclusions, opens reviews spread evenly over officers, hands rows to a district whose
supervisor then sees only those; an officer sees only their rows, a recused user never their
own; another unit's campaign is unknown (404), an officer may not manage (403), a closed
campaign takes no change. And the board's statements stay few, without lazy loads."""

from __future__ import annotations

import io
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from cases.access.operations import citizen_index
from cases.campaigns import operations as campaigns
from cases.campaigns.operations import CampaignData
from cases.models import Assignment, Campaign, CampaignNominee
from protection.accounts import find_unit
from protection.db import db
from tests.conftest import MadeUser, audit_entries
from tests.factories import (
    approve_conclusion,
    count_rows,
    make_subject,
    open_review,
    submit_conclusion,
    to_conclusion,
    user_row,
)
from tests.pages import (
    csrf_token,
    day_text,
    field_errors,
    input_value,
    org_today,
    page_post,
    text_of,
)

TITLE = "Nhân sự Đại hội Đảng bộ tỉnh nhiệm kỳ 2025–2030"
NAMES = ("Trần Văn Ứng Cử", "Lê Thị Quy Hoạch", "Phạm Văn Bổ Nhiệm", "Hoàng Thị Kết Nạp")
IDS = ("038080000101", "038080000102", "038080000103", "038080000104")
OWN_ID = "038080000999"  # the supervisor's own citizen ID


@pytest.fixture(autouse=True)
def _rate_limit_out_of_the_way(app_config):
    app_config["HOSO_LOGIN_RATE_LIMIT"] = "1000 per minute"


@dataclass
class World:
    supervisor: MadeUser
    officers: tuple[MadeUser, MadeUser]
    supervisor_huyen: MadeUser
    officer_huyen: MadeUser
    supervisor_other: MadeUser
    units: dict


@pytest.fixture
def world(app, make_unit, make_user) -> World:
    make_unit("BTCTU", "Ban Tổ chức Tỉnh ủy")
    make_unit("HUYEN", "Ban Tổ chức Huyện ủy Sơn Hà", kind="district", parent="BTCTU")
    make_unit("BTGTU", "Ban Tuyên giáo Tỉnh ủy", kind="propaganda")
    made = World(
        supervisor=make_user("supervisor", unit="BTCTU", clearance="top_secret", display_name="Lãnh Đạo Tỉnh"),
        officers=(make_user("officer", unit="BTCTU", display_name="Cán Bộ Một"),
                  make_user("officer", unit="BTCTU", display_name="Cán Bộ Hai")),
        supervisor_huyen=make_user("supervisor", unit="HUYEN", display_name="Lãnh Đạo Huyện"),
        officer_huyen=make_user("officer", unit="HUYEN", display_name="Cán Bộ Huyện"),
        supervisor_other=make_user("supervisor", unit="BTGTU", display_name="Lãnh Đạo Khác"),
        units={})
    with app.app_context():
        made.units = {code: find_unit(code).id for code in ("BTCTU", "HUYEN", "BTGTU")}
        user_row(made.supervisor).citizen_index = citizen_index(OWN_ID)
        db.session.commit()
    return made


@pytest.fixture
def as_user(app, sign_in):
    """A new test client signed in as `user`."""
    def act(user: MadeUser):
        client = app.test_client()
        assert sign_in(user, target=client).status_code == 302
        return client

    return act


def new_campaign(app, world: World, *, classification: str = "confidential", due_days: int = 30) -> str:
    with app.app_context():
        campaign = campaigns.create_campaign(CampaignData(
            "congress", TITLE, world.units["BTCTU"], org_today() + timedelta(days=due_days), classification),
            by=user_row(world.supervisor))
        db.session.commit()
        return str(campaign.id)


def with_dossiers(app, world: World, campaign_id: str, names=NAMES, ids=IDS) -> dict[str, str]:
    """Dossiers in BTCTU added to the campaign; {name: nominee id}."""
    with app.app_context():
        supervisor = user_row(world.supervisor)
        subjects = [make_subject(supervisor, name, id_number=number) for name, number in zip(names, ids, strict=True)]
        campaign = db.session.get(Campaign, uuid.UUID(campaign_id))
        campaigns.add_nominees_from_dossiers(campaign, [subject.id for subject in subjects], by=supervisor)
        db.session.commit()
        nominees = {row.subject_id: row.id for row in db.session.scalars(
            select(CampaignNominee).where(CampaignNominee.campaign_id == campaign.id))}
        found = {subject.full_name: str(nominees[subject.id]) for subject in subjects}
        db.session.commit()
    return found


def board_rows(page: str) -> list[str]:
    return re.findall(r'data-nominee="([0-9a-f-]{36})"', page)


def bulk_post(client, campaign_id: str, action: str, nominee_ids, **data):
    board = f"/campaigns/{campaign_id}"
    token = re.search(r'name="bulk-csrf_token"[^>]*value="([^"]+)"', client.get(board).get_data(as_text=True))
    assert token, "no bulk form on the board"
    payload = {"bulk-csrf_token": token.group(1), "nominee": list(nominee_ids), **data}
    return client.post(f"{board}/{action}", data=payload)


def flashed(client, response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return text_of(client.get(response.headers["Location"]))


def nominee_rows(app, campaign_id: str) -> list[CampaignNominee]:
    with app.app_context():
        rows = list(db.session.scalars(select(CampaignNominee).where(
            CampaignNominee.campaign_id == uuid.UUID(campaign_id)).order_by(CampaignNominee.position_in_list)))
        db.session.expunge_all()
        db.session.commit()
    return rows


# --- creating ----------------------------------------------------------------------------------------

def test_a_supervisor_creates_a_campaign_from_the_form_and_sees_it_listed(app, world, as_user):
    client = as_user(world.supervisor)
    assert "Đợt thẩm định" in text_of(client.get("/"))  # the top navigation's link
    response = page_post(client, "/campaigns/new", data={
        "purpose": "congress", "title": TITLE, "owner_unit_id": str(world.units["BTCTU"]),
        "due_on": day_text(40), "classification": "confidential"})
    assert response.status_code == 302, text_of(response)[:3000]
    board = text_of(client.get(response.headers["Location"]))
    assert TITLE in board and "Nhân sự đại hội" in board
    listed = text_of(client.get("/campaigns/"))
    assert TITLE in listed and "MẬT" in listed  # the page carries the campaign's marking
    assert count_rows(app, Campaign) == 1
    assert audit_entries(app, "campaign.list")


@pytest.mark.parametrize(("field", "value"), [
    ("due_on", "yesterday"),
    ("purpose", "holiday"),
    ("owner_unit_id", "another unit"),
    ("classification", "top_secret"),  # above the supervisor's own clearance (secret)
    ("title", ""),
])
def test_bad_input_on_the_new_campaign_form_is_shown_beside_its_field_with_the_input_kept(
        app, world, as_user, make_user, field, value):
    supervisor = make_user("supervisor", unit="BTCTU", clearance="secret")
    client = as_user(supervisor)
    data = {"purpose": "congress", "title": TITLE, "owner_unit_id": str(world.units["BTCTU"]),
            "due_on": day_text(40), "classification": "confidential"}
    data[field] = {"yesterday": day_text(-1), "another unit": str(world.units["BTGTU"])}.get(value, value)
    response = page_post(client, "/campaigns/new", data=data)
    page = text_of(response)
    assert response.status_code == 200
    assert field_errors(page, field), page[:3000]
    if field != "title":
        assert input_value(page, "title") == TITLE
    assert count_rows(app, Campaign) == 0


def test_a_double_submit_of_the_new_campaign_form_creates_one(app, world, as_user):
    client = as_user(world.supervisor)
    page = client.get("/campaigns/new").get_data(as_text=True)
    token = re.search(r'name="form_token"[^>]*value="([^"]+)"', page).group(1)
    data = {"csrf_token": re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1), "form_token": token,
            "purpose": "planning", "title": TITLE, "owner_unit_id": str(world.units["BTCTU"]),
            "due_on": day_text(20), "classification": "unclassified"}
    first, second = client.post("/campaigns/new", data=data), client.post("/campaigns/new", data=data)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert count_rows(app, Campaign) == 1


# --- nominees -------------------------------------------------------------------------------------------

def upload(client, campaign_id: str, text: str, *, skip: bool = False):
    path = f"/campaigns/{campaign_id}/nominees"
    data = {"csrf_token": csrf_token(client, path), "file": (io.BytesIO(text.encode("utf-8")), "danh-sach.csv")}
    if skip:
        data["skip_invalid"] = "y"
    return client.post(path, data=data, content_type="multipart/form-data")


CSV_HEADER = "id_number,full_name,date_of_birth,unit,position\n"


def test_a_csv_with_problems_is_refused_by_line_and_nothing_is_written_unless_told_to_skip(app, world, as_user):
    campaign_id = new_campaign(app, world)
    client = as_user(world.supervisor)
    text = (CSV_HEADER
            + f"{IDS[0]},{NAMES[0]},01/02/1975,Sở Tài chính,Giám đốc\n"
            + f"{IDS[1]},{NAMES[1]},31/02/1980,Sở Nội vụ,Phó Giám đốc\n"   # line 3: no such day
            + f"{IDS[0]},{NAMES[2]},03/04/1978,Sở Y tế,Giám đốc\n"         # line 4: the ID of line 2 again
            + f"{OWN_ID},Người Tải Lên,05/06/1970,Ban Tổ chức,Trưởng ban\n"  # line 5: the uploading user
            + f"{IDS[3]},{NAMES[3]},07/08/1990,Sở Công thương,Chuyên viên\n")
    response = upload(client, campaign_id, text)
    page = text_of(response)
    assert response.status_code == 200
    for line in (3, 4, 5):
        assert f"Dòng {line}:" in page, page[:4000]
    assert "Dòng 2:" not in page and "Dòng 6:" not in page
    assert "Dòng 4: số định danh trùng với dòng 2" in page  # the parser's reasons, in the page's language
    assert "Dòng 5: người này là bạn" in page
    assert field_errors(page, "file")
    assert count_rows(app, CampaignNominee) == 0

    response = upload(client, campaign_id, text, skip=True)
    board = flashed(client, response)
    assert "Đã thêm 2 nhân sự" in board
    assert NAMES[0] in board and NAMES[3] in board and "Người Tải Lên" not in board
    assert count_rows(app, CampaignNominee) == 2
    # The audit trail says what happened in counts and ids, never a name or a number.
    details = " ".join(entry.detail for entry in audit_entries(app, "campaign."))
    assert not any(secret in details for secret in (*NAMES, *IDS, OWN_ID, TITLE))


def test_a_csv_with_a_wrong_header_is_refused_beside_the_file(app, world, as_user):
    campaign_id = new_campaign(app, world)
    client = as_user(world.supervisor)
    page = text_of(upload(client, campaign_id, "so_dinh_danh,ho_ten\n038080000101,A\n"))
    assert "dòng 1: thiếu cột" in field_errors(page, "file")
    assert count_rows(app, CampaignNominee) == 0


def test_a_supervisor_picks_existing_dossiers_found_by_citizen_id(app, world, as_user):
    campaign_id = new_campaign(app, world)
    with app.app_context():
        subject = make_subject(user_row(world.supervisor), NAMES[2], id_number=IDS[2])
        subject_id = str(subject.id)
        db.session.commit()
    client = as_user(world.supervisor)
    page = text_of(client.get(f"/campaigns/{campaign_id}/nominees?q={IDS[2]}"))
    assert NAMES[2] in page and f'value="{subject_id}"' in page
    response = page_post(client, f"/campaigns/{campaign_id}/nominees?q={IDS[2]}",
                         f"/campaigns/{campaign_id}/nominees/pick", {"subject": [subject_id]})
    board = flashed(client, response)
    assert "Đã thêm 1 nhân sự" in board and NAMES[2] in board


# --- reuse, reviews, hand-out ---------------------------------------------------------------------------

def test_a_still_valid_conclusion_is_offered_and_reused_in_one_click(app, world, as_user):
    campaign_id = new_campaign(app, world, due_days=20)
    officer = world.officers[0]
    with app.app_context():
        supervisor, worker = user_row(world.supervisor), user_row(officer)
        subject = make_subject(worker, NAMES[0], id_number=IDS[0])
        case = to_conclusion(open_review(worker, subject), by=worker)
        submit_conclusion(case, by=worker)
        approve_conclusion(case, by=supervisor)
        db.session.commit()
        campaigns.add_nominees_from_dossiers(db.session.get(Campaign, uuid.UUID(campaign_id)), [subject.id],
                                             by=supervisor)
        db.session.commit()
    client = as_user(world.supervisor)
    board = text_of(client.get(f"/campaigns/{campaign_id}"))
    assert "có kết luận còn hiệu lực" in board
    (nominee,) = board_rows(board)
    page = flashed(client, bulk_post(client, campaign_id, "reuse", [nominee]))
    assert "Đã dùng lại kết luận còn hiệu lực cho 1 nhân sự" in page
    (row,) = nominee_rows(app, campaign_id)
    assert row.reused_conclusion_id is not None and row.case_id is None


def test_reviews_open_for_the_chosen_nominees_assigned_evenly(app, world, as_user):
    campaign_id = new_campaign(app, world)
    nominees = with_dossiers(app, world, campaign_id)
    client = as_user(world.supervisor)
    page = flashed(client, bulk_post(client, campaign_id, "open-reviews", nominees.values(),
                                     officer=[str(world.officers[0].id), str(world.officers[1].id)]))
    assert "Đã mở 4 hồ sơ thẩm định" in page
    rows = nominee_rows(app, campaign_id)
    assert all(row.case_id is not None for row in rows)
    with app.app_context():
        per_officer = Counter(db.session.scalars(select(Assignment.user_id).where(
            Assignment.case_id.in_([row.case_id for row in rows]))))
        db.session.commit()
    assert per_officer == {world.officers[0].id: 2, world.officers[1].id: 2}

    # An officer sees only the rows of the reviews assigned to them.
    officer_board = as_user(world.officers[0]).get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert len(board_rows(officer_board)) == 2
    assert 'name="nominee"' not in officer_board  # no bulk actions for an officer


def test_reviews_are_assigned_more_officers_or_reassigned(app, world, as_user):
    campaign_id = new_campaign(app, world)
    nominees = with_dossiers(app, world, campaign_id, NAMES[:2], IDS[:2])
    first, second = (str(officer.id) for officer in world.officers)
    client = as_user(world.supervisor)
    flashed(client, bulk_post(client, campaign_id, "open-reviews", nominees.values(), officer=[first]))

    def assigned():
        with app.app_context():
            pairs = Counter(db.session.scalars(select(Assignment.user_id)))
            db.session.commit()
        return {str(user_id): count for user_id, count in pairs.items()}

    assert assigned() == {first: 2}
    page = flashed(client, bulk_post(client, campaign_id, "assign", nominees.values(), officer=[second]))
    assert "Đã phân công 2 hồ sơ" in page
    assert assigned() == {first: 2, second: 2}
    page = flashed(client, bulk_post(client, campaign_id, "assign", [nominees[NAMES[0]]], officer=[first],
                                     replace="1"))
    assert "Đã phân công lại 1 hồ sơ" in page
    assert assigned() == {first: 2, second: 1}
    # Without an officer or a group nothing is tried, and the board says why.
    page = flashed(client, bulk_post(client, campaign_id, "assign", nominees.values()))
    assert "Hãy chọn cán bộ" in page


def test_a_whole_units_officers_share_the_reviews_when_the_group_is_chosen(app, world, as_user):
    campaign_id = new_campaign(app, world)
    nominees = with_dossiers(app, world, campaign_id)
    client = as_user(world.supervisor)
    page = flashed(client, bulk_post(client, campaign_id, "open-reviews", nominees.values(),
                                     **{"bulk-group": str(world.units["BTCTU"])}))
    assert "Đã mở 4 hồ sơ thẩm định" in page
    with app.app_context():
        assigned = Counter(db.session.scalars(select(Assignment.user_id)))
        db.session.commit()
    assert assigned == {world.officers[0].id: 2, world.officers[1].id: 2}


def test_rows_handed_to_a_district_are_all_its_supervisor_sees(app, world, as_user):
    campaign_id = new_campaign(app, world)
    nominees = with_dossiers(app, world, campaign_id)
    client = as_user(world.supervisor)
    handed = [nominees[NAMES[1]], nominees[NAMES[2]]]
    page = flashed(client, bulk_post(client, campaign_id, "hand-out", handed,
                                     **{"bulk-unit": str(world.units["HUYEN"])}))
    assert "Đã giao 2 nhân sự cho HUYEN" in page
    district = as_user(world.supervisor_huyen)
    district_board = district.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert sorted(board_rows(district_board)) == sorted(handed)
    # The district works its rows (open, assign, reuse); the list and the campaign stay the owners'.
    assert "/open-reviews" in district_board and "/hand-out" not in district_board and "/close" not in district_board
    assert TITLE in text_of(district.get("/campaigns/"))
    # The province still sees every row.
    assert len(board_rows(client.get(f"/campaigns/{campaign_id}").get_data(as_text=True))) == 4


def test_a_recused_user_never_sees_the_row_about_themselves(app, world, as_user, make_user):
    campaign_id = new_campaign(app, world)
    nominees = with_dossiers(app, world, campaign_id)
    colleague = make_user("supervisor", unit="BTCTU", clearance="top_secret")
    with app.app_context():
        user_row(colleague).citizen_index = citizen_index(IDS[0])
        db.session.commit()
    response = as_user(colleague).get(f"/campaigns/{campaign_id}")
    assert nominees[NAMES[0]] not in board_rows(response.get_data(as_text=True))
    assert NAMES[0] not in text_of(response) and NAMES[1] in text_of(response)
    assert len(board_rows(response.get_data(as_text=True))) == 3


def list_count(client, reference_or_title: str = TITLE) -> str:
    """The nominee count the campaign list shows beside the campaign."""
    row = re.search(r"<tr>(?:(?!</tr>).)*" + re.escape(reference_or_title) + r"(?:(?!</tr>).)*</tr>",
                    client.get("/campaigns/").get_data(as_text=True), re.S)
    assert row, "the campaign is not listed"
    return re.search(r'class="text-end">(\d+)</td>', row.group(0)).group(1)


def test_the_lists_count_leaves_out_the_row_about_the_reader_and_rows_they_do_not_see(app, world, as_user,
                                                                                     make_user):
    campaign_id = new_campaign(app, world)
    nominees = with_dossiers(app, world, campaign_id)
    colleague = make_user("supervisor", unit="BTCTU", clearance="top_secret")
    with app.app_context():
        user_row(colleague).citizen_index = citizen_index(IDS[0])
        db.session.commit()
    assert list_count(as_user(world.supervisor)) == "4"
    # A count of 4 beside a board of 3 would tell the colleague they are on the list.
    assert list_count(as_user(colleague)) == "3"
    client = as_user(world.supervisor)
    flashed(client, bulk_post(client, campaign_id, "hand-out", [nominees[NAMES[1]]],
                              **{"bulk-unit": str(world.units["HUYEN"])}))
    assert list_count(as_user(world.supervisor_huyen)) == "1"


def test_a_district_supervisor_whose_only_row_is_about_themselves_does_not_know_the_campaign(app, world, as_user):
    """The campaign reaches them only through that row: listing it (even with a count of 0)
    would tell them they are a nominee."""
    campaign_id = new_campaign(app, world)
    nominees = with_dossiers(app, world, campaign_id)
    with app.app_context():
        user_row(world.supervisor_huyen).citizen_index = citizen_index(IDS[1])
        db.session.commit()
    client = as_user(world.supervisor)
    flashed(client, bulk_post(client, campaign_id, "hand-out", [nominees[NAMES[1]]],
                              **{"bulk-unit": str(world.units["HUYEN"])}))
    district = as_user(world.supervisor_huyen)
    assert TITLE not in text_of(district.get("/campaigns/"))
    assert district.get(f"/campaigns/{campaign_id}").status_code == 404
    assert district.get(f"/campaigns/{campaign_id}/summary.xlsx").status_code == 404
    # A second row handed to them, about someone else: now the campaign is theirs to work, without their own row.
    flashed(client, bulk_post(client, campaign_id, "hand-out", [nominees[NAMES[2]]],
                              **{"bulk-unit": str(world.units["HUYEN"])}))
    assert list_count(district) == "1"
    assert board_rows(district.get(f"/campaigns/{campaign_id}").get_data(as_text=True)) == [nominees[NAMES[2]]]


# --- refusals ------------------------------------------------------------------------------------------

def test_another_units_campaign_is_unknown_and_officers_may_not_manage(app, world, as_user):
    campaign_id = new_campaign(app, world)
    nominees = with_dossiers(app, world, campaign_id, NAMES[:1], IDS[:1])
    other = as_user(world.supervisor_other)
    assert other.get(f"/campaigns/{campaign_id}").status_code == 404
    assert other.get(f"/campaigns/{campaign_id}/summary.xlsx").status_code == 404
    assert TITLE not in text_of(other.get("/campaigns/"))
    officer = as_user(world.officers[0])
    assert officer.get(f"/campaigns/{campaign_id}/nominees").status_code == 403
    assert officer.get("/campaigns/new").status_code == 403
    response = officer.post(f"/campaigns/{campaign_id}/reuse", data={
        "csrf_token": csrf_token(officer, "/campaigns/"), "nominee": list(nominees.values())})
    assert response.status_code == 403
    assert officer.get(f"/campaigns/{uuid.uuid4()}").status_code == 404


def test_a_closed_campaign_refuses_changes(app, world, as_user):
    campaign_id = new_campaign(app, world)
    nominees = with_dossiers(app, world, campaign_id, NAMES[:2], IDS[:2])
    client = as_user(world.supervisor)
    response = page_post(client, f"/campaigns/{campaign_id}", f"/campaigns/{campaign_id}/close")
    assert "Đã kết thúc đợt thẩm định" in flashed(client, response)
    with app.app_context():
        assert db.session.get(Campaign, uuid.UUID(campaign_id)).state == "closed"
        db.session.commit()
    # The board offers no change any more; a forged one changes nothing.
    board = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert "bulk-csrf_token" not in board
    response = client.post(f"/campaigns/{campaign_id}/open-reviews", data={
        "bulk-csrf_token": csrf_token(client, "/campaigns/"), "nominee": list(nominees.values()),
        "officer": [str(world.officers[0].id)]})
    assert response.status_code in (302, 400)
    assert all(row.case_id is None for row in nominee_rows(app, campaign_id))
    text = (CSV_HEADER + f"{IDS[3]},{NAMES[3]},07/08/1990,Sở Công thương,Chuyên viên\n")
    upload(client, campaign_id, text)
    assert count_rows(app, CampaignNominee) == 2


def test_bulk_actions_need_a_ticked_row_and_say_so(app, world, as_user):
    campaign_id = new_campaign(app, world)
    with_dossiers(app, world, campaign_id, NAMES[:1], IDS[:1])
    client = as_user(world.supervisor)
    page = flashed(client, bulk_post(client, campaign_id, "reuse", []))
    assert "Hãy đánh dấu ít nhất một nhân sự" in page


# --- the board's filters and cost ------------------------------------------------------------------------

def test_the_board_filters_by_state_and_searches_by_citizen_id(app, world, as_user):
    campaign_id = new_campaign(app, world)
    nominees = with_dossiers(app, world, campaign_id)
    client = as_user(world.supervisor)
    flashed(client, bulk_post(client, campaign_id, "open-reviews", [nominees[NAMES[0]]],
                              officer=[str(world.officers[0].id)]))
    in_review = client.get(f"/campaigns/{campaign_id}?state=in_review").get_data(as_text=True)
    assert board_rows(in_review) == [nominees[NAMES[0]]]
    found = client.get(f"/campaigns/{campaign_id}?q={IDS[2]}").get_data(as_text=True)
    assert board_rows(found) == [nominees[NAMES[2]]]
    views = len(audit_entries(app, "campaign.view"))
    refused = client.get(f"/campaigns/{campaign_id}?state=nonsense")
    assert refused.status_code == 200 and field_errors(text_of(refused), "state")  # an error beside the filter
    assert TITLE in text_of(refused) and len(audit_entries(app, "campaign.view")) == views + 1  # its title was read


@pytest.fixture
def still_clock():
    """The clock stands still (requested before `app`): a sign-in's last-seen time is written
    at most every 30 s, and that write must not land in the count on one run only."""
    with time_machine.travel(datetime.now(UTC), tick=False):
        yield


def test_the_board_reads_in_a_few_statements_without_lazy_loads(still_clock, app, world, as_user):
    campaign_id = new_campaign(app, world)
    names = [f"Nhân Sự Số {number}" for number in range(60)]
    ids = [f"0380810{number:05d}" for number in range(60)]
    with_dossiers(app, world, campaign_id, names, ids)
    client = as_user(world.supervisor)
    client.get(f"/campaigns/{campaign_id}")  # the first page after sign-in may do one-off work
    statements, lazy = [], []

    def on_cursor(_conn, _cursor, statement, *_args):
        if not re.match(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", statement, re.I) \
                and not re.search(r"\baudit_(chain_head|entries|links|checkpoints)\b", statement):
            statements.append(statement)

    def on_orm_execute(state):
        if state.is_relationship_load and state.lazy_loaded_from is not None:
            lazy.append(str(state.statement)[:120])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", on_cursor)
    event.listen(Session, "do_orm_execute", on_orm_execute)
    try:
        response = client.get(f"/campaigns/{campaign_id}")
    finally:
        event.remove(engine, "before_cursor_execute", on_cursor)
        event.remove(Session, "do_orm_execute", on_orm_execute)
    assert response.status_code == 200
    assert len(board_rows(response.get_data(as_text=True))) == 50
    assert lazy == []
    # The figure reached (raise it only with the reason beside it): the sign-in check, the
    # campaign, the unit tree (the scope, the campaign's units: 3), the recusal facts (the
    # index plan, the rows about the user, their assigned reviews: 3), every row's plain
    # columns and the approved conclusions (2), the page's nominees, their dossiers' keys
    # and names and the still-valid conclusions offered (4), the officers to assign: never
    # one per row.
    assert len(statements) <= 15, "\n".join(statements)

