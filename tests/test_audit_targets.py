"""Issue 17: the trail names what was asked for, and reads as people read it.

Refused accesses carry their target (the case, the dossier asked for: its id, never a
protected value), so a record's history shows who tried to open it. The auditor filters by
a case reference or a username, sees references and usernames instead of internal ids and
actions in the interface language; a reference or username that names nothing, or a
malformed reference, is an error beside its field with the input kept.

Every request is made after any app context that touched the database is closed (SQLite's
BEGIN IMMEDIATE would otherwise wait on itself)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from audit.trail import detail_of, record
from cases.casework import operations
from cases.reviews import operations as reviews
from cases.reviews.operations import ReviewData
from cases.subjects import operations as subjects
from cases.subjects.operations import SubjectData
from protection.db import db
from protection.identity import User
from tests.conftest import MadeUser, audit_entries, post_form
from tests.pages import field_errors, input_value, text_of

TITLE = "Thẩm định bổ nhiệm Phó Giám đốc Sở Nội vụ"
SUMMARY = "Tóm tắt nội bộ không được lộ ra nhật ký"
SUBJECT_NAME = "Phạm Văn Được Thẩm Định"
SUBJECT_ID = "038079004321"
DISPLAY_NAMES = ("Lê Thị Mở Hồ Sơ", "Vũ Văn Đơn Vị Khác", "Đỗ Thị Cùng Đơn Vị")
PROTECTED = (TITLE, SUMMARY, SUBJECT_NAME, SUBJECT_ID, *DISPLAY_NAMES)


@pytest.fixture(autouse=True)
def _rate_limit_out_of_the_way(app_config):
    app_config["HOSO_LOGIN_RATE_LIMIT"] = "1000 per minute"


@dataclass
class Scene:
    opener: MadeUser
    outsider: MadeUser  # an officer of another unit: the case is hidden from them (404)
    colleague: MadeUser  # an officer of the owning unit, not assigned: refused (403)
    auditor: MadeUser
    case_id: str
    reference: str
    subject_id: str


@pytest.fixture
def scene(app, make_unit, make_user) -> Scene:
    make_unit("BTCTU", "Ban Tổ chức Tỉnh ủy", kind="organisation")
    make_unit("HUYEN", "Ban Tổ chức Huyện ủy Sơn Hà", kind="district", parent="BTCTU")
    make_unit("BTGTU", "Ban Tuyên giáo Tỉnh ủy", kind="propaganda")
    opener = make_user("officer", unit="HUYEN", display_name=DISPLAY_NAMES[0])
    outsider = make_user("officer", unit="BTGTU", display_name=DISPLAY_NAMES[1])
    colleague = make_user("officer", unit="HUYEN", display_name=DISPLAY_NAMES[2])
    auditor = make_user("auditor", display_name="Kiểm Tra Viên")
    with app.app_context():
        by = db.session.get(User, opener.id)
        subject = subjects.create_subject(SubjectData(SUBJECT_NAME, date(1979, 3, 4), SUBJECT_ID),
                                          owner_unit=by.unit, by=by)
        review = reviews.open_review(ReviewData(subject.id, "appointment", "confidential", title=TITLE,
                                                   summary=SUMMARY, due_on=operations.today() + timedelta(days=9)),
                                        by=by)
        db.session.commit()
        ids = str(review.id), review.reference, str(subject.id)
    return Scene(opener, outsider, colleague, auditor, *ids)


def as_user(app, sign_in, user: MadeUser):
    client = app.test_client()
    assert sign_in(user, target=client).status_code == 302
    return client


def rows(page: str) -> list[tuple[int, str]]:
    """(entry number, action code) of each row of the trail's table."""
    return [(int(entry), action) for entry, action in
            re.findall(r"<tr>\s*<td>(\d+)</td>.*?<code>([^<]+)</code>", page, re.S)]


def without_pending(page: str) -> str:
    """The page without the panel's line about entries waiting for the audit sequencer
    (PostgreSQL): it counts entries too, and is no search result."""
    return re.sub(r'<p [^>]*id="audit-pending">.*?</p>', "", page, flags=re.S)


def denials(app) -> list:
    return audit_entries(app, "access.denied")


# --- 1. refused accesses name their target ------------------------------------------------------

def test_a_hidden_case_refusal_names_the_case(app, sign_in, scene):
    """404 for a case the user may not know exists is a denial: it names the case asked for."""
    outsider = as_user(app, sign_in, scene.outsider)
    assert outsider.get(f"/cases/{scene.case_id}").status_code == 404
    denial = denials(app)[-1]
    assert (denial.actor_id, denial.outcome) == (scene.outsider.id, "denied")
    assert (denial.target_type, denial.target_id) == ("case", scene.case_id)
    assert detail_of(denial) == {"endpoint": "cases.view", "permission": "case.view", "status": 404}


