"""`hoso-exchange`: the partner body's side of exchange packages, with no Hoso server and
no database.

    hoso-exchange keygen [--home DIR]            make this body's keys, print the public line
    hoso-exchange show-key [--home DIR]          print the public line and its fingerprint
    hoso-exchange open FILE [--out DIR]          verify, decrypt and unpack a request package
    hoso-exchange answer REQUEST_FILE (--answer TEXT | --answer-file F)
                  [--findings FILE.json] [--file PATH[=classification]]... -o OUT
    hoso-exchange fingerprint FILE               the package's digest, grouped for reading aloud

The home folder (default ~/.hoso-exchange, or HOSO_EXCHANGE_HOME, or --home) holds the
private key file (private-key.json, mode 0600) and the organisation's pinned public line
(organisation.pub), pinned on the first package opened; a later package signed by another
key is refused with a line naming both fingerprints, so the staff can call the organisation.

Every refusal is one line on stderr and exit status 1, never a traceback; nothing is
written on a refusal (a request is unpacked into a private temporary folder that is renamed
into place only when complete; an answer file is created exclusively and removed if writing
it fails). Messages are Vietnamese: the body's staff read them.
"""

from __future__ import annotations

import json
import mimetypes
import os
import re
import shutil
import stat
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import click
from flask_babel import gettext as _

from . import format as fmt
from . import keys

HOME_ENV = "HOSO_EXCHANGE_HOME"
DEFAULT_HOME = "~/.hoso-exchange"
PRIVATE_KEY_FILE = "private-key.json"
PINNED_KEY_FILE = "organisation.pub"
MAX_FINDINGS_FILE = 10 * 1024 * 1024
MAX_ANSWER_FILE = 1024 * 1024
# Characters Windows refuses in a file name, besides the separators the format already refuses.
_WINDOWS_UNSAFE = re.compile(r'[<>:"|?*]')


# Click 8.2 raises this for a bare `hoso-exchange` outside standalone mode; 8.1 exits itself.
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


class Refusal(click.ClickException):
    """One line for the body's staff, exit status 1."""


# --- the home folder -------------------------------------------------------------------------

def home_option(function):
    return click.option("--home", "home", type=click.Path(file_okay=False, path_type=Path),
                        envvar=HOME_ENV, default=DEFAULT_HOME, show_default=True,
                        help=_("Thư mục giữ khóa riêng của đơn vị và khóa đã ghim của cơ quan gửi."))(function)


def _home(home: Path) -> Path:
    return home.expanduser()


def _private_key(home: Path) -> keys.PrivateKey:
    try:
        return keys.load_private(_home(home) / PRIVATE_KEY_FILE)
    except keys.KeyError_ as error:
        raise Refusal(str(error)) from None


def _pinned(home: Path) -> keys.PublicKey | None:
    path = _home(home) / PINNED_KEY_FILE
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        raise Refusal(_("Không đọc được khóa đã ghim %(path)s.", path=str(path))) from None
    try:
        return keys.parse_public(text)
    except keys.KeyError_:
        raise Refusal(_("Khóa đã ghim %(path)s bị hỏng: hãy hỏi lại cơ quan gửi dòng khóa công "
                        "khai của họ.", path=str(path))) from None


def _pin(home: Path, key: keys.PublicKey) -> None:
    path = _home(home) / PINNED_KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise Refusal(_("Đã có khóa ghim %(path)s: không ghi đè.", path=str(path))) from None
    except OSError as error:
        raise Refusal(_("Không ghi được khóa ghim %(path)s (%(reason)s).", path=str(path),
                        reason=error.strerror or type(error).__name__)) from None
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(key.line + "\n")


def _read_limited(path: Path, limit: int, too_big: str) -> bytes:
    """A file's bytes, refused without reading it when it is larger than `limit`."""
    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):
            raise Refusal(_("%(path)s không phải một tệp.", path=str(path)))
        if status.st_size > limit:
            raise Refusal(too_big)
        with path.open("rb") as file:
            data = file.read(limit + 1)
    except FileNotFoundError:
        raise Refusal(_("Không có tệp %(path)s.", path=str(path))) from None
    except OSError as error:
        raise Refusal(_("Không đọc được tệp %(path)s (%(reason)s).", path=str(path),
                        reason=error.strerror or type(error).__name__)) from None
    if len(data) > limit:
        raise Refusal(too_big)
    return data


