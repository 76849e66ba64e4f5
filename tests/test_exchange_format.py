"""Exchange packages (issue 21 §B): keys, the package file and every way it is refused.

Pure: no app, no database. Each refusal is a PackageError (or KeyError_) with one line that
names no protected value; the values the packages carry are checked never to appear in it.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import uuid

import pyrage
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protection.exchange import format as fmt
from protection.exchange import keys
from protection.exchange.format import Package, PackageError, PackageFile, SenderMismatch

SECRET_QUESTION = "Xác minh ông Nguyễn Văn Bí Mật, sinh 1970"
SECRET_FILE_NAME = "lý lịch Nguyễn Văn Bí Mật.pdf"
SECRET_FILE = b"%PDF-1.4 noi dung mat " * 50


@pytest.fixture(scope="module")
def org():
    return keys.generate()


@pytest.fixture(scope="module")
def body():
    return keys.generate()


def request_package(**overrides) -> Package:
    fields = {
        "kind": "request", "package_id": fmt.new_package_id(), "request_id": str(uuid.uuid4()),
        "content": {"reference": "PP-2026-0001", "questions": SECRET_QUESTION,
                    "people": [{"key": "subject", "label": "Người được xác minh"}],
                    "choices": {"categories": [{"code": "party", "label": "Đảng"}],
                                "classifications": [{"code": "secret", "label": "Mật"}]},
                    "max_file_bytes": 1000},
        "files": [PackageFile(name=SECRET_FILE_NAME, content=SECRET_FILE, media_type="application/pdf",
                              classification="secret", id="f1")],
    }
    fields.update(overrides)
    return Package(**fields)


def one_line_without_secrets(error: Exception) -> str:
    message = str(error)
    assert message and "\n" not in message
    for secret in (SECRET_QUESTION, SECRET_FILE_NAME, "Bí Mật", "noi dung mat"):
        assert secret not in message
    return message


# --- keys ----------------------------------------------------------------------------------

def test_public_line_round_trips_and_has_one_fingerprint(org):
    line = org.public.line
    assert line.startswith("hoso-exchange-1:age1")
    parsed = keys.parse_public(line)
    assert parsed == org.public
    assert parsed.fingerprint == org.public.fingerprint
    assert len(parsed.fingerprint) == 64 and parsed.fingerprint == parsed.fingerprint.upper()
    assert keys.parse_public("  " + line + "\n") == org.public


def test_fingerprint_text_groups_32_digits_in_fours(org):
    text = keys.fingerprint_text(org.public.fingerprint)
    groups = text.split(" ")
    assert len(groups) == 8 and all(len(group) == 4 for group in groups)
    assert "".join(groups) == org.public.fingerprint[:32]


@pytest.mark.parametrize("mangle", [
    lambda line: "",
    lambda line: "x" * 300,
    lambda line: line.replace("hoso-exchange-1", "hoso-exchange-2"),
    lambda line: line.rsplit(":", 1)[0],
    lambda line: line + ":extra",
    lambda line: line[:-1],  # the signing key one character short
    lambda line: line.replace("age1", "age2", 1),
    lambda line: line.replace("age1", "AGE1", 1),  # another spelling of the same key
    lambda line: line + "=",  # padded base64url: another spelling
], ids=["empty", "long", "prefix", "two-parts", "four-parts", "short-signing-key", "bad-age",
        "upper-case-age", "padded"])
def test_malformed_public_lines_are_refused(org, mangle):
    with pytest.raises(keys.KeyError_) as refused:
        keys.parse_public(mangle(org.public.line))
    assert "\n" not in str(refused.value)


def test_private_key_file_round_trip_mode_and_no_overwrite(tmp_path, org):
    path = tmp_path / "key.json"
    keys.save_private(org, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = keys.load_private(path)
    assert loaded.public == org.public
    assert loaded.sign(b"m") and org.public.verify(loaded.sign(b"m"), b"m")
    with pytest.raises(keys.KeyError_, match="không ghi đè"):
        keys.save_private(keys.generate(), path)
    assert keys.load_private(path).public == org.public


@pytest.mark.skipif(not keys.CHECK_FILE_MODE, reason="no Unix file modes on this system")
def test_loosely_permitted_private_key_file_is_refused(tmp_path, org):
    path = tmp_path / "key.json"
    keys.save_private(org, path)
    os.chmod(path, 0o640)
    with pytest.raises(keys.KeyError_, match="chmod 600"):
        keys.load_private(path)


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"kind": "hoso-exchange-private-key"}',
                                  json.dumps({"kind": "hoso-exchange-private-key", "version": 1,
                                              "age_identity": "AGE-SECRET-KEY-1XYZ", "signing_key": "AAAA"})])
def test_malformed_private_key_files_are_refused(tmp_path, text):
    path = tmp_path / "key.json"
    path.write_text(text)
    os.chmod(path, 0o600)
    with pytest.raises(keys.KeyError_) as refused:
        keys.load_private(path)
    assert "\n" not in str(refused.value)


def test_missing_private_key_file_says_to_run_keygen(tmp_path):
    with pytest.raises(keys.KeyError_, match="keygen"):
        keys.load_private(tmp_path / "nothing.json")


# --- round trip ----------------------------------------------------------------------------

def test_round_trip_with_pinned_sender(org, body):
    package = request_package()
    data = fmt.seal(package, sender=org, recipient=body.public)
    assert data.startswith(fmt.MAGIC)
    assert SECRET_FILE not in data and SECRET_QUESTION.encode() not in data
    opened = fmt.open_package(data, recipient=body, sender=org.public)
    assert opened.kind == "request"
    assert opened.package_id == package.package_id and opened.request_id == package.request_id
    assert opened.content == package.content
    assert opened.files == package.files
    assert opened.sender == org.public.fingerprint and opened.recipient == body.public.fingerprint
    assert opened.sender_key == org.public.line
    assert opened.created_at == package.created_at and opened.in_reply_to is None


def test_first_use_opens_against_the_key_the_manifest_names(org, body):
    data = fmt.seal(request_package(), sender=org, recipient=body.public)
    opened = fmt.open_package(data, recipient=body, sender=None)
    assert keys.parse_public(opened.sender_key) == org.public


def test_answer_round_trip_names_what_it_replies_to(org, body):
    request_id, request_package_id = str(uuid.uuid4()), str(uuid.uuid4())
    answer = Package(kind="answer", package_id=fmt.new_package_id(), request_id=request_id,
                     in_reply_to=request_package_id,
                     content={"answer": "Đã xác minh", "findings": []})
    opened = fmt.open_package(fmt.seal(answer, sender=body, recipient=org.public),
                              recipient=org, sender=body.public)
    assert (opened.kind, opened.request_id, opened.in_reply_to) == ("answer", request_id, request_package_id)
    assert opened.files == []


def test_package_digest_is_the_files_sha256(org, body):
    data = fmt.seal(request_package(), sender=org, recipient=body.public)
    digest = fmt.package_digest(data)
    assert len(digest) == 64 and digest == digest.upper()
    assert fmt.package_digest(data + b"x") != digest


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.dictionaries(st.text(max_size=10), st.one_of(st.text(max_size=40), st.integers(),
                                                                 st.none(), st.lists(st.text(max_size=5)))),
       blobs=st.lists(st.binary(max_size=300), max_size=3))
def test_round_trip_property(org, body, content, blobs):
    package = request_package(content=content,
                              files=[PackageFile(name=f"f{i}.bin", content=blob) for i, blob in enumerate(blobs)])
    opened = fmt.open_package(fmt.seal(package, sender=org, recipient=body.public),
                              recipient=body, sender=org.public)
    assert opened.content == content and [file.content for file in opened.files] == blobs


# --- refusals --------------------------------------------------------------------------------

def refused(data: bytes, recipient, sender) -> str:
    with pytest.raises(PackageError) as error:
        fmt.open_package(data, recipient=recipient, sender=sender)
    return one_line_without_secrets(error.value)


def test_wrong_magic_is_not_a_package(org, body):
    data = fmt.seal(request_package(), sender=org, recipient=body.public)
    assert "không phải gói" in refused(b"%PDF-1.4\n" + data[len(fmt.MAGIC):], body, org.public)
    assert "không phải gói" in refused(b"", body, org.public)
    assert "không phải gói" in refused(data[len(fmt.MAGIC):], body, org.public)


def test_another_format_version_is_named(org, body):
    data = fmt.seal(request_package(), sender=org, recipient=body.public)
    assert "phiên bản" in refused(b"HOSO-EXCHANGE/2\n" + data[len(fmt.MAGIC):], body, org.public)


@pytest.mark.parametrize("keep", [0.05, 0.2, 0.5, 0.9, 0.999, -1])
def test_truncated_packages_are_refused(org, body, keep):
    data = fmt.seal(request_package(), sender=org, recipient=body.public)
    cut = len(data) - 1 if keep == -1 else len(fmt.MAGIC) + int((len(data) - len(fmt.MAGIC)) * keep)
    message = refused(data[:cut], body, org.public)
    assert "cắt cụt" in message or "không được gửi" in message


def test_truncation_at_a_chunk_boundary_is_refused(org, body):
    """age marks its last chunk: a file cut after a whole 64 KiB chunk still fails."""
    package = request_package(files=[PackageFile(name="big.bin", content=os.urandom(200_000))])
    data = fmt.seal(package, sender=org, recipient=body.public)
    header_end = data.index(b"\n---") + data[data.index(b"\n---") + 1:].index(b"\n") + 2
    first_chunk_end = header_end + 16 + 64 * 1024 + 16  # nonce, one chunk and its tag
    assert "cắt cụt" in refused(data[:first_chunk_end], body, org.public)


@pytest.mark.parametrize("where", [0.01, 0.3, 0.6, 0.95])
def test_a_flipped_byte_is_refused(org, body, where):
    data = bytearray(fmt.seal(request_package(), sender=org, recipient=body.public))
    position = len(fmt.MAGIC) + int((len(data) - len(fmt.MAGIC)) * where)
    data[position] ^= 0x01
    refused(bytes(data), body, org.public)


def test_a_flipped_byte_in_the_header_is_refused(org, body):
    data = bytearray(fmt.seal(request_package(), sender=org, recipient=body.public))
    data[len(fmt.MAGIC) + 40] ^= 0x01  # inside the X25519 stanza
    refused(bytes(data), body, org.public)


def test_another_recipients_key_cannot_open_it(org, body):
    data = fmt.seal(request_package(), sender=org, recipient=body.public)
    assert "không được gửi cho khóa" in refused(data, keys.generate(), org.public)


def test_a_package_re_encrypted_to_someone_else_names_its_first_recipient(org, body):
    """Someone who opened a package addressed to them re-encrypts it unchanged to another
    body: the signed manifest still names the first, so the second refuses it."""
    data = fmt.seal(request_package(), sender=org, recipient=body.public)
    plaintext = pyrage.decrypt(data[len(fmt.MAGIC):], [body.age()])
    other = keys.generate()
    forwarded = fmt.MAGIC + pyrage.encrypt(plaintext, [other.public.age()])
    assert "không được gửi cho khóa" in refused(forwarded, other, org.public)


def test_another_signer_is_refused_against_the_pin_naming_both(org, body):
    impostor = keys.generate()
    data = fmt.seal(request_package(), sender=impostor, recipient=body.public)
    with pytest.raises(SenderMismatch) as error:
        fmt.open_package(data, recipient=body, sender=org.public)
    message = one_line_without_secrets(error.value)
    assert keys.fingerprint_text(org.public.fingerprint) in message
    assert keys.fingerprint_text(impostor.public.fingerprint) in message
    assert (error.value.expected, error.value.found) == (org.public.fingerprint, impostor.public.fingerprint)


def rebuilt(data: bytes, body, edit) -> bytes:
    """Decrypt a package (as its recipient can), let `edit` change its envelope, re-encrypt."""
    envelope = json.loads(pyrage.decrypt(data[len(fmt.MAGIC):], [body.age()]))
    edit(envelope)
    return fmt.MAGIC + pyrage.encrypt(json.dumps(envelope).encode(), [body.public.age()])


def edit_manifest(envelope, change):
    manifest = json.loads(envelope["manifest"])
    change(manifest)
    envelope["manifest"] = fmt.canonical_json(manifest).decode()


def test_an_edited_manifest_fails_its_signature(org, body):
    data = fmt.seal(request_package(), sender=org, recipient=body.public)
    forged = rebuilt(data, body, lambda envelope: edit_manifest(
        envelope, lambda manifest: manifest["content"].update(questions="Câu hỏi khác")))
    assert "Chữ ký" in refused(forged, body, org.public)
    assert "Chữ ký" in refused(forged, body, None)


def test_an_edited_manifest_re_signed_by_another_key_is_refused(org, body):
    """The forger signs the edited manifest with their own key and names it as the sender:
    the signature verifies, but not against the organisation's pinned key."""
    impostor = keys.generate()
    data = fmt.seal(request_package(), sender=org, recipient=body.public)

    def re_sign(envelope):
        edit_manifest(envelope, lambda manifest: manifest.update(
            sender=impostor.public.fingerprint, sender_key=impostor.public.line))
        text = envelope["manifest"].encode()
        envelope["signature"] = base64.urlsafe_b64encode(impostor.sign(fmt.SIGNED_PREFIX + text)).decode()

    with pytest.raises(SenderMismatch):
        fmt.open_package(rebuilt(data, body, re_sign), recipient=body, sender=org.public)


