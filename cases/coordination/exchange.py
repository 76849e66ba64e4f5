"""Coordination requests as exchange packages, for partner bodies off the intranet (issue 21
§B): the organisation's exchange key, the key a body registered, export of a request and
import of the body's answer.

The package format and its cryptography are protection/exchange/ (age to the recipient,
Ed25519 by the sender, a manifest naming both). This module decides what goes in and what an
answer may do:

- Export: exactly the disclosure package the body's exchange account would see on the
  liaison page (coordination.package under that account's clearance), the questions, due
  date and follow-up, what an answer may hold (the finding categories, the classifications
  and the size of a file). Written to the ledger (exchange_packages) and audited in the
  request's transaction; the file is the response, nothing of it is kept.
- Import: the answer is opened with the body's CURRENT key and treated exactly like a
  liaison's answer, written through the liaison's own operations as the body's exchange
  account (acknowledge, log_body_finding, attach_to_answer, answer), so every check of the
  web applies unchanged. All of it or nothing: a refusal midway rolls the request's
  transaction back (a savepoint would not do: audit entries recorded inside it would still
  commit, audit/trail.py keeps them per transaction).

Messages of ExchangeRefused name no protected value; audit details hold ids, digests,
fingerprints and counts only.
"""

from __future__ import annotations

import io
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from audit.trail import keys_dir, record
from cases import labels, workflow
from cases.casework.operations import CaseError, FindingData
from cases.coordination import operations as coordination
from cases.models import CoordinationRequest
from cases.partners.models import ExchangeKey, ExchangePackage
from protection import policy
from protection.blobs import max_upload_bytes
from protection.clock import utcnow
from protection.db import db
from protection.exchange import format as package_format
from protection.exchange import keys
from protection.exchange.format import Package, PackageError, PackageFile
from protection.identity import CLEARANCE_ORDER, Clearance, User

ORGANISATION_KEY_NAME = "exchange-organisation.key"
# What one answer package may bring in: far above a real answer, low enough that a forged
# package cannot make one import write without end. A finding's text and the answer have
# the liaison forms' limits (cases/coordination/forms.py).
MAX_FINDINGS = 500
MAX_FILES = 100
MAX_FINDING_TEXT = 10000
MAX_ANSWER_TEXT = 20000
MAX_SOURCE_TEXT = 500
PACKAGE_SUFFIX = ".hoso"


class ExchangeRefused(CaseError):
    """An export or import that cannot be done; one line for the officer, beside the upload
    field (import) or flashed (export). Nothing was written."""

    def __init__(self, message: str, field: str | None = "package"):
        super().__init__(message, field)


# --- the organisation's key ---------------------------------------------------------------------

def organisation_key_path() -> Path:
    return keys_dir() / ORGANISATION_KEY_NAME


def ensure_organisation_key() -> tuple[keys.PrivateKey, bool]:
    """The organisation's exchange key, made on first use: (key, made now). Several workers
    may get here first at once: each writes a complete file under a name of its own and links
    it into place; link(2) fails when the name exists, so exactly one key wins and nobody
    reads a half-written file (as audit/signing.py does for the checkpoint key)."""
    path = organisation_key_path()
    made = False
    if not path.exists():
        if _packages_exchanged():
            # A key lost after packages went out: a new one would open none of the answers on
            # their way and would not match what the bodies pinned. Restore it from a backup.
            raise ExchangeRefused(_("Không tìm thấy khóa trao đổi của Tỉnh ủy dù đã có gói được trao đổi: hãy "
                                    "khôi phục tệp khóa từ bản sao lưu (quản trị hệ thống)."), None)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        draft = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            keys.save_private(keys.generate(), draft)
            try:
                os.link(draft, path)
                made = True
            except FileExistsError:
                made = False  # another worker won; its key is complete
        except keys.KeyError_ as error:
            raise ExchangeRefused(_("Không tạo được khóa trao đổi của Tỉnh ủy: hãy báo quản trị hệ thống."),
                                  None) from error
        finally:
            draft.unlink(missing_ok=True)
    try:
        return keys.load_private(path), made
    except keys.KeyError_ as error:
        raise ExchangeRefused(_("Không đọc được khóa trao đổi của Tỉnh ủy: hãy báo quản trị hệ thống."),
                              None) from error


