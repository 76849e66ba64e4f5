"""`notify send-due` against a real SMTP server on loopback (aiosmtpd), never a mock: what a
mail carries, once and only once, a relay that is down, STARTTLS with AUTH and implicit TLS
with a certificate of the test's own CA, and the leak test over the whole demo."""

from __future__ import annotations

import email
import email.policy
import ipaddress
import json
import socket
import ssl
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from app import create_app
from audit.models import AuditEntry
from cases.access.operations import citizen_index
from cases.models import (
    BreakGlassAccess,
    Campaign,
    CampaignNominee,
    Case,
    ConcernedPerson,
    CoordinationRequest,
    IdentityRelease,
    Petition,
    Relative,
    Subject,
)
from cases.notifications import reminders, service
from cases.notifications.models import MailAddress, MailDigest, Notification, NotificationPreference
from cases.oversight.models import Guidance, GuidanceVersion
from protection.accounts import find_unit
from protection.db import db
from protection.i18n import local_today
from protection.identity import User
from protection.mail import MailError, Transport, parse_smtp_url
from protection.settings import ConfigurationError
from tests import factories
from tests.conftest import audit_entries

PUBLIC = "https://hoso.tinhuy.test"
# A working morning in Vietnam, away from midnight: the tests that move the clock stay in one day.
MORNING = datetime(2026, 12, 10, 1, 0, tzinfo=UTC)


# --- a real SMTP server --------------------------------------------------------------------

@dataclass
class Inbox:
    messages: list = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def mails(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(content, policy=email.policy.default) for _to, content in self.messages]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_smtp(port: int | None = None, **options) -> tuple[Controller, Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port or free_port(), **options)
    controller.start()
    return controller, inbox


@pytest.fixture
def smtp():
    controller, inbox = start_smtp()
    try:
        yield controller.port, inbox
    finally:
        controller.stop()


def mail_settings(port: int, url: str | None = None) -> dict:
    return {"HOSO_SMTP_URL": url or f"smtp://127.0.0.1:{port}", "HOSO_MAIL_FROM": "hoso@tinhuy.test",
            "HOSO_PUBLIC_URL": PUBLIC, "HOSO_REMINDER_HOUR": 0}


@pytest.fixture
def mail_app(app_config, smtp, request):
    """The app configured for the loopback relay (settings set before the app is made)."""
    app_config.update(mail_settings(smtp[0]))
    return request.getfixturevalue("app")


def send_due(runner, *options):
    return runner.invoke(args=["notify", "send-due", *options])


# --- people and work -----------------------------------------------------------------------

def wants_mail(app, made, delivery: str = "immediate", kinds=service.KINDS, address: str | None = None) -> None:
    with app.app_context():
        db.session.merge(MailAddress(user_id=made.id, address=address or f"{made.username}@tinhuy.test"))
        for kind in kinds:
            db.session.merge(NotificationPreference(user_id=made.id, kind=kind, delivery=delivery))
        db.session.commit()


def open_case(app, officer, *, due_in_days: int) -> tuple[uuid.UUID, str, str]:
    """A review opened by `officer` (assigned to them), due `due_in_days` from today; its id,
    reference, and its subject's name (to search the mails for)."""
    with app.app_context():
        by = factories.user_row(officer)
        case = factories.open_review(by, title="Thẩm định bổ nhiệm Phó Giám đốc Sở")
        db.session.flush()
        case.due_on = local_today() + timedelta(days=due_in_days)
        result = (case.id, case.reference, case.subject.full_name)
        db.session.commit()
    return result


def states(app) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(select(Notification.mail_state, func.count()).group_by(Notification.mail_state))
        result = {state or "app": count for state, count in rows}
        db.session.commit()
    return result


def count(app, model) -> int:
    return factories.count_rows(app, model)


# --- settings ----------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["http://relay:25", "smtp://", "smtp://relay:25?tls=1", "smtp://u:p@relay:25",
                                 "smtps://relay?starttls=1", "smtp://relay:99999"])
def test_a_bad_relay_url_stops_start_up_with_one_line_and_no_password(app_config, url):
    with pytest.raises(ConfigurationError) as caught:
        create_app({**app_config, **mail_settings(25, url)})
    message = str(caught.value)
    assert "HOSO_SMTP_URL" in message and "\n" not in message
    assert ":p@" not in message and "u:p" not in message


