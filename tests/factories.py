"""Factories: plain functions that make what a test needs through the real operations
(cases/*/operations.py, protection/accounts.py) and return the objects made.

The ones taking `by` (a User row) run inside the caller's app context and leave the commit to
the caller, as a request would: `with app.app_context(): ...; db.session.commit()`. The
fixtures that wrap them (make_unit, make_user, login_as, ...) are in tests/conftest.py; what a
person does through the pages is in tests/pages.py. Test modules never import one another
(tests/test_test_hygiene.py): a helper two modules need lives here or there.

The statistics world (`build_world`) is here too: the report, dashboard and statistics tests
count the same cases."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

import cbor2
import pyotp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from cases.access.operations import citizen_index
from cases.casework import operations
from cases.conclusions import operations as conclusions
from cases.conclusions.operations import ConclusionData
from cases.coordination import operations as coordination
from cases.coordination.operations import RequestData
from cases.models import Case, Conclusion, Subject
from cases.partners import exchange_keys
from cases.petitions import operations as petitions
from cases.petitions import releases
from cases.petitions.operations import Decision, PetitionData
from cases.reviews import operations as reviews
from cases.reviews.operations import ReviewData
from cases.subjects import operations as subjects
from cases.subjects.operations import SubjectData
from protection import accounts
from protection.accounts import NewUser
from protection.clock import utcnow
from protection.db import db
from protection.exchange.keys import generate as generate_exchange_key
from protection.i18n import local_date
from protection.identity import Role, User

PASSWORD = "Gio-mua-thu-tren-song-Lam-42"


# --- people and units ----------------------------------------------------------------------------

@dataclass
class MadeUser:
    """A user as a test holds it after the app context closed: ids and secrets, no ORM row."""
    id: uuid.UUID
    username: str
    password: str
    role: str
    unit_code: str
    totp_secret: str | None = None


def make_unit(app, code: str = "BTCTU", name: str = "Ban Tổ chức Tỉnh ủy", kind: str = "organisation",
              parent: str | None = None) -> str:
    """The unit `code`, created (and committed) unless it exists; its code."""
    with app.app_context():
        if accounts.find_unit(code) is None:
            accounts.create_unit(code=code, name=name, kind=kind, parent_code=parent, by=None)
            db.session.commit()
    return code


def make_user(app, role: str = "officer", *, username: str, unit: str = "BTCTU", clearance: str = "secret",
              password: str = PASSWORD, totp: bool | None = None, active: bool = True,
              must_change_password: bool = False, display_name: str = "Nguyễn Thị Kiểm Thử") -> MadeUser:
    """A user created (and committed) through protection.accounts; a second factor enrolled
    when the role requires one (or as `totp` says)."""
    if unit == "BTCTU":
        make_unit(app, unit)
    with app.app_context():
        user, _ = accounts.create_user(
            NewUser(username, display_name, unit, role, clearance),
            password=password, by=None, must_change_password=must_change_password,
        )
        enrol = Role(role).requires_second_factor if totp is None else totp
        if enrol:
            user.totp_secret = pyotp.random_base32()
            user.totp_enabled_at = utcnow()
        user.active = active
        db.session.commit()
        return MadeUser(user.id, user.username, password, role, unit, user.totp_secret)


def user_row(made) -> User:
    """The User row of a MadeUser (or of an id), in the current app context."""
    return db.session.get(User, getattr(made, "id", made))


# --- dossiers and cases, through the operations ------------------------------------------------

def fresh_id_number() -> str:
    """A 12-digit ID number no other dossier in the test has (with overwhelming odds)."""
    return f"0380{uuid.uuid4().int % 10**8:08d}"


def make_subject(by: User, full_name: str = "Nguyễn Văn An", date_of_birth: date = date(1980, 2, 1),
                 id_number: str | None = None, *, owner_unit=None) -> Subject:
    """A dossier in `by`'s unit (or `owner_unit`), created by `by`."""
    return subjects.create_subject(SubjectData(full_name, date_of_birth, id_number or fresh_id_number()),
                                   owner_unit=owner_unit or by.unit, by=by)


def open_review(by: User, subject: Subject | None = None, *, purpose: str = "appointment",
                classification: str = "confidential", **details) -> Case:
    """A review of `subject` (a new dossier when None) opened by `by`; `details` are the other
    ReviewData fields (title, summary, due_on)."""
    subject = subject or make_subject(by)
    return reviews.open_review(ReviewData(subject.id, purpose, classification, **details), by=by)


