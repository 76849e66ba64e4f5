"""The README's PostgreSQL role: the app's login may insert and read the audit trail,
never rewrite it — even with the triggers gone."""

from __future__ import annotations

import secrets

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app import create_app
from protection.db import db


@pytest.fixture
def restricted_role(app, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL roles only")
    url = make_url(database_url)
    role = f"hoso_app_{secrets.token_hex(4)}"
    password = secrets.token_hex(12)
    owner = psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, dbname=url.database,
                            autocommit=True)
    statements = [
        f"CREATE ROLE {role} LOGIN PASSWORD '{password}'",
        f"GRANT CONNECT ON DATABASE {url.database} TO {role}",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_entries, audit_checkpoints FROM {role}",
    ]
    try:
        for statement in statements:
            owner.execute(statement)
        yield url.set(username=role, password=password).render_as_string(hide_password=False)
    finally:
        owner.execute(f"REASSIGN OWNED BY {role} TO {url.username}")
        owner.execute(f"DROP OWNED BY {role}")
        owner.execute(f"DROP ROLE {role}")
        owner.close()


def test_app_role_appends_but_cannot_rewrite_the_trail(app_config, restricted_role, make_user, sign_in):
    user = make_user("officer")
    restricted = create_app({**app_config, "HOSO_DATABASE_URL": restricted_role})
    client = restricted.test_client()
    assert sign_in(user, target=client).status_code == 302  # writes an audit entry as the role
    with restricted.app_context():
        count = db.session.execute(text("SELECT count(*) FROM audit_entries")).scalar_one()
        assert count >= 1
        db.session.rollback()
        for statement in ("UPDATE audit_entries SET action = 'x'", "DELETE FROM audit_entries",
                          "TRUNCATE audit_entries", "UPDATE audit_checkpoints SET key_id = 'x'"):
            with pytest.raises(Exception, match="permission denied"):
                db.session.execute(text(statement))
            db.session.rollback()
        db.engine.dispose()
