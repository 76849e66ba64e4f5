"""The unit board (issue 24 A.1): the numbers of each sub-unit from a small world built through
the operations, the tree and its scope, the XLSX giving the same numbers, nothing protected in
either, the period form, and the audit of each view and download.

The world: BTCTU with two districts below it, HU-A (with a commune XA-A1 below it) and HU-B,
and the police committee DUCA as a partner body.
- HU-A: a review just opened; a review past its due date (in verification, with a request to
  DUCA past its due date); a review concluded today after 20 days, whose conclusion (validity
  two months) expires within 90 days.
- XA-A1: a petition just received.
- HU-B: a petition received 10 days ago and accepted today; a petition received today; a
  top-secret petition (above the board's viewer); an inspection recommendation past due.
"""

from __future__ import annotations

import html
import io
import re
from datetime import date, datetime, timedelta

import openpyxl
import pytest
from sqlalchemy import select

from audit.trail import detail_of
from cases.casework import operations
from cases.coordination import operations as coordination
from cases.coordination.operations import RequestData
from cases.models import Conclusion, Subject
from cases.oversight.models import InspectionVisit, Recommendation
from cases.petitions import operations as petitions
from cases.petitions.operations import Decision
from protection import accounts
from protection.db import db
from tests import factories
from tests.conftest import audit_entries
from tests.factories import user_row
from tests.pages import field_errors, text_of

SUBJECT_NAMES = ("Trịnh Thị Bảng Theo Dõi", "Quách Văn Đơn Vị", "Lạc Thị Kết Luận")
TITLES = ("Thẩm định quy hoạch Bí thư Huyện ủy", "Thẩm định bổ nhiệm Trưởng ban Tổ chức huyện",
          "Thẩm định kết nạp đảng viên xã")
PETITIONER = "Người Gửi Đơn Bảng Theo Dõi"
PETITION_TITLE = "Đơn tố cáo Chủ tịch xã về đất đai"
TOP_SECRET_TITLE = "Đơn tối mật về nhân sự huyện"
RECOMMENDATION = "Kiện toàn tổ bảo vệ chính trị nội bộ trong quý"
SECRETS = (*SUBJECT_NAMES, *TITLES, PETITIONER, PETITION_TITLE, TOP_SECRET_TITLE, RECOMMENDATION,
           "Đề nghị xác minh lịch sử chính trị")


@pytest.fixture(autouse=True)
def _settings(app_config):
    app_config["HOSO_LOGIN_RATE_LIMIT"] = "1000 per minute"
    app_config["HOSO_CONCLUSION_VALIDITY_MONTHS"] = 2  # an approval of today expires within 90 days


