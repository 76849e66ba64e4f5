"""Exchange packages on the organisation's side (issue 21 §B.1, §B.3), through the request
page: the officer exports a request as a package file for a body off the intranet and
imports the body's answer package, which is then treated exactly like a liaison's answer.

The body's side is played here with protection/exchange/format.py, which is what the console
script runs (tests/test_exchange_roundtrip.py drives the real script in a subprocess): that
lets a test forge what a real console never writes (a tampered file, another key, another
request). Every refusal is checked to leave nothing behind: findings, files, ledger rows,
the request's state and version, the audit entries of an import."""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid

import pytest
from sqlalchemy import func, select

from audit.models import AuditEntry
from cases.coordination import exchange
from cases.models import Attachment, Finding
from cases.partners.models import ExchangePackage
from protection.db import db
from protection.exchange import format as package_format
from protection.exchange import keys as exchange_keys
from protection.identity import User
from tests import factories
from tests.conftest import audit_entries
from tests.pages import AN, PDF, csrf_token, field_errors, text_of
from tests.scenes import (
    ANSWER,
    BODY_FINDING,
    FOLLOW_UP,
    QUESTIONS,
    SHARED_FILE,
    SHARED_FINDING,
    SUMMARY,
    TITLE,
    UNSHARED_FILE,
    UNSHARED_FINDING,
    body_answer,
    body_finding,
    export_package,
    exported,
    import_package,
    liaison_post,
    officer_post,
    opened_request,
    request_path,
    request_row,
    send,
)


@pytest.fixture
def admin(make_user):
    return make_user("admin")


@pytest.fixture
def body_key(app, scene, admin):
    """The police committee's exchange key, registered by an admin (its account: secret)."""
    return factories.register_exchange_key(app, "DUCA", by=admin)


def state_of(app, request_id) -> dict:
    """Everything an import could write about a request, as committed."""
    with app.app_context():
        count = lambda model, *where: db.session.scalar(select(func.count()).select_from(model).where(*where))  # noqa: E731
        values = {
            "findings": count(Finding, Finding.request_id == request_id),
            "attachments": count(Attachment, Attachment.request_id == request_id),
            "packages": count(ExchangePackage, ExchangePackage.request_id == request_id),
            "imports": count(AuditEntry, AuditEntry.action == "exchange.import"),
            "uploads": count(AuditEntry, AuditEntry.action == "attachment.upload"),
            "finding_entries": count(AuditEntry, AuditEntry.action == "finding.create"),
            "transitions": count(AuditEntry, AuditEntry.action == "coordination.transition"),
        }
        db.session.commit()
    return {**values, **request_row(app, request_id)}


def ledger(app, request_id) -> list[ExchangePackage]:
    with app.app_context():
        rows = list(db.session.scalars(select(ExchangePackage).where(ExchangePackage.request_id == request_id)
                                       .order_by(ExchangePackage.created_at)))
        db.session.expunge_all()
        db.session.commit()
    return rows


def exchange_account(app) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "exchange.duca"))
        db.session.expunge(user)
        db.session.commit()
    return user


def detail(entry) -> dict:
    return json.loads(entry.detail)


def refusal(response) -> str | None:
    assert response.status_code == 200, response.status_code
    return field_errors(text_of(response), "exchange-package")


# --- export ----------------------------------------------------------------------------------------

