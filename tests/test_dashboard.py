"""The home page per role (cases/dashboard/, templates/dashboard/):
short work lists for officers and supervisors, charts drawn as valid inline SVG over only
what the viewer may see, request counts for liaisons, nothing of cases for auditors and
admins, and no protected value anywhere. The world is tests/test_statistics.py's."""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest

from cases.dashboard import charts
from cases.models import Case, CoordinationRequest
from protection.db import db
from tests.factories import NAMES, TITLES, build_world

SVG = "{http://www.w3.org/2000/svg}"
CHART_IDS = ("chart-states", "chart-petitions", "chart-coordination", "chart-on-time")


@pytest.fixture(autouse=True)
def _rate_limit_out_of_the_way(app_config):
    app_config["HOSO_LOGIN_RATE_LIMIT"] = "1000 per minute"


@pytest.fixture
def world(app, make_unit, make_user):
    return build_world(app, make_unit, make_user)


def home_of(app, sign_in, made) -> str:
    client = app.test_client()
    assert sign_in(made, target=client).status_code == 302
    response = client.get("/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def svg_charts(body: str) -> dict[str, ET.Element]:
    """Each chart's SVG, parsed as XML (it must be well-formed), by the id of its title."""
    found = {}
    for text in re.findall(r'<svg xmlns="http://www.w3.org/2000/svg" class="hoso-chart".*?</svg>', body, re.S):
        root = ET.fromstring(text)  # noqa: S314 - the app's own output, in a test
        assert root.get("role") == "img"
        title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
        assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
        assert title.text and desc.text
        found[title.get("id").removesuffix("-title")] = root
    return found


def bars(root: ET.Element) -> list[ET.Element]:
    return [rect for rect in root.iter(f"{SVG}rect") if "hoso-chart-bar" in rect.get("class", "").split()]


def table_of(body: str, chart_id: str) -> list[list[str]]:
    """The data table under a chart: rows of cells (header row first)."""
    figure = body[body.index(f'id="{chart_id}-caption"'):]
    figure = figure[:figure.index("</figure>")]
    return [[html.unescape(cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", figure, re.S)]


def references(app, *keys, world) -> list[str]:
    with app.app_context():
        found = [db.session.get(Case, world.ids[key]).reference for key in keys]
        db.session.commit()
    return found


def assert_clean(body: str, readable: tuple[str, ...] = ()) -> None:
    """No protected value but whose case it is, for the cases the viewer may read (`readable`);
    never a petitioner's name."""
    text = html.unescape(body)
    assert not [secret for secret in (*TITLES, *NAMES) if secret in text and secret not in readable]
    assert " style=" not in body and "<script>" not in body and " onclick" not in body


# --- officers and supervisors -------------------------------------------------------------------

def test_officer_sees_their_work_and_charts_of_their_unit(app, sign_in, world):
    body = home_of(app, sign_in, world.users["officer"])
    # Their cases say whose they are: the subject of their review, the titled complaint, the
    # people an untitled petition concerns (issue 17). Never the petitioner.
    assert_clean(body, readable=(NAMES[2], TITLES[2]))
    about = [html.unescape(line) for line in re.findall(r"<div [^>]*data-about>([^<]*)</div>", body)]
    assert "Hà Thị Báo Cáo · Kết nạp Đảng" in about and TITLES[2] in about
    assert "Phản ánh · Người Bị Phản Ánh" in about and "Người Phản Ánh" not in html.unescape(body)
    mine = references(app, "verifying", "top_secret", "complaint", "reflection", world=world)
    for reference in mine:
        assert reference in body
    # Not theirs to work (closed, filed, forwarded) and the district's: not listed.
    for reference in references(app, "approved", "denunciation", "recommendation", "district",
                                "district_petition", world=world):
        assert reference not in body
    assert "Không có việc nào đến hạn trong tuần này." in body
    overdue = body[body.index("<span>Quá hạn</span>"):]
    assert references(app, "reflection", world=world)[0] in overdue[:overdue.index("Xem tất cả")]
    assert "trễ 2 ngày" in html.unescape(body)

    found = svg_charts(body)
    assert set(found) == set(CHART_IDS)
    assert len(bars(found["chart-states"])) == 7  # review: closed, verification, records; petition: 4 states
    assert len(bars(found["chart-petitions"])) == 24  # 12 months, received and resolved
    assert len(bars(found["chart-coordination"])) == 1
    assert len(bars(found["chart-on-time"])) == 1
    states = {row[0]: row[1:] for row in table_of(body, "chart-states")[1:]}
    assert states["Rà soát"] == ["1", "0", "1"] and states["Mới tiếp nhận"] == ["0", "1", "1"]
    assert table_of(body, "chart-coordination")[1] == ["Đảng ủy Công an tỉnh", "1", "1", "6 ngày", "6 ngày", "0"]
    assert table_of(body, "chart-on-time")[1][1:4] == ["3", "2", "1"]


def test_supervisors_see_approvals_and_counts_of_what_they_may_see_only(app, sign_in, world):
    full = home_of(app, sign_in, world.users["supervisor"])
    low = home_of(app, sign_in, world.users["supervisor_low"])
    recused = home_of(app, sign_in, world.users["supervisor_recused"])
    for body in (full, low, recused):
        assert_clean(body)
        assert "Chờ tôi phê duyệt" in body and "Không có kết luận nào đang chờ phê duyệt." in body

    def total(body):
        return sum(int(row[-1]) for row in table_of(body, "chart-states")[1:])

    # Same unit, different clearance and recusal: different counts (9 / 6 / 7 cases).
    assert (total(full), total(low), total(recused)) == (9, 6, 7)
    assert len(bars(svg_charts(full)["chart-states"])) == 7
    assert len(bars(svg_charts(low)["chart-states"])) == 5
    # The answered request belongs to a confidential case: the low-clearance supervisor's
    # coordination chart is the empty state, with what to do next.
    assert "chart-coordination" in svg_charts(full) and "chart-coordination" not in svg_charts(low)
    assert "Gửi yêu cầu xác minh từ hồ sơ ở bước xác minh." in low
    # Overdue work of the scope, the district's included, only for those who may see it.
    reflection, top_secret = references(app, "reflection", "top_secret", world=world)
    assert reflection in full and reflection in low
    assert top_secret not in low


def test_a_supervisor_sees_what_awaits_approval(app, sign_in, world):
    with app.app_context():
        case = db.session.get(Case, world.ids["verifying"])
        case.state = "submitted"
        reference = case.reference
        db.session.commit()
    body = home_of(app, sign_in, world.users["supervisor"])
    approval = body[body.index("Chờ tôi phê duyệt"):]
    assert reference in approval[:approval.index("Xem tất cả")]
    assert "/cases/?view=approval" in body


def test_an_officer_with_nothing_yet_sees_what_to_do_next(app, make_user, sign_in, world):
    body = home_of(app, sign_in, make_user("officer", unit="BTGTU", clearance="unclassified"))
    assert "Chưa có hồ sơ nào được giao cho bạn." in body
    found = svg_charts(body)
    assert set(found) == {"chart-states"}  # BTGTU has one review, and nothing else yet
    assert len(bars(found["chart-states"])) == 1
    assert "Chưa có đơn thư nào trong 12 tháng qua." in body and "Chưa có yêu cầu phối hợp nào" in body
    assert "Chưa có hồ sơ nào kết thúc trong 12 tháng qua." in body


# --- liaisons, auditors, admins -----------------------------------------------------------------

def test_liaisons_see_their_bodys_open_and_overdue_requests(app, make_user, sign_in, world):
    with app.app_context():
        request_ = db.session.get(CoordinationRequest, world.ids["request"])
        request_.state, request_.due_on = "acknowledged", request_.sent_on + timedelta(days=1)
        db.session.commit()
    body = home_of(app, sign_in, world.users["liaison"])
    assert_clean(body)
    assert "yêu cầu đang chờ đơn vị xử lý" in body and "1 quá hạn" in body
    assert "hoso-chart" not in body
    assert not re.search(r"BVCT-\d{4}-\d+|DT-\d{4}-\d+", body)
    other_body = home_of(app, sign_in, make_user("liaison", unit="BTGTU", clearance="secret"))
    assert "Không có yêu cầu xác minh nào đang chờ" in other_body


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_auditors_and_admins_get_no_case_figures(app, make_user, sign_in, world, role):
    body = home_of(app, sign_in, make_user(role, unit="BTCTU", clearance="top_secret"))
    assert_clean(body)
    assert "hoso-chart" not in body and "Thống kê" not in body
    assert not re.search(r"BVCT-\d{4}-\d+|DT-\d{4}-\d+", body)


# --- the geometry ----------------------------------------------------------------------------------

def test_chart_geometry():
    stacked = charts.stacked_rows(["A", "B"], ["x", "y"], [[2, 0], [1, 3]], summary="s", category_header="c",
                                  total_header="t")
    assert len(stacked.bars) == 3 and not stacked.empty  # a zero segment draws nothing
    widest = max(bar.x + bar.width for bar in stacked.bars)
    assert widest <= charts.WIDTH
    assert stacked.rows == [["A", "2", "0", "2"], ["B", "1", "3", "4"]]
    empty = charts.grouped_columns(["01/26", "02/26"], ["r", "s"], [[0, 0], [0, 0]], summary="", category_header="")
    assert empty.empty and len(empty.bars) == 4
    columns = charts.grouped_columns(["01/26"], ["r"], [[7]], summary="", category_header="")
    assert columns.bars[0].height == pytest.approx(240 - 16 - 40)
    assert charts._ticks(7) == [0, 2, 4, 6] and charts._ticks(1) == [0, 1] and charts._ticks(130) == [0, 50, 100]
    gauge = charts.gauge(25.0, "25 %", summary="", columns=[], row=[])
    assert [bar.track for bar in gauge.bars] == [True, False] and gauge.bars[1].width == gauge.bars[0].width / 4
    assert charts.gauge(None, "—", summary="", columns=[], row=[]).empty
