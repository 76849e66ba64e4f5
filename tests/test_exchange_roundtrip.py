"""A request to a body off the intranet and back, end to end (issue 21 §B): the body makes
its keys with the REAL `hoso-exchange` script in a subprocess, an admin registers the public
line through the admin page, the officer exports the request through the request page, the
body opens it and writes its answer with the script, the officer imports the answer through
the request page, and accepts it: the body's findings join the case. Both sides read the
same fingerprints (the keys, the package files) at each step, as they would by phone."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from cases.models import Attachment, Finding
from cases.partners.models import ExchangePackage
from protection.db import db
from protection.exchange import keys as exchange_keys
from protection.identity import Unit
from tests.pages import AN, PDF, day_text, field_errors, post_form, text_of
from tests.scenes import (
    QUESTIONS,
    SHARED_FINDING,
    UNSHARED_FINDING,
    exchange_console,
    exported,
    import_package,
    officer_post,
    request_path,
    request_row,
    send,
)

BODY_FINDING = "Đối tượng không có tiền án, tiền sự; xác minh tại Công an huyện Sơn Hà"
BODY_ANSWER = "Công an tỉnh đã xác minh xong các nội dung đề nghị"
BODY_FILE = PDF + b"% bien ban xac minh cua Cong an tinh\n"


@pytest.fixture
def body(tmp_path):
    """`hoso-exchange` as the police committee runs it, in a folder of its own."""
    command, env = exchange_console()
    home, work = tmp_path / "body-home", tmp_path / "body"
    work.mkdir()

    def run(*args: str) -> str:
        result = subprocess.run([*command, *args], capture_output=True, text=True, cwd=work, timeout=60,  # noqa: S603 - our own script
                                env={**env, "HOSO_EXCHANGE_HOME": str(home)})
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return result.stdout

    run.work = work
    return run


def _grouped(output: str, label: str) -> str:
    """The grouped hex a console line `label: ABCD 1234 ...` shows."""
    match = re.search(rf"{label}: ((?:[0-9A-F]{{4}} ?)+)", output)
    assert match, output
    return match.group(1).strip()


def test_a_request_goes_out_as_a_package_and_its_answer_comes_back(app, scene, make_user, sign_in, body):
    # The body makes its keys and sends the public line; the admin registers it.
    made = body("keygen")
    line = re.search(r"hoso-exchange-1:\S+", made).group(0)
    body_fingerprint = _grouped(made, "Dấu vân tay")
    admin = make_user("admin")
    admin_client = app.test_client()
    assert sign_in(admin, target=admin_client).status_code == 302
    with app.app_context():
        police = db.session.scalar(select(Unit.id).where(Unit.code == "DUCA"))
        db.session.commit()
    key_page = f"/admin/partners/exchange/{police}"
    response = post_form(admin_client, key_page, {"public_key": line, "clearance": "secret"})
    assert response.status_code == 302, field_errors(text_of(response), "public_key")
    listed = text_of(admin_client.get("/admin/partners/exchange"))
    assert body_fingerprint in listed  # what the admin reads back to the body by phone
    organisation_fingerprint = re.search(r'id="organisation-fingerprint">([0-9A-F ]+)</code>',
                                         admin_client.get(key_page).get_data(as_text=True)).group(1)

    # The officer exports the request; the body opens it, pinning the organisation's key.
    request_id = send(scene, due_on=day_text(30))
    request_file = body.work / "yeu-cau.hoso"
    request_file.write_bytes(exported(scene, request_id))
    opened = body("open", str(request_file), "--out", "yeu-cau")
    assert organisation_fingerprint in opened
    with app.app_context():
        [out] = db.session.scalars(select(ExchangePackage).where(ExchangePackage.request_id == request_id)).all()
        out_id, out_digest = out.id, out.sha256
        db.session.commit()
    printout = text_of(scene.officer_client.get(f"{request_path(scene, request_id)}/packages/{out_id}"))
    assert _grouped(opened, "Dấu vân tay gói") in printout  # the two sides compare the file
    summary = (body.work / "yeu-cau" / "request.txt").read_text(encoding="utf-8")
    assert QUESTIONS in summary and SHARED_FINDING in summary and AN["full_name"] in summary
    assert UNSHARED_FINDING not in summary
    unpacked = json.loads((body.work / "yeu-cau" / "request.json").read_text(encoding="utf-8"))
    assert unpacked["package"]["package_id"] == str(out_id)
    assert sorted(path.read_bytes() for path in (body.work / "yeu-cau" / "files").iterdir()) == [PDF]
    assert _grouped(body("fingerprint", str(request_file)), "Dấu vân tay gói").replace(" ", "") == out_digest

    # The body answers: one finding about the subject, one file.
    findings = body.work / "ket-qua.json"
    findings.write_text(json.dumps([{"person": "subject", "category": "political_history", "text": BODY_FINDING,
                                     "classification": "confidential", "source": "Công an huyện Sơn Hà",
                                     "found_on": "2026-11-20"}], ensure_ascii=False), encoding="utf-8")
    (body.work / "bien-ban.pdf").write_bytes(BODY_FILE)
    (body.work / "tra-loi.txt").write_text(BODY_ANSWER, encoding="utf-8")
    answered = body("answer", str(request_file), "--answer-file", "tra-loi.txt", "--findings", str(findings),
                    "--file", "bien-ban.pdf=unclassified", "-o", "tra-loi.hoso")
    answer = Path(body.work / "tra-loi.hoso").read_bytes()

    # The officer imports it: the request is answered by the body's exchange account.
    response = import_package(scene, request_id, answer)
    assert response.status_code == 303, field_errors(text_of(response), "exchange-package")
    page = text_of(scene.officer_client.get(response.headers["Location"]))
    assert BODY_ANSWER in page and BODY_FINDING in page and "bien-ban.pdf" in page
    assert request_row(app, request_id)["state"] == "answered"
    with app.app_context():
        into = db.session.scalar(select(ExchangePackage).where(ExchangePackage.request_id == request_id,
                                                               ExchangePackage.direction == "in"))
        into_id = into.id
        assert into.key_fingerprint == exchange_keys.parse_public(line).fingerprint
        [attachment] = db.session.scalars(select(Attachment).where(Attachment.request_id == request_id)).all()
        assert attachment.blob.content == BODY_FILE
        db.session.commit()
    printout = text_of(scene.officer_client.get(f"{request_path(scene, request_id)}/packages/{into_id}"))
    assert _grouped(answered, "Dấu vân tay gói") in printout

    # Reviewed as any answer: accepted, the body's finding joins the case.
    assert officer_post(scene, request_id, "accept", "accept").status_code == 302
    with app.app_context():
        [finding] = db.session.scalars(select(Finding).where(Finding.request_id == request_id)).all()
        assert (finding.accepted, finding.text, finding.classification.value) == (True, BODY_FINDING, "confidential")
        db.session.commit()
    assert BODY_FINDING in text_of(scene.officer_client.get(f"/cases/{scene.case_id}"))
