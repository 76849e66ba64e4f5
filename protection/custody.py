"""Master key custody: the key as paper shares (SLIP-39), and the key rebuilt from them.

SLIP-39 (https://github.com/satoshilabs/slips/blob/master/slip-0039.md) splits a secret with
Shamir's scheme over GF(256) and writes each share as words of a fixed 1024-word list, with
an RS1024 checksum per share: a mistyped or swapped word is caught before anything is
combined, and every share names its set (a random 15-bit identifier in its first words), its
threshold and its index. With a threshold of 2 or more the shares also carry a digest of the
secret, so a wrong combination is refused instead of yielding another key.

* One group, M of N. SLIP-39 refuses 1-of-N for N > 1 (that is N copies of the key, not a
  sharing): 1-of-1 is allowed, for a single sealed copy.
* No passphrase. SLIP-39 would accept one, but it is one more secret to keep, held by
  memory rather than by the committee, and a wrong passphrase gives silently *another*
  key. The custody rule is "any M of these N people", and the shares alone enforce it.
* The key's fingerprint (keystore.key_id, an HMAC of the key: it reveals nothing of it) is
  printed on every share, and `combine` checks the rebuilt key against it — or against the
  master key id the database pins — before writing anything.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from shamir_mnemonic import MnemonicError, combine_mnemonics, generate_mnemonics
from shamir_mnemonic.share import Share

from .clock import utcnow
from .keystore import (
    KEY_BYTES,
    MASTER_KEY_FILE,
    RETIRED_MASTER_KEY_PREFIX,
    KeyConfigurationError,
    fsync_directory,
    key_id,
    read_key_file,
    write_key_file,
)

MAX_SHARES = 16  # SLIP-39: at most 16 members in a group
_REBUILT_SUFFIX = ".combined"


class CustodyError(Exception):
    """A one-line reason the key cannot be split or rebuilt (never a word of a share)."""


@dataclass(frozen=True)
class PaperShare:
    number: int
    of: int
    threshold: int
    fingerprint: str
    words: tuple[str, ...]


def split_key(raw: bytes, *, shares: int, threshold: int) -> list[PaperShare]:
    if not 1 <= threshold <= shares <= MAX_SHARES:
        raise CustodyError(f"need 1 <= threshold <= shares <= {MAX_SHARES} "
                           f"(got {threshold} of {shares})")
    if threshold == 1 and shares > 1:
        raise CustodyError("SLIP-39 refuses a threshold of 1 with several shares (each would be the whole "
                           "key): use a threshold of 2 or more, or --shares 1 --threshold 1")
    if len(raw) != KEY_BYTES:
        raise CustodyError(f"the master key must be {KEY_BYTES} bytes")
    (group,) = generate_mnemonics(1, [(threshold, shares)], raw)
    fingerprint = key_id(raw)
    return [PaperShare(number, shares, threshold, fingerprint, tuple(mnemonic.split()))
            for number, mnemonic in enumerate(group, start=1)]


_WORD = re.compile(r"[a-z]+")


def normalise_share(text: str) -> str:
    """A share as typed or copied: words in any case, with the numbers and punctuation of the
    printed sheet ("1. academic 2. acid ...") ignored."""
    return " ".join(_WORD.findall(text.lower()))


def describe_share(mnemonic: str, position: int) -> Share:
    """The share's own header (set identifier, threshold, index), checksum checked."""
    try:
        return Share.from_mnemonic(mnemonic)
    except MnemonicError as error:
        raise CustodyError(f"share {position} is not a valid SLIP-39 share "
                           f"(a mistyped or missing word?): {_reason(error)}") from None


def _reason(error: MnemonicError) -> str:
    # The library's messages name counts, checksums and identifiers, never a word of the
    # share; kept to their first sentence so the line stays one line.
    return str(error).split("\n")[0].rstrip(".")


def rebuild_key(mnemonics: list[str]) -> bytes:
    """The key from M or more shares of one set; CustodyError for too few, a bad word, or
    shares of different sets (another key, or another split of this one)."""
    if not mnemonics:
        raise CustodyError("no share was given")
    described = [describe_share(mnemonic, position) for position, mnemonic in enumerate(mnemonics, start=1)]
    first = described[0]
    if any(share.identifier != first.identifier for share in described):
        raise CustodyError("these shares belong to different sets (another key, or another split): "
                           "use shares printed by the same `keys split`")
    if first.group_count != 1:
        raise CustodyError("these shares were made with several groups, not by `keys split` (one group of M of N)")
    needed = first.member_threshold
    distinct = {share.index for share in described}
    if len(distinct) < needed:
        raise CustodyError(f"{needed} different shares of this set are needed, {len(distinct)} were given")
    try:
        raw = combine_mnemonics(mnemonics)
    except MnemonicError as error:
        raise CustodyError(f"the shares do not combine: {_reason(error)}") from None
    if len(raw) != KEY_BYTES:
        raise CustodyError(f"the shares hold a secret of {len(raw)} bytes, not a {KEY_BYTES}-byte Hoso master key")
    return raw


@dataclass(frozen=True)
class Written:
    path: Path
    retired: Path | None
    unchanged: bool = False


def write_master_key(keys_dir: Path, raw: bytes, *, force: bool) -> Written:
    """Write the key where `init` would (keys/master.key, 0600, keys/ 0700). An existing file
    is replaced only with `force`, and then kept as master.key.old-<UTC time> as
    `keys rotate-master` keeps a retired key."""
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = keys_dir / MASTER_KEY_FILE
    if path.exists():
        try:
            current = read_key_file(path, KeyConfigurationError)
        except KeyConfigurationError:
            current = None
        if current == raw:
            return Written(path, None, unchanged=True)
        if not force:
            raise CustodyError(f"{path} already exists: move it away, or pass --force to keep it as "
                               f"{RETIRED_MASTER_KEY_PREFIX}<time> and write the rebuilt key")
    staged = keys_dir / (MASTER_KEY_FILE + _REBUILT_SUFFIX)
    staged.unlink(missing_ok=True)  # left by an interrupted run: it is rewritten whole
    write_key_file(staged, raw)
    retired = None
    if path.exists():
        retired = keys_dir / f"{RETIRED_MASTER_KEY_PREFIX}{utcnow():%Y%m%dT%H%M%SZ}"
        try:
            os.link(path, retired)  # the same inode: same bytes, same mode
        except OSError:
            shutil.copy2(path, retired)
            os.chmod(retired, 0o600)
    os.replace(staged, path)
    fsync_directory(keys_dir)
    return Written(path, retired)
