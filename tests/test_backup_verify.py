"""`flask --app app backup verify FILE`: the restore drill. A backup made by `backup create`
verifies on an instance whose database does not exist (and is never connected to); a flipped
byte, a cut file, another instance's backup, a tampered audit entry and a dangling reference
are refused in one line; the outcome is recorded in <instance>/backup-verify.json."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from sqlalchemy import event, func, select

from app import create_app
from audit.models import AuditEntry
from audit.trail import record
from cases.models import Case
from protection.backup.format import (
    HEADER_BYTES,
    SealedWriter,
    lines,
    load_backup_key,
    open_content,
)
from protection.db import Base, db
from tests.conftest import _config, sequenced_all

CANARY = "Nguyễn Thị Kiểm-Tra-Sao-Lưu 4471"


def run(application, *args: str):
    result = application.test_cli_runner().invoke(args=list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        pytest.fail(f"{args} crashed: {type(result.exception).__name__}: {result.exception}\n{result.output}")
    assert "Traceback" not in result.output
    return result


def refused(result, *words: str) -> str:
    assert result.exit_code != 0, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for word in words:
        assert word in errors[0], errors[0]
    assert CANARY not in result.output
    return errors[0]


@pytest.fixture
def verifier(app_config, tmp_path):
    """An instance on another server: the same master and index keys (the tests' injected
    ones), the backed-up instance's backup and audit keys copied in, and a database URL that
    names a file in a folder that does not exist. Every connection it opens is counted."""
    made = []

    def start(source_app, name: str = "verifier", *, copy_keys: bool = True):
        absent = tmp_path / f"{name}-no-database" / "hoso.db"
        config = {**_config(f"sqlite:///{absent}", tmp_path / name)}
        with click.Context(click.Command("backup")):  # as the CLI loads it
            application = create_app(config)
        made.append(application)
        if copy_keys:
            keys = Path(application.instance_path) / "keys"
            keys.mkdir(mode=0o700, parents=True, exist_ok=True)
            for key in Path(source_app.instance_path, "keys").iterdir():
                shutil.copy(key, keys / key.name)
                os.chmod(keys / key.name, 0o600)
        connections = []
        with application.app_context():
            event.listen(db.engine, "connect", lambda *_args: connections.append(1))
        return application, connections, absent

    yield start
    for application in made:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


def backup_of(application, path: Path) -> Path:
    result = run(application, "backup", "create", str(path))
    assert result.exit_code == 0, result.output
    return path


def drill_record(application) -> dict:
    return json.loads((Path(application.instance_path) / "backup-verify.json").read_text(encoding="utf-8"))


def test_a_backup_verifies_without_any_database(app, tmp_path, verifier):
    assert run(app, "demo").exit_code == 0
    with app.app_context():
        case = db.session.scalars(select(Case).order_by(Case.id).limit(1)).one()
        case.title = CANARY
        record("test.canary", target_type="case", target_id=case.id)
        db.session.commit()
    sequenced_all(app)  # PostgreSQL: every entry linked, so the whole trail is chained
    assert run(app, "audit", "checkpoint").exit_code == 0
    with app.app_context():
        entries = db.session.scalar(select(func.count()).select_from(AuditEntry))
        rows = sum(db.session.scalar(select(func.count()).select_from(table)) for table in Base.metadata.sorted_tables)
        db.session.rollback()
    path = backup_of(app, tmp_path / "hoso.bak")

    other, connections, absent = verifier(app)
    result = run(other, "backup", "verify", str(path))
    assert result.exit_code == 0, result.output
    assert "hoso.bak verifies" in result.output
    assert f"audit trail: {entries} audit entries verified" in result.output
    assert CANARY not in result.output
    record_ = drill_record(other)
    assert record_["file"] == "hoso.bak" and record_["ok"] is True and record_["problem"] is None
    assert record_["tables"] > 40 and record_["rows"] == rows and record_["audit_entries"] == entries
    assert abs((datetime.now(UTC) - datetime.strptime(record_["verified_at"], "%Y-%m-%dT%H:%M:%SZ")
                .replace(tzinfo=UTC)).total_seconds()) < 3600
    # No database was touched: none was connected to, none was created.
    assert connections == [] and not absent.parent.exists()

    # The same drill without the audit signing key cannot check the signed checkpoints.
    (Path(other.instance_path) / "keys" / "audit-signing.pub").unlink(missing_ok=True)
    (Path(other.instance_path) / "keys" / "audit-signing.key").unlink(missing_ok=True)
    refused(run(other, "backup", "verify", str(path)), "audit trail does not verify", "bad_checkpoint")
    assert drill_record(other)["ok"] is False


def _reseal(application, source: Path, target: Path, change) -> None:
    """The backup's content, changed line by line by `change`, sealed again under the same
    backup key: an authentic file whose content lies (what only the inner checks can catch)."""
    with application.app_context():
        raw_key = load_backup_key(Path(application.instance_path) / "keys", {}, create=False)
    with open(source, "rb") as handle, open(target, "wb") as out:
        writer = SealedWriter(out, raw_key)
        for line in lines(open_content(handle, raw_key, source.name)):
            document = json.loads(line)
            document = change(document)
            writer.write(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n")
        writer.close()


def test_bad_files_are_refused_and_recorded(app, tmp_path, verifier, make_user):
    make_user(role="officer")
    with app.app_context():
        for number in range(3):
            record("test.backup_drill", target_type="case", target_id=str(number))
        db.session.commit()
    sequenced_all(app)
    path = backup_of(app, tmp_path / "good.bak")
    other, connections, _absent = verifier(app)
    assert run(other, "backup", "verify", str(path)).exit_code == 0

    data = path.read_bytes()
    flipped = tmp_path / "flipped.bak"
    middle = HEADER_BYTES + (len(data) - HEADER_BYTES) // 2
    flipped.write_bytes(data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1:])
    refused(run(other, "backup", "verify", str(flipped)), "flipped.bak is corrupted")
    assert drill_record(other) | {"verified_at": None} == {
        "file": "flipped.bak", "verified_at": None, "ok": False, "tables": 0, "rows": 0, "audit_entries": 0,
        "problem": drill_record(other)["problem"]}

    truncated = tmp_path / "cut.bak"
    truncated.write_bytes(data[:-40])
    refused(run(other, "backup", "verify", str(truncated)), "cut.bak is truncated")
    assert drill_record(other)["ok"] is False

    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("không phải bản sao lưu\n", encoding="utf-8")
    refused(run(other, "backup", "verify", str(not_a_backup)), "not a Hoso backup")
    refused(run(other, "backup", "verify", str(tmp_path / "missing.bak")), "cannot read missing.bak")
    assert drill_record(other)["file"] == "missing.bak"

    # Another instance's backup: its own backup key.
    stranger, _, _ = verifier(app, "stranger", copy_keys=False)
    (Path(stranger.instance_path) / "keys").mkdir(mode=0o700, parents=True)
    refused(run(stranger, "backup", "verify", str(path)), "no backup key")
    with stranger.app_context():
        load_backup_key(Path(stranger.instance_path) / "keys", {}, create=True)
    refused(run(stranger, "backup", "verify", str(path)), "another backup key")
    assert drill_record(stranger)["ok"] is False

    # Authentic files whose content lies: an audit entry rewritten, a reference to nothing.
    target_column = [column.name for column in Base.metadata.tables["audit_entries"].columns].index("target_id")

    def rewrite_entry(document):
        if document.get("t") == "audit_entries" and document["r"][target_column] == "1":
            document["r"][target_column] = "9"
        return document

    tampered = tmp_path / "tampered.bak"
    _reseal(app, path, tampered, rewrite_entry)
    refused(run(other, "backup", "verify", str(tampered)), "audit trail does not verify", "altered")

    def dangling(document):
        if document.get("t") == "users":
            unit_column = [column.name for column in Base.metadata.tables["users"].columns].index("unit_id")
            document["r"][unit_column] = {"$u": "0" * 31 + "1"}
        return document

    orphan = tmp_path / "orphan.bak"
    _reseal(app, path, orphan, dangling)
    refused(run(other, "backup", "verify", str(orphan)), "cannot be restored", "users", "units")
    assert drill_record(other)["ok"] is False
    assert connections == []
