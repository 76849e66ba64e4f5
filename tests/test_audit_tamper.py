"""Tampering with the audit trail as a database administrator could — triggers set aside,
entries and links edited, deleted, inserted, reordered, cut off or rewritten wholesale — is
reported by `flask --app app audit verify` at the first bad sequence number, with its kind,
and never as a crash. An intact trail passes with one line.

The trail is two tables (issue 22): the entries, each the record of an action, and the
links, the chain itself (seq, entry_id, prev_hash, entry_hash). A forger may touch either or
both. On PostgreSQL the audit sequencer links committed entries apart from the actions'
transactions: these tests run its passes (`sequenced_all`) wherever the trail must be linked,
and entries still waiting for it are pending, which is not a problem.

The trail is built through the app itself: sign-ins that fail and succeed, a denial, a
sign-out, and an admin's changes; then `audit checkpoint` signs it and its line is kept in
a file, as another body would keep it on paper.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from app import create_app
from audit import parallel
from audit.chain import GENESIS_HASH, entry_hash, timestamp_text
from audit.models import AuditEntry, AuditLink, ChainHead, Checkpoint
from audit.service import run_verification
from audit.trail import record
from protection.clock import utcnow
from protection.db import db
from tests.conftest import (
    MadeUser,
    audit_entries,
    audit_links,
    audit_tampering,
    post_form,
    sequenced_all,
)

ENTRIES = AuditEntry.__table__
LINKS = AuditLink.__table__
HEAD = ChainHead.__table__
OK_LINE = re.compile(r"^OK: (\d+) entries verified, last seq (\d+), (\d+) checkpoints verified, "
                     r"last checkpoint at seq (\d+|none)$")
PENDING_LINE = re.compile(r"^OK: (\d+) entries verified, last seq (\d+), (\d+) checkpoints verified, "
                          r"last checkpoint at seq (\d+|none); pending (\d+), oldest (\S+)( \(WARNING: .+\))?$")
TAMPERED_LINE = re.compile(r"^TAMPERED at seq (\d+): (\w+) — .+$")
FORGED_FIELDS = ("occurred_at", "actor_id", "actor_role", "actor_unit", "action", "target_type", "target_id",
                 "outcome", "client_address", "request_id", "detail")


@dataclass
class Trail:
    officer: MadeUser
    admin: MadeUser
    checkpoint_seq: int  # signed by `audit checkpoint`; its line is in `line_file`
    line_file: Path
    last_seq: int  # entries were added after the checkpoint, up to here
    failed_sign_in_seq: int  # an officer's failed sign-in, well inside the checkpointed part


# These also run with verification split over two worker processes (audit/parallel.py) on
# ranges of a few entries, so the ranges' cuts fall among the tampered entries: the verdict
# must be the same line, word for word, as the one continuous walk gives. (A log cut short
# has no entry at some cut, and goes to the walk straight away.)
IN_PARALLEL_TOO = {
    "test_an_intact_trail_passes_with_a_one_line_summary", "test_verify_from_a_sequence_number",
    "test_a_field_edited_in_place", "test_an_edit_with_its_own_hash_recomputed_breaks_the_next_link",
    "test_an_entry_deleted_in_the_middle", "test_an_entry_deleted_from_under_its_link",
    "test_an_entry_inserted_in_the_middle", "test_an_entry_inserted_without_a_link_is_unlinked",
    "test_the_newest_link_removed_and_the_head_rewound_leaves_its_entry_unlinked",
    "test_two_adjacent_entries_swapped", "test_two_links_pointed_at_each_other_s_entries",
    "test_history_rewritten_wholesale_is_caught_by_the_signed_checkpoint",
    "test_entries_at_whole_seconds_and_round_fractions_verify",
    "test_entries_waiting_for_the_sequencer_are_pending_not_a_problem",
}


def pytest_generate_tests(metafunc):
    modes = ["sequential", "parallel"] if metafunc.function.__name__ in IN_PARALLEL_TOO else ["sequential"]
    metafunc.parametrize("verification_mode", modes, indirect=True)


@pytest.fixture(autouse=True)
def verification_mode(request, app, monkeypatch):
    if request.param == "sequential":
        app.config.update(HOSO_AUDIT_VERIFY_WORKERS=1)
        yield request.param
        return
    app.config.update(HOSO_AUDIT_VERIFY_WORKERS=2, HOSO_AUDIT_VERIFY_PARALLEL_FROM=2)
    passes = []
    real = parallel.verify_in_parallel

    def counted(**arguments):
        passes.append(len(arguments["ranges"]))
        return real(**arguments)

    monkeypatch.setattr(parallel, "verify_in_parallel", counted)
    yield request.param
    assert passes and all(ranges > 2 for ranges in passes), "the parallel pass did not run"


def on_postgresql(app) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


def run_verify(runner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(args=["audit", "verify", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, f"one summary line expected, got {result.stdout!r}"
    return result.exit_code, lines[0], result.stderr


def assert_tampered(runner, seq: int, kind: str, *args: str) -> str:
    code, line, _stderr = run_verify(runner, *args)
    assert code != 0, line
    match = TAMPERED_LINE.match(line)
    assert match, line
    assert (int(match.group(1)), match.group(2)) == (seq, kind), line
    return line


def chain_of(app) -> list[tuple[AuditLink, AuditEntry | None]]:
    """The links in sequence order, each with its entry."""
    entries = {entry.id: entry for entry in audit_entries(app)}
    return [(link, entries.get(link.entry_id)) for link in audit_links(app)]


def seq_of(app, entry_id: int) -> int | None:
    """The sequence number of the entry's link (None: not linked)."""
    return next((link.seq for link in audit_links(app) if link.entry_id == entry_id), None)


