"""Inspection visits (issue 24 A.2) through the real app: the provincial committee (BTCTU)
inspects a district (HUYEN); a commune below it (XA) may be given a recommendation; another
district (KHAC) must see nothing. The whole journey, the form errors with input kept, scope
and clearance, the overdue reminder through `notify send-due`, and what must never leave
the sealed columns: the database's raw bytes, the audit details, the notifications."""

from __future__ import annotations

import io
import re
import uuid

import pytest
from sqlalchemy import select, text

from audit.models import AuditEntry
from audit.trail import detail_of
from cases.notifications.models import Notification
from cases.oversight.models import InspectionVisit, Recommendation
from protection.accounts import find_unit
from protection.db import db
from tests.pages import PDF, day_text, field_errors, input_value, org_today, page_post, text_of

TEAM = "Đồng chí Trưởng đoàn Nguyễn Văn Kiểm và hai thành viên"
SCOPE = "Kiểm tra việc lập và quản lý hồ sơ bảo vệ chính trị nội bộ năm 2026"
FINDINGS = "Hồ sơ của ba đảng viên thiếu bản tự khai lý lịch bổ sung"
TEXTS = ("Bổ sung bản tự khai lý lịch cho ba đảng viên còn thiếu",
         "Lập sổ theo dõi hồ sơ mật theo mẫu của Ban Tổ chức",
         "Tập huấn nghiệp vụ cho cán bộ phụ trách công tác bảo vệ")
REPORT = "Đã bổ sung đủ bản tự khai và lưu vào hồ sơ từng đảng viên"
WAIVE = "Nội dung đã được thay thế bằng hướng dẫn mới của Tỉnh ủy"
SEND_BACK = "Chưa có biên bản tập huấn kèm theo danh sách học viên"
FILE_NAME = "bien-ban-bo-sung-ly-lich.pdf"
SECRETS = (TEAM, SCOPE, FINDINGS, *TEXTS, REPORT, WAIVE, SEND_BACK, FILE_NAME)


@pytest.fixture(autouse=True)
def _rate_limit_out_of_the_way(app_config):
    app_config["HOSO_LOGIN_RATE_LIMIT"] = "1000 per minute"


@pytest.fixture
def world(app, make_unit, make_user, sign_in):
    make_unit("BTCTU")
    make_unit("HUYEN", "Ban Tổ chức Huyện ủy Sơn Hà", kind="district", parent="BTCTU")
    make_unit("XA", "Đảng ủy xã Sơn Thủy", kind="district", parent="HUYEN")
    make_unit("KHAC", "Ban Tổ chức Huyện ủy Khác", kind="district", parent="BTCTU")
    people = {
        "inspector": make_user("supervisor", unit="BTCTU", display_name="Lãnh Đạo Tỉnh"),
        "inspector2": make_user("supervisor", unit="BTCTU", display_name="Lãnh Đạo Tỉnh Hai"),
        "officer": make_user("officer", unit="HUYEN", display_name="Cán Bộ Huyện"),
        "leader": make_user("supervisor", unit="HUYEN", display_name="Lãnh Đạo Huyện"),
        "commune": make_user("officer", unit="XA", display_name="Cán Bộ Xã"),
        "uncleared": make_user("officer", unit="HUYEN", clearance="unclassified"),
        "other_officer": make_user("officer", unit="KHAC"),
        "other_leader": make_user("supervisor", unit="KHAC"),
        "province_officer": make_user("officer", unit="BTCTU"),
    }
    with app.app_context():
        units = {code: str(find_unit(code).id) for code in ("BTCTU", "HUYEN", "XA", "KHAC")}
        db.session.commit()
    clients = {}

    def client(who):
        if who not in clients:
            clients[who] = app.test_client()
            assert sign_in(people[who], target=clients[who]).status_code == 302
        return clients[who]

    return people, units, client


def _visit_form(units, **changes):
    data = {"sub_unit_id": units["HUYEN"], "visited_on": day_text(-10), "team": TEAM, "scope": SCOPE,
            "findings": FINDINGS, "classification": "confidential"}
    data.update(changes)
    return data


