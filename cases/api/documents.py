"""What the partner API answers about a coordination request: plain dicts the output schemas
(cases/api/schemas.py) serialise, built only from what the liaison's pages show
(cases/coordination/operations.py: `package`, `disclosed_people`, `body_findings`, ...).
Nothing else of the case is read: not its title, summary, other findings or petitioner.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from flask import url_for

from cases import labels
from cases.coordination import operations as coordination
from cases.models import Attachment, CoordinationRequest, Finding
from protection.identity import User


@dataclass(frozen=True)
class RequestPage:
    items: list[dict[str, Any]]
    page: int
    per_page: int
    total: int
    pages: int


def requests_page(user: User, *, state: str | None, page: int, per_page: int) -> RequestPage:
    """One page of the requests addressed to the user's body that they may see (the liaison
    inbox's rows: clearance and recusal applied), by due date. A page past the last is empty."""
    rows = [row for row in coordination.inbox(user) if state is None or row.state == state]
    rows.sort(key=lambda row: (row.due_on, row.case.reference, str(row.id)))
    start = (page - 1) * per_page
    return RequestPage(items=[summary(row) for row in rows[start:start + per_page]], page=page, per_page=per_page,
                       total=len(rows), pages=max(1, -(-len(rows) // per_page)))


def summary(request_: CoordinationRequest) -> dict[str, Any]:
    return {
        "id": request_.id, "reference": request_.case.reference,
        "classification": request_.case.classification.value, "state": request_.state,
        "state_label": str(labels.REQUEST_STATES.get(request_.state, request_.state)), "version": request_.version, "sent_on": request_.sent_on,
        "due_on": request_.due_on, "overdue": coordination.is_overdue(request_),
        "acknowledged_at": request_.acknowledged_at, "answered_at": request_.answered_at,
    }


def request_document(request_: CoordinationRequest, user: User) -> dict[str, Any]:
    """The request with its package, as the liaison's page shows it."""
    package = coordination.package(request_, user)
    people = coordination.disclosed_people(request_)
    findings = coordination.body_findings(request_)
    about = coordination.liaison_person_labels(request_, package["findings"] + findings)
    return {
        **summary(request_),
        "questions": request_.questions, "follow_up": request_.follow_up, "answer": request_.answer,
        # package() lists the values in the order of the shared field names (and the
        # relatives in the order of shared_relatives): the names are paired back with them.
        "subject_fields": [{"field": name, "label": str(label), "value": value} for name, (label, value)
                           in zip(_shared_subject_fields(request_), package["subject_fields"], strict=True)],
        "relatives": [{"key": str(relative.id), "label": label,
                       "fields": [{"field": name, "label": str(field_label), "value": value}
                                  for name, (field_label, value) in zip(_shared_relative_fields(request_), values,
                                                                        strict=True)]}
                      for relative, (label, values) in zip(coordination.shared_relatives(request_),
                                                           package["relatives"], strict=True)],
        "people": [{"key": key, "label": label} for key, label in people.items()],
        "shared_findings": [finding_document(request_, item, people, about) for item in package["findings"]],
        "shared_files": [file_document(request_, item) for item in package["attachments"]],
        "findings": [finding_document(request_, item, people, about) for item in findings],
        "files": [file_document(request_, item) for item in coordination.body_attachments(request_)],
    }


def _shared_subject_fields(request_: CoordinationRequest) -> list[str]:
    if request_.state == "withdrawn" or request_.case.subject is None:
        return []
    return list(request_.shared_subject_fields)


def _shared_relative_fields(request_: CoordinationRequest) -> list[str]:
    return [name for name in request_.shared_relative_fields or () if name in coordination.SHAREABLE_RELATIVE_FIELDS]


def finding_document(request_: CoordinationRequest, finding: Finding, people: dict[str, str] | None = None,
                     about: dict[uuid.UUID, str] | None = None) -> dict[str, Any]:
    """A finding as the body may read it: who it is about by key and label when that person
    is in the package, else named only as an undisclosed relative (never by relation or name).
    `people` and `about` as disclosed_people and liaison_person_labels say, when the caller
    has them already."""
    people = coordination.disclosed_people(request_) if people is None else people
    about = coordination.liaison_person_labels(request_, [finding]) if about is None else about
    key = str(finding.relative_id) if finding.relative_id else "subject" if finding.subject_id else None
    return {
        "id": finding.id, "person": key if key in people else None, "about": about.get(finding.id),
        "category": finding.category,
        "category_label": str(labels.FINDING_CATEGORIES.get(finding.category, finding.category)), "text": finding.text,
        "classification": finding.classification.value, "source": finding.source, "found_on": finding.found_on,
        "created_at": finding.created_at,
    }


def file_document(request_: CoordinationRequest, attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.id, "name": attachment.blob.filename, "size": attachment.blob.size,
        "media_type": attachment.blob.content_type, "classification": attachment.classification.value,
        "href": url_for("api.download_file", request_id=request_.id, file_id=attachment.id),
    }


def body_finding(request_: CoordinationRequest, finding_id: uuid.UUID | None) -> Finding | None:
    """A finding the body logged on this request (for an idempotent replay)."""
    return next((item for item in coordination.body_findings(request_) if item.id == finding_id), None)


def body_file(request_: CoordinationRequest, attachment_id: uuid.UUID | None) -> Attachment | None:
    """A file the body sent with this request's answer (for an idempotent replay)."""
    return next((item for item in coordination.body_attachments(request_) if item.id == attachment_id), None)