def test_a_signature_by_another_key_than_the_named_sender_is_refused(org, body):
    impostor = keys.generate()
    data = fmt.seal(request_package(), sender=org, recipient=body.public)

    def re_sign(envelope):
        text = envelope["manifest"].encode()
        envelope["signature"] = base64.urlsafe_b64encode(impostor.sign(fmt.SIGNED_PREFIX + text)).decode()

    assert "Chữ ký" in refused(rebuilt(data, body, re_sign), body, None)


def test_a_swapped_file_fails_its_digest(org, body):
    data = fmt.seal(request_package(), sender=org, recipient=body.public)

    def swap(envelope):
        (digest,) = envelope["files"]
        envelope["files"][digest] = base64.b64encode(b"another file").decode()

    assert "không khớp" in refused(rebuilt(data, body, swap), body, org.public)


def test_a_dropped_or_added_file_is_refused(org, body):
    data = fmt.seal(request_package(), sender=org, recipient=body.public)
    assert "không khớp" in refused(rebuilt(data, body, lambda envelope: envelope["files"].clear()),
                                   body, org.public)

    def add(envelope):
        envelope["files"]["0" * 64] = base64.b64encode(b"extra").decode()

    assert "không khớp" in refused(rebuilt(data, body, add), body, org.public)


@pytest.mark.parametrize("edit", [
    lambda envelope: envelope.pop("signature"),
    lambda envelope: envelope.update(extra=1),
    lambda envelope: envelope.update(manifest="not json"),
    lambda envelope: envelope.update(manifest=json.dumps({"format": 1})),
    lambda envelope: envelope.update(signature="@@@"),
], ids=["no-signature", "extra-field", "manifest-not-json", "manifest-without-fields", "bad-signature"])
def test_malformed_envelopes_are_refused(org, body, edit):
    data = fmt.seal(request_package(), sender=org, recipient=body.public)
    refused(rebuilt(data, body, edit), body, org.public)


