"""Subject dossiers through the web app as officers and supervisors use them: the forms,
search over encrypted fields, unit scope, the audit trail, export, and nothing in the clear."""

from __future__ import annotations

import csv
import html
import io
import json
import logging
import os
import re
import stat
import unicodedata
import uuid
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import select
from sqlalchemy.engine import make_url

from audit.trail import detail_of
from cases.demo.seed import DEMO_CASE_SUBJECTS, DEMO_SUBJECTS
from cases.models import Relative, Subject
from cases.subjects.roster import ALL_COLUMNS
from protection.db import db
from protection.forms import parse_date
from protection.keystore import DataKey
from protection.search import vietnamese_name
from tests.conftest import audit_entries, post_form
from tests.factories import count_rows
from tests.pages import (
    AN,
    FATHER,
    add_relative_by_form,
    create_subject_by_form,
    field_errors,
    fields_with_errors,
    input_value,
    org_today,
    person,
    selected_option,
)

SUBJECT_LINK = re.compile(r'href="/subjects/([0-9a-f-]{36})"')


# --- helpers --------------------------------------------------------------------------------

def stored(app, subject_id) -> dict:
    """Every field of a dossier as the application reads it back, relatives included."""
    with app.app_context():
        subject = db.session.get(Subject, uuid.UUID(str(subject_id)))
        values = {name: getattr(subject, name) for name in AN}
        values["owner_unit"] = subject.owner_unit.code
        values["relatives"] = [
            {"id": relative.id, "relation": relative.relation, "full_name": relative.full_name,
             "birth_year": relative.birth_year, "residence": relative.residence,
             "occupation": relative.occupation, "party_member": relative.party_member}
            for relative in subject.relatives
        ]
        db.session.commit()
    return values


def search(client, query: str) -> set[str]:
    response = client.get("/subjects/", query_string={"q": query})
    assert response.status_code == 200
    return set(SUBJECT_LINK.findall(response.get_data(as_text=True)))


def details(app, action: str) -> list[dict]:
    return [detail_of(entry) for entry in audit_entries(app, action)]


@pytest.fixture
def other_client(app):
    """A second browser, for a second person signed in at the same time."""
    return app.test_client()


@pytest.fixture
def units(make_unit):
    """BTCTU with a district below it (HU-X), and a unit beside it (BNCTU)."""
    make_unit()
    make_unit("HU-X", name="Huyện ủy X", kind="district", parent="BTCTU")
    make_unit("BNCTU", name="Ban Nội chính Tỉnh ủy", kind="internal_affairs")


# --- create, view, edit ---------------------------------------------------------------------

@pytest.mark.parametrize("role", ["officer", "supervisor"])
def test_a_reviewer_creates_views_and_edits_a_dossier(app, client, login_as, role):
    user = login_as(role)
    form = client.get("/subjects/new")
    assert form.status_code == 200
    assert 'placeholder="dd/mm/yyyy"' in form.get_data(as_text=True)

    subject_id = create_subject_by_form(client)

    values = stored(app, subject_id)
    assert values["owner_unit"] == "BTCTU"
    assert values["date_of_birth"] == date(1980, 2, 1)
    assert values["party_admission_date"] == date(2004, 5, 19)
    assert values["party_official_date"] == date(2005, 5, 19)
    assert {name: values[name] for name in AN if "date" not in name} == \
        {name: value for name, value in AN.items() if "date" not in name}
    (created,) = audit_entries(app, "subject.create")
    assert created.actor_id == user.id and created.target_id == subject_id
    assert set(detail_of(created)["fields"]) == set(AN)

    page = client.get(f"/subjects/{subject_id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for expected in ("Nguyễn Văn An", "Ba An", "01/02/1980", "001080000001", "Phó Giám đốc",
                     "19/05/2004", "19/05/2005", "Đề nghị bổ nhiệm lại.", "Nam"):
        assert expected in text

    edit = client.get(f"/subjects/{subject_id}/edit").get_data(as_text=True)
    assert input_value(edit, "date_of_birth") == "1980-02-01"  # a date input's value; the browser shows 01/02/1980
    assert input_value(edit, "party_official_date") == "2005-05-19"
    assert input_value(edit, "full_name") == "Nguyễn Văn An"
    assert selected_option(edit, "sex") == "male"

    response = post_form(client, f"/subjects/{subject_id}/edit",
                         person(position="Giám đốc", party_admission_date="2004-05-20"))
    assert response.status_code == 302 and response.headers["Location"] == f"/subjects/{subject_id}"
    values = stored(app, subject_id)
    assert values["position"] == "Giám đốc"
    assert values["party_admission_date"] == date(2004, 5, 20)
    assert values["full_name"] == "Nguyễn Văn An"
    (updated,) = audit_entries(app, "subject.update")
    assert updated.target_id == subject_id and updated.actor_id == user.id
    assert sorted(detail_of(updated)["fields"]) == ["party_admission_date", "position"]

    # Saving the form unchanged changes nothing and records no update.
    response = post_form(client, f"/subjects/{subject_id}/edit",
                         person(position="Giám đốc", party_admission_date="20/05/2004"))
    assert response.status_code == 302
    assert len(audit_entries(app, "subject.update")) == 1
    assert count_rows(app, Subject) == 1


