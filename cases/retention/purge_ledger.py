"""The purge ledger: a hash chain of signed lines, kept outside the database.

A purge destroys a case's data key in the live database, but a backup taken before it
still holds that key. The ledger (``instance/purge-ledger.jsonl``) survives a restore of
the database and lists every purge, so a restored instance can shred those cases again
(cases/retention.py, ``replay_purge_ledger``).

Each line (format 2) is one purge::

    {"v": 2, "n": 7, "prev": "<sha256 of line 6>", "case": ..., "reference": ...,
     "purged_at": ..., "approver": ..., "key": "<key id>", "sig": "<Ed25519, base64url>"}

The signature covers everything but itself, the line's position ``n`` and the hash of the
line before it (64 zeros for line 1) included. So a line cannot be removed, reordered or
moved to another ledger without breaking the chain after it, and the ledger's *head* —
(position, hash) of its last line — names one exact history. A ledger cut short at its end
still verifies on its own: that is why the head is also kept where a restore can compare
it — in the database (``purge_ledger_heads``, which every backup carries) and in every
backup's header — and a ledger that does not extend the head recorded there is refused.

The format-1 ledger of earlier versions signed each line alone; a deleted line went
unnoticed. It is not read any more: ``flask --app app retention upgrade-ledger``
verifies its signatures and rewrites it as a chain (keeping the old file), see
``upgrade_v1``. Lines deleted before the upgrade cannot be detected by anything; the
database's own purged cases are appended again by ``sync_ledger``.

The signing key (purge-ledger.key / .pub in instance/keys/) is made by ``init``, so that
key backups taken at install time already hold it.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import current_app
from sqlalchemy import Integer, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from audit import signing
from audit.trail import keys_dir
from protection.clock import UTCDateTime, utcnow
from protection.db import db

LEDGER_NAME = "purge-ledger.jsonl"
PRIVATE_NAME = "purge-ledger.key"
PUBLIC_NAME = "purge-ledger.pub"
FORMAT = 2
GENESIS = "0" * 64
SIGNED_FIELDS = ("v", "n", "prev", "case", "reference", "purged_at", "approver", "key")


class LedgerTampered(RuntimeError):
    """The purge ledger does not verify, or is not the one expected: refused as a whole.
    The message is one line and names positions and files, never a protected value."""


class LedgerOutdated(LedgerTampered):
    """A format-1 ledger (each line signed alone): upgrade it first."""


@dataclass(frozen=True)
class LedgerHead:
    position: int
    line_hash: str

    def as_record(self) -> dict:
        return {"position": self.position, "hash": self.line_hash}

    @classmethod
    def from_record(cls, record) -> LedgerHead:
        try:
            position, line_hash = int(record["position"]), str(record["hash"])
        except (TypeError, KeyError, ValueError):
            raise LedgerTampered("the purge-ledger head recorded in the backup is malformed") from None
        return cls(position, line_hash)


EMPTY = LedgerHead(0, GENESIS)


class PurgeLedgerHead(db.Model):
    """The heads this instance's ledger has reached, one row per append (the newest is the
    highest position). Rows only: never updated, so concurrent appenders cannot lose one,
    and a backup carries them like any other table."""

    __tablename__ = "purge_ledger_heads"

    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    line_hash: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- files and keys --------------------------------------------------------------------------

def ledger_path() -> Path:
    return Path(current_app.instance_path) / LEDGER_NAME


def ensure_key():
    return signing.ensure_signing_key(keys_dir(), PRIVATE_NAME, PUBLIC_NAME)


def ensure_ledger() -> bool:
    """The key and the (empty) ledger file, made if missing; True if anything was made.
    An empty file is a ledger saying "no purge yet": kept beside backups from the start, it
    lets a restore tell "no purge ever" from "the ledger was forgotten"."""
    made = not (keys_dir() / PRIVATE_NAME).exists()
    ensure_key()
    path = ledger_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        made = True
    return made


def _public_key() -> Ed25519PublicKey | None:
    return signing.load_public_key(keys_dir(), PRIVATE_NAME, PUBLIC_NAME)


def line_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _content(entry: dict) -> bytes:
    body = {name: entry[name] for name in SIGNED_FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def make_line(key, head: LedgerHead, *, case_id: uuid.UUID, reference: str, purged_at: datetime,
              approver_id: uuid.UUID | None) -> str:
    entry = {"v": FORMAT, "n": head.position + 1, "prev": head.line_hash, "case": str(case_id),
             "reference": reference, "purged_at": purged_at.astimezone(UTC).isoformat(timespec="microseconds"),
             "approver": str(approver_id) if approver_id else None,
             "key": signing.key_id(key.public_key())}
    entry["sig"] = base64.urlsafe_b64encode(key.sign(_content(entry))).decode("ascii")
    return json.dumps(entry, sort_keys=True, separators=(",", ":"))


# --- reading and verifying -------------------------------------------------------------------

@dataclass
class Ledger:
    entries: list[dict]
    head: LedgerHead
    hashes: list[str]  # hashes[i] is the hash of line i + 1

    def extends(self, recorded: LedgerHead) -> bool:
        if recorded.position == 0:
            return True
        return (recorded.position <= len(self.hashes)
                and self.hashes[recorded.position - 1] == recorded.line_hash)


def parse(text: str, name: str, public_key: Ed25519PublicKey | None) -> Ledger:
    """Verify every line: its shape, format, key, signature, position and link to the line
    before. The first failure refuses the whole ledger."""
    entries: list[dict] = []
    hashes: list[str] = []
    head = EMPTY
    lines = [line for line in text.splitlines() if line.strip()]
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
            version = entry.get("v")
        except (ValueError, AttributeError):
            raise LedgerTampered(f"purge ledger {name}: line {number} is not a ledger entry") from None
        if version == 1:
            raise LedgerOutdated(f"purge ledger {name} is in the old format (each line signed alone): run "
                                 "`flask --app app retention upgrade-ledger` to chain it first")
        try:
            if version != FORMAT:
                raise ValueError
            uuid.UUID(entry["case"])
            content = _content(entry)
            signature = base64.urlsafe_b64decode(entry["sig"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise LedgerTampered(f"purge ledger {name}: line {number} is not a ledger entry") from None
        if public_key is None:
            raise LedgerTampered(f"purge ledger {name}: its public key {PUBLIC_NAME} is missing from {keys_dir()}")
        held = signing.key_id(public_key)
        if entry["key"] != held:
            raise LedgerTampered(f"purge ledger {name}: line {number} was signed by another key "
                                 f"({entry['key']}; this instance holds {held})")
        try:
            public_key.verify(signature, content)
        except InvalidSignature:
            raise LedgerTampered(f"purge ledger {name}: line {number} has a bad signature (tampered)") from None
        if entry["n"] != number or entry["prev"] != head.line_hash:
            raise LedgerTampered(f"purge ledger {name}: line {number} does not follow line {number - 1} "
                                 "(a line was removed, moved or inserted)")
        head = LedgerHead(number, line_hash(line))
        entries.append(entry)
        hashes.append(head.line_hash)
    return Ledger(entries, head, hashes)


def refuse_unless_extends(ledger: Ledger, recorded: LedgerHead, name: str, whose: str) -> None:
    if ledger.extends(recorded):
        return
    if recorded.position > len(ledger.hashes):
        raise LedgerTampered(f"purge ledger {name} has {len(ledger.hashes)} line(s), but {whose} had reached "
                             f"line {recorded.position}: it is an old or shortened copy")
    raise LedgerTampered(f"purge ledger {name}: line {recorded.position} is not the one {whose} recorded: "
                         "it is another ledger")


def instance_head(session: Session | None = None) -> LedgerHead:
    """The newest head this database has recorded (EMPTY before the first purge)."""
    session = session or db.session
    row = session.execute(select(PurgeLedgerHead.position, PurgeLedgerHead.line_hash)
                          .order_by(PurgeLedgerHead.position.desc()).limit(1)).first()
    return LedgerHead(row.position, row.line_hash) if row else EMPTY


def record_head(head: LedgerHead, session: Session | None = None) -> None:
    """Remember a head reached (only forwards); the caller commits."""
    session = session or db.session
    highest = session.scalar(select(func.max(PurgeLedgerHead.position))) or 0
    if head.position > highest:
        session.add(PurgeLedgerHead(position=head.position, line_hash=head.line_hash))
        session.flush()


def read(path: Path | None = None, *, expect: LedgerHead | None = None, whose: str = "this instance") -> Ledger:
    """The verified ledger at `path` (the instance's by default; none there reads as
    empty), refused unless it extends `expect` (by default, the head this database
    recorded)."""
    path = path or ledger_path()
    text = path.read_text("utf-8") if path.exists() else ""
    ledger = parse(text, str(path), _public_key())
    refuse_unless_extends(ledger, instance_head() if expect is None else expect, str(path), whose)
    return ledger


# --- appending -------------------------------------------------------------------------------

@contextmanager
def _locked_ledger(path: Path) -> Iterator[int]:
    """The ledger open for appending under an exclusive lock: two workers purging at once
    take turns, so each links its line to the line actually before it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # releases the lock