def test_a_plaintext_that_is_not_json_is_refused(body):
    data = fmt.MAGIC + pyrage.encrypt(b"\xff\xfe not json", [body.public.age()])
    assert "sai định dạng" in refused(data, body, None)


def test_another_manifest_format_version_is_named(org, body):
    """A future version, well signed: the tool says it cannot read that version."""
    data = fmt.seal(request_package(), sender=org, recipient=body.public)

    def bump(envelope):
        edit_manifest(envelope, lambda manifest: manifest.update(format=2))
        envelope["signature"] = base64.urlsafe_b64encode(
            org.sign(fmt.SIGNED_PREFIX + envelope["manifest"].encode())).decode()

    assert "phiên bản" in refused(rebuilt(data, body, bump), body, org.public)


def test_an_oversized_package_is_refused_before_decrypting(body, monkeypatch):
    monkeypatch.setattr(fmt, "MAX_PACKAGE_BYTES", 1024)
    assert "quá lớn" in refused(fmt.MAGIC + os.urandom(2000), body, None)


def test_sealing_more_than_the_limit_is_refused(org, body, monkeypatch):
    monkeypatch.setattr(fmt, "MAX_PACKAGE_BYTES", 4096)
    package = request_package(files=[PackageFile(name="big.bin", content=os.urandom(5000))])
    with pytest.raises(PackageError, match="quá lớn"):
        fmt.seal(package, sender=org, recipient=body.public)


