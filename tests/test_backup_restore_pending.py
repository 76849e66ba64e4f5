"""A restore on PostgreSQL of a backup whose newest audit entries were not linked yet (the
sequencer had not reached them): the restore's verification cannot have checked them, and
the command says so rather than only "verified" (issue 22)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from app import create_app
from audit.service import run_verification
from audit.trail import record
from protection.db import db
from tests.conftest import _config, audit_entries, scratch_postgresql_database, sequenced


def test_a_restore_names_the_backup_s_entries_it_could_not_verify_yet(app, tmp_path):
    with scratch_postgresql_database("hoso_rp", "SQLite links every entry as it records it: nothing is pending"
                                     ) as target_url:
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
        created = app.test_cli_runner().invoke(args=["backup", "create", str(path)])
        assert created.exit_code == 0, created.output
        target = create_app(_config(target_url, tmp_path / "target"))
        # What an operator carries to the new server beside the backup: the instance's keys
        # and its purge ledger.
        shutil.copytree(Path(app.instance_path) / "keys", Path(target.instance_path) / "keys")
        shutil.copy(Path(app.instance_path) / "purge-ledger.jsonl", Path(target.instance_path))
        try:
            result = target.test_cli_runner().invoke(args=["backup", "restore", str(path)])
            assert result.exit_code == 0, result.output
            assert "Audit trail verified: 3 entries" in result.output
            waiting = re.search(r"^(\d+) audit entries of the backup are not linked yet and were not verified",
                                result.output, re.M)
            assert waiting is not None and int(waiting.group(1)) == 4, result.output

            # The sequencer reaches them; then everything verifies, the restore's own entry included.
            sequenced(target)
            with target.app_context():
                report = run_verification()
                db.session.rollback()
            assert report.ok and report.pending == 0, report.summary()
            assert report.entries_checked == len(audit_entries(target))
        finally:
            with target.app_context():
                db.session.remove()
                db.engine.dispose()
