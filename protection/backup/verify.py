"""The restore drill: prove a backup file complete and restorable without touching any database.

`flask --app app backup verify FILE` reads the file twice, as `backup restore` does, and
connects to nothing:

1. ``snapshot.check_file``: every chunk authenticated under this instance's backup key
   (another instance's file, a flipped byte, a cut or over-long file are refused there), the
   content's shape, its schema revision this code's, every row the width of its table, the
   row counts equal to the end marker's;
2. the keys: the backup's pinned master and index keys are the ones this instance holds,
   and every data key in it unwraps under a master key this instance holds (what makes its
   sealed values readable after a restore);
3. every foreign key of every row points at a row the backup holds (a restore into
   PostgreSQL or SQLite with foreign keys on would refuse it otherwise);
4. the checks the layers above plug in through ``hooks.BACKUP_CHECKS``: the audit layer
   recomputes the backup's audit chain, links and signed checkpoints
   (audit/backup_check.py), as `audit verify` does on a live trail.

The outcome is written to ``<instance>/backup-verify.json`` (for `flask doctor` and the
backup timer), on failure too. Nothing is recorded in the audit trail: that would need
the database this drill must not depend on; the JSON file is its record.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from flask import current_app

from .. import hooks
from ..clock import utcnow
from ..crypto import current_keyring
from ..keystore import CryptoError, KeyConfigurationError
from . import snapshot
from .format import BackupError

RESULT_FILE = "backup-verify.json"


@dataclass(frozen=True)
class BackupCheck:
    """What a plugged-in check found: `count` things of kind `counted` checked, and the
    first problem (one line, identifiers only) or None."""

    label: str
    counted: str
    count: int
    problem: str | None = None
    note: str | None = None  # printed after the count (e.g. entries not chained yet)


class BackupChecker(Protocol):
    tables: frozenset[str]

    def feed(self, table: str, row: dict[str, Any]) -> None: ...

    def finish(self) -> BackupCheck: ...


@dataclass
class Drill:
    file: str
    ok: bool = False
    problem: str | None = None
    revision: str | None = None
    tables: int = 0  # tables the backup describes (the schema's, empty ones included)
    counts: dict[str, int] = field(default_factory=dict)  # rows of each table that has any
    data_keys: int = 0
    foreign_keys: int = 0
    checks: list[BackupCheck] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def record(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "file": self.file,
            "verified_at": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ok": self.ok,
            "tables": self.tables,
            "rows": self.rows,
            "audit_entries": 0,
        }
        for check in self.checks:
            document[check.counted] = check.count
        document["problem"] = self.problem
        return document


class _ForeignKeys:
    """Every foreign key value of a row must be a key of a row already read: tables come
    parents first (snapshot.dump writes them in dependency order, and a table's own parents
    before its children), so each parent's keys are complete when a child arrives."""

    def __init__(self, tables):
        self.outgoing: dict[str, list[tuple[list[str], str, tuple[str, ...]]]] = defaultdict(list)
        self.referenced: dict[str, set[tuple[str, ...]]] = defaultdict(set)
        for table in tables:
            for constraint in table.foreign_key_constraints:
                target = constraint.referred_table.name
                parent_columns = tuple(element.column.name for element in constraint.elements)
                self.outgoing[table.name].append(
                    ([column.name for column in constraint.columns], target, parent_columns))
                self.referenced[target].add(parent_columns)
        self.keys: dict[tuple[str, tuple[str, ...]], set] = defaultdict(set)
        self.checked = 0

    def feed(self, table: str, row: dict[str, Any]) -> str | None:
        for parent_columns in self.referenced.get(table, ()):
            self.keys[(table, parent_columns)].add(tuple(row[name] for name in parent_columns))
        for child_columns, target, parent_columns in self.outgoing.get(table, ()):
            value = tuple(row[name] for name in child_columns)
            if any(item is None for item in value):
                continue
            self.checked += 1
            if value not in self.keys[(target, parent_columns)]:
                key = row.get("id", "?")
                return (f"a row of {table} (id {key}) refers to a row of {target} that the backup "
                        f"does not hold ({', '.join(child_columns)})")
        return None


def verify_backup(source: Callable[[], BinaryIO], raw_key: bytes, name: str,
                  on_total: Callable[[int], None] | None = None,
                  progress: Callable[[int], None] | None = None) -> Drill:
    """Run the drill; a problem is reported in the Drill (ok False), never raised."""
    drill = Drill(file=name)
    try:
        content = snapshot.check_file(source, raw_key, name)
        drill.revision = content.revision
        drill.counts = dict(content.counts)
        drill.tables = len(snapshot.tables())  # check_file refuses a file that describes others
        keyring = current_keyring()
        # The keys this instance holds must be the backup's (as `backup restore` checks).
        keyring.check_pins(content.pins)
        _second_pass(source, raw_key, name, drill, keyring, on_total, progress)
    except (BackupError, KeyConfigurationError) as error:
        drill.problem = str(error)
    except CryptoError as error:  # a data key that does not unwrap: names its row, never a value
        drill.problem = f"{name}: {error}"
    except OSError as error:
        drill.problem = f"cannot read {name}: {error.strerror}"
    if drill.problem is None:
        failed = next((check for check in drill.checks if check.problem), None)
        if failed is not None:
            drill.problem = f"{name}: the {failed.label} does not verify: {failed.problem}"
    drill.ok = drill.problem is None
    return drill


def _second_pass(source, raw_key: bytes, name: str, drill: Drill, keyring,
                 on_total, progress) -> None:
    tables = {table.name: table for table in snapshot.tables()}
    decoders = {table_name: [snapshot._decoder(column) for column in table.columns]
                for table_name, table in tables.items()}
    columns = {table_name: [column.name for column in table.columns] for table_name, table in tables.items()}
    checkers: list[BackupChecker] = [make() for make in hooks.every(current_app._get_current_object(),
                                                                   hooks.BACKUP_CHECKS)]
    wanted: dict[str, list[BackupChecker]] = defaultdict(list)
    for checker in checkers:
        for table_name in checker.tables:
            wanted[table_name].append(checker)
    foreign_keys = _ForeignKeys(tables.values())
    if on_total is not None:
        on_total(drill.rows)
    for record in snapshot._records(source, raw_key, name):
        table_name = record.get("t")
        if table_name is None:
            continue
        row = {column: decode(value) for column, decode, value
               in zip(columns[table_name], decoders[table_name], record["r"], strict=True)}
        if table_name == "data_keys":
            keyring.unwrap(_uuid(row["id"]), row["wrapped_key"], row["master_key_id"])
            drill.data_keys += 1
        problem = foreign_keys.feed(table_name, row)
        if problem is not None:
            raise BackupError(f"{name} cannot be restored: {problem}")
        for checker in wanted.get(table_name, ()):
            checker.feed(table_name, row)
        if progress is not None:
            progress(1)
    drill.foreign_keys = foreign_keys.checked
    drill.checks = [checker.finish() for checker in checkers]


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def write_result(instance_path: Path, drill: Drill) -> Path:
    """`<instance>/backup-verify.json`, replaced whole (never half-written)."""
    instance_path.mkdir(parents=True, exist_ok=True)
    path = instance_path / RESULT_FILE
    staged = path.with_name(path.name + ".partial")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(drill.record(), out, ensure_ascii=False, indent=2)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(staged, path)
    return path
