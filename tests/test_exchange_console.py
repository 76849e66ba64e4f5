"""`hoso-exchange` (issue 21 §B.2), the partner body's side, driven as the body runs it: the
real console script in a subprocess, with no app and no database. The organisation's side is
played by protection.exchange.format with a key made here.

Each refusal: exit status 1, exactly one line on stderr, no traceback, no protected value,
and nothing written (no output folder or file, no temporary folder left, no pin)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import protection.exchange.console
from protection.exchange import format as fmt
from protection.exchange import keys
from protection.exchange.format import Package, PackageFile

ROOT = Path(__file__).resolve().parent.parent
SECRET_QUESTION = "Xác minh quan hệ của ông Trần Văn Kín với doanh nghiệp X"
SECRET_NAME = "Trần Văn Kín"
SECRET_FILE = b"%PDF-1.4 bien ban xac minh " * 20
SECRETS = (SECRET_QUESTION, SECRET_NAME, "bien ban xac minh", "Đảng viên sinh hoạt")


def _resolves_here(command_env: dict) -> bool:
    """Whether the venv's own `import protection` (what its console script does) finds
    this checkout rather than another copy installed in the venv."""
    found = subprocess.run([sys.executable, "-c", "import protection.exchange.console as c; print(c.__file__)"],
                           capture_output=True, text=True, env=command_env, cwd="/", check=True)
    return Path(found.stdout.strip()).resolve() == Path(protection.exchange.console.__file__).resolve()


@pytest.fixture(scope="module")
def command() -> tuple[list[str], dict]:
    """The installed `hoso-exchange` script beside this interpreter (in CI: a fresh venv with
    the project installed). Where that venv's install is another checkout (an editable
    install of the main tree, seen from a worktree), the same script with this checkout
    first on PYTHONPATH; without a script, `python -m protection.exchange.console`."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    script = Path(sys.executable).with_name("hoso-exchange")
    if not _resolves_here(env):
        env["PYTHONPATH"] = str(ROOT)
        assert _resolves_here(env)
    if script.exists():
        return [str(script)], env
    return [sys.executable, "-m", "protection.exchange.console"], env


@pytest.fixture
def run(command, tmp_path):
    base, env = command
    home = tmp_path / "home"

    def run(*args: str, home: Path = home) -> subprocess.CompletedProcess:
        return subprocess.run([*base, *args], capture_output=True, text=True, cwd=tmp_path, timeout=60,  # noqa: S603 - our own script
                              env={**env, "HOSO_EXCHANGE_HOME": str(home)})

    run.home = home
    return run