@pytest.mark.parametrize(("name", "value"), [("HOSO_MAIL_FROM", "Hoso <x@y>"), ("HOSO_PUBLIC_URL", "hoso.vn"),
                                             ("HOSO_MAIL_FROM", None), ("HOSO_PUBLIC_URL", None),
                                             ("HOSO_SMTP_CA_FILE", "/nonexistent/ca.pem")])
def test_mail_settings_are_checked_at_start_up(app_config, name, value):
    with pytest.raises(ConfigurationError) as caught:
        create_app({**app_config, **mail_settings(25), name: value})
    assert name in str(caught.value) and "\n" not in str(caught.value)


def test_relay_urls_name_their_security():
    assert parse_smtp_url("smtp://relay.intranet").address == "relay.intranet:25"
    assert parse_smtp_url("smtp://a%40b:p%3As@relay:587?starttls=1").security == "starttls"
    relay = parse_smtp_url("smtp+starttls://a:secret@relay")
    assert (relay.port, relay.username, relay.password) == (587, "a", "secret")
    assert "secret" not in repr(relay)
    assert parse_smtp_url("smtps://relay").port == 465


# --- mails ---------------------------------------------------------------------------------

def test_an_immediate_mail_names_the_kind_reference_deadline_and_link_and_nothing_else(mail_app, smtp, runner,
                                                                                      make_user):
    _port, inbox = smtp
    officer = make_user("officer")
    wants_mail(mail_app, officer)
    case_id, reference, name = open_case(mail_app, officer, due_in_days=2)

    result = send_due(runner)
    assert result.exit_code == 0, result.output
    assert "1 immediate mails" in result.output.splitlines()[-1]

    [(recipients, _raw)] = inbox.messages
    assert recipients == [f"{officer.username}@tinhuy.test"]
    [mail] = inbox.mails()
    body = mail.get_content()
    with mail_app.app_context():
        due_on = db.session.get(Case, case_id).due_on
        db.session.commit()
    assert reference in mail["Subject"] and reference in body
    assert due_on.strftime("%d/%m/%Y") in body
    assert "sắp đến hạn" in body.lower() or "đến hạn" in body.lower()
    assert PUBLIC + "/" in body
    assert mail["From"] == "hoso@tinhuy.test" and mail["Auto-Submitted"] == "auto-generated"
    assert name not in body and "Phó Giám đốc" not in body and "Phó Giám đốc" not in str(mail["Subject"])

    [entry] = audit_entries(mail_app, "notify.mail_sent")
    assert entry.target_id == str(officer.id) and entry.actor_id is None
    assert json.loads(entry.detail)["kinds"] == [service.DUE_SOON] and json.loads(entry.detail)["references"] == [reference]
    assert states(mail_app) == {"sent": 1}


def test_a_mail_is_in_the_users_language(mail_app, smtp, runner, make_user):
    officer = make_user("officer")
    wants_mail(mail_app, officer)
    with mail_app.app_context():
        factories.user_row(officer).locale = "en"
        db.session.commit()
    open_case(mail_app, officer, due_in_days=1)
    assert send_due(runner).exit_code == 0
    [mail] = smtp[1].mails()
    assert "Hoso has 1 notification" in mail.get_content()


def test_reminders_are_raised_once_a_day_and_mailed_once(mail_app, smtp, runner, make_user):
    officer = make_user("officer")
    wants_mail(mail_app, officer)
    open_case(mail_app, officer, due_in_days=3)
    open_case(mail_app, officer, due_in_days=-4)

    first, second = send_due(runner), send_due(runner)
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert "raised 1 due_soon" in first.output and "raised 1 overdue" in first.output
    assert second.output.splitlines()[-1].startswith("0 reminders raised, 0 immediate mails")
    assert count(mail_app, Notification) == 2
    assert len(smtp[1].messages) == 1  # both items in one mail, sent once


