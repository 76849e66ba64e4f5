"""Bulk digitisation (issue 24 B.2): a folder of scans filed into the registers of a unit's
dossiers, as `flask --app app archive import` runs it (cases/archive/cli.py).

Two ways to say which scan belongs to whom:

- **Folders**: one sub-folder per person, named by their citizen ID (spaces, dots and dashes
  allowed, as the citizen-ID normaliser takes them); each file in it becomes one document of
  that dossier's register, in natural file-name order (`trang-2` before `trang-10`), titled
  by its file name without the extension, of type "other" (khác).
- **A manifest** (UTF-8 CSV with a header): one line per file, `citizen_id` and `file` (a
  path relative to the folder) required; the register fields `doc_type`, `number`,
  `issued_on` (YYYY-MM-DD or DD/MM/YYYY), `issuer`, `title`, `classification`,
  `paper_location` optional; and `document`, a label of the operator's choosing: the lines
  of one person with the same label are ONE document with several scans (in line order), its
  register fields given on any of those lines (the same value where given twice). A line
  without a label is a document of its own. Documents take their places in line order.

Either way the new documents follow the dossier's existing ones. The file's content decides
what it is (cases/archive/scans.py: PDF, TIFF, JPEG or PNG that opens), never its name.

Nothing half-filed. `check` reads every file once and keeps only what it learned (path,
size, type, pages, keyed MAC), never the bytes, so a folder of any size fits in memory; it
refuses, by file or by manifest line, unknown citizen IDs, another unit's dossiers,
unreadable or disguised files, files over HOSO_MAX_UPLOAD_MB, duplicates (in the archive or
twice in this folder) and bad manifest lines. `file_plan` files only a plan with nothing
refused (or, when the operator asks, only the documents nothing refused), reading each file
again and refusing it if its bytes are no longer those checked.

One transaction per dossier, not one for the run: a dossier's documents, scans and audit
entries commit together or not at all, so a crash midway leaves every dossier either whole
or untouched; and the database's write lock (SQLite has one writer) and the session's sealed
blobs are held for one dossier at a time, not for the minutes a province-sized folder takes.
Running the same folder again after a crash refuses the filed dossiers' scans as duplicates;
with --skip-refused it files the rest.

Reports name files and manifest lines (the operator's own disk), never a file's content.
The audit trail gets one entry per document and per scan filed, and one for the run with
counts only: no name, ID number or file name.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload, load_only

from audit.trail import record
from cases.archive import register
from cases.archive.models import ArchiveScan
from cases.archive.register import DocumentData
from cases.archive.scans import (
    ScanRefused,
    add_scan,
    count_pages,
    scan_mac,
    scan_type,
)
from cases.archive.vocabulary import DOCUMENT_TYPES
from cases.models import Subject
from protection.blobs import max_upload_bytes
from protection.crypto import current_keyring
from protection.db import db
from protection.forms import parse_date
from protection.i18n import local_today
from protection.identity import CLEARANCE_LABELS, Clearance, Unit, User
from protection.search import InvalidCitizenId, citizen_id, find, vietnamese_name

REQUIRED_COLUMNS = ("citizen_id", "file")
REGISTER_COLUMNS = ("doc_type", "number", "issued_on", "issuer", "title", "classification", "paper_location")
MANIFEST_COLUMNS = (*REQUIRED_COLUMNS, "document", *REGISTER_COLUMNS)
MAX_FIELD_LENGTH = 500
# What file managers and scanners leave beside the scans; never a scan.
IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini"})
DEFAULT_TYPE = "other"
READ_PIECE = 1024 * 1024

Progress = Callable[[int], None]


class ManifestError(ValueError):
    """The manifest as a whole cannot be read (encoding, header): one line for the operator."""


# --- the register ------------------------------------------------------------------------------
# The register's own limits, checked before anything is filed, so that add_document's checks
# never refuse an import midway.
FIELD_LIMITS = {"number": register.MAX_NUMBER, "issuer": register.MAX_ISSUER, "title": register.MAX_TITLE,
                "paper_location": register.MAX_LOCATION}


def _document_types() -> dict[str, str]:
    """The register's type codes with their Vietnamese labels: a manifest may name a type by either."""
    with force_locale("vi"):
        return {code: str(label) for code, label in DOCUMENT_TYPES.items()}