def test_export_answers_the_package_the_body_account_would_see(app, scene, body_key):
    request_id = send(scene)
    response = export_package(scene, request_id)
    assert response.status_code == 200
    assert response.mimetype == "application/octet-stream"
    disposition = response.headers["Content-Disposition"]
    name = re.fullmatch(r'attachment; filename="([A-Za-z0-9._-]+)"', disposition).group(1)
    assert name.startswith("BVCT-") and str(request_id)[:8] in name and name.endswith(".hoso")
    assert response.headers["Cache-Control"] == "no-store"
    data = response.get_data()

    package = opened_request(data, body_key)
    assert (package.kind, package.request_id, package.in_reply_to) == ("request", str(request_id), None)
    assert package.recipient == body_key.public.fingerprint
    content = package.content
    assert content["questions"] == QUESTIONS and content["follow_up"] is None
    assert [(item["field"], item["value"]) for item in content["subject_fields"]] == [
        ("full_name", AN["full_name"]), ("date_of_birth", AN["date_of_birth"])]
    assert [item["text"] for item in content["findings"]] == [SHARED_FINDING]
    assert [(item.name, item.content) for item in package.files] == [(SHARED_FILE, PDF)]
    assert [item["key"] for item in content["people"]] == ["subject"]
    # What an answer may hold: the liaison forms' choices, capped by the case (confidential).
    assert [item["code"] for item in content["choices"]["classifications"]] == ["unclassified", "confidential"]
    assert {item["code"] for item in content["choices"]["categories"]} == {
        "political_history", "current_political_issue", "other"}
    assert content["max_file_bytes"] == app.config["HOSO_MAX_UPLOAD_MB"] * 1024 * 1024
    text = json.dumps(content, ensure_ascii=False)
    for secret in (TITLE, SUMMARY, UNSHARED_FINDING, UNSHARED_FILE, AN["id_number"], AN["residence"]):
        assert secret not in text, secret

    # The ledger row and the audit entry, in the same transaction as the answer.
    [row] = ledger(app, request_id)
    assert (row.id, row.direction, row.created_by_id) == (uuid.UUID(package.package_id), "out", scene.officer.id)
    assert row.sha256 == hashlib.sha256(data).hexdigest().upper()
    assert row.key_fingerprint == body_key.public.fingerprint
    entry = audit_entries(app, "exchange.export")[-1]
    assert (entry.target_type, entry.target_id, entry.actor_id) == ("case", str(scene.case_id), scene.officer.id)
    assert detail(entry) == {"request": str(request_id), "package": package.package_id,
                             "key": body_key.public.fingerprint, "sha256": row.sha256, "fields": 2, "relatives": 0,
                             "findings": 1, "attachments": 1, "bytes": len(data)}
    # The request page lists it, with its printout.
    page = text_of(scene.officer_client.get(request_path(scene, request_id)))
    assert f"/packages/{row.id}" in page and "Gói yêu cầu gửi đi" in page


def test_an_export_after_more_was_requested_carries_the_follow_up(app, scene, body_key):
    request_id = send(scene)
    first = exported(scene, request_id)
    assert import_package(scene, request_id, body_answer(first, body_key)).status_code == 303
    assert officer_post(scene, request_id, "more", "more", {"follow_up": FOLLOW_UP}).status_code == 302
    package = opened_request(exported(scene, request_id), body_key)
    assert package.content["follow_up"] == FOLLOW_UP


def test_an_account_cleared_below_the_case_gets_no_package(app, scene, admin):
    factories.register_exchange_key(app, "DUCA", by=admin, clearance="unclassified")  # the case is confidential
    request_id = send(scene)
    response = export_package(scene, request_id)
    assert response.status_code == 303
    page = text_of(scene.officer_client.get(response.headers["Location"]))
    assert "không được tiếp cận" in page
    assert ledger(app, request_id) == [] and audit_entries(app, "exchange.export") == []


def test_export_is_refused_without_a_key_or_once_the_body_need_not_answer(app, scene, make_user):
    request_id = send(scene)
    # No key: no export button, and a forged POST is refused with a message.
    path = request_path(scene, request_id)
    assert "/export" not in text_of(scene.officer_client.get(path))
    token = csrf_token(scene.officer_client, path)
    response = scene.officer_client.post(f"{path}/export", data={"export-csrf_token": token})
    assert response.status_code == 303
    assert "chưa đăng ký khóa trao đổi" in text_of(scene.officer_client.get(response.headers["Location"]))
    assert ledger(app, request_id) == []

    # Withdrawn: refused too, nothing written.
    factories.register_exchange_key(app, "DUCA", by=make_user("admin"))
    assert officer_post(scene, request_id, "withdraw", "withdraw").status_code == 302
    assert "/export" not in text_of(scene.officer_client.get(path))
    response = scene.officer_client.post(f"{path}/export", data={"export-csrf_token": token})
    assert response.status_code == 303
    assert "Chỉ xuất gói khi yêu cầu đang chờ" in text_of(scene.officer_client.get(response.headers["Location"]))
    assert ledger(app, request_id) == [] and audit_entries(app, "exchange.export") == []


def test_export_needs_a_form_of_ours_and_the_case_worker(app, scene, body_key, make_user, sign_in):
    request_id = send(scene)
    path = f"{request_path(scene, request_id)}/export"
    assert scene.officer_client.post(path, data={}).status_code == 400  # no CSRF token
    # A liaison (even of the body) and an officer who is not assigned reach no export.
    assert scene.liaison_client.post(path, data={"csrf_token": csrf_token(scene.liaison_client, "/requests/")}
                                     ).status_code == 403
    colleague = make_user("officer")
    client = app.test_client()
    assert sign_in(colleague, target=client).status_code == 302
    assert client.post(path, data={"csrf_token": csrf_token(client, "/")}).status_code in (403, 404)
    assert ledger(app, request_id) == []


