"""Lifetime of classified items (issue 8, part 3).

Each classified case, attachment and finding carries a plain `protection_ends_on`: the
date its protection period ends, HOSO_CLASSIFICATION_YEARS_* years after it was
classified (10 for Mật, 20 for Tối mật, 30 for Tuyệt mật by default). It is set when the
item is created with a classification and again whenever its level changes — by mapper
events, so no code path that classifies can forget it. Supervisors list the items of
their scope whose period ends within HOSO_CLASSIFICATION_REVIEW_DAYS (or has ended) and
decide: extend (a new end date), downgrade (a lower level, a new period from today) or
declassify. Each decision is a ClassificationReview row and a `classification.review`
audit entry (item type and id, decision, levels, dates: never content).

A dossier's archived documents (issue 24 B.5: cases/archive) follow the same periods. They
belong to a dossier, not a case: they are listed for the supervisors whose scope holds the
dossier (not recused from it), link to the dossier's register, and a decision on one is its
`classification.review` audit entry (target an archive_document, with the dossier's id) —
no ClassificationReview row, whose case_id is required.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import event, inspect, select

from audit.trail import record
from cases.archive.models import ArchiveDocument
from cases.casework.operations import CaseError, today
from cases.models import Attachment, Case, ClassificationReview, Finding, Subject
from cases.retention.operations import add_years
from protection import policy
from protection.db import db
from protection.i18n import local_date
from protection.identity import Clearance, User

YEARS_SETTINGS = {
    Clearance.CONFIDENTIAL: "HOSO_CLASSIFICATION_YEARS_CONFIDENTIAL",
    Clearance.SECRET: "HOSO_CLASSIFICATION_YEARS_SECRET",
    Clearance.TOP_SECRET: "HOSO_CLASSIFICATION_YEARS_TOP_SECRET",
}
ITEM_MODELS = {"case": Case, "attachment": Attachment, "finding": Finding, "archive_document": ArchiveDocument}
# Items of a dossier rather than a case (see the module docstring).
DOSSIER_ITEMS = frozenset({"archive_document"})
DECISIONS = ("extend", "downgrade", "declassify")


def protection_years(level: Clearance) -> int | None:
    setting = YEARS_SETTINGS.get(Clearance(level))
    return current_app.config[setting] if setting else None


def protection_end(level: Clearance, classified_on: date) -> date | None:
    years = protection_years(level)
    return add_years(classified_on, years) if years else None


# --- the end date follows the classification ---------------------------------------------------

def _on_insert(mapper, connection, target) -> None:
    if target.protection_ends_on is None and target.classification is not None:
        created = local_date(target.created_at) if target.created_at else today()
        target.protection_ends_on = protection_end(target.classification, created)


def _on_update(mapper, connection, target) -> None:
    state = inspect(target)
    if state.attrs.classification.history.has_changes() and not state.attrs.protection_ends_on.history.has_changes():
        target.protection_ends_on = protection_end(target.classification, today())


for _model in ITEM_MODELS.values():
    event.listen(_model, "before_insert", _on_insert)
    event.listen(_model, "before_update", _on_update)


# --- items due for review -------------------------------------------------------------------------

@dataclass(frozen=True)
class DueItem:
    item_type: str
    item_id: uuid.UUID
    case_id: uuid.UUID | None  # None for a dossier's item
    reference: str  # "" for a dossier's item: it is named by its place in the register
    classification: Clearance
    ends_on: date
    subject_id: uuid.UUID | None = None  # a dossier's item: whose register it is in
    position: int | None = None  # ... and where


def due_items(user: User, on: date | None = None) -> list[DueItem]:
    """Classified items of the user's scope and clearance whose protection period ends
    within the review window or has ended; purged cases have nothing left to protect."""
    horizon = (on or today()) + timedelta(days=current_app.config["HOSO_CLASSIFICATION_REVIEW_DAYS"])
    scope = policy.unit_scope(user)
    items: list[DueItem] = []
    for item_type, model in ITEM_MODELS.items():
        if item_type in DOSSIER_ITEMS:
            continue
        case_id = Case.id if model is Case else model.case_id
        statement = select(model.id, case_id.label("case_id"), Case.reference, model.classification,
                           model.protection_ends_on, Case.classification.label("case_level"))
        if model is not Case:
            statement = statement.join(Case, Case.id == model.case_id)
        rows = db.session.execute(statement.where(
            Case.owner_unit_id.in_(scope), Case.purged_at.is_(None), model.classification != Clearance.UNCLASSIFIED,
            model.protection_ends_on.is_not(None), model.protection_ends_on <= horizon)).all()
        items += [DueItem(item_type, row.id, row.case_id, row.reference, row.classification, row.protection_ends_on)
                  for row in rows
                  if policy.cleared_for(user, row.classification) and policy.cleared_for(user, row.case_level)]
    items += _due_archive_documents(user, scope, horizon)
    return sorted(items, key=lambda item: (item.ends_on, item.reference, item.item_type, item.position or 0))


def _due_archive_documents(user: User, scope, horizon: date) -> list[DueItem]:
    """A dossier's classified documents whose period ends; a dossier whose key was destroyed
    has nothing left to protect, and nobody reviews their own or their family's dossier."""
    rows = db.session.execute(select(ArchiveDocument.id, ArchiveDocument.subject_id, ArchiveDocument.position,
                                     ArchiveDocument.classification, ArchiveDocument.protection_ends_on)
                              .join(Subject, Subject.id == ArchiveDocument.subject_id).where(
        Subject.owner_unit_id.in_(scope), ArchiveDocument.data_key_id.is_not(None),
        ArchiveDocument.classification != Clearance.UNCLASSIFIED,
        ArchiveDocument.protection_ends_on.is_not(None), ArchiveDocument.protection_ends_on <= horizon)).all()
    recused = {subject_id for subject_id in {row.subject_id for row in rows}
               if policy.is_recused(user, db.session.get(Subject, subject_id))}
    return [DueItem("archive_document", row.id, None, "", row.classification, row.protection_ends_on,
                    subject_id=row.subject_id, position=row.position)
            for row in rows if policy.cleared_for(user, row.classification) and row.subject_id not in recused]