def _packages_exchanged() -> bool:
    return db.session.scalar(select(ExchangePackage.id).limit(1)) is not None


def organisation_key() -> keys.PrivateKey:
    return ensure_organisation_key()[0]


def organisation_public() -> keys.PublicKey:
    return organisation_key().public


def organisation_public_if_any() -> keys.PublicKey | None:
    """The organisation's public key for a page to show; None when it cannot be had (lost
    after packages went out): the page says so instead of failing."""
    try:
        return organisation_public()
    except ExchangeRefused:
        return None


def on_instance_initialised(_app, keys_dir: Path) -> str:
    """`flask init` makes the key now, so that a copy of instance/keys taken after it holds
    it (protection/signals.py)."""
    try:
        key, made = ensure_organisation_key()
    except ExchangeRefused as refused:
        return f"WARNING: {refused.message}"
    return (f"{'Wrote' if made else 'Using'} the exchange key {keys_dir / ORGANISATION_KEY_NAME} "
            f"(fingerprint {keys.fingerprint_text(key.public.fingerprint)}; keep it beside every backup).")


# --- the bodies' keys ------------------------------------------------------------------------------

def current_key(unit_id: uuid.UUID) -> ExchangeKey | None:
    """The key a body registered last and still stands (not replaced)."""
    return db.session.scalar(select(ExchangeKey).where(ExchangeKey.unit_id == unit_id,
                                                       ExchangeKey.replaced_at.is_(None))
                             .order_by(ExchangeKey.registered_at.desc()).limit(1))


def open_exported_requests(unit_id: uuid.UUID) -> list[CoordinationRequest]:
    """Open requests to the body that went out as packages: their officers hear of a new key
    (an answer under the old one will be refused, and a new package may be needed)."""
    exported = select(ExchangePackage.request_id).where(ExchangePackage.direction == "out")
    rows = db.session.scalars(select(CoordinationRequest).where(
        CoordinationRequest.body_unit_id == unit_id, CoordinationRequest.id.in_(exported),
        CoordinationRequest.state.not_in(workflow.COORDINATION.final))).all()
    return list(rows)


def _body_key(request_: CoordinationRequest) -> ExchangeKey:
    key = current_key(request_.body_unit_id)
    if key is None:
        raise ExchangeRefused(_("Cơ quan này chưa đăng ký khóa trao đổi: hãy đề nghị quản trị hệ thống "
                                "đăng ký khóa công khai của cơ quan trước."))
    account = key.service_user
    if not account.active or not policy.can_respond_to_request(account, request_):
        raise ExchangeRefused(_("Tài khoản trao đổi của cơ quan không được tiếp cận yêu cầu này (độ mật của "
                                "hồ sơ cao hơn mức được cấp cho tài khoản, hoặc tài khoản đã bị khóa)."))
    return key


def _public(key: ExchangeKey) -> keys.PublicKey:
    try:
        return keys.parse_public(key.public_key)
    except keys.KeyError_ as error:  # only a row changed outside the app gets here
        raise ExchangeRefused(_("Khóa trao đổi đã đăng ký của cơ quan không dùng được: hãy đăng ký lại."),
                              None) from error


# --- the ledger ----------------------------------------------------------------------------------

def packages_of(request_: CoordinationRequest) -> list[ExchangePackage]:
    return list(db.session.scalars(select(ExchangePackage).where(ExchangePackage.request_id == request_.id)
                                   .order_by(ExchangePackage.created_at, ExchangePackage.id)))


def latest_export(request_: CoordinationRequest) -> ExchangePackage | None:
    return db.session.scalar(select(ExchangePackage).where(ExchangePackage.request_id == request_.id,
                                                           ExchangePackage.direction == "out")
                             .order_by(ExchangePackage.created_at.desc()).limit(1))


def answered(request_package: ExchangePackage) -> bool:
    """Whether an answer to this request package has been imported."""
    return db.session.scalar(select(ExchangePackage.id).where(ExchangePackage.direction == "in",
                                                             ExchangePackage.in_reply_to == request_package.id)
                             .limit(1)) is not None


