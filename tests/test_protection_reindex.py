"""Blind-index plans (protection/index_plans.py, protection/reindex.py) through the CLI
runner and the real database: `keys reindex` gives each index the length CipherSweet's
rule asks for the planned rows, rebuilds it while lookups keep working (also half-way
through an interrupted rebuild), keeps recusal working, and audits every step. The key
operations of `keys rotate-master` and `keys rekey` are audited too."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from cases.access import operations as access
from cases.models import Case, Relative, Subject, subjects_about
from cases.reviews import operations as reviews
from cases.reviews.operations import ReviewData
from cases.subjects.operations import RelativeData, SubjectData, add_relative, create_subject
from protection import index_plans, policy, reindex
from protection.crypto import current_keyring
from protection.db import db
from protection.identity import User
from protection.index_plans import IndexPlan, index_bits_range, plan_bits
from protection.search import find, vietnamese_name
from tests.conftest import audit_entries, sequenced

PEOPLE = [("Nguyễn Văn An", "001085012345"), ("Trần Thị Bình", "001190000222"), ("Đặng Đức Cường", "002077003333"),
          ("Lê Văn Dũng", "001066004444"), ("Phạm Thị Hà", "001099005555")]
RELATIVE_ID = "001055000888"


def run(app, *args: str):
    result = app.test_cli_runner().invoke(args=list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        pytest.fail(f"{args} crashed: {type(result.exception).__name__}: {result.exception}\n{result.output}")
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def dossiers(app, make_user):
    officer = make_user("officer")
    with app.app_context():
        by = db.session.get(User, officer.id)
        ids = []
        for name, number in PEOPLE:
            subject = create_subject(SubjectData(name, date(1980, 5, 1), number), owner_unit=by.unit, by=by)
            ids.append(subject.id)
        add_relative(db.session.get(Subject, ids[0]), RelativeData("father", "Nguyễn Văn Cha", 1950,
                                                                   id_number=RELATIVE_ID), by=by)
        db.session.commit()
    return {"officer": officer, "ids": ids}


def stored_indexes(app) -> dict:
    with app.app_context():
        rows = db.session.execute(select(Subject.id, Subject.full_name_index, Subject.id_number_index)).all()
        relatives = db.session.execute(select(Relative.id, Relative.id_number_index)).all()
        db.session.rollback()
        return {row[0]: tuple(row[1:]) for row in [*rows, *relatives]}


def lookups_find_everyone(app, ids) -> None:
    with app.app_context():
        for (name, number), subject_id in zip(PEOPLE, ids, strict=True):
            for spelling in (name, name.upper().replace(" ", "  "), vietnamese_name(name)):
                assert [row.id for row in find(Subject.full_name_index, spelling)] == [subject_id], spelling
            spaced = f"{number[:3]} {number[3:6]} {number[6:]}"
            assert [row.id for row in find(Subject.id_number_index, spaced)] == [subject_id]
        assert [row.subject_id for row in find(Relative.id_number_index, RELATIVE_ID)] == [ids[0]]
        db.session.rollback()


def plan(app, name: str):
    with app.app_context():
        found = db.session.execute(select(IndexPlan.bits, IndexPlan.previous_bits, IndexPlan.planned_rows,
                                          IndexPlan.rebuilt_through).where(IndexPlan.name == name)).one_or_none()
        db.session.rollback()
        return found


def test_plan_bits_follow_ciphersweet_for_the_planned_rows():
    for rows in (1_000, 10_000, 65_536, 100_000, 1_000_000, 10_000_000):
        low, high = index_bits_range(rows)
        bits = plan_bits(rows)
        assert low <= bits <= high
        assert 2 <= rows / 2 ** bits < 4  # two to four rows share each value
    assert plan_bits(10**12) == index_plans.MAX_BITS


def test_reindex_gives_every_index_its_planned_length_and_lookups_still_find_everyone(app, dossiers):
    before = stored_indexes(app)
    lookups_find_everyone(app, dossiers["ids"])

    result = run(app, "keys", "reindex", "--rows", "1000000")
    assert result.exit_code == 0, result.output
    assert "subjects.full_name_index: 15 -> 18 bits, planned for 1000000 rows." in result.output
    assert "subjects.id_number_index: 6 rows recomputed at 18 bits." in result.output  # 5 subjects, 1 relative

    for name in ("subjects.full_name_index", "subjects.id_number_index", "subjects.name_birth_index"):
        found = plan(app, name)
        assert (found.bits, found.previous_bits, found.planned_rows, found.rebuilt_through) == (18, None, 1_000_000, None)
    after = stored_indexes(app)
    assert after.keys() == before.keys()
    # An 18-bit value of the same HMAC starts with the 15-bit one.
    for row_id, values in after.items():
        for old, new in zip(before[row_id], values, strict=True):
            assert (old is None and new is None) or new >> 3 == old
    assert after != before
    lookups_find_everyone(app, dossiers["ids"])

    status = run(app, "keys", "status")
    assert status.exit_code == 0
    assert "subjects.full_name_index" in status.output and "18 bits" in status.output
    assert "planned for 1000000" in status.output

    again = run(app, "keys", "reindex", "--rows", "1000000")
    assert again.exit_code == 0 and "18 bits already suit 1000000 rows." in again.output


def test_the_rebuild_is_audited_step_by_step_and_names_no_value(app, dossiers):
    assert run(app, "keys", "reindex", "--rows", "10000", "--index", "subjects.id_number_index").exit_code == 0
    started = audit_entries(app, "keys.reindex.start")
    batches = audit_entries(app, "keys.reindex.batch")
    finished = audit_entries(app, "keys.reindex.finish")
    assert len(started) == 1 and len(finished) == 1 and len(batches) == 2  # subjects, then relatives
    assert '"bits":12' in started[0].detail and '"previous_bits":15' in started[0].detail
    every = " ".join(entry.detail for entry in started + batches + finished)
    for name, number in PEOPLE:
        assert number not in every and name not in every
    sequenced(app)  # PostgreSQL: link the entries first, so that verify checks them all
    verified = run(app, "audit", "verify")
    assert verified.exit_code == 0 and "pending" not in verified.output, verified.output
    # Only the index asked for changed.
    assert plan(app, "subjects.full_name_index") is None


def test_an_interrupted_rebuild_keeps_lookups_working_and_is_continued(app, dossiers):
    class Interrupted(Exception):
        """Stands for the operator's Ctrl-C, or a lost connection, between two batches."""

    with app.app_context():
        job = reindex.start(db.session, "subjects.full_name_index", rows=1_000_000)
        assert (job.bits, job.previous) == (18, 15)

        def stop_after_two(_count, seen=[]):  # noqa: B006 - counts batches across calls
            seen.append(1)
            if len(seen) == 2:
                raise Interrupted

        with pytest.raises(Interrupted):
            reindex.rebuild(db.session, current_keyring(), job, batch_size=2, on_batch=stop_after_two)
        db.session.rollback()
    half = plan(app, "subjects.full_name_index")
    assert (half.bits, half.previous_bits) == (18, 15) and half.rebuilt_through.startswith("subjects.full_name_index:")
    # Two batches of two are at 18 bits, one row still at 15: every name is still found.
    lookups_find_everyone(app, dossiers["ids"])
    # A write during the rebuild gets the new length.
    with app.app_context():
        by = db.session.get(User, dossiers["officer"].id)
        late = create_subject(SubjectData("Vũ Thị Mai", date(1990, 1, 1), "001190009999"), owner_unit=by.unit,
                              by=by).id
        db.session.commit()
        assert [row.id for row in find(Subject.full_name_index, "vu thi mai")] == [late]
        db.session.rollback()

    conflicting = run(app, "keys", "reindex", "--rows", "10000")
    assert conflicting.exit_code == 1
    assert "being rebuilt to 18 bits" in conflicting.output

    result = run(app, "keys", "reindex")
    assert result.exit_code == 0, result.output
    assert "Continuing subjects.full_name_index (18 bits)" in result.output
    done = plan(app, "subjects.full_name_index")
    assert (done.bits, done.previous_bits, done.rebuilt_through) == (18, None, None)
    lookups_find_everyone(app, dossiers["ids"])
    with app.app_context():
        assert [row.id for row in find(Subject.full_name_index, "VŨ THỊ MAI")] == [late]


