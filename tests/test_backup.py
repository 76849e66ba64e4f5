"""`flask --app app backup create|restore`: encrypted logical backups that restore into an
empty instance (SQLite→SQLite, PostgreSQL→PostgreSQL, SQLite→PostgreSQL) with every
decrypted value and blob byte-for-byte equal, and that refuse bad files untouched."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import threading
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, inspect, select, update
from sqlalchemy.orm import undefer

from app import create_app
from audit.models import AuditEntry
from audit.service import run_verification
from audit.trail import record
from cases.models import Case, Subject
from cases.retention import operations as retention
from protection.backup import snapshot
from protection.backup.format import HEADER_BYTES, open_content
from protection.blobs import store_blob
from protection.db import Base, db
from protection.demo import DEMO_PASSWORD
from protection.identity import Role, User
from protection.keystore import decode_key, new_key, write_key_file
from protection.schema import upgrade_schema
from tests.conftest import (
    _config,
    audit_entries,
    audit_links,
    audit_tampering,
    scratch_postgresql_database,
    sequenced_all,
)

CANARY_NAME = "Trần Văn Chim-Hoàng-Yến 7731"
CANARY_BLOB = b"%PDF-1.4\n% canary-blob-Lam-Son-5512 noi dung mat\n"


# --- instances ------------------------------------------------------------------------------

def _dispose(application) -> None:
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def fresh_database(tmp_path):
    """A factory of empty databases: a SQLite file, or a scratch PostgreSQL database on the
    TEST_DATABASE_URL server (dropped afterwards)."""
    with ExitStack() as made:
        def factory(kind: str) -> str:
            if kind == "sqlite":
                return f"sqlite:///{tmp_path / f'fresh-{secrets.token_hex(4)}.db'}"
            return made.enter_context(scratch_postgresql_database(
                "hoso_bk", "set TEST_DATABASE_URL to a PostgreSQL database to test PostgreSQL restores"))

        yield factory


@pytest.fixture
def instances(tmp_path):
    """Apps on their own databases and instance folders; disposed afterwards."""
    made = []

    def factory(url: str, name: str):
        application = create_app(_config(url, tmp_path / name))
        made.append(application)
        return application

    yield factory
    for application in made:
        _dispose(application)


def share_keys(source_app, target_app, names=("backup.key", "audit-signing.key", "audit-signing.pub",
                                                  "conclusion-signing.key", "conclusion-signing.pub",
                                                  "purge-ledger.key", "purge-ledger.pub")) -> None:
    """What an operator carries to the new server apart from the backup (the master and index
    keys are the tests' fixed injected ones on both sides)."""
    source = Path(source_app.instance_path) / "keys"
    keys = Path(target_app.instance_path) / "keys"
    keys.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in names:
        if (source / name).exists():
            shutil.copy(source / name, keys / name)
            os.chmod(keys / name, 0o600)
    # ...and the purge ledger, which a restore requires beside the backup.
    ledger = Path(source_app.instance_path) / "purge-ledger.jsonl"
    if ledger.exists():
        shutil.copy(ledger, Path(target_app.instance_path) / ledger.name)


# --- content ---------------------------------------------------------------------------------

def seed(application) -> None:
    runner = application.test_cli_runner()
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    with application.app_context():
        case = db.session.scalars(select(Case).order_by(Case.id).limit(1)).one()
        store_blob(CANARY_BLOB, "bien-ban-chim.pdf", owner=case)
        subject = db.session.scalars(select(Subject).order_by(Subject.id).limit(1)).one()
        subject.full_name = CANARY_NAME
        record("test.canary", target_type="subject", target_id=subject.id)
        db.session.commit()


def decrypted_content(application) -> dict[str, dict]:
    """Every mapped row, read through the ORM (so protected fields are decrypted and blobs
    loaded), keyed by table and primary key: the thing a restore must give back exactly."""
    content: dict[str, dict] = {}
    with application.app_context():
        for mapper in Base.registry.mappers:
            model = mapper.class_
            rows = db.session.scalars(select(model).options(undefer("*"))).all()
            table = content.setdefault(mapper.persist_selectable.name, {})
            for row in rows:
                key = tuple(str(value) for value in mapper.primary_key_from_instance(row))
                table[key] = {attr.key: getattr(row, attr.key) for attr in mapper.column_attrs}
        db.session.rollback()
    return content


def plaintexts(content: dict[str, dict]) -> list[bytes]:
    subjects = content["subjects"].values()
    names = [row["full_name"].encode("utf-8") for row in subjects if row["full_name"]]
    numbers = [row["id_number"].encode("utf-8") for row in subjects if row["id_number"]]
    blobs = [row["content"] for row in content["blobs"].values()]
    return [CANARY_NAME.encode("utf-8"), CANARY_BLOB[10:], *names, *numbers, *blobs]


def row_count(application) -> int:
    """Rows outside the preset ones; -1 for a database still without any table."""
    with application.app_context():
        if not inspect(db.engine).get_table_names():
            return -1
        total = sum(db.session.scalar(select(func.count()).select_from(table))
                    for table in Base.metadata.sorted_tables if table.name not in snapshot.PRESET_TABLES)
        db.session.rollback()
    return total


def create_backup(application, path: Path):
    result = application.test_cli_runner().invoke(args=["backup", "create", str(path)])
    assert result.exit_code == 0, result.output
    return result


def restore(application, path: Path, *options: str):
    return application.test_cli_runner().invoke(args=["backup", "restore", str(path), *options])


def assert_refused(result, *words: str) -> None:
    assert result.exit_code != 0, result.output
    message = result.output.strip().splitlines()[-1]
    assert message.startswith("Error: "), result.output
    for word in words:
        assert word in message, message


# --- round trips -----------------------------------------------------------------------------

def _round_trip(source_app, target_app, tmp_path) -> None:
    before = decrypted_content(source_app)
    path = tmp_path / "hoso.bak"
    created = create_backup(source_app, path)
    assert "rows" in created.output
    share_keys(source_app, target_app)

    result = restore(target_app, path)
    assert result.exit_code == 0, result.output
    assert "Audit trail verified" in result.output

    after = decrypted_content(target_app)
    for table, rows in before.items():
        if table == "audit_chain_head":
            continue  # moved on by the restore's own entry; the verification covers it
        if table in ("audit_entries", "audit_links", "audit_checkpoints"):
            # The restore appends its own entry (linked at once on SQLite; a checkpoint may
            # follow); the rest is equal.
            assert {key: row for key, row in after[table].items() if key in rows} == rows, table
        else:
            assert after[table] == rows, table
    assert any(row["full_name"] == CANARY_NAME for row in after["subjects"].values())
    assert CANARY_BLOB in [row["content"] for row in after["blobs"].values()]
    restores = [row for row in after["audit_entries"].values() if row["action"] == "backup.restore"]
    assert len(restores) == 1 and restores[0]["outcome"] == "success"

    raw = path.read_bytes()
    with path.open("rb") as handle:
        key = (Path(source_app.instance_path) / "keys" / "backup.key").read_text()
        decompressed = b"".join(open_content(handle, decode_key(key, "k", ValueError), "hoso.bak"))
    assert b'"kind":"hoso-backup"' in decompressed
    for secret in plaintexts(before):
        assert secret not in raw
        assert secret not in decompressed
    assert_restored_trail_sequences(target_app)


def assert_restored_trail_sequences(target_app) -> None:
    """The restored trail goes on: on PostgreSQL the sequencer links what the backup held
    unlinked and the restore's own entry, after the restored links; then every entry has its
    link, 1..N, and the trail verifies with nothing pending."""
    sequenced_all(target_app)
    links = audit_links(target_app)
    assert [link.seq for link in links] == list(range(1, len(links) + 1))
    assert sorted(link.entry_id for link in links) == [entry.id for entry in audit_entries(target_app)]
    with target_app.app_context():
        report = run_verification()
        db.session.rollback()
    assert report.ok and report.pending == 0, report.summary()
    assert report.entries_checked == len(links)


def test_sqlite_or_postgres_round_trip_to_the_same_kind(app, instances, fresh_database, database_url, tmp_path):
    seed(app)
    sequenced_all(app)  # PostgreSQL: the backup holds the links too
    kind = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    previous = os.umask(0o022)  # the usual umask, under which SQLite made its files 0644
    try:
        target = instances(fresh_database(kind), "target")
        _round_trip(app, target, tmp_path)
    finally:
        os.umask(previous)
    if kind == "sqlite":  # the restore created the database file: owner-only, as its -wal and -shm
        database = target.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
        assert stat.S_IMODE(os.stat(database).st_mode) == 0o600


def test_sqlite_round_trip_to_postgres(instances, fresh_database, tmp_path):
    target_url = fresh_database("postgresql")
    source = instances(fresh_database("sqlite"), "source")
    with source.app_context():
        upgrade_schema()
    seed(source)
    target = instances(target_url, "target")
    _round_trip(source, target, tmp_path)


def test_a_case_purged_after_the_backup_stays_shredded_after_the_restore(app, instances, fresh_database,
                                                                        tmp_path):

    seed(app)
    with app.app_context():
        case = db.session.scalars(select(Case).where(Case.closed_on.is_not(None), Case.data_key_id.is_not(None))
                                  .order_by(Case.id).limit(1)).one()
        case.closed_on = date(2000, 1, 3)  # long past any retention period
        db.session.commit()
        case_id, reference = case.id, case.reference
    path = tmp_path / "before-purge.bak"
    create_backup(app, path)
    with app.app_context():
        case = db.session.get(Case, case_id)
        supervisor = db.session.scalars(select(User).where(User.role == Role.SUPERVISOR).limit(1)).one()
        retention.purge(case, by=supervisor, secret=DEMO_PASSWORD, reference_typed=reference)
        db.session.commit()
        retention.append_to_ledger([case])

    kind = "postgresql" if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql") else "sqlite"
    target = instances(fresh_database(kind), "target")
    share_keys(app, target)
    shutil.copy(Path(app.instance_path) / "purge-ledger.jsonl", Path(target.instance_path) / "purge-ledger.jsonl")
    result = restore(target, path)
    assert result.exit_code == 0, result.output
    assert "1 purged case(s) shredded again" in result.output
    with target.app_context():
        restored = db.session.get(Case, case_id)
        assert restored.data_key_id is None and restored.purged_at is not None and restored.title is None
        db.session.rollback()


# --- the purge ledger beside a backup (issue 17) ---------------------------------------------------

def _closed_cases(application, count: int) -> list[tuple]:
    """`count` closed cases of the demo, dated long past retention: (id, reference)."""
    with application.app_context():
        cases = db.session.scalars(select(Case).where(Case.closed_on.is_not(None), Case.data_key_id.is_not(None))
                                   .order_by(Case.id).limit(count)).all()
        assert len(cases) == count
        for case in cases:
            case.closed_on = date(2000, 1, 3)
        db.session.commit()
        return [(case.id, case.reference) for case in cases]


def _purge(application, case_id, reference) -> None:
    with application.app_context():
        case = db.session.get(Case, case_id)
        supervisor = db.session.scalars(select(User).where(User.role == Role.SUPERVISOR).limit(1)).one()
        retention.purge(case, by=supervisor, secret=DEMO_PASSWORD, reference_typed=reference)
        db.session.commit()
        retention.append_to_ledger([case])


def _readable(application, case_id) -> bool:
    with application.app_context():
        case = db.session.get(Case, case_id)
        readable = case.data_key_id is not None and case.title is not None
        db.session.rollback()
    return readable


def _ledger(application) -> Path:
    return Path(application.instance_path) / "purge-ledger.jsonl"


@pytest.fixture
def purged_after_backup(app, tmp_path):
    """The demo; backup `before` taken before any purge; case 1 purged; backup `between`;
    case 2 purged. Returns the app, both backups and the two cases."""
    seed(app)
    first, second = _closed_cases(app, 2)
    before = tmp_path / "before.bak"
    create_backup(app, before)
    _purge(app, *first)
    between = tmp_path / "between.bak"
    create_backup(app, between)
    _purge(app, *second)
    return {"before": before, "between": between, "first": first[0], "second": second[0]}


def _target(app, instances, fresh_database, name="target"):
    kind = "postgresql" if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql") else "sqlite"
    target = instances(fresh_database(kind), name)
    share_keys(app, target)
    return target


def test_restore_without_the_ledger_is_refused_and_writes_nothing(app, instances, fresh_database,
                                                                  purged_after_backup):
    """(a) A backup from before the purge, restored without the ledger: refused, not
    "0 purged case(s) shredded again" with the purged case readable."""
    target = _target(app, instances, fresh_database)
    _ledger(target).unlink()
    assert_refused(restore(target, purged_after_backup["before"]), "no purge ledger", "--never-purged")
    assert row_count(target) == 0
    # A backup taken after a purge knows one happened: the flag does not override it.
    assert_refused(restore(target, purged_after_backup["between"], "--never-purged"), "after 1 purge(s)")
    assert row_count(target) == 0
    # With the newest ledger in place the same backup restores, the purged cases shredded again.
    shutil.copy(_ledger(app), _ledger(target))
    result = restore(target, purged_after_backup["before"])
    assert result.exit_code == 0, result.output
    assert "2 purged case(s) shredded again" in result.output
    assert not _readable(target, purged_after_backup["first"])
    assert not _readable(target, purged_after_backup["second"])


def test_never_purged_restores_an_installation_without_a_ledger(app, make_user, instances, fresh_database,
                                                                tmp_path):
    make_user("officer")
    path = tmp_path / "plain.bak"
    create_backup(app, path)
    target = _target(app, instances, fresh_database)
    _ledger(target).unlink()
    assert_refused(restore(target, path), "no purge ledger")
    result = restore(target, path, "--never-purged")
    assert result.exit_code == 0, result.output
    assert "0 purged case(s) shredded again" in result.output


@pytest.mark.parametrize("damage", ["tampered", "foreign_key"])
def test_a_bad_ledger_refuses_the_restore_before_any_row(app, instances, fresh_database, purged_after_backup,
                                                         damage):
    """(b) Refused with nothing committed: no row for the app to serve the purged case from."""
    target = _target(app, instances, fresh_database)
    ledger = _ledger(target)
    if damage == "tampered":
        lines = ledger.read_text().splitlines()
        entry = json.loads(lines[1])
        entry["reference"] = "HS-0000"
        lines[1] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
        ledger.write_text("\n".join(lines) + "\n")
        words = ("line 2", "bad signature")
    else:  # the target holds another ledger key than the one that signed the lines
        other = Ed25519PrivateKey.generate()
        keys = Path(target.instance_path) / "keys"
        (keys / "purge-ledger.key").write_bytes(other.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (keys / "purge-ledger.pub").write_bytes(other.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        words = ("line 1", "another key")
    assert_refused(restore(target, purged_after_backup["before"]), "nothing was restored", *words)
    assert row_count(target) == 0
    with target.app_context():
        assert db.session.get(Case, purged_after_backup["first"]) is None
        db.session.rollback()


def test_a_ledger_with_a_line_removed_or_cut_short_is_refused(app, instances, fresh_database,
                                                              purged_after_backup):
    """(c) Lines are chained: removing one breaks the chain; cutting the end is caught by
    the head the backup recorded (and by the one the live database recorded)."""
    target = _target(app, instances, fresh_database)
    first_line, second_line = _ledger(app).read_text().splitlines()
    _ledger(target).write_text(second_line + "\n")  # line 1 (case 1's purge) removed
    assert_refused(restore(target, purged_after_backup["before"]), "line 1", "does not follow")
    assert row_count(target) == 0
    _ledger(target).write_text("")  # an old copy: from before the purge `between` was taken after
    assert_refused(restore(target, purged_after_backup["between"]), "0 line(s)", "reached line 1",
                   "old or shortened")
    assert row_count(target) == 0

    # The live instance knows its own head: a shortened ledger there is refused too.
    _ledger(app).write_text(first_line + "\n")
    status = app.test_cli_runner().invoke(args=["retention", "status"])
    assert_refused(status, "1 line(s)", "reached line 2", "old or shortened")
    created = app.test_cli_runner().invoke(args=["backup", "create", str(Path(app.instance_path) / "x.bak")])
    assert_refused(created, "old or shortened", "no backup taken")


def test_replay_ledger_brings_a_restored_instance_up_to_a_newer_ledger(app, instances, fresh_database,
                                                                       purged_after_backup, tmp_path):
    target = _target(app, instances, fresh_database)
    _ledger(target).write_text("")  # the ledger as it was when `before` was taken
    result = restore(target, purged_after_backup["before"])
    assert result.exit_code == 0, result.output
    assert _readable(target, purged_after_backup["first"])

    runner = target.test_cli_runner()
    shortened = tmp_path / "shortened.jsonl"
    shortened.write_text(_ledger(app).read_text().splitlines()[1] + "\n")
    assert_refused(runner.invoke(args=["retention", "replay-ledger", str(shortened)]), "does not follow")
    assert _readable(target, purged_after_backup["first"])

    newest = tmp_path / "newest.jsonl"
    shutil.copy(_ledger(app), newest)
    replayed = runner.invoke(args=["retention", "replay-ledger", str(newest)])
    assert replayed.exit_code == 0, replayed.output
    assert "2 line(s), 2 purged case(s) shredded again" in replayed.output
    assert _ledger(target).read_bytes() == newest.read_bytes()
    assert not _readable(target, purged_after_backup["first"])
    assert not _readable(target, purged_after_backup["second"])
    again = runner.invoke(args=["retention", "replay-ledger"])
    assert again.exit_code == 0 and "0 purged case(s)" in again.output
    # The instance now knows head 2: the empty ledger it started from is refused.
    _ledger(target).write_text("")
    assert_refused(runner.invoke(args=["retention", "replay-ledger"]), "reached line 2")
    entries = audit_entries(target, "case.purge")
    assert len(entries) == 2 and all(json.loads(entry.detail)["replayed"] for entry in entries)


# --- refusals --------------------------------------------------------------------------------

@pytest.fixture
def made_backup(app, runner, make_user, tmp_path):
    make_user("officer")
    with app.app_context():
        store_blob(CANARY_BLOB, "mau.pdf")  # a data key, so the key pins are in the backup
        db.session.commit()
    path = tmp_path / "ok.bak"
    create_backup(app, path)
    return path


@pytest.fixture
def empty_target(app, instances, fresh_database):
    kind = "postgresql" if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql") else "sqlite"
    target = instances(fresh_database(kind), "target")
    share_keys(app, target)
    return target


def _cut(path: Path, keep: int) -> Path:
    out = path.with_name("cut.bak")
    out.write_bytes(path.read_bytes()[:keep])
    return out


def test_a_corrupted_byte_is_refused_and_the_target_untouched(made_backup, empty_target):
    data = bytearray(made_backup.read_bytes())
    middle = HEADER_BYTES + (len(data) - HEADER_BYTES) // 2
    data[middle] ^= 0x01
    bad = made_backup.with_name("bad.bak")
    bad.write_bytes(bytes(data))
    assert_refused(restore(empty_target, bad), "corrupted", "authentication")
    assert row_count(empty_target) == -1  # not even the schema was created


def test_a_truncated_backup_is_refused(made_backup, empty_target):
    size = made_backup.stat().st_size
    assert_refused(restore(empty_target, _cut(made_backup, size - 40)), "truncated")
    assert_refused(restore(empty_target, _cut(made_backup, HEADER_BYTES + 3)), "truncated")
    assert row_count(empty_target) == -1  # not even the schema was created


def test_a_backup_under_another_key_is_refused(made_backup, empty_target):
    keys = Path(empty_target.instance_path) / "keys"
    (keys / "backup.key").unlink()
    write_key_file(keys / "backup.key", new_key())
    assert_refused(restore(empty_target, made_backup), "another backup key")
    assert row_count(empty_target) == -1  # not even the schema was created


def test_a_file_that_is_not_a_backup_is_refused(made_backup, empty_target, tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("không phải bản sao lưu\n", encoding="utf-8")
    assert_refused(restore(empty_target, other), "not a Hoso backup")
    assert row_count(empty_target) == -1  # not even the schema was created


def test_without_the_backup_key_restore_is_refused(made_backup, app, instances, fresh_database):
    kind = "postgresql" if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql") else "sqlite"
    target = instances(fresh_database(kind), "keyless")
    assert_refused(restore(target, made_backup), "no backup key")


def test_a_target_holding_other_master_keys_is_refused(made_backup, app, tmp_path, fresh_database):
    kind = "postgresql" if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql") else "sqlite"
    config = _config(fresh_database(kind), tmp_path / "other-keys")
    config["HOSO_MASTER_KEY"] = "b3RoZXItbWFzdGVyLWtleS1ub3QtZm9yLXByb2QhISE="
    target = create_app(config)
    try:
        share_keys(app, target)
        assert_refused(restore(target, made_backup), "master key")
        assert row_count(target) == 0
    finally:
        _dispose(target)


def test_restore_into_a_non_empty_instance_is_refused(made_backup, app):
    before = row_count(app)
    assert_refused(restore(app, made_backup), "not empty")
    assert row_count(app) == before


def test_the_backup_key_file_is_private(made_backup, app):
    mode = (Path(app.instance_path) / "keys" / "backup.key").stat().st_mode & 0o777
    assert mode == 0o600
    assert made_backup.stat().st_mode & 0o077 == 0


def test_create_is_audited_without_names(made_backup, app):
    entries = audit_entries(app, "backup.create")
    assert len(entries) == 1
    assert set(json.loads(entries[0].detail)) >= {"tables", "rows", "bytes"}


def test_an_existing_file_is_not_overwritten(made_backup, app):
    before = made_backup.read_bytes()
    result = app.test_cli_runner().invoke(args=["backup", "create", str(made_backup)])
    assert_refused(result, "already exists")
    assert made_backup.read_bytes() == before


def test_a_restored_trail_that_does_not_verify_fails_the_restore(app, make_user, empty_target, tmp_path):
    make_user("officer")
    sequenced_all(app)  # PostgreSQL: linked, so a change shows
    first = audit_entries(app)[0]
    assert first.action != "auth.signed_in"
    with audit_tampering(app) as connection:
        connection.execute(update(AuditEntry).where(AuditEntry.id == first.id).values(action="auth.signed_in"))
    path = tmp_path / "tampered.bak"
    create_backup(app, path)
    share_keys(app, empty_target)
    result = restore(empty_target, path)
    assert_refused(result, "does NOT verify")
    entries = audit_entries(empty_target, "backup.restore")
    assert len(entries) == 1 and json.loads(entries[0].detail)["verified"] is False


# --- while serving ---------------------------------------------------------------------------

def test_a_backup_taken_while_another_thread_writes_restores_and_verifies(
        app, make_user, instances, fresh_database, tmp_path):
    make_user("officer")
    started = threading.Event()
    stop = threading.Event()
    written: list[int] = []
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            with app.app_context():
                for index in range(2000):
                    record("test.busy", target_type="unit", target_id=f"u-{index}")
                    db.session.commit()
                    written.append(index)
                    started.set()
                    if stop.is_set():
                        break
                db.session.remove()
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)
            started.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert started.wait(60)
        path = tmp_path / "busy.bak"
        create_backup(app, path)
    finally:
        stop.set()
        thread.join()
    assert not failures, failures
    kind = "postgresql" if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql") else "sqlite"
    target = instances(fresh_database(kind), "target")
    share_keys(app, target)
    result = restore(target, path)
    assert result.exit_code == 0, result.output
    assert "Audit trail verified" in result.output
    # On PostgreSQL the writer's entries were not linked yet (no sequencer ran here): the
    # restored instance's sequencer reaches every one of them.
    assert_restored_trail_sequences(target)