@pytest.fixture
def trail(app, client, make_user, sign_in, runner, tmp_path) -> Trail:
    officer = make_user("officer", display_name="Trần Văn Cán Bộ")
    admin = make_user("admin", display_name="Lê Thị Quản Trị")
    # PostgreSQL: the first batch is linked, and signed (the first checkpoint is due at once).
    sequenced_all(app)

    # An officer mistypes, someone tries an unknown account, the officer signs in, tries
    # the admin pages (refused), and signs out.
    assert sign_in(officer, password="Sai-mat-khau-hoan-toan-1").status_code == 200
    assert post_form(client, "/login", {"username": "khong.ai.ca", "password": "whatever-123"}).status_code == 200
    assert sign_in(officer).status_code == 302
    assert client.get("/admin/users").status_code == 403
    assert post_form(client, "/logout", token_from="/").status_code == 302

    # An admin signs in with a second factor and changes things.
    admin_client = app.test_client()
    assert sign_in(admin, target=admin_client).status_code == 302
    assert post_form(admin_client, "/admin/units", {"code": "HUYEN-A", "name": "Huyện ủy A",
                                                    "kind": "organisation", "parent": ""}).status_code == 302
    edit_page = f"/admin/users/{officer.id}"
    assert post_form(admin_client, f"{edit_page}/disable", token_from=edit_page).status_code == 302
    assert post_form(admin_client, f"{edit_page}/enable", token_from=edit_page).status_code == 302

    sequenced_all(app)  # the checkpoint signs the head: what is linked
    result = runner.invoke(args=["audit", "checkpoint"])
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    checkpoint_seq = int(re.search(r" seq=(\d+) ", line).group(1))
    line_file = tmp_path / "kept-by-the-inspection-committee.txt"
    line_file.write_text(f"# checkpoint lines kept outside Hoso\n{line}\n", encoding="utf-8")

    for _ in range(3):  # more activity after the checkpoint
        assert admin_client.get("/admin/users").status_code == 200
    sequenced_all(app)

    chain = chain_of(app)
    assert [link.seq for link, _entry in chain] == list(range(1, len(chain) + 1))
    assert sorted(link.entry_id for link, _entry in chain) == [entry.id for entry in audit_entries(app)], \
        "every entry linked, once"
    failed = next(link.seq for link, entry in chain
                  if entry.action == "auth.login.failed" and entry.target_id == str(officer.id))
    assert 3 <= failed < checkpoint_seq - 3, "the trail is too short for the scenarios below"
    assert chain[-1][0].seq > checkpoint_seq
    return Trail(officer, admin, checkpoint_seq, line_file, chain[-1][0].seq, failed)


