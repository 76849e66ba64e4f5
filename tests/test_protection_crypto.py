"""Envelope encryption through the real app and database: sealed values round-trip, are
bound to their table, column and row, never reach the database, a dump or a log in the
clear, and the app refuses to start without the right keys.

Protected values are written through the `blobs` table (a real Protected model with an
EncryptedText and an EncryptedBytes column); the JSON and date codecs share everything
but their encoding, which is checked against the keyring directly.
"""

from __future__ import annotations

import base64
import logging
import os
import stat
import subprocess
import sys
import time
import unicodedata
import uuid
from datetime import date, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, StatementError

from app import create_app
from protection.blobs import Blob, store_blob
from protection.db import Base, db
from protection.fields import (
    BlindIndex,
    EncryptedBytes,
    EncryptedDate,
    EncryptedJSON,
    EncryptedText,
    IndexField,
    Sealed,
    UnsealedValue,
    compute_index,
)
from protection.index_plans import index_bits_range
from protection.keystore import (
    DataKey,
    DataKeyDestroyed,
    KeyringEntry,
    MissingIndexKey,
    MissingMasterKey,
    TamperedCiphertext,
    WrongIndexKey,
    WrongMasterKey,
    write_key_file,
)
from protection.sealing import destroy_data_key
from protection.search import InvalidCitizenId, birth_date, citizen_id, vietnamese_name
from protection.settings import ConfigurationError

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def keyring_of(app):
    return app.extensions["hoso_keyring"]


def store(app, content: bytes = PDF, name: str = "Biên bản xác minh.pdf", owner: uuid.UUID | None = None) -> uuid.UUID:
    with app.app_context():
        blob = store_blob(content, name, owner=db.session.get(Blob, owner) if owner else None)
        db.session.commit()
        return blob.id


def raw_row(app, blob_id: uuid.UUID):
    with app.app_context():
        table = Blob.__table__
        row = db.session.execute(select(table).where(table.c.id == blob_id)).one()
        db.session.commit()
        return row


def write_raw(app, blob_id: uuid.UUID, **values: bytes) -> None:
    """What an attacker with write access to the database can do (Sealed: already a ciphertext)."""
    with app.app_context():
        table = Blob.__table__
        sealed = {name: Sealed(value) for name, value in values.items()}
        db.session.execute(update(table).where(table.c.id == blob_id).values(**sealed))
        db.session.commit()


@pytest.fixture
def fresh_app(app_config):
    """Another server on the same database: a new process's empty key cache."""
    made = []

    def make(config: dict | None = None, **overrides):
        application = create_app({**(config or app_config), **overrides})
        made.append(application)
        return application

    yield make
    for application in made:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


def load(app, blob_id: uuid.UUID, *, content: bool = False):
    with app.app_context():
        try:
            blob = db.session.get(Blob, blob_id)
            return (blob.filename, blob.content) if content else blob.filename
        finally:
            db.session.rollback()


def new_key_text() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def assert_one_line(error: Exception, *words: str) -> None:
    message = str(error)
    assert message and "\n" not in message
    for word in words:
        assert word in message, message


# --- round trips ----------------------------------------------------------------------------

def test_text_and_bytes_round_trip_through_the_database(app, fresh_app):
    name = "Đơn tố cáo — Nguyễn Văn An (bản gốc).pdf"
    blob_id = store(app, PDF, name)
    assert load(fresh_app(), blob_id, content=True) == (name, PDF)

    row = raw_row(app, blob_id)
    assert row.filename[0] == 1 and len(row.filename) == 1 + 16 + 12 + len(name.encode()) + 16
    assert uuid.UUID(bytes=bytes(row.filename[1:17])) == row.data_key_id
    assert name.encode() not in row.filename and PDF not in row.content