@pytest.fixture
def world(app, make_unit, make_user):
    make_unit("BTCTU", "Ban Tổ chức Tỉnh ủy")
    make_unit("HU-A", "Huyện ủy An Phú", kind="district", parent="BTCTU")
    make_unit("HU-B", "Huyện ủy Bình Sơn", kind="district", parent="BTCTU")
    make_unit("XA-A1", "Đảng ủy xã An Lạc", kind="district", parent="HU-A")
    make_unit("DUCA", "Đảng ủy Công an tỉnh", kind="police")
    users = {
        "minh": make_user("supervisor", unit="BTCTU", clearance="secret"),
        "lan": make_user("supervisor", unit="HU-A", clearance="secret"),
        "hoa": make_user("supervisor", unit="HU-B", clearance="secret"),
        "officer_btctu": make_user("officer", unit="BTCTU"),
        "officer_a": make_user("officer", unit="HU-A"),
        "officer_a1": make_user("officer", unit="XA-A1"),
        "officer_b": make_user("officer", unit="HU-B", clearance="top_secret"),
        "approver_a": make_user("supervisor", unit="HU-A", clearance="secret"),
    }
    with app.app_context():
        today = operations.today()
        officer_a, officer_a1, officer_b = (user_row(users[key]) for key in ("officer_a", "officer_a1", "officer_b"))

        factories.open_review(officer_a, factories.make_subject(officer_a, SUBJECT_NAMES[0]),
                                      title=TITLES[0], classification="unclassified")
        late = factories.open_review(officer_a, factories.make_subject(officer_a, SUBJECT_NAMES[1]),
                                     title=TITLES[1], classification="confidential")
        factories.walk(late, "start_examination", "start_verification", by=officer_a)
        late.opened_on, late.due_on = today - timedelta(days=40), today - timedelta(days=3)
        police = accounts.find_unit("DUCA")
        request_ = coordination.send_request(late, RequestData(
            police.id, "Đề nghị xác minh lịch sử chính trị", today + timedelta(days=5)), by=officer_a)
        request_.due_on = today - timedelta(days=1)

        concluded = factories.open_review(officer_a, factories.make_subject(officer_a, SUBJECT_NAMES[2]),
                                          title=TITLES[2], classification="unclassified")
        factories.to_conclusion(concluded, by=officer_a)
        factories.submit_conclusion(concluded, by=officer_a)
        factories.approve_conclusion(concluded, by=user_row(users["approver_a"]))
        concluded.opened_on = today - timedelta(days=20)

        factories.receive_petition(officer_a1, anonymous=True, named_people=["Người Được Nêu Ở Xã"])

        decided = factories.receive_petition(officer_b, received_on=today - timedelta(days=10),
                                             petitioner_name=PETITIONER, title=PETITION_TITLE,
                                             named_people=["Người Bị Tố Cáo"])
        petitions.decide(decided, Decision("accept", note="Đủ điều kiện thụ lý."), by=officer_b)
        factories.receive_petition(officer_b, anonymous=True, named_people=["Người Được Nêu"])
        factories.receive_petition(officer_b, anonymous=True, named_people=["Người Tối Mật"],
                                   classification="top_secret", title=TOP_SECRET_TITLE)

        unit_b = accounts.find_unit("HU-B")
        visit = InspectionVisit(unit_id=accounts.find_unit("BTCTU").id, sub_unit_id=unit_b.id,
                                visited_on=today - timedelta(days=60), team="Tổ kiểm tra", scope="Chuyên đề",
                                created_by_id=users["minh"].id)
        visit.recommendations.append(Recommendation(number=1, text=RECOMMENDATION, due_on=today - timedelta(days=5),
                                                    responsible_unit_id=unit_b.id))
        visit.recommendations.append(Recommendation(number=2, text="Kiến nghị đã xong", state="resolved",
                                                    due_on=today - timedelta(days=5), responsible_unit_id=unit_b.id))
        db.session.add(visit)
        db.session.commit()
        valid_until = db.session.scalar(select(Conclusion.valid_until).where(Conclusion.case_id == concluded.id))
        db.session.commit()
    return {"users": users, "today": today, "valid_until": valid_until, "concluded_subject": concluded.subject_id}


def signed_in(app, sign_in, made):
    client = app.test_client()
    assert sign_in(made, target=client).status_code == 302
    return client


def no_secrets(text: str) -> None:
    found = [secret for secret in SECRETS if secret in text]
    assert not found, found


def page_table(body: str, key: str) -> dict[str, list[str]]:
    """The rows of the page's table `key`: first cell (the unit's name, without the reference
    note) -> the other cells as shown."""
    section = body[body.index(f'id="section-{key}"'):]
    section = section[:section.index("</section>")]
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", section, re.S)[1:]:
        cells = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cell)).strip()
                 for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        label = cells[0].replace("↳", "").split(" (")[0].strip()
        rows[label] = cells[1:]
    return rows


def sheet_table(sheet) -> tuple[list[str], dict[str, list]]:
    """A worksheet's header (the row after the table's title) and its rows, label -> values."""
    lines = list(sheet.iter_rows(values_only=True))
    header_at = next(index for index, line in enumerate(lines) if line[0] in ("Đơn vị", "Cơ quan phối hợp")
                     and index > 4)
    rows = {}
    for line in lines[header_at + 1:]:
        if line[0] is None:
            break
        rows[line[0]] = list(line[1:len(lines[header_at])])
    return [cell for cell in lines[header_at] if cell is not None], rows


