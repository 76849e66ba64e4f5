"""Scenes several tests play in: people of several bodies signed in at once, with the records
between them. The coordination scene (tests/test_coordination.py, test_coordination_relatives.py):
an officer asks another body about a review in verification, through the request pages.

The fixture `scene` (conftest.py) builds it; the helpers below act through its pages. The API
scene (`api_scene`, tests/test_api_*.py) adds the bodies' API clients to it."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from cases.casework import operations
from cases.casework.operations import FindingData
from cases.coordination import operations as coordination
from cases.coordination.operations import RequestData
from cases.models import Case, CoordinationRequest, Subject
from cases.partners import clients
from cases.reviews import operations as reviews
from cases.reviews.operations import ReviewData
from cases.subjects.operations import RelativeData, add_relative
from protection.accounts import find_unit
from protection.db import db
from protection.exchange import format as package_format
from protection.exchange import keys as exchange_keys
from protection.identity import Clearance, User
from tests.factories import fresh_id_number
from tests.pages import (
    PDF,
    create_subject_by_form,
    csrf_token,
    day_text,
    hidden,
    org_today,
    person,
    text_of,
)

TITLE = "Thẩm định bổ nhiệm Phó Giám đốc Sở Tư pháp"
SUMMARY = "Tóm tắt nội bộ chỉ cán bộ thẩm định được đọc"
SHARED_FINDING = "Ông nội tham gia kháng chiến chống Pháp tại Sơn Hà"
UNSHARED_FINDING = "Có quan hệ với tổ chức nước ngoài chưa được xác minh"
QUESTIONS = "Đề nghị xác minh quá trình công tác tại Công an huyện"
BODY_FINDING = "Không phát hiện vấn đề chính trị trong thời gian công tác"
ANSWER = "Đã xác minh xong, kết quả như ghi nhận"
FOLLOW_UP = "Đề nghị bổ sung giai đoạn 2010-2015"
SHARED_FILE = "bien-ban-chia-se.pdf"
UNSHARED_FILE = "to-trinh-noi-bo.pdf"
PETITIONER = "Trần Văn Tố Cáo"
PETITION_SUMMARY = "Đơn phản ánh việc kê khai tài sản"


@dataclass
class Scene:
    officer: object
    liaison: object
    other_liaison: object
    officer_client: object
    liaison_client: object
    other_client: object
    case_id: uuid.UUID
    subject_id: str
    shared_finding: uuid.UUID
    unshared_finding: uuid.UUID
    shared_file: uuid.UUID
    unshared_file: uuid.UUID
    police_unit: uuid.UUID


def review_in_verification(app, officer_id, subject_id) -> dict:
    """A review of the dossier with a shared and an unshared finding and file, in verification."""
    with app.app_context():
        officer = db.session.get(User, officer_id)
        case = reviews.open_review(ReviewData(subject_id=uuid.UUID(subject_id), purpose="appointment",
                                                 classification="confidential", title=TITLE, summary=SUMMARY),
                                      by=officer)
        shared = operations.add_finding(case, FindingData("subject", "political_history", SHARED_FINDING,
                                                          "unclassified", source="Lý lịch"), by=officer)
        unshared = operations.add_finding(case, FindingData("subject", "current_political_issue", UNSHARED_FINDING,
                                                            "confidential"), by=officer)
        shared_file = operations.add_attachment(case, io.BytesIO(PDF), SHARED_FILE, "unclassified", by=officer)
        unshared_file = operations.add_attachment(case, io.BytesIO(PDF), UNSHARED_FILE, "unclassified", by=officer)
        operations.transition(case, "start_examination", by=officer)
        operations.transition(case, "start_verification", by=officer)
        ids = {"case_id": case.id, "shared_finding": shared.id, "unshared_finding": unshared.id,
               "shared_file": shared_file.id, "unshared_file": unshared_file.id}
        db.session.commit()
    return ids


def coordination_scene(app, client, make_unit, make_user, sign_in) -> Scene:
    """An officer (signed in on `client`) with a review of An in verification, the police
    committee's liaison and the military committee's, each signed in on a client of their own;
    `make_unit`, `make_user` and `sign_in` are the fixtures."""
    make_unit()
    make_unit("DUCA", "Đảng ủy Công an tỉnh", kind="police")
    make_unit("DUQS", "Đảng ủy Quân sự tỉnh", kind="military")
    officer = make_user("officer", clearance="secret")
    liaison = make_user("liaison", unit="DUCA", clearance="secret", display_name="Lê Văn Phối Hợp")
    other_liaison = make_user("liaison", unit="DUQS", clearance="secret")
    assert sign_in(officer).status_code == 302
    subject_id = create_subject_by_form(client)
    ids = review_in_verification(app, officer.id, subject_id)
    liaison_client, other_client = app.test_client(), app.test_client()
    assert sign_in(liaison, target=liaison_client).status_code == 302
    assert sign_in(other_liaison, target=other_client).status_code == 302
    with app.app_context():
        police = db.session.scalar(select(User).where(User.id == liaison.id)).unit_id
        db.session.commit()
    return Scene(officer, liaison, other_liaison, client, liaison_client, other_client, subject_id=subject_id,
                 police_unit=police, **ids)




def new_request_path(scene: Scene) -> str:
    return f"/cases/{scene.case_id}/requests/new"


def request_form(scene: Scene, **changes) -> dict:
    page = scene.officer_client.get(new_request_path(scene)).get_data(as_text=True)
    data = {
        "csrf_token": hidden(page, "csrf_token"),
        "version": hidden(page, "version"),
        "form_token": hidden(page, "form_token"),
        "body_unit_id": str(scene.police_unit),
        "questions": QUESTIONS,
        "due_on": day_text(20),
        "subject_fields": ["full_name", "date_of_birth"],
        "finding_ids": [str(scene.shared_finding)],
        "attachment_ids": [str(scene.shared_file)],
    }
    data.update(changes)
    return data


def send(scene: Scene, **changes) -> uuid.UUID:
    response = scene.officer_client.post(new_request_path(scene), data=request_form(scene, **changes))
    assert response.status_code == 302, text_of(response)[:3000]
    match = re.fullmatch(rf"/cases/{scene.case_id}/requests/([0-9a-f-]{{36}})", response.headers["Location"])
    assert match, response.headers["Location"]
    return uuid.UUID(match.group(1))


def liaison_post(client, request_id, action: str, prefix: str, data: dict | None = None, **kwargs):
    page_path = f"/requests/{request_id}"
    page = client.get(page_path).get_data(as_text=True)
    version = re.search(r'name="[a-z]+-version"[^>]*value="(\d+)"', page).group(1)  # any form's: one request
    payload = {f"{prefix}-csrf_token": csrf_token(client, page_path), f"{prefix}-version": version}
    payload.update({f"{prefix}-{key}": value for key, value in (data or {}).items()})
    return client.post(f"{page_path}/{action}", data=payload, **kwargs)


def officer_post(scene: Scene, request_id, action: str, prefix: str, data: dict | None = None):
    page_path = f"/cases/{scene.case_id}/requests/{request_id}"
    page = scene.officer_client.get(page_path).get_data(as_text=True)
    payload = {f"{prefix}-csrf_token": csrf_token(scene.officer_client, page_path),
               f"{prefix}-version": hidden(page, f"{prefix}-version")}
    payload.update({f"{prefix}-{key}": value for key, value in (data or {}).items()})
    return scene.officer_client.post(f"{page_path}/{action}", data=payload)


def request_row(app, request_id) -> dict:
    with app.app_context():
        item = db.session.get(CoordinationRequest, request_id)
        values = {"state": item.state, "version": item.version, "answer": item.answer, "follow_up": item.follow_up}
        db.session.commit()
    return values


def count_requests(app) -> int:
    with app.app_context():
        count = len(db.session.scalars(select(CoordinationRequest.id)).all())
        db.session.commit()
    return count


# --- exchange packages (issue 21 §B): the coordination scene with a body off the intranet ---------
#
# The police committee (DUCA) has registered an exchange key; the officer exports a request as a
# package through the request page, the body answers it (here with protection/exchange/format.py,
# as `hoso-exchange answer` does; tests/test_exchange_roundtrip.py runs the real console) and the
# officer imports the answer through the same page.

def request_path(scene: Scene, request_id) -> str:
    return f"/cases/{scene.case_id}/requests/{request_id}"


def export_package(scene: Scene, request_id):
    """POST the request page's export button: the response (the package file, or a redirect)."""
    path = request_path(scene, request_id)
    page = scene.officer_client.get(path).get_data(as_text=True)
    return scene.officer_client.post(f"{path}/export", data={"export-csrf_token": hidden(page, "export-csrf_token")})