@pytest.mark.parametrize(("column_type", "value"), [
    (EncryptedText(), "Trần Thị Bình, sinh quán Nghệ An"),
    (EncryptedText(), ""),
    (EncryptedJSON(), {"ten_khac": ["Bình", "Tư Bình"], "so_con": 2, "dang_vien": True, "ghi_chu": None}),
    (EncryptedJSON(), ["a", 1, 2.5]),
    (EncryptedDate(), date(1968, 2, 29)),
    (EncryptedBytes(), bytes(range(256))),
])
def test_every_encrypted_type_round_trips_through_the_keyring(app, column_type, value):
    row_id = uuid.uuid4()
    with app.app_context():
        keyring = keyring_of(app)
        data_key = keyring.new_data_key(db.session)
        keyring.insert_data_keys(db.session, [data_key.row])
        sealed = keyring.seal(db.session, data_key.id, column_type.encode(value, "t.c"), "t", "c", row_id)
        opened = column_type.decode(keyring.open(db.session, sealed, "t", "c", row_id))
        db.session.rollback()
    assert opened == value and type(opened) is type(value)


@pytest.mark.parametrize(("column_type", "value"), [
    (EncryptedText(), b"bytes"),
    (EncryptedDate(), datetime(2020, 1, 1)),
    (EncryptedDate(), "1980-01-01"),
    (EncryptedJSON(), {1, 2}),
    (EncryptedBytes(), "text"),
])
def test_wrong_python_types_are_refused_without_quoting_the_value(column_type, value):
    with pytest.raises(TypeError) as caught:
        column_type.encode(value, "subjects.full_name")
    assert "subjects.full_name" in str(caught.value)
    assert str(value) not in str(caught.value)


def test_a_plain_value_never_reaches_an_encrypted_column(app):
    table = Blob.__table__
    with app.app_context():
        with pytest.raises(StatementError) as caught:
            db.session.execute(insert(table).values(
                id=uuid.uuid4(), size=3, content_type="application/pdf", filename="secret-name.pdf",
                content=b"%PDF", created_at=datetime.now().astimezone()))
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(table)) == 0
        db.session.rollback()
    assert isinstance(caught.value.orig, UnsealedValue)
    assert "secret-name" not in str(caught.value)


def test_a_failed_flush_leaves_plaintext_in_the_objects(app):
    with app.app_context():
        blob = store_blob(PDF, "Tên tệp.pdf")
        blob.content_type = None  # NOT NULL: the INSERT fails after the values were sealed
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()
        assert blob.filename == "Tên tệp.pdf" and blob.content == PDF


def test_an_owner_shares_its_data_key_and_changes_are_resealed(app, fresh_app):
    owner = store(app, name="owner.pdf")
    dependant = store(app, name="dependant.pdf", owner=owner)
    assert raw_row(app, owner).data_key_id == raw_row(app, dependant).data_key_id
    with app.app_context():
        db.session.get(Blob, dependant).filename = "đổi tên.pdf"
        db.session.commit()
    assert load(fresh_app(), dependant) == "đổi tên.pdf"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DataKey)) == 1
        db.session.commit()


def test_data_key_ids_are_time_ordered_uuid7s(app):
    """New keys land at the end of every data_key_id index (protection.crypto.new_data_key_id)."""
    blob_ids = []
    for n in range(5):
        blob_ids.append(store(app, name=f"{n}.pdf"))
        time.sleep(0.002)  # ids of one millisecond share their time and order at random
    keys = [raw_row(app, blob_id).data_key_id for blob_id in blob_ids]
    assert [key.version for key in keys] == [7] * 5
    assert sorted(keys) == keys
    with app.app_context():
        for key in keys:
            created = db.session.get(DataKey, key).created_at
            assert abs((key.int >> 80) - created.timestamp() * 1000) < 1000  # the id's milliseconds
        db.session.rollback()


# --- tampering ------------------------------------------------------------------------------