def _recommend(client, visit, text_, due, unit):
    return page_post(client, f"/oversight/visits/{visit}/recommendations/new",
                     data={"text": text_, "due_on": due, "responsible_unit_id": unit})


def _state(app, model, row_id):
    with app.app_context():
        value = db.session.get(model, uuid.UUID(str(row_id))).state
        db.session.commit()
    return value


def _recommendations(app, visit):
    with app.app_context():
        rows = {row.number: (str(row.id), row.state) for row in db.session.scalars(
            select(Recommendation).where(Recommendation.visit_id == uuid.UUID(visit)))}
        db.session.commit()
    return rows


def _notifications(app, user, kind):
    with app.app_context():
        rows = db.session.scalars(select(Notification).where(Notification.user_id == user.id,
                                                             Notification.kind == kind)).all()
        found = [(row.target_id, row.reference) for row in rows]
        db.session.commit()
    return found


def _create_visit(world):
    _people, units, client = world
    response = page_post(client("inspector"), "/oversight/visits/new", data=_visit_form(units))
    assert response.status_code == 302, text_of(response)[:2000]
    return response.headers["Location"].rsplit("/", 1)[1]


def test_the_whole_journey(app, world, runner):
    people, units, client = world
    inspector, officer = client("inspector"), client("officer")

    visit = _create_visit(world)
    # Three recommendations: one to the commune below the visited district, one overdue.
    for text_, due, unit in ((TEXTS[0], day_text(20), units["HUYEN"]), (TEXTS[1], day_text(-2), units["HUYEN"]),
                             (TEXTS[2], day_text(30), units["XA"])):
        assert _recommend(inspector, visit, text_, due, unit).status_code == 302
    recs = _recommendations(app, visit)
    assert sorted(recs) == [1, 2, 3] and {state for _id, state in recs.values()} == {"open"}

    # Issued: the responsible unit's users are told, nobody else; the line names no text.
    assert len(_notifications(app, people["officer"], "recommendation_issued")) == 2
    assert len(_notifications(app, people["leader"], "recommendation_issued")) == 2
    assert len(_notifications(app, people["commune"], "recommendation_issued")) == 1
    assert _notifications(app, people["other_officer"], "recommendation_issued") == []
    page = text_of(officer.get("/notifications/"))
    visit_day = (org_today().fromordinal(org_today().toordinal() - 10)).strftime("%d/%m/%Y")
    assert f"Khuyến nghị số 1 của đợt kiểm tra ngày {visit_day} đã được giao cho đơn vị bạn thực hiện" in page
    assert not [secret for secret in SECRETS if secret in page]

    # The visited district sees the visit, every recommendation, the overdue one marked.
    page = text_of(officer.get(f"/oversight/visits/{visit}"))
    assert all(item in page for item in (SCOPE, FINDINGS, *TEXTS))
    assert "trễ 2 ngày" in page and "còn 20 ngày" in page
    # The commune sees the visit and only the recommendation addressed to it.
    page = text_of(client("commune").get(f"/oversight/visits/{visit}"))
    assert TEXTS[2] in page and TEXTS[0] not in page and TEXTS[1] not in page and FINDINGS not in page
    # Both sides list it.
    listed = officer.get("/oversight/visits").get_data(as_text=True)
    assert visit in listed and '<span class="badge text-bg-danger">1</span>' in listed  # one overdue
    assert not [secret for secret in SECRETS if secret in text_of(officer.get("/oversight/visits"))]
    assert visit in inspector.get("/oversight/visits?state=open").get_data(as_text=True)
    assert visit not in inspector.get("/oversight/visits?state=closed").get_data(as_text=True)

    # The daily reminder: the overdue recommendation, to the district's users and the
    # inspecting unit's supervisors; the same day again raises nothing.
    result = runner.invoke(args=["notify", "send-due"])
    assert result.exit_code == 0, result.output
    assert "recommendation_overdue" in result.output
    assert not [secret for secret in SECRETS if secret in result.output]
    for who in ("officer", "leader", "inspector", "inspector2"):
        assert [target for target, _ref in _notifications(app, people[who], "recommendation_overdue")] == [
            uuid.UUID(recs[2][0])], who
    for who in ("commune", "uncleared", "other_leader", "province_officer"):
        assert _notifications(app, people[who], "recommendation_overdue") == [], who
    again = runner.invoke(args=["notify", "send-due"])
    assert again.exit_code == 0 and "recommendation_overdue" not in again.output
    with app.app_context():
        assert db.session.get(Recommendation, uuid.UUID(recs[2][0])).reminded_on == org_today()
        db.session.commit()
    page = text_of(client("inspector2").get("/notifications/"))
    assert f"Khuyến nghị số 2 của đợt kiểm tra ngày {visit_day} đã quá hạn" in page
    assert not [secret for secret in SECRETS if secret in page]
    # Opening it leads to the recommendation on the visit's page.
    with app.app_context():
        note = db.session.scalars(select(Notification.id).where(
            Notification.user_id == people["inspector2"].id, Notification.kind == "recommendation_overdue")).one()
        db.session.commit()
    response = page_post(client("inspector2"), "/notifications/", f"/notifications/{note}/open")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/oversight/visits/{visit}#recommendation-2"

    # The district reports on recommendation 1 with a file; the inspectors are told.
    response = page_post(officer, f"/oversight/visits/{visit}/recommendations/{recs[1][0]}/report",
                         data={"body": REPORT, "files": (io.BytesIO(PDF), FILE_NAME)},
                         content_type="multipart/form-data")
    assert response.status_code == 302, text_of(response)[:3000]
    assert _state(app, Recommendation, recs[1][0]) == "reported"
    assert len(_notifications(app, people["inspector"], "recommendation_reported")) == 1
    assert _notifications(app, people["officer"], "recommendation_reported") == []
    page = inspector.get(f"/oversight/visits/{visit}").get_data(as_text=True)
    file_id = re.search(rf"/oversight/visits/{visit}/files/([0-9a-f-]{{36}})", page).group(1)
    download = inspector.get(f"/oversight/visits/{visit}/files/{file_id}")
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Disposition"].startswith("attachment;")
    # Only the district reports on what is addressed to it; the commune's is the commune's.
    assert officer.get(f"/oversight/visits/{visit}/recommendations/{recs[3][0]}/report").status_code == 403

    # Closing is refused while anything is open, with a clear message; nothing changes.
    response = page_post(inspector, f"/oversight/visits/{visit}", f"/oversight/visits/{visit}/close",
                         follow_redirects=True)
    assert "Chưa thể kết thúc đợt kiểm tra: còn 3 khuyến nghị" in text_of(response)
    assert _state(app, InspectionVisit, visit) == "open"

    # Waiving needs a reason: the error beside the field, the page again.
    decide = f"/oversight/visits/{visit}/recommendations/{recs[2][0]}"
    response = page_post(inspector, decide, f"{decide}/waive", data={"reason": "  "})
    assert response.status_code == 200
    assert field_errors(response.get_data(as_text=True), "reason") == "Trường này là bắt buộc."
    assert _state(app, Recommendation, recs[2][0]) == "open"
    assert page_post(inspector, decide, f"{decide}/waive", data={"reason": WAIVE}).status_code == 302
    assert _state(app, Recommendation, recs[2][0]) == "waived"

    # Accept the district's report.
    decide = f"/oversight/visits/{visit}/recommendations/{recs[1][0]}"
    assert page_post(inspector, decide, f"{decide}/accept").status_code == 302
    assert _state(app, Recommendation, recs[1][0]) == "resolved"

    # The commune reports; sent back (open again, with the note shown to it); reports again; accepted.
    commune = client("commune")
    report = f"/oversight/visits/{visit}/recommendations/{recs[3][0]}/report"
    assert page_post(commune, report, data={"body": "Đã tập huấn"}).status_code == 302
    decide = f"/oversight/visits/{visit}/recommendations/{recs[3][0]}"
    response = page_post(inspector, decide, f"{decide}/send-back", data={"note": ""})
    assert field_errors(response.get_data(as_text=True), "note") == "Trường này là bắt buộc."
    assert page_post(inspector, decide, f"{decide}/send-back", data={"note": SEND_BACK}).status_code == 302
    assert _state(app, Recommendation, recs[3][0]) == "open"
    assert SEND_BACK in text_of(commune.get(f"/oversight/visits/{visit}"))
    assert page_post(commune, report, data={"body": "Đã bổ sung biên bản"}).status_code == 302
    assert page_post(inspector, decide, f"{decide}/accept").status_code == 302

    # Now it closes, and a closed visit is read-only.
    response = page_post(inspector, f"/oversight/visits/{visit}", f"/oversight/visits/{visit}/close")
    assert response.status_code == 302
    assert _state(app, InspectionVisit, visit) == "closed"
    response = _recommend(inspector, visit, "Một khuyến nghị muộn", day_text(5), units["HUYEN"])
    assert "Đợt kiểm tra đã kết thúc" in text_of(response)
    assert len(_recommendations(app, visit)) == 3
    assert officer.get(f"/oversight/visits/{visit}/recommendations/{recs[1][0]}/report").status_code == 200
    response = page_post(officer, f"/oversight/visits/{visit}/recommendations/{recs[1][0]}/report",
                         data={"body": "Thêm"})
    assert "Đợt kiểm tra đã kết thúc" in text_of(response)

    # The trail: every change and read, with ids, states and dates only.
    with app.app_context():
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action.like("oversight.%"))
                                     .order_by(AuditEntry.id)).all()
        actions = [(entry.action, entry.outcome) for entry in entries]
        details = " ".join(entry.detail for entry in entries)
        closes = [detail_of(entry) for entry in entries if entry.action == "oversight.visit.close"]
        parts = {detail_of(entry).get("part") for entry in entries if entry.action == "oversight.visit.view"}
        db.session.commit()
    for action in ("oversight.visit.create", "oversight.recommendation.add", "oversight.recommendation.report",
                   "oversight.recommendation.accept", "oversight.recommendation.waive",
                   "oversight.recommendation.send_back", "oversight.visit.view", "oversight.file.download"):
        assert (action, "success") in actions, action
    assert ("oversight.visit.close", "denied") in actions and ("oversight.visit.close", "success") in actions
    assert closes[0] == {"reason": "unsettled", "unsettled": 3}
    assert parts == {"visit", "report_form", "decision"}  # the visit page, the report form, the decision page
    assert not [secret for secret in SECRETS if secret in details]

    # The database holds none of it in the clear.
    with app.app_context():
        raw = []
        for table in ("inspection_visits", "inspection_recommendations", "inspection_reports", "blobs",
                      "notifications"):
            raw.extend(repr(row) for row in db.session.execute(text(f"SELECT * FROM {table}")))  # noqa: S608 - fixed names
        db.session.commit()
    dump = " ".join(raw)
    for secret in SECRETS:
        assert secret not in dump and secret.encode().hex() not in dump, secret