def exported(scene: Scene, request_id) -> bytes:
    """The package file an export answers with (the export must succeed)."""
    response = export_package(scene, request_id)
    assert response.status_code == 200, text_of(response)[:2000]
    assert response.headers["Content-Disposition"].startswith("attachment;")
    return response.get_data()


def import_package(scene: Scene, request_id, data: bytes, filename: str = "tra-loi.hoso"):
    """POST a file to the request page's import form: the response."""
    path = request_path(scene, request_id)
    token = csrf_token(scene.officer_client, path)
    return scene.officer_client.post(f"{path}/import", content_type="multipart/form-data",
                                     data={"exchange-csrf_token": token,
                                           "exchange-package": (io.BytesIO(data), filename)})


def body_finding(person: str = "subject", **changes) -> dict:
    """A finding of an answer package, as `hoso-exchange answer` writes it."""
    return {"person": person, "category": "political_history", "text": BODY_FINDING, "classification": "unclassified",
            "source": "Hồ sơ Công an tỉnh", "found_on": None, **changes}


def body_answer(request_data: bytes, body_key, *, findings: list | None = None, answer: str = ANSWER,
                files=(), signer=None, **manifest) -> bytes:
    """The body's answer to the request package `request_data`: opened with `body_key`,
    answered (one finding about the subject unless `findings`), signed with `signer` (the
    body's key by default) and encrypted to the organisation's key the request names.
    `manifest` overrides kind, request_id, in_reply_to or package_id."""
    request = package_format.open_package(request_data, recipient=body_key, sender=None)
    organisation = exchange_keys.parse_public(request.sender_key)
    fields = {"kind": "answer", "package_id": package_format.new_package_id(), "request_id": request.request_id,
              "in_reply_to": request.package_id, **manifest}
    package = package_format.Package(content={"answer": answer, "findings": [body_finding()] if findings is None
                                              else findings}, files=list(files), **fields)
    return package_format.seal(package, sender=signer or body_key, recipient=organisation)