def _package_bytes(path: Path) -> bytes:
    return _read_limited(path, fmt.MAX_PACKAGE_BYTES, _("Gói quá lớn (giới hạn %(limit)s MB).",
                                                        limit=fmt.MAX_PACKAGE_BYTES // (1024 * 1024)))


def _open_request(path: Path, key: keys.PrivateKey, pinned: keys.PublicKey | None) -> tuple[fmt.Package, bytes]:
    data = _package_bytes(path)
    try:
        package = fmt.open_package(data, recipient=key, sender=pinned)
    except fmt.SenderMismatch as error:
        raise Refusal(_("Gói được ký bằng khóa %(found)s, không phải khóa của cơ quan đã ghim "
                        "%(expected)s: không mở. Hãy gọi điện cho cơ quan gửi để đối chiếu.",
                        found=keys.fingerprint_text(error.found),
                        expected=keys.fingerprint_text(error.expected))) from None
    except fmt.PackageError as error:
        raise Refusal(str(error)) from None
    if package.kind != "request":
        raise Refusal(_("Đây là gói trả lời, không phải gói yêu cầu: công cụ này chỉ mở gói yêu cầu."))
    return package, data


# --- commands --------------------------------------------------------------------------------

@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """Trao đổi gói mã hóa với Hoso cho đơn vị không nối mạng (mở gói yêu cầu, lập gói trả lời)."""


@cli.command("keygen")
@home_option
def keygen(home: Path):
    """Tạo khóa của đơn vị (một lần) và in dòng khóa công khai gửi cho cơ quan."""
    folder = _home(home)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise Refusal(_("Không tạo được thư mục %(path)s (%(reason)s).", path=str(folder),
                        reason=error.strerror or type(error).__name__)) from None
    if (folder / PRIVATE_KEY_FILE).exists():
        raise Refusal(_("Đơn vị đã có khóa (%(path)s): không tạo đè. Xem khóa bằng hoso-exchange "
                        "show-key.", path=str(folder / PRIVATE_KEY_FILE)))
    key = keys.generate()
    try:
        keys.save_private(key, folder / PRIVATE_KEY_FILE)
    except keys.KeyError_ as error:
        raise Refusal(str(error)) from None
    click.echo(_("Đã tạo khóa riêng %(path)s (giữ kín, sao lưu ra nơi an toàn).",
                 path=str(folder / PRIVATE_KEY_FILE)))
    _echo_public(key.public)
    click.echo(_("Gửi dòng khóa công khai trên cho quản trị hệ thống Hoso của Tỉnh ủy, rồi đọc dấu vân "
                 "tay qua điện thoại để hai bên đối chiếu."))


@cli.command("show-key")
@home_option
def show_key(home: Path):
    """In dòng khóa công khai của đơn vị, dấu vân tay, và khóa đã ghim của cơ quan gửi."""
    _echo_public(_private_key(home).public)
    pinned = _pinned(home)
    if pinned is None:
        click.echo(_("Chưa ghim khóa của cơ quan gửi (ghim khi mở gói đầu tiên)."))
    else:
        click.echo(_("Khóa đã ghim của cơ quan gửi: %(fingerprint)s",
                     fingerprint=keys.fingerprint_text(pinned.fingerprint)))


def _echo_public(public: keys.PublicKey) -> None:
    click.echo(_("Khóa công khai: %(line)s", line=public.line))
    click.echo(_("Dấu vân tay: %(fingerprint)s", fingerprint=keys.fingerprint_text(public.fingerprint)))


@cli.command("open")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help=_("Thư mục ghi nội dung gói (mặc định: hoso-yeu-cau-<mã gói> trong thư mục hiện tại); "
                     "phải chưa có."))
@home_option
def open_command(file: Path, out: Path | None, home: Path):
    """Kiểm tra chữ ký, giải mã và mở gói yêu cầu vào một thư mục mới."""
    key = _private_key(home)
    pinned = _pinned(home)
    package, data = _open_request(file, key, pinned)
    out = out if out is not None else Path(f"hoso-yeu-cau-{package.package_id[:8]}")
    if out.exists():
        raise Refusal(_("Thư mục %(path)s đã có: chọn thư mục khác bằng --out.", path=str(out)))
    digest = fmt.package_digest(data)
    _unpack(package, digest, out)
    if pinned is None:
        try:
            _pin(home, keys.parse_public(package.sender_key))
        except Refusal:
            shutil.rmtree(out, ignore_errors=True)
            raise
        click.echo(_("Đã ghim khóa của cơ quan gửi: %(fingerprint)s. Hãy gọi điện cho cơ quan "
                     "để đối chiếu dấu vân tay này trước khi tin nội dung gói.",
                     fingerprint=keys.fingerprint_text(package.sender)))
    click.echo(_("Đã mở gói yêu cầu vào %(path)s (đọc %(summary)s).", path=str(out),
                 summary=str(out / "request.txt")))
    click.echo(_("Dấu vân tay gói: %(digest)s", digest=fmt.digest_text(digest)))


def _unpack(package: fmt.Package, digest: str, out: Path) -> None:
    """Write request.txt, request.json and files/ into a private temporary folder beside
    `out`, then rename it into place: `out` appears whole or not at all."""
    parent = out.absolute().parent
    try:
        temporary = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))  # mode 0700
    except OSError as error:
        raise Refusal(_("Không tạo được thư mục trong %(path)s (%(reason)s).", path=str(parent),
                        reason=error.strerror or type(error).__name__)) from None
    try:
        file_paths = _write_files(package.files, temporary / "files")
        _write_private(temporary / "request.json", json.dumps(
            _request_document(package, digest, file_paths), ensure_ascii=False, indent=2) + "\n")
        _write_private(temporary / "request.txt", request_summary(package, digest, file_paths))
        os.rename(temporary, out)
    except OSError as error:
        shutil.rmtree(temporary, ignore_errors=True)
        raise Refusal(_("Không ghi được thư mục %(path)s (%(reason)s).", path=str(out),
                        reason=error.strerror or type(error).__name__)) from None
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def _write_private(path: Path, text: str | bytes) -> None:
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def _write_files(files: list[fmt.PackageFile], folder: Path) -> list[str]:
    """Each file as files/NN-name (the number keeps two files of one name apart); the paths
    relative to the package folder."""
    folder.mkdir(mode=0o700)
    paths = []
    for number, file in enumerate(files, start=1):
        name = f"{number:02d}-{safe_file_name(file.name)}"
        _write_private(folder / name, file.content)
        paths.append(f"files/{name}")
    return paths