# --- what the run will do -----------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    """Why something is refused: `where` is a file (relative to the folder), a folder or a
    manifest line; `reason` never quotes a file's content."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class ScanFile:
    path: Path
    shown: str  # the path relative to the folder, as the report names it
    where: str  # what the report names for it: the file, or "dòng 7 (file)"
    size: int = 0
    content_type: str = ""
    pages: int = 0
    mac: str = ""


@dataclass
class PlannedDocument:
    data: DocumentData
    files: list[ScanFile]
    refused: bool = False

    @property
    def pages(self) -> int:
        return sum(item.pages for item in self.files)


@dataclass
class PlannedDossier:
    id_number: str  # normalised; in memory only, never printed or recorded
    where: str  # the sub-folder, or the manifest's first line for this person
    documents: list[PlannedDocument] = field(default_factory=list)
    subject_id: uuid.UUID | None = None
    refused: bool = False

    def acceptable(self) -> list[PlannedDocument]:
        return [] if self.refused or self.subject_id is None else [
            document for document in self.documents if not document.refused]


@dataclass
class Counts:
    dossiers: int = 0
    documents: int = 0
    scans: int = 0
    pages: int = 0

    def add(self, documents: list[PlannedDocument]) -> None:
        if documents:
            self.dossiers += 1
            self.documents += len(documents)
            self.scans += sum(len(document.files) for document in documents)
            self.pages += sum(document.pages for document in documents)


@dataclass
class ImportPlan:
    folder: Path
    dossiers: list[PlannedDossier] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def files(self) -> int:
        return sum(len(document.files) for dossier in self.dossiers for document in dossier.documents)

    def acceptable(self) -> Counts:
        counts = Counts()
        for dossier in self.dossiers:
            counts.add(dossier.acceptable())
        return counts


# --- gathering: which file goes where (no database, no scan read yet) ---------------------------

def natural_key(name: str) -> tuple:
    """`trang-2` before `trang-10`, as a person numbering pages expects; then by the name itself."""
    parts = re.split(r"([0-9]+)", name)
    return [int(part) if index % 2 else part.casefold() for index, part in enumerate(parts)], name


def _ignored(path: Path) -> bool:
    return path.name.startswith(".") or path.name.casefold() in IGNORED_NAMES


def _inside(folder: Path, path: Path) -> bool:
    """Whether `path`, links followed, is in `folder`: a manifest's `../x` or a link to
    /etc is never read."""
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _shown(folder: Path, path: Path) -> str:
    return path.relative_to(folder).as_posix()


def _normal_id(text: str) -> str | None:
    try:
        return citizen_id(text)
    except InvalidCitizenId:
        return None