@pytest.mark.parametrize("name", ["", "../etc/passwd", "a/b", "a\\b", "..", "line\nbreak", "x" * 300])
def test_file_names_that_are_paths_are_refused_when_sealing(org, body, name):
    package = request_package(files=[PackageFile(name=name, content=b"x")])
    with pytest.raises(PackageError):
        fmt.seal(package, sender=org, recipient=body.public)


def test_a_signed_path_as_file_name_is_refused_when_opening(org, body):
    """Even well signed, a name with a path in it never reaches the caller."""
    data = fmt.seal(request_package(), sender=org, recipient=body.public)

    def rename(envelope):
        edit_manifest(envelope, lambda manifest: manifest["files"][0].update(name="../../x"))
        envelope["signature"] = base64.urlsafe_b64encode(
            org.sign(fmt.SIGNED_PREFIX + envelope["manifest"].encode())).decode()

    assert "Tên một tệp" in refused(rebuilt(data, body, rename), body, org.public)


@pytest.mark.parametrize("change", [
    {"kind": "other"}, {"package_id": "not-a-uuid"}, {"request_id": None},
    {"in_reply_to": "x"}, {"content": []},
], ids=["kind", "package-id", "request-id", "in-reply-to", "content"])
def test_packages_with_malformed_fields_are_never_sealed(org, body, change):
    with pytest.raises(PackageError):
        fmt.seal(request_package(**change), sender=org, recipient=body.public)