def test_names_are_kept_with_their_spacing_tidied(app, client, login_as):
    login_as("officer")
    subject_id = create_subject_by_form(client, person(full_name="  Nguyễn   Văn  An ", position="  Trưởng phòng ",
                                       religion="   "))
    values = stored(app, subject_id)
    assert values["full_name"] == "Nguyễn Văn An"
    assert values["position"] == "Trưởng phòng"
    assert values["religion"] is None


def _future() -> str:
    return (org_today() + timedelta(days=400)).strftime("%d/%m/%Y")


def _next_year() -> str:
    return str(org_today().year + 1)


def typed(changes: dict) -> dict:
    """The changes as typed when the test runs: a date relative to today is worked out then
    (on the organisation's calendar), not when the module was collected."""
    return {name: value() if callable(value) else value for name, value in changes.items()}


BAD_SUBJECT_INPUT = [
    pytest.param({"full_name": ""}, "full_name", id="empty-name"),
    pytest.param({"full_name": "    "}, "full_name", id="blank-name"),
    pytest.param({"date_of_birth": "31/02/1980"}, "date_of_birth", id="31-february"),
    pytest.param({"date_of_birth": ""}, "date_of_birth", id="no-birth-date"),
    pytest.param({"date_of_birth": "1980"}, "date_of_birth", id="year-only"),
    pytest.param({"id_number": "0010800000"}, "id_number", id="10-digit-id"),
    pytest.param({"id_number": "00108000000A"}, "id_number", id="letter-in-id"),
    pytest.param({"id_number": ""}, "id_number", id="no-id"),
    pytest.param({"date_of_birth": _future}, "date_of_birth", id="born-in-the-future"),
    pytest.param({"party_admission_date": "19/05/2005", "party_official_date": "19/05/2004"},
                 "party_official_date", id="official-before-admission"),
    pytest.param({"party_admission_date": "30/02/2004"}, "party_admission_date", id="bad-admission-date"),
    pytest.param({"sex": "other"}, "sex", id="unknown-sex"),
]


@pytest.mark.parametrize(("changes", "field"), BAD_SUBJECT_INPUT)
def test_bad_input_is_shown_beside_the_field_and_nothing_is_written(app, client, login_as, changes, field):
    changes = typed(changes)
    login_as("officer")
    entries_before = len(audit_entries(app))

    response = post_form(client, "/subjects/new", person(**changes))

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert field_errors(page, field)
    assert fields_with_errors(page) == {field}
    for name, value in person(**changes).items():  # everything typed is still there
        if name == "sex":
            continue
        if name == "notes":
            assert html.unescape(page).count(value) >= 1
        else:
            # A readable date comes back as the browser's date input reads it (yyyy-mm-dd).
            kept = parse_date(value).isoformat() if "date" in name and parse_date(value) else value
            assert (input_value(page, name) or "") == kept, name
    assert count_rows(app, Subject) == 0
    assert count_rows(app, DataKey) == 0  # not even a data key for a dossier that was never made
    assert audit_entries(app, "subject.") == []
    assert len(audit_entries(app)) == entries_before


@pytest.mark.parametrize(("changes", "field"), BAD_SUBJECT_INPUT)
def test_bad_input_in_an_edit_leaves_the_dossier_as_it_was(app, client, login_as, changes, field):
    changes = typed(changes)
    login_as("officer")
    subject_id = create_subject_by_form(client)
    before = stored(app, subject_id)

    response = post_form(client, f"/subjects/{subject_id}/edit", person(position="Giám đốc", **changes))

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert fields_with_errors(page) == {field}
    assert input_value(page, "position") == "Giám đốc"
    assert stored(app, subject_id) == before
    assert audit_entries(app, "subject.update") == []


def test_an_id_number_already_in_the_unit_is_refused_beside_the_field(app, client, login_as):
    login_as("officer")
    first = create_subject_by_form(client)
    response = post_form(client, "/subjects/new",
                         person(full_name="Trần Thị Bình", id_number="001 080 000 001"))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert fields_with_errors(page) == {"id_number"}
    assert input_value(page, "full_name") == "Trần Thị Bình"
    assert count_rows(app, Subject) == 1

    second = create_subject_by_form(client, person(full_name="Trần Thị Bình", id_number="001080000002"))
    response = post_form(client, f"/subjects/{second}/edit", person(id_number="001080000001"))
    assert fields_with_errors(response.get_data(as_text=True)) == {"id_number"}
    assert stored(app, second)["id_number"] == "001080000002"
    assert stored(app, first)["id_number"] == "001080000001"


# --- relatives ------------------------------------------------------------------------------