def _read_fd(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    parts = []
    while chunk := os.read(fd, 1 << 16):
        parts.append(chunk)
    return b"".join(parts).decode("utf-8")


def append(purges: list[tuple[uuid.UUID, str, datetime, uuid.UUID | None]]) -> LedgerHead:
    """Append one chained line per (case id, reference, purged_at, approver) and fsync,
    then record the new head in the database in a short transaction of its own (the
    purges it follows are already committed: see cases/retention.py for the order)."""
    path = ledger_path()
    key = ensure_key()
    with _locked_ledger(path) as fd:
        ledger = parse(_read_fd(fd), str(path), key.public_key())
        refuse_unless_extends(ledger, instance_head(), str(path), "this instance")
        head = ledger.head
        lines = []
        # Under the lock, so that sync_ledger racing a purge's own append cannot list it twice.
        listed = {entry["case"] for entry in ledger.entries}
        for case_id, reference, purged_at, approver_id in purges:
            if str(case_id) in listed:
                continue
            listed.add(str(case_id))
            line = make_line(key, head, case_id=case_id, reference=reference, purged_at=purged_at,
                             approver_id=approver_id)
            lines.append(line + "\n")
            head = LedgerHead(head.position + 1, line_hash(line))
        if lines:
            os.write(fd, "".join(lines).encode("utf-8"))  # one write of whole lines
            os.fsync(fd)
    record_head(head)
    db.session.commit()
    return head


def adopt(source: Path) -> Ledger:
    """Make a verified copy of `source` the instance's ledger, if it extends the head the
    database recorded and the instance's own ledger (never a step back). An instance
    ledger that no longer verifies (cut short, tampered) is what this repairs: then the
    database's head is the only reference."""
    ledger = read(source, expect=instance_head())
    path = ledger_path()
    try:
        current = parse(path.read_text("utf-8"), str(path), _public_key()) if path.exists() else None
    except LedgerTampered:
        current = None
    if current is not None:
        refuse_unless_extends(ledger, current.head, str(source), "this instance's ledger")
    draft = path.with_name(path.name + ".adopting")
    draft.write_bytes(source.read_bytes())
    os.chmod(draft, 0o600)
    os.replace(draft, path)
    return ledger


# --- format 1 --------------------------------------------------------------------------------

def _v1_content(entry: dict) -> bytes:
    body = {name: entry[name] for name in ("v", "case", "reference", "purged_at", "approver")}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def upgrade_v1() -> tuple[int, Path | None]:
    """Rewrite a format-1 ledger as a chain, after checking every old signature; the old
    file is kept beside it. Returns (lines, the old file's new name), (n, None) if the
    ledger is already chained."""
    path = ledger_path()
    if not path.exists():
        return 0, None
    key = ensure_key()
    public_key = key.public_key()
    with _locked_ledger(path) as fd:
        text = _read_fd(fd)
        lines = [line for line in text.splitlines() if line.strip()]
        try:
            old = [json.loads(line) for line in lines]
        except ValueError:
            raise LedgerTampered(f"purge ledger {path}: a line is not a ledger entry") from None
        if all(isinstance(entry, dict) and entry.get("v") == FORMAT for entry in old):
            return len(parse(text, str(path), public_key).entries), None
        purges = []
        for number, entry in enumerate(old, start=1):
            try:
                if entry["v"] != 1 or entry["key"] != signing.key_id(public_key):
                    raise ValueError
                public_key.verify(base64.urlsafe_b64decode(entry["sig"]), _v1_content(entry))
                purges.append((uuid.UUID(entry["case"]), entry["reference"],
                               datetime.fromisoformat(entry["purged_at"]),
                               uuid.UUID(entry["approver"]) if entry.get("approver") else None))
            except (ValueError, KeyError, TypeError, AttributeError, InvalidSignature):
                raise LedgerTampered(f"purge ledger {path}: line {number} is not a verifiable format-1 entry: "
                                     "not upgraded") from None
        head, chained = EMPTY, []
        for case_id, reference, purged_at, approver_id in purges:
            line = make_line(key, head, case_id=case_id, reference=reference, purged_at=purged_at,
                             approver_id=approver_id)
            chained.append(line + "\n")
            head = LedgerHead(head.position + 1, line_hash(line))
        kept = path.with_name(f"{path.name}.v1-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
        os.link(path, kept)
        draft = path.with_name(path.name + ".upgrading")
        fd_new = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd_new, "".join(chained).encode("utf-8"))
            os.fsync(fd_new)
        finally:
            os.close(fd_new)
        os.replace(draft, path)
    record_head(head)
    db.session.commit()
    return len(chained), kept
