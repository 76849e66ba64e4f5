"""Recusal by citizen ID (issue 6 rule 5), through the real app: a user who is the subject
of a case, a recorded relative of the subject, or a person a petition names, neither sees
the case (not even in lists) nor can be assigned to it or approve it. The admin records a
user's citizen ID as a blind index only."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from cases.access import operations as access
from cases.casework import operations
from cases.casework.operations import CaseError
from cases.models import Case
from cases.reviews import operations as reviews
from cases.reviews.operations import ReviewData
from cases.subjects.operations import RelativeData, SubjectData, add_relative, create_subject
from protection.db import db
from protection.identity import User
from tests.conftest import audit_entries, post_form
from tests.factories import receive_petition

SUBJECT_ID = "001080000777"
RELATIVE_ID = "001055000888"
TITLE = "Thẩm định bổ nhiệm có xung đột lợi ích"


@pytest.fixture(autouse=True)
def _rate_limit_out_of_the_way(app_config):
    app_config["HOSO_LOGIN_RATE_LIMIT"] = "1000 per minute"


@pytest.fixture
def scene(app, make_user):
    officer, kin, supervisor = make_user("officer"), make_user("officer"), make_user("supervisor")
    with app.app_context():
        by = db.session.get(User, officer.id)
        subject = create_subject(SubjectData("Lương Văn Tự", date(1980, 1, 1), SUBJECT_ID), owner_unit=by.unit, by=by)
        add_relative(subject, RelativeData("father", "Lương Văn Cha", 1955, id_number=RELATIVE_ID), by=by)
        case = reviews.open_review(ReviewData(subject.id, "appointment", "unclassified", title=TITLE), by=by)
        db.session.commit()
        return {"officer": officer, "kin": kin, "supervisor": supervisor, "case": case.id, "subject": subject.id,
                "reference": case.reference}


def recuse(app, user, number: str) -> None:
    with app.app_context():
        db.session.get(User, user.id).citizen_index = access.citizen_index(number)
        db.session.commit()


@pytest.mark.parametrize("number", [SUBJECT_ID, RELATIVE_ID])
def test_the_subject_or_a_relative_never_sees_the_case(app, client, sign_in, scene, number):
    supervisor = scene["supervisor"]
    recuse(app, supervisor, number)
    assert sign_in(supervisor).status_code == 302
    response = client.get(f"/cases/{scene['case']}")
    assert response.status_code == 404 and TITLE not in response.get_data(as_text=True)
    listing = client.get("/cases/?view=unit").get_data(as_text=True)
    assert scene["reference"] not in listing
    filtered = client.get(f"/cases/?view=unit&reference={scene['reference']}").get_data(as_text=True)
    assert "Không có hồ sơ nào phù hợp" in filtered
    denied = audit_entries(app, "access.denied")
    assert denied and '"status":404' in denied[-1].detail


def test_a_recused_officer_cannot_be_assigned(app, scene):
    recuse(app, scene["kin"], RELATIVE_ID)
    with app.app_context():
        case = db.session.get(Case, scene["case"])
        supervisor, kin = db.session.get(User, scene["supervisor"].id), db.session.get(User, scene["kin"].id)
        assert kin not in operations.assignable_officers(case)
        with pytest.raises(CaseError) as refused:
            operations.assign(case, kin, by=supervisor)
        assert "xung đột lợi ích" in refused.value.message and "Cha" not in refused.value.message


def test_a_person_named_in_a_petition_is_recused_from_it(app, client, sign_in, scene):
    with app.app_context():
        by = db.session.get(User, scene["officer"].id)
        case = receive_petition(by, summary="Tố cáo cán bộ.", petitioner_name="Người Gửi",
                                subject_id_numbers=[SUBJECT_ID])
        db.session.commit()
        petition_id = case.id
    supervisor = scene["supervisor"]
    recuse(app, supervisor, SUBJECT_ID)
    assert sign_in(supervisor).status_code == 302
    assert client.get(f"/cases/{petition_id}").status_code == 404
    assert client.get(f"/cases/{petition_id}/petitioner").status_code == 404


def test_the_admin_records_a_citizen_id_as_an_index_only(app, client, login_as, make_user):
    login_as("admin")
    person = make_user("officer")
    page = f"/admin/users/{person.id}"
    response = post_form(client, page, {"display_name": "Nguyễn Thị Kiểm Thử", "unit": "BTCTU", "role": "officer",
                                        "clearance": "secret", "citizen_id": "12345"})
    assert response.status_code == 200 and "12 chữ số" in response.get_data(as_text=True)
    response = post_form(client, page, {"display_name": "Nguyễn Thị Kiểm Thử", "unit": "BTCTU", "role": "officer",
                                        "clearance": "secret", "citizen_id": "001 080 000777"})
    assert response.status_code == 302
    with app.app_context():
        stored = db.session.get(User, person.id)
        assert stored.citizen_index == access.citizen_index(SUBJECT_ID)
        raw = db.session.execute(text("SELECT * FROM users WHERE id = :id"),
                                 {"id": person.id.hex if db.engine.dialect.name == "sqlite" else person.id}).one()
        assert not any(SUBJECT_ID in str(value) for value in raw)
        db.session.commit()
    changed = [entry for entry in audit_entries(app, "user.updated") if entry.target_id == str(person.id)]
    assert changed and "citizen_index" in changed[-1].detail and SUBJECT_ID not in changed[-1].detail


def test_nobody_else_is_affected(app, client, sign_in, scene):
    recuse(app, scene["kin"], "001099000111")  # somebody unrelated
    supervisor = scene["supervisor"]
    assert sign_in(supervisor).status_code == 302
    assert client.get(f"/cases/{scene['case']}").status_code == 200
    with app.app_context():
        case = db.session.get(Case, scene["case"])
        assert db.session.get(User, scene["kin"].id) in operations.assignable_officers(case)


def test_an_export_leaves_out_the_exporters_own_dossier(app, client, sign_in, scene):
    with app.app_context():
        by = db.session.get(User, scene["officer"].id)
        create_subject(SubjectData("Phan Thị Khác", date(1985, 5, 5), "001185000999"), owner_unit=by.unit, by=by)
        db.session.commit()
    supervisor = scene["supervisor"]
    recuse(app, supervisor, RELATIVE_ID)  # the subject's father
    assert sign_in(supervisor).status_code == 302
    body = client.get("/subjects/export.csv").get_data(as_text=True)
    assert "Phan Thị Khác" in body and "Lương Văn Tự" not in body