def load_item(item_type: str, item_id: uuid.UUID, user: User):
    """The item and its case, if the supervisor's scope and clearance reach both; 404 else.
    A dossier's item comes with None for its case."""
    if item_type in DOSSIER_ITEMS:
        return _load_archive_document(item_id, user), None
    model = ITEM_MODELS.get(item_type)
    item = db.session.get(model, item_id) if model else None
    case = item if isinstance(item, Case) else (db.session.get(Case, item.case_id) if item is not None else None)
    if (item is None or case.owner_unit_id not in policy.unit_scope(user) or case.purged_at is not None
            or not policy.cleared_for(user, case.classification) or not policy.cleared_for(user, item.classification)
            or item.classification == Clearance.UNCLASSIFIED or policy.is_recused(user, case)):
        policy.deny("classification.review", status=404)
    return item, case


def _load_archive_document(item_id: uuid.UUID, user: User) -> ArchiveDocument:
    item = db.session.get(ArchiveDocument, item_id)
    subject = db.session.get(Subject, item.subject_id) if item is not None else None
    if (item is None or subject.owner_unit_id not in policy.unit_scope(user) or item.data_key_id is None
            or not policy.cleared_for(user, item.classification) or item.classification == Clearance.UNCLASSIFIED
            or policy.is_recused(user, subject)):
        policy.deny("classification.review", status=404)
    return item


@dataclass(frozen=True)
class Decided:
    review: ClassificationReview | None  # None for a dossier's item (the audit entry is its record)
    lowered: int  # the case's items lowered with it (see _lower_items_with_case)


