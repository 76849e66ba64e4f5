"""The domain's records as the audit trail names them (audit/targets.py): a case by its
reference, a coordination request and an emergency access by their case's reference.
References are not protected (they are printed on paper and said on the phone); titles,
names and everything sealed stay out: only plain columns are read here, never an entity
that would be opened."""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection

from flask import Flask
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import select

from audit.targets import TargetKind, TargetLookupError, register_target_kind
from cases.models import BreakGlassAccess, Campaign, Case, CoordinationRequest, IdentityRelease
from cases.numbering import REFERENCE_PREFIX
from protection.db import db

_PREFIXES = "|".join(sorted(REFERENCE_PREFIX.values()))
# BVCT-2026-000014 (cases/numbering.py: prefix, year, six digits).
REFERENCE = re.compile(rf"^(?:{_PREFIXES})-\d{{4}}-\d{{6}}$", re.IGNORECASE)
# Meant as a reference (starts with a prefix), whether or not it is written right.
LOOKS_LIKE_REFERENCE = re.compile(rf"^(?:{_PREFIXES})(?:[-\s_/.]|\d|$)", re.IGNORECASE)
EXAMPLE = "BVCT-2026-000014"


def _case_references(ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    return dict(db.session.execute(select(Case.id, Case.reference).where(Case.id.in_(ids))).all())


def _references_via_case(model):
    def describe(ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        return dict(db.session.execute(select(model.id, Case.reference).join(Case, model.case_id == Case.id)
                                       .where(model.id.in_(ids))).all())
    return describe


def _campaign_references(ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    return dict(db.session.execute(select(Campaign.id, Campaign.reference).where(Campaign.id.in_(ids))).all())


def case_id_for_reference(text: str) -> uuid.UUID:
    reference = text.strip().upper()
    if not REFERENCE.match(reference):
        raise TargetLookupError(_l("Số hồ sơ không đúng dạng. Nhập như %(example)s.", example=EXAMPLE))
    found = db.session.scalar(select(Case.id).where(Case.reference == reference))
    if found is None:
        raise TargetLookupError(_l("Không có hồ sơ nào mang số %(reference)s.", reference=reference))
    return found


def configure_audit_targets(app: Flask) -> None:
    kinds = (
        TargetKind("case", lazy_pgettext("audit target", "Hồ sơ"), url_arg="case_id", describe=_case_references,
                   lookup=case_id_for_reference, claims=lambda text: bool(LOOKS_LIKE_REFERENCE.match(text.strip()))),
        TargetKind("subject", lazy_pgettext("audit target", "Đối tượng thẩm định"), url_arg="subject_id"),
        TargetKind("coordination_request", lazy_pgettext("audit target", "Yêu cầu phối hợp"), url_arg="request_id",
                   describe=_references_via_case(CoordinationRequest)),
        TargetKind("break_glass", lazy_pgettext("audit target", "Truy cập khẩn cấp"), url_arg="access_id",
                   describe=_references_via_case(BreakGlassAccess)),
        TargetKind("identity_release", lazy_pgettext("audit target", "Mở danh tính người gửi đơn"),
                   url_arg="release_id", describe=_references_via_case(IdentityRelease)),
        TargetKind("campaign", lazy_pgettext("audit target", "Đợt thẩm định"), url_arg="campaign_id",
                   describe=_campaign_references),
    )
    for kind in kinds:
        register_target_kind(app, kind)