def test_relatives_are_added_edited_and_removed(app, client, login_as):
    user = login_as("officer")
    subject_id = create_subject_by_form(client)
    assert "/relatives/new" in client.get(f"/subjects/{subject_id}").get_data(as_text=True)

    father = add_relative_by_form(client, subject_id)
    spouse = add_relative_by_form(client, subject_id, {"relation": "spouse", "full_name": "Lê Thị Huệ",
                                               "birth_year": "1982", "occupation": "Giáo viên"})
    relatives = stored(app, subject_id)["relatives"]
    assert relatives[0] == {"id": uuid.UUID(father), "relation": "father", "full_name": "Nguyễn Văn Quý",
                            "birth_year": 1950, "residence": "Xã Đông Sơn", "occupation": "Nghỉ hưu",
                            "party_member": True}
    assert relatives[1]["full_name"] == "Lê Thị Huệ" and relatives[1]["party_member"] is False
    assert relatives[1]["residence"] is None

    page = client.get(f"/subjects/{subject_id}").get_data(as_text=True)
    assert "Nguyễn Văn Quý" in page and "Lê Thị Huệ" in page and "Giáo viên" in page

    form = client.get(f"/subjects/{subject_id}/relatives/{father}").get_data(as_text=True)
    assert input_value(form, "full_name") == "Nguyễn Văn Quý"
    assert selected_option(form, "relation") == "father"
    response = post_form(client, f"/subjects/{subject_id}/relatives/{father}",
                         {**FATHER, "occupation": "Cựu chiến binh", "party_member": ""})
    assert response.status_code == 302
    relatives = stored(app, subject_id)["relatives"]
    assert relatives[0]["occupation"] == "Cựu chiến binh" and relatives[0]["party_member"] is False

    response = post_form(client, f"/subjects/{subject_id}/relatives/{spouse}/delete",
                         token_from=f"/subjects/{subject_id}")
    assert response.status_code == 302
    assert [item["full_name"] for item in stored(app, subject_id)["relatives"]] == ["Nguyễn Văn Quý"]
    assert count_rows(app, Relative) == 1

    created = audit_entries(app, "relative.create")
    assert [entry.target_id for entry in created] == [subject_id, subject_id]
    assert [detail_of(entry)["relative"] for entry in created] == [father, spouse]
    assert all(entry.actor_id == user.id for entry in created)
    (updated,) = audit_entries(app, "relative.update")
    assert detail_of(updated) == {"relative": father, "fields": ["occupation", "party_member"]}
    (deleted,) = audit_entries(app, "relative.delete")
    assert deleted.target_id == subject_id and detail_of(deleted) == {"relative": spouse}


BAD_RELATIVE_INPUT = [
    pytest.param({"relation": "cousin"}, "relation", id="unknown-relation"),
    pytest.param({"relation": ""}, "relation", id="no-relation"),
    pytest.param({"full_name": ""}, "full_name", id="empty-name"),
    pytest.param({"full_name": "   "}, "full_name", id="blank-name"),
    pytest.param({"birth_year": "năm 1950"}, "birth_year", id="year-not-a-number"),
    pytest.param({"birth_year": _next_year}, "birth_year", id="born-next-year"),
]


@pytest.mark.parametrize(("changes", "field"), BAD_RELATIVE_INPUT)
def test_bad_relative_input_is_shown_beside_the_field_and_nothing_is_written(app, client, login_as,
                                                                             changes, field):
    changes = typed(changes)
    login_as("officer")
    subject_id = create_subject_by_form(client)
    father = add_relative_by_form(client, subject_id)
    before = stored(app, subject_id)

    added = post_form(client, f"/subjects/{subject_id}/relatives/new", {**FATHER, **changes})
    edited = post_form(client, f"/subjects/{subject_id}/relatives/{father}",
                       {**FATHER, "occupation": "Cựu chiến binh", **changes})

    for response in (added, edited):
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert field_errors(page, field)
        assert fields_with_errors(page) == {field}
        if field != "full_name":
            assert input_value(page, "full_name") == FATHER["full_name"]
    assert input_value(edited.get_data(as_text=True), "occupation") == "Cựu chiến binh"
    assert stored(app, subject_id) == before
    assert count_rows(app, Relative) == 1
    assert [entry.action for entry in audit_entries(app, "relative.")
            if entry.action != "relative.view"] == ["relative.create"]


def test_a_relative_is_reached_only_through_its_own_subject(app, client, login_as):
    login_as("officer")
    first = create_subject_by_form(client)
    second = create_subject_by_form(client, person(full_name="Trần Thị Bình", id_number="001080000002"))
    father = add_relative_by_form(client, first)
    before = stored(app, first)

    assert client.get(f"/subjects/{second}/relatives/{father}").status_code == 404
    assert post_form(client, f"/subjects/{second}/relatives/{father}",
                     {**FATHER, "full_name": "Kẻ Giả Mạo"}, token_from="/subjects/new").status_code == 404
    assert post_form(client, f"/subjects/{second}/relatives/{father}/delete",
                     token_from="/subjects/new").status_code == 404
    assert client.get(f"/subjects/{first}/relatives/{uuid.uuid4()}").status_code == 404
    assert client.get(f"/subjects/{uuid.uuid4()}/relatives/{father}").status_code == 404

    assert stored(app, first) == before
    assert stored(app, second)["relatives"] == []
    assert [entry.action for entry in audit_entries(app, "relative.")] == ["relative.create"]  # no view either


