"""Issue 17: finding people by part of their name through one blind index per word
(cases/name_search.py), through the real app, its CLI and its database."""

from __future__ import annotations

import html
import json
import re
import uuid
from datetime import date

import pytest
from flask_migrate import downgrade
from sqlalchemy import func, select, text

from app import create_app
from audit.trail import detail_of
from cases.models import Subject
from cases.subjects import name_search
from cases.subjects.name_search import WORD_INDEX, SubjectNameToken
from protection import accounts
from protection.db import db
from protection.index_plans import IndexPlan
from protection.schema import MIGRATIONS, upgrade_schema
from protection.sealing import destroy_data_key
from tests.conftest import audit_entries, post_form, scratch_postgresql_database, sequenced

SUBJECT_LINK = re.compile(r'href="/subjects/([0-9a-f-]{36})"')
TOO_COMMON = "Thêm một từ nữa"


def dossier(full_name: str, id_number: str, born: str = "01/02/1980", **changes) -> dict:
    return {"full_name": full_name, "date_of_birth": born, "id_number": id_number, "sex": "female",
            "other_names": "", "native_place": "", "residence": "", "ethnicity": "", "religion": "",
            "current_unit": "", "position": "", "party_admission_date": "", "party_official_date": "",
            "notes": "", **changes}


