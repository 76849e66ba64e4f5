"""The audit trail inside a backup file, verified by `backup verify` (protection/backup/verify.py
asks for this check through hooks.BACKUP_CHECKS: the kernel never imports audit).

The same walk as `audit verify` (verify.verify: every entry's hash, every link, every signed
checkpoint against this instance's audit public key, the chain head), fed from the backup's
rows instead of the database. The backup holds entries and links as two tables, each in its
own key order, so the entries are kept by id until the links arrive: memory grows with the
trail (about 0.5 kB an entry), which a provincial installation's years of audit fit in.
Entries with no link are those the PostgreSQL sequencer had not linked yet when the backup
was taken (after the head's sequenced position: pending, as `audit verify` reports them), or,
at or before that position, unlinked: a problem (on SQLite every entry is at or before it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from protection.backup.verify import BackupCheck

from . import signing
from .chain import GENESIS_HASH, SORTED_FIELDS, timestamp_text
from .trail import keys_dir
from .verify import verify

_ENTRY_FIELDS = SORTED_FIELDS


class TrailCheck:
    tables = frozenset({"audit_entries", "audit_links", "audit_chain_head", "audit_checkpoints"})

    def __init__(self) -> None:
        self._entries: dict[int, tuple] = {}
        self._order: dict[int, tuple] = {}  # entry id -> (generation, xact_id, id)
        self._links: list[tuple[int, int, str, str]] = []
        self._checkpoints: list[signing.CheckpointLine] = []
        self._head: dict[str, Any] | None = None
        # Read now, while the app context is there: the key `audit verify` uses.
        self._public_key = signing.load_public_key(keys_dir())

    def feed(self, table: str, row: dict[str, Any]) -> None:
        if table == "audit_entries":
            self._entries[row["id"]] = tuple(row[name] for name in _ENTRY_FIELDS)
            self._order[row["id"]] = (row["generation"], row["xact_id"], row["id"])
        elif table == "audit_links":
            self._links.append((row["seq"], row["entry_id"], row["prev_hash"], row["entry_hash"]))
        elif table == "audit_checkpoints":
            signed_at = row["signed_at"]
            if isinstance(signed_at, datetime) and signed_at.tzinfo is None:
                signed_at = signed_at.replace(tzinfo=UTC)
            self._checkpoints.append(signing.CheckpointLine(
                row["seq"], row["entry_hash"], timestamp_text(signed_at), row["key_id"], row["signature"]))
        elif table == "audit_chain_head":
            self._head = row

    def finish(self) -> BackupCheck:
        self._links.sort()
        head = self._head or {}
        head_seq = head.get("seq", 0)
        seq_of_hash = {entry_hash: seq for seq, _entry, _prev, entry_hash in self._links}
        empty = (None,) * len(_ENTRY_FIELDS)

        def rows():
            for seq, entry_id, prev_hash, entry_hash in self._links:
                yield (seq, prev_hash, entry_hash, *self._entries.get(entry_id, empty))

        report = verify(rows(), checkpoints=self._checkpoints, public_key=self._public_key,
                        start_prev_hash=GENESIS_HASH, start_seq=1, head_seq=head_seq,
                        head_hash=head.get("entry_hash"), find_seq_of_hash=seq_of_hash.get)
        problem = note = None
        if report.problem is not None:
            problem = f"entry {report.problem.seq}: {report.problem.kind}"
        else:
            linked = {entry_id for _seq, entry_id, _prev, _hash in self._links}
            position = (head.get("sequenced_generation", 0), head.get("sequenced_xact", 0),
                        head.get("sequenced_entry", 0))
            unlinked = sorted(entry_id for entry_id in self._entries if entry_id not in linked
                              and self._order[entry_id] <= position)
            if unlinked:
                problem = f"entry {unlinked[0]}: unlinked"
            pending = len(self._entries) - len(linked)
            if pending > 0:
                # Their hashes do not exist yet: the sequencer computes them after a restore.
                note = f"{pending} of them not chained yet by the audit sequencer: checked after a restore"
        return BackupCheck("audit trail", "audit_entries", len(self._entries), problem, note)
