"""Gapless numbers: case references (`BVCT-2026-000123`) and conclusion document numbers
(`12-KL/BTCTU`), from 1 per series, unit and year.

The counter row is locked for the rest of the transaction (FOR UPDATE on PostgreSQL;
SQLite's BEGIN IMMEDIATE already serialises writers), so two servers never hand out the
same number, and a rolled-back transaction gives its number back: no gaps, unlike a
database sequence.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from cases.models import DocumentCounter
from protection.db import db, insert_or_ignore
from protection.identity import Unit

REFERENCE_PREFIX = {"review": "BVCT", "petition": "DT"}
GLOBAL = "*"


def next_number(series: str, unit_key: str, year: int) -> int:
    insert_or_ignore(db.session, DocumentCounter, series=series, unit_id=unit_key, year=year, last=0)
    counter = db.session.execute(
        select(DocumentCounter).where(DocumentCounter.series == series, DocumentCounter.unit_id == unit_key,
                                      DocumentCounter.year == year).with_for_update()
        .execution_options(populate_existing=True)).scalar_one()
    counter.last += 1
    db.session.flush()
    return counter.last


def case_reference(kind: str, year: int) -> str:
    prefix = REFERENCE_PREFIX[kind]
    return f"{prefix}-{year}-{next_number(prefix, GLOBAL, year):06d}"


# Review campaigns (issue 20): `DTD-2026-0001` (đợt thẩm định), a series of their own.
CAMPAIGN_PREFIX = "DTD"


def campaign_reference(year: int) -> str:
    return f"{CAMPAIGN_PREFIX}-{year}-{next_number(CAMPAIGN_PREFIX, GLOBAL, year):04d}"


def document_number(unit: Unit, year: int) -> str:
    number = next_number("KL", str(unit.id), year)
    return current_app.config["HOSO_DOCUMENT_NUMBER_FORMAT"].format(number=number, unit=unit.code, year=year)