# --- import --------------------------------------------------------------------------------------

def test_an_imported_answer_is_the_body_account_s_answer_and_joins_the_case_once_accepted(app, scene, body_key):
    request_id = send(scene)
    request_data = exported(scene, request_id)
    answer = body_answer(request_data, body_key,
                         findings=[body_finding(), body_finding(category="other", text="Đã đối chiếu danh bạ",
                                                                classification="confidential", found_on="2026-01-05")],
                         files=[package_format.PackageFile(name="bien-ban-xac-minh.pdf", content=PDF,
                                                           media_type="application/pdf",
                                                           classification="unclassified")])
    response = import_package(scene, request_id, answer)
    assert response.status_code == 303, refusal(response)
    page = text_of(scene.officer_client.get(response.headers["Location"]))
    assert "Đã nhập gói trả lời của cơ quan: 2 kết quả xác minh, 1 tệp." in page
    assert ANSWER in page and BODY_FINDING in page and "bien-ban-xac-minh.pdf" in page

    account = exchange_account(app)
    assert (account.service_account, account.role.value, account.unit.code) == (True, "liaison", "DUCA")
    state = state_of(app, request_id)
    assert (state["state"], state["answer"], state["findings"], state["attachments"]) == ("answered", ANSWER, 2, 1)
    with app.app_context():
        findings = list(db.session.scalars(select(Finding).where(Finding.request_id == request_id)))
        assert {row.author_id for row in findings} == {account.id}
        assert not any(row.accepted for row in findings)
        [attachment] = db.session.scalars(select(Attachment).where(Attachment.request_id == request_id)).all()
        assert (attachment.uploaded_by_id, attachment.blob.content) == (account.id, PDF)
        db.session.commit()
    # As a liaison's answer: acknowledged, then answered, by the body's account.
    steps = [detail(entry)["step"] for entry in audit_entries(app, "coordination.transition")
             if entry.actor_id == account.id]
    assert steps == ["acknowledge", "answer"]
    out, into = ledger(app, request_id)
    assert (into.direction, into.in_reply_to, into.created_by_id) == ("in", out.id, scene.officer.id)
    assert into.sha256 == hashlib.sha256(answer).hexdigest().upper()
    entry = audit_entries(app, "exchange.import")[-1]
    assert (entry.target_type, entry.target_id, entry.actor_id) == ("case", str(scene.case_id), scene.officer.id)
    assert detail(entry) == {"request": str(request_id), "package": str(into.id), "in_reply_to": str(out.id),
                             "key": body_key.public.fingerprint, "sha256": into.sha256, "findings": 2,
                             "attachments": 1, "account": str(account.id)}
    assert BODY_FINDING not in entry.detail and ANSWER not in entry.detail

    # The officer reviews it as any answer: accepted, the findings join the case.
    assert officer_post(scene, request_id, "accept", "accept").status_code == 302
    assert request_row(app, request_id)["state"] == "accepted"
    with app.app_context():
        assert all(row.accepted for row in db.session.scalars(select(Finding).where(Finding.request_id == request_id)))
        db.session.commit()
    case_page = text_of(scene.officer_client.get(f"/cases/{scene.case_id}"))
    assert BODY_FINDING in case_page


def test_an_acknowledged_request_takes_the_answer_without_acknowledging_again(app, scene, body_key):
    request_id = send(scene)
    request_data = exported(scene, request_id)
    assert liaison_post(scene.liaison_client, request_id, "acknowledge", "ack").status_code == 302
    response = import_package(scene, request_id, body_answer(request_data, body_key))
    assert response.status_code == 303, refusal(response)
    assert request_row(app, request_id)["state"] == "answered"


def _other_key():
    return exchange_keys.generate()


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