def opened_request(request_data: bytes, body_key):
    """The request package as the body opens it."""
    return package_format.open_package(request_data, recipient=body_key, sender=None)


def exchange_console() -> tuple[list[str], dict]:
    """How to run `hoso-exchange` as a body does, in a subprocess: the installed script beside
    this interpreter when it runs this checkout's code; otherwise (an editable install of
    another tree, seen from a worktree) the same script with this checkout first on
    PYTHONPATH; without a script, `python -m protection.exchange.console`. (command, env)"""
    root = Path(__file__).resolve().parent.parent
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}

    def resolves_here() -> bool:
        found = subprocess.run([sys.executable, "-c", "import protection.exchange.console as c; print(c.__file__)"],  # noqa: S603 - our own interpreter
                               capture_output=True, text=True, env=env, cwd="/", check=True)
        return Path(found.stdout.strip()).resolve() == (root / "protection" / "exchange" / "console.py").resolve()

    if not resolves_here():
        env["PYTHONPATH"] = str(root)
        assert resolves_here()
    script = Path(sys.executable).with_name("hoso-exchange")
    return ([str(script)] if script.exists() else [sys.executable, "-m", "protection.exchange.console"]), env


# --- the partner API (issue 21 §A) ----------------------------------------------------------------
#
# The coordination scene, seen by the bodies' systems: the police committee's API client and
# the military committee's, each with its bearer token. The police have a request about An's
# review that shares his name, date of birth, a finding, a file and his father (not his
# mother); the military have a request about another review (another reference), which no
# police call may ever show.

API_FATHER = "Nguyễn Văn Cha Đẻ"
API_MOTHER = "Lê Thị Mẹ Ruột"
OTHER_SUBJECT = "Trần Thị Bình"


@dataclass
class ApiScene:
    scene: Scene
    request_id: uuid.UUID  # to the police
    other_request_id: uuid.UUID  # to the military, about another case
    other_reference: str
    token: str  # the police client's
    other_token: str  # the military client's
    client_id: uuid.UUID
    user_id: uuid.UUID  # the police client's service account
    father: uuid.UUID  # shared with the police
    mother: uuid.UUID  # on the dossier, not shared


def make_api_client(app, unit_code: str, *, clearance: str = "secret", name: str = "Hệ thống nghiệp vụ",
                    **options) -> tuple[uuid.UUID, uuid.UUID, str]:
    """An API client of the body `unit_code` (cases/partners/clients.py): (client id, service
    account id, token)."""
    with app.app_context():
        client, token = clients.create_client(body=find_unit(unit_code), name=name, clearance=Clearance(clearance),
                                              **options)
        ids = (client.id, client.user_id)
        db.session.commit()
    return (*ids, token)


def bearer(token: str, **headers: str) -> dict[str, str]:
    """Request headers for an API call with `token` (underscores in names become dashes)."""
    return {"Authorization": f"Bearer {token}", **{name.replace("_", "-"): value for name, value in headers.items()}}


def api_scene(app, scene: Scene) -> ApiScene:
    with app.app_context():
        officer = db.session.get(User, scene.officer.id)
        subject = db.session.get(Subject, uuid.UUID(scene.subject_id))
        father = add_relative(subject, RelativeData("father", API_FATHER, birth_year=1950, occupation="Hưu trí"),
                              by=officer)
        mother = add_relative(subject, RelativeData("mother", API_MOTHER, birth_year=1954), by=officer)
        relatives = {"father": father.id, "mother": mother.id}
        db.session.commit()
    request_id = send(scene, relative_ids=[str(relatives["father"])], relative_fields=["birth_year", "occupation"])
    other_subject = create_subject_by_form(scene.officer_client, person(full_name=OTHER_SUBJECT,
                                                                         id_number=fresh_id_number()))
    other_case = review_in_verification(app, scene.officer.id, other_subject)["case_id"]
    with app.app_context():
        officer = db.session.get(User, scene.officer.id)
        case = db.session.get(Case, other_case)
        military = find_unit("DUQS")
        other = coordination.send_request(case, RequestData(body_unit_id=military.id, questions=QUESTIONS,
                                                            due_on=org_today() + timedelta(days=15),
                                                            subject_fields=["full_name"]), by=officer)
        other_request_id, other_reference = other.id, case.reference
        db.session.commit()
    client_id, user_id, token = make_api_client(app, "DUCA")
    _other_client, _other_user, other_token = make_api_client(app, "DUQS")
    return ApiScene(scene, request_id, other_request_id, other_reference, token, other_token, client_id, user_id,
                    **relatives)