# --- search ---------------------------------------------------------------------------------

@pytest.fixture
def people(client, login_as):
    """An, a namesake born another day, and Anh whose name differs by one letter."""
    login_as("officer")
    return {
        "an": create_subject_by_form(client),
        "namesake": create_subject_by_form(client, person(date_of_birth="15/08/1975", id_number="001075000009")),
        "anh": create_subject_by_form(client, person(full_name="Nguyễn Văn Anh", other_names="Ba Anh", id_number="001080000003")),
    }


@pytest.mark.parametrize("query", ["Nguyễn Văn An", "nguyen van an", "NGUYỄN  VĂN AN", " Nguyen  Van An ",
                                   unicodedata.normalize("NFD", "Nguyễn Văn An"), "nguyễn văn ân"])
def test_a_name_is_found_typed_with_or_without_diacritics(client, people, query):
    assert search(client, query) == {people["an"], people["namesake"]}


@pytest.mark.parametrize("query", ["001080000001", "001 080 000 001", "001.080.000.001", " 0010 8000 0001 "])
def test_an_id_number_is_found_with_spaces_or_dots(client, people, query):
    assert search(client, query) == {people["an"]}


@pytest.mark.parametrize("query", ["Nguyễn Văn An 01/02/1980", "nguyen van an, 01/02/1980",
                                   "NGUYEN VAN AN 1/2/1980", "Nguyễn Văn An 1980-02-01"])
def test_a_name_and_birth_date_find_one_person(client, people, query):
    assert search(client, query) == {people["an"]}


@pytest.mark.parametrize(("query", "expected"), [
    ("Văn An", {"an", "namesake"}), ("Nguyễn An", {"an", "namesake"}), ("An", {"an", "namesake"}),
    ("ba an", {"an", "namesake"}), ("anh", {"anh"}), ("nguyễn văn", {"an", "namesake", "anh"}),
    ("nguyễn văn 01/02/1980", {"an", "anh"}), ("an nguyen, 15/08/1975", {"namesake"})])
def test_part_of_a_name_finds_whoever_has_those_whole_words(client, people, query, expected):
    # Issue 17: words of the name in any order, other names included; never part of a word.
    assert search(client, query) == {people[name] for name in expected}


@pytest.mark.parametrize("query", ["Nguyễn Văn Ann", "nguyen van a", "ngu", "Nguyễn Văn An Bình",
                                   "Nguyễn Văn An 02/01/1980", "Nguyễn Văn An 31/02/1980", "001080000002",
                                   "00108000000", "01/02/1980"])
def test_a_near_miss_finds_nobody(app, client, people, query):
    assert search(client, query) == set()
    (entry,) = audit_entries(app, "subject.search")
    assert detail_of(entry)["results"] == 0


def test_a_search_records_its_kind_and_count_never_the_term(app, client, people):
    search(client, "nguyen van an")
    search(client, "001 080 000 003")
    search(client, "Nguyễn Văn An 01/02/1980")
    search(client, "Nguyễn Văn Ann")
    client.get("/subjects/")  # the empty page searches nothing
    assert details(app, "subject.search") == [
        {"kind": "full_name", "results": 2},
        {"kind": "id_number", "results": 1},
        {"kind": "name_birth", "results": 1},
        {"kind": "full_name", "results": 0},
    ]
    dump = json.dumps([entry.detail for entry in audit_entries(app)], ensure_ascii=False).lower()
    for term in ("nguyen", "nguyễn", "001080000003", "1980"):
        assert term not in dump


def test_the_search_page_lists_the_matches_fields(client, people):
    page = client.get("/subjects/", query_string={"q": "001080000003"}).get_data(as_text=True)
    assert "Nguyễn Văn Anh" in page and "01/02/1980" in page and "Sở Tư pháp" in page
    assert "Nguyễn Văn An<" not in page


# --- unit scope and roles -------------------------------------------------------------------