def test_one_flipped_bit_is_detected_and_names_the_record(app, fresh_app):
    name = "Nguyễn Văn Bí Mật.pdf"
    blob_id = store(app, name=name)
    sealed = bytearray(raw_row(app, blob_id).filename)
    sealed[-5] ^= 0x01
    write_raw(app, blob_id, filename=bytes(sealed))
    with pytest.raises(TamperedCiphertext) as caught:
        load(fresh_app(), blob_id)
    assert caught.value.table == "blobs" and caught.value.column == "filename"
    assert caught.value.row_id == blob_id
    assert f"blobs.filename of row {blob_id}" in str(caught.value)
    assert "Bí Mật" not in str(caught.value)


def test_a_ciphertext_swapped_between_rows_does_not_open(app, fresh_app):
    first = store(app, name="first.pdf")
    second = store(app, name="second.pdf", owner=first)  # same data key: only the row id differs
    write_raw(app, second, filename=raw_row(app, first).filename)
    with pytest.raises(TamperedCiphertext) as caught:
        load(fresh_app(), second)
    assert caught.value.row_id == second and "first.pdf" not in str(caught.value)
    assert load(fresh_app(), first) == "first.pdf"


def test_a_ciphertext_swapped_between_columns_does_not_open(app, fresh_app):
    blob_id = store(app, name="name.pdf")
    write_raw(app, blob_id, content=raw_row(app, blob_id).filename)
    application = fresh_app()
    assert load(application, blob_id) == "name.pdf"  # content is deferred: the name still opens
    with pytest.raises(TamperedCiphertext) as caught:
        load(application, blob_id, content=True)
    assert (caught.value.table, caught.value.column) == ("blobs", "content")


def test_a_ciphertext_relabelled_with_another_data_key_does_not_open(app, fresh_app):
    first, second = store(app, name="a.pdf"), store(app, name="b.pdf")
    sealed = bytearray(raw_row(app, first).filename)
    sealed[1:17] = raw_row(app, second).data_key_id.bytes
    write_raw(app, first, filename=bytes(sealed))
    with pytest.raises(TamperedCiphertext):
        load(fresh_app(), first)


@pytest.mark.parametrize("damage", ["truncated", "version"])
def test_a_malformed_ciphertext_is_an_integrity_error(app, fresh_app, damage):
    blob_id = store(app)
    sealed = raw_row(app, blob_id).filename
    write_raw(app, blob_id, filename=sealed[:20] if damage == "truncated" else b"\x07" + sealed[1:])
    with pytest.raises(TamperedCiphertext) as caught:
        load(fresh_app(), blob_id)
    assert "truncated" in str(caught.value) if damage == "truncated" else "version 7" in str(caught.value)


def test_a_tampered_wrapped_data_key_is_detected(app, fresh_app):
    blob_id = store(app)
    key_id = raw_row(app, blob_id).data_key_id
    with app.app_context():
        table = DataKey.__table__
        wrapped = bytearray(db.session.scalar(select(table.c.wrapped_key).where(table.c.id == key_id)))
        wrapped[15] ^= 0x80
        db.session.execute(update(table).where(table.c.id == key_id).values(wrapped_key=bytes(wrapped)))
        db.session.commit()
    with pytest.raises(TamperedCiphertext) as caught:
        load(fresh_app(), blob_id)
    assert (caught.value.table, caught.value.column, caught.value.row_id) == ("data_keys", "wrapped_key", key_id)


def test_destroying_a_data_key_shreds_its_rows(app, fresh_app):
    owner = store(app, name="owner.pdf")
    dependant = store(app, name="dependant.pdf", owner=owner)
    other = store(app, name="other.pdf")
    key_id = raw_row(app, owner).data_key_id
    sealed_name = raw_row(app, owner).filename
    with app.app_context():
        assert destroy_data_key(db.session, key_id) == 2
        db.session.commit()
    application = fresh_app()
    with application.app_context():
        shredded = db.session.get(Blob, dependant)
        assert shredded.is_shredded and shredded.filename is None and shredded.content is None
        assert db.session.get(DataKey, key_id) is None
        with pytest.raises(DataKeyDestroyed):
            keyring_of(application).open(db.session, sealed_name, "blobs", "filename", owner)
        db.session.rollback()
    assert load(application, other) == "other.pdf"