def decide(item_type: str, item, case: Case | None, *, decision: str, by: User, new_end: date | None = None,
           to_level: str | None = None) -> Decided:
    """Record one decision; refusals name the field to correct. Flushes, the caller commits."""
    if decision not in DECISIONS:
        raise CaseError(_("Hãy chọn một quyết định."), field="decision")
    from_level = Clearance(item.classification)
    previous_end = item.protection_ends_on
    if decision == "extend":
        if new_end is None:
            raise CaseError(_("Hãy nhập ngày hết hạn bảo vệ mới."), field="new_end")
        if new_end <= today() or (previous_end and new_end <= previous_end):
            raise CaseError(_("Ngày hết hạn mới phải sau hôm nay và sau ngày hết hạn hiện tại."), field="new_end")
        level, end = from_level, new_end
    elif decision == "downgrade":
        try:
            level = Clearance(to_level or "")
        except ValueError:
            raise CaseError(_("Hãy chọn độ mật mới."), field="to_level") from None
        if level == Clearance.UNCLASSIFIED or level.rank >= from_level.rank:
            raise CaseError(_("Độ mật mới phải thấp hơn độ mật hiện tại (để bỏ hẳn độ mật, chọn giải mật)."),
                            field="to_level")
        end = protection_end(level, today())
    else:
        level, end = Clearance.UNCLASSIFIED, None
    review = _change_level(item_type, item, case, decision=decision, level=level, end=end, by=by)
    lowered = _lower_items_with_case(case, decision=decision, level=level, end=end, by=by) \
        if item_type == "case" and level.rank < from_level.rank else 0
    return Decided(review, lowered)


def _change_level(item_type: str, item, case: Case | None, *, decision: str, level: Clearance, end: date | None,
                  by: User, with_case: bool = False) -> ClassificationReview | None:
    from_level, previous_end = Clearance(item.classification), item.protection_ends_on
    item.classification = level
    item.protection_ends_on = end
    if case is None:  # a dossier's item
        db.session.flush()
        record("classification.review", target_type=item_type, target_id=item.id, actor=by,
               subject_id=str(item.subject_id), decision=decision, from_level=from_level.value,
               to_level=level.value, previous_end=previous_end.isoformat() if previous_end else None,
               new_end=end.isoformat() if end else None)
        return None
    review = ClassificationReview(case_id=case.id, item_type=item_type, item_id=item.id, decision=decision,
                                  from_level=from_level, to_level=level, previous_end=previous_end, new_end=end,
                                  decided_by_id=by.id)
    db.session.add(review)
    db.session.flush()
    detail = {"with_case": True} if with_case else {}
    record("classification.review", target_type=item_type, target_id=item.id, actor=by, case_id=str(case.id),
           decision=decision, from_level=from_level.value, to_level=level.value,
           new_end=end.isoformat() if end else None, **detail)
    return review


def _lower_items_with_case(case: Case, *, decision: str, level: Clearance, end: date | None, by: User) -> int:
    """A case downgraded (or declassified) takes down with it every attachment and finding
    classified above its new level, each a decision of its own in the history and the
    audit trail. Why: an item is never classified above its case (add_attachment and
    add_finding refuse it), because the case's level is what decides who may open it — a
    reader cleared for a Mật case would otherwise meet Tối mật findings inside, or the
    case's marking would understate what it holds (a compilation is marked at the level of
    its highest part). The supervisor who lowers
    the case has judged its whole content; items already at or below the new level keep
    theirs (and their own protection periods)."""
    lowered = 0
    for item_type, model in (("finding", Finding), ("attachment", Attachment)):
        items = db.session.scalars(select(model).where(model.case_id == case.id).order_by(model.id)).all()
        for item in items:
            if Clearance(item.classification).rank > level.rank:
                _change_level(item_type, item, case, decision=decision, level=level, end=end, by=by, with_case=True)
                lowered += 1
    return lowered


def recent_decisions(user: User, limit: int = 50) -> list[tuple[ClassificationReview, str]]:
    rows = db.session.execute(
        select(ClassificationReview, Case.reference).join(Case, Case.id == ClassificationReview.case_id)
        .where(Case.owner_unit_id.in_(policy.unit_scope(user)))
        .order_by(ClassificationReview.decided_at.desc()).limit(limit)).all()
    return [(row[0], row[1]) for row in rows]