def shown(value) -> str:
    if value is None:
        return "—"
    return str(value).replace(".", ",")  # Vietnamese decimal comma


SUMMARY = {  # open reviews, open petitions, overdue, concluded, median, decided, median, expiring,
    #          requests overdue, recommendations overdue
    "Ban Tổ chức Tỉnh ủy": [0, 0, 0, 0, None, 0, None, 0, 0, 0],
    "Huyện ủy An Phú": [2, 0, 1, 1, 20, 0, None, 1, 1, 0],
    "Đảng ủy xã An Lạc": [0, 1, 0, 0, None, 0, None, 0, 0, 0],
    "Huyện ủy Bình Sơn": [0, 2, 0, 0, None, 1, 10, 0, 0, 1],
    "Cộng các đơn vị trực thuộc": [2, 3, 1, 1, 20, 1, 10, 1, 1, 1],
}


def test_the_board_counts_each_sub_unit_and_the_xlsx_agrees(app, sign_in, world):
    client = signed_in(app, sign_in, world["users"]["minh"])
    response = client.get("/oversight/board")
    assert response.status_code == 200
    body = text_of(response)
    no_secrets(body)

    summary = page_table(body, "summary")
    assert list(summary) == list(SUMMARY)  # the tree, depth first: HU-A, its commune, then HU-B
    assert summary == {label: [shown(value) for value in values] for label, values in SUMMARY.items()}
    assert re.search(r'data-row="unit" data-unit="XA-A1">\s*<th scope="row" class="fw-normal ps-3">', body)

    states = page_table(body, "states")
    header = re.findall(r"<th scope=\"col\"[^>]*>(.*?)</th>",
                        body[body.index('id="section-states"'):].split("</thead>")[0])
    columns = dict(zip(header[1:], states["Huyện ủy An Phú"], strict=True))
    assert columns["Thẩm định chính trị — Rà soát"] == "1" and columns["Thẩm định chính trị — Xác minh"] == "1"
    assert dict(zip(header[1:], states["Huyện ủy Bình Sơn"], strict=True))["Đơn thư — Đang giải quyết"] == "1"
    assert sum(int(cell) for cell in states["Cộng các đơn vị trực thuộc"]) == 5  # the top-secret one is not counted

    bodies = page_table(body, "bodies")
    assert bodies == {"Đảng ủy Công an tỉnh": ["1", "1"], "Tổng cộng": ["1", "1"]}
    # Every chart has its data table.
    assert body.count('<svg xmlns="http://www.w3.org/2000/svg" class="hoso-chart"') == 5
    assert body.count("<summary>Bảng số liệu</summary>") == 5

    viewed = audit_entries(app, "oversight.board.view")
    with app.app_context():
        btctu = str(accounts.find_unit("BTCTU").id)
        db.session.commit()
    assert len(viewed) == 1 and (viewed[0].target_type, viewed[0].target_id) == ("unit", btctu)
    start = date(world["today"].year - (1 if world["today"].month < 12 else 0), world["today"].month % 12 + 1, 1)
    assert detail_of(viewed[0]) == {"period_from": start.isoformat(), "period_to": world["today"].isoformat(),
                                    "units": 3, "format": "html"}

    export = client.get("/oversight/board.xlsx")
    assert export.status_code == 200 and export.mimetype.endswith("spreadsheetml.sheet")
    assert export.headers["Content-Disposition"].startswith('attachment; filename="theo-doi-don-vi-BTCTU-')
    workbook = openpyxl.load_workbook(io.BytesIO(export.data))
    assert workbook.sheetnames == ["Tổng hợp", "Theo trạng thái", "Cơ quan phối hợp"]
    _header, rows = sheet_table(workbook["Tổng hợp"])
    assert rows == SUMMARY
    _header, rows = sheet_table(workbook["Theo trạng thái"])
    assert {label: [str(value) for value in values] for label, values in rows.items()} == states
    header, rows = sheet_table(workbook["Cơ quan phối hợp"])
    assert header == ["Cơ quan phối hợp", "Tổng số quá hạn", "Huyện ủy An Phú"]
    assert rows == {"Đảng ủy Công an tỉnh": [1, 1], "Tổng cộng": [1, 1]}
    no_secrets(" ".join(str(cell) for sheet in workbook for line in sheet.iter_rows(values_only=True)
                        for cell in line if cell is not None))
    exported = audit_entries(app, "oversight.board.export")
    assert len(exported) == 1 and detail_of(exported[0])["format"] == "xlsx"


