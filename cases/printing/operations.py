"""Printing approved conclusions, and the copy register (sổ theo dõi bản in).

Every paper copy of a conclusion carries a number no other copy of it carries: numbers run
on per conclusion across prints (a first print of 3 gives copies 1–3, a later print of 2
gives 4–5), and each print is a row of the register — who, when, how many, which numbers,
at which classification — written with its audit entry in the request's transaction.

"Bản số k/N": N is the number of copies issued once this print is made (the first print of
3 reads 1/3, 2/3, 3/3; a later print of 2 reads 4/5, 5/5). It is what is known when a copy
is printed; copies printed earlier keep their own N, and the register gives the full count.

Order: allocate the numbers under a lock, build the PDF, and only then write the register
row and the audit entry. A PDF that fails to build leaves nothing behind (no register row,
no audit of a print that did not happen); the server log gets one line without content.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from audit.trail import record
from cases import labels
from cases.casework.operations import CaseError
from cases.conclusions import operations as conclusions
from cases.conclusions import signing
from cases.models import Case, Conclusion, PrintRecord
from cases.printing import pdf as printing
from protection import policy
from protection.db import db
from protection.i18n import local_date
from protection.identity import Clearance, User

log = logging.getLogger(__name__)

MAX_COPIES = 50
MAX_RECIPIENTS = 12


class PrintFailed(RuntimeError):
    """The PDF could not be built; nothing was recorded. Says nothing about the content."""


@dataclass(frozen=True)
class PrintOut:
    pdf: bytes
    record: PrintRecord


class SupersededConclusion(CaseError):
    """A print of a version a correction has replaced: copies of it would circulate as if
    it were still in force. The message names the replacing document's number only."""

    def __init__(self, replacement: Conclusion):
        self.replacement = replacement
        super().__init__(_("Kết luận này đã bị thay thế bởi bản %(version)d (số %(number)s) nên không in thêm bản "
                           "nào. Hãy in bản đang có hiệu lực.", version=replacement.version_number,
                           number=replacement.document_number), "copies")


def approved_conclusion(case: Case, conclusion_id: uuid.UUID) -> Conclusion | None:
    """The case's approved conclusion of that id; None for any other (a draft, another
    case's), which the pages answer with 404."""
    conclusion = db.session.get(Conclusion, conclusion_id)
    if conclusion is None or conclusion.case_id != case.id or conclusion.state != "approved":
        return None
    return conclusion


def issued_by(record_id: uuid.UUID) -> PrintRecord:
    """The copies an earlier submit of the print form (its one-time token) issued."""
    return db.session.get(PrintRecord, record_id)


def copies_required(case: Case) -> bool:
    """A classified conclusion is printed only in a number of copies stated each time."""
    return Clearance(case.classification) != Clearance.UNCLASSIFIED


def checked_copies(case: Case, copies: int | None) -> int:
    if copies is None:
        if copies_required(case):
            raise CaseError(_("Kết luận mật: hãy nhập số bản cần in."), "copies")
        return 1
    if not 1 <= copies <= MAX_COPIES:
        raise CaseError(_("Số bản in từ 1 đến %(max)d.", max=MAX_COPIES), "copies")
    return copies


def issued_copies(conclusion: Conclusion) -> int:
    """How many copies of the conclusion exist: the last number given."""
    return db.session.scalar(select(func.coalesce(func.max(PrintRecord.last_number), 0))
                             .where(PrintRecord.conclusion_id == conclusion.id))


def register(conclusion: Conclusion) -> list[PrintRecord]:
    return list(db.session.scalars(select(PrintRecord).where(PrintRecord.conclusion_id == conclusion.id)
                                   .order_by(PrintRecord.first_number)))


def record_register_view(case: Case, conclusion: Conclusion, *, page: str) -> None:
    record("print_register.view", target_type="case", target_id=case.id, conclusion=conclusion.id, page=page)


def _lock_numbers(conclusion: Conclusion) -> None:
    """Two prints of one conclusion take turns: PostgreSQL locks the conclusion's row until
    the request commits (SQLite ignores FOR UPDATE: its BEGIN IMMEDIATE transactions already
    run one at a time). UNIQUE(conclusion_id, first_number) refuses whatever slips past."""
    db.session.execute(select(Conclusion.id).where(Conclusion.id == conclusion.id).with_for_update())


def _approved_on(conclusion: Conclusion):
    return local_date(conclusion.approved_at)


def _people(case: Case) -> tuple[printing.Person, ...]:
    def person(subject) -> printing.Person:
        return printing.Person(subject.full_name, subject.date_of_birth, subject.current_unit, subject.position)

    if case.subject is not None:
        return (person(case.subject),)
    if case.petition is not None:
        return tuple(person(item.subject) if item.subject is not None else printing.Person(item.named_as or "—")
                     for item in case.petition.concerned)
    return ()


def _purpose(case: Case) -> str | None:
    if case.kind == "review":
        return labels.of(labels.PURPOSES, case.purpose) if case.purpose else None
    if case.petition is not None:
        return _("%(kind)s, nhận ngày %(day)s", kind=labels.of(labels.PETITION_TYPES, case.petition.petition_type),
                 day=case.petition.received_on.strftime("%d/%m/%Y"))
    return None