# --- tampering, as a database administrator would -------------------------------------------

def link_at(connection, seq: int) -> dict:
    return dict(connection.execute(select(LINKS).where(LINKS.c.seq == seq)).mappings().one())


def entry_at(connection, seq: int) -> dict:
    """The entry that link `seq` points to."""
    return dict(connection.execute(select(ENTRIES).join(LINKS, LINKS.c.entry_id == ENTRIES.c.id)
                                   .where(LINKS.c.seq == seq)).mappings().one())


def edit_entry_at(connection, seq: int, **values) -> None:
    connection.execute(update(ENTRIES).where(ENTRIES.c.id == link_at(connection, seq)["entry_id"]).values(**values))


def flipped_outcome(connection, seq: int) -> str:
    """Another outcome than the entry's own: an edit that surely changes it."""
    return "failure" if entry_at(connection, seq)["outcome"] == "success" else "success"


def delete_at(connection, seq: int, *, link: bool = True, entry: bool = True) -> None:
    entry_id = link_at(connection, seq)["entry_id"]
    if link:
        connection.execute(delete(LINKS).where(LINKS.c.seq == seq))
    if entry:
        connection.execute(delete(ENTRIES).where(ENTRIES.c.id == entry_id))


def cut_after(connection, seq: int, *, links: bool = True, entries: bool = True) -> None:
    """Everything after link `seq` removed: the links, their entries, or both."""
    entry_ids = select(LINKS.c.entry_id).where(LINKS.c.seq > seq).scalar_subquery()
    if entries:
        connection.execute(delete(ENTRIES).where(ENTRIES.c.id.in_(entry_ids)))
    if links:
        connection.execute(delete(LINKS).where(LINKS.c.seq > seq))


def insert_entry(connection, fields: dict, *, place_of: dict) -> int:
    """An entry written straight into the table, in `place_of`'s place in the sequencing
    order (its generation and transaction id; on PostgreSQL the stamping trigger is set
    aside with the others). Returns its id."""
    result = connection.execute(insert(ENTRIES).values(generation=place_of["generation"],
                                                       xact_id=place_of["xact_id"], **fields))
    return result.inserted_primary_key[0]


def forged_sign_in(officer: MadeUser, at) -> dict:
    return {
        "occurred_at": at, "actor_id": officer.id, "actor_role": "officer", "actor_unit": "BTCTU",
        "action": "auth.signed_in", "target_type": "user", "target_id": str(officer.id),
        "outcome": "success", "client_address": "127.0.0.1", "request_id": "FEEDBEEF",
        "detail": '{"session":"' + str(uuid.uuid4()) + '"}',
    }


def rehash_from(connection, seq: int, last_seq: int) -> str:
    """Recompute every link from `seq` to `last_seq` so the chain holds again (what a
    careful forger does after an edit); moves the chain head along. Returns the new head."""
    prev = link_at(connection, seq - 1)["entry_hash"] if seq > 1 else GENESIS_HASH
    for current in range(seq, last_seq + 1):
        link = entry_hash(prev, entry_at(connection, current))
        connection.execute(update(LINKS).where(LINKS.c.seq == current).values(prev_hash=prev, entry_hash=link))
        prev = link
    connection.execute(update(HEAD).values(seq=last_seq, entry_hash=prev))
    return prev


# --- an intact trail --------------------------------------------------------------------

def test_an_intact_trail_passes_with_a_one_line_summary(app, runner, trail):
    code, line, _ = run_verify(runner)
    assert code == 0, line
    match = OK_LINE.match(line)
    assert match, line
    entries, last, checkpoints, last_checkpoint = match.groups()
    assert int(entries) == int(last) == trail.last_seq
    assert int(checkpoints) == 2  # the automatic one at the first link, and the CLI's
    assert int(last_checkpoint) == trail.checkpoint_seq

    # The verification is itself on record, and the next run checks that entry too.
    sequenced_all(app)
    recorded = audit_entries(app, "audit.verify")
    assert [(seq_of(app, entry.id), entry.outcome) for entry in recorded] == [(trail.last_seq + 1, "success")]
    code, line, _ = run_verify(runner, "--against", str(trail.line_file))
    assert code == 0 and OK_LINE.match(line).group(1) == str(trail.last_seq + 1), line