# --- nothing in the clear -------------------------------------------------------------------

CANARY_NAME = "Hồ sơ Nguyễn Thị Canary-7f3a9c.pdf"
CANARY_RENAMED = "Đổi-tên-canary-b81d44.pdf"
CANARY_CONTENT = PDF.replace(b"/Catalog", b"/Catalog /Canary (canary-content-5d1e8b)")
CANARY_TOKENS = ("canary-7f3a9c", "b81d44", "canary-content-5d1e8b", "Nguyễn Thị Canary")


def _canary_forms() -> list[bytes]:
    forms = []
    for token in CANARY_TOKENS:
        for normal in ("NFC", "NFD"):
            encoded = unicodedata.normalize(normal, token).encode("utf-8")
            forms += [encoded, encoded.hex().encode(), encoded.hex().upper().encode()]
    return forms


def _postgres_dump(url: str) -> bytes:
    parts = make_url(url)
    dump = b""
    with psycopg.connect(host=parts.host or "127.0.0.1", port=parts.port or 5432, user=parts.username,
                         password=parts.password, dbname=parts.database) as connection:
        for table in Base.metadata.sorted_tables:
            with connection.cursor().copy(f'COPY "{table.name}" TO STDOUT') as copy:
                for chunk in copy:
                    dump += bytes(chunk)
    return dump


def test_canaries_never_reach_the_database_files_a_dump_or_the_logs(app, database_url, caplog):
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    blob_id = store(app, CANARY_CONTENT, CANARY_NAME)
    with app.app_context():
        blob = db.session.get(Blob, blob_id)
        blob.filename = CANARY_RENAMED
        db.session.commit()
        assert db.session.get(Blob, blob_id).content == CANARY_CONTENT
        db.session.commit()
    assert "SELECT" in caplog.text  # the engine log was on

    if database_url.startswith("sqlite"):
        path = Path(make_url(database_url).database)
        files = [Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm")]
        stored = b"".join(file.read_bytes() for file in files if file.exists())
    else:
        stored = _postgres_dump(database_url)
    # The dump does hold the row: its sealed name is there, as bytes or as bytea hex.
    sealed = bytes(raw_row(app, blob_id).filename)
    assert sealed in stored or sealed.hex().encode() in stored
    for form in _canary_forms():
        assert form not in stored, form
        assert form.decode() not in caplog.text


# --- start-up -------------------------------------------------------------------------------

def _without_injected_keys(config: dict) -> dict:
    return {name: value for name, value in config.items() if name not in ("HOSO_MASTER_KEY", "HOSO_INDEX_KEY")}


def test_without_a_master_key_start_up_is_refused(app_config):
    with pytest.raises(MissingMasterKey) as caught:
        create_app(_without_injected_keys(app_config))
    assert isinstance(caught.value, ConfigurationError)
    assert_one_line(caught.value, "master.key", "HOSO_MASTER_KEY", "init")


def test_without_an_index_key_start_up_is_refused(app_config):
    config = _without_injected_keys(app_config)
    config["HOSO_MASTER_KEY"] = new_key_text()
    with pytest.raises(MissingIndexKey) as caught:
        create_app(config)
    assert_one_line(caught.value, "index.key", "HOSO_INDEX_KEY")


def test_the_index_key_must_not_be_the_master_key(app_config):
    key = new_key_text()
    with pytest.raises(ConfigurationError) as caught:
        create_app({**app_config, "HOSO_MASTER_KEY": key, "HOSO_INDEX_KEY": key})
    assert_one_line(caught.value, "separate")


def test_a_wrong_master_key_refuses_start_up(app, app_config):
    store(app)  # the first data key pins the keys in the database
    with pytest.raises(WrongMasterKey) as caught:
        create_app({**app_config, "HOSO_MASTER_KEY": new_key_text()})
    assert_one_line(caught.value, keyring_of(app).primary.id, "restore")


def test_a_wrong_index_key_refuses_start_up(app, app_config):
    store(app)
    with pytest.raises(WrongIndexKey) as caught:
        create_app({**app_config, "HOSO_INDEX_KEY": new_key_text()})
    assert_one_line(caught.value, keyring_of(app).index_key_id)


def test_on_a_database_not_yet_pinned_a_key_is_pinned_with_the_first_data_key(app):
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(KeyringEntry)) == 0
        db.session.commit()
    store(app)
    with app.app_context():
        pins = dict(db.session.execute(select(KeyringEntry.name, KeyringEntry.value)).all())
        db.session.commit()
    assert pins == {"master_key_id": keyring_of(app).primary.id, "index_key_id": keyring_of(app).index_key_id,
                    "dek_generation": "1"}