def walk(case: Case, *actions: str, by: User) -> Case:
    """Plain workflow steps, one after another, by `by`."""
    for action in actions:
        operations.transition(case, action, by=by)
    return case


def to_conclusion(case: Case, *, by: User) -> Case:
    """A new review walked to the conclusion stage (its verification skipped)."""
    return walk(case, "start_examination", "start_appraisal", "start_conclusion", by=by)


def submit_conclusion(case: Case, *, by: User, outcome: str = "no_issue",
                      reasoning: str = "Lý lịch rõ ràng.") -> Conclusion:
    """A conclusion drafted and submitted for approval by `by`."""
    conclusions.save_draft(case, ConclusionData(outcome, reasoning), by=by)
    return conclusions.submit(case, by=by)


def approve_conclusion(case: Case, *, by: User, secret: str = PASSWORD) -> Conclusion:
    """The submitted conclusion approved by `by`, who re-enters their password (`secret`)."""
    return conclusions.approve(case, secret, by=by)


def receive_petition(by: User, *, received_on: date | None = None, channel: str = "post",
                     petition_type: str = "denunciation", classification: str = "unclassified",
                     summary: str = "Đơn phản ánh việc kê khai tài sản.", **details) -> Case:
    """A petition received by `by` (today in the organisation's calendar by default); `details`
    are the other PetitionData fields (petitioner_name, named_people, ...)."""
    return petitions.receive_petition(PetitionData(
        received_on=received_on or operations.today(), channel=channel, petition_type=petition_type,
        classification=classification, summary=summary, **details), by=by)


def release_identity(app, case_id, *, asker, approvers,
                     reason: str = "Cần liên hệ người gửi đơn để xác minh thêm nội dung tố cáo.") -> uuid.UUID:
    """A release of a petition's identity (issue 23), asked by `asker` and approved by each of
    `approvers` (MadeUsers or ids) through cases/petitions/releases.py, committed; its id.
    The approvals skip the password prompt (approve_unattended): the prompt itself is tested
    through the pages in tests/test_identity_release.py."""
    with app.app_context():
        case = db.session.get(Case, uuid.UUID(str(case_id)))
        release = releases.ask(case, reason, by=user_row(asker))
        for approver in approvers:
            releases.approve_unattended(release, by=user_row(approver))
        db.session.commit()
        return release.id


def register_exchange_key(app, unit_code: str, *, by, clearance: str = "secret"):
    """A new exchange key for the body `unit_code` (protection/exchange/keys.py), registered
    (and committed) through cases/partners/exchange_keys.py by the admin `by` (a MadeUser or
    an id); the private key, as the body keeps it."""
    with app.app_context():
        private = generate_exchange_key()
        exchange_keys.register_key(accounts.find_unit(unit_code), private.public.line, clearance, by=user_row(by))
        db.session.commit()
    return private


def count_rows(app, model) -> int:
    """How many rows of `model` are committed."""
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(model))
        db.session.commit()
    return count



def stored_case(app, case_id) -> dict:
    """A case's state, version, dates, petition decision and conclusions as committed."""
    with app.app_context():
        case = db.session.get(Case, uuid.UUID(str(case_id)))
        values = {"state": case.state, "version": case.version, "due_on": case.due_on, "reference": case.reference,
                  "extensions": case.extensions, "opened_on": case.opened_on}
        if case.petition is not None:
            values.update(decision=case.petition.decision, repeat_of=case.petition.repeat_of_id,
                          decision_reason=case.petition.decision_reason, decided_on=case.petition.decided_on)
        values["conclusions"] = [
            {"state": item.state, "document_number": item.document_number, "author": item.author_id,
             "return_comment": item.return_comment, "reasoning": item.reasoning}
            for item in db.session.scalars(select(Conclusion).where(Conclusion.case_id == case.id)
                                           .order_by(Conclusion.version_number))]
        db.session.commit()
    return values

# --- the statistics world ------------------------------------------------------------------------
# BTCTU with its district HUYEN below it, and another unit BTGTU. In BTCTU: an approved review
# of X (appointment, unclassified), a confidential review of Z in verification with a request
# answered by the police committee DUCA, a top-secret review of Z, four petitions (accepted
# complaint, filed denunciation, overdue reflection, forwarded recommendation). In HUYEN: a
# secret review of Y and a petition. In BTGTU: one review.

# Protected values: none may show in a report or a chart.
TITLES = ("Thẩm định bổ nhiệm Giám đốc Sở Tài chính", "Thẩm định kết nạp Đảng viên mới",
          "Đơn khiếu nại về việc đánh giá cán bộ")
