"""A restore on PostgreSQL of a backup whose newest audit entries were not linked yet (the
sequencer had not reached them): the restore's verification cannot have checked them, and
the command says so rather than only "verified" (issue 22). Fixtures: tests/test_backup.py."""

from __future__ import annotations

import re

import pytest

from audit.service import run_verification
from audit.trail import record
from protection.db import db
from tests.conftest import audit_entries, sequenced
from tests.test_backup import create_backup, fresh_database, instances, restore, share_keys  # noqa: F401 - fixtures


def test_a_restore_names_the_backup_s_entries_it_could_not_verify_yet(app, instances, fresh_database,  # noqa: F811
                                                                      tmp_path):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("SQLite links every entry as it records it: nothing is ever pending")
    with app.app_context():
        for number in range(3):
            record("test.linked", target_type="unit", target_id=f"u-{number}")
            db.session.commit()
    sequenced(app)
    with app.app_context():
        for number in range(4):
            record("test.waiting", target_type="unit", target_id=f"w-{number}")
            db.session.commit()
    path = tmp_path / "pending.bak"
    create_backup(app, path)
    target = instances(fresh_database("postgresql"), "target")
    share_keys(app, target)

    result = restore(target, path)
    assert result.exit_code == 0, result.output
    assert "Audit trail verified: 3 entries" in result.output
    waiting = re.search(r"^(\d+) audit entries of the backup are not linked yet and were not verified", result.output,
                        re.M)
    assert waiting is not None and int(waiting.group(1)) == 4, result.output

    # The sequencer reaches them; then everything verifies, the restore's own entry included.
    sequenced(target)
    with target.app_context():
        report = run_verification()
        db.session.rollback()
    assert report.ok and report.pending == 0, report.summary()
    assert report.entries_checked == len(audit_entries(target))
