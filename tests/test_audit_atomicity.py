"""An action and its audit entry commit together or not at all (issue 4, DESIGN rule 6):
an action that fails leaves no entry, an audit write that fails takes its action down with
it; denials and failed sign-ins are the exception and are kept; and nothing protected —
a name, a password, a mistyped username — ever reaches the trail.

On PostgreSQL the entry is all the action's transaction writes of the trail; the sequencer
links it afterwards (issue 22). `chain_is_sound` runs its passes, then checks that every
committed entry, and only those, is linked once, with no gap."""

from __future__ import annotations

import re
import uuid
from contextlib import contextmanager

import pytest
from flask_login import current_user
from sqlalchemy import func, select, text

from audit import signing
from audit.models import AuditEntry, ChainHead, Checkpoint
from audit.service import run_verification
from audit.trail import AuditDetailError, detail_of, record
from protection import accounts
from protection.db import db
from protection.identity import Unit, User
from protection.policy import permission, require
from protection.sessions import AuthSession
from tests.conftest import (
    PASSWORD,
    audit_entries,
    audit_links,
    logger_into_caplog,
    post_form,
    sequenced_all,
)

WRONG_PASSWORD = "Sai-mat-khau-Ha-Long-2026"


@pytest.fixture(autouse=True)
def _rate_limit_out_of_the_way(app_config):
    app_config["HOSO_LOGIN_RATE_LIMIT"] = "1000 per minute"


@pytest.fixture
def test_routes(app):
    """Views that misbehave on purpose, declared like any other (the policy gate applies)."""

    @permission("home.view")
    def change_then_fail():
        unit = accounts.create_unit(code="NGAM-1", name="Đơn vị thử", kind="organisation", parent_code=None,
                                    by=current_user)
        record("test.after_change", target_type="unit", target_id=unit.id)
        raise RuntimeError("the action fails after its audit entry was written")

    @permission("home.view")
    def change_then_refused_detail():
        accounts.create_unit(code="NGAM-2", name="Đơn vị thử", kind="organisation", parent_code=None,
                             by=current_user)
        record("test.bad_detail", target_type="unit", note="Nguyễn Văn A đã xem hồ sơ")
        return "unreachable"

    @permission("home.view")
    def change_then_denied():
        accounts.create_unit(code="NGAM-3", name="Đơn vị thử", kind="organisation", parent_code=None,
                             by=current_user)
        require("users.manage")
        return "unreachable"

    app.add_url_rule("/_test/change-then-fail", "test_change_then_fail", change_then_fail)
    app.add_url_rule("/_test/change-then-refused-detail", "test_change_then_refused_detail",
                     change_then_refused_detail)
    app.add_url_rule("/_test/change-then-denied", "test_change_then_denied", change_then_denied)


def unit_exists(app, code: str) -> bool:
    with app.app_context():
        found = db.session.scalar(select(func.count()).select_from(Unit).where(Unit.code == code))
        db.session.commit()
    return bool(found)


def chain_is_sound(app) -> int:
    """Once the sequencer has linked what is committed (PostgreSQL), the chain verifies with
    nothing pending, its links run 1..N with no gap up to the head, and the entries they
    link are exactly the committed entries, each once; returns N."""
    sequenced_all(app)
    with app.app_context():
        report = run_verification()
        head = db.session.get(ChainHead, 1).seq
        db.session.commit()
    assert report.ok and report.pending == 0, report.summary()
    links = audit_links(app)
    assert [link.seq for link in links] == list(range(1, len(links) + 1)) and head == len(links)
    assert sorted(link.entry_id for link in links) == [entry.id for entry in audit_entries(app)]
    assert report.entries_checked == head
    return head


def entry_count(app) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(AuditEntry))
        db.session.commit()
    return count


# --- failing actions leave nothing --------------------------------------------------------

def test_an_action_failing_after_its_entry_was_written_leaves_no_entry(app, client, test_routes, login_as):
    login_as("officer")
    before = chain_is_sound(app)
    response = client.get("/_test/change-then-fail")
    assert response.status_code == 500
    assert "Traceback" not in response.get_data(as_text=True)
    assert not unit_exists(app, "NGAM-1")
    actions = [entry.action for entry in audit_entries(app)]
    assert "test.after_change" not in actions and actions.count("unit.created") == 1  # make_unit's own
    assert chain_is_sound(app) == before