def create(client, data: dict) -> str:
    response = post_form(client, "/subjects/new", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return response.headers["Location"].rsplit("/", 1)[1]


def page(client, query: str) -> str:
    response = client.get("/subjects/", query_string={"q": query})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def search(client, query: str) -> set[str]:
    return set(SUBJECT_LINK.findall(page(client, query)))


def q_errors(text_: str) -> str:
    match = re.search(r'id="q-errors">(.*?)</div>', text_, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).strip() if match else ""


def token_rows(app, subject_id: str | None = None) -> list[tuple[int, uuid.UUID]]:
    with app.app_context():
        query = select(SubjectNameToken.value, SubjectNameToken.subject_id)
        if subject_id:
            query = query.where(SubjectNameToken.subject_id == uuid.UUID(subject_id))
        found = db.session.execute(query).all()
        db.session.commit()
    return [tuple(row) for row in found]


@pytest.fixture
def people(client, login_as):
    login_as("officer")
    return {
        "hoa": create(client, dossier("Trần Thị Hòa", "001080000001")),
        "tran_van": create(client, dossier("Trần Văn Bình", "001080000002", born="15/08/1975",
                                           other_names="Tư Hòa")),
        "hoang": create(client, dossier("Lê Hoàng Nam", "001080000003")),
        "duc": create(client, dossier("Đỗ Đức Hòa", "001080000004", born="03/04/1990")),
    }


@pytest.mark.parametrize(("query", "expected"), [
    ("Hòa", {"hoa", "tran_van", "duc"}),            # given name, and another's other name
    ("hoa", {"hoa", "tran_van", "duc"}),            # without diacritics
    ("HÒA", {"hoa", "tran_van", "duc"}),
    ("Trần Văn", {"tran_van"}),                     # family and middle name
    ("tran van", {"tran_van"}),
    ("van tran", {"tran_van"}),                     # any order
    ("trần", {"hoa", "tran_van"}),
    ("do duc", {"duc"}),                            # đ folds to d
    ("hòa 03/04/1990", {"duc"}),                    # a date of birth narrows
    ("hòa, 1980-02-01", {"hoa"}),
    ("hoa 05/05/1999", set()),
])
def test_part_of_a_name_lists_whoever_has_every_word(client, people, query, expected):
    assert search(client, query) == {people[name] for name in expected}


@pytest.mark.parametrize("query", ["ho", "hoan", "tra", "tran thi binh", "van hoa nam", "nguyen"])
def test_no_prefix_substring_or_partial_match(client, people, query):
    # "hoa" is not part of "hoàng", "tra" is not "trần": the index has whole words only.
    assert search(client, query) == set()


def test_a_search_outside_the_unit_finds_nothing(app, people, make_unit, make_user, sign_in):
    make_unit("BNCTU", "Ban Nội chính Tỉnh ủy")
    browser = app.test_client()
    sign_in(make_user("officer", unit="BNCTU"), target=browser)
    assert search(browser, "hòa") == set()
    assert search(browser, "trần văn") == set()


def test_the_word_rows_hold_no_plaintext_and_change_with_the_name(app, client, people):
    rows = token_rows(app, people["tran_van"])
    assert len(rows) == 5  # tran, van, binh, tu, hoa
    assert all(isinstance(value, int) and 0 <= value < 2 ** name_search.WORD_BITS for value, _ in rows)
    with app.app_context():
        raw = db.session.execute(text("SELECT * FROM subject_name_tokens")).all()
        db.session.commit()
    dump = repr(raw).lower()
    for word in ("tran", "trần", "hoa", "binh"):
        assert word not in dump

    response = post_form(client, f"/subjects/{people['tran_van']}/edit",
                         dossier("Trần Văn Khuê", "001080000002", born="15/08/1975"))
    assert response.status_code == 302
    assert search(client, "khuê") == {people["tran_van"]}
    assert search(client, "binh") == set()
    assert search(client, "hòa") == {people["hoa"], people["duc"]}  # the other name went too
    assert len(token_rows(app, people["tran_van"])) == 3


def test_shredding_a_dossier_takes_its_words(app, client, people):
    with app.app_context():
        subject = db.session.get(Subject, uuid.UUID(people["duc"]))
        destroy_data_key(db.session, subject.data_key_id)
        db.session.commit()
    assert token_rows(app, people["duc"]) == []
    assert search(client, "hòa") == {people["hoa"], people["tran_van"]}


def test_deleting_a_dossier_takes_its_words(app, people):
    with app.app_context():
        db.session.delete(db.session.get(Subject, uuid.UUID(people["hoang"])))
        db.session.commit()
    assert token_rows(app, people["hoang"]) == []
    assert token_rows(app)  # the others keep theirs


def test_a_common_word_is_refused_with_the_reason_beside_the_field(app, client, people, monkeypatch):
    monkeypatch.setattr(name_search, "PROBE_LIMIT", 2)  # "hòa": 3 rows; "trần": 2
    text_ = page(client, "hòa")
    assert TOO_COMMON in q_errors(text_)
    assert 'value="hòa"' in text_  # the input is kept
    assert not SUBJECT_LINK.findall(text_)
    # Another word makes it selective: the rarer word drives, the other is probed.
    assert search(client, "hòa trần") == {people["hoa"], people["tran_van"]}
    assert search(client, "trần") == {people["hoa"], people["tran_van"]}
    entries = audit_entries(app, "subject.search")
    assert [detail_of(entry) for entry in entries] == [
        {"kind": "full_name", "results": 0, "refused": "too_common"},
        {"kind": "full_name", "results": 2},
        {"kind": "full_name", "results": 2},
    ]
    dump = json.dumps([entry.detail for entry in audit_entries(app)], ensure_ascii=False).lower()
    for word in ("hoa", "hòa", "tran", "trần"):
        assert word not in dump


def test_the_case_lists_subject_filter_says_so_too(client, people, monkeypatch):
    monkeypatch.setattr(name_search, "PROBE_LIMIT", 2)
    response = client.get("/cases/", query_string={"view": "unit", "subject": "hòa"})
    assert response.status_code == 200
    match = re.search(r'id="subject-errors">(.*?)</div>', response.get_data(as_text=True), re.S)
    assert match and TOO_COMMON in html.unescape(match.group(1))


def test_too_many_people_for_the_words_is_refused_before_decrypting(client, people, monkeypatch):
    monkeypatch.setattr(name_search, "CANDIDATE_LIMIT", 2)
    assert TOO_COMMON in q_errors(page(client, "hoa"))
    assert search(client, "hoa tran") == {people["hoa"], people["tran_van"]}
    # A date of birth narrows more candidates, decrypting only their dates first; the one
    # born that day is listed with every column of the list.
    text_ = page(client, "hoa 03/04/1990")
    assert set(SUBJECT_LINK.findall(text_)) == {people["duc"]}
    assert "Đỗ Đức Hòa" in text_ and "001080000004" in text_
    monkeypatch.setattr(name_search, "BORN_CANDIDATE_LIMIT", 2)
    assert TOO_COMMON in q_errors(page(client, "hoa 03/04/1990"))


def test_an_exact_full_name_is_still_listed_when_its_words_are_common(client, people, monkeypatch):
    monkeypatch.setattr(name_search, "PROBE_LIMIT", 0)
    text_ = page(client, "Trần Thị Hòa")
    assert set(SUBJECT_LINK.findall(text_)) == {people["hoa"]}
    assert q_errors(text_) == ""


def _as_before_the_word_index(app) -> None:
    """Dossiers written before this revision: no word rows, and the migration's marker."""
    with app.app_context():
        db.session.execute(SubjectNameToken.__table__.delete())
        db.session.add(IndexPlan(name=WORD_INDEX, bits=name_search.WORD_BITS, rebuilt_through="subjects:"))
        db.session.commit()


def test_keys_reindex_builds_the_rows_of_older_dossiers(app, client, runner, people):
    _as_before_the_word_index(app)
    text_ = page(client, "hòa")
    assert "keys reindex" in text_  # the page says why older dossiers are not found by a word
    assert not SUBJECT_LINK.findall(text_)
    assert search(client, "Trần Thị Hòa") == {people["hoa"]}  # the full name still is
    assert "rows missing" in runner.invoke(args=["keys", "status"]).output

    result = runner.invoke(args=["keys", "reindex", "--batch-size", "3"])
    assert result.exit_code == 0, result.output
    assert f"{WORD_INDEX}: rebuilt for 4 rows." in result.output
    assert len(token_rows(app)) == 3 + 5 + 3 + 3
    text_ = page(client, "hòa")
    assert "keys reindex" not in text_
    assert set(SUBJECT_LINK.findall(text_)) == {people["hoa"], people["tran_van"], people["duc"]}
    with app.app_context():
        assert db.session.get(IndexPlan, WORD_INDEX).rebuilt_through is None
        db.session.commit()
    actions = [entry.action for entry in audit_entries(app, "keys.reindex.")]
    assert actions == ["keys.reindex.start", "keys.reindex.batch", "keys.reindex.batch", "keys.reindex.finish"]

    # Nothing missing any more: without --rows there is nothing to do, as before.
    result = runner.invoke(args=["keys", "reindex"])
    assert result.exit_code == 1 and "say how many rows" in result.output


def test_an_interrupted_rebuild_goes_on_from_the_last_batch(app, runner, people):
    _as_before_the_word_index(app)
    ordered = sorted(uuid.UUID(value) for value in people.values())
    with app.app_context():
        db.session.get(IndexPlan, WORD_INDEX).rebuilt_through = f"subjects:{ordered[1]}"
        db.session.commit()
    result = runner.invoke(args=["keys", "reindex", "--index", WORD_INDEX])
    assert result.exit_code == 0, result.output
    assert f"{WORD_INDEX}: rebuilt for 2 rows." in result.output
    assert {subject for _, subject in token_rows(app)} == set(ordered[2:])


def test_keys_reindex_names_the_word_index(app, runner, people):
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(SubjectNameToken))
        db.session.commit()
    result = runner.invoke(args=["keys", "reindex", "--index", WORD_INDEX])
    assert result.exit_code == 0, result.output
    assert len(token_rows(app)) == before