def _instance_with_key_files(app_config, tmp_path, master: bytes, mode: int = 0o600) -> dict:
    keys = tmp_path / "keyed-instance" / "keys"
    keys.mkdir(parents=True)
    for name, raw in (("master.key", master), ("index.key", base64.b64encode(os.urandom(32)) + b"\n")):
        path = keys / name
        path.write_bytes(raw)
        path.chmod(mode if name == "master.key" else 0o600)
    return {**_without_injected_keys(app_config), "HOSO_INSTANCE_PATH": str(keys.parent)}


def test_key_files_are_read_from_the_instance(app_config, tmp_path, fresh_app):
    raw = os.urandom(32)
    application = fresh_app(_instance_with_key_files(app_config, tmp_path, base64.b64encode(raw) + b"\n"))
    assert keyring_of(application).primary.source.endswith("keys/master.key")


@pytest.mark.parametrize(("content", "mode", "words"), [
    (base64.b64encode(os.urandom(32)) + b"\n", 0o644, ("readable by other users", "chmod 600")),
    (b"not base64 at all!\n", 0o600, ("not a base64 key",)),
    (base64.b64encode(os.urandom(16)) + b"\n", 0o600, ("32 bytes", "found 16")),
], ids=["readable-by-others", "not-base64", "too-short"])  # fixed ids: xdist workers must collect the same names
def test_a_bad_master_key_file_refuses_start_up(app_config, tmp_path, content, mode, words):
    with pytest.raises(ConfigurationError) as caught:
        create_app(_instance_with_key_files(app_config, tmp_path, content, mode))
    assert_one_line(caught.value, "master.key", *words)


def test_keys_are_never_taken_from_config_outside_tests(app_config, tmp_path):
    instance = tmp_path / "config-instance"
    instance.mkdir()
    (instance / "config.py").write_text(f"SECRET_KEY = 'x' * 40\nHOSO_MASTER_KEY = {new_key_text()!r}\n")
    config = {**_without_injected_keys(app_config), "HOSO_INSTANCE_PATH": str(instance),
              "HOSO_ARGON2_PROFILE": "rfc9106-low-memory"}
    config.pop("TESTING")
    with pytest.raises(ConfigurationError) as caught:
        create_app(config)
    assert_one_line(caught.value, "HOSO_MASTER_KEY", "environment")


def test_the_keyring_never_shows_key_material(app):
    keyring = keyring_of(app)
    shown = repr(keyring) + repr(keyring.primary)
    assert keyring.primary.id in shown and "aead" not in shown
    assert base64.b64decode(app.extensions["hoso_key_sources"].injected["HOSO_MASTER_KEY"]).hex() not in shown
    assert "HOSO_MASTER_KEY" not in app.config and "HOSO_INDEX_KEY" not in app.config


def test_a_second_server_with_another_key_cannot_write_once_the_first_pinned(app, app_config):
    """The pins are checked again in every transaction that creates a data key."""
    application = create_app({**app_config, "HOSO_MASTER_KEY": new_key_text()})  # nothing pinned yet
    try:
        store(app)  # the first server pins its key
        with application.app_context():
            with pytest.raises(WrongMasterKey):
                store_blob(PDF, "x.pdf")
                db.session.flush()
            db.session.rollback()
    finally:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


