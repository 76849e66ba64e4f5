"""`flask --app app api-clients create|list|revoke|rotate` through Click's runner on the real
app (issue 21 §A.1): the token printed once, never listed; every bad input one line, exit 1,
nothing written."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from audit.models import AuditEntry
from protection.api_tokens import ApiClient, ApiToken
from protection.db import db
from protection.i18n import local_today
from protection.identity import Clearance, Role, Unit, User
from tests.conftest import audit_entries


@pytest.fixture
def bodies(make_unit):
    make_unit("BTCTU", "Ban Tổ chức Tỉnh ủy", "organisation")
    make_unit("CATINH", "Công an tỉnh", "police")
    make_unit("BCHQS", "Bộ Chỉ huy Quân sự tỉnh", "military")
    make_unit("HUYEN1", "Huyện ủy Một", "district")
    make_unit("CUCONG", "Cơ quan đã giải thể", "inspectorate")


def counts(app) -> tuple[int, int, int, int]:
    with app.app_context():
        found = tuple(db.session.scalar(select(func.count()).select_from(model))
                      for model in (ApiClient, ApiToken, User, AuditEntry))
        db.session.commit()
    return found


def create(runner, *args):
    return runner.invoke(args=["api-clients", "create", *args])


def created(result) -> tuple[str, str]:
    """(client id, token) from create's output."""
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    client_id = lines[0].split()[3]
    assert lines[1] == "The token is shown once, now: store it in the partner system's secret store."
    return client_id, lines[2]


def test_create_prints_the_token_once_and_audits_without_it(app, runner, bodies):
    with app.app_context():
        expires = (local_today() + timedelta(days=365)).isoformat()
    result = create(runner, "--body", "catinh", "--name", "Hệ thống nghiệp vụ Công an tỉnh", "--expires",
                    expires, "--clearance", "secret",
                    "--network", "10.1.2.0/24", "--network", "192.0.2.7", "--locale", "en")
    client_id, token = created(result)
    assert token.startswith("hoso_") and len(token) == 5 + 32 + 1 + 43
    assert "(service account api.catinh." in result.output
    with app.app_context():
        client = db.session.get(ApiClient, uuid.UUID(client_id))
        assert client.unit.code == "CATINH" and client.allowed_networks == ["10.1.2.0/24", "192.0.2.7/32"]
        assert client.user.clearance.value == "secret" and client.user.locale == "en"
    [entry] = audit_entries(app, "api_client.create")
    assert entry.target_id == client_id and entry.actor_id is None
    assert json.loads(entry.detail)["networks"] == 2
    assert all(token not in (entry.detail or "") for entry in audit_entries(app))