# --- the migration --------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def scratch_database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    with scratch_postgresql_database("hoso_words", "set TEST_DATABASE_URL to a PostgreSQL database") as url:
        yield url


def test_the_migration_marks_existing_dossiers_for_keys_reindex(app_config, scratch_database_url):
    """An installation with dossiers, upgraded to this revision: no word rows (a migration
    cannot compute keyed hashes), a marker the search page and `keys status` show, and
    `keys reindex` builds the rows. An empty installation needs nothing."""
    application = create_app({**app_config, "HOSO_DATABASE_URL": scratch_database_url})
    previous = "b1d3a5c70002"
    try:
        with application.app_context():
            upgrade_schema()
            downgrade(directory=str(MIGRATIONS), revision=previous)
            upgrade_schema()
            assert db.session.get(IndexPlan, WORD_INDEX) is None  # nothing to build
            db.session.commit()
            unit = accounts.create_unit(code="BTCTU", name="Ban Tổ chức", kind="organisation", parent_code=None,
                                        by=None)
            subject = Subject(owner_unit=unit, full_name="Trần Thị Hòa", other_names="Út",
                              date_of_birth=date(1980, 2, 1), id_number="001080000001")
            db.session.add(subject)
            db.session.commit()
            subject_id = subject.id
            assert db.session.scalar(select(func.count()).select_from(SubjectNameToken)) == 4
            db.session.commit()

            # Going back past issue 22's migration needs every audit entry linked (on PostgreSQL
            # the sequencer links them; the migration refuses otherwise, as an operator would see).
            sequenced(application)
            downgrade(directory=str(MIGRATIONS), revision=previous)
            upgrade_schema()
            assert db.session.scalar(select(func.count()).select_from(SubjectNameToken)) == 0
            assert name_search.tokens_incomplete()
            db.session.commit()

        result = application.test_cli_runner().invoke(args=["keys", "reindex"])
        assert result.exit_code == 0, result.output
        with application.app_context():
            assert not name_search.tokens_incomplete()
            assert [subject.id for subject in name_search.find_by_words("hoa tran")] == [subject_id]
            db.session.commit()
    finally:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