def test_form_errors_beside_their_fields_with_the_input_kept(app, world):
    _people, units, client = world
    inspector = client("inspector")
    # A unit outside the supervisor's scope (a forged choice) and a missing scope.
    with app.app_context():
        outside = str(find_unit("BTCTU").id)  # their own unit is not a sub-unit either
        db.session.commit()
    response = page_post(inspector, "/oversight/visits/new", data=_visit_form(units, sub_unit_id=outside))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "phạm vi phụ trách" in field_errors(page, "sub_unit_id")
    assert input_value(page, "team") == TEAM
    assert SCOPE in text_of(response)

    visit = _create_visit((_people, units, client))
    # Due before the visit, a unit outside the visited one: beside each field, the text kept.
    response = _recommend(inspector, visit, TEXTS[0], day_text(-11), units["HUYEN"])
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "trước ngày kiểm tra" in field_errors(page, "due_on")
    assert TEXTS[0] in text_of(response)
    response = _recommend(inspector, visit, TEXTS[0], day_text(5), units["KHAC"])
    assert "đơn vị được kiểm tra" in field_errors(response.get_data(as_text=True), "responsible_unit_id")
    assert TEXTS[0] in text_of(response)
    assert _recommendations(app, visit) == {}

    # A refused file refuses the whole report: nothing half-written.
    assert _recommend(inspector, visit, TEXTS[0], day_text(5), units["HUYEN"]).status_code == 302
    rec = _recommendations(app, visit)[1][0]
    # Editing keeps the same rules, and the form opens with what is there.
    edit = f"/oversight/visits/{visit}/recommendations/{rec}/edit"
    assert TEXTS[0] in text_of(inspector.get(edit))
    response = page_post(inspector, edit, data={"text": TEXTS[1], "due_on": day_text(-20),
                                                "responsible_unit_id": units["HUYEN"]})
    assert "trước ngày kiểm tra" in field_errors(response.get_data(as_text=True), "due_on")
    assert TEXTS[1] in text_of(response)
    assert page_post(inspector, edit, data={"text": TEXTS[0], "due_on": day_text(7),
                                            "responsible_unit_id": units["XA"]}).status_code == 302
    with app.app_context():
        edited = db.session.get(Recommendation, uuid.UUID(rec))
        assert (edited.due_on.strftime("%d/%m/%Y"), str(edited.responsible_unit_id)) == (day_text(7), units["XA"])
        edited.responsible_unit_id = uuid.UUID(units["HUYEN"])
        db.session.commit()
    response = page_post(client("officer"), f"/oversight/visits/{visit}/recommendations/{rec}/report",
                         data={"body": REPORT, "files": [(io.BytesIO(PDF), FILE_NAME),
                                                         (io.BytesIO(b"<html>not a pdf"), "trang.pdf")]},
                         content_type="multipart/form-data")
    assert response.status_code == 200
    assert "Chỉ nhận tệp PDF" in field_errors(response.get_data(as_text=True), "files")
    assert REPORT in text_of(response)
    assert _state(app, Recommendation, rec) == "open"
    with app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM inspection_reports")).scalar() == 0
        assert db.session.execute(text("SELECT count(*) FROM oversight_files")).scalar() == 0
        db.session.commit()