def test_dossiers_stay_within_the_unit_scope(app, client, other_client, units, make_user, sign_in):
    district_officer = make_user("officer", unit="HU-X")
    sign_in(district_officer)
    district_subject = create_subject_by_form(client)  # An, in the district

    for role, unit, sees_district in [("officer", "BTCTU", False), ("officer", "BNCTU", False),
                                      ("supervisor", "BNCTU", False), ("supervisor", "BTCTU", True),
                                      ("supervisor", "HU-X", True), ("officer", "HU-X", True)]:
        browser = app.test_client()
        sign_in(make_user(role, unit=unit), target=browser)
        expected = {district_subject} if sees_district else set()
        assert search(browser, "Nguyễn Văn An") == expected, (role, unit)
        assert search(browser, "001080000001") == expected, (role, unit)
        assert search(browser, "nguyen van an 01/02/1980") == expected, (role, unit)
        for path in (f"/subjects/{district_subject}", f"/subjects/{district_subject}/edit",
                     f"/subjects/{district_subject}/relatives/new"):
            assert browser.get(path).status_code == (200 if sees_district else 404), (role, unit, path)

    # The province's officer keeps a dossier of the same person: the district cannot see it.
    province_officer = make_user("officer", unit="BTCTU")
    sign_in(province_officer, target=other_client)
    province_subject = create_subject_by_form(other_client, person(position="Giám đốc"))
    assert search(client, "001080000001") == {district_subject}
    assert client.get(f"/subjects/{province_subject}").status_code == 404
    assert search(other_client, "001080000001") == {province_subject}


def test_another_units_dossier_cannot_be_changed(app, client, other_client, units, make_user, sign_in):
    sign_in(make_user("officer", unit="BTCTU"))
    subject_id = create_subject_by_form(client)
    father = add_relative_by_form(client, subject_id)
    before = stored(app, subject_id)

    sign_in(make_user("officer", unit="BNCTU"), target=other_client)
    edits = [
        (f"/subjects/{subject_id}/edit", person(position="Giám đốc")),
        (f"/subjects/{subject_id}/relatives/new", FATHER),
        (f"/subjects/{subject_id}/relatives/{father}", {**FATHER, "full_name": "Kẻ Giả Mạo"}),
        (f"/subjects/{subject_id}/relatives/{father}/delete", {}),
    ]
    for path, data in edits:
        assert post_form(other_client, path, data, token_from="/subjects/new").status_code == 404, path
    assert stored(app, subject_id) == before
    assert audit_entries(app, "subject.update") == []
    assert [entry.action for entry in audit_entries(app, "relative.")] == ["relative.create"]