def test_the_digest_goes_once_a_day(mail_app, smtp, runner, make_user):
    officer = make_user("officer")
    wants_mail(mail_app, officer, delivery="digest")
    open_case(mail_app, officer, due_in_days=-1)
    open_case(mail_app, officer, due_in_days=5)

    assert send_due(runner).exit_code == 0
    with mail_app.app_context():
        with db.session.no_autoflush:
            case = factories.open_review(factories.user_row(officer))
        case.due_on = local_today()  # a new item the same day: it waits for tomorrow's digest
        db.session.commit()
    second = send_due(runner)
    assert second.exit_code == 0, second.output

    [mail] = smtp[1].mails()
    assert "Tóm tắt" in mail["Subject"]
    assert mail.get_content().count(PUBLIC + "/") == 3  # two items and the footer
    assert count(mail_app, MailDigest) == 1
    assert states(mail_app) == {"sent": 2, "digest": 1}


def test_dry_run_writes_and_sends_nothing(mail_app, smtp, runner, make_user):
    officer = make_user("officer")
    wants_mail(mail_app, officer)
    _case_id, reference, _name = open_case(mail_app, officer, due_in_days=-2)
    entries = len(audit_entries(mail_app))

    result = send_due(runner, "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"would raise 1 overdue: {reference}" in result.output
    assert f"would mail immediate to {officer.username}: 1 item(s) {reference}" in result.output
    assert result.output.splitlines()[-1].startswith("dry run, nothing written or sent: 1 reminders")
    assert smtp[1].messages == []
    assert count(mail_app, Notification) == 0 and len(audit_entries(mail_app)) == entries


def test_a_user_who_lost_access_is_mailed_nothing_of_the_item(mail_app, smtp, runner, make_user, make_unit):
    officer = make_user("officer")
    wants_mail(mail_app, officer)
    open_case(mail_app, officer, due_in_days=1)
    make_unit("BTCHX", "Ban Tổ chức Huyện ủy X", kind="district")
    with mail_app.app_context():  # the reminder is raised, then the officer moves to another unit
        reminders.raise_reminders(local_today())
        factories.user_row(officer).unit_id = find_unit("BTCHX").id
        db.session.commit()

    result = send_due(runner)
    assert result.exit_code == 0, result.output
    assert smtp[1].messages == []
    assert states(mail_app) == {"skipped": 1}
    [entry] = audit_entries(mail_app, "notify.mail_skipped")
    assert json.loads(entry.detail)["items"] == 1


def test_an_address_removed_means_no_mail_and_no_retry(mail_app, smtp, runner, make_user):
    officer = make_user("officer")
    wants_mail(mail_app, officer)
    open_case(mail_app, officer, due_in_days=1)
    with mail_app.app_context():  # raised to be mailed; the address removed before it went
        reminders.raise_reminders(local_today())
        db.session.execute(MailAddress.__table__.delete())
        db.session.commit()
    assert send_due(runner).exit_code == 0
    assert smtp[1].messages == [] and states(mail_app) == {"skipped": 1}


def test_before_the_morning_hour_only_immediate_mails_go(app_config, smtp, request):
    app_config.update({**mail_settings(smtp[0]), "HOSO_REMINDER_HOUR": 7})
    app = request.getfixturevalue("app")
    make_user = request.getfixturevalue("make_user")
    officer = make_user("officer")
    wants_mail(app, officer)
    open_case(app, officer, due_in_days=-1)
    with time_machine.travel(datetime(2026, 12, 9, 22, 0, tzinfo=UTC), tick=False):  # 05:00 in Vietnam
        early = send_due(app.test_cli_runner())
    assert early.exit_code == 0, early.output
    assert "before 07:00" in early.output and count(app, Notification) == 0
    with time_machine.travel(MORNING, tick=False):  # 08:00
        later = send_due(app.test_cli_runner())
    assert later.exit_code == 0 and count(app, Notification) == 1 and len(smtp[1].messages) == 1


@pytest.fixture
def any_hour(app_config):
    app_config["HOSO_REMINDER_HOUR"] = 0  # the suite runs at any hour


def test_without_a_relay_nothing_is_mailed(any_hour, app, runner, make_user):
    officer = make_user("officer")
    wants_mail(app, officer)
    open_case(app, officer, due_in_days=1)
    result = send_due(runner)
    assert result.exit_code == 0, result.output
    assert "mail is not configured" in result.output
    assert states(app) == {"app": 1}


# --- the relay down, then back ------------------------------------------------------------------

@pytest.fixture
def down_port(app_config):
    """A loopback port nobody listens on, configured as the relay before the app is made."""
    port = free_port()
    app_config.update(mail_settings(port))
    return port


def test_a_relay_down_loses_nothing_and_the_next_run_sends_it(down_port, app, runner, make_user):
    officers = [make_user("officer") for _ in range(2)]
    for officer in officers:
        wants_mail(app, officer)
    with time_machine.travel(MORNING, tick=False) as clock:
        for officer in officers:
            open_case(app, officer, due_in_days=-1)

        down = send_due(runner)
        assert down.exit_code != 0
        [line] = [line for line in down.output.splitlines() if "mail relay" in line]
        assert line == (f"Error: mail relay 127.0.0.1:{down_port} unreachable: Connection refused; "
                        "2 mails left for the next run")
        assert states(app) == {"immediate": 2}
        with app.app_context():
            assert set(db.session.scalars(select(Notification.mail_attempts))) == {1}
            db.session.commit()

        controller, inbox = start_smtp(down_port)
        try:
            clock.shift(timedelta(minutes=15))
            again = send_due(runner)
        finally:
            controller.stop()
    assert again.exit_code == 0, again.output
    assert len(inbox.messages) == 2
    assert states(app) == {"sent": 2}
    assert count(app, Notification) == 2  # the reminders were raised once


class Picky(Inbox):
    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802 - aiosmtpd's name
        if address.startswith("nobody"):
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def picky_smtp(app_config):
    inbox = Picky()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    app_config.update(mail_settings(controller.port))
    try:
        yield inbox
    finally:
        controller.stop()


def test_a_refused_address_is_retried_later_and_others_still_go(picky_smtp, app, runner, make_user):
    good, bad = make_user("officer"), make_user("officer")
    wants_mail(app, good)
    wants_mail(app, bad, address="nobody@tinhuy.test")
    open_case(app, good, due_in_days=1)
    open_case(app, bad, due_in_days=1)
    result = send_due(runner)
    assert result.exit_code == 0, result.output
    assert "1 mails refused" in result.output.splitlines()[-1]
    assert [to for to, _content in picky_smtp.messages] == [[f"{good.username}@tinhuy.test"]]
    with app.app_context():
        waiting = db.session.scalars(select(Notification).where(Notification.mail_state == "immediate")).one()
        assert waiting.mail_attempts == 1 and waiting.next_attempt_at is not None
        db.session.commit()
    assert [json.loads(entry.detail)["items"] for entry in audit_entries(app, "notify.mail_refused")] == [1]


# --- TLS and authentication ----------------------------------------------------------------------

def self_signed(tmp_path) -> tuple[str, ssl.SSLContext]:
    """A certificate for 127.0.0.1, its own CA: the CA file the client trusts, and the server's context."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay.test")])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(hours=1))
                   .not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "relay.pem", tmp_path / "relay.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return str(cert_file), context


def authenticator(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=(auth_data.login, auth_data.password) == (b"hoso", b"p@ss:word"), handled=False)


@pytest.fixture
def tls_smtp(app_config, tmp_path):
    """A relay that requires STARTTLS before AUTH, with a certificate of the test's own CA,
    which HOSO_SMTP_CA_FILE names."""
    ca_file, context = self_signed(tmp_path)
    controller, inbox = start_smtp(tls_context=context, require_starttls=True, authenticator=authenticator,
                                   auth_require_tls=True)
    url = f"smtp://hoso:p%40ss%3Aword@127.0.0.1:{controller.port}?starttls=1"
    app_config.update({**mail_settings(controller.port, url), "HOSO_SMTP_CA_FILE": ca_file})
    try:
        yield controller.port, inbox, ca_file
    finally:
        controller.stop()


def connect(transport: Transport) -> bool:
    """Open the connection (TLS and login included) and close it again."""
    with transport:
        return True


def test_starttls_with_auth_sends_and_a_wrong_password_is_one_line_without_it(tls_smtp, app, runner, make_user):
    port, inbox, ca_file = tls_smtp
    officer = make_user("officer")
    wants_mail(app, officer)
    open_case(app, officer, due_in_days=1)
    result = send_due(runner)
    assert result.exit_code == 0, result.output
    assert len(inbox.messages) == 1

    wrong = Transport(parse_smtp_url(f"smtp+starttls://hoso:guess@127.0.0.1:{port}"), ca_file=ca_file)
    with pytest.raises(MailError) as caught:
        connect(wrong)
    assert str(caught.value) == f"mail relay 127.0.0.1:{port} unreachable: authentication refused (535)"
    untrusted = Transport(parse_smtp_url(f"smtp+starttls://hoso:x@127.0.0.1:{port}"))
    with pytest.raises(MailError, match="TLS certificate not trusted") as caught:
        connect(untrusted)
    assert "hoso:x" not in str(caught.value)


def test_implicit_tls(tmp_path):
    ca_file, context = self_signed(tmp_path)
    controller, inbox = start_smtp(ssl_context=context)
    try:
        message = email.message.EmailMessage()
        message["From"], message["To"], message["Subject"] = "hoso@tinhuy.test", "a@tinhuy.test", "thử"
        message.set_content("Xin chào")
        with Transport(parse_smtp_url(f"smtps://127.0.0.1:{controller.port}"), ca_file=ca_file) as transport:
            transport.send(message)
    finally:
        controller.stop()
    assert inbox.mails()[0]["Subject"] == "thử"


# --- the leak test -------------------------------------------------------------------------------

def _protected_values() -> set[str]:
    """Every name, ID number and title the demo holds, read decrypted from the database."""
    values: set[str] = set()
    for subject in db.session.scalars(select(Subject)):
        values.update(filter(None, (subject.full_name, subject.other_names, subject.id_number)))
    for relative in db.session.scalars(select(Relative)):
        values.update(filter(None, (relative.full_name, relative.id_number)))
    for case in db.session.scalars(select(Case)):
        values.update(filter(None, (case.title,)))
    for petition in db.session.scalars(select(Petition)):
        values.update(filter(None, (petition.petitioner_name,)))
    for person in db.session.scalars(select(ConcernedPerson)):
        values.update(filter(None, (person.named_as,)))
    for campaign in db.session.scalars(select(Campaign)):
        values.add(campaign.title)
    for guidance in db.session.scalars(select(Guidance)):
        values.add(guidance.title)
        values.update(filter(None, (version.note for version in guidance.versions)))
    return {value for value in values if len(value) >= 4}


def _raise_every_kind(users: list[User]) -> set[str]:
    """Each kind about a demo item of the type it is about, to every demo user."""
    cases = list(db.session.scalars(select(Case).order_by(Case.reference)))
    requests = list(db.session.scalars(select(CoordinationRequest)))
    campaigns = list(db.session.scalars(select(Campaign)))
    accesses = list(db.session.scalars(select(BreakGlassAccess)))
    asks = list(db.session.scalars(select(IdentityRelease)))
    versions = list(db.session.scalars(select(GuidanceVersion)))
    targets = {
        service.REQUEST_RECEIVED: [("request", item.id, item.case.reference, item.due_on) for item in requests],
        service.REQUEST_ANSWERED: [("request", item.id, item.case.reference, item.due_on) for item in requests],
        service.REQUEST_OVERDUE: [("request", item.id, item.case.reference, item.due_on) for item in requests],
        service.CAMPAIGN_OVERDUE: [("campaign", item.id, item.reference, item.due_on) for item in campaigns],
        service.BREAK_GLASS_REVIEW: [("break_glass", item.id, item.case.reference, None) for item in accesses],
        service.IDENTITY_RELEASE_AWAITING: [("identity_release", item.id, item.case.reference, None) for item in asks],
        service.IDENTITY_RELEASE_DECIDED: [("identity_release", item.id, item.case.reference, None) for item in asks],
        service.GUIDANCE_TO_READ: [("guidance", item.id, item.guidance.unit.code, None) for item in versions],
    }
    ids = [user.id for user in users]
    for kind in service.KINDS:
        for target_type, target_id, reference, due_on in targets.get(
                kind, [("case", case.id, case.reference, case.due_on) for case in cases]):
            service.notify(ids, kind, target_type=target_type, target_id=target_id, reference=reference,
                           due_on=due_on, dedupe_key=f"leak:{kind}:{target_id}")
    return {kind for kind in service.KINDS if targets.get(kind, cases)}


def _normal(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def test_no_mail_of_the_demo_carries_a_name_an_id_number_or_a_title(mail_app, smtp, runner):
    seeded = runner.invoke(args=["demo"])
    assert seeded.exit_code == 0, seeded.output
    with mail_app.app_context():
        users = list(db.session.scalars(select(User).where(User.demo_account.is_(True))))
        for user in users:
            user.active = True
            db.session.merge(MailAddress(user_id=user.id, address=f"{user.username}@tinhuy.test"))
            for kind in service.KINDS:
                db.session.merge(NotificationPreference(user_id=user.id, kind=kind, delivery="immediate"))
        db.session.commit()
        raised = _raise_every_kind(users)
        db.session.commit()
        protected = _protected_values()
        db.session.commit()
    assert len(protected) > 50

    result = send_due(runner)
    assert result.exit_code == 0, result.output
    mails = smtp[1].mails()
    assert len(mails) >= len({user.username for user in users}) // 2
    mailed_kinds = {kind for entry in audit_entries(mail_app, "notify.mail_sent") for kind in json.loads(entry.detail)["kinds"]}
    assert mailed_kinds == raised  # every kind raised reached someone's mailbox

    for mail in mails:
        text = _normal("\n".join([*(f"{name}: {value}" for name, value in mail.items()), mail.get_content()]))
        leaked = [value for value in protected if _normal(value) in text]
        assert not leaked, f"a mail to {mail['To']} carries {len(leaked)} protected value(s)"


def test_the_audit_entry_of_a_mail_names_no_content(mail_app, smtp, runner, make_user):
    officer = make_user("officer")
    wants_mail(mail_app, officer)
    open_case(mail_app, officer, due_in_days=-3)
    send_due(runner)
    with mail_app.app_context():
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action.startswith("notify."))).all()
        details = " ".join(str(entry.detail) for entry in entries)
        db.session.commit()
    assert "Thẩm định" not in details and "Nguyễn" not in details
    assert {entry.action for entry in entries} == {"notify.reminders_raised", "notify.mail_sent"}
    assert all(entry.actor_id is None for entry in entries)  # the command's own, not a person's


# --- who the reminders go to ------------------------------------------------------------------

def test_request_overdue_goes_to_the_officers_of_the_case_that_sent_it(app, runner):
    assert runner.invoke(args=["demo"]).exit_code == 0
    with app.app_context():
        today = local_today()
        late = db.session.scalars(select(CoordinationRequest).where(
            CoordinationRequest.due_on < today, CoordinationRequest.state.in_(["sent", "acknowledged",
                                                                               "more_requested"]))).all()
        expected = {(assignment.user_id, item.id) for item in late if item.case.state not in ("closed",)
                    for assignment in item.case.assignments if assignment.user.active}
        found = {(reminder.user_id, reminder.target_id) for reminder in reminders.requests_overdue(today)}
        db.session.commit()
    assert expected and found == expected


def _campaign(owner_unit: str, *, due_in_days: int, nominee_case=None) -> Campaign:
    """A campaign with one nominee, written as rows (the campaign operations are another
    branch's): its title sealed as any campaign's."""
    unit = find_unit(owner_unit)
    today = local_today()
    campaign = Campaign(reference=f"DTD-{today.year}-{uuid.uuid4().int % 10**6:06d}", purpose="congress",
                        state="open", owner_unit_id=unit.id, due_on=today + timedelta(days=due_in_days),
                        title="Nhân sự Đại hội Đảng bộ tỉnh nhiệm kỳ 2025–2030")
    db.session.add(campaign)
    db.session.flush()
    by = db.session.scalar(select(User).where(User.unit_id == unit.id).limit(1))
    subject = nominee_case.subject if nominee_case is not None else factories.make_subject(by, owner_unit=unit)
    db.session.add(CampaignNominee(campaign_id=campaign.id, subject_id=subject.id, unit_id=unit.id,
                                   case_id=nominee_case.id if nominee_case is not None else None,
                                   ))
    db.session.flush()
    return campaign


def test_campaign_overdue_goes_to_the_supervisors_whose_scope_holds_its_unit(app, make_unit, make_user):
    make_unit("BTCTU")
    make_unit("BTCHX", "Ban Tổ chức Huyện ủy X", kind="district", parent="BTCTU")
    province, district = make_user("supervisor", unit="BTCTU"), make_user("supervisor", unit="BTCHX")
    officer = make_user("officer", unit="BTCHX")
    make_user("supervisor", unit="BTCTU", active=False)
    with app.app_context():
        late = _campaign("BTCHX", due_in_days=-1)
        on_time = _campaign("BTCHX", due_in_days=3)
        # A nominee's own review due earlier than the campaign makes it overdue already.
        case = factories.open_review(factories.user_row(officer))
        db.session.flush()
        case.due_on = local_today() - timedelta(days=1)
        early = _campaign("BTCHX", due_in_days=10, nominee_case=case)
        db.session.commit()
        found = {(reminder.user_id, reminder.target_id) for reminder in reminders.campaigns_overdue(local_today())}
        db.session.commit()
    assert found == {(province.id, late.id), (district.id, late.id), (province.id, early.id),
                     (district.id, early.id)}
    assert on_time.id not in {target for _user, target in found}


def test_campaign_overdue_is_not_told_to_a_supervisor_whose_only_overdue_row_is_about_them(app, make_user):
    """Recusal: "your campaign has nominees overdue" would tell them their own row's state."""
    listed, colleague = make_user("supervisor"), make_user("supervisor")
    with app.app_context():
        late = _campaign("BTCTU", due_in_days=-1)
        nominee = db.session.scalars(select(CampaignNominee).where(CampaignNominee.campaign_id == late.id)).one()
        factories.user_row(listed).citizen_index = citizen_index(nominee.subject.id_number)
        db.session.commit()
        found = {(reminder.user_id, reminder.target_id) for reminder in reminders.campaigns_overdue(local_today())}
        # A second overdue row, about someone else: now there is something of theirs to tell.
        other = factories.make_subject(factories.user_row(colleague), owner_unit=find_unit("BTCTU"))
        db.session.add(CampaignNominee(campaign_id=late.id, subject_id=other.id, unit_id=late.owner_unit_id,
                                       position_in_list=2))
        db.session.commit()
        again = {(reminder.user_id, reminder.target_id) for reminder in reminders.campaigns_overdue(local_today())}
        db.session.commit()
    assert found == {(colleague.id, late.id)}
    assert again == {(colleague.id, late.id), (listed.id, late.id)}


def test_a_concluded_or_reused_nominee_is_not_overdue(app, make_user):
    officer, supervisor = make_user("officer"), make_user("supervisor")
    with app.app_context():
        by = factories.user_row(officer)
        case = factories.to_conclusion(factories.open_review(by), by=by)
        factories.submit_conclusion(case, by=by)
        approved = factories.approve_conclusion(case, by=factories.user_row(supervisor))
        _campaign("BTCTU", due_in_days=-2, nominee_case=case)
        reused = _campaign("BTCTU", due_in_days=-2)
        db.session.scalars(select(CampaignNominee).where(CampaignNominee.campaign_id == reused.id)).one() \
            .reused_conclusion_id = approved.id
        db.session.commit()
        assert reminders.campaigns_overdue(local_today()) == []
        db.session.commit()


def test_a_recused_officer_is_mailed_nothing_of_the_case(mail_app, smtp, runner, make_user):
    officer = make_user("officer")
    wants_mail(mail_app, officer)
    case_id, _reference, _name = open_case(mail_app, officer, due_in_days=1)
    with mail_app.app_context():  # the officer turns out to be the person under review
        factories.user_row(officer).citizen_index = citizen_index(db.session.get(Case, case_id).subject.id_number)
        db.session.commit()
    result = send_due(runner)
    assert result.exit_code == 0, result.output
    assert smtp[1].messages == [] and states(mail_app) == {"skipped": 1}
