"""`init` writes the keys; `keys status | rotate-master | rekey` through Flask's CLI runner,
on the real database, with key files in a real instance folder."""

from __future__ import annotations

import base64
import os
import re
import stat
import uuid
from pathlib import Path

import click
import pytest
from click.testing import Result
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import create_app
from audit.models import AuditEntry
from protection.blobs import Blob, store_blob
from protection.db import db
from protection.keystore import (
    DataKey,
    DataKeyDestroyed,
    KeyringEntry,
    MissingMasterKey,
    WrongMasterKey,
    key_id,
)

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


def run(application, *args: str) -> Result:
    result = application.test_cli_runner().invoke(args=list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        pytest.fail(f"{args} crashed: {type(result.exception).__name__}: {result.exception}\n{result.output}")
    assert "Traceback" not in result.output
    return result


def refused_with_one_line(result: Result) -> str:
    assert result.exit_code != 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture
def servers(app, app_config):
    """Servers on one instance folder whose keys are files in instance/keys, as `init`
    writes them (the `app` fixture's injected test keys are left out). `app` is there
    so the tables are emptied afterwards."""
    config = {name: value for name, value in app_config.items() if name not in ("HOSO_MASTER_KEY", "HOSO_INDEX_KEY")}
    made = []

    def start(*, cli: bool = False):
        if cli:
            with click.Context(click.Command("init")):
                application = create_app(config)
        else:
            application = create_app(config)
        made.append(application)
        return application

    start.keys = Path(config["HOSO_INSTANCE_PATH"]) / "keys"
    start.config = config
    yield start
    for application in made:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def initialised(servers):
    result = run(servers(cli=True), "init")
    assert result.exit_code == 0, result.output
    return servers


def store(application, name: str = "tệp.pdf", owner: uuid.UUID | None = None) -> uuid.UUID:
    with application.app_context():
        blob = store_blob(PDF, name, owner=db.session.get(Blob, owner) if owner else None)
        db.session.commit()
        return blob.id


def read_all(application) -> dict[uuid.UUID, tuple[str, bytes]]:
    with application.app_context():
        try:
            return {blob.id: (blob.filename, blob.content) for blob in db.session.scalars(select(Blob))}
        finally:
            db.session.rollback()


def raw(application, table) -> list:
    with application.app_context():
        try:
            return db.session.execute(select(table).order_by(table.c[next(iter(table.primary_key)).name])).all()
        finally:
            db.session.rollback()


def pins(application) -> dict[str, str]:
    with application.app_context():
        try:
            return dict(db.session.execute(select(KeyringEntry.name, KeyringEntry.value)).all())
        finally:
            db.session.rollback()


def file_key_id(path: Path) -> str:
    return key_id(base64.b64decode(path.read_text().strip(), validate=True))


# --- init -----------------------------------------------------------------------------------

def test_init_writes_private_key_files_and_pins_them(servers):
    result = run(servers(cli=True), "init")
    assert result.exit_code == 0, result.output
    for name in ("master.key", "index.key"):
        path = servers.keys / name
        assert f"Wrote {path} (mode 0600)." in result.output
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(base64.b64decode(path.read_text().strip(), validate=True)) == 32
    assert stat.S_IMODE(servers.keys.stat().st_mode) == 0o700
    assert (servers.keys / "master.key").read_bytes() != (servers.keys / "index.key").read_bytes()
    assert pins(servers()) == {"master_key_id": file_key_id(servers.keys / "master.key"),
                               "index_key_id": file_key_id(servers.keys / "index.key"),
                               "dek_generation": "1"}


def test_init_never_replaces_a_key(initialised):
    before = {name: (initialised.keys / name).read_bytes() for name in ("master.key", "index.key")}
    result = run(initialised(), "init", "--exist-ok")
    assert result.exit_code == 0, result.output
    assert f"Using the master key from {initialised.keys / 'master.key'}." in result.output
    assert {name: (initialised.keys / name).read_bytes() for name in before} == before


def test_init_will_not_make_a_new_key_for_a_database_protected_by_a_lost_one(initialised):
    store(initialised())
    master = initialised.keys / "master.key"
    pinned = file_key_id(master)
    master.unlink()
    result = run(initialised(cli=True), "init", "--exist-ok")
    assert result.exit_code != 0
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("Error: ") and "restore that file" in line and pinned in line
    assert not master.exists()


def test_a_server_without_its_key_file_refuses_to_start(initialised):
    (initialised.keys / "master.key").unlink()
    with pytest.raises(MissingMasterKey) as caught:
        initialised()
    assert "master.key" in str(caught.value) and "\n" not in str(caught.value)


# --- status ---------------------------------------------------------------------------------

def test_status_counts_keys_and_values(initialised):
    server = initialised()
    owner = store(server, "a.pdf")
    store(server, "b.pdf", owner=owner)
    store(server, "c.pdf")
    result = run(server, "keys", "status")
    assert result.exit_code == 0, result.output
    master_id = file_key_id(initialised.keys / "master.key")
    assert re.search(rf"master\.key\s+id {master_id}\s+wraps\s+2 data keys\s+in use", result.output), result.output
    assert "generation 1: 2 data keys protect 6 values" in result.output
    assert re.search(rf"index\.key\s+id {file_key_id(initialised.keys / 'index.key')}\s+in use", result.output)

    each = run(server, "keys", "status", "--each")
    owner_key = raw(server, Blob.__table__)[0].data_key_id
    assert any(str(key) in each.output for key in [owner_key])


def test_status_diagnoses_a_server_started_with_the_wrong_key(initialised):
    store(initialised())
    pinned = file_key_id(initialised.keys / "master.key")
    (initialised.keys / "master.key").unlink()
    (initialised.keys / "master.key").write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    (initialised.keys / "master.key").chmod(0o600)
    with pytest.raises(WrongMasterKey):
        initialised()
    server = initialised(cli=True)  # a CLI still loads, to diagnose
    result = run(server, "keys", "status")
    assert result.exit_code == 0, result.output
    assert re.search(rf"\(no key file or variable holds it\)\s+id {pinned}\s+wraps\s+1 data keys", result.output)
    line = refused_with_one_line(run(server, "keys", "rekey"))
    assert pinned in line


# --- rotate-master --------------------------------------------------------------------------

def test_rotate_master_rewraps_every_data_key_and_keeps_the_old_key_file(initialised):
    writer = initialised()
    bystander = initialised()  # a server started before the rotation, holding only the old key
    owner = store(writer, "Biên bản.pdf")
    store(writer, "Phụ lục.pdf", owner=owner)
    store(writer, "Kết luận.pdf")
    values = read_all(writer)
    old_master = (initialised.keys / "master.key").read_bytes()
    old_id = file_key_id(initialised.keys / "master.key")
    sealed_before = raw(writer, Blob.__table__)
    keys_before = raw(writer, DataKey.__table__)

    result = run(initialised(), "keys", "rotate-master", "--batch-size", "1")
    assert result.exit_code == 0, result.output
    new_id = file_key_id(initialised.keys / "master.key")
    assert new_id != old_id
    assert f"Master key is now {new_id}; re-wrapped 2 data keys." in result.output
    retired = list(initialised.keys.glob("master.key.old-*"))
    assert len(retired) == 1 and retired[0].read_bytes() == old_master
    assert stat.S_IMODE(retired[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((initialised.keys / "master.key").stat().st_mode) == 0o600
    assert not (initialised.keys / "master.key.new").exists()

    keys_after = raw(writer, DataKey.__table__)
    assert {row.id for row in keys_after} == {row.id for row in keys_before}
    assert {row.master_key_id for row in keys_after} == {new_id}
    assert all(a.wrapped_key != b.wrapped_key for a, b in zip(keys_before, keys_after, strict=True))
    assert raw(writer, Blob.__table__) == sealed_before  # content untouched
    assert pins(writer)["master_key_id"] == new_id

    assert read_all(initialised()) == values  # a server started now
    # Audited step by step (issue 4: key operations), naming the key ids only.
    with writer.app_context():
        entries = db.session.execute(select(AuditEntry.action, AuditEntry.detail)
                                     .where(AuditEntry.action.like("keys.%")).order_by(AuditEntry.id)).all()
        db.session.rollback()
    assert [action for action, _ in entries] == ["keys.rotate_master.start"] + ["keys.rotate_master.batch"] * 2
    assert all(new_id in detail for _, detail in entries)
    assert read_all(bystander) == values  # finds the new key without a restart
    store(bystander, "sau khi xoay khóa.pdf")
    assert {row.master_key_id for row in raw(writer, DataKey.__table__)} == {new_id}

    status = run(initialised(), "keys", "status").output
    assert re.search(rf"{retired[0].name}\s+id {old_id}\s+wraps\s+0 data keys\s+retired", status), status
    assert re.search(rf"master\.key\s+id {new_id}\s+wraps\s+3 data keys\s+in use", status), status

    (initialised.keys / "master.key").unlink()
    retired[0].rename(initialised.keys / "master.key")  # restoring the old key by mistake
    with pytest.raises(WrongMasterKey) as caught:
        initialised()
    assert new_id in str(caught.value)


def test_rotate_master_continues_an_interrupted_rotation(initialised):
    server = initialised()
    store(server)
    values = read_all(server)
    pending = initialised.keys / "master.key.new"  # left by a run that stopped after writing it
    pending.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    pending.chmod(0o600)
    pending_id = file_key_id(pending)
    result = run(initialised(), "keys", "rotate-master")
    assert "Continued the rotation" in result.output
    assert file_key_id(initialised.keys / "master.key") == pending_id
    assert read_all(initialised()) == values


def test_rotate_master_with_the_key_in_the_environment_leaves_the_new_key_for_the_operator(app, app_config):
    store(app)
    values = read_all(app)
    result = run(app, "keys", "rotate-master")
    assert result.exit_code == 0, result.output
    pending = Path(app.instance_path) / "keys" / "master.key.new"
    assert pending.exists() and "HOSO_MASTER_KEY" in result.output
    moved = create_app({**app_config, "HOSO_MASTER_KEY": pending.read_text().strip()})
    try:
        pending.unlink()  # the operator moved it into the environment
        assert read_all(moved) == values
    finally:
        with moved.app_context():
            db.engine.dispose()


# --- rekey ----------------------------------------------------------------------------------

def test_rekey_reseals_everything_under_fresh_data_keys(initialised):
    server = initialised()
    owner = store(server, "Hồ sơ gốc.pdf")
    dependant = store(server, "Tài liệu kèm.pdf", owner=owner)
    store(server, "Riêng.pdf")
    values = read_all(server)
    keys_before = {row.id for row in raw(server, DataKey.__table__)}
    sealed_before = {row.id: row for row in raw(server, Blob.__table__)}

    result = run(initialised(), "keys", "rekey")
    assert result.exit_code == 0, result.output
    assert "Starting re-keying to generation 2: 2 data keys to replace." in result.output
    assert "Replaced 2 data keys; re-sealed 6 values." in result.output

    keys_after = raw(server, DataKey.__table__)
    assert not keys_before & {row.id for row in keys_after}
    assert {row.generation for row in keys_after} == {2}
    sealed_after = {row.id: row for row in raw(server, Blob.__table__)}
    for blob_id, row in sealed_after.items():
        assert row.filename != sealed_before[blob_id].filename and row.content != sealed_before[blob_id].content
    assert sealed_after[owner].data_key_id == sealed_after[dependant].data_key_id
    assert read_all(initialised()) == values
    assert read_all(server) == values  # its cache still held the old keys: they are unused now

    status = run(server, "keys", "status").output
    assert "generation 1: 0 data keys protect 0 values" in status
    assert "generation 2: 2 data keys protect 6 values" in status


def test_rekey_is_resumable_after_an_interruption(initialised):
    server = initialised()
    for name in ("một.pdf", "hai.pdf", "ba.pdf"):
        store(server, name)
    values = read_all(server)

    first = run(server, "keys", "rekey", "--batch-size", "1", "--max-batches", "1")
    assert "Replaced 1 data keys" in first.output
    assert "2 data keys of older generations are left" in first.output
    status = run(server, "keys", "status").output
    assert "generation 1: 2 data keys protect 4 values" in status
    assert "generation 2: 1 data keys protect 2 values" in status
    assert read_all(initialised()) == values  # readable half-way

    store(server, "bốn.pdf")  # written while re-keying: born in the new generation
    second = run(server, "keys", "rekey")
    assert "Continuing re-keying to generation 2: 2 data keys to replace." in second.output
    assert "Every value is now sealed under generation 2 keys." in second.output
    values = read_all(server)
    assert len(values) == 4 and read_all(initialised()) == values

    third = run(server, "keys", "rekey")
    assert "Starting re-keying to generation 3: 4 data keys to replace." in third.output


def test_a_write_from_before_a_rekey_is_refused_not_stored_under_a_destroyed_key(initialised):
    server = initialised()
    blob_id = store(server, "trước.pdf")
    with server.app_context():
        stale = db.session.get(Blob, blob_id)  # loaded before the rekey, written after it
        db.session.commit()
    assert run(initialised(), "keys", "rekey").exit_code == 0
    with server.app_context():
        db.session.add(stale)
        stale.filename = "sau.pdf"
        with pytest.raises((IntegrityError, DataKeyDestroyed)):
            db.session.commit()
        db.session.rollback()
    assert read_all(initialised()) == {blob_id: ("trước.pdf", PDF)}


def test_rekey_with_no_data_keys_does_nothing(initialised):
    result = run(initialised(), "keys", "rekey")
    assert result.exit_code == 0
    assert "nothing to re-key" in result.output