def test_an_audit_write_refused_by_the_detail_guard_rolls_its_action_back(app, client, test_routes, login_as):
    login_as("officer")
    before = chain_is_sound(app)
    response = client.get("/_test/change-then-refused-detail")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Nguyễn Văn A" not in page and "AuditDetailError" not in page
    assert not unit_exists(app, "NGAM-2")
    assert chain_is_sound(app) == before


@contextmanager
def audit_inserts_refused(app, action: str):
    """A database trigger refusing to store entries of `action`: the audit write fails
    where it fails in production, in the database, at commit."""
    with app.app_context():
        dialect = db.engine.dialect.name
        with db.engine.begin() as connection:
            if dialect == "postgresql":
                connection.execute(text(
                    "CREATE FUNCTION test_refuse_entry() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'audit store refused'; END $$"))
                connection.execute(text(
                    f"CREATE TRIGGER test_refuse_entry BEFORE INSERT ON audit_entries FOR EACH ROW "
                    f"WHEN (NEW.action = '{action}') EXECUTE FUNCTION test_refuse_entry()"))
            else:
                connection.execute(text(
                    f"CREATE TRIGGER test_refuse_entry BEFORE INSERT ON audit_entries "
                    f"WHEN NEW.action = '{action}' BEGIN SELECT RAISE(ABORT, 'audit store refused'); END"))
    try:
        yield
    finally:
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(text("DROP TRIGGER test_refuse_entry" +
                                    (" ON audit_entries" if dialect == "postgresql" else "")))
            if dialect == "postgresql":
                connection.execute(text("DROP FUNCTION test_refuse_entry()"))
        with app.app_context():
            db.engine.dispose()


def test_when_the_database_refuses_the_entry_the_sign_in_does_not_happen(app, client, make_user, sign_in):
    """A real action whose audit write fails in the database as the transaction commits:
    the sign-in — its session row, its timestamp — is rolled back with it."""
    user = make_user("officer")
    before = chain_is_sound(app)
    with audit_inserts_refused(app, "auth.signed_in"):
        response = sign_in(user)
        assert response.status_code == 500
        assert "audit store refused" not in response.get_data(as_text=True)
        assert sign_in(user).status_code == 500  # the pooled connection is usable again
    with app.app_context():
        sessions = db.session.scalar(select(func.count()).select_from(AuthSession)
                                     .where(AuthSession.user_id == user.id))
        signed_in_at = db.session.get(User, user.id).last_sign_in_at
        db.session.commit()
    assert sessions == 0 and signed_in_at is None
    assert chain_is_sound(app) == before

    assert sign_in(user).status_code == 302
    assert [entry.target_id for entry in audit_entries(app, "auth.signed_in")] == [str(user.id)]


