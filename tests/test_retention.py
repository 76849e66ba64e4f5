"""Archiving, retention and purging through the real app: the archive CLI, the read-only
rule, the purge confirmed twice, crypto-shredding in the live database, the signed purge
ledger and its replay on a database restored from before the purge."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import uuid
from datetime import date

import pytest
from sqlalchemy import select, text

from app import create_app
from audit import signing
from audit.models import AuditEntry
from audit.trail import keys_dir
from cases.casework import operations
from cases.models import Case, Comment
from cases.retention import operations as retention
from protection.db import db
from protection.identity import User
from protection.keystore import DataKey
from tests.conftest import PASSWORD, post_form
from tests.factories import (
    approve_conclusion,
    make_subject,
    open_review,
    submit_conclusion,
    to_conclusion,
)


def _user(user_id) -> User:
    return db.session.get(User, user_id)


def closed_case(app, officer_id, supervisor_id, *, closed_on: date) -> uuid.UUID:
    """A review approved and closed, with a comment, then dated back to `closed_on`."""
    with app.app_context():
        officer = _user(officer_id)
        case = to_conclusion(open_review(officer, make_subject(officer, "Lê Văn Lưu Trữ", date(1975, 3, 2))),
                             by=officer)
        operations.add_comment(case, "Ý kiến bí mật về hồ sơ lưu trữ.", by=officer)
        submit_conclusion(case, by=officer)
        approve_conclusion(case, by=_user(supervisor_id))
        case.closed_on = closed_on  # as if it had closed then
        db.session.commit()
        return case.id


@pytest.fixture
def people(make_user):
    return {"officer": make_user("officer"), "supervisor": make_user("supervisor"),
            "other_supervisor": make_user("supervisor")}


def _actions(app, action: str) -> list[AuditEntry]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_archive_cli_is_idempotent_and_makes_the_case_read_only(app, runner, people, sign_in, client):
    old = closed_case(app, people["officer"].id, people["supervisor"].id, closed_on=date(2020, 1, 10))
    with app.app_context():
        today = operations.today()
    recent = closed_case(app, people["officer"].id, people["supervisor"].id, closed_on=today)

    result = runner.invoke(args=["retention", "archive"])
    assert result.exit_code == 0, result.output
    assert "Archived 1 case(s)." in result.output
    assert runner.invoke(args=["retention", "archive"]).output.strip().endswith("Archived 0 case(s).")
    with app.app_context():
        assert db.session.get(Case, old).archived_on == today
        assert db.session.get(Case, recent).archived_on is None
        reference = db.session.get(Case, old).reference
    assert [entry.target_id for entry in _actions(app, "case.archive")] == [str(old)]

    sign_in(people["officer"])
    page = client.get(f"/cases/{old}")
    assert page.status_code == 200  # still readable
    with app.app_context():
        version = db.session.get(Case, old).version
    refused = post_form(client, f"/cases/{old}/comments", {"body": "Thêm ý kiến", "version": version},
                        token_from=f"/cases/{old}", follow_redirects=True)
    assert "Hồ sơ đã được lưu trữ và chỉ có thể xem" in refused.get_data(as_text=True)
    with app.app_context():
        assert len(db.session.scalars(select(Comment.id).where(Comment.case_id == old)).all()) == 1  # none added
    # Still found by reference in the lists.
    listing = client.get(f"/cases/?view=all&reference={reference}")
    assert reference in listing.get_data(as_text=True)

    status = runner.invoke(args=["retention", "status"])
    assert status.exit_code == 0 and "archived: 1" in status.output


def _purge(client, case_id, reference, secret=PASSWORD):
    return post_form(client, f"/retention/{case_id}/purge", {"reference": reference, "secret": secret})


def test_purge_confirmed_twice_shreds_the_content_and_signs_the_ledger(app, client, people, sign_in):
    case_id = closed_case(app, people["officer"].id, people["supervisor"].id, closed_on=date(2001, 5, 4))
    with app.app_context():
        case = db.session.get(Case, case_id)
        reference, key_id = case.reference, case.data_key_id
    sign_in(people["supervisor"])
    listing = client.get("/retention/").get_data(as_text=True)
    assert reference in listing and "Lê Văn" not in listing

    wrong_reference = _purge(client, case_id, "XX-000")
    assert wrong_reference.status_code == 200
    assert "Số hồ sơ nhập lại không khớp." in wrong_reference.get_data(as_text=True)
    wrong_password = _purge(client, case_id, reference, secret="not-my-password")
    assert "Mật khẩu hoặc mã xác thực không đúng." in wrong_password.get_data(as_text=True)
    assert f'value="{reference}"' in wrong_password.get_data(as_text=True)  # the input is kept
    with app.app_context():
        assert db.session.get(Case, case_id).purged_at is None
        assert db.session.get(DataKey, key_id) is not None

    done = _purge(client, case_id, reference)
    assert done.status_code == 303

    with app.app_context():
        row = db.session.execute(text("SELECT title, data_key_id FROM cases WHERE id = :id"),
                                 {"id": case_id.hex if db.engine.dialect.name == "sqlite" else case_id}).one()
        assert row.title is not None and row.data_key_id is None  # the ciphertext stays, its key is gone
        assert db.session.get(DataKey, key_id) is None
        case = db.session.get(Case, case_id)
        assert case.title is None and case.purged_by_id == people["supervisor"].id
        assert case.reference == reference and case.closed_on == date(2001, 5, 4)
        assert all(comment.body is None for comment in db.session.scalars(
            select(Comment).where(Comment.case_id == case_id)))
    purges = [entry for entry in _actions(app, "case.purge") if entry.outcome == "success"]
    assert [entry.target_id for entry in purges] == [str(case_id)]
    assert "Lê Văn" not in purges[0].detail
    refusals = sorted((entry for entry in _actions(app, "case.purge") if entry.outcome == "failure"),
                      key=lambda entry: entry.id)
    assert [json.loads(entry.detail)["reason"] for entry in refusals] == ["reference_mismatch",
                                                                           "identity_not_confirmed"]
    assert all(entry.actor_id == people["supervisor"].id and "Lê Văn" not in entry.detail for entry in refusals)

    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Nội dung đã bị hủy." in body and reference in body
    views = [json.loads(entry.detail) for entry in _actions(app, "case.view") if entry.target_id == str(case_id)
             and entry.actor_id == people["supervisor"].id]
    assert views == [{"part": "purged"}]  # the view of what is left is audited too
    listing = client.get(f"/cases/?view=all&reference={reference}")
    assert listing.status_code == 200 and reference in listing.get_data(as_text=True)
    with app.app_context():
        subject_id = db.session.get(Case, case_id).subject_id
    assert client.get(f"/subjects/{subject_id}").status_code == 200  # the dossier is not the case's

    with app.app_context():
        lines = retention.ledger_path().read_text().splitlines()
        assert [json.loads(line)["reference"] for line in lines] == [reference]
        assert retention.read_ledger()[0]["approver"] == str(people["supervisor"].id)
        assert retention.replay_purge_ledger(db.session) == 0  # already shredded here
    again = _purge(client, case_id, reference)
    assert "Nội dung hồ sơ này đã bị hủy." in again.get_data(as_text=True)


def test_purge_refused_while_under_retention(app, client, people, sign_in):
    case_id = closed_case(app, people["officer"].id, people["supervisor"].id, closed_on=date(2015, 1, 1))
    with app.app_context():
        reference = db.session.get(Case, case_id).reference
    sign_in(people["supervisor"])
    assert reference not in client.get("/retention/").get_data(as_text=True)
    refused = _purge(client, case_id, reference)
    assert "Hồ sơ còn trong thời hạn lưu trữ; chưa được hủy." in refused.get_data(as_text=True)
    [entry] = _actions(app, "case.purge")  # the refused attempt is audited, nothing else changed
    assert entry.outcome == "failure" and entry.target_id == str(case_id)
    assert json.loads(entry.detail) == {"reason": "under_retention", "reference": reference}
    with app.app_context():
        assert db.session.get(Case, case_id).data_key_id is not None
        assert not retention.ledger_path().exists()


def test_a_tampered_ledger_is_refused(app, client, people, sign_in):
    case_id = closed_case(app, people["officer"].id, people["supervisor"].id, closed_on=date(2000, 2, 29))
    with app.app_context():
        reference = db.session.get(Case, case_id).reference
    sign_in(people["supervisor"])
    assert _purge(client, case_id, reference).status_code == 303
    with app.app_context():
        path = retention.ledger_path()
        entry = json.loads(path.read_text())
        entry["case"] = str(uuid.uuid4())  # point the purge at another case
        path.write_text(json.dumps(entry) + "\n")
        with pytest.raises(retention.LedgerTampered, match="bad signature"):
            retention.replay_purge_ledger(db.session)
        path.write_text("not json\n")
        with pytest.raises(retention.LedgerTampered, match="line 1"):
            retention.replay_purge_ledger(db.session)


def test_replay_on_a_database_restored_from_before_the_purge(app, app_config, client, people, sign_in, tmp_path):
    if not app_config["HOSO_DATABASE_URL"].startswith("sqlite"):
        pytest.skip("the copy of the database is a SQLite file copy")
    case_id = closed_case(app, people["officer"].id, people["supervisor"].id, closed_on=date(2000, 6, 1))
    with app.app_context():
        reference = db.session.get(Case, case_id).reference
        db.session.remove()
        db.engine.dispose()
    source = app_config["HOSO_DATABASE_URL"].removeprefix("sqlite:///")
    copy = tmp_path / "restored.db"
    with sqlite3.connect(source) as live, sqlite3.connect(copy) as target:
        live.backup(target)  # the "backup" taken before the purge
    target.close()

    sign_in(people["supervisor"])
    assert _purge(client, case_id, reference).status_code == 303

    restored = create_app({**app_config, "HOSO_DATABASE_URL": f"sqlite:///{copy}"})
    with restored.app_context():
        assert db.session.get(Case, case_id).title is not None  # the old backup still holds it
        assert retention.replay_purge_ledger(db.session) == 1
        assert retention.replay_purge_ledger(db.session) == 0
    with restored.app_context():
        case = db.session.get(Case, case_id)
        assert case.data_key_id is None and case.title is None and case.purged_at is not None
        assert db.session.scalar(select(AuditEntry.id).where(AuditEntry.action == "case.purge")) is not None
        db.engine.dispose()


# --- the chained ledger (issue 17) -----------------------------------------------------------------

def test_init_makes_the_ledger_key_and_an_empty_ledger(app, runner):
    """So that key backups taken at install time hold the ledger key (it used to be made at
    the first purge)."""
    keys = app.instance_path + "/keys"
    result = runner.invoke(args=["init"])
    assert result.exit_code == 0, result.output
    assert "purge-ledger.key" in result.output
    with app.app_context():
        assert retention.ledger_path().read_text() == ""
        assert (retention.ledger_path().stat().st_mode & 0o777) == 0o600
    assert (os.stat(f"{keys}/purge-ledger.key").st_mode & 0o777) == 0o600
    assert os.path.exists(f"{keys}/purge-ledger.pub")


def _v1_ledger(app, entries: list[dict]) -> None:
    """A ledger as the earlier format wrote it: each line signed alone."""
    with app.app_context():
        key = signing.ensure_signing_key(keys_dir(), retention.PRIVATE_NAME, retention.PUBLIC_NAME)
        lines = []
        for entry in entries:
            entry = {"v": 1, **entry}
            body = json.dumps({k: entry[k] for k in ("v", "case", "reference", "purged_at", "approver")},
                              sort_keys=True, separators=(",", ":")).encode()
            entry["key"] = signing.key_id(key.public_key())
            entry["sig"] = base64.urlsafe_b64encode(key.sign(body)).decode()
            lines.append(json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n")
        retention.ledger_path().write_text("".join(lines))


def test_an_old_format_ledger_is_refused_until_upgraded(app, runner, people):
    case_id = closed_case(app, people["officer"].id, people["supervisor"].id, closed_on=date(2000, 6, 1))
    with app.app_context():
        reference = db.session.get(Case, case_id).reference
        retention.purge(db.session.get(Case, case_id), by=_user(people["supervisor"].id),
                        secret=PASSWORD, reference_typed=reference)
        db.session.commit()
        purged_at = db.session.get(Case, case_id).purged_at
    old = [{"case": str(case_id), "reference": reference, "purged_at": purged_at.isoformat(),
            "approver": str(people["supervisor"].id)},
           {"case": str(uuid.uuid4()), "reference": "HS-OLD", "purged_at": purged_at.isoformat(), "approver": None}]
    _v1_ledger(app, old)

    status = runner.invoke(args=["retention", "status"])
    assert status.exit_code != 0
    assert status.output.strip().splitlines() == [status.output.strip()]
    assert "old format" in status.output and "upgrade-ledger" in status.output

    upgraded = runner.invoke(args=["retention", "upgrade-ledger"])
    assert upgraded.exit_code == 0, upgraded.output
    assert "Chained 2 line(s)" in upgraded.output
    with app.app_context():
        entries = retention.read_ledger()
        assert [(entry["n"], entry["reference"]) for entry in entries] == [(1, reference), (2, "HS-OLD")]
        kept = list(retention.ledger_path().parent.glob("purge-ledger.jsonl.v1-*"))
        assert len(kept) == 1 and len(kept[0].read_text().splitlines()) == 2
    assert runner.invoke(args=["retention", "status"]).exit_code == 0
    assert "already chained (2 line(s))" in runner.invoke(args=["retention", "upgrade-ledger"]).output


def test_an_old_format_ledger_with_a_forged_line_is_not_upgraded(app, runner, people):
    _v1_ledger(app, [{"case": str(uuid.uuid4()), "reference": "HS-1", "purged_at": "2026-01-01T00:00:00+00:00",
                      "approver": None}])
    with app.app_context():
        path = retention.ledger_path()
        before = path.read_text()
        path.write_text(before.replace("HS-1", "HS-2"))
    result = runner.invoke(args=["retention", "upgrade-ledger"])
    assert result.exit_code != 0 and "line 1 is not a verifiable format-1 entry" in result.output
    with app.app_context():
        assert "HS-2" in retention.ledger_path().read_text()  # left as it was


def test_a_purge_whose_ledger_line_cannot_be_written_says_so(app, client, people, sign_in):
    first = closed_case(app, people["officer"].id, people["supervisor"].id, closed_on=date(2000, 6, 1))
    second = closed_case(app, people["officer"].id, people["supervisor"].id, closed_on=date(2000, 6, 2))
    with app.app_context():
        references = {case_id: db.session.get(Case, case_id).reference for case_id in (first, second)}
    sign_in(people["supervisor"])
    assert _purge(client, first, references[first]).status_code == 303
    with app.app_context():
        retention.ledger_path().write_text("")  # an old copy put back over the ledger
    done = post_form(client, f"/retention/{second}/purge", {"reference": references[second], "secret": PASSWORD},
                     follow_redirects=True)
    body = done.get_data(as_text=True)
    assert done.status_code == 200
    assert "Chưa ghi được sổ hủy hồ sơ" in body and "Lê Văn" not in body
    with app.app_context():
        assert db.session.get(Case, second).purged_at is not None  # the purge itself stands
        assert retention.ledger_path().read_text() == ""  # nothing appended to the wrong chain


def test_a_shortened_instance_ledger_is_refused_and_repaired_from_a_good_copy(app, runner, client, people,
                                                                               sign_in, tmp_path):
    first = closed_case(app, people["officer"].id, people["supervisor"].id, closed_on=date(2000, 6, 1))
    second = closed_case(app, people["officer"].id, people["supervisor"].id, closed_on=date(2000, 6, 2))
    sign_in(people["supervisor"])
    for case_id in (first, second):
        with app.app_context():
            reference = db.session.get(Case, case_id).reference
        assert _purge(client, case_id, reference).status_code == 303
    with app.app_context():
        retention.append_to_ledger([db.session.get(Case, first)])  # listed already: not again
        path = retention.ledger_path()
        good = tmp_path / "copy.jsonl"
        good.write_bytes(path.read_bytes())
        assert len(good.read_text().splitlines()) == 2
        path.write_text(good.read_text().splitlines()[0] + "\n")  # the last line lost
    refused = runner.invoke(args=["retention", "status"])
    assert refused.exit_code != 0 and "reached line 2" in refused.output
    repaired = runner.invoke(args=["retention", "replay-ledger", str(good)])
    assert repaired.exit_code == 0, repaired.output
    assert "2 line(s), 0 purged case(s) shredded again" in repaired.output
    assert runner.invoke(args=["retention", "status"]).exit_code == 0