def test_entries_at_whole_seconds_and_round_fractions_verify(app, runner, trail):
    """PostgreSQL prints a timestamp's fraction without its trailing zeros (and none at
    all on a whole second), and the verifier reads it as text there: such entries are as
    intact as any other, not 'altered'."""
    moment = audit_entries(app)[-1].occurred_at.replace(microsecond=0) + timedelta(seconds=1)
    with app.app_context():
        for microseconds in (0, 500_000, 120_000, 100, 10):
            entry = record("user.view", target_type="user", target_id=trail.officer.id)
            entry.fields["occurred_at"] = moment + timedelta(microseconds=microseconds)
        db.session.commit()
    sequenced_all(app)
    stored = [entry.occurred_at.microsecond for entry in audit_entries(app, "user.view")[-5:]]
    assert stored == [0, 500_000, 120_000, 100, 10]
    code, line, _ = run_verify(runner)
    assert code == 0, line
    assert OK_LINE.match(line).group(1) == str(trail.last_seq + 5), line


def test_verify_from_a_sequence_number(app, runner, trail):
    start = trail.failed_sign_in_seq + 2
    code, line, _ = run_verify(runner, "--from", str(start))
    assert code == 0, line
    assert OK_LINE.match(line).groups()[:2] == (str(trail.last_seq - start + 1), str(trail.last_seq))

    with audit_tampering(app) as connection:  # damage before the start: not looked at
        edit_entry_at(connection, start - 2, outcome=flipped_outcome(connection, start - 2))
        edit_entry_at(connection, start + 1, outcome=flipped_outcome(connection, start + 1))
    assert_tampered(runner, start + 1, "altered", "--from", str(start))
    assert_tampered(runner, start - 2, "altered")


def test_verify_from_past_the_end_is_a_one_line_refusal(runner, trail):
    result = runner.invoke(args=["audit", "verify", "--from", str(trail.last_seq + 50)])
    assert result.exit_code != 0
    assert result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: --from {trail.last_seq + 50} is past the newest entry (seq {trail.last_seq})")

    code, line, _ = run_verify(runner, "--from", str(trail.last_seq + 1))  # nothing new yet: fine
    assert code == 0, line


def test_verify_from_just_after_a_deleted_entry_names_it(app, runner, trail):
    start = trail.failed_sign_in_seq + 1
    with audit_tampering(app) as connection:
        delete_at(connection, start - 1)
    assert_tampered(runner, start - 1, "missing", "--from", str(start))


# --- each kind of tampering -------------------------------------------------------------

def test_a_field_edited_in_place(app, runner, trail):
    seq = trail.failed_sign_in_seq
    with audit_tampering(app) as connection:  # a failed sign-in turned into a success
        assert entry_at(connection, seq)["outcome"] == "failure"
        edit_entry_at(connection, seq, outcome="success")
    line = assert_tampered(runner, seq, "altered")
    assert f"entry {seq} does not match its own hash" in line
    assert [entry.outcome for entry in audit_entries(app, "audit.verify")] == ["failure"]


@pytest.mark.parametrize("table, column, value", [
    ("entries", "occurred_at", "shift"), ("entries", "actor_id", None), ("entries", "detail", '{"reason":"locked"}'),
    ("links", "prev_hash", "f" * 64), ("links", "entry_hash", "e" * 64),
])
def test_any_column_edited_in_place(app, runner, trail, table, column, value):
    seq = trail.failed_sign_in_seq
    with audit_tampering(app) as connection:
        if table == "links":
            connection.execute(update(LINKS).where(LINKS.c.seq == seq).values({column: value}))
        else:
            if value == "shift":
                value = entry_at(connection, seq)["occurred_at"] + timedelta(hours=3)
            assert entry_at(connection, seq)[column] != value
            edit_entry_at(connection, seq, **{column: value})
    assert_tampered(runner, seq, "altered")