def test_a_person_reviewed_again_no_longer_counts_as_expiring(app, sign_in, world):
    app.config["HOSO_CONCLUSION_VALIDITY_MONTHS"] = 12  # the new conclusion runs past the 90 days
    with app.app_context():
        officer = user_row(world["users"]["officer_a"])
        again = factories.open_review(officer, db.session.get(Subject, world["concluded_subject"]),
                                      classification="unclassified")
        factories.to_conclusion(again, by=officer)
        factories.submit_conclusion(again, by=officer)
        factories.approve_conclusion(again, by=user_row(world["users"]["approver_a"]))
        db.session.commit()
    client = signed_in(app, sign_in, world["users"]["minh"])
    district = page_table(text_of(client.get("/oversight/board")), "summary")["Huyện ủy An Phú"]
    assert district[3] == "2"  # two reviews concluded in the period
    assert district[7] == "0"  # the first conclusion, expiring, is replaced by one valid for a year


def test_the_period_and_what_it_leaves_out(app, sign_in, world):
    client = signed_in(app, sign_in, world["users"]["minh"])
    today = world["today"]
    # A period that ended before anything was concluded or decided: no medians; what is open,
    # overdue or expiring is as of today whatever the period.
    query = {"start": (today - timedelta(days=400)).isoformat(), "end": (today - timedelta(days=30)).isoformat()}
    summary = page_table(text_of(client.get("/oversight/board", query_string=query)), "summary")
    assert summary["Cộng các đơn vị trực thuộc"] == ["2", "3", "1", "0", "—", "0", "—", "1", "1", "1"]
    # (The one expiring: approved today with a validity of two months.)
    assert today < world["valid_until"] <= today + timedelta(days=90)


@pytest.mark.parametrize(("query", "field", "message"), [
    ({"start": "31/02/2026", "end": "01/03/2026"}, "start", "Ngày không hợp lệ"),
    ({"start": "10/03/2026", "end": "01/03/2026"}, "end", "Ngày kết thúc phải sau hoặc bằng ngày bắt đầu"),
    ({"start": "", "end": "01/03/2026"}, "start", ""),
])
def test_a_bad_period_is_a_form_error_with_the_input_kept(app, sign_in, world, query, field, message):
    client = signed_in(app, sign_in, world["users"]["minh"])
    response = client.get("/oversight/board", query_string=query)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    error = field_errors(page, field)
    assert error is not None and message in error
    # Input kept: a date as the date input reads it (ISO), what is not a date as typed.
    for name, typed in query.items():
        try:
            kept = datetime.strptime(typed, "%d/%m/%Y").date().isoformat()
        except ValueError:
            kept = typed
        assert re.search(rf'<input[^>]*name="{name}"[^>]*value="{re.escape(html.escape(kept))}"', page) or not typed
    assert 'id="section-summary"' not in page
    export = client.get("/oversight/board.xlsx", query_string=query)
    assert export.status_code == 400 and field_errors(export.get_data(as_text=True), field) is not None
    assert audit_entries(app, "oversight.board.view") == audit_entries(app, "oversight.board.export") == []