def load_package(request_: CoordinationRequest, package_id: uuid.UUID) -> ExchangePackage:
    row = db.session.get(ExchangePackage, package_id)
    if row is None or row.request_id != request_.id:
        policy.deny("case.view", status=404)
    return row


def digest_text(sha256: str) -> str:
    """The package file's SHA-256 in groups of four, all 64 digits, as the body's console
    prints it: read aloud or compared on paper."""
    return package_format.digest_text(sha256)


# --- export --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Export:
    filename: str
    data: bytes
    row: ExchangePackage


def can_export(request_: CoordinationRequest) -> bool:
    """While the body has still to answer: sent, acknowledged or asked for more."""
    return workflow.awaiting_liaison(request_.state)


def export_request(request_: CoordinationRequest, *, by: User) -> Export:
    """The request as a package for its body: signed by the organisation, encrypted to the
    body's registered key. ExchangeRefused (nothing written) when the request no longer waits
    for the body, or the body has no key its account may use."""
    if not can_export(request_):
        raise ExchangeRefused(_("Chỉ xuất gói khi yêu cầu đang chờ cơ quan phối hợp trả lời (không xuất yêu "
                                "cầu đã rút, đã kết thúc hoặc đang chờ xử lý trả lời)."))
    key = _body_key(request_)
    recipient = _public(key)
    sender = organisation_key()
    with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE", "vi")):
        # The body reads the package in Vietnamese whatever the officer's interface language.
        content, files = request_content(request_, key.service_user)
    package = Package(kind="request", package_id=str(uuid.uuid4()), request_id=str(request_.id),
                      content=content, files=files)
    data = package_format.seal(package, sender=sender, recipient=recipient)
    row = ExchangePackage(id=uuid.UUID(package.package_id), request_id=request_.id, direction="out",
                          in_reply_to=None, sha256=package_format.package_digest(data),
                          key_fingerprint=key.fingerprint, created_by_id=by.id)
    db.session.add(row)
    db.session.flush()
    record("exchange.export", target_type="case", target_id=request_.case_id, actor=by, request=request_.id,
           package=row.id, key=key.fingerprint, sha256=row.sha256, fields=len(content["subject_fields"]),
           relatives=len(content["relatives"]), findings=len(content["findings"]), attachments=len(files),
           bytes=len(data))
    return Export(filename=package_filename(request_, row), data=data, row=row)


def package_filename(request_: CoordinationRequest, row: ExchangePackage) -> str:
    """The case's reference (printed on paper anyway), the request and the package: never a
    protected value."""
    stamp = row.created_at.strftime("%Y%m%d-%H%M") if row.created_at else utcnow().strftime("%Y%m%d-%H%M")
    direction = "yeu-cau" if row.direction == "out" else "tra-loi"
    return (f"{request_.case.reference}_{direction}-{str(request_.id)[:8]}_{stamp}_"
            f"{str(row.id)[:8]}{PACKAGE_SUFFIX}")


def answer_classifications(account: User, request_: CoordinationRequest) -> list[Clearance]:
    """The levels a finding or file of the answer may carry: no higher than the account's
    clearance and the case's classification (the liaison forms offer the same)."""
    ceiling = min(Clearance(account.clearance).rank, Clearance(request_.case.classification).rank)
    return [level for level in CLEARANCE_ORDER if level.rank <= ceiling]