def test_an_edit_with_its_own_hash_recomputed_breaks_the_next_link(app, runner, trail):
    seq = trail.failed_sign_in_seq
    with audit_tampering(app) as connection:
        edit_entry_at(connection, seq, outcome="success")
        link = link_at(connection, seq)
        connection.execute(update(LINKS).where(LINKS.c.seq == seq)
                           .values(entry_hash=entry_hash(link["prev_hash"], entry_at(connection, seq))))
    line = assert_tampered(runner, seq, "altered")
    assert f"entry {seq + 1} links to a hash no longer in the log" in line


def test_the_newest_entry_edited_with_its_hash_recomputed(app, runner, trail):
    """No successor to break, and past the last checkpoint: the chain head gives it away."""
    with audit_tampering(app) as connection:
        edit_entry_at(connection, trail.last_seq, outcome=flipped_outcome(connection, trail.last_seq))
        link = link_at(connection, trail.last_seq)
        connection.execute(update(LINKS).where(LINKS.c.seq == trail.last_seq)
                           .values(entry_hash=entry_hash(link["prev_hash"], entry_at(connection, trail.last_seq))))
    assert_tampered(runner, trail.last_seq, "altered")


def test_an_entry_deleted_in_the_middle(app, runner, trail):
    seq = trail.failed_sign_in_seq
    with audit_tampering(app) as connection:  # the entry and its link
        delete_at(connection, seq)
    line = assert_tampered(runner, seq, "missing")
    assert f"entries {seq} to {seq} are missing" in line


def test_an_entry_deleted_from_under_its_link(app, runner, trail):
    seq = trail.failed_sign_in_seq
    with audit_tampering(app) as connection:
        delete_at(connection, seq, link=False)
    line = assert_tampered(runner, seq, "missing")
    assert f"link {seq} points to an entry that is not in the trail" in line


def test_a_link_deleted_leaving_its_entry(app, runner, trail):
    seq = trail.failed_sign_in_seq
    with audit_tampering(app) as connection:
        delete_at(connection, seq, entry=False)
    line = assert_tampered(runner, seq, "missing")
    assert f"entries {seq} to {seq} are missing" in line


def test_an_entry_inserted_in_the_middle(app, runner, trail):
    seq = trail.failed_sign_in_seq
    with audit_tampering(app) as connection:
        before_link, before = link_at(connection, seq - 1), entry_at(connection, seq - 1)
        # Make room: every later link moves up by one (through a temporary offset, so no
        # two links ever share a sequence number on the way).
        connection.execute(update(LINKS).where(LINKS.c.seq >= seq).values(seq=LINKS.c.seq + 1_000_000))
        connection.execute(update(LINKS).where(LINKS.c.seq >= 1_000_000).values(seq=LINKS.c.seq - 999_999))
        forged = forged_sign_in(trail.officer, before["occurred_at"] + timedelta(milliseconds=1))
        forged_id = insert_entry(connection, forged, place_of=before)
        connection.execute(insert(LINKS).values(seq=seq, entry_id=forged_id, prev_hash=before_link["entry_hash"],
                                                entry_hash=entry_hash(before_link["entry_hash"], forged)))
    code, line, stderr = run_verify(runner)
    assert code != 0
    assert TAMPERED_LINE.match(line).groups() == (str(seq), "inserted"), line
    assert f"entry {seq + 1} links directly to the one before it" in line
    assert "Traceback" not in stderr
    if on_postgresql(app):
        # The verification is recorded (an entry is all the app writes), but the chain runs
        # one past its head, so the sequencer finds no free sequence number to link it at:
        # refused whole by the database, not forked.
        verification = audit_entries(app, "audit.verify")[-1]
        with pytest.raises(IntegrityError):
            sequenced_all(app)  # passes until the verification's entry is ready, then the refusal
        assert seq_of(app, verification.id) is None
        assert [link.seq for link in audit_links(app)] == list(range(1, trail.last_seq + 2))
    else:
        # The trail now runs one past its head, so this verification has no sequence number
        # to be recorded at: said on one line, not a traceback.
        assert "could not be recorded" in stderr