def refused(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for secret in SECRETS:
        assert secret not in result.stderr and secret not in result.stdout
    return lines[0]


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    assert result.stderr == ""
    return result.stdout


@pytest.fixture(scope="module")
def org():
    return keys.generate()


@pytest.fixture
def body(run) -> keys.PublicKey:
    output = ok(run("keygen"))
    line = next(line for line in output.splitlines() if "hoso-exchange-1:" in line)
    return keys.parse_public(line[line.index("hoso-exchange-1:"):])


def body_private(run) -> keys.PrivateKey:
    return keys.load_private(run.home / "private-key.json")


REQUEST_CONTENT = {
    "reference": "PP-2026-0042", "classification": "secret", "questions": SECRET_QUESTION,
    "body": {"code": "CA", "name": "Công an tỉnh"}, "sent_on": "2026-12-01", "due_on": "2026-12-20",
    "subject_fields": [{"field": "full_name", "label": "Họ tên", "value": SECRET_NAME},
                       {"field": "birth_year", "label": "Năm sinh", "value": "1968"}],
    "relatives": [{"label": "Vợ", "fields": [{"label": "Họ tên", "value": "Lê Thị Mận"}]}],
    "findings": [{"id": "a1", "category": "party", "text": "Đảng viên sinh hoạt tại chi bộ 3",
                  "classification": "secret", "source": "Hồ sơ đảng viên", "found_on": "2026-10-01",
                  "about": "subject"}],
    "people": [{"key": "subject", "label": SECRET_NAME},
               {"key": "relative-7d1c", "label": "Vợ: Lê Thị Mận"}],
    "follow_up": None,
    "choices": {"categories": [{"code": "party", "label": "Sinh hoạt Đảng"},
                               {"code": "business", "label": "Kinh doanh"}],
                "classifications": [{"code": "normal", "label": "Thường"}, {"code": "secret", "label": "Mật"}]},
    "max_file_bytes": 2000,
}


def request_file(tmp_path: Path, org: keys.PrivateKey, body: keys.PublicKey, *, kind: str = "request",
                 name: str = "request.hoso", **overrides) -> tuple[Path, Package]:
    package = Package(kind=kind, package_id=fmt.new_package_id(), request_id=str(uuid.uuid4()),
                      content=overrides.pop("content", REQUEST_CONTENT),
                      files=[PackageFile(name="biên bản.pdf", content=SECRET_FILE, media_type="application/pdf",
                                         classification="secret", id="f9")], **overrides)
    path = tmp_path / name
    path.write_bytes(fmt.seal(package, sender=org, recipient=body))
    return path, package


def nothing_left_beside(folder: Path) -> None:
    """No output folder and no temporary one beside it."""
    assert not folder.exists()
    assert not [path for path in folder.parent.iterdir() if path.name.startswith(f".{folder.name}.")]


# --- keys ------------------------------------------------------------------------------------

def test_keygen_makes_a_private_key_file_and_prints_the_public_line(run, body):
    key_file = run.home / "private-key.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert body_private(run).public == body
    shown = ok(run("show-key"))
    assert body.line in shown and keys.fingerprint_text(body.fingerprint) in shown
    before = key_file.read_bytes()
    assert "không tạo đè" in refused(run("keygen"))
    assert key_file.read_bytes() == before


def test_home_option_beats_the_environment(run, tmp_path):
    other = tmp_path / "elsewhere"
    ok(run("keygen", "--home", str(other)))
    assert (other / "private-key.json").exists() and not run.home.exists()


def test_commands_without_a_key_say_to_run_keygen(run, tmp_path, org):
    assert "keygen" in refused(run("show-key"))
    path, _package = request_file(tmp_path, org, keys.generate().public)
    assert "keygen" in refused(run("open", str(path)))


@pytest.mark.skipif(not keys.CHECK_FILE_MODE, reason="no Unix file modes on this system")
def test_a_loosely_permitted_key_file_is_refused(run, body):
    os.chmod(run.home / "private-key.json", 0o644)
    assert "chmod 600" in refused(run("show-key"))


# --- open ------------------------------------------------------------------------------------

def test_open_pins_the_organisation_and_unpacks_the_request(run, tmp_path, org, body):
    path, package = request_file(tmp_path, org, body)
    output = ok(run("open", str(path), "--out", "req"))
    assert keys.fingerprint_text(org.public.fingerprint) in output
    assert fmt.digest_text(fmt.package_digest(path.read_bytes())) in output
    assert (run.home / "organisation.pub").read_text().strip() == org.public.line
    for secret in SECRETS:
        assert secret not in output

    out = tmp_path / "req"
    summary = (out / "request.txt").read_text(encoding="utf-8")
    for expected in (SECRET_QUESTION, "PP-2026-0042", "20/12/2026", "01/12/2026", "Công an tỉnh", "Họ tên: " + SECRET_NAME, "Vợ",
                     "Lê Thị Mận", "Đảng viên sinh hoạt tại chi bộ 3", "Sinh hoạt Đảng", "Mật",
                     "subject — " + SECRET_NAME, "relative-7d1c", "business — Kinh doanh",
                     "normal — Thường", "2000 byte", package.request_id, "files/01-biên bản.pdf"):
        assert expected in summary, expected
    document = json.loads((out / "request.json").read_text(encoding="utf-8"))
    assert document["content"] == REQUEST_CONTENT
    assert document["package"]["request_id"] == package.request_id
    assert document["package"]["package_id"] == package.package_id
    assert document["files"][0]["path"] == "files/01-biên bản.pdf"
    assert (out / "files" / "01-biên bản.pdf").read_bytes() == SECRET_FILE
    assert stat.S_IMODE((out / "files" / "01-biên bản.pdf").stat().st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".req.")]