# Each forged or misdirected answer: (how to make it from the request package and the body's
# key, the start of the line the officer reads beside the upload field).
REFUSALS = {
    "not a package": (lambda data, key: b"%PDF-1.4 not a package at all", "Đây không phải gói trao đổi Hoso"),
    "truncated": (lambda data, key: body_answer(data, key)[:-40], "Gói bị cắt cụt hoặc bị hỏng"),
    "tampered": (lambda data, key: _flip(body_answer(data, key), 400), "Gói bị cắt cụt hoặc bị hỏng"),
    "signed by another key": (lambda data, key: body_answer(data, key, signer=_other_key()),
                              "Gói được ký bằng kh"),
    "addressed to another key": (
        lambda data, key: package_format.seal(
            package_format.Package(kind="answer", package_id=package_format.new_package_id(),
                                   request_id=opened_request(data, key).request_id,
                                   in_reply_to=opened_request(data, key).package_id,
                                   content={"answer": ANSWER, "findings": []}),
            sender=key, recipient=_other_key().public),
        "Gói không được gửi cho kh"),
    "a request package": (lambda data, key: body_answer(data, key, kind="request"), "Đây không phải gói trả lời"),
    "another request's id": (lambda data, key: body_answer(data, key, request_id=str(uuid.uuid4())),
                             "Đây là gói trả lời cho một yêu cầu khác"),
    "no reply to our package": (lambda data, key: body_answer(data, key, in_reply_to=str(uuid.uuid4())),
                                "Gói trả lời này không trả lời gói yêu cầu xuất gần nhất"),
    "a person not disclosed": (lambda data, key: body_answer(data, key, findings=[
        body_finding(), body_finding(person=str(uuid.uuid4()))]), "Gói trả lời bị từ chối: Chỉ ghi kết quả"),
    "classified above the case": (lambda data, key: body_answer(data, key, findings=[
        body_finding(classification="secret")]), "Gói trả lời bị từ chối: Nội dung không thể có độ mật cao hơn"),
    "a file the web refuses": (lambda data, key: body_answer(data, key, files=[
        package_format.PackageFile(name="bao-cao.pdf", content=PDF),
        package_format.PackageFile(name="chay-thu.exe", content=b"MZ\x90\x00 not a document")]),
        "Gói trả lời bị từ chối:"),
    "an empty answer": (lambda data, key: body_answer(data, key, answer="   "),
                        "Gói trả lời bị từ chối: Hãy nhập nội dung trả lời"),
    "a malformed finding": (lambda data, key: body_answer(data, key, findings=[{"person": "subject"}]),
                            "Gói trả lời không đúng dạng"),
}


@pytest.mark.parametrize("case", list(REFUSALS), ids=list(REFUSALS))
def test_a_bad_answer_package_is_refused_with_one_line_and_nothing_written(app, scene, body_key, case):
    request_id = send(scene)
    request_data = exported(scene, request_id)
    make, message = REFUSALS[case]
    forged = make(request_data, body_key)
    before = state_of(app, request_id)
    response = import_package(scene, request_id, forged)
    reason = refusal(response)
    assert reason is not None and reason.startswith(message), reason
    assert "\n" not in reason.strip()
    assert state_of(app, request_id) == before  # still "sent": not even the acknowledgement stayed
    assert before["state"] == "sent"
    for secret in (BODY_FINDING, ANSWER):
        assert secret not in reason


def test_a_replayed_answer_is_refused(app, scene, body_key):
    request_id = send(scene)
    answer = body_answer(exported(scene, request_id), body_key)
    assert import_package(scene, request_id, answer).status_code == 303
    before = state_of(app, request_id)
    reason = refusal(import_package(scene, request_id, answer))
    assert reason.startswith("Gói trả lời này đã được nhập trước đây")
    assert state_of(app, request_id) == before


def test_another_request_s_answer_is_refused(app, scene, body_key):
    first, second = send(scene), send(scene, questions="Đề nghị xác minh thêm nơi cư trú")
    first_answer = body_answer(exported(scene, first), body_key)
    exported(scene, second)
    before = state_of(app, second)
    reason = refusal(import_package(scene, second, first_answer))
    assert reason.startswith("Đây là gói trả lời cho một yêu cầu khác")
    assert state_of(app, second) == before
    # Where it belongs, it is taken.
    assert import_package(scene, first, first_answer).status_code == 303


def test_an_answer_to_an_older_package_after_more_was_requested_is_refused(app, scene, body_key):
    request_id = send(scene)
    first_package = exported(scene, request_id)
    first_answer = body_answer(first_package, body_key)
    assert import_package(scene, request_id, first_answer).status_code == 303
    assert officer_post(scene, request_id, "more", "more", {"follow_up": FOLLOW_UP}).status_code == 302
    second_package = exported(scene, request_id)

    before = state_of(app, request_id)
    assert before["state"] == "more_requested"
    # A second answer to the first package (not a replay: a new package id) is refused ...
    reason = refusal(import_package(scene, request_id, body_answer(first_package, body_key)))
    assert reason.startswith("Gói trả lời này không trả lời gói yêu cầu xuất gần nhất")
    # ... and so is the first answer again.
    assert refusal(import_package(scene, request_id, first_answer)).startswith("Gói trả lời này đã được nhập")
    assert state_of(app, request_id) == before

    # The answer to the latest package is taken, beside the first round's finding.
    response = import_package(scene, request_id, body_answer(second_package, body_key, findings=[
        body_finding(text="Giai đoạn 2010-2015 không có vấn đề")]))
    assert response.status_code == 303, refusal(response)
    after = state_of(app, request_id)
    assert (after["state"], after["findings"]) == ("answered", 2)