def test_scope_a_district_sees_its_own_subtree_a_leaf_unit_is_told_and_others_are_refused(app, sign_in, world):
    users = world["users"]
    lan = signed_in(app, sign_in, users["lan"])  # HU-A: its commune XA-A1 below it
    body = text_of(lan.get("/oversight/board"))
    summary = page_table(body, "summary")
    assert list(summary) == ["Huyện ủy An Phú", "Đảng ủy xã An Lạc", "Cộng các đơn vị trực thuộc"]
    assert summary["Cộng các đơn vị trực thuộc"][:3] == ["0", "1", "0"]
    assert "Huyện ủy Bình Sơn" not in body, body[body.index("Huyện ủy Bình Sơn") - 300:][:600]
    # HU-A's own request (the reference row) is still HU-A's: the body shows, under HU-A.
    assert page_table(body, "bodies") == {"Đảng ủy Công an tỉnh": ["1", "1"], "Tổng cộng": ["1", "1"]}
    no_secrets(body)
    workbook = openpyxl.load_workbook(io.BytesIO(lan.get("/oversight/board.xlsx").data))
    assert list(sheet_table(workbook["Tổng hợp"])[1]) == list(summary)

    hoa = signed_in(app, sign_in, users["hoa"])  # HU-B: no unit below it
    response = hoa.get("/oversight/board")
    assert response.status_code == 200
    page = text_of(response)
    assert "data-no-sub-units" in page and "Huyện ủy Bình Sơn không có đơn vị trực thuộc" in page
    assert 'id="section-summary"' not in page
    assert hoa.get("/oversight/board.xlsx").status_code == 200
    assert not hoa.get("/oversight/board.xlsx").mimetype.endswith("sheet")
    # Lan's view is recorded; the page telling Hoa there is no board shows nothing to record.
    assert [entry.actor_id for entry in audit_entries(app, "oversight.board.view")] == [users["lan"].id]
    assert [entry.actor_id for entry in audit_entries(app, "oversight.board.export")] == [users["lan"].id]

    for made in (users["officer_btctu"], users["officer_a"]):
        officer = signed_in(app, sign_in, made)
        assert officer.get("/oversight/board").status_code == 403
        assert officer.get("/oversight/board.xlsx").status_code == 403


def test_clearance_decides_what_is_counted(app, sign_in, make_user, world):
    """A supervisor cleared for top secret counts HU-B's top-secret petition; nothing shows of it."""
    cleared = signed_in(app, sign_in, make_user("supervisor", unit="BTCTU", clearance="top_secret"))
    body = text_of(cleared.get("/oversight/board"))
    assert page_table(body, "summary")["Huyện ủy Bình Sơn"][1] == "3"
    no_secrets(body)


def test_the_cells_of_the_workbook_never_become_formulas(app, sign_in, world):
    with app.app_context():
        unit = accounts.find_unit("HU-B")
        unit.name = '=HYPERLINK("http://x.invalid","xem")'
        db.session.commit()
    client = signed_in(app, sign_in, world["users"]["minh"])
    workbook = openpyxl.load_workbook(io.BytesIO(client.get("/oversight/board.xlsx").data))
    labels = [line[0] for line in workbook["Tổng hợp"].iter_rows(values_only=True)]
    assert "'=HYPERLINK(\"http://x.invalid\",\"xem\")" in labels
    assert not any(isinstance(label, str) and label.startswith("=") for label in labels)


def test_the_menu_entry_leads_each_user_to_their_oversight_page_with_tabs(app, client, make_unit, make_user,
                                                                         login_as, sign_in):
    """/oversight/: a supervisor with sub-units lands on the board, an officer on the guidance
    library; the tabs offer only the pages the user may open."""
    make_unit()
    make_unit("HU-TEST", "Huyện ủy Thử", "district", parent="BTCTU")
    login_as("supervisor")
    response = client.get("/oversight/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/oversight/board")
    page = client.get("/oversight/board").get_data(as_text=True)
    for path in ("/oversight/board", "/oversight/visits", "/oversight/guidance/"):
        assert f'href="{path}"' in page
    assert 'href="/oversight/"' in client.get("/").get_data(as_text=True)

    other = app.test_client()
    assert sign_in(make_user("officer"), target=other).status_code == 302
    response = other.get("/oversight/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/oversight/guidance/")
    page = other.get("/oversight/guidance/").get_data(as_text=True)
    assert 'href="/oversight/visits"' in page and 'href="/oversight/board"' not in page
