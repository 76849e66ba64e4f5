"""The README's PostgreSQL roles (issue 22), with the README's very statements: the app's
login records audit entries and reads the trail, but cannot write a link, move the chain
head or sign a checkpoint, nor rewrite an entry; only the sequencer's login
(HOSO_AUDIT_SEQUENCER_DATABASE_URL) links entries, and it may do nothing else."""

from __future__ import annotations

import re
import secrets

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app import create_app
from audit.service import run_verification
from protection.db import db
from tests.conftest import audit_entries
from tests.sequencer_workload import run_cli, wait_until

# What the README shows, {database}, {app} and {sequencer} filled in. Run as the owner, after
# every `flask db upgrade` (which runs as the owner too) that adds tables.
APP_ROLE = """
GRANT CONNECT ON DATABASE {database} TO {app};
GRANT USAGE ON SCHEMA public TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app};
REVOKE UPDATE, DELETE, TRUNCATE ON audit_entries FROM {app};
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON audit_links, audit_chain_head, audit_checkpoints FROM {app};
GRANT USAGE ON SEQUENCE audit_entries_id_seq TO {app};
"""
SEQUENCER_ROLE = """
GRANT CONNECT ON DATABASE {database} TO {sequencer};
GRANT USAGE ON SCHEMA public TO {sequencer};
GRANT SELECT ON alembic_version, audit_entries TO {sequencer};
GRANT SELECT, INSERT ON audit_links, audit_checkpoints TO {sequencer};
GRANT SELECT, UPDATE ON audit_chain_head TO {sequencer};
"""


def _statements(script: str, **names: str) -> list[str]:
    return [line.format(**names) for line in script.strip().splitlines()]