def test_on_postgresql_the_entry_is_written_by_the_action_s_own_transaction(app, database_url):
    """The entry carries its transaction's id, and the changed row was written by that very
    transaction (PostgreSQL's xmin): one commit for both. Linking comes after, apart."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite writes the entry and its link in the action's transaction (the tests above)")
    with app.app_context():
        unit = accounts.create_unit(code="NGAM-4", name="Đơn vị thử", kind="organisation", parent_code=None, by=None)
        db.session.commit()
        unit_id = unit.id
        writer = int(db.session.scalar(text("SELECT xmin::text FROM units WHERE code = 'NGAM-4'")))
        generation = db.session.get(ChainHead, 1).generation
        db.session.commit()
    [entry] = [entry for entry in audit_entries(app, "unit.created") if entry.target_id == str(unit_id)]
    assert entry.xact_id % 2**32 == writer and entry.generation == generation
    assert entry.id not in {link.entry_id for link in audit_links(app)}  # pending: not linked by the action
    chain_is_sound(app)
    assert entry.id in {link.entry_id for link in audit_links(app)}


def test_a_checkpoint_that_cannot_be_signed_is_logged_and_retried_without_stopping_work(
        app, client, make_user, sign_in, caplog):
    """A checkpoint attests to committed history; an unreadable signing key must not stop
    every action in the installation. The failure is logged, the chain still links every
    entry, and the next entry after the key is back signs the head."""
    app.config["HOSO_AUDIT_CHECKPOINT_EVERY_ENTRIES"] = 1  # due at every link
    user = make_user("officer")  # the first entries sign fine and create the key
    sequenced_all(app)  # (PostgreSQL: where they are linked, and signed)
    key_file = app.instance_path + "/keys/" + signing.PRIVATE_NAME
    with open(key_file, "rb") as handle:
        key = handle.read()
    with open(key_file, "wb") as handle:
        handle.write(b"not a key")

    with logger_into_caplog(caplog, "audit"):
        assert sign_in(user).status_code == 302
        sequenced_all(app)  # PostgreSQL: the sequencer signs, and finds the key unreadable
    assert any("could not be" in record.getMessage() for record in caplog.records)
    head = chain_is_sound(app)
    with app.app_context():
        state = db.session.get(ChainHead, 1)
        assert state.last_checkpoint_seq < head  # the newest entries are not signed yet
        db.session.commit()

    with open(key_file, "wb") as handle:
        handle.write(key)
    with app.app_context():
        record("test.after_key_restored", target_type="user", target_id=user.id)
        db.session.commit()
    sequenced_all(app)
    with app.app_context():
        state = db.session.get(ChainHead, 1)
        assert state.last_checkpoint_seq == state.seq == head + 1
        assert db.session.get(Checkpoint, state.seq) is not None
        db.session.commit()
    chain_is_sound(app)


# --- denials and failed sign-ins are kept ---------------------------------------------------

def test_a_denial_is_kept_while_the_request_work_is_rolled_back(app, client, test_routes, login_as):
    officer = login_as("officer")
    response = client.get("/_test/change-then-denied")
    assert response.status_code == 403
    assert not unit_exists(app, "NGAM-3")
    denials = audit_entries(app, "access.denied")
    assert len(denials) == 1
    denial = denials[0]
    assert (denial.actor_id, denial.actor_role, denial.outcome) == (officer.id, "officer", "denied")
    assert '"permission":"users.manage"' in denial.detail
    assert '"endpoint":"test_change_then_denied"' in denial.detail
    chain_is_sound(app)


@pytest.mark.parametrize("path", ["/audit/", "/admin/users", "/admin/units"])
def test_a_refused_page_is_on_record(app, client, login_as, path):
    officer = login_as("officer")
    assert client.get(path).status_code == 403
    denial = audit_entries(app, "access.denied")[-1]
    assert denial.actor_id == officer.id and denial.outcome == "denied"
    chain_is_sound(app)


def test_failed_sign_ins_and_the_lockout_are_on_record(app, client, make_user, sign_in):
    user = make_user("officer")
    for _ in range(5):
        assert sign_in(user, password=WRONG_PASSWORD).status_code == 200
    assert sign_in(user).status_code == 200  # locked now, even with the right password

    failed = audit_entries(app, "auth.login.failed")
    assert [entry.detail for entry in failed] == ['{"reason":"bad_password"}'] * 5 + ['{"reason":"locked"}']
    assert {(e.target_id, e.actor_id, e.outcome) for e in failed} == {(str(user.id), user.id, "failure")}
    lockouts = audit_entries(app, "auth.lockout")
    assert [(e.target_id, e.outcome) for e in lockouts] == [(str(user.id), "failure")]
    assert failed[4].id < lockouts[0].id < failed[5].id
    assert audit_entries(app, "auth.signed_in") == []
    chain_is_sound(app)
    seq = {link.entry_id: link.seq for link in audit_links(app)}  # chained in the order they happened
    assert seq[failed[4].id] < seq[lockouts[0].id] < seq[failed[5].id]


def test_a_failed_second_factor_is_on_record(app, client, make_user, sign_in):
    supervisor = make_user("supervisor")
    assert sign_in(supervisor, with_code=False).status_code == 302
    assert post_form(client, "/login/second-factor", {"code": "000000"}).status_code == 200
    failed = audit_entries(app, "auth.second_factor.failed")
    assert [(e.target_id, e.outcome) for e in failed] == [(str(supervisor.id), "failure")]


# --- the detail guard -----------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "Nguyễn Văn A",
    "Trần",
    "free text with spaces",
    "line\nbreak",
    "x" * 81,
    ["ok", "Lê Thị B"],
    {"nested": "map"},
    3.5,
    b"bytes",
])
def test_the_detail_guard_refuses_what_could_be_a_protected_value(app, value):
    before = entry_count(app)
    with app.app_context():
        head_before = db.session.get(ChainHead, 1).seq
        with pytest.raises(AuditDetailError) as caught:
            record("test.guard", target_type="unit", note=value)
        assert str(caught.value) == "audit detail 'note' is not an identifier-like value"  # key, never value
        db.session.rollback()
        assert db.session.get(ChainHead, 1).seq == head_before
        db.session.commit()
    assert entry_count(app) == before


def test_the_detail_guard_accepts_identifiers_counts_and_field_names(app):
    with app.app_context():
        session = uuid.uuid4()
        record("test.guard", target_type="user", target_id=uuid.uuid4(), count=3, flag=True,
               nothing=None, session=session, reason="bad_password",
               fields=["display_name", "unit"], endpoint="admin.edit_user")
        db.session.commit()
    [stored] = audit_entries(app, "test.guard")
    assert detail_of(stored) == {"count": 3, "flag": True, "nothing": None, "session": str(session),
                                 "reason": "bad_password", "fields": ["display_name", "unit"],
                                 "endpoint": "admin.edit_user"}
    chain_is_sound(app)


# --- nothing protected in the trail ---------------------------------------------------------

def dump_audit_tables(app) -> str:
    sequenced_all(app)
    with app.app_context():
        rows = []
        for table in ("audit_entries", "audit_links", "audit_checkpoints", "audit_chain_head"):
            rows += [" | ".join(str(value) for value in row)
                     for row in db.session.execute(text(f"SELECT * FROM {table}"))]  # noqa: S608
        db.session.commit()
    return "\n".join(rows)


def test_no_protected_value_ever_reaches_the_trail(app, client, make_user, sign_in, login_as):
    typed_unknown = "Gio-mua-thu-tren-song-Lam"  # a password typed into the username field
    officer = make_user("officer", display_name="Phạm Thị Bảo Mật")
    assert post_form(client, "/login", {"username": typed_unknown, "password": PASSWORD}).status_code == 200
    assert post_form(client, "/login", {"username": "nguyen.van.khong.co", "password": WRONG_PASSWORD}
                     ).status_code == 200
    assert sign_in(officer, password=WRONG_PASSWORD).status_code == 200
    assert sign_in(officer).status_code == 302
    new_password = "Trang-sang-tren-dinh-Ba-Vi-77"
    assert post_form(client, "/account/password", {
        "current_password": PASSWORD, "new_password": new_password, "confirm_password": new_password,
    }).status_code == 302

    admin_client = app.test_client()
    admin = make_user("admin", display_name="Võ Văn Quản Trị")
    assert sign_in(admin, target=admin_client).status_code == 302
    response = post_form(admin_client, "/admin/users/new", {
        "username": "can.bo.moi", "display_name": "Đặng Thị Mới Tuyển", "unit": "BTCTU",
        "role": "officer", "clearance": "secret"})
    assert response.status_code == 200
    temporary = re.search(r'class="hoso-temp-password[^"]*">\s*([^<\s]+)\s*<', response.get_data(as_text=True))
    assert temporary
    edit_page = f"/admin/users/{officer.id}"
    assert post_form(admin_client, edit_page, {"display_name": "Phạm Thị Đổi Tên", "unit": "BTCTU",
                                               "role": "officer", "clearance": "secret"}).status_code == 302
    reset = post_form(admin_client, f"{edit_page}/reset-password", token_from=edit_page)
    reset_password = re.search(r'class="hoso-temp-password[^"]*">\s*([^<\s]+)\s*<', reset.get_data(as_text=True))
    assert reset_password
    assert post_form(admin_client, "/admin/units", {"code": "XA-B", "name": "Đảng ủy xã Bình Minh",
                                                    "kind": "organisation", "parent": ""}).status_code == 302

    dump = dump_audit_tables(app).casefold()
    assert "user.updated" in dump and "auth.password.reset" in dump and "auth.login.failed" in dump
    protected = ["Phạm Thị Bảo Mật", "Phạm Thị Đổi Tên", "Võ Văn Quản Trị", "Đặng Thị Mới Tuyển",
                 "Nguyễn Thị Kiểm Thử", "Đảng ủy xã Bình Minh", typed_unknown, "nguyen.van.khong.co",
                 PASSWORD, WRONG_PASSWORD, new_password, temporary.group(1), reset_password.group(1)]
    for value in protected:
        assert value.casefold() not in dump, f"a protected value is in the audit tables: {value[:3]}…"
