"""The package file: a signed manifest and its files, encrypted with age to one recipient.

Layout. The file is the magic line `HOSO-EXCHANGE/1\n` followed by an age (X25519)
ciphertext (age-encryption.org/v1, binary). The plaintext is UTF-8 JSON:

    {"manifest": "<the manifest as canonical JSON text>",
     "signature": "<Ed25519 over SIGNED_PREFIX + that text's UTF-8 bytes, base64url>",
     "files": {"<sha256 hex>": "<base64 content>", ...}}

The manifest travels as the exact text that was signed (canonical JSON: sorted keys, no
spaces, UTF-8), so the verifier checks the very bytes it then parses: no re-serialising,
no question of which of two duplicate keys a parser keeps. It says what the package is and
binds it to both parties, so a package re-encrypted to someone else, or a file swapped, no
longer verifies:

    {"format": 1, "kind": "request" | "answer", "package_id": uuid, "request_id": uuid,
     "in_reply_to": uuid | null, "created_at": ISO-8601 UTC,
     "sender": <fingerprint>, "sender_key": <the sender's public line>,
     "recipient": <fingerprint>,
     "content": {...},            # the request and its package, or the answer (below)
     "files": [{"sha256", "name", "size", "media_type", "classification", "id"}]}

`sender_key` lets the body pin the organisation's key on the first package (and encrypt its
answer to it); the signature is checked against that key, and against the pinned one when
the caller has a pin (a package signed by another key raises SenderMismatch naming both).

Sign, then encrypt (the signature is inside the encryption, over a manifest that names the
recipient): the body learns the organisation wrote it for them; nobody on the way learns
anything but the size. Why age rather than something of our own: a small, well-specified
format with audited implementations (rage, in Rust, through pyrage), X25519 and
ChaCha20-Poly1305 in authenticated 64 KiB chunks with a marked last chunk, so a truncated or
altered file fails to decrypt instead of yielding part of its plaintext.

Request `content` (H4 fills it from the server; the console reads it):
    {"reference": str, "classification": str, "questions": str, "due_on": "YYYY-MM-DD" | null,
     "subject_fields": [{"field", "label", "value"}],
     "relatives": [{"label", "fields": [{"label", "value"}]}],
     "findings": [{"id", "category", "text", "classification", "source", "found_on", "about"}],
     "people": [{"key", "label"}],         # whom an answer's finding may be about
     "follow_up": str | null,
     "choices": {"categories": [{"code", "label"}], "classifications": [{"code", "label"}]},
     "max_file_bytes": int}
    (the server adds "body": {"code", "name"} and "sent_on"; readers ignore keys they do
    not know)
Answer `content` (`answer_content_problems` checks it against the request's):
    {"answer": str, "findings": [{"person", "category", "text", "classification",
     "source", "found_on"}]}   # person: one of the request's people keys (null when it
                               # lists none); source and found_on may be null
with its files listed in the manifest (each file's classification one of the request's).
The package digest both sides read out is `digest_text(package_digest(data))`.

Every failure is a PackageError whose message is one line for a person and names no
protected value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pyrage
from flask_babel import gettext as _

from .keys import KeyError_, PrivateKey, PublicKey, fingerprint_text, parse_public

MAGIC = b"HOSO-EXCHANGE/1\n"
MAGIC_FAMILY = b"HOSO-EXCHANGE/"
FORMAT_VERSION = 1
MAX_PACKAGE_BYTES = 200 * 1024 * 1024
# The manifest is text (questions, findings, an answer): far below the files' share.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_FILES = 1000
MAX_FILE_NAME = 255
KINDS = ("request", "answer")
# Domain separation: a signature over a manifest can never be replayed as one over
# anything else the same key signs.
SIGNED_PREFIX = b"hoso-exchange/1 manifest\n"
# No path separators, no control characters, not "." or "..": a name is shown and, on the
# body's side, used (behind a number) as a file name.
_BAD_NAME = re.compile(r"[/\\\x00-\x1f\x7f]")
_HEX64 = re.compile(r"[0-9a-f]{64}")
FILE_FIELDS = frozenset({"sha256", "name", "size", "media_type", "classification", "id"})
MANIFEST_FIELDS = frozenset({"format", "kind", "package_id", "request_id", "in_reply_to",
                             "created_at", "sender", "sender_key", "recipient", "content", "files"})


class PackageError(ValueError):
    """A package that cannot be opened or trusted. The message is one line for a person and
    never holds a protected value (truncated, tampered, wrongly signed, wrongly addressed,
    not a package)."""


class SenderMismatch(PackageError):
    """Well signed, but by another key than the one pinned for the sender."""

    def __init__(self, expected: str, found: str):
        self.expected = expected
        self.found = found
        super().__init__(_("Gói được ký bằng khóa %(found)s, không phải khóa đã ghim %(expected)s: "
                           "không mở.", found=fingerprint_text(found),
                           expected=fingerprint_text(expected)))


@dataclass(frozen=True)
class PackageFile:
    name: str
    content: bytes
    media_type: str = "application/octet-stream"
    classification: str = "unclassified"
    id: str | None = None  # the sender's id for it, if any

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass
class Package:
    kind: str
    package_id: str
    request_id: str
    content: dict[str, Any]
    files: list[PackageFile] = field(default_factory=list)
    in_reply_to: str | None = None
    created_at: str | None = None
    sender: str | None = None  # fingerprints, filled in by `seal` / `open_package`
    recipient: str | None = None
    sender_key: str | None = None  # the sender's public line, filled in likewise


def new_package_id() -> str:
    return str(uuid.uuid4())


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


# --- sealing ---------------------------------------------------------------------------------

def seal(package: Package, *, sender: PrivateKey, recipient: PublicKey) -> bytes:
    """The package file's bytes: signed by `sender`, encrypted to `recipient`. Fills in the
    package's created_at (if unset), sender, sender_key and recipient. PackageError when the
    package is not well-formed or the file would exceed MAX_PACKAGE_BYTES."""
    sender_public = sender.public
    package.created_at = package.created_at or datetime.now(UTC).isoformat(timespec="seconds")
    package.sender = sender_public.fingerprint
    package.sender_key = sender_public.line
    package.recipient = recipient.fingerprint
    for file in package.files:
        _check_file_name(file.name)
    manifest = {
        "format": FORMAT_VERSION,
        "kind": package.kind,
        "package_id": package.package_id,
        "request_id": package.request_id,
        "in_reply_to": package.in_reply_to,
        "created_at": package.created_at,
        "sender": package.sender,
        "sender_key": package.sender_key,
        "recipient": package.recipient,
        "content": package.content,
        "files": [{"sha256": file.sha256, "name": file.name, "size": len(file.content),
                   "media_type": file.media_type, "classification": file.classification,
                   "id": file.id} for file in package.files],
    }
    _check_manifest(manifest)  # what open_package would refuse is never written
    try:
        manifest_text = canonical_json(manifest)
    except (TypeError, ValueError):
        raise PackageError(_("Nội dung gói có giá trị không ghi được thành JSON.")) from None
    if len(manifest_text) > MAX_MANIFEST_BYTES:
        raise _too_big()
    total = len(manifest_text) + sum(len(file.content) * 4 // 3 + 4 for file in package.files)
    if total > MAX_PACKAGE_BYTES:
        raise _too_big()
    plaintext = canonical_json({
        "manifest": manifest_text.decode("utf-8"),
        "signature": _b64url(sender.sign(SIGNED_PREFIX + manifest_text)),
        "files": {file.sha256: base64.b64encode(file.content).decode("ascii") for file in package.files},
    })
    data = MAGIC + pyrage.encrypt(plaintext, [recipient.age()])
    if len(data) > MAX_PACKAGE_BYTES:
        raise _too_big()
    return data


# --- opening ---------------------------------------------------------------------------------

def open_package(data: bytes, *, recipient: PrivateKey, sender: PublicKey | None) -> Package:
    """Decrypt with `recipient`, check the signature against `sender` (or, with None, against
    the public key the manifest names, for trust on first use: the caller pins it), check
    that the manifest names `recipient` and that every file's digest matches. PackageError
    with one line otherwise (SenderMismatch when well signed by another key than `sender`)."""
    if len(data) > MAX_PACKAGE_BYTES:
        raise _too_big()
    if not data.startswith(MAGIC):
        if data.startswith(MAGIC_FAMILY):
            raise PackageError(_("Gói theo một phiên bản định dạng khác: phiên bản công cụ này "
                                 "không mở được."))
        raise PackageError(_("Đây không phải gói trao đổi Hoso."))
    plaintext = _decrypt(data[len(MAGIC):], recipient)
    envelope = _parse_json(plaintext)
    if (not isinstance(envelope, dict) or set(envelope) != {"manifest", "signature", "files"}
            or not isinstance(envelope["manifest"], str) or not isinstance(envelope["signature"], str)
            or not isinstance(envelope["files"], dict)):
        raise _malformed()
    manifest_text = envelope["manifest"].encode("utf-8")
    if len(manifest_text) > MAX_MANIFEST_BYTES:
        raise _too_big()
    manifest = _parse_json(manifest_text)
    if not isinstance(manifest, dict):
        raise _malformed()
    if manifest.get("format") != FORMAT_VERSION:
        raise PackageError(_("Gói theo một phiên bản định dạng khác: phiên bản công cụ này "
                             "không mở được."))
    signer = _signer(manifest)
    signature = _unb64url(envelope["signature"])
    if signature is None or not signer.verify(signature, SIGNED_PREFIX + manifest_text):
        raise PackageError(_("Chữ ký của gói không đúng: gói đã bị sửa, hoặc không do người gửi "
                             "mà nó ghi ký."))
    if sender is not None and signer.line != sender.line:
        raise SenderMismatch(sender.fingerprint, signer.fingerprint)
    _check_manifest(manifest)
    if manifest["recipient"] != recipient.public.fingerprint:
        raise PackageError(_("Gói không được gửi cho khóa của đơn vị này."))
    files = _files(manifest["files"], envelope["files"])
    return Package(kind=manifest["kind"], package_id=manifest["package_id"],
                   request_id=manifest["request_id"], content=manifest["content"], files=files,
                   in_reply_to=manifest["in_reply_to"], created_at=manifest["created_at"],
                   sender=manifest["sender"], recipient=manifest["recipient"],
                   sender_key=manifest["sender_key"])


def package_digest(data: bytes) -> str:
    """SHA-256 of a package file, upper-case hex: what both sides read out to compare."""
    return hashlib.sha256(data).hexdigest().upper()


def digest_text(digest: str) -> str:
    """All 64 digits of a package digest in groups of four, as the console and the request
    page both print it (a key's fingerprint, by contrast, is read as its first 32 digits:
    keys.fingerprint_text)."""
    digits = digest.upper()
    return " ".join(digits[i:i + 4] for i in range(0, len(digits), 4))


def _decrypt(ciphertext: bytes, recipient: PrivateKey) -> bytes:
    try:
        return pyrage.decrypt(ciphertext, [recipient.age()])
    except pyrage.DecryptError as error:
        # age hides its recipients: a stanza that does not open with this identity is all
        # it can say, whether the file was for someone else or its header was altered.
        if "no matching keys" in str(error).lower():
            raise PackageError(_("Gói không được gửi cho khóa của đơn vị này (hoặc phần đầu gói "
                                 "đã bị hỏng).")) from None
        raise PackageError(_("Gói bị cắt cụt hoặc bị hỏng: không giải mã được.")) from None


def _parse_json(text: bytes) -> Any:
    def no_duplicates(pairs):
        keys = [key for key, _value in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate key")
        return dict(pairs)

    def no_constant(_name):
        raise ValueError("NaN or Infinity")

    try:
        return json.loads(text.decode("utf-8"), object_pairs_hook=no_duplicates,
                          parse_constant=no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _malformed() from None


def _unb64url(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def _signer(manifest: dict) -> PublicKey:
    """The key the manifest says signed it; its fingerprint must be the `sender` it names."""
    line = manifest.get("sender_key")
    if not isinstance(line, str):
        raise _malformed()
    try:
        signer = parse_public(line)
    except KeyError_:
        raise _malformed() from None
    if manifest.get("sender") != signer.fingerprint:
        raise PackageError(_("Chữ ký của gói không đúng: gói đã bị sửa, hoặc không do người gửi "
                             "mà nó ghi ký."))
    return signer


def _check_manifest(manifest: dict) -> None:
    if set(manifest) != MANIFEST_FIELDS:
        raise _malformed()
    if manifest["kind"] not in KINDS or not isinstance(manifest["content"], dict):
        raise _malformed()
    for name in ("package_id", "request_id"):
        if not _is_uuid(manifest[name]):
            raise _malformed()
    if manifest["in_reply_to"] is not None and not _is_uuid(manifest["in_reply_to"]):
        raise _malformed()
    if not isinstance(manifest["created_at"], str) or _parse_time(manifest["created_at"]) is None:
        raise _malformed()
    for name in ("sender", "recipient"):
        if not isinstance(manifest[name], str) or not re.fullmatch(r"[0-9A-F]{64}", manifest[name]):
            raise _malformed()
    files = manifest["files"]
    if not isinstance(files, list):
        raise _malformed()
    if len(files) > MAX_FILES:
        raise _too_big()
    for entry in files:
        if (not isinstance(entry, dict) or set(entry) != FILE_FIELDS
                or not isinstance(entry["sha256"], str) or not _HEX64.fullmatch(entry["sha256"])
                or not isinstance(entry["size"], int) or isinstance(entry["size"], bool)
                or entry["size"] < 0
                or not isinstance(entry["media_type"], str) or len(entry["media_type"]) > 255
                or not isinstance(entry["classification"], str) or len(entry["classification"]) > 64
                or not (entry["id"] is None or isinstance(entry["id"], str) and len(entry["id"]) <= 64)):
            raise _malformed()
        _check_file_name(entry["name"])


def _check_file_name(name: Any) -> None:
    if (not isinstance(name, str) or not name or len(name) > MAX_FILE_NAME
            or name in (".", "..") or _BAD_NAME.search(name)):
        raise PackageError(_("Tên một tệp trong gói không hợp lệ (rỗng, quá dài, hoặc chứa "
                             "đường dẫn hay ký tự điều khiển)."))


def _files(entries: list[dict], contents: dict) -> list[PackageFile]:
    if set(contents) != {entry["sha256"] for entry in entries}:
        raise _tampered()
    decoded: dict[str, bytes] = {}
    for digest, text in contents.items():
        if not isinstance(text, str):
            raise _malformed()
        try:
            content = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise _malformed() from None
        if hashlib.sha256(content).hexdigest() != digest:
            raise _tampered()
        decoded[digest] = content
    files = []
    for entry in entries:
        content = decoded[entry["sha256"]]
        if len(content) != entry["size"]:
            raise _tampered()
        files.append(PackageFile(name=entry["name"], content=content, media_type=entry["media_type"],
                                 classification=entry["classification"], id=entry["id"]))
    return files


def _is_uuid(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _too_big() -> PackageError:
    return PackageError(_("Gói quá lớn (giới hạn %(limit)s MB).", limit=MAX_PACKAGE_BYTES // (1024 * 1024)))


def _malformed() -> PackageError:
    return PackageError(_("Nội dung gói sai định dạng: gói không do công cụ Hoso tạo, hoặc đã bị sửa."))


def _tampered() -> PackageError:
    return PackageError(_("Một tệp trong gói không khớp với bản kê đã ký: gói đã bị sửa."))


# --- answers, checked on both sides -------------------------------------------------------------

ANSWER_FINDING_FIELDS = frozenset({"person", "category", "text", "classification", "source", "found_on"})
# source and found_on may be left out (null); person too when the request names nobody.
REQUIRED_FINDING_FIELDS = frozenset({"category", "text", "classification"})
MAX_ANSWER_CHARS = 20000
MAX_FINDING_CHARS = 10000
MAX_SOURCE_CHARS = 500
MAX_FINDINGS = 500


def request_choices(request_content: dict) -> tuple[set[str], set[str], set[str], int | None]:
    """(people keys, category codes, classification codes, max file bytes) a request allows."""
    def codes(items: Any, key: str) -> set[str]:
        if not isinstance(items, list):
            return set()
        return {item[key] for item in items if isinstance(item, dict) and isinstance(item.get(key), str)}

    choices = request_content.get("choices") if isinstance(request_content.get("choices"), dict) else {}
    limit = request_content.get("max_file_bytes")
    limit = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None
    return (codes(request_content.get("people"), "key"), codes(choices.get("categories"), "code"),
            codes(choices.get("classifications"), "code"), limit)


def answer_content_problems(content: Any, request_content: dict,
                            files: list[PackageFile] = ()) -> list[str]:
    """Why an answer's content does not fit the request it answers, one line each (empty when
    it fits): the answer text, each finding's person (one of the request's people keys),
    category and classification (from the request's lists), text, source and date, and each
    file's classification and size. Lines name positions and codes, never a value."""
    people, categories, classifications, max_file_bytes = request_choices(request_content)
    problems: list[str] = []
    if not isinstance(content, dict) or set(content) != {"answer", "findings"}:
        return [_("Câu trả lời phải có đúng hai phần: answer và findings.")]
    answer = content["answer"]
    if not isinstance(answer, str) or not answer.strip():
        problems.append(_("Câu trả lời không được để trống."))
    elif len(answer) > MAX_ANSWER_CHARS:
        problems.append(_("Câu trả lời dài quá %(limit)s ký tự.", limit=MAX_ANSWER_CHARS))
    findings = content["findings"]
    if not isinstance(findings, list):
        return [*problems, _("Phần findings phải là một danh sách.")]
    if len(findings) > MAX_FINDINGS:
        return [*problems, _("Nhiều hơn %(limit)s kết quả xác minh.", limit=MAX_FINDINGS)]
    for number, finding in enumerate(findings, start=1):
        problems += _finding_problems(number, finding, people, categories, classifications)
    for number, file in enumerate(files, start=1):
        if file.classification not in classifications:
            problems.append(_("Tệp %(number)s: độ mật %(code)s không có trong danh sách của yêu cầu.",
                              number=number, code=_code(file.classification)))
        if max_file_bytes is not None and len(file.content) > max_file_bytes:
            problems.append(_("Tệp %(number)s lớn hơn giới hạn %(limit)s byte của yêu cầu.",
                              number=number, limit=max_file_bytes))
    return problems


def _finding_problems(number: int, finding: Any, people: set[str], categories: set[str],
                      classifications: set[str]) -> list[str]:
    if (not isinstance(finding, dict) or not set(finding) <= ANSWER_FINDING_FIELDS
            or not REQUIRED_FINDING_FIELDS <= set(finding) or people and "person" not in finding):
        return [_("Kết quả %(number)s phải có các trường person, category, text, classification "
                  "(source và found_on nếu có), không trường nào khác.", number=number)]
    finding = {**dict.fromkeys(ANSWER_FINDING_FIELDS), **finding}
    problems = []
    if people and finding["person"] not in people:
        problems.append(_("Kết quả %(number)s: người %(code)s không có trong danh sách của yêu cầu.",
                          number=number, code=_code(finding["person"])))
    elif not people and finding["person"] not in (None, ""):
        problems.append(_("Kết quả %(number)s: yêu cầu này không nêu người nào, để trống trường person.",
                          number=number))
    if finding["category"] not in categories:
        problems.append(_("Kết quả %(number)s: loại %(code)s không có trong danh sách của yêu cầu.",
                          number=number, code=_code(finding["category"])))
    if finding["classification"] not in classifications:
        problems.append(_("Kết quả %(number)s: độ mật %(code)s không có trong danh sách của yêu cầu.",
                          number=number, code=_code(finding["classification"])))
    text = finding["text"]
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_FINDING_CHARS:
        problems.append(_("Kết quả %(number)s: nội dung trống hoặc dài quá %(limit)s ký tự.",
                          number=number, limit=MAX_FINDING_CHARS))
    source = finding["source"]
    if not (source is None or isinstance(source, str) and len(source) <= MAX_SOURCE_CHARS):
        problems.append(_("Kết quả %(number)s: nguồn dài quá %(limit)s ký tự.",
                          number=number, limit=MAX_SOURCE_CHARS))
    found_on = finding["found_on"]
    if found_on is not None and not _is_date(found_on):
        problems.append(_("Kết quả %(number)s: ngày phát hiện phải có dạng YYYY-MM-DD.", number=number))
    return problems


def _is_date(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def _code(value: Any) -> str:
    """A code as it may appear in a message: short identifier characters only, else '?'
    (a mistyped code could be a name pasted in the wrong field)."""
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", value):
        return value
    return "?"