@pytest.mark.parametrize("role", ["liaison", "auditor", "admin"])
def test_liaisons_auditors_and_admins_never_reach_dossiers(app, client, other_client, login_as, make_user,
                                                          sign_in, role):
    sign_in(make_user("officer"), target=other_client)
    subject_id = create_subject_by_form(other_client)
    father = add_relative_by_form(other_client, subject_id)

    login_as(role)
    for path in ("/subjects/", "/subjects/?q=nguyen+van+an", "/subjects/new", f"/subjects/{subject_id}",
                 f"/subjects/{subject_id}/edit", f"/subjects/{subject_id}/relatives/new",
                 f"/subjects/{subject_id}/relatives/{father}", "/subjects/export.csv"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "Nguyễn Văn" not in response.get_data(as_text=True)
    response = post_form(client, "/subjects/new", person(full_name="Trần Thị Bình", id_number="001080000002"),
                         token_from="/account/password")
    assert response.status_code == 403
    assert count_rows(app, Subject) == 1
    assert audit_entries(app, "subject.search") == []
    assert audit_entries(app, "subject.view") == []


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/subjects/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.post("/subjects/new", data=AN).status_code in (400, 401)


# --- the audit trail ------------------------------------------------------------------------

def test_every_read_and_change_of_a_dossier_has_its_entry(app, client, login_as):
    user = login_as("supervisor")
    subject_id = create_subject_by_form(client)
    father = add_relative_by_form(client, subject_id)

    assert client.get(f"/subjects/{subject_id}").status_code == 200
    assert client.get(f"/subjects/{subject_id}/edit").status_code == 200
    assert client.get(f"/subjects/{subject_id}/relatives/{father}").status_code == 200
    # Tokens from a page that shows no dossier, so the entries below are the actions'.
    assert post_form(client, f"/subjects/{subject_id}/edit", person(position="Giám đốc"),
                     token_from="/subjects/new").status_code == 302
    assert post_form(client, f"/subjects/{subject_id}/relatives/{father}", {**FATHER, "occupation": "Cựu chiến binh"},
                     token_from="/subjects/new").status_code == 302
    assert post_form(client, f"/subjects/{subject_id}/relatives/{father}/delete",
                     token_from="/subjects/new").status_code == 302
    search(client, "nguyen van an")
    assert client.get("/subjects/export.csv").status_code == 200

    entries = [entry for entry in audit_entries(app)
               if entry.action.startswith(("subject.", "relative."))]
    assert [entry.action for entry in entries] == [
        "subject.create", "relative.create",
        "subject.view",  # the dossier page
        "subject.view",  # the edit form shows every field
        "relative.view",  # the relative's form shows the relative
        "subject.update", "relative.update", "relative.delete", "subject.search", "subject.export",
    ]
    for entry in entries:
        assert entry.actor_id == user.id and entry.actor_role == "supervisor" and entry.actor_unit == "BTCTU"
        assert entry.outcome == "success"
        if entry.action not in ("subject.search", "subject.export"):
            assert entry.target_type == "subject" and entry.target_id == subject_id
    assert detail_of(entries[2]) == {"relatives": 1}
    assert detail_of(entries[4]) == {"relative": father}
    assert detail_of(entries[5]) == {"fields": ["position"]}
    assert detail_of(entries[-2]) == {"kind": "full_name", "results": 1}
    assert detail_of(entries[-1]) == {"rows": 1, "format": "csv"}


def test_a_failed_view_of_another_units_dossier_is_recorded_as_a_denial(app, client, other_client, units,
                                                                        make_user, sign_in):
    sign_in(make_user("officer", unit="BTCTU"))
    subject_id = create_subject_by_form(client)
    sign_in(make_user("officer", unit="BNCTU"), target=other_client)
    assert other_client.get(f"/subjects/{subject_id}").status_code == 404
    assert audit_entries(app, "subject.view") == []
    denials = [entry for entry in audit_entries(app) if entry.outcome != "success"]
    assert denials, "the refusal left no trace"
    assert all("Nguyễn" not in entry.detail for entry in denials)


# --- nothing in the clear -------------------------------------------------------------------

CANARY_SUBJECT = {
    "full_name": "Đặng Thị Ngọc Qzhotenxw",
    "other_names": "Bé Qzbidanhxw",
    "date_of_birth": "12/03/1931",
    "sex": "female",
    "id_number": "093718264509",
    "native_place": "Xã Qzquequanxw, huyện Đầm Hà",
    "residence": "Phường Qzthuongtruxw",
    "ethnicity": "Qzdantocxw",
    "religion": "Qztongiaoxw",
    "current_unit": "Sở Qzdonvixw",
    "position": "Phó Qzchucvuxw",
    "party_admission_date": "17/08/1955",
    "party_official_date": "17/08/1956",
    "notes": "Ghi chú Qzghichuxw về hồ sơ",
}
CANARY_RELATIVES = (
    {"relation": "spouse_maternal_grandfather", "full_name": "Lò Văn Qzongngoaixw", "birth_year": "1911",
     "residence": "Bản Qznoioxw", "occupation": "Qznghenghiepxw", "party_member": "y"},
    {"relation": "foster_parent", "full_name": "Hà Thị Qznuoiduongxw", "birth_year": "1913",
     "residence": "Xóm Qzxomxw", "occupation": "Qzlamruongxw"},
)
CANARY_EDITS = {"position": "Trưởng Qzchucmoixw"}
CANARY_RELATIVE_EDIT = {"occupation": "Qznghemoixw"}
CANARY_EXTRA = ("1931-03-12", "12/03/1931", "1955-08-17", "1956-08-17", "spouse_maternal_grandfather",
                "foster_parent", "093 718 264 509")


def canary_values() -> list[str]:
    values = [value for key, value in CANARY_SUBJECT.items() if key not in ("sex", "date_of_birth")
              and "date" not in key]
    for relative in CANARY_RELATIVES:
        values += [relative["full_name"], relative["residence"], relative["occupation"]]
    return [*values, *CANARY_EDITS.values(), *CANARY_RELATIVE_EDIT.values(), *CANARY_EXTRA]


def canary_forms() -> list[str]:
    """Each value as typed, lower/upper-cased, folded as the search folds it, and each
    "Qz...xw" token alone, in composed and decomposed Unicode."""
    forms = set()
    for value in canary_values():
        variants = {value, value.lower(), value.upper(), value.casefold(), vietnamese_name(value) or value}
        variants |= {token.lower() for token in re.findall(r"Qz\w+?xw", value)}
        for variant in variants:
            forms |= {unicodedata.normalize("NFC", variant), unicodedata.normalize("NFD", variant)}
    return sorted(forms)


def byte_forms(text: str) -> list[bytes]:
    raw = text.encode("utf-8")
    return [raw, raw.hex().encode(), raw.hex().upper().encode(), text.encode("utf-16-le")]


def assert_no_canary(where: str, data: bytes | str) -> None:
    if isinstance(data, str):
        folded = data.casefold()
        for form in canary_forms():
            assert form.casefold() not in folded, f"{form!r} in {where}"
        return
    lowered = data.lower()  # ASCII case folding: catches the tokens in any case
    for form in canary_forms():
        for encoded in byte_forms(form):
            assert encoded not in data, f"{form!r} in {where}"
        if form.isascii():
            assert form.lower().encode() not in lowered, f"{form!r} in {where}"


def database_bytes(database_url: str) -> bytes:
    if database_url.startswith("sqlite"):
        path = Path(make_url(database_url).database)
        files = [Path(f"{path}{suffix}") for suffix in ("", "-wal")]
        assert files[0].exists()
        return b"".join(file.read_bytes() for file in files if file.exists())
    return postgres_dump(database_url)


def postgres_dump(url: str) -> bytes:
    """`COPY (SELECT * FROM table) TO STDOUT` of every table in the database."""
    parts = make_url(url)
    dump = b""
    with psycopg.connect(host=parts.host or "127.0.0.1", port=parts.port or 5432, user=parts.username,
                         password=parts.password, dbname=parts.database) as connection:
        tables = connection.execute(
            "SELECT schemaname, tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')").fetchall()
        assert ("public", "subjects") in tables and ("public", "relatives") in tables
        for schema, table in tables:
            statement = sql.SQL("COPY (SELECT * FROM {}) TO STDOUT").format(sql.Identifier(schema, table))
            with connection.cursor().copy(statement) as copy:
                for chunk in copy:
                    dump += bytes(chunk)
    return dump


@pytest.fixture
def server_log(caplog):
    """Everything our loggers say, at every level (they do not propagate to the root),
    and SQLAlchemy's statements."""
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    loggers = [logging.getLogger(name) for name in ("hoso", "protection", "audit", "cases")]
    for logger in loggers:
        caplog.set_level(logging.DEBUG, logger=logger.name)  # the handler too: the last call sets it
        logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        for logger in loggers:
            logger.removeHandler(caplog.handler)


def test_canaries_never_reach_the_database_the_trail_error_pages_or_the_log(
        app, client, other_client, units, database_url, login_as, make_user, sign_in, server_log):
    user = login_as("supervisor")
    subject_id = create_subject_by_form(client, CANARY_SUBJECT)
    relative_ids = [add_relative_by_form(client, subject_id, relative) for relative in CANARY_RELATIVES]
    assert post_form(client, f"/subjects/{subject_id}/edit",
                     {**CANARY_SUBJECT, **CANARY_EDITS}).status_code == 302
    assert post_form(client, f"/subjects/{subject_id}/relatives/{relative_ids[0]}",
                     {**CANARY_RELATIVES[0], **CANARY_RELATIVE_EDIT}).status_code == 302
    assert search(client, CANARY_SUBJECT["full_name"]) == {subject_id}
    assert search(client, "dang thi ngoc qzhotenxw 12/03/1931") == {subject_id}
    assert search(client, "093.718.264.509") == {subject_id}
    export = client.get("/subjects/export.csv").get_data(as_text=True)
    assert CANARY_SUBJECT["full_name"] in export  # the export is the one place they belong

    # The app reads back every value, so the checks below look for things that exist.
    values = stored(app, subject_id)
    assert values["full_name"] == CANARY_SUBJECT["full_name"]
    assert values["position"] == CANARY_EDITS["position"]
    assert [item["occupation"] for item in values["relatives"]] == ["Qznghemoixw", "Qzlamruongxw"]

    # Error pages, for a request carrying protected values, are the layout's, with none of them.
    error_pages = [
        client.post("/subjects/new", data=CANARY_SUBJECT),  # no CSRF token
        client.post(f"/subjects/{subject_id}/edit", data={**CANARY_SUBJECT, "csrf_token": "forged"}),
        client.get(f"/subjects/{uuid.uuid4()}", query_string={"q": CANARY_SUBJECT["full_name"]}),
        client.get(f"/subjects/{subject_id}/relatives/{uuid.uuid4()}"),
    ]
    sign_in(make_user("officer", unit="BNCTU", username="outsider"), target=other_client)
    error_pages += [
        other_client.get(f"/subjects/{subject_id}"),
        other_client.get(f"/subjects/{subject_id}/relatives/{relative_ids[0]}"),
        post_form(other_client, f"/subjects/{subject_id}/edit", CANARY_SUBJECT, token_from="/subjects/new"),
    ]
    liaison = make_user("liaison", username="lienlac")
    browser = app.test_client()
    sign_in(liaison, target=browser)
    error_pages.append(browser.get("/subjects/", query_string={"q": CANARY_SUBJECT["full_name"]}))
    assert [response.status_code for response in error_pages] == [400, 400, 404, 404, 404, 404, 404, 403]
    for response in error_pages:
        assert_no_canary(f"error page {response.status_code}", response.get_data(as_text=True))

    # The audit trail: every entry, every column.
    entries = audit_entries(app)
    assert {"subject.create", "relative.create", "subject.update", "relative.update", "subject.search",
            "subject.export", "subject.view"} <= {entry.action for entry in entries}
    trail = json.dumps([{column: str(getattr(entry, column)) for column in entry.__table__.columns.keys()}
                        for entry in entries], ensure_ascii=False)
    assert_no_canary("the audit trail", trail)
    assert_no_canary("the audit trail", trail.encode("utf-8"))
    assert user.id in {entry.actor_id for entry in entries}

    # The database as a thief would copy it.
    stored_bytes = database_bytes(database_url)
    assert subject_id.encode() in stored_bytes or uuid.UUID(subject_id).bytes in stored_bytes \
        or uuid.UUID(subject_id).hex.encode() in stored_bytes
    assert_no_canary("the database", stored_bytes)

    # The server log (our loggers at DEBUG, SQLAlchemy's statements at INFO).
    assert "access denied" in server_log.text and "SELECT" in server_log.text
    assert_no_canary("the server log", server_log.text)
    for record in server_log.records:
        assert_no_canary("a log record's arguments", repr(record.args))


# --- export ---------------------------------------------------------------------------------

def test_a_supervisor_exports_the_dossiers_in_scope_as_the_import_reads_them(
        app, client, other_client, units, make_user, sign_in):
    sign_in(make_user("officer", unit="HU-X"), target=other_client)
    create_subject_by_form(other_client, person(full_name="Đinh Văn Tú", id_number="038082002468", sex="male"))
    outsider = app.test_client()
    sign_in(make_user("officer", unit="BNCTU"), target=outsider)
    create_subject_by_form(outsider, person(full_name="Người Ngoài Phạm Vi", id_number="038082002469"))
    supervisor = make_user("supervisor", unit="BTCTU")
    sign_in(supervisor)
    create_subject_by_form(client, person(sex="female", other_names=""))

    response = client.get("/subjects/export.csv")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment")
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert table[0] == list(ALL_COLUMNS)
    assert table[1:] == [
        ["Nguyễn Văn An", "01/02/1980", "001080000001", "Xã Đông Sơn, huyện Sơn Hà", "Sở Tư pháp",
         "Phó Giám đốc", "", "Nữ", "Phường Bắc Sơn", "Kinh", "Không"],
        ["Đinh Văn Tú", "01/02/1980", "038082002468", "Xã Đông Sơn, huyện Sơn Hà", "Sở Tư pháp",
         "Phó Giám đốc", "Ba An", "Nam", "Phường Bắc Sơn", "Kinh", "Không"],
    ]
    (entry,) = audit_entries(app, "subject.export")
    assert entry.actor_id == supervisor.id and detail_of(entry) == {"rows": 2, "format": "csv"}


def test_an_officer_may_not_export(app, client, login_as):
    login_as("officer")
    create_subject_by_form(client)
    page = client.get("/subjects/").get_data(as_text=True)
    assert "/subjects/export.csv" not in page
    response = client.get("/subjects/export.csv")
    assert response.status_code == 403
    assert "Nguyễn Văn An" not in response.get_data(as_text=True)
    assert audit_entries(app, "subject.export") == []


def test_the_export_command_writes_a_private_file_and_never_overwrites(app, client, runner, login_as,
                                                                       tmp_path):
    login_as("officer")
    create_subject_by_form(client)
    target = tmp_path / "out" / "subjects.csv"
    target.parent.mkdir()
    old_umask = os.umask(0)
    try:
        result = runner.invoke(args=["export", "subjects", str(target), "--unit", "BTCTU"])
    finally:
        os.umask(old_umask)
    assert result.exit_code == 0, result.output
    assert "1 subjects" in result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    table = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert table[0] == list(ALL_COLUMNS) and table[1][:3] == ["Nguyễn Văn An", "01/02/1980", "001080000001"]
    (entry,) = audit_entries(app, "subject.export")
    assert entry.actor_id is None and entry.client_address == "cli" and detail_of(entry)["rows"] == 1

    target.write_text("giữ nguyên\n", encoding="utf-8")
    again = runner.invoke(args=["export", "subjects", str(target), "--unit", "BTCTU"])
    assert again.exit_code != 0
    assert "overwrite" in again.output and "Traceback" not in again.output
    assert target.read_text(encoding="utf-8") == "giữ nguyên\n"
    assert len(audit_entries(app, "subject.export")) == 1

    unknown = runner.invoke(args=["export", "subjects", str(tmp_path / "x.csv"), "--unit", "KHONGCO"])
    assert unknown.exit_code != 0 and len(unknown.output.strip().splitlines()) == 1
    assert not (tmp_path / "x.csv").exists()


# --- demo -----------------------------------------------------------------------------------

def test_the_demo_command_creates_the_demo_dossiers_once(app, runner):
    everyone = DEMO_SUBJECTS + DEMO_CASE_SUBJECTS
    people, family = len(everyone), sum(len(relatives) for _unit, _data, relatives in everyone)
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert f"Demo dossiers: {people} created, 0 already there." in first.output
    assert count_rows(app, Subject) == people and count_rows(app, Relative) == family

    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0, second.output
    assert f"Demo dossiers: 0 created, {people} already there." in second.output
    assert count_rows(app, Subject) == people and count_rows(app, Relative) == family

    with app.app_context():
        owners = sorted(subject.owner_unit.code for subject in db.session.scalars(select(Subject)))
        hoa = db.session.scalars(select(Subject)).all()
        hoa = next(subject for subject in hoa if subject.id_number == "038078001234")
        summary = (hoa.full_name, hoa.date_of_birth, [relative.relation for relative in hoa.relatives])
        db.session.commit()
    assert owners == sorted(unit for unit, _data, _relatives in everyone)
    assert summary == ("Trần Văn Hòa", date(1978, 3, 14), ["father", "mother", "spouse"])