def request_content(request_: CoordinationRequest, account: User) -> tuple[dict[str, Any], list[PackageFile]]:
    """The package's `content` and files: what `account` (the body's exchange account) sees on
    the liaison page, and what its answer may hold."""
    case = request_.case
    shown = coordination.package(request_, account)
    subject_fields = [{"field": name, "label": str(label), "value": value}
                      for name, (label, value) in zip(request_.shared_subject_fields, shown["subject_fields"],
                                                      strict=False)]
    relatives = [{"label": label, "fields": [{"label": str(field_label), "value": value}
                                             for field_label, value in values]}
                 for label, values in shown["relatives"]]
    about = coordination.liaison_person_labels(request_, shown["findings"])
    findings = [{"id": str(item.id), "category": item.category, "text": item.text,
                 "classification": Clearance(item.classification).value, "source": item.source,
                 "found_on": item.found_on.isoformat() if item.found_on else None, "about": about.get(item.id)}
                for item in shown["findings"]]
    files = [PackageFile(name=item.blob.filename, content=item.blob.content, media_type=item.blob.content_type,
                         classification=Clearance(item.classification).value, id=str(item.id))
             for item in shown["attachments"]]
    people = coordination.disclosed_people(request_) if case.kind == "review" else {}
    content = {
        "reference": case.reference,
        "classification": Clearance(case.classification).value,
        "body": {"code": request_.body_unit.code, "name": request_.body_unit.name},
        "questions": request_.questions,
        "sent_on": request_.sent_on.isoformat(),
        "due_on": request_.due_on.isoformat(),
        "follow_up": request_.follow_up if request_.state == "more_requested" else None,
        "subject_fields": subject_fields,
        "relatives": relatives,
        "findings": findings,
        "people": [{"key": key, "label": label} for key, label in people.items()],
        # What an answer may hold: the liaison forms' choices, and the web's size limit.
        "choices": {
            "categories": [{"code": code, "label": str(labels.FINDING_CATEGORIES.get(code, code))}
                           for code in workflow.FINDING_CATEGORIES],
            "classifications": [{"code": level.value, "label": level.label}
                                for level in answer_classifications(account, request_)],
        },
        "max_file_bytes": max_upload_bytes(),
    }
    return content, files


# --- import --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Imported:
    row: ExchangePackage
    findings: int
    files: int


def import_answer(request_: CoordinationRequest, data: bytes, *, by: User) -> Imported:
    """Open an answer package from the request's body and record it as the body's answer,
    as its exchange account. ExchangeRefused, with nothing written, for anything else: not
    a package, truncated, tampered, wrongly signed or addressed, a request package, another
    request's answer, an answer to an older package or to one answered already, a replay, a request that waits for no
    answer, or an answer the liaison pages would refuse."""
    key = current_key(request_.body_unit_id)
    if key is None:
        raise ExchangeRefused(_("Cơ quan này chưa đăng ký khóa trao đổi: không kiểm tra được gói trả lời."))
    if len(data) > package_format.MAX_PACKAGE_BYTES:
        raise ExchangeRefused(_("Tệp quá lớn để là một gói trao đổi."))
    try:
        package = package_format.open_package(data, recipient=organisation_key(), sender=_public(key))
    except PackageError as error:
        raise ExchangeRefused(str(error)) from None
    if package.kind != "answer":
        raise ExchangeRefused(_("Đây không phải gói trả lời (có thể là gói yêu cầu do Tỉnh ủy xuất)."))
    if package.request_id != str(request_.id):
        raise ExchangeRefused(_("Đây là gói trả lời cho một yêu cầu khác, không phải yêu cầu này."))
    package_id = _uuid(package.package_id)
    if package_id is None:
        raise ExchangeRefused(_("Gói trả lời không đúng dạng."))
    # A replay first: an answer imported once is told as such, even once it no longer
    # replies to the latest package.
    if db.session.get(ExchangePackage, package_id) is not None:
        raise ExchangeRefused(_("Gói trả lời này đã được nhập trước đây; không nhập lại."))
    latest = latest_export(request_)
    if latest is None or package.in_reply_to != str(latest.id):
        raise ExchangeRefused(_("Gói trả lời này không trả lời gói yêu cầu xuất gần nhất của yêu cầu này: cơ quan "
                                "cần trả lời gói mới nhất."))
    # One answer per request package: a second answer to a package already answered (the
    # officer has asked for more since, without sending a new package) answers nothing the
    # body was asked after that answer, and would be taken as the reply to a follow-up the
    # body never received.
    if answered(latest):
        raise ExchangeRefused(_("Gói yêu cầu này đã được trả lời: hãy xuất gói yêu cầu mới (có nội dung yêu cầu bổ "
                                "sung) để cơ quan trả lời gói đó."))
    if not workflow.awaiting_liaison(request_.state):
        raise ExchangeRefused(_("Yêu cầu không còn chờ cơ quan phối hợp trả lời."))
    account = key.service_user
    if not account.active or not policy.can_respond_to_request(account, request_):
        raise ExchangeRefused(_("Tài khoản trao đổi của cơ quan không được tiếp cận yêu cầu này."))
    answer_text, findings = _answer_parts(package)
    try:
        return _record_answer(request_, package, package_id, answer_text, findings, data, key, account, by=by)
    except CaseError as refusal:
        # Something was written before the refusal (the acknowledgement, earlier findings,
        # their audit entries): the whole transaction goes, so nothing of the answer stays.
        db.session.rollback()
        raise ExchangeRefused(_("Gói trả lời bị từ chối: %(reason)s", reason=refusal.message)) from None
    except IntegrityError:
        # The same package imported at the same moment by someone else: its id is the
        # ledger's primary key, so the second insert fails here.
        db.session.rollback()
        raise ExchangeRefused(_("Gói trả lời này đã được nhập trước đây; không nhập lại.")) from None
    except StaleDataError:
        db.session.rollback()
        raise ExchangeRefused(_("Yêu cầu vừa được người khác cập nhật. Hãy xem lại rồi nhập lại.")) from None