def test_an_entry_inserted_past_the_head(app, runner, trail):
    with audit_tampering(app) as connection:
        last_link, last = link_at(connection, trail.last_seq), entry_at(connection, trail.last_seq)
        forged = {name: last[name] for name in FORGED_FIELDS}
        forged_id = insert_entry(connection, forged, place_of=last)
        connection.execute(insert(LINKS).values(seq=trail.last_seq + 1, entry_id=forged_id,
                                                prev_hash=last_link["entry_hash"],
                                                entry_hash=entry_hash(last_link["entry_hash"], forged)))
    assert_tampered(runner, trail.last_seq + 1, "inserted")


def test_an_entry_inserted_without_a_link_is_unlinked(app, runner, trail):
    """An entry slipped into the part of the trail already chained: nothing will ever link
    it (on SQLite every entry is linked as it is recorded; on PostgreSQL the sequencer only
    takes entries after its position), and verify names it by its entry number."""
    with audit_tampering(app) as connection:
        failed = entry_at(connection, trail.failed_sign_in_seq)
        forged_id = insert_entry(connection, forged_sign_in(trail.officer, failed["occurred_at"]),
                                 place_of=failed)
    line = assert_tampered(runner, forged_id, "unlinked")
    assert f"entry {forged_id} was recorded before the sequenced part of the trail but has no link" in line
    sequenced_all(app)  # the sequencer does not take it either (it is not after its position)
    assert seq_of(app, forged_id) is None
    assert_tampered(runner, forged_id, "unlinked")


def test_the_newest_link_removed_and_the_head_rewound_leaves_its_entry_unlinked(app, runner, trail):
    """A forger who drops the newest link and moves the head back leaves a consistent chain,
    and the entry behind: it sits at or before the sequenced position, with no link."""
    with audit_tampering(app) as connection:
        entry_id = link_at(connection, trail.last_seq)["entry_id"]
        previous = link_at(connection, trail.last_seq - 1)["entry_hash"]
        delete_at(connection, trail.last_seq, entry=False)
        connection.execute(update(HEAD).values(seq=trail.last_seq - 1, entry_hash=previous))
    assert_tampered(runner, entry_id, "unlinked")


def test_two_adjacent_entries_swapped(app, runner, trail):
    seq = trail.failed_sign_in_seq
    with audit_tampering(app) as connection:  # each link, with its entry, moved to the other's place
        connection.execute(update(LINKS).where(LINKS.c.seq == seq).values(seq=-1))
        connection.execute(update(LINKS).where(LINKS.c.seq == seq + 1).values(seq=seq))
        connection.execute(update(LINKS).where(LINKS.c.seq == -1).values(seq=seq + 1))
    line = assert_tampered(runner, seq, "reordered")
    assert f"entry {seq} links to entry {seq + 1}, which now sits after it" in line


def test_two_links_pointed_at_each_other_s_entries(app, runner, trail):
    seq = trail.failed_sign_in_seq
    with audit_tampering(app) as connection:  # the links stay, the entries change places under them
        first, second = link_at(connection, seq)["entry_id"], link_at(connection, seq + 1)["entry_id"]
        connection.execute(update(LINKS).where(LINKS.c.seq == seq).values(entry_id=-1))
        connection.execute(update(LINKS).where(LINKS.c.seq == seq + 1).values(entry_id=first))
        connection.execute(update(LINKS).where(LINKS.c.seq == seq).values(entry_id=second))
    line = assert_tampered(runner, seq, "altered")
    assert f"entry {seq} does not match its own hash" in line


@pytest.mark.parametrize("removed, kind", [("links and entries", "truncated"), ("links", "truncated"),
                                           ("entries", "missing")])