@pytest.mark.parametrize("rows", ["1000", "1000000"])
def test_recusal_survives_a_new_length_of_the_citizen_index(app, dossiers, make_user, rows):
    kin = make_user("supervisor")
    with app.app_context():
        by = db.session.get(User, dossiers["officer"].id)
        case = reviews.open_review(ReviewData(dossiers["ids"][0], "appointment", "unclassified",
                                                 title="Thẩm định bổ nhiệm"), by=by)
        user = db.session.get(User, kin.id)
        user.citizen_index = access.citizen_index(RELATIVE_ID)
        db.session.commit()
        case_id = case.id

    def recused() -> bool:
        with app.app_context():
            found = policy.is_recused(db.session.get(User, kin.id), db.session.get(Case, case_id))
            about = db.session.scalars(select(Subject.id).where(Subject.id.in_(
                subjects_about(db.session.get(User, kin.id).citizen_index)))).all()
            db.session.rollback()
            return found and about == [dossiers["ids"][0]]

    assert recused()
    assert run(app, "keys", "reindex", "--rows", rows, "--index", "subjects.id_number_index").exit_code == 0
    assert recused()


@pytest.mark.parametrize(("args", "code", "says"), [
    (["keys", "reindex"], 1, "say how many rows to plan for"),
    (["keys", "reindex", "--rows", "12"], 2, "not in the range"),
    (["keys", "reindex", "--rows", "many"], 2, "is not a valid integer"),
    (["keys", "reindex", "--rows", "10000", "--index", "subjects.nope"], 1, "no blind index is named"),
])
def test_bad_reindex_input_gets_a_reason_and_changes_nothing(app, dossiers, args, code, says):
    before = stored_indexes(app)
    result = run(app, *args)
    assert result.exit_code == code and says in result.output
    assert stored_indexes(app) == before
    assert plan(app, "subjects.full_name_index") is None
    assert not audit_entries(app, "keys.reindex.start")


def test_rotating_the_master_key_and_rekeying_are_audited(app, dossiers):
    assert run(app, "keys", "rekey").exit_code == 0
    assert audit_entries(app, "keys.rekey.start") and audit_entries(app, "keys.rekey.batch")
    assert '"generation":2' in audit_entries(app, "keys.rekey.start")[0].detail
    with app.app_context():
        kinds = db.session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("keys.%"))).all()
        db.session.rollback()
    assert set(kinds) == {"keys.rekey.start", "keys.rekey.batch"}
    lookups_find_everyone(app, dossiers["ids"])