def test_scope_and_clearance(app, world):
    people, units, client = world
    visit = _create_visit(world)
    assert _recommend(client("inspector"), visit, TEXTS[0], day_text(5), units["HUYEN"]).status_code == 302
    rec = _recommendations(app, visit)[1][0]
    page = f"/oversight/visits/{visit}"
    # Another district, an officer of the inspecting unit, a user not cleared: as if it did not exist.
    for who in ("other_officer", "other_leader", "province_officer", "uncleared", "commune"):
        assert client(who).get(page).status_code == 404, who
        assert client(who).get(f"{page}/recommendations/{rec}/report").status_code == 404, who
    assert client("other_leader").get(f"{page}/recommendations/{rec}").status_code == 404
    # Another visit's recommendation or file under this visit's address: not found.
    other = page_post(client("inspector"), "/oversight/visits/new", data=_visit_form(units, sub_unit_id=units["KHAC"]))
    other_visit = other.headers["Location"].rsplit("/", 1)[1]
    assert _recommend(client("inspector"), other_visit, TEXTS[1], day_text(5), units["KHAC"]).status_code == 302
    other_rec = _recommendations(app, other_visit)[1][0]
    assert client("inspector").get(f"{page}/recommendations/{other_rec}").status_code == 404
    assert client("officer").get(f"{page}/recommendations/{other_rec}/report").status_code == 404
    assert client("inspector").get(f"{page}/files/{uuid.uuid4()}").status_code == 404
    # The visited district's supervisor sees the visit, and decides nothing.
    assert client("leader").get(page).status_code == 200
    assert client("leader").get(f"{page}/recommendations/{rec}").status_code == 403
    assert client("officer").get(f"{page}/recommendations/new").status_code == 403
    response = page_post(client("leader"), page, f"{page}/close")
    assert response.status_code == 403
    # Not in the lists either.
    assert visit not in client("other_leader").get("/oversight/visits").get_data(as_text=True)
    assert visit not in client("uncleared").get("/oversight/visits").get_data(as_text=True)
    # The denials are in the trail, naming the visit's id from the URL.
    with app.app_context():
        denied = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "access.denied")).all()
        assert any(visit in entry.detail for entry in denied)
        db.session.commit()