def test_the_newest_entries_cut_off_after_the_last_checkpoint(app, runner, trail, removed, kind):
    with audit_tampering(app) as connection:
        cut_after(connection, trail.checkpoint_seq, links="links" in removed, entries="entries" in removed)
    line = assert_tampered(runner, trail.checkpoint_seq + 1, kind)
    if kind == "truncated":
        assert f"the chain head records seq {trail.last_seq}" in line
    else:  # the links are there, pointing at nothing
        assert f"link {trail.checkpoint_seq + 1} points to an entry that is not in the trail" in line


def test_a_cut_that_also_rewinds_the_head_is_caught_by_the_signed_checkpoint(app, runner, trail):
    keep = trail.checkpoint_seq - 2
    with audit_tampering(app) as connection:
        kept_hash = link_at(connection, keep)["entry_hash"]
        cut_after(connection, keep)
        connection.execute(update(HEAD).values(seq=keep, entry_hash=kept_hash))
    line = assert_tampered(runner, keep + 1, "truncated")
    assert f"a signed checkpoint covers seq {trail.checkpoint_seq}" in line


def test_a_cut_that_removes_the_checkpoints_too_is_caught_only_by_the_kept_line(app, runner, trail):
    keep = trail.checkpoint_seq - 2
    with audit_tampering(app) as connection:
        kept_hash = link_at(connection, keep)["entry_hash"]
        cut_after(connection, keep)
        connection.execute(delete(Checkpoint.__table__).where(Checkpoint.__table__.c.seq > keep))
        connection.execute(update(HEAD).values(seq=keep, entry_hash=kept_hash))
    assert_tampered(runner, keep + 1, "truncated", "--against", str(trail.line_file))
    # Everything left inside the database is consistent: this is why the line is kept outside.
    sequenced_all(app)  # (the verification's own entry, linked after the cut)
    code, line, _ = run_verify(runner)
    assert code == 0, line
    assert OK_LINE.match(line).group(1) == str(keep + 1), line


def test_history_rewritten_wholesale_is_caught_by_the_signed_checkpoint(app, runner, trail):
    seq = trail.failed_sign_in_seq
    with audit_tampering(app) as connection:
        edit_entry_at(connection, seq, outcome="success")
        rehash_from(connection, seq, trail.last_seq)
    line = assert_tampered(runner, trail.checkpoint_seq, "altered")
    assert "differs from its signed checkpoint" in line


def test_history_rewritten_wholesale_with_checkpoints_removed_is_caught_by_the_kept_line(app, runner, trail):
    seq = trail.failed_sign_in_seq
    with audit_tampering(app) as connection:
        edit_entry_at(connection, seq, outcome="success")
        rehash_from(connection, seq, trail.last_seq)
        connection.execute(delete(Checkpoint.__table__).where(Checkpoint.__table__.c.seq >= seq))
    code, line, _ = run_verify(runner)
    assert code == 0, line  # the database alone can no longer tell
    line = assert_tampered(runner, trail.checkpoint_seq, "altered", "--against", str(trail.line_file))
    assert "differs from its signed checkpoint" in line


def test_a_forged_checkpoint_row_is_refused(app, runner, trail):
    with audit_tampering(app) as connection:
        table = Checkpoint.__table__
        connection.execute(update(table).where(table.c.seq == trail.checkpoint_seq)
                           .values(entry_hash="a" * 64))
    assert_tampered(runner, trail.checkpoint_seq, "bad_checkpoint")


# --- entries waiting for the sequencer ----------------------------------------------------