def gather_folders(folder: Path) -> ImportPlan:
    """The folder layout: a sub-folder per person named by citizen ID, each file a document."""
    plan = ImportPlan(folder)
    seen: dict[str, PlannedDossier] = {}
    for entry in sorted(folder.iterdir(), key=lambda path: natural_key(path.name)):
        if _ignored(entry):
            continue
        shown = _shown(folder, entry)
        if not _inside(folder, entry):
            plan.problems.append(Problem(shown, _("liên kết trỏ ra ngoài thư mục nhập: không đọc.")))
            continue
        if not entry.is_dir():
            plan.problems.append(Problem(shown, _(
                "tệp nằm ngoài thư mục của một người: mỗi người một thư mục con đặt tên theo số định danh.")))
            continue
        where = f"{shown}/"
        id_number = _normal_id(entry.name)
        if id_number is None:
            plan.problems.append(Problem(where, _(
                "tên thư mục không phải số định danh (12 chữ số CCCD hoặc 9 chữ số CMND).")))
            continue
        if id_number in seen:
            plan.problems.append(Problem(where, _("cùng số định danh với thư mục %(other)s.",
                                                  other=seen[id_number].where)))
            continue
        dossier = seen[id_number] = PlannedDossier(id_number, where)
        plan.dossiers.append(dossier)
        for path in sorted(entry.iterdir(), key=lambda path: natural_key(path.name)):
            if _ignored(path):
                continue
            file_shown = _shown(folder, path)
            if not _inside(folder, path):
                plan.problems.append(Problem(file_shown, _("liên kết trỏ ra ngoài thư mục nhập: không đọc.")))
                dossier.refused = True
                continue
            if path.is_dir():
                plan.problems.append(Problem(f"{file_shown}/", _(
                    "thư mục lồng trong thư mục của một người không được nhận: đặt các tệp ngay trong "
                    "thư mục mang số định danh.")))
                dossier.refused = True
                continue
            if not path.is_file():  # a pipe or a device: reading it could wait forever
                plan.problems.append(Problem(file_shown, _("không phải tệp thông thường: không đọc.")))
                dossier.refused = True
                continue
            scan = ScanFile(path, file_shown, file_shown)
            dossier.documents.append(PlannedDocument(
                DocumentData(doc_type=DEFAULT_TYPE, title=path.stem or path.name), [scan]))
    return plan


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ManifestError(_("tệp kê khai không phải UTF-8 (byte sai đầu tiên ở dòng %(line)d): hãy lưu "
                             "dưới dạng CSV UTF-8.", line=line)) from None


def _folded(text: str) -> str:
    return vietnamese_name(text) or ""


def _vocabulary_match(value: str, labels: dict[str, str]) -> str | None:
    """The code whose code or Vietnamese label `value` names (case and marks aside)."""
    wanted = _folded(value.replace("_", " "))
    for code, label in labels.items():
        if wanted in (_folded(code.replace("_", " ")), _folded(label)):
            return code
    return None


def _classification_labels() -> dict[str, str]:
    with force_locale("vi"):
        return {level.value: str(label) for level, label in CLEARANCE_LABELS.items()}


@dataclass
class _Group:
    """The lines of one manifest document, while they are read."""

    first_line: int
    dossier: PlannedDossier
    values: dict[str, object]
    value_lines: dict[str, int]
    files: list[ScanFile]
    refused: bool = False


def _line(line: int) -> str:
    return _("dòng %(line)d", line=line)


def _row_values(folder: Path, line: int, row: dict[str, str], problems: list[Problem]) -> dict | None:
    """The checked values of one manifest line, or None (its problems added) when it is bad."""
    where = _line(line)
    found: list[str] = []
    for name, value in row.items():
        limit = FIELD_LIMITS.get(name, MAX_FIELD_LENGTH)
        if name != "file" and len(value) > limit:
            found.append(_("cột %(column)s dài quá %(limit)d ký tự.", column=name, limit=limit))
    id_number = _normal_id(row["citizen_id"]) if row["citizen_id"] else None
    if id_number is None:
        found.append(_("số định danh không hợp lệ (12 chữ số CCCD hoặc 9 chữ số CMND)."))
    values: dict[str, object] = {}
    relative = row["file"].replace("\\", "/")  # a path written on Windows
    path = None
    if not relative:
        found.append(_("thiếu tên tệp (cột file)."))
    else:
        path = folder / relative
        if Path(relative).is_absolute() or not _inside(folder, path):
            found.append(_("tệp %(file)s nằm ngoài thư mục nhập.", file=relative))
            path = None
        elif not path.is_file():
            found.append(_("không có tệp %(file)s.", file=relative))
            path = None
    if row.get("doc_type"):
        doc_type = _vocabulary_match(row["doc_type"], _document_types())
        if doc_type is None:
            found.append(_("loại văn bản không rõ (dùng một mã hoặc tên loại của mục lục văn bản)."))
        values["doc_type"] = doc_type
    if row.get("issued_on"):
        issued_on = parse_date(row["issued_on"])
        if issued_on is None:
            found.append(_("ngày ban hành không hợp lệ (YYYY-MM-DD hoặc DD/MM/YYYY)."))
        elif issued_on > local_today():
            found.append(_("ngày ban hành ở tương lai."))
        values["issued_on"] = issued_on
    if row.get("classification"):
        classification = _vocabulary_match(row["classification"], _classification_labels())
        if classification is None:
            found.append(_("độ mật không rõ (không mật, mật, tối mật hoặc tuyệt mật)."))
        values["classification"] = Clearance(classification) if classification else None
    for name in ("number", "issuer", "title", "paper_location"):
        if row.get(name):
            values[name] = " ".join(row[name].split())
    if found:
        problems.extend(Problem(where, reason) for reason in found)
        return None
    shown = _shown(folder, path)
    return {"id_number": id_number, "document": row.get("document", ""), "values": values,
            "file": ScanFile(path, shown, f"{where} ({shown})")}