NAMES = ("Vương Thị Thống Kê", "Lục Văn Biểu Đồ", "Hà Thị Báo Cáo", "Người Gửi Đơn Khiếu Nại")
X_ID, Y_ID, Z_ID = "038079111111", "038080222222", "038081333333"


@dataclass
class World:
    users: dict
    ids: dict = field(default_factory=dict)
    today: date | None = None


def _review(subject, purpose, level, by, title=None):
    return reviews.open_review(ReviewData(subject.id, purpose, level, title=title), by=by)


def build_world(app, make_unit, make_user) -> World:
    """The statistics world above, made through the operations; `make_unit` and `make_user`
    are the fixtures."""
    make_unit("BTCTU", "Ban Tổ chức Tỉnh ủy")
    make_unit("HUYEN", "Ban Tổ chức Huyện ủy", kind="district", parent="BTCTU")
    make_unit("BTGTU", "Ban Tuyên giáo Tỉnh ủy", kind="propaganda")
    make_unit("DUCA", "Đảng ủy Công an tỉnh", kind="police")
    made = {
        "officer": make_user("officer", unit="BTCTU", clearance="top_secret"),
        "officer_huyen": make_user("officer", unit="HUYEN", clearance="secret"),
        "officer_other": make_user("officer", unit="BTGTU", clearance="secret"),
        "supervisor": make_user("supervisor", unit="BTCTU", clearance="top_secret"),
        "supervisor_low": make_user("supervisor", unit="BTCTU", clearance="unclassified"),
        "supervisor_recused": make_user("supervisor", unit="BTCTU", clearance="top_secret"),
        "supervisor_huyen": make_user("supervisor", unit="HUYEN", clearance="top_secret"),
        "supervisor_other": make_user("supervisor", unit="BTGTU", clearance="top_secret"),
        "liaison": make_user("liaison", unit="DUCA", clearance="secret"),
        "auditor": make_user("auditor", unit="BTCTU", clearance="top_secret"),
    }
    world = World(made)
    with app.app_context():
        today = world.today = operations.today()
        officer, supervisor = user_row(made["officer"]), user_row(made["supervisor"])
        huyen_officer, other_officer = user_row(made["officer_huyen"]), user_row(made["officer_other"])
        btctu, huyen, btgtu = (accounts.find_unit(code) for code in ("BTCTU", "HUYEN", "BTGTU"))
        x = subjects.create_subject(SubjectData(NAMES[0], date(1979, 1, 2), X_ID), owner_unit=btctu, by=officer)
        y = subjects.create_subject(SubjectData(NAMES[1], date(1980, 3, 4), Y_ID), owner_unit=huyen, by=huyen_officer)
        z = subjects.create_subject(SubjectData(NAMES[2], date(1981, 5, 6), Z_ID), owner_unit=btctu, by=officer)
        w = subjects.create_subject(SubjectData("Đơn Vị Khác", date(1982, 7, 8), "038082444444"), owner_unit=btgtu,
                                    by=other_officer)

        approved = _review(x, "appointment", "unclassified", officer, TITLES[0])
        for action in ("start_examination", "start_appraisal", "start_conclusion"):
            operations.transition(approved, action, by=officer)
        conclusions.save_draft(approved, ConclusionData("no_issue", "Đủ tiêu chuẩn chính trị."), by=officer)
        conclusions.submit(approved, by=officer)
        conclusions.approve(approved, PASSWORD, by=supervisor)

        verifying = _review(z, "party_admission", "confidential", officer, TITLES[1])
        for action in ("start_examination", "start_verification"):
            operations.transition(verifying, action, by=officer)
        police = accounts.find_unit("DUCA")
        request_ = coordination.send_request(verifying, RequestData(police.id, "Đề nghị xác minh.",
                                                                   today + timedelta(days=10)), by=officer)
        liaison = user_row(made["liaison"])
        coordination.acknowledge(request_, by=liaison)
        coordination.answer(request_, "Không có vấn đề.", by=liaison)
        # Sent six days before the answer: a known response time.
        request_.sent_on = (local_date(request_.answered_at) - timedelta(days=6))
        top_secret = _review(z, "other", "top_secret", officer)
        district = _review(y, "cadre_planning", "secret", huyen_officer)
        other = _review(w, "election", "unclassified", other_officer)

        complaint = petitions.receive_petition(PetitionData(
            received_on=today, channel="post", petition_type="complaint", classification="unclassified",
            summary="Nội dung khiếu nại.", petitioner_name=NAMES[3], title=TITLES[2], subject_id_numbers=[X_ID]),
            by=officer)
        petitions.decide(complaint, Decision("accept", note="Đủ điều kiện thụ lý."), by=officer)
        denunciation = petitions.receive_petition(PetitionData(
            received_on=today, channel="post", petition_type="denunciation", classification="unclassified",
            summary="Nội dung tố cáo.", anonymous=True, named_people=["Người Bị Nêu Tên"]), by=officer)
        petitions.decide(denunciation, Decision("file", reason="vague_content"), by=officer)
        reflection = petitions.receive_petition(PetitionData(
            received_on=today - timedelta(days=20), channel="in_person", petition_type="reflection",
            classification="unclassified", summary="Phản ánh.", petitioner_name="Người Phản Ánh",
            named_people=["Người Bị Phản Ánh"]), by=officer)
        reflection.due_on = today - timedelta(days=2)  # its intake decision is overdue
        recommendation = petitions.receive_petition(PetitionData(
            received_on=today, channel="electronic", petition_type="recommendation",
            classification="unclassified", summary="Kiến nghị.", petitioner_name="Người Kiến Nghị",
            named_people=["Người Được Nêu"]), by=officer)
        petitions.decide(recommendation, Decision("forward", note="Không thuộc thẩm quyền.",
                                                  forwarded_to=btgtu.id), by=officer)
        recommendation.due_on = today - timedelta(days=1)  # forwarded a day late
        district_petition = petitions.receive_petition(PetitionData(
            received_on=today, channel="post", petition_type="complaint", classification="unclassified",
            summary="Khiếu nại ở huyện.", petitioner_name="Người Ở Huyện", named_people=["Cán Bộ Huyện"]),
            by=huyen_officer)

        user_row(made["supervisor_recused"]).citizen_index = citizen_index(X_ID)
        world.ids = {"approved": approved.id, "verifying": verifying.id, "top_secret": top_secret.id,
                     "district": district.id, "other": other.id, "complaint": complaint.id,
                     "denunciation": denunciation.id, "reflection": reflection.id,
                     "recommendation": recommendation.id, "district_petition": district_petition.id,
                     "x": x.id, "request": request_.id}
        db.session.commit()
    return world