def test_entries_waiting_for_the_sequencer_are_pending_not_a_problem(app, runner, trail):
    """PostgreSQL: entries committed after the sequencer's last pass have no link yet. They
    are counted as pending with the time of the oldest, a warning once it has waited too
    long (a stopped sequencer, or a long transaction holding it back), and are verified
    once linked. SQLite links each entry as it is recorded: nothing is ever pending."""
    with app.app_context():
        for number in range(2):
            record("user.view", target_type="user", target_id=trail.officer.id, number=number)
        db.session.commit()
    with app.app_context():
        report = run_verification()
    if on_postgresql(app):
        assert report.ok, report.summary()
        assert (report.entries_checked, report.last_seq, report.pending) == (trail.last_seq, trail.last_seq, 2)
        recent = [entry.occurred_at for entry in audit_entries(app, "user.view")[-2:]]
        assert report.pending_oldest == min(recent) and not report.pending_late
    else:
        assert (report.ok, report.entries_checked, report.pending, report.pending_oldest) == (
            True, trail.last_seq + 2, 0, None)

    # An entry recorded minutes ago by a transaction that stayed open, committed only now.
    long_ago = utcnow() - timedelta(minutes=5)
    with app.app_context():
        entry = record("user.view", target_type="user", target_id=trail.officer.id, number=3)
        entry.fields["occurred_at"] = long_ago
        db.session.commit()
    code, line, _ = run_verify(runner)
    assert code == 0, line
    if on_postgresql(app):
        match = PENDING_LINE.match(line)
        assert match, line
        assert match.group(1, 2, 5, 6) == (str(trail.last_seq), str(trail.last_seq), "3", timestamp_text(long_ago))
        assert "WARNING: is the audit sequencer running?" in line
        assert sequenced_all(app) == 4  # the three, and the verification's own entry
    else:
        assert OK_LINE.match(line).group(1) == str(trail.last_seq + 3), line

    code, line, _ = run_verify(runner)
    assert code == 0, line
    assert OK_LINE.match(line).groups()[:2] == (str(trail.last_seq + 4), str(trail.last_seq + 4)), line
    assert [seq_of(app, entry.id) for entry in audit_entries(app, "user.view")[-3:]] == [
        trail.last_seq + 1, trail.last_seq + 2, trail.last_seq + 3]


# --- the --against file -----------------------------------------------------------------

def test_a_malformed_against_file_is_a_one_line_error_with_its_line_number(runner, trail, tmp_path):
    good = trail.line_file.read_text(encoding="utf-8").strip().splitlines()[-1]
    bad = tmp_path / "lines.txt"
    bad.write_text(f"{good}\n\nHOSO-AUDIT-CHECKPOINT v1 seq=abc hash=00\n", encoding="utf-8")
    result = runner.invoke(args=["audit", "verify", "--against", str(bad)])
    assert result.exit_code != 0
    assert result.stdout == ""
    assert result.stderr.strip() == f"Error: {bad}:3: not a Hoso checkpoint line"

    for content in ("", "# only a comment\n"):
        bad.write_text(content, encoding="utf-8")
        result = runner.invoke(args=["audit", "verify", "--against", str(bad)])
        assert result.exit_code != 0
        assert result.stderr.strip() == f"Error: {bad} holds no checkpoint lines"

    bad.write_bytes(b"\xff\xfe not text")
    result = runner.invoke(args=["audit", "verify", "--against", str(bad)])
    assert result.exit_code != 0 and len(result.stderr.strip().splitlines()) == 1


def test_a_line_with_a_forged_signature_is_refused(runner, trail, tmp_path):
    good = trail.line_file.read_text(encoding="utf-8").strip().splitlines()[-1]
    forged = tmp_path / "forged.txt"
    forged.write_text(re.sub(r"hash=[0-9a-f]{64}", "hash=" + "b" * 64, good) + "\n", encoding="utf-8")
    assert_tampered(runner, trail.checkpoint_seq, "bad_checkpoint", "--against", str(forged))


def test_a_line_signed_by_another_key_is_refused(app_config, runner, trail, tmp_path, make_user):
    """A checkpoint line from another Hoso installation (another key) proves nothing here."""
    other = create_app({**app_config, "HOSO_INSTANCE_PATH": str(tmp_path / "other-instance")})
    result = other.test_cli_runner().invoke(args=["audit", "checkpoint"])
    assert result.exit_code == 0, result.output
    line_file = tmp_path / "other.txt"
    line_file.write_text(result.stdout, encoding="utf-8")
    with other.app_context():
        db.engine.dispose()
    assert_tampered(runner, int(re.search(r" seq=(\d+) ", result.stdout).group(1)), "bad_checkpoint",
                    "--against", str(line_file))