# --- blind indexes --------------------------------------------------------------------------

@pytest.mark.parametrize("spelling", [
    "Nguyễn Văn An", "nguyen van an", "NGUYỄN  VĂN AN", "  Nguyễn\u00a0Văn\tAn ",
    unicodedata.normalize("NFD", "Nguyễn Văn An"), "Ｎｇｕｙễｎ Văn An", "Nguyễn Văn\u200b An",
])
def test_vietnamese_names_fold_to_one_form(spelling):
    assert vietnamese_name(spelling) == "nguyen van an"


@pytest.mark.parametrize(("name", "folded"), [
    ("Đặng Thị Đào", "dang thi dao"), ("đỗ đức độ", "do duc do"), ("ĐOÀN  ĐÌNH  ĐÔNG", "doan dinh dong"),
    ("Ðinh Bộ Lĩnh", "dinh bo linh"), ("Lê Thị Hương Giang", "le thi huong giang"),
    ("Ngô Quyền", "ngo quyen"), ("   ", None), ("", None),
])
def test_d_with_stroke_and_spacing_are_folded(name, folded):
    assert vietnamese_name(name) == folded


def test_different_names_stay_different_and_only_marks_fold():
    assert vietnamese_name("Nguyễn Văn An") == vietnamese_name("Nguyễn Văn Ân")  # marks fold together
    assert vietnamese_name("Nguyễn Văn An") != vietnamese_name("Nguyễn Văn Anh")
    assert vietnamese_name("Đào") != vietnamese_name("Hào")


@pytest.mark.parametrize(("text", "digits"), [
    ("001085012345", "001085012345"), ("001 085 012 345", "001085012345"), ("001.085.012.345", "001085012345"),
    ("００１０８５０１２３４５", "001085012345"), ("186-123-456", "186123456"), ("  ", None),
])
def test_citizen_id_numbers_keep_their_digits(text, digits):
    assert citizen_id(text) == digits


@pytest.mark.parametrize("text", ["00108501234", "0010850123456", "00108501234X", "CMND 186123456"])
def test_malformed_citizen_id_numbers_are_refused_without_quoting_them(text):
    with pytest.raises(InvalidCitizenId) as caught:
        citizen_id(text)
    assert "digits" in str(caught.value)
    assert text not in str(caught.value)


@pytest.mark.parametrize("value", [date(1975, 4, 30), "30/04/1975", "1975-04-30", "30-04-1975", " 30.04.1975 "])
def test_dates_of_birth_normalise_to_iso(value):
    assert birth_date(value) == "1975-04-30"


def test_an_impossible_date_of_birth_is_refused():
    with pytest.raises(ValueError, match="dd/mm/yyyy"):
        birth_date("31/02/1975")


def _index(name: str = "subjects.full_name_index", sources=("full_name",), normalise=(vietnamese_name,), bits=15):
    table, column = name.split(".")
    return IndexField(column, table, column, tuple(sources), tuple(normalise), bits)


def test_blind_index_values_match_across_spellings_and_differ_across_indexes(app):
    keyring = keyring_of(app)
    by_name = _index()
    values = {compute_index(keyring, by_name, [spelling])
              for spelling in ("Nguyễn Văn An", "nguyen van an", "NGUYỄN  VĂN AN")}
    assert len(values) == 1
    value = values.pop()
    assert 0 <= value < 2 ** 15
    other_index = _index("relatives.full_name_index")
    # Each index has its own key: over many names, two indexes disagree almost always.
    names = [f"Nguyễn Văn {n}" for n in range(200)]
    same = sum(compute_index(keyring, by_name, [n]) == compute_index(keyring, other_index, [n]) for n in names)
    assert same < 5
    assert compute_index(keyring, by_name, ["   "]) is None