@pytest.fixture
def roles(app, database_url):
    """(the app's URL, the sequencer's URL): two new login roles with the README's grants."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL roles only (set TEST_DATABASE_URL to a PostgreSQL database)")
    url = make_url(database_url)
    suffix = secrets.token_hex(4)
    names = {"database": url.database, "app": f"hoso_app_{suffix}", "sequencer": f"hoso_sequencer_{suffix}"}
    passwords = {role: secrets.token_hex(12) for role in ("app", "sequencer")}
    owner = psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, password=url.password,
                            dbname=url.database, autocommit=True)
    try:
        for role in ("app", "sequencer"):
            owner.execute(f"CREATE ROLE {names[role]} LOGIN PASSWORD '{passwords[role]}'")
        for statement in _statements(APP_ROLE, **names) + _statements(SEQUENCER_ROLE, **names):
            owner.execute(statement)
        yield tuple(url.set(username=names[role], password=passwords[role]).render_as_string(hide_password=False)
                    for role in ("app", "sequencer"))
    finally:
        for role in ("app", "sequencer"):
            owner.execute(f"REASSIGN OWNED BY {names[role]} TO {url.username}")
            owner.execute(f"DROP OWNED BY {names[role]}")
            owner.execute(f"DROP ROLE {names[role]}")
        owner.close()


def _refused(session_app, statements: list[str]) -> None:
    with session_app.app_context():
        for statement in statements:
            with pytest.raises(Exception, match="permission denied"):
                db.session.execute(text(statement))
            db.session.rollback()


def test_the_app_role_records_entries_but_cannot_link_sign_or_rewrite(app_config, roles, make_user, sign_in):
    app_url, _sequencer_url = roles
    user = make_user("officer")
    served = create_app({**app_config, "HOSO_DATABASE_URL": app_url})
    assert sign_in(user, target=served.test_client()).status_code == 302  # its entries, as the app's role
    assert [entry.action for entry in audit_entries(served)][-1] == "auth.signed_in"
    _refused(served, [
        "UPDATE audit_entries SET action = 'x'", "DELETE FROM audit_entries", "TRUNCATE audit_entries",
        "INSERT INTO audit_links (seq, entry_id, prev_hash, entry_hash) VALUES (1, 1, repeat('0', 64), repeat('1', 64))",
        "UPDATE audit_links SET entry_id = 1", "DELETE FROM audit_links",
        "UPDATE audit_chain_head SET seq = seq + 1",
        "SELECT seq FROM audit_chain_head FOR UPDATE",
        "INSERT INTO audit_checkpoints (seq, entry_hash, signed_at, key_id, signature) "
        "VALUES (1, repeat('1', 64), now(), 'k', 's')",
        "UPDATE audit_checkpoints SET key_id = 'x'",
    ])
    # Nor can it run the sequencer: the pass rolls back at the head's lock, nothing linked.
    # (Until the entries are ready a pass has nothing to lock: a transaction open elsewhere
    # on the server may hold them back a moment.)
    done = wait_until(lambda: (result := served.test_cli_runner().invoke(args=["audit", "sequence", "--once"]))
                      .exit_code and result, "a sequencer pass with entries to link")
    assert done.exit_code == 1
    assert "the audit sequencer stopped: ProgrammingError" in done.output
    with served.app_context():
        assert db.session.execute(text("SELECT count(*) FROM audit_links")).scalar_one() == 0
        db.session.rollback()
        db.engine.dispose()


def _linked(output: str) -> int:
    return int(re.search(r"linked (\d+) audit entries", output).group(1))


def test_the_sequencer_role_links_what_the_app_role_recorded(app_config, roles, make_user, sign_in):
    """As HOSO_AUDIT_SEQUENCER_DATABASE_URL beside the app's login, and as the only login of
    a sequencer run as a service of its own (the README's systemd unit)."""
    app_url, sequencer_url = roles
    user = make_user("officer")
    served = create_app({**app_config, "HOSO_DATABASE_URL": app_url, "HOSO_AUDIT_SEQUENCER_DATABASE_URL": sequencer_url,
                         "HOSO_AUDIT_CHECKPOINT_EVERY_ENTRIES": 1})
    assert sign_in(user, target=served.test_client()).status_code == 302
    linked = []

    def sequence_in_the_app() -> bool:
        done = served.test_cli_runner().invoke(args=["audit", "sequence", "--once"])
        assert done.exit_code == 0, done.output
        linked.append(_linked(done.output))
        return sum(linked) >= len(audit_entries(served))

    # (Usually at once; a transaction open elsewhere on the server can hold entries back a moment.)
    wait_until(sequence_in_the_app, "the sequencer to link every entry")

    assert sign_in(user, target=served.test_client()).status_code == 302

    def sequence_as_a_service() -> bool:
        done = run_cli({**app_config, "HOSO_DATABASE_URL": sequencer_url, "HOSO_AUDIT_CHECKPOINT_EVERY_ENTRIES": 1},
                       "audit", "sequence", "--once")
        assert done.returncode == 0, done.stderr
        linked.append(_linked(done.stdout))
        return sum(linked) >= len(audit_entries(served))

    wait_until(sequence_as_a_service, "the sequencer service to link every entry")
    recorded = len(audit_entries(served))
    assert sum(linked) == recorded
    with served.app_context():
        report = run_verification()
        assert report.ok, report.summary()
        assert (report.entries_checked, report.pending) == (recorded, 0)
        assert report.checkpoints_checked >= 2  # signed by the sequencer's role
        db.session.rollback()
        db.engine.dispose()

    # The sequencer's login may link, and nothing else: no entry, no domain table, no rewrite.
    sequencer = create_app({**app_config, "HOSO_DATABASE_URL": sequencer_url})
    _refused(sequencer, [
        "INSERT INTO audit_entries (occurred_at, action, outcome, detail) VALUES (now(), 'x', 'success', '{}')",
        "UPDATE audit_entries SET action = 'x'",
        "UPDATE audit_links SET entry_id = 1", "DELETE FROM audit_links", "TRUNCATE audit_links",
        "DELETE FROM audit_checkpoints", "UPDATE alembic_version SET version_num = 'x'",
        "SELECT count(*) FROM users", "UPDATE users SET display_name = 'x'",
    ])
    with sequencer.app_context():
        db.engine.dispose()