def test_open_without_out_makes_a_folder_named_for_the_package(run, tmp_path, org, body):
    path, package = request_file(tmp_path, org, body)
    ok(run("open", str(path)))
    assert (tmp_path / f"hoso-yeu-cau-{package.package_id[:8]}" / "request.txt").exists()


def test_a_package_signed_by_another_key_after_the_pin_is_refused_naming_both(run, tmp_path, org, body):
    first, _package = request_file(tmp_path, org, body)
    ok(run("open", str(first), "--out", "first"))
    impostor = keys.generate()
    second, _package = request_file(tmp_path, impostor, body, name="second.hoso")
    line = refused(run("open", str(second), "--out", "second"))
    assert keys.fingerprint_text(org.public.fingerprint) in line
    assert keys.fingerprint_text(impostor.public.fingerprint) in line
    nothing_left_beside(tmp_path / "second")
    assert (run.home / "organisation.pub").read_text().strip() == org.public.line


def damaged(data: bytes) -> dict[str, bytes]:
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x40
    return {
        "not-a-package": b"%PDF-1.4 not a package\n",
        "empty": b"",
        "truncated-early": data[:len(fmt.MAGIC) + 30],
        "truncated-half": data[:len(data) // 2],
        "truncated-last-byte": data[:-1],
        "flipped-byte": bytes(flipped),
        "another-version": b"HOSO-EXCHANGE/9\n" + data[len(fmt.MAGIC):],
    }


@pytest.mark.parametrize("case", list(damaged(b"x" * 400)))
def test_damaged_packages_are_refused_and_nothing_is_written(run, tmp_path, org, body, case):
    path, _package = request_file(tmp_path, org, body)
    path.write_bytes(damaged(path.read_bytes())[case])
    refused(run("open", str(path), "--out", "req"))
    nothing_left_beside(tmp_path / "req")
    assert not (run.home / "organisation.pub").exists()


def test_a_package_for_another_body_is_refused(run, tmp_path, org, body):
    path, _package = request_file(tmp_path, org, keys.generate().public)
    assert "không được gửi cho khóa" in refused(run("open", str(path), "--out", "req"))
    nothing_left_beside(tmp_path / "req")
    assert not (run.home / "organisation.pub").exists()


def test_an_answer_package_is_not_opened_as_a_request(run, tmp_path, org, body):
    path, _package = request_file(tmp_path, org, body, kind="answer")
    assert "gói trả lời" in refused(run("open", str(path), "--out", "req"))
    nothing_left_beside(tmp_path / "req")


def test_open_refuses_an_existing_folder_and_a_missing_file(run, tmp_path, org, body):
    path, _package = request_file(tmp_path, org, body)
    (tmp_path / "req").mkdir()
    assert "đã có" in refused(run("open", str(path), "--out", "req"))
    assert list((tmp_path / "req").iterdir()) == []
    assert "Không có tệp" in refused(run("open", str(tmp_path / "missing.hoso")))


def test_a_corrupt_pin_is_refused(run, tmp_path, org, body):
    path, _package = request_file(tmp_path, org, body)
    (run.home / "organisation.pub").write_text("not a key\n")
    assert "bị hỏng" in refused(run("open", str(path), "--out", "req"))
    nothing_left_beside(tmp_path / "req")


# --- answer ------------------------------------------------------------------------------------

@pytest.fixture
def opened(run, tmp_path, org, body) -> tuple[Path, Package]:
    path, package = request_file(tmp_path, org, body)
    ok(run("open", str(path), "--out", "req"))
    return path, package


def write_findings(tmp_path: Path, findings) -> Path:
    path = tmp_path / "findings.json"
    path.write_text(json.dumps(findings, ensure_ascii=False), encoding="utf-8")
    return path


FINDING = {"person": "relative-7d1c", "category": "business", "text": "Góp vốn công ty TNHH Y từ 2019",
           "classification": "secret", "source": "Sở Kế hoạch", "found_on": "2026-11-30"}


def test_answer_builds_a_package_the_organisation_opens(run, tmp_path, org, body, opened):
    request_path, request = opened
    findings = write_findings(tmp_path, [FINDING])
    (tmp_path / "minutes.pdf").write_bytes(b"%PDF minutes")
    (tmp_path / "note.txt").write_bytes(b"a note")
    output = ok(run("answer", str(request_path), "--answer", "Đã xác minh xong", "--findings", str(findings),
                    "--file", "minutes.pdf=normal", "--file", "note.txt", "-o", "answer.hoso"))
    data = (tmp_path / "answer.hoso").read_bytes()
    assert fmt.digest_text(fmt.package_digest(data)) in output
    answer = fmt.open_package(data, recipient=org, sender=body)
    assert answer.kind == "answer"
    assert answer.request_id == request.request_id and answer.in_reply_to == request.package_id
    assert answer.content == {"answer": "Đã xác minh xong", "findings": [FINDING]}
    assert [(f.name, f.content, f.classification, f.media_type) for f in answer.files] == [
        ("minutes.pdf", b"%PDF minutes", "normal", "application/pdf"),
        ("note.txt", b"a note", "secret", "text/plain")]  # the request's own classification


def test_findings_may_leave_out_source_and_date(run, tmp_path, org, body, opened):
    request_path, _request = opened
    brief = {key: FINDING[key] for key in ("person", "category", "text", "classification")}
    ok(run("answer", str(request_path), "--answer", "ok", "--findings", str(write_findings(tmp_path, [brief])),
           "-o", "answer.hoso"))
    answer = fmt.open_package((tmp_path / "answer.hoso").read_bytes(), recipient=org, sender=body)
    assert answer.content["findings"] == [{**brief, "source": None, "found_on": None}]


def test_a_request_naming_nobody_takes_findings_without_a_person(run, tmp_path, org, body):
    content = {**REQUEST_CONTENT, "people": []}
    path, _package = request_file(tmp_path, org, body, content=content)
    ok(run("open", str(path), "--out", "req"))
    assert "để trống trường person" in (tmp_path / "req" / "request.txt").read_text(encoding="utf-8")
    nobody = {**FINDING, "person": None}
    ok(run("answer", str(path), "--answer", "ok", "--findings", str(write_findings(tmp_path, [nobody])),
           "-o", "answer.hoso"))
    assert fmt.open_package((tmp_path / "answer.hoso").read_bytes(), recipient=org,
                            sender=body).content["findings"] == [nobody]
    line = refused(run("answer", str(path), "--answer", "ok", "--findings",
                       str(write_findings(tmp_path, [FINDING])), "-o", "other.hoso"))
    assert "không nêu người nào" in line and not (tmp_path / "other.hoso").exists()


def test_answer_from_a_file_without_findings(run, tmp_path, org, body, opened):
    request_path, _request = opened
    (tmp_path / "answer.txt").write_text("Không có thông tin\nthêm.", encoding="utf-8")
    ok(run("answer", str(request_path), "--answer-file", "answer.txt", "-o", "answer.hoso"))
    answer = fmt.open_package((tmp_path / "answer.hoso").read_bytes(), recipient=org, sender=body)
    assert answer.content == {"answer": "Không có thông tin\nthêm.", "findings": []}


@pytest.mark.parametrize("findings, expected", [
    ([{**FINDING, "person": SECRET_NAME}], "người ?"),
    ([{**FINDING, "person": "relative-0000"}], "người relative-0000"),
    ([{**FINDING, "category": "crime"}], "loại crime"),
    ([{**FINDING, "classification": "top-secret"}], "độ mật top-secret"),
    ([{**FINDING, "found_on": "30/11/2026"}], "YYYY-MM-DD"),
    ([{**FINDING, "name": SECRET_NAME}], "không trường nào khác"),
    ([FINDING, {**FINDING, "category": "crime", "classification": "x"}], "và 1 lỗi khác"),
    ({"person": "subject"}, "danh sách"),
    ("not json at all", "không phải JSON"),
], ids=["name-as-person", "unknown-person", "category", "classification", "date", "fields", "two-problems",
        "not-a-list", "not-json"])
def test_findings_that_do_not_fit_are_refused_and_nothing_is_written(run, tmp_path, opened, findings, expected):
    request_path, _request = opened
    path = tmp_path / "findings.json"
    if findings == "not json at all":
        path.write_text("{not json", encoding="utf-8")
    else:
        write_findings(tmp_path, findings)
    line = refused(run("answer", str(request_path), "--answer", "ok", "--findings", str(path), "-o", "a.hoso"))
    assert expected in line
    assert not (tmp_path / "a.hoso").exists()


def test_answer_refusals_write_nothing(run, tmp_path, org, body, opened):
    request_path, _request = opened
    (tmp_path / "big.pdf").write_bytes(b"x" * 2001)
    (tmp_path / "small.pdf").write_bytes(b"x")
    (tmp_path / "latin1.txt").write_bytes("trả lời".encode("utf-16"))
    cases = {
        "both": (["--answer", "a", "--answer-file", "x.txt"], "đúng một"),
        "neither": ([], "đúng một"),
        "empty": (["--answer", "  "], "trống"),
        "not-utf8": (["--answer-file", "latin1.txt"], "UTF-8"),
        "too-big": (["--answer", "ok", "--file", "big.pdf=normal"], "2000 byte"),
        "missing": (["--answer", "ok", "--file", "gone.pdf=normal"], "Không có tệp"),
        "classification": (["--answer", "ok", "--file", "small.pdf=top"], "độ mật top"),
    }
    for args, expected in cases.values():
        assert expected in refused(run("answer", str(request_path), *args, "-o", "a.hoso"))
        assert not (tmp_path / "a.hoso").exists()
    (tmp_path / "a.hoso").write_bytes(b"earlier")
    assert "không ghi đè" in refused(run("answer", str(request_path), "--answer", "ok", "-o", "a.hoso"))
    assert (tmp_path / "a.hoso").read_bytes() == b"earlier"


def test_answer_needs_a_pinned_organisation(run, tmp_path, org, body):
    path, _package = request_file(tmp_path, org, body)
    assert "open" in refused(run("answer", str(path), "--answer", "ok", "-o", "a.hoso"))
    assert not (tmp_path / "a.hoso").exists()


def test_answer_to_a_request_from_another_key_is_refused(run, tmp_path, org, body, opened):
    other, _package = request_file(tmp_path, keys.generate(), body, name="other.hoso")
    line = refused(run("answer", str(other), "--answer", "ok", "-o", "a.hoso"))
    assert keys.fingerprint_text(org.public.fingerprint) in line
    assert not (tmp_path / "a.hoso").exists()


def test_usage_errors_are_one_line(run, opened):
    assert "--out" in refused(run("answer", str(opened[0]), "--answer", "ok"))
    assert "Lệnh không đúng" in refused(run("no-such-command"))


# --- fingerprint -----------------------------------------------------------------------------------

def test_fingerprint_prints_the_digest_both_sides_compare(run, tmp_path, org, body):
    path, _package = request_file(tmp_path, org, body)
    digest = fmt.package_digest(path.read_bytes())
    output = ok(run("fingerprint", str(path)))
    assert output.strip().endswith(fmt.digest_text(digest))
    assert len(fmt.digest_text(digest).split(" ")) == 16
    (tmp_path / "plain.txt").write_text("hello")
    assert "không phải gói" in refused(run("fingerprint", str(tmp_path / "plain.txt")))