def test_a_compound_index_separates_its_parts(app):
    keyring = keyring_of(app)
    compound = _index("subjects.name_birth_index", ("full_name", "date_of_birth"), (vietnamese_name, vietnamese_name), 31)
    assert compute_index(keyring, compound, ["ab", "c"]) != compute_index(keyring, compound, ["a", "bc"])
    assert compute_index(keyring, compound, ["An", None]) is None


def test_blind_indexes_do_not_depend_on_the_master_key(app, fresh_app):
    index = _index(bits=31)
    other = fresh_app(HOSO_MASTER_KEY=new_key_text())
    assert compute_index(keyring_of(app), index, ["Lê Văn Sơn"]) == compute_index(keyring_of(other), index, ["Lê Văn Sơn"])
    third = fresh_app(HOSO_INDEX_KEY=new_key_text())
    assert compute_index(keyring_of(app), index, ["Lê Văn Sơn"]) != compute_index(keyring_of(third), index, ["Lê Văn Sơn"])


def test_a_blind_index_on_a_low_variety_field_alone_is_refused():
    with pytest.raises(ValueError, match="low-variety"):
        BlindIndex("date_of_birth", normalise=birth_date)
    BlindIndex(("full_name", "date_of_birth"), normalise=(vietnamese_name, birth_date))


@pytest.mark.parametrize(("population", "bounds"), [
    (10_000, (7, 12)), (65_536, (8, 15)), (100_000, (9, 15)), (1_000_000, (10, 18)),
])
def test_index_bit_lengths_follow_ciphersweet(population, bounds):
    low, high = index_bits_range(population)
    assert (low, high) == bounds
    assert 2 <= population / 2 ** high and population / 2 ** low <= population ** 0.5


def test_the_key_files_init_writes_are_private(tmp_path):
    path = tmp_path / "k"
    write_key_file(path, os.urandom(32))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        write_key_file(path, os.urandom(32))


# --- declaring protected models -------------------------------------------------------------

MODEL_ERRORS = {
    "not Protected": '''
class Leaky(Base):
    __tablename__ = "leaky"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    secret: Mapped[str] = mapped_column(EncryptedText)
''',
    "integer key": '''
class Counted(Protected, Base):
    __tablename__ = "counted"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret: Mapped[str] = mapped_column(EncryptedText)
''',
    "unknown source": '''
class Indexed(Protected, Base):
    __tablename__ = "indexed"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name_index: Mapped[int | None] = mapped_column(BlindIndex("name", normalise=str))
''',
}


@pytest.mark.parametrize(("case", "expected"), [
    ("not Protected", "must inherit Protected"), ("integer key", "single UUID primary key"),
    ("unknown source", "indexes 'name'"),
])
def test_a_wrongly_declared_model_fails_when_mappers_are_configured(case, expected):
    """In a child process: a mapper that failed to configure would spoil every later test."""
    script = (
        "import uuid\nfrom sqlalchemy import Integer, MetaData, Uuid\n"
        "from sqlalchemy.orm import DeclarativeBase, Mapped, configure_mappers, mapped_column\n"
        "from protection.fields import BlindIndex, EncryptedText\nfrom protection.sealing import Protected\n"
        "class Base(DeclarativeBase):\n    metadata = MetaData()\n"
        + MODEL_ERRORS[case] + "configure_mappers()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,  # noqa: S603 - our own script
                          cwd=Path(__file__).resolve().parent.parent, check=False)
    assert done.returncode != 0
    assert "TypeError" in done.stderr and expected in done.stderr, done.stderr[-2000:]


def test_a_flush_refused_before_writing_leaves_no_dangling_data_key(app, fresh_app):
    with app.app_context():
        blob = store_blob(PDF, "tên.pdf")
        blob.filename = b"not text"  # refused while sealing, before anything is written
        with pytest.raises(TypeError, match="blobs.filename takes text"):
            db.session.flush()
        assert blob.data_key_id is None
        blob.filename = "đã sửa.pdf"
        db.session.commit()
        blob_id = blob.id
    assert load(fresh_app(), blob_id) == "đã sửa.pdf"