# --- answers against their request -----------------------------------------------------------

REQUEST_CONTENT = request_package().content


def finding(**overrides):
    return {"person": "subject", "category": "party", "text": "Không có vi phạm",
            "classification": "secret", "source": None, "found_on": "2026-11-02", **overrides}


def test_a_fitting_answer_has_no_problems():
    content = {"answer": "Đã xác minh", "findings": [finding()]}
    files = [PackageFile(name="a.pdf", content=b"x" * 1000, classification="secret")]
    assert fmt.answer_content_problems(content, REQUEST_CONTENT, files) == []


@pytest.mark.parametrize("content, expected", [
    ({"answer": "", "findings": []}, "trống"),
    ({"answer": "ok"}, "đúng hai phần"),
    ({"answer": "ok", "findings": {}}, "danh sách"),
    ({"answer": "ok", "findings": [finding(person="Nguyễn Văn Bí Mật")]}, "người ?"),
    ({"answer": "ok", "findings": [finding(person="relative-9")]}, "người relative-9"),
    ({"answer": "ok", "findings": [finding(category="crime")]}, "loại crime"),
    ({"answer": "ok", "findings": [finding(classification="top")]}, "độ mật top"),
    ({"answer": "ok", "findings": [finding(text=" ")]}, "nội dung trống"),
    ({"answer": "ok", "findings": [finding(found_on="02/11/2026")]}, "YYYY-MM-DD"),
    ({"answer": "ok", "findings": [{"person": "subject"}]}, "phải có các trường"),
    ({"answer": "ok", "findings": [finding(extra="x")]}, "không trường nào khác"),
    ({"answer": "ok", "findings": [{k: v for k, v in finding().items() if k != "person"}]}, "phải có các trường"),
])
def test_answers_that_do_not_fit_the_request_are_named(content, expected):
    problems = fmt.answer_content_problems(content, REQUEST_CONTENT)
    assert any(expected in problem for problem in problems), problems
    assert not any("Bí Mật" in problem for problem in problems)


def test_source_and_date_may_be_left_out():
    brief = {key: finding()[key] for key in ("person", "category", "text", "classification")}
    assert fmt.answer_content_problems({"answer": "ok", "findings": [brief]}, REQUEST_CONTENT) == []


def test_a_request_naming_nobody_takes_findings_without_a_person():
    content = {**REQUEST_CONTENT, "people": []}
    assert fmt.answer_content_problems({"answer": "ok", "findings": [finding(person=None)]}, content) == []
    brief = {key: finding()[key] for key in ("category", "text", "classification")}
    assert fmt.answer_content_problems({"answer": "ok", "findings": [brief]}, content) == []
    problems = fmt.answer_content_problems({"answer": "ok", "findings": [finding()]}, content)
    assert len(problems) == 1 and "không nêu người nào" in problems[0]


def test_digest_text_groups_all_64_digits():
    digest = fmt.package_digest(b"package")
    assert fmt.digest_text(digest).replace(" ", "") == digest
    assert len(fmt.digest_text(digest).split(" ")) == 16


def test_answer_files_beyond_the_requests_limits_are_named():
    files = [PackageFile(name="a.pdf", content=b"x" * 1001, classification="secret"),
             PackageFile(name="b.pdf", content=b"x", classification="top")]
    problems = fmt.answer_content_problems({"answer": "ok", "findings": []}, REQUEST_CONTENT, files)
    assert len(problems) == 2
    assert "Tệp 1 lớn hơn" in problems[0] and "Tệp 2: độ mật top" in problems[1]