def safe_file_name(name: str) -> str:
    """The format refuses separators and control characters; Windows also refuses these and
    a trailing dot or space."""
    return _WINDOWS_UNSAFE.sub("_", name).rstrip(" .") or "tep"


def _request_document(package: fmt.Package, digest: str, file_paths: list[str]) -> dict:
    return {
        "package": {"kind": package.kind, "package_id": package.package_id,
                    "request_id": package.request_id, "created_at": package.created_at,
                    "sender": package.sender, "recipient": package.recipient, "digest": digest},
        "content": package.content,
        "files": [{"path": path, "name": file.name, "size": len(file.content),
                   "media_type": file.media_type, "classification": file.classification,
                   "id": file.id} for path, file in zip(file_paths, package.files, strict=True)],
    }


# --- the readable summary ----------------------------------------------------------------------

def _items(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _day(value: Any) -> str:
    """dd/mm/yyyy for an ISO date, the text unchanged otherwise."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).strftime("%d/%m/%Y")
        except ValueError:
            return value
    return _text(value)


def _labels(items: Any, key: str) -> dict[str, str]:
    return {_text(item.get(key)): _text(item.get("label")) for item in _items(items)}


def request_summary(package: fmt.Package, digest: str, file_paths: list[str]) -> str:
    """request.txt: the request as the body's staff read it, and what an answer may contain."""
    content = package.content
    choices = content.get("choices") if isinstance(content.get("choices"), dict) else {}
    categories = _labels(choices.get("categories"), "code")
    classifications = _labels(choices.get("classifications"), "code")
    people = _labels(content.get("people"), "key")

    def classification(code: Any) -> str:
        return classifications.get(_text(code)) or _text(code)

    lines = [_("YÊU CẦU PHỐI HỢP XÁC MINH"), ""]
    lines.append(_("Số hồ sơ: %(value)s", value=_text(content.get("reference"))))
    body = content.get("body") if isinstance(content.get("body"), dict) else {}
    if body:
        lines.append(_("Cơ quan được đề nghị: %(value)s", value=_text(body.get("name") or body.get("code"))))
    if content.get("sent_on"):
        lines.append(_("Ngày gửi: %(value)s", value=_day(content.get("sent_on"))))
    lines.append(_("Độ mật: %(value)s", value=classification(content.get("classification"))))
    lines.append(_("Hạn trả lời: %(value)s", value=_day(content.get("due_on")) or "—"))
    lines.append(_("Mã yêu cầu: %(value)s", value=package.request_id))
    lines.append(_("Mã gói: %(value)s", value=package.package_id))
    lines.append(_("Gửi lúc: %(value)s", value=_text(package.created_at)))
    lines.append(_("Khóa cơ quan gửi: %(value)s", value=keys.fingerprint_text(package.sender or "")))
    lines.append(_("Dấu vân tay gói: %(value)s", value=fmt.digest_text(digest)))

    lines += ["", _("NỘI DUNG CẦN XÁC MINH"), _text(content.get("questions"))]

    subject_fields = _items(content.get("subject_fields"))
    if subject_fields:
        lines += ["", _("NGƯỜI ĐƯỢC XÁC MINH")]
        lines += [f"- {_text(item.get('label'))}: {_text(item.get('value'))}" for item in subject_fields]

    relatives = _items(content.get("relatives"))
    if relatives:
        lines += ["", _("NGƯỜI THÂN")]
        for number, relative in enumerate(relatives, start=1):
            lines.append(f"{number}. {_text(relative.get('label'))}")
            lines += [f"   - {_text(item.get('label'))}: {_text(item.get('value'))}"
                      for item in _items(relative.get("fields"))]

    findings = _items(content.get("findings"))
    if findings:
        lines += ["", _("KẾT QUẢ XÁC MINH ĐƯỢC CUNG CẤP KÈM")]
        for number, finding in enumerate(findings, start=1):
            about = people.get(_text(finding.get("about"))) or _text(finding.get("about"))
            lines.append(_("%(number)s. %(category)s · %(classification)s · ngày %(day)s · nguồn: "
                           "%(source)s · về: %(about)s", number=number,
                           category=categories.get(_text(finding.get("category"))) or _text(finding.get("category")),
                           classification=classification(finding.get("classification")),
                           day=_day(finding.get("found_on")) or "—",
                           source=_text(finding.get("source")) or "—", about=about or "—"))
            lines.append("   " + _text(finding.get("text")).replace("\n", "\n   "))

    if content.get("follow_up"):
        lines += ["", _("YÊU CẦU BỔ SUNG"), _text(content.get("follow_up"))]

    if package.files:
        lines += ["", _("TỆP KÈM THEO")]
        lines += [_("- %(path)s (%(size)s byte, %(classification)s)", path=path, size=len(file.content),
                    classification=classification(file.classification))
                  for path, file in zip(file_paths, package.files, strict=True)]

    lines += ["", _("KHI TRẢ LỜI"),
              _("Người mà một kết quả có thể nêu (trường person):")]
    lines += [f"  {key} — {label}" for key, label in people.items()] or [
        _("  (yêu cầu không nêu người nào: để trống trường person)")]
    lines.append(_("Loại kết quả (trường category):"))
    lines += [f"  {code} — {label}" for code, label in categories.items()] or ["  —"]
    lines.append(_("Độ mật (trường classification, và PATH=độ-mật cho tệp):"))
    lines += [f"  {code} — {label}" for code, label in classifications.items()] or ["  —"]
    limit = content.get("max_file_bytes")
    if isinstance(limit, int) and not isinstance(limit, bool):
        lines.append(_("Mỗi tệp gửi kèm tối đa %(limit)s byte.", limit=limit))
    example = [{"person": next(iter(people), None), "category": next(iter(categories), ""),
                "text": "...", "classification": next(iter(classifications), ""),
                "source": None, "found_on": date.today().isoformat()}]
    lines += [_("Tệp kết quả (--findings) là một danh sách JSON, ví dụ:"),
              json.dumps(example, ensure_ascii=False, indent=2),
              _("Lệnh lập gói trả lời:"),
              "  hoso-exchange answer GOI_YEU_CAU --answer-file tra-loi.txt --findings ket-qua.json "
              f"--file bien-ban.pdf={next(iter(classifications), 'CODE')} -o tra-loi.hoso", ""]
    return "\n".join(lines)


# --- answering -------------------------------------------------------------------------------

@cli.command("answer")
@click.argument("request_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--answer", "answer_text", default=None, help=_("Nội dung trả lời."))
@click.option("--answer-file", "answer_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=_("Tệp văn bản (UTF-8) chứa nội dung trả lời."))
@click.option("--findings", "findings_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=_("Tệp JSON: danh sách kết quả xác minh {person, category, text, classification, "
                     "source, found_on}."))
@click.option("--file", "attachments", multiple=True,
              help=_("Tệp gửi kèm, dạng ĐƯỜNG_DẪN hoặc ĐƯỜNG_DẪN=độ-mật (lặp lại được)."))
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help=_("Tệp gói trả lời sẽ ghi (phải chưa có)."))
@home_option
def answer_command(request_file: Path, answer_text: str | None, answer_file: Path | None,
                   findings_file: Path | None, attachments: tuple[str, ...], out: Path, home: Path):
    """Lập gói trả lời cho một gói yêu cầu: mã hóa cho cơ quan gửi, ký bằng khóa của đơn vị."""
    if (answer_text is None) == (answer_file is None):
        raise Refusal(_("Cho nội dung trả lời bằng đúng một trong hai: --answer hoặc --answer-file."))
    if out.exists():
        raise Refusal(_("Tệp %(path)s đã có: không ghi đè.", path=str(out)))
    key = _private_key(home)
    pinned = _pinned(home)
    if pinned is None:
        raise Refusal(_("Chưa ghim khóa của cơ quan gửi: hãy mở gói yêu cầu bằng hoso-exchange open trước."))
    request, _data = _open_request(request_file, key, pinned)
    if answer_file is not None:
        answer_text = _utf8(_read_limited(answer_file, MAX_ANSWER_FILE, _(
            "Tệp trả lời lớn hơn %(limit)s byte.", limit=MAX_ANSWER_FILE)), answer_file)
    findings = [{**dict.fromkeys(fmt.ANSWER_FINDING_FIELDS), **item} if isinstance(item, dict) else item
                for item in _findings(findings_file)]
    files = [_attachment(spec, request.content) for spec in attachments]
    content = {"answer": answer_text, "findings": findings}
    problems = fmt.answer_content_problems(content, request.content, files)
    if problems:
        more = _(" (và %(count)s lỗi khác)", count=len(problems) - 1) if len(problems) > 1 else ""
        raise Refusal(problems[0] + more)
    package = fmt.Package(kind="answer", package_id=fmt.new_package_id(), request_id=request.request_id,
                          in_reply_to=request.package_id, content=content, files=files)
    try:
        data = fmt.seal(package, sender=key, recipient=pinned)
    except fmt.PackageError as error:
        raise Refusal(str(error)) from None
    _write_new_file(out, data)
    click.echo(_("Đã ghi gói trả lời %(path)s (%(findings)s kết quả, %(files)s tệp).", path=str(out),
                 findings=len(findings), files=len(files)))
    click.echo(_("Dấu vân tay gói: %(digest)s", digest=fmt.digest_text(fmt.package_digest(data))))


def _utf8(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(_("Tệp %(path)s không phải văn bản UTF-8.", path=str(path))) from None


def _findings(path: Path | None) -> list:
    if path is None:
        return []
    text = _utf8(_read_limited(path, MAX_FINDINGS_FILE, _("Tệp kết quả lớn hơn %(limit)s byte.",
                                                        limit=MAX_FINDINGS_FILE)), path)
    try:
        findings = json.loads(text)
    except (ValueError, RecursionError):
        raise Refusal(_("Tệp kết quả %(path)s không phải JSON hợp lệ.", path=str(path))) from None
    if not isinstance(findings, list):
        raise Refusal(_("Tệp kết quả %(path)s phải là một danh sách JSON.", path=str(path)))
    return findings


def _attachment(spec: str, request_content: dict) -> fmt.PackageFile:
    """PATH or PATH=classification. A path that exists as given wins, so a name holding '='
    still works; without a classification the file takes the request's own, when allowed."""
    _people, _categories, classifications, max_file_bytes = fmt.request_choices(request_content)
    path, classification = Path(spec), None
    if not path.exists() and "=" in spec:
        path_text, classification = spec.rsplit("=", 1)
        path = Path(path_text)
    if classification is None:
        classification = request_content.get("classification")
        if classification not in classifications:
            raise Refusal(_("Tệp %(path)s: hãy ghi độ mật, dạng ĐƯỜNG_DẪN=độ-mật (xem request.txt).",
                            path=str(path)))
    limit = max_file_bytes if max_file_bytes is not None else fmt.MAX_PACKAGE_BYTES
    content = _read_limited(path, limit, _("Tệp %(path)s lớn hơn giới hạn %(limit)s byte của yêu cầu.",
                                           path=str(path), limit=limit))
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return fmt.PackageFile(name=path.name, content=content, media_type=media_type,
                           classification=classification)


def _write_new_file(path: Path, data: bytes) -> None:
    """Create `path` (never replacing a file) and write it whole, or leave nothing."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise Refusal(_("Tệp %(path)s đã có: không ghi đè.", path=str(path))) from None
    except OSError as error:
        raise Refusal(_("Không ghi được tệp %(path)s (%(reason)s).", path=str(path),
                        reason=error.strerror or type(error).__name__)) from None
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
    except OSError as error:
        path.unlink(missing_ok=True)
        raise Refusal(_("Không ghi được tệp %(path)s (%(reason)s).", path=str(path),
                        reason=error.strerror or type(error).__name__)) from None


# --- fingerprint -------------------------------------------------------------------------------

@cli.command("fingerprint")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def fingerprint_command(file: Path):
    """In dấu vân tay của một gói (yêu cầu hoặc trả lời) để đọc đối chiếu qua điện thoại."""
    data = _package_bytes(file)
    if not data.startswith(fmt.MAGIC):
        raise Refusal(_("Đây không phải gói trao đổi Hoso."))
    digest = fmt.package_digest(data)
    click.echo(_("Dấu vân tay gói: %(digest)s", digest=fmt.digest_text(digest)))


# --- entry point ---------------------------------------------------------------------------------

def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    """Run a command; 0 on success, 1 with one line on stderr on any refusal or bad usage."""
    try:
        cli.main(args=argv, prog_name="hoso-exchange", standalone_mode=False)
    except _NO_ARGS_IS_HELP as error:
        click.echo(error.ctx.get_help() if error.ctx else "")
        return 0
    except click.UsageError as error:
        click.echo(_one_line(_("Lệnh không đúng: %(reason)s (xem hoso-exchange --help).",
                               reason=error.format_message())), err=True)
        return 1
    except click.ClickException as error:
        click.echo(_one_line(error.format_message()), err=True)
        return 1
    except click.Abort:
        click.echo(_("Đã dừng."), err=True)
        return 1
    except Exception as error:
        # The last guard: a line, never a traceback. The type only: an unexpected error's message could quote a protected value.
        click.echo(_("Lỗi không mong đợi (%(kind)s): không ghi gì.", kind=type(error).__name__), err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
