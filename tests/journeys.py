"""A day's work on the demo data, through the real app, for the tests that scan what the server
writes about it (tests/test_json_logs.py, tests/test_metrics.py): the demo's people sign in and
open the pages they use — lists, cases, dossiers, a search by name and by ID number, a
petition, coordination requests, downloads, exports — with a few refusals and bad inputs among
them. `protected_values` is what may appear in none of it."""

from __future__ import annotations

import unicodedata

from sqlalchemy import select

from cases.archive.models import ArchiveScan
from cases.models import (
    Assignment,
    Campaign,
    Case,
    ConcernedPerson,
    CoordinationRequest,
    Petition,
    Relative,
    Subject,
)
from cases.oversight.models import Guidance
from protection.accounts import find_unit, find_user
from protection.blobs import Blob
from protection.db import db
from protection.demo import DEMO_PASSWORD
from tests import pages
from tests.factories import MadeUser


def normal(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def protected_values(app, *, with_identifiers: bool = False) -> set[str]:
    """Every name, ID number, title and file name the demo holds, read decrypted; with
    `with_identifiers`, the cases' and campaigns' references and every record's id too (a
    metric label may hold none of them, where a log line may name an id)."""
    values: set[str] = set()
    with app.app_context():
        for subject in db.session.scalars(select(Subject)):
            values.update(filter(None, (subject.full_name, subject.other_names, subject.id_number)))
            if with_identifiers:
                values.add(str(subject.id))
        for relative in db.session.scalars(select(Relative)):
            values.update(filter(None, (relative.full_name, relative.id_number)))
        for case in db.session.scalars(select(Case)):
            values.update(filter(None, (case.title, case.summary)))
            if with_identifiers:
                values.update((case.reference, str(case.id)))
        for petition in db.session.scalars(select(Petition)):
            values.update(filter(None, (petition.petitioner_name,)))
        for person in db.session.scalars(select(ConcernedPerson)):
            values.update(filter(None, (person.named_as,)))
        for campaign in db.session.scalars(select(Campaign)):
            values.add(campaign.title)
            if with_identifiers:
                values.add(campaign.reference)
        for guidance in db.session.scalars(select(Guidance)):
            values.add(guidance.title)
        for blob in db.session.scalars(select(Blob)):
            values.add(blob.filename)
        if with_identifiers:
            values.update(str(item) for item in db.session.scalars(select(CoordinationRequest.id)))
        db.session.commit()
    return {value for value in values if len(value) >= 5}


def demo_user(app, username: str) -> MadeUser:
    with app.app_context():
        user = find_user(username)
        made = MadeUser(id=user.id, username=user.username, password=DEMO_PASSWORD, role=user.role.value,
                        unit_code=user.unit.code, totp_secret=user.totp_secret)
        db.session.commit()
    return made


def _signed_in(app, username: str):
    client = app.test_client()
    response = pages.sign_in(app, client, demo_user(app, username))
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


def _targets(app) -> dict:
    with app.app_context():
        officer = find_user("canbo.an")
        cases = db.session.scalars(select(Case).join(Assignment).where(Assignment.user_id == officer.id)
                                   .order_by(Case.reference)).all()
        subjects = db.session.scalars(select(Subject).where(Subject.owner_unit_id == officer.unit_id)
                                      .order_by(Subject.id)).all()
        body = find_unit("UBKTTU")
        requests = db.session.scalars(select(CoordinationRequest).where(
            CoordinationRequest.body_unit_id == body.id, CoordinationRequest.state != "draft")
            .order_by(CoordinationRequest.id)).all()
        # The demo's files are archive scans (its cases carry none): those of the unit's dossiers.
        scans = db.session.scalars(select(ArchiveScan.id).join(Subject, Subject.id == ArchiveScan.subject_id)
                                   .where(Subject.owner_unit_id == officer.unit_id).order_by(ArchiveScan.id)).all()
        targets = {
            "cases": [str(case.id) for case in cases],
            "petitions": [str(case.id) for case in cases if case.kind == "petition"],
            "subjects": [str(subject.id) for subject in subjects],
            "name": subjects[0].full_name, "id_number": subjects[0].id_number,
            "requests": [(str(item.case_id), str(item.id)) for item in requests],
            "scans": [str(item) for item in scans],
        }
        db.session.commit()
    return targets


def demo_journey(app) -> list[tuple[str, int]]:
    """The demo's officer, liaison, supervisor and auditor at work (the demo must be seeded).
    Returns (path, status) of every request, for the caller's own checks."""
    seen: list[tuple[str, int]] = []
    targets = _targets(app)
    assert targets["cases"] and targets["petitions"] and targets["subjects"] and targets["requests"], targets
    assert targets["scans"], "the demo has no scan in the officer's unit to download"

    def get(client, path, **options):
        response = client.get(path, **options)
        response.get_data()  # a streamed body runs to its end
        seen.append((path, response.status_code))
        return response

    officer = _signed_in(app, "canbo.an")
    for path in ("/", "/cases/", "/cases/?view=unit", "/cases/?view=due", "/subjects/", "/requests/"):
        get(officer, path)
    for case in targets["cases"][:6] + targets["petitions"][:2]:
        get(officer, f"/cases/{case}")
    for petition in targets["petitions"][:2]:
        get(officer, f"/cases/{petition}/petitioner")  # refused unless released: a denial's log line
    for subject in targets["subjects"][:4]:
        get(officer, f"/subjects/{subject}")
    # Searches: a name and an ID number in the query string, which no log line may repeat.
    get(officer, "/subjects/", query_string={"q": targets["name"]})
    get(officer, "/subjects/", query_string={"q": targets["id_number"]})
    get(officer, "/cases/", query_string={"q": targets["name"]})
    get(officer, "/subjects/", query_string={"q": targets["name"] + "\x00"})  # refused: 400
    for scan in targets["scans"][:3]:
        get(officer, f"/archive/scans/{scan}/download")
    for case, request in targets["requests"][:2]:
        get(officer, f"/cases/{case}/requests/{request}")
    # A form refused beside its fields, the typed name and ID number kept in the page only.
    response = pages.post_form(officer, "/subjects/new", {"full_name": targets["name"], "id_number": "12"})
    seen.append(("/subjects/new", response.status_code))

    liaison = _signed_in(app, "phoihop.ubkt")
    get(liaison, "/requests/")
    for _case, request in targets["requests"][:3]:
        get(liaison, f"/requests/{request}")
    get(liaison, f"/cases/{targets['cases'][0]}")  # not a liaison's: refused

    supervisor = _signed_in(app, "lanhdao.minh")
    for path in ("/", "/cases/?view=unit", "/oversight/board", "/subjects/export.csv", "/reports/",
                 "/campaigns/"):
        get(supervisor, path)
    get(supervisor, f"/cases/{targets['cases'][0]}")

    auditor = _signed_in(app, "kiemtra.ha")
    get(auditor, "/audit/")
    get(auditor, "/access/break-glass")
    get(auditor, "/no-such-page")
    return seen