def test_a_forbidden_case_refusal_names_the_case(app, sign_in, scene):
    colleague = as_user(app, sign_in, scene.colleague)
    assert colleague.get(f"/cases/{scene.case_id}").status_code == 403  # the break-the-glass offer
    denial = denials(app)[-1]
    assert (denial.actor_id, denial.target_type, denial.target_id) == (scene.colleague.id, "case", scene.case_id)
    assert detail_of(denial)["status"] == 403


def test_a_role_refusal_names_the_case_and_keeps_the_other_ids_of_the_url(app, sign_in, scene):
    """Refused at the gate, before the view runs: the URL still says what was asked for; the
    outermost record is the target (the case), the file inside it goes into the detail."""
    auditor = as_user(app, sign_in, scene.auditor)
    attachment = uuid.uuid4()
    assert auditor.get(f"/cases/{scene.case_id}/attachments/{attachment}").status_code == 403
    denial = denials(app)[-1]
    assert (denial.target_type, denial.target_id) == ("case", scene.case_id)
    assert detail_of(denial) == {"attachment": str(attachment), "endpoint": "cases.download",
                                 "permission": "case.view", "status": 403}


def test_a_hidden_dossier_refusal_names_the_dossier(app, sign_in, scene):
    outsider = as_user(app, sign_in, scene.outsider)
    assert outsider.get(f"/subjects/{scene.subject_id}").status_code == 404
    denial = denials(app)[-1]
    assert (denial.target_type, denial.target_id) == ("subject", scene.subject_id)


def test_a_refusal_without_a_record_in_the_url_has_no_target(app, sign_in, scene):
    outsider = as_user(app, sign_in, scene.outsider)
    assert outsider.get("/audit/").status_code == 403
    denial = denials(app)[-1]
    assert (denial.target_type, denial.target_id) == (None, None)


def test_refused_attempts_show_in_the_record_s_history(app, sign_in, scene):
    outsider, colleague = as_user(app, sign_in, scene.outsider), as_user(app, sign_in, scene.colleague)
    assert outsider.get(f"/cases/{scene.case_id}").status_code == 404
    assert colleague.get(f"/cases/{scene.case_id}").status_code == 403
    auditor = as_user(app, sign_in, scene.auditor)
    page = text_of(auditor.get(f"/audit/?target_type=case&target_id={scene.case_id}"))
    shown = rows(page)
    refused = [entry.id for entry in denials(app) if entry.target_id == scene.case_id]
    assert len(refused) == 2 and {number for number, _ in shown} >= set(refused)
    assert "case.create" in dict(shown).values()
    assert scene.outsider.username in page and scene.colleague.username in page
    assert f"Lịch sử truy cập: Hồ sơ {scene.reference}" in page
    assert "2 lần bị từ chối" in page
    only_refused = text_of(auditor.get(f"/audit/?target_type=case&target_id={scene.case_id}&outcome=denied"))
    assert sorted(number for number, _ in rows(only_refused)) == refused
    assert not [value for value in PROTECTED if value in page]


# --- 2. the audit view, readable -----------------------------------------------------------------

@pytest.mark.parametrize("typed", ["reference", "lowercase"])
def test_filter_by_case_reference(app, sign_in, scene, typed):
    outsider = as_user(app, sign_in, scene.outsider)
    assert outsider.get(f"/cases/{scene.case_id}").status_code == 404
    auditor = as_user(app, sign_in, scene.auditor)
    reference = scene.reference if typed == "reference" else scene.reference.lower()
    page = text_of(auditor.get("/audit/", query_string={"target_id": reference}))
    expected = [entry.id for entry in audit_entries(app)
                if (entry.target_type, entry.target_id) == ("case", scene.case_id)]
    assert sorted(number for number, _ in rows(page)) == expected
    assert {"case.create", "access.denied"} <= set(dict(rows(page)).values())
    assert input_value(page, "target_id") == reference, "the input is kept as typed"
    search = audit_entries(app, "audit.search")[-1]
    assert detail_of(search) == {"filter_target_type": "case", "filters": ["target_type", "target_id"]}


def test_rows_show_references_usernames_and_labels_not_ids_or_codes(app, sign_in, scene):
    auditor = as_user(app, sign_in, scene.auditor)
    page = text_of(auditor.get("/audit/?action=case.create"))
    assert rows(page) and {action for _, action in rows(page)} == {"case.create"}
    row = re.search(r"<tr>\s*<td>\d+</td>.*?</tr>", page, re.S).group(0)
    assert f"Hồ sơ {scene.reference}</a>" in row
    assert f"case {scene.case_id[:8]}" not in row
    assert "Mở hồ sơ" in row  # the action's label
    assert scene.opener.username in row and "Cán bộ thẩm định" in row  # role in words
    users = text_of(auditor.get("/audit/?action=auth.signed_in"))
    assert f"Người dùng {scene.auditor.username}</a>" in users
    assert not [value for value in PROTECTED if value in page + users]