def test_an_answer_is_refused_once_the_request_no_longer_waits_for_it(app, scene, body_key):
    request_id = send(scene)
    answer = body_answer(exported(scene, request_id), body_key)
    assert officer_post(scene, request_id, "withdraw", "withdraw").status_code == 302
    before = state_of(app, request_id)
    reason = refusal(import_package(scene, request_id, answer))
    assert reason.startswith("Yêu cầu không còn chờ cơ quan phối hợp trả lời")
    assert state_of(app, request_id) == before


def test_an_answer_signed_with_a_replaced_key_is_refused(app, scene, body_key, admin):
    request_id = send(scene)
    old_answer = body_answer(exported(scene, request_id), body_key)
    factories.register_exchange_key(app, "DUCA", by=admin)  # the body made a new key
    before = state_of(app, request_id)
    reason = refusal(import_package(scene, request_id, old_answer))
    assert reason.startswith("Gói được ký bằng kh")
    assert state_of(app, request_id) == before


def test_import_needs_a_file_a_form_of_ours_and_the_case_worker(app, scene, body_key):
    request_id = send(scene)
    exported(scene, request_id)
    path = request_path(scene, request_id)
    page = scene.officer_client.get(path).get_data(as_text=True)
    token = re.search(r'name="exchange-csrf_token"[^>]*value="([^"]+)"', page).group(1)
    missing = scene.officer_client.post(f"{path}/import", data={"exchange-csrf_token": token})
    assert "Trường này là bắt buộc" in refusal(missing)
    assert scene.officer_client.post(f"{path}/import", data={
        "exchange-package": (io.BytesIO(b"x"), "a.hoso")}, content_type="multipart/form-data").status_code == 400
    assert scene.liaison_client.post(f"{path}/import", data={
        "csrf_token": csrf_token(scene.liaison_client, "/requests/")}).status_code == 403
    assert state_of(app, request_id)["packages"] == 1


def test_the_printout_shows_the_digest_and_fingerprints_and_is_audited(app, scene, body_key):
    request_id = send(scene)
    data = exported(scene, request_id)
    [row] = ledger(app, request_id)
    response = scene.officer_client.get(f"{request_path(scene, request_id)}/packages/{row.id}")
    assert response.status_code == 200
    page = text_of(response)
    digest = hashlib.sha256(data).hexdigest().upper()
    assert " ".join(digest[i:i + 4] for i in range(0, 64, 4)) in page
    assert exchange_keys.fingerprint_text(body_key.public.fingerprint) in page
    assert str(row.id) in page and str(request_id) in page
    with app.app_context():
        organisation = exchange.organisation_public().fingerprint
        db.session.commit()
    assert exchange_keys.fingerprint_text(organisation) in page
    assert QUESTIONS not in page and AN["full_name"] not in page
    entry = audit_entries(app, "exchange.printout")[-1]
    assert detail(entry) == {"request": str(request_id), "package": str(row.id)}
    # Another request's package, or none: not found.
    other = send(scene)
    assert scene.officer_client.get(f"{request_path(scene, other)}/packages/{row.id}").status_code == 404
    assert scene.officer_client.get(f"{request_path(scene, request_id)}/packages/{uuid.uuid4()}").status_code == 404


def test_a_lost_organisation_key_is_not_silently_replaced_once_packages_went_out(app, scene, body_key):
    request_id = send(scene)
    assert export_package(scene, request_id).status_code == 200
    with app.app_context():
        path = exchange.organisation_key_path()
    path.unlink()
    # A new key would open none of the answers on their way: the export is refused, nothing
    # is written, and no key file appears.
    response = export_package(scene, request_id)
    assert response.status_code == 303
    assert "khôi phục tệp khóa từ bản sao lưu" in text_of(scene.officer_client.get(response.headers["Location"]))
    assert len(ledger(app, request_id)) == 1 and not path.exists()
    # The pages that show the key say it is missing instead of failing.
    printout = scene.officer_client.get(f"{request_path(scene, request_id)}/packages/{ledger(app, request_id)[0].id}")
    assert printout.status_code == 200 and "khôi phục từ bản sao lưu" in text_of(printout)
