"""Security keys (issue 23 A) through the real app, with a software key (tests/factories.py,
SoftKey) that makes real attestations and signed assertions: registering, signing in with a
key, approving with a key bound to the action and the record, and every refusal (replayed,
malformed, another user's key, a removed key, a challenge for another action or record, no
user verification), each audited with nothing changed; roles that must use keys; the admin's
reset."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import func, select

from audit.trail import detail_of
from cases.conclusions import operations as conclusions
from cases.models import Case
from protection.db import db
from protection.identity import KeyChallenge, SecurityKey, User
from protection.lockout import LoginFailure
from protection.notices import SecurityNotice
from tests.conftest import audit_entries
from tests.factories import (
    SoftKey,
    approve_conclusion,
    make_subject,
    open_review,
    submit_conclusion,
    to_conclusion,
)
from tests.pages import csrf_token, field_error_lines, next_totp_code, post_form, text_of

KEYS_PAGE = "/account/security-keys"
SECOND_FACTOR = "/login/second-factor"


@pytest.fixture(autouse=True)
def _generous_limits(app_config):
    # The refusals below are counted as failed sign-ins; the lock has its own tests.
    app_config.setdefault("HOSO_LOGIN_RATE_LIMIT", "1000 per minute")
    app_config.setdefault("HOSO_LOCKOUT_THRESHOLD", 50)


# --- helpers --------------------------------------------------------------------------------

def register(client, key: SoftKey, *, name: str = "Khóa USB xanh", password: str | None = None):
    token = csrf_token(client, KEYS_PAGE)
    options = client.post("/account/security-keys/options", data={"csrf_token": token})
    assert options.status_code == 200, options.status_code
    data = {"csrf_token": token, "name": name, "credential": key.attestation(options.get_data(as_text=True))}
    if password is not None:
        data["current_password"] = password
    return client.post(KEYS_PAGE, data=data)


def key_options(client, purpose: str, target=None, *, page: str = "/account/") -> str:
    data = {"csrf_token": csrf_token(client, page), "purpose": purpose}
    if target is not None:
        data["target"] = str(target)
    response = client.post("/login/key-options", data=data)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def password_step(client, user):
    response = post_form(client, "/login", {"username": user.username, "password": user.password})
    assert response.headers["Location"].endswith(SECOND_FACTOR), response.headers.get("Location")
    return response


def key_sign_in(client, user, key: SoftKey, **assertion_options):
    password_step(client, user)
    options = key_options(client, "sign_in", page=SECOND_FACTOR)
    return post_form(client, SECOND_FACTOR, {"assertion": key.assertion(options, **assertion_options)})


def keys_of(app, user_id) -> list[SecurityKey]:
    with app.app_context():
        keys = list(db.session.scalars(select(SecurityKey).where(SecurityKey.user_id == user_id)))
        db.session.expunge_all()
        db.session.commit()
    return keys


def count(app, model, **where) -> int:
    with app.app_context():
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        number = db.session.scalar(query)
        db.session.commit()
    return number


def details(app, action: str) -> list[dict]:
    return [detail_of(entry) for entry in audit_entries(app, action)]


def submitted(app, officer_id, name: str) -> tuple[uuid.UUID, str]:
    """A review whose conclusion waits for approval: (case id, conclusion id)."""
    with app.app_context():
        officer = db.session.get(User, officer_id)
        case = to_conclusion(open_review(officer, make_subject(officer, name, date(1970, 1, 2))), by=officer)
        conclusion = submit_conclusion(case, by=officer)
        db.session.commit()
        return case.id, str(conclusion.id)


def state(app, case_id) -> str:
    with app.app_context():
        value = conclusions.current(db.session.get(Case, case_id)).state
        db.session.commit()
    return value


def approve(client, case_id, **data):
    return post_form(client, f"/cases/{case_id}/conclusion/approve", data)


# --- registering, signing in, removing --------------------------------------------------------

def test_a_key_is_registered_then_signs_in_once_per_challenge_and_never_after_removal(app, client, login_as):
    officer = login_as("officer")  # no TOTP: the key becomes their second factor
    key = SoftKey()
    assert register(client, key, password="wrong-password-1234").status_code == 200  # password re-checked
    assert keys_of(app, officer.id) == []
    response = register(client, key, password=officer.password)
    assert response.status_code == 302
    [stored] = keys_of(app, officer.id)
    assert (stored.name, stored.credential_id, stored.transports) == ("Khóa USB xanh", key.credential_id, "usb")
    page = text_of(client.get(KEYS_PAGE))
    assert "Khóa USB xanh" in page and "Chưa dùng" in page
    assert "Có khóa bảo mật" in text_of(client.get("/account/"))
    assert details(app, "auth.security_key.registered") == [{"key": str(stored.id)}]
    assert count(app, SecurityNotice, user_id=officer.id, kind="security_key_added") == 1
    # The same key again: the browser is told to exclude it, and the server refuses it.
    assert "đã được đăng ký" in text_of(register(client, key, password=officer.password))
    assert details(app, "auth.recheck.failed")[-1] == {"purpose": "security_key_registration",
                                                       "reason": "key_already_registered"}
    assert len(keys_of(app, officer.id)) == 1

    # Signing in now asks for the key; a right assertion completes the sign-in.
    browser = app.test_client()
    password_step(browser, officer)
    options = key_options(browser, "sign_in", page=SECOND_FACTOR)
    assertion = key.assertion(options)
    response = post_form(browser, SECOND_FACTOR, {"assertion": assertion})
    assert response.status_code == 302 and not response.headers["Location"].endswith(SECOND_FACTOR)
    assert browser.get("/account/").status_code == 200
    assert [d["purpose"] for d in details(app, "auth.security_key.used")] == ["sign_in"]
    assert keys_of(app, officer.id)[0].last_used_at is not None
    assert count(app, KeyChallenge) == 0  # used up

    # Replayed on another sign-in (its challenge is another): refused, counted, audited.
    replay = app.test_client()
    password_step(replay, officer)
    key_options(replay, "sign_in", page=SECOND_FACTOR)
    response = post_form(replay, SECOND_FACTOR, {"assertion": assertion})
    assert response.status_code == 200
    assert replay.get("/account/").status_code in (302, 303)  # still half signed in
    # Malformed, then a key nobody registered: refused the same way.
    key_options(replay, "sign_in", page=SECOND_FACTOR)
    assert post_form(replay, SECOND_FACTOR, {"assertion": "{not json"}).status_code == 200
    stranger = SoftKey()
    response = post_form(replay, SECOND_FACTOR, {"assertion": stranger.assertion(
        key_options(replay, "sign_in", page=SECOND_FACTOR))})
    assert "không được đăng ký cho tài khoản của bạn" in text_of(response)
    reasons = [d["reason"] for d in details(app, "auth.second_factor.failed")]
    assert reasons == ["key_challenge_mismatch", "key_malformed", "key_unknown_key"]
    assert count(app, LoginFailure, user_id=officer.id) == 3

    # Removed (password re-checked): the key no longer signs in.
    [stored] = keys_of(app, officer.id)
    remove = f"{KEYS_PAGE}/{stored.id}/remove"
    post_form(client, remove, {"secret": "wrong-password-1234"}, token_from=KEYS_PAGE)
    assert len(keys_of(app, officer.id)) == 1
    assert post_form(client, remove, {"secret": officer.password}, token_from=KEYS_PAGE).status_code == 302
    assert keys_of(app, officer.id) == []
    assert details(app, "auth.security_key.removed") == [{"key": str(stored.id)}]
    gone = app.test_client()
    response = post_form(gone, "/login", {"username": officer.username, "password": officer.password})
    assert response.headers["Location"] == "/"  # no second factor any more: an officer needs none


def test_a_role_that_needs_a_second_factor_may_enrol_a_key_instead_of_the_app(app, client, make_user):
    supervisor = make_user("supervisor", totp=False)
    response = post_form(client, "/login", {"username": supervisor.username, "password": supervisor.password})
    assert response.headers["Location"].endswith("/account/two-factor/enrol")
    assert KEYS_PAGE in text_of(client.get("/account/two-factor/enrol"))
    key = SoftKey()
    response = register(client, key)  # no password: typed a moment ago
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert [entry.actor_id for entry in audit_entries(app, "auth.signed_in")] == [supervisor.id]
    # From now on the key is their second factor.
    assert key_sign_in(app.test_client(), supervisor, key).headers["Location"] == "/"


# --- approvals --------------------------------------------------------------------------------

def test_an_approval_takes_a_key_made_for_that_action_and_record_only(app, client, login_as, make_user, sign_in):
    officer = make_user("officer")
    first_case, first_conclusion = submitted(app, officer.id, "Trần Văn Một")
    second_case, second_conclusion = submitted(app, officer.id, "Trần Văn Hai")
    supervisor = login_as("supervisor")
    key = SoftKey()
    assert register(client, key, password=supervisor.password).status_code == 302
    assert 'data-security-key="get"' in text_of(client.get(f"/cases/{second_case}/conclusion/approve"))

    # Another supervisor's key, signing this supervisor's challenge.
    other = make_user("supervisor")
    other_client = app.test_client()
    assert sign_in(other, target=other_client).status_code == 302
    other_key = SoftKey()
    assert register(other_client, other_key, password=other.password).status_code == 302

    page = f"/cases/{second_case}/conclusion/approve"
    made_for_first = key.assertion(key_options(client, "conclusion_approval", first_conclusion, page=page))

    def second_options():
        return key_options(client, "conclusion_approval", second_conclusion, page=page)

    refusals = [
        # made for approving the first conclusion, sent to approve the second (none asked for it)
        ("no_challenge", lambda: made_for_first),
        # the second's challenge asked for, the first's answer sent
        ("challenge_mismatch", lambda: (second_options(), made_for_first)[1]),
        # made for another action on the same record
        ("no_challenge", lambda: key.assertion(key_options(client, "case_purge", second_case, page=page))),
        ("other_users_key", lambda: other_key.assertion(second_options())),
        ("invalid", lambda: key.assertion(second_options(), user_verified=False)),
        ("malformed", lambda: (second_options(), '{"id": "x"}')[1]),
    ]
    for _reason, make in refusals:
        response = approve(client, second_case, assertion=make())
        assert response.status_code == 200, response.status_code
        assert field_error_lines(text_of(response), "secret")
        assert 'name="assertion" type="hidden" value=""' in text_of(response)  # never sent twice
        assert state(app, second_case) == "submitted"
    reasons = [(d["purpose"], d["reason"]) for d in details(app, "auth.recheck.failed")]
    assert reasons == [("conclusion_approval", f"key_{reason}") for reason, _make in refusals]
    assert count(app, LoginFailure, user_id=supervisor.id) == len(refusals)
    # A sign-in challenge is not handed out to a signed-in user.
    assert client.post("/login/key-options", data={"csrf_token": csrf_token(client, page),
                                                   "purpose": "sign_in"}).status_code == 400

    # The right one: made for approving this conclusion, with user verification.
    assertion = key.assertion(key_options(client, "conclusion_approval", second_conclusion, page=page))
    assert approve(client, second_case, assertion=assertion).status_code == 302
    assert state(app, second_case) == "approved"
    used = [d for d in details(app, "auth.security_key.used") if d["purpose"] == "conclusion_approval"]
    assert [d["record"] for d in used] == [second_conclusion]
    # The first conclusion's challenge is still its own, but the assertion made for it carries
    # a counter the key has since passed: what a cloned key would send. Refused.
    assert approve(client, first_case, assertion=made_for_first).status_code == 200
    assert state(app, first_case) == "submitted"
    assert details(app, "auth.recheck.failed")[-1] == {"purpose": "conclusion_approval", "reason": "key_counter"}
    assert count(app, KeyChallenge) == 1  # the case_purge one, never answered


def test_a_purge_takes_a_key_made_for_purging_that_case(app, client, login_as, make_user):
    officer = make_user("officer")
    supervisor = login_as("supervisor")
    with app.app_context():
        author = db.session.get(User, officer.id)
        case = to_conclusion(open_review(author, make_subject(author, "Lê Văn Hủy", date(1975, 3, 2))), by=author)
        conclusion = submit_conclusion(case, by=author)
        approve_conclusion(case, by=db.session.get(User, supervisor.id))
        case.closed_on = date(2001, 5, 4)
        case_id, reference, conclusion_id = case.id, case.reference, str(conclusion.id)
        db.session.commit()
    key = SoftKey()
    assert register(client, key, password=supervisor.password).status_code == 302
    page = f"/retention/{case_id}/purge"
    assert 'data-purpose="case_purge"' in text_of(client.get(page))

    # An approval's assertion (same user, same key) does not purge.
    made_for_approval = key.assertion(key_options(client, "conclusion_approval", conclusion_id, page=page))
    response = post_form(client, page, {"reference": reference, "assertion": made_for_approval})
    assert response.status_code == 200 and field_error_lines(text_of(response), "secret")
    with app.app_context():
        assert db.session.get(Case, case_id).purged_at is None
        db.session.commit()
    assert details(app, "auth.recheck.failed")[-1] == {"purpose": "case_purge", "reason": "key_no_challenge"}

    made_for_purge = key.assertion(key_options(client, "case_purge", case_id, page=page))
    assert post_form(client, page, {"reference": reference, "assertion": made_for_purge}).status_code == 303
    with app.app_context():
        assert db.session.get(Case, case_id).purged_at is not None
        db.session.commit()
    assert [d["record"] for d in details(app, "auth.security_key.used") if d["purpose"] == "case_purge"] \
        == [str(case_id)]


# --- roles that must use keys; the admin's reset ----------------------------------------------

@pytest.fixture
def keys_required(app_config):
    app_config["HOSO_REQUIRE_SECURITY_KEY_ROLES"] = "supervisor"


def test_a_role_that_requires_keys_registers_one_at_sign_in_and_cannot_approve_without(
        keys_required, app, client, make_user):
    officer = make_user("officer")
    case_id, _conclusion = submitted(app, officer.id, "Trần Văn Ba")
    supervisor = make_user("supervisor")  # has a TOTP app, no key
    password_step(client, supervisor)
    response = post_form(client, SECOND_FACTOR, {"code": next_totp_code(app, supervisor)})
    assert response.headers["Location"].endswith(KEYS_PAGE)
    assert client.get("/cases/").headers["Location"].endswith(KEYS_PAGE)  # nothing else until then
    key = SoftKey()
    response = register(client, key)  # no password: typed a moment ago
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/cases/").status_code == 200

    # A password alone does not approve; nor does the TOTP app sign in any more.
    response = approve(client, case_id, secret=supervisor.password)
    assert "phải xác nhận bằng khóa bảo mật" in text_of(response)
    assert state(app, case_id) == "submitted"
    second = app.test_client()
    password_step(second, supervisor)
    response = post_form(second, SECOND_FACTOR, {"code": next_totp_code(app, supervisor)})
    assert "phải dùng khóa bảo mật" in text_of(response)
    assert key_sign_in(app.test_client(), supervisor, key).headers["Location"] == "/"

    # The admin sees who has none, and resets a lost key: audited, told, signed out.
    admin_client = app.test_client()
    admin = make_user("admin")
    assert post_form(admin_client, "/login", {"username": admin.username, "password": admin.password}).status_code
    assert post_form(admin_client, SECOND_FACTOR, {"code": next_totp_code(app, admin)}).status_code == 302
    users_page = text_of(admin_client.get("/admin/users"))
    assert "1 khóa" in users_page
    response = post_form(admin_client, f"/admin/users/{supervisor.id}/reset-security-keys",
                         token_from=f"/admin/users/{supervisor.id}")
    assert response.status_code == 302
    assert keys_of(app, supervisor.id) == []
    assert details(app, "auth.security_key.reset") == [{"count": 1}]
    assert [entry.actor_id for entry in audit_entries(app, "auth.security_key.reset")] == [admin.id]
    assert count(app, SecurityNotice, user_id=supervisor.id, kind="security_keys_reset") == 1
    assert client.get("/cases/").status_code in (302, 303)  # their sessions ended
    assert "Chưa có khóa" in text_of(admin_client.get("/admin/users"))