def _header(reader) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise ManifestError(_("tệp kê khai rỗng: cần một dòng tiêu đề.")) from None
    except csv.Error:
        raise ManifestError(_("dòng 1: không phải CSV hợp lệ.")) from None
    columns = [name.strip().lower() for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise ManifestError(_("dòng 1: thiếu cột %(columns)s.", columns=", ".join(missing)))
    unknown = [name for name in columns if name not in MANIFEST_COLUMNS]
    if unknown:
        raise ManifestError(_("dòng 1: cột không rõ %(columns)s (các cột nhận được: %(known)s).",
                             columns=", ".join(unknown), known=", ".join(MANIFEST_COLUMNS)))
    twice = sorted({name for name in columns if columns.count(name) > 1})
    if twice:
        raise ManifestError(_("dòng 1: cột %(columns)s có hai lần.", columns=", ".join(twice)))
    return columns


def gather_manifest(folder: Path, manifest: bytes) -> ImportPlan:
    """The manifest layout (see the module's docstring). ManifestError when the file as a whole
    cannot be read; a bad line is a problem of its own and refuses its document."""
    plan = ImportPlan(folder)
    reader = csv.reader(io.StringIO(_decode(manifest), newline=""))
    columns = _header(reader)
    dossiers: dict[str, PlannedDossier] = {}
    groups: dict[tuple[str, str], _Group] = {}
    ordered: list[_Group] = []
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error:
            plan.problems.append(Problem(_line(reader.line_num), _("không phải CSV hợp lệ.")))
            break
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(columns):
            plan.problems.append(Problem(_line(line), _(
                "có %(found)d cột, tiêu đề có %(expected)d: thiếu hoặc thừa cột.",
                found=len(cells), expected=len(columns))))
            continue
        row = dict(zip(columns, (cell.strip() for cell in cells), strict=True))
        checked = _row_values(folder, line, row, plan.problems)
        if checked is None:
            # Its document (if it names one) must not be filed without this file.
            id_number = _normal_id(row["citizen_id"]) if row["citizen_id"] else None
            if id_number and row.get("document") and (id_number, row["document"]) in groups:
                groups[(id_number, row["document"])].refused = True
            elif id_number and row.get("document"):
                dossier = dossiers.setdefault(id_number, PlannedDossier(id_number, _line(line)))
                group = _Group(line, dossier, {}, {}, [], refused=True)
                groups[(id_number, row["document"])] = group
                ordered.append(group)
            continue
        id_number = checked["id_number"]
        if id_number not in dossiers:
            dossiers[id_number] = PlannedDossier(id_number, _line(line))
        key = (id_number, checked["document"]) if checked["document"] else (id_number, f"\0{line}")
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(line, dossiers[id_number], {}, {}, [])
            ordered.append(group)
        for name, value in checked["values"].items():
            if name in group.values and group.values[name] != value:
                plan.problems.append(Problem(_line(line), _(
                    "cột %(column)s khác với dòng %(other)d của cùng văn bản.",
                    column=name, other=group.value_lines[name])))
                group.refused = True
            else:
                group.values.setdefault(name, value)
                group.value_lines.setdefault(name, line)
        group.files.append(checked["file"])
    for dossier in dossiers.values():
        plan.dossiers.append(dossier)
    for group in ordered:
        values = dict(group.values)
        title = values.pop("title", None) or (group.files[0].path.stem if group.files else "")
        data = DocumentData(title=title, doc_type=values.pop("doc_type", None) or DEFAULT_TYPE,
                            classification=values.pop("classification", None) or Clearance.UNCLASSIFIED,
                            **values)
        group.dossier.documents.append(PlannedDocument(data, group.files, refused=group.refused))
    return plan


# --- checking: every file read once, every dossier looked up ------------------------------------

def read_scan(path: Path) -> bytes:
    """The file's bytes, at most one past the upload limit (a file grown past it is never held
    whole); ScanRefused when it is too large or cannot be read."""
    limit = max_upload_bytes()
    too_large = ScanRefused(_("Tệp quá lớn: giới hạn là %(limit)d MB.", limit=limit // (1024 * 1024)))
    try:
        if path.stat().st_size > limit:
            raise too_large
        # In pieces: read(limit + 1) would allocate the whole limit up front for every file.
        data = bytearray()
        with path.open("rb") as handle:
            while piece := handle.read(READ_PIECE):
                data += piece
                if len(data) > limit:  # it grew since stat()
                    raise too_large
    except OSError as error:
        raise ScanRefused(_("không đọc được tệp (%(error)s).", error=error.strerror or type(error).__name__)) from None
    return bytes(data)


def _check_file(scan: ScanFile) -> None:
    data = read_scan(scan.path)
    scan.size = len(data)
    scan.content_type = scan_type(data)
    scan.pages = count_pages(data, scan.content_type)
    scan.mac = scan_mac(data)


def _find_dossier(dossier: PlannedDossier, unit: Unit) -> Problem | None:
    matches = find(Subject.id_number_index, dossier.id_number)
    own = [subject for subject in matches if subject.owner_unit_id == unit.id]
    if own:
        dossier.subject_id = own[0].id
        return None
    if matches:
        return Problem(dossier.where, _("hồ sơ của người này thuộc đơn vị khác, không phải %(unit)s.",
                                        unit=unit.code))
    return Problem(dossier.where, _("đơn vị %(unit)s không có hồ sơ mang số định danh này.", unit=unit.code))


def check(plan: ImportPlan, unit: Unit, *, progress: Progress | None = None) -> ImportPlan:
    """Look every dossier up in `unit` and check every file (content, size, pages, duplicates
    in the archive and in this folder); refused documents are marked and their problems added.
    Reads only: the caller ends the transaction."""
    first_of: dict[str, tuple[ScanFile, PlannedDocument]] = {}
    for dossier in plan.dossiers:
        problem = _find_dossier(dossier, unit)
        if problem is not None:
            plan.problems.append(problem)
            dossier.refused = True
        for document in dossier.documents:
            for scan in document.files:
                try:
                    _check_file(scan)
                    if scan.mac in first_of:
                        raise ScanRefused(_("trùng nội dung với %(other)s.", other=first_of[scan.mac][0].where))
                    first_of[scan.mac] = scan, document
                except ScanRefused as refused:
                    plan.problems.append(Problem(scan.where, refused.message))
                    document.refused = True
                if progress is not None:
                    progress(1)
        # Lookups decrypt a few candidates each: let a big run's keys go as it moves on.
        current_keyring().forget_all()
    for scan, document in _already_filed(first_of):
        plan.problems.append(Problem(scan.where, _("Bản quét này đã có trong kho lưu trữ (trùng nội dung).")))
        document.refused = True
    return plan


def _already_filed(checked: dict[str, tuple[ScanFile, PlannedDocument]], chunk: int = 500):
    """The checked files whose bytes the archive already holds (by their keyed MAC), in the
    folder's order: a query per `chunk` files, not one per file."""
    macs = list(checked)
    filed: set[str] = set()
    for start in range(0, len(macs), chunk):
        filed.update(db.session.scalars(select(ArchiveScan.content_mac)
                                        .where(ArchiveScan.content_mac.in_(macs[start:start + chunk]))))
    return [checked[mac] for mac in macs if mac in filed]


# --- filing: one transaction per dossier ----------------------------------------------------------

class _Changed(Exception):  # a signal inside file_plan, never raised out of it
    """A file's bytes are no longer those checked."""


def _reread(scan: ScanFile) -> bytes:
    try:
        data = read_scan(scan.path)
    except ScanRefused:
        raise _Changed from None
    if scan_mac(data) != scan.mac:
        raise _Changed
    return data


def _file_dossier(dossier: PlannedDossier, documents: list[PlannedDocument], *, by: User | None,
                  progress: Progress | None) -> None:
    # Its key is all the filing needs of the dossier: none of its sealed fields is opened. Its
    # row is locked (PostgreSQL; SQLite has one writer anyway), as the register's own changes
    # lock it, so the positions taken below are not taken meanwhile by an editor.
    subject = db.session.scalars(select(Subject).where(Subject.id == dossier.subject_id).options(
        load_only(Subject.id, Subject.data_key_id, Subject.owner_unit_id), lazyload(Subject.owner_unit))
        .with_for_update()).one()
    first = register.next_position(subject.id)
    for offset, planned in enumerate(documents):
        document = register.add_document(subject, replace(planned.data, page_count=planned.pages), by=by,
                                 position=first + offset)
        for scan in planned.files:
            data = _reread(scan)
            filed = add_scan(document, data, scan.path.name, by=by,
                             checked=(scan.content_type, scan.pages, scan.mac))
            # Written (add_scan flushed): its bytes need not stay in the session until the
            # dossier commits, so a dossier of many large scans holds one at a time.
            db.session.expire(filed.blob, ["content"])
            if progress is not None:
                progress(1)
    db.session.flush()


def file_plan(plan: ImportPlan, unit: Unit, *, by: User | None = None,
              progress: Progress | None = None) -> tuple[Counts, list[Problem]]:
    """File every acceptable document, committing dossier by dossier; a dossier that fails
    (a file changed since it was checked, a scan another run filed meanwhile) is rolled back
    whole and reported, and the others go on. Then the run's summary entry, committed."""
    unit_id = unit.id  # read now: the commits below expire it
    filed, failed = Counts(), []
    for dossier in plan.dossiers:
        documents = dossier.acceptable()
        if not documents:
            continue
        try:
            _file_dossier(dossier, documents, by=by, progress=progress)
            db.session.commit()
        except _Changed:
            db.session.rollback()
            failed.append(Problem(dossier.where, _(
                "một tệp đã thay đổi hoặc không còn đọc được sau khi kiểm tra: hồ sơ này không được nạp.")))
        except IntegrityError:
            db.session.rollback()
            failed.append(Problem(dossier.where, _(
                "một lần chạy hoặc người dùng khác vừa ghi vào hồ sơ này (bản quét trùng hoặc vị trí trong "
                "mục lục): hồ sơ này không được nạp.")))
        except BaseException:
            db.session.rollback()
            raise
        else:
            filed.add(documents)
        finally:
            # The commit expired the dossier's objects (their sealed blobs go with them); its
            # data key goes too, so a province-sized run holds one dossier's worth at a time.
            current_keyring().forget_all()
    record_run(unit_id, filed, refused=len(plan.problems) + len(failed), by=by)
    db.session.commit()
    return filed, failed


def record_run(unit_id: uuid.UUID, counts: Counts, *, refused: int, by: User | None = None,
               dry_run: bool = False, outcome: str = "success") -> None:
    """The run's summary entry: counts only (no name, ID number or file name)."""
    record("archive.import", target_type="unit", target_id=unit_id, actor=by, outcome=outcome,
           dossiers=counts.dossiers, documents=counts.documents, scans=counts.scans, pages=counts.pages,
           refused=refused, dry_run=dry_run)