def test_list_shows_clients_and_never_a_token(app, runner, bodies):
    client_id, token = created(create(runner, "--body", "CATINH", "--name", "Công an"))
    other_id, _other = created(create(runner, "--body", "BCHQS", "--name", "Quân sự", "--network", "10.0.0.0/8"))
    assert runner.invoke(args=["api-clients", "revoke", other_id]).exit_code == 0
    listed = runner.invoke(args=["api-clients", "list"])
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert lines[0].split("\t") == ["id", "name", "body", "state", "expires", "last_used", "networks"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert rows[client_id][1:] == ["Công an", "CATINH", "active", "-", "-", "any"]
    assert rows[other_id][1:] == ["Quân sự", "BCHQS", "revoked", "-", "-", "10.0.0.0/8"]
    assert token not in listed.output and "hoso_" not in listed.output


def test_list_with_no_client(runner, bodies):
    listed = runner.invoke(args=["api-clients", "list"])
    assert listed.exit_code == 0 and listed.output == "No API client.\n"


def test_revoke_then_revoking_again_is_refused(app, runner, bodies):
    client_id, _token = created(create(runner, "--body", "CATINH", "--name", "Công an"))
    revoked = runner.invoke(args=["api-clients", "revoke", client_id[:8]])
    assert revoked.exit_code == 0 and revoked.output.startswith(f"Revoked API client {client_id}")
    before = counts(app)
    again = runner.invoke(args=["api-clients", "revoke", client_id])
    assert again.exit_code == 1 and again.output.strip() == "Error: client: Máy khách này đã bị thu hồi."
    assert counts(app) == before
    assert len(audit_entries(app, "api_client.revoke")) == 1


def test_rotate_prints_the_new_token_and_when_the_old_one_ends(app, runner, bodies):
    client_id, old = created(create(runner, "--body", "CATINH", "--name", "Công an"))
    rotated = runner.invoke(args=["api-clients", "rotate", client_id, "--grace-hours", "6"])
    assert rotated.exit_code == 0, rotated.output
    lines = rotated.output.splitlines()
    assert lines[0] == f"Rotated API client {client_id}."
    assert lines[2].startswith("hoso_") and lines[2] != old
    assert lines[3].startswith("The previous token works until ") and lines[3].endswith(" UTC.")
    # A rotation with no grace ends every earlier token at once, the one still in its grace too.
    ended = runner.invoke(args=["api-clients", "rotate", client_id[:6], "--grace-hours", "0"])
    assert ended.exit_code == 0 and ended.output.splitlines()[-1] == "The previous token no longer works."
    assert len(audit_entries(app, "api_client.rotate")) == 2


def test_rotate_with_no_other_live_token_says_the_old_one_has_ended(runner, bodies):
    client_id, _old = created(create(runner, "--body", "CATINH", "--name", "Công an"))
    rotated = runner.invoke(args=["api-clients", "rotate", client_id, "--grace-hours", "0"])
    assert rotated.exit_code == 0 and rotated.output.splitlines()[-1] == "The previous token no longer works."


@pytest.mark.parametrize(("args", "message"), [
    (["--body", "NOPE", "--name", "X"], "body: Không có đơn vị với mã này."),
    (["--body", "HUYEN1", "--name", "X"], "body: Chỉ đăng ký máy khách API cho cơ quan phối hợp"),
    (["--body", "BTCTU", "--name", "X"], "body: Chỉ đăng ký máy khách API cho cơ quan phối hợp"),
    (["--body", "CUCONG", "--name", "X"], "body: Đơn vị này đã ngừng hoạt động."),
    (["--body", "CATINH", "--name", "   "], "name: Hãy nhập tên máy khách."),
    (["--body", "CATINH", "--name", "X" * 201], "name: Tên máy khách dài tối đa 200 ký tự."),
    (["--body", "CATINH", "--name", "X", "--expires", "31/12/2031"], "--expires '31/12/2031': write the date as"),
    (["--body", "CATINH", "--name", "X", "--expires", "2031-02-30"], "--expires '2031-02-30': write the date as"),
    (["--body", "CATINH", "--name", "X", "--expires", "2020-01-01"], "expires_on: Ngày hết hạn đã qua."),
    (["--body", "CATINH", "--name", "X", "--network", "10.1.2.0/33"], "networks: Địa chỉ hoặc dải mạng không hợp lệ"),
    (["--body", "CATINH", "--name", "X", "--network", "intranet"], "networks: Địa chỉ hoặc dải mạng không hợp lệ"),
    (["--body", "CATINH", "--name", "X", "--clearance", "cosmic"], "Invalid value for '--clearance'"),
    (["--body", "CATINH", "--name", "X", "--locale", "fr"], "Invalid value for '--locale'"),
])
def test_bad_create_input_is_one_line_and_writes_nothing(app, runner, bodies, args, message):
    with app.app_context():
        db.session.scalar(select(Unit).where(Unit.code == "CUCONG")).active = False
        db.session.commit()
    before = counts(app)
    result = create(runner, *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert counts(app) == before


@pytest.mark.parametrize(("command", "target", "message"), [
    ("revoke", "0123456789abcdef0123456789abcdef", "client: Không có máy khách API với mã này."),
    ("revoke", "abc", "client: Mã máy khách gồm ít nhất 4 chữ số hệ 16."),
    ("rotate", "not-hex!", "client: Mã máy khách gồm ít nhất 4 chữ số hệ 16."),
    ("rotate", "ffffffff", "client: Không có máy khách API với mã này."),
])
def test_unknown_clients_are_refused(app, runner, bodies, command, target, message):
    created(create(runner, "--body", "CATINH", "--name", "Công an"))
    before = counts(app)
    result = runner.invoke(args=["api-clients", command, target])
    assert result.exit_code == 1 and result.output.strip() == f"Error: {message}"
    assert counts(app) == before


def test_an_ambiguous_prefix_is_refused(app, runner, bodies):
    client_id, _token = created(create(runner, "--body", "CATINH", "--name", "Công an"))
    # A second client whose id starts with the same eight digits (as chance could make it).
    with app.app_context():
        first = db.session.get(ApiClient, uuid.UUID(client_id))
        twin_id = uuid.UUID(first.id.hex[:8] + uuid.uuid4().hex[8:])
        account = User(username="api.catinh.twin", display_name="Twin", unit=first.unit, role=Role.LIAISON,
                       clearance=Clearance.CONFIDENTIAL, password_hash="!", service_account=True)
        db.session.add(ApiClient(id=twin_id, name="Twin", unit=first.unit, user=account))
        db.session.commit()
    before = counts(app)
    result = runner.invoke(args=["api-clients", "revoke", client_id[:8]])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: client: Có nhiều máy khách API bắt đầu bằng mã này: hãy nhập dài hơn."
    assert counts(app) == before
    # The whole id (with or without dashes) is never ambiguous.
    assert runner.invoke(args=["api-clients", "revoke", client_id.replace("-", "")]).exit_code == 0


def test_rotating_a_revoked_client_and_bad_grace_are_refused(app, runner, bodies):
    client_id, _token = created(create(runner, "--body", "CATINH", "--name", "Công an"))
    before = counts(app)
    negative = runner.invoke(args=["api-clients", "rotate", client_id, "--grace-hours", "-1"])
    assert negative.exit_code == 1 and "grace_hours: Thời gian chuyển tiếp từ 0 đến 720 giờ." in negative.output
    huge = runner.invoke(args=["api-clients", "rotate", client_id, "--grace-hours", "100000"])
    assert huge.exit_code == 1
    not_a_number = runner.invoke(args=["api-clients", "rotate", client_id, "--grace-hours", "soon"])
    assert not_a_number.exit_code != 0 and "Traceback" not in not_a_number.output
    assert counts(app) == before
    assert runner.invoke(args=["api-clients", "revoke", client_id]).exit_code == 0
    before = counts(app)
    rotated = runner.invoke(args=["api-clients", "rotate", client_id])
    assert rotated.exit_code == 1 and rotated.output.strip() == "Error: client: Máy khách này đã bị thu hồi."
    assert counts(app) == before