# --- security keys (WebAuthn, issue 23) ---------------------------------------------------------

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_bytes(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftKey:
    """A software security key for server-side tests: an EC P-256 credential that answers
    the options Hoso hands out (JSON from /account/security-keys/options and
    /login/key-options) with a real "none" attestation or a real signed assertion, as a
    browser with a USB key would. `origin` and `rp_id` are the test client's (localhost)."""

    def __init__(self, *, rp_id: str = "localhost", origin: str = "http://localhost"):
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.counter = 0
        self.rp_id = rp_id
        self.origin = origin

    def cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin or self.origin,
                           "crossOrigin": False}).encode()

    def attestation(self, options_json: str) -> str:
        """The registration credential's JSON, for the form's hidden `credential` field."""
        options = json.loads(options_json)
        client_data = self._client_data("webauthn.create", options["challenge"], None)
        flags = 0x01 | 0x04 | 0x40  # user present, user verified, attested credential data
        auth_data = (hashlib.sha256(self.rp_id.encode()).digest() + bytes([flags]) + self.counter.to_bytes(4, "big")
                     + bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id
                     + self.cose_public_key())
        attestation_object = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps({
            "id": _b64url(self.credential_id), "rawId": _b64url(self.credential_id), "type": "public-key",
            "response": {"clientDataJSON": _b64url(client_data), "attestationObject": _b64url(attestation_object),
                         "transports": ["usb"]},
            "clientExtensionResults": {}})

    def assertion(self, options_json: str, *, user_verified: bool = True, origin: str | None = None,
                  counter: int | None = None) -> str:
        """The assertion's JSON, for the form's hidden `assertion` field."""
        options = json.loads(options_json)
        self.counter = self.counter + 1 if counter is None else counter
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        flags = 0x01 | (0x04 if user_verified else 0)
        auth_data = (hashlib.sha256(self.rp_id.encode()).digest() + bytes([flags])
                     + self.counter.to_bytes(4, "big"))
        signature = self.private_key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return json.dumps({
            "id": _b64url(self.credential_id), "rawId": _b64url(self.credential_id), "type": "public-key",
            "response": {"clientDataJSON": _b64url(client_data), "authenticatorData": _b64url(auth_data),
                         "signature": _b64url(signature), "userHandle": None},
            "clientExtensionResults": {}})


def challenge_of(options_json: str) -> bytes:
    return _b64url_bytes(json.loads(options_json)["challenge"])
