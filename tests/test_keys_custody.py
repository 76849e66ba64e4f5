"""`keys split` prints the master key as SLIP-39 paper shares; `keys combine` rebuilds it from
any M of them (a file, or typed at its prompts) into keys/master.key, and refuses too few
shares, a mistyped word, shares of another key and an existing key file without --force,
writing nothing. Through Flask's CLI runner, on the real database."""

from __future__ import annotations

import base64
import json
import re
import stat
from pathlib import Path

import click
import pytest
from click.testing import Result
from shamir_mnemonic import generate_mnemonics

from app import create_app
from protection.crypto import current_keyring
from protection.db import db
from protection.keystore import encode_key, key_id, new_key
from tests.conftest import TEST_MASTER_KEY, audit_entries

MASTER = base64.b64decode(TEST_MASTER_KEY)
FINGERPRINT = key_id(MASTER)


def run(app, *args: str, input: str | None = None) -> Result:
    result = app.test_cli_runner().invoke(args=list(args), input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        pytest.fail(f"{args} crashed: {type(result.exception).__name__}: {result.exception}\n{result.output}")
    assert "Traceback" not in result.output
    return result


def refusal(result: Result) -> str:
    assert result.exit_code != 0, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


def printed_shares(output: str) -> dict[int, str]:
    """Share number -> its words, read back from the printed sheets."""
    shares: dict[int, list[str]] = {}
    current = None
    for line in output.splitlines():
        header = re.match(r"=== Hoso master key: share (\d+) of (\d+) \(Phần \1/\2\) ===", line)
        if header:
            current = int(header.group(1))
            shares[current] = []
        elif current is not None and re.match(r"\s+\d+\. ", line):
            shares[current] += re.findall(r"\d+\. (\w+)", line)
    return {number: " ".join(words) for number, words in shares.items()}


def pin_master(app) -> None:
    """The database pins the test master key (as `init` or the first data key does)."""
    with app.app_context():
        current_keyring().pins(db.session)
        db.session.commit()


def keys_dir(app) -> Path:
    return Path(app.instance_path) / "keys"


def test_split_then_combine_any_three_of_five(app, tmp_path):
    pin_master(app)
    split = run(app, "keys", "split", "--shares", "5", "--threshold", "3", input="y\n")
    assert split.exit_code == 0, split.output
    shares = printed_shares(split.output)
    assert sorted(shares) == [1, 2, 3, 4, 5]
    assert all(len(words.split()) == 33 for words in shares.values())  # SLIP-39, 256-bit secret
    assert split.output.count(f"Key fingerprint (mã nhận dạng khóa): {FINGERPRINT}") == 5
    assert TEST_MASTER_KEY not in split.output

    (entry,) = audit_entries(app, "keys.split")
    assert entry.outcome == "success"
    assert '"shares":5' in entry.detail and '"threshold":3' in entry.detail and FINGERPRINT in entry.detail
    # Only counts and the fingerprint: no field could hold a word (SLIP-39's list has "true",
    # "false", "replace" and "finger", so a search for words in the text would find them).
    assert json.loads(entry.detail) == {"master_key": FINGERPRINT, "shares": 5, "threshold": 3}, entry.detail

    target = keys_dir(app) / "master.key"
    for chosen in [(1, 2, 3), (5, 3, 1), (2, 4, 5)]:
        sheet = tmp_path / f"shares-{'-'.join(map(str, chosen))}.txt"
        # As copied from paper: numbered words, any case, a comment line.
        sheet.write_text("# shares for the recovery drill\n" + "\n".join(
            " ".join(f"{n}. {word.upper() if n % 2 else word}" for n, word in enumerate(shares[i].split(), 1))
            for i in chosen) + "\n", encoding="utf-8")
        target.unlink(missing_ok=True)
        combined = run(app, "keys", "combine", str(sheet))
        assert combined.exit_code == 0, combined.output
        assert target.read_bytes() == encode_key(MASTER).encode("ascii")
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert stat.S_IMODE(keys_dir(app).stat().st_mode) == 0o700
        assert "matches the database's pin" in combined.output
    # The same key again: nothing to replace, nothing retired.
    again = run(app, "keys", "combine", str(sheet), "--force")
    assert "already holds key " + FINGERPRINT in again.output
    assert not list(keys_dir(app).glob("master.key.old-*"))

    target.unlink()
    typed = run(app, "keys", "combine", input=f"{shares[4]}\n{shares[2]}\n{shares[5]}\n")
    assert typed.exit_code == 0, typed.output
    assert "Share 2 of 3" in typed.output
    assert target.read_bytes() == encode_key(MASTER).encode("ascii")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600

    combines = audit_entries(app, "keys.combine")
    assert len(combines) == 5
    for entry in combines:
        detail = json.loads(entry.detail)
        assert detail["master_key"] == FINGERPRINT and set(detail) <= {"master_key", "written", "replaced"}, detail
        assert all(isinstance(value, bool) for name, value in detail.items() if name != "master_key"), detail


def test_combine_refusals_write_nothing(app, tmp_path):
    pin_master(app)
    (shares,) = generate_mnemonics(1, [(3, 5)], MASTER)
    (others,) = generate_mnemonics(1, [(3, 5)], MASTER)  # another split of the same key
    (foreign,) = generate_mnemonics(1, [(2, 3)], new_key())
    target = keys_dir(app) / "master.key"

    def attempt(lines: list[str], *options: str) -> str:
        sheet = tmp_path / "sheet.txt"
        sheet.write_text("\n".join(lines) + "\n", encoding="utf-8")
        line = refusal(run(app, "keys", "combine", str(sheet), *options))
        assert not target.exists()
        assert not keys_dir(app).exists() or not list(keys_dir(app).glob("master.key*"))
        return line

    assert "3 different shares of this set are needed, 2 were given" in attempt(shares[:2])
    assert "3 different shares" in attempt([shares[0], shares[0], shares[1]])
    words = shares[1].split()
    words[7] = "academic" if words[7] != "academic" else "acid"
    assert "share 2 is not a valid SLIP-39 share" in attempt([shares[0], " ".join(words), shares[2]])
    assert "share 3 is not a valid" in attempt([shares[0], shares[1], " ".join(shares[2].split()[:-1])])
    assert "different sets" in attempt([shares[0], shares[1], others[2]])
    # Another key altogether: its own set combines, and the pin refuses it.
    line = attempt(foreign[:2])
    assert "nothing was written" in line and "is protected by key " + FINGERPRINT in line
    assert "not 0123456789abcdef" in attempt(shares[:3], "--fingerprint", "0123456789abcdef")
    # At the prompt: a mistyped share stops at once.
    typed = refusal(run(app, "keys", "combine", input=f"{shares[0]}\nacademic acid acne\n"))
    assert "share 2 is not a valid SLIP-39 share" in typed
    assert not target.exists()

    # An existing key file: refused without --force, before any share is read.
    keys_dir(app).mkdir(mode=0o700, parents=True, exist_ok=True)
    other = new_key()
    target.write_text(encode_key(other), encoding="ascii")
    target.chmod(0o600)
    assert "already exists" in refusal(run(app, "keys", "combine", input=f"{shares[0]}\n"))
    assert target.read_bytes() == encode_key(other).encode("ascii")
    # With --force the old one is kept as master.key.old-<time>, byte for byte.
    sheet = tmp_path / "good.txt"
    sheet.write_text("\n".join(shares[2:5]) + "\n", encoding="utf-8")
    forced = run(app, "keys", "combine", str(sheet), "--force")
    assert forced.exit_code == 0, forced.output
    (retired,) = keys_dir(app).glob("master.key.old-*")
    assert retired.read_bytes() == encode_key(other).encode("ascii")
    assert target.read_bytes() == encode_key(MASTER).encode("ascii")
    assert len(audit_entries(app, "keys.combine")) == 1


def test_split_bounds_and_refusals(app):
    pin_master(app)
    for shares, threshold, reason in [("3", "1", "threshold of 1"), ("3", "4", "cannot exceed"),
                                      ("17", "3", "17 is not in the range")]:
        result = run(app, "keys", "split", "--shares", shares, "--threshold", threshold, "--yes")
        assert result.exit_code != 0 and reason in result.output, result.output
        assert "===" not in result.output
    declined = run(app, "keys", "split", "--shares", "3", "--threshold", "2", input="n\n")
    assert "nothing was printed" in refusal(declined) and "===" not in declined.output
    assert audit_entries(app, "keys.split") == []
    single = run(app, "keys", "split", "--shares", "1", "--threshold", "1", "--yes")
    assert single.exit_code == 0 and list(printed_shares(single.output)) == [1]


def test_combine_before_the_database_exists(app_config, tmp_path):
    """A new server: no database yet (a SQLite file that does not exist, and is not created),
    no key: the fingerprint is asked for, checked, and the key written, unaudited."""
    absent = tmp_path / "not-yet" / "hoso.db"
    config = {name: value for name, value in app_config.items() if name not in ("HOSO_MASTER_KEY", "HOSO_INDEX_KEY")}
    with click.Context(click.Command("combine")):  # as the CLI loads it: no key yet is no crash
        fresh = create_app({**config, "HOSO_DATABASE_URL": f"sqlite:///{absent}",
                            "HOSO_INSTANCE_PATH": str(tmp_path / "new-server")})
    (shares,) = generate_mnemonics(1, [(2, 3)], MASTER)
    wrong = run(fresh, "keys", "combine", input=f"{shares[0]}\n{shares[2]}\n0123456789abcdef\n")
    assert "not 0123456789abcdef" in refusal(wrong)
    assert not (keys_dir(fresh) / "master.key").exists()
    result = run(fresh, "keys", "combine", input=f"{shares[0]}\n{shares[2]}\n{FINGERPRINT}\n")
    assert result.exit_code == 0, result.output
    assert "not in the audit trail" in result.output
    assert (keys_dir(fresh) / "master.key").read_bytes() == encode_key(MASTER).encode("ascii")
    assert not absent.parent.exists()