def _record_answer(request_: CoordinationRequest, package: Package, package_id: uuid.UUID, answer_text: str,
                   findings: list[FindingData], data: bytes, key: ExchangeKey, account: User, *,
                   by: User) -> Imported:
    if request_.state == "sent":
        coordination.acknowledge(request_, by=account)
    for finding in findings:
        coordination.log_body_finding(request_, finding, by=account)
    for item in package.files:
        coordination.attach_to_answer(request_, io.BytesIO(item.content), item.name, item.classification,
                                      by=account)
    coordination.answer(request_, answer_text, by=account)
    row = ExchangePackage(id=package_id, request_id=request_.id, direction="in",
                          in_reply_to=uuid.UUID(package.in_reply_to), sha256=package_format.package_digest(data),
                          key_fingerprint=key.fingerprint, created_by_id=by.id)
    db.session.add(row)
    db.session.flush()
    record("exchange.import", target_type="case", target_id=request_.case_id, actor=by, request=request_.id,
           package=row.id, in_reply_to=row.in_reply_to, key=key.fingerprint, sha256=row.sha256,
           findings=len(findings), attachments=len(package.files), account=account.id)
    return Imported(row=row, findings=len(findings), files=len(package.files))


def _answer_parts(package: Package) -> tuple[str, list[FindingData]]:
    """The answer's text and findings, their shape checked before anything is written (the
    operations check their values: who, category, classification, dates)."""
    malformed = ExchangeRefused(_("Gói trả lời không đúng dạng (nội dung trả lời hoặc kết quả xác minh)."))
    content = package.content if isinstance(package.content, dict) else {}
    answer_text = content.get("answer")
    items = content.get("findings", [])
    if not isinstance(answer_text, str) or not isinstance(items, list):
        raise malformed
    if len(items) > MAX_FINDINGS or len(package.files) > MAX_FILES:
        raise ExchangeRefused(_("Gói trả lời có quá nhiều kết quả hoặc tệp."))
    if len(answer_text) > MAX_ANSWER_TEXT:
        raise ExchangeRefused(_("Nội dung trả lời quá dài."))
    findings = []
    for item in items:
        if not isinstance(item, dict):
            raise malformed
        values = {name: item.get(name) for name in ("person", "category", "text", "classification", "source",
                                                     "found_on")}
        if not all(isinstance(values[name], str) for name in ("category", "text", "classification")) \
                or not all(values[name] is None or isinstance(values[name], str)
                           for name in ("person", "source", "found_on")):
            raise malformed
        if len(values["text"]) > MAX_FINDING_TEXT or len(values["source"] or "") > MAX_SOURCE_TEXT:
            raise ExchangeRefused(_("Một kết quả xác minh trong gói quá dài."))
        found_on = None
        if values["found_on"]:
            try:
                found_on = date.fromisoformat(values["found_on"])
            except ValueError:
                raise malformed from None
        findings.append(FindingData(person=values["person"] or "", category=values["category"],
                                    text=values["text"], classification=values["classification"],
                                    source=values["source"], found_on=found_on))
    return answer_text, findings


def _uuid(text: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(text))
    except ValueError:
        return None