def default_recipients(case: Case) -> list[str]:
    """The "Nơi nhận" a print form starts from: the issuing unit and its archive (Lưu),
    with the case's reference so a filed copy finds its dossier. In Vietnamese whatever the
    reader's language: the lines are printed as given."""
    with force_locale("vi"):
        return [case.owner_unit.name, _("Lưu: Văn thư, hồ sơ %(reference)s", reference=case.reference)]


def printable(case: Case, conclusion: Conclusion, *, first: int, last: int,
              recipients: tuple[str, ...] = ()) -> printing.PrintableConclusion:
    """The plain values the PDF shows, in Vietnamese whatever the reader's interface
    language: the paper copy is the organisation's document, and its classification marking
    is the one the Law on Protection of State Secrets prescribes."""
    with force_locale("vi"):
        level = Clearance(case.classification)
        eligibility = None
        if conclusion.admission_eligible is not None:
            eligibility = labels.of(labels.ELIGIBILITY, "yes" if conclusion.admission_eligible else "no")
        previous = db.session.get(Conclusion, conclusion.previous_id) if conclusion.previous_id else None
        unit = case.owner_unit
        return printing.PrintableConclusion(
            organisation=unit.name, parent_organisation=unit.parent.name if unit.parent else None,
            document_number=conclusion.document_number, case_reference=case.reference, kind=case.kind,
            marking=None if level == Clearance.UNCLASSIFIED else level.label.upper(),
            purpose=_purpose(case), outcome=str(labels.of(labels.OUTCOMES, conclusion.outcome)),
            reasoning=conclusion.reasoning, approver=conclusion.approver.display_name if conclusion.approver else "—",
            approved_on=_approved_on(conclusion), check_value=signing.check_value(conclusion),
            first_copy=first, last_copy=last, copies_issued=last, people=_people(case),
            eligibility=eligibility, valid_until=conclusion.valid_until,
            corrects=previous.document_number if previous else None,
            place=current_app.config.get("HOSO_DOCUMENT_PLACE", ""), recipients=tuple(recipients))


def checked_recipients(recipients: list[str] | None) -> tuple[str, ...]:
    """The "Nơi nhận" lines: one recipient a line, blank lines dropped."""
    lines = tuple(line.strip() for line in recipients or () if line.strip())
    if len(lines) > MAX_RECIPIENTS:
        raise CaseError(_("Nơi nhận: tối đa %(max)d dòng.", max=MAX_RECIPIENTS), "recipients")
    if any(len(line) > 200 for line in lines):
        raise CaseError(_("Nơi nhận: mỗi dòng tối đa 200 ký tự."), "recipients")
    return lines


def print_conclusion(user: User, case: Case, conclusion: Conclusion, copies: int | None,
                     recipients: list[str] | None = None) -> PrintOut:
    """Number, build and register `copies` copies of an approved conclusion, with its
    "Nơi nhận" lines (printed only: they are not kept, and the audit counts them)."""
    if conclusion.case_id != case.id or conclusion.state != "approved":
        raise CaseError(_("Chỉ in được kết luận đã được phê duyệt."), "copies")
    if not policy.can_print_conclusion(user, case):
        raise CaseError(_("Bạn không được in kết luận của hồ sơ này."), "copies")
    replacement = conclusions.replacement_of(conclusion)
    if replacement is not None:
        # Nothing was changed before this point, so the refusal's entry is all the
        # request commits.
        record("conclusion.print", target_type="case", target_id=case.id, actor=user, outcome="refused",
               conclusion=conclusion.id, reason="superseded", superseded_by=replacement.id)
        raise SupersededConclusion(replacement)
    count = checked_copies(case, copies)
    lines = checked_recipients(recipients)
    _lock_numbers(conclusion)
    first = issued_copies(conclusion) + 1
    last = first + count - 1
    document = printable(case, conclusion, first=first, last=last, recipients=lines)
    with force_locale("vi"):
        try:
            pdf = printing.build_pdf(document)
        except Exception as error:
            # The type only: a message or a traceback could quote the content.
            log.error("printing conclusion failed: %s", type(error).__name__)
            raise PrintFailed() from None
    entry = PrintRecord(id=uuid.uuid4(), conclusion_id=conclusion.id, case_id=case.id, printed_by_id=user.id,
                        classification=case.classification, copies=count, first_number=first, last_number=last)
    db.session.add(entry)
    db.session.flush()
    record("conclusion.print", target_type="case", target_id=case.id, actor=user, conclusion=conclusion.id,
           copies=count, first=first, last=last)
    return PrintOut(pdf, entry)


def file_name(conclusion: Conclusion) -> str:
    """The attachment's name: the document number in safe characters ("12-KL/BTCTU" ->
    "12-KL-BTCTU.pdf"); it names no one."""
    safe = "".join(char if char.isascii() and (char.isalnum() or char in "-_.") else "-"
                   for char in conclusion.document_number or "ket-luan")
    return f"{safe.strip('-.') or 'ket-luan'}.pdf"