def test_an_unknown_action_code_is_shown_as_it_is(app, sign_in, scene):
    with app.app_context():
        record("test.unlabelled", target_type="widget", target_id="w-1")
        db.session.commit()
    auditor = as_user(app, sign_in, scene.auditor)
    page = text_of(auditor.get("/audit/?action=test.unlabelled"))
    row = re.search(r"<tr>\s*<td>\d+</td>.*?</tr>", page, re.S).group(0)
    assert "<code>test.unlabelled</code>" in row and "widget w-1" in row


def test_the_view_speaks_english_to_an_english_reader(app, sign_in, scene):
    auditor = as_user(app, sign_in, scene.auditor)
    english = {"Accept-Language": "en"}
    page = text_of(auditor.get("/audit/?action=case.create", headers=english))
    row = re.search(r"<tr>\s*<td>\d+</td>.*?</tr>", page, re.S).group(0)
    assert "Opened a case" in row and f"Case {scene.reference}" in row
    # Labels of their own (msgctxt), not the button texts that share the Vietnamese words.
    signed_in = text_of(auditor.get("/audit/?action=auth.signed_in", headers=english))
    assert "Signed in" in signed_in and f"User {scene.auditor.username}</a>" in signed_in
    response = post_form(auditor, "/audit/verify", token_from="/audit/", headers=english)
    assert response.status_code == 302
    page = text_of(auditor.get("/audit/", headers=english))
    assert re.search(r"alert-success[^>]*>\s*Intact: \d+ entries checked", page)
    unknown = text_of(auditor.get("/audit/?target_id=BVCT-2026-999999", headers=english))
    assert field_errors(unknown, "target_id") == "There is no case with reference BVCT-2026-999999."


@pytest.mark.parametrize("query, field, message", [
    ({"target_id": "BVCT-2020-999999"}, "target_id", "Không có hồ sơ nào mang số BVCT-2020-999999."),
    ({"target_id": "dt-2020-000001"}, "target_id", "Không có hồ sơ nào mang số DT-2020-000001."),
    ({"target_id": "BVCT-2026-14"}, "target_id", "Số hồ sơ không đúng dạng. Nhập như BVCT-2026-000014."),
    ({"target_id": "BVCT2026000014"}, "target_id", "Số hồ sơ không đúng dạng. Nhập như BVCT-2026-000014."),
    ({"target_type": "case", "target_id": "ho-so-14"}, "target_id",
     "Số hồ sơ không đúng dạng. Nhập như BVCT-2026-000014."),
    ({"target_type": "user", "target_id": "khong.co.ai"}, "target_id",
     "Không có người dùng nào có tên đăng nhập khong.co.ai."),
    ({"target_type": "unit", "target_id": "KHONGCO"}, "target_id", "Không có đơn vị nào có mã KHONGCO."),
    ({"actor": "khong.co.ai"}, "actor", "Không có người dùng nào có tên đăng nhập này."),
])
def test_a_target_or_actor_that_names_nothing_is_an_error_beside_the_field(app, sign_in, scene, query, field,
                                                                         message):
    auditor = as_user(app, sign_in, scene.auditor)
    searches = len(audit_entries(app, "audit.search"))
    response = auditor.get("/audit/", query_string=query)
    assert response.status_code == 200
    page = text_of(response)
    assert field_errors(page, field) == message
    assert input_value(page, field) == query[field], "the input is kept"
    assert rows(page) == [] and "bản ghi" not in without_pending(page), \
        "no empty table that reads as 'nothing happened'"
    assert len(audit_entries(app, "audit.search")) == searches
    assert auditor.get("/audit/export.csv", query_string=query).status_code == 400


def test_filter_by_username_as_target_and_unit_code(app, sign_in, scene):
    auditor = as_user(app, sign_in, scene.auditor)
    page = text_of(auditor.get("/audit/", query_string={"target_type": "user",
                                                         "target_id": scene.outsider.username.upper()}))
    expected = [entry.id for entry in audit_entries(app)
                if (entry.target_type, entry.target_id) == ("user", str(scene.outsider.id))]
    assert expected and sorted(number for number, _ in rows(page)) == expected
    assert f"Lịch sử truy cập: Người dùng {scene.outsider.username}" in page
    units = text_of(auditor.get("/audit/", query_string={"target_type": "unit", "target_id": "huyen"}))
    assert {action for _, action in rows(units)} == {"unit.created"}


def test_export_takes_a_reference_too(app, sign_in, scene):
    auditor = as_user(app, sign_in, scene.auditor)
    response = auditor.get("/audit/export.csv", query_string={"target_id": scene.reference})
    assert response.status_code == 200
    lines = response.get_data(as_text=True).splitlines()[1:]
    assert lines and all(f",case,{scene.case_id}," in line for line in lines)
