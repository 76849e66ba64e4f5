"""Every security event and every change through the app leaves its entry, with the right
action, actor, target and outcome; and every page that reads personal data records the read.

The route walk fails on any GET endpoint nobody has classified, so a new page that shows
personal data cannot ship without deciding what it records."""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass

import pyotp
import pytest

from audit.models import AuditEntry
from cases.archive.models import ArchiveDocument
from cases.archive.scans import add_scan
from cases.demo.scans import jpeg_scan, pdf_scan
from cases.models import Subject
from protection.accounts import find_unit
from protection.db import db
from tests import factories, pages
from tests.conftest import PASSWORD, MadeUser, audit_entries, post_form

NEW_PASSWORD = "Mua-xuan-tren-dinh-Fansipan-31"
REQUEST_ID = re.compile(r"^[0-9A-F]{8}$")


@pytest.fixture(autouse=True)
def _rate_limit_out_of_the_way(app_config):
    app_config["HOSO_LOGIN_RATE_LIMIT"] = "1000 per minute"


def only(app, action: str) -> AuditEntry:
    entries = audit_entries(app, action)
    assert len(entries) == 1, [(e.id, e.action) for e in entries]
    return entries[0]


def assert_entry(entry: AuditEntry, *, actor: MadeUser | None, target: tuple[str | None, str | None],
                 outcome: str = "success", from_request: bool = True) -> None:
    if actor is None:
        assert (entry.actor_id, entry.actor_role, entry.actor_unit) == (None, None, None)
    else:
        assert (entry.actor_id, entry.actor_role, entry.actor_unit) == (actor.id, actor.role, actor.unit_code)
    assert (entry.target_type, entry.target_id) == target
    assert entry.outcome == outcome
    if from_request:
        assert entry.client_address == "127.0.0.1"
        assert REQUEST_ID.match(entry.request_id or ""), entry.request_id


def user_target(user: MadeUser) -> tuple[str, str]:
    return "user", str(user.id)


# --- sign-in and the second factor ----------------------------------------------------------

def test_sign_in_success_failure_and_sign_out(app, client, make_user, sign_in):
    officer = make_user("officer")
    assert sign_in(officer, password="Sai-mat-khau-Cat-Ba-55").status_code == 200
    failed = only(app, "auth.login.failed")
    assert_entry(failed, actor=officer, target=user_target(officer), outcome="failure")
    assert failed.detail == '{"reason":"bad_password"}'

    assert post_form(client, "/login", {"username": "khong.ai.ca", "password": "x" * 12}).status_code == 200
    unknown = audit_entries(app, "auth.login.failed")[-1]
    assert_entry(unknown, actor=None, target=(None, None), outcome="failure")
    assert unknown.detail == '{"reason":"unknown_user"}'

    assert sign_in(officer).status_code == 302
    succeeded = only(app, "auth.signed_in")
    assert_entry(succeeded, actor=officer, target=user_target(officer))
    assert re.fullmatch(r'\{"session":"[0-9a-f-]{36}"\}', succeeded.detail)

    assert post_form(client, "/logout", token_from="/").status_code == 302
    signed_out = only(app, "auth.logout")
    assert_entry(signed_out, actor=officer, target=user_target(officer))
    assert signed_out.detail == succeeded.detail  # the same session


def test_lockout(app, make_user, sign_in):
    officer = make_user("officer")
    for _ in range(5):
        sign_in(officer, password="Sai-mat-khau-Cat-Ba-55")
    assert_entry(only(app, "auth.lockout"), actor=officer, target=user_target(officer), outcome="failure")


def test_second_factor_enrolment_failure_and_reset(app, client, make_user, sign_in):
    supervisor = make_user("supervisor", totp=False)
    response = sign_in(supervisor)
    assert response.headers["Location"] == "/account/two-factor/enrol"
    # The password step is recorded as such; "signed in" waits for the second factor.
    password_ok = only(app, "auth.password_ok")
    assert_entry(password_ok, actor=supervisor, target=user_target(supervisor))
    assert '"next":"enrolment"' in password_ok.detail
    assert audit_entries(app, "auth.signed_in") == []
    page = client.get("/account/two-factor/enrol").get_data(as_text=True)
    secret = re.search(r'<p class="hoso-secret">([A-Z2-7]+)</p>', page).group(1)
    assert post_form(client, "/account/two-factor/enrol", {"code": pyotp.TOTP(secret).now()}).status_code == 302
    assert_entry(only(app, "auth.second_factor.enrolled"), actor=supervisor, target=user_target(supervisor))
    assert_entry(only(app, "auth.signed_in"), actor=supervisor, target=user_target(supervisor))

    other = app.test_client()
    assert sign_in(supervisor, target=other, with_code=False).headers["Location"] == "/login/second-factor"
    assert post_form(other, "/login/second-factor", {"code": "000000"}).status_code == 200
    assert_entry(only(app, "auth.second_factor.failed"), actor=supervisor, target=user_target(supervisor),
                 outcome="failure")

    admin_client = app.test_client()
    admin = make_user("admin")
    assert sign_in(admin, target=admin_client).status_code == 302
    edit_page = f"/admin/users/{supervisor.id}"
    assert post_form(admin_client, f"{edit_page}/reset-two-factor", token_from=edit_page).status_code == 302
    assert_entry(only(app, "auth.second_factor.reset"), actor=admin, target=user_target(supervisor))


def test_password_change_and_reset(app, client, make_user, sign_in):
    officer = make_user("officer")
    assert sign_in(officer).status_code == 302
    assert post_form(client, "/account/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD,
    }).status_code == 302
    assert_entry(only(app, "auth.password.changed"), actor=officer, target=user_target(officer))

    admin_client = app.test_client()
    admin = make_user("admin")
    assert sign_in(admin, target=admin_client).status_code == 302
    edit_page = f"/admin/users/{officer.id}"
    assert post_form(admin_client, f"{edit_page}/reset-password", token_from=edit_page).status_code == 200
    assert_entry(only(app, "auth.password.reset"), actor=admin, target=user_target(officer))


# --- administration -------------------------------------------------------------------------

@dataclass
class AdminScene:
    admin: MadeUser
    client: object


@pytest.fixture
def as_admin(app, make_user, sign_in) -> AdminScene:
    admin = make_user("admin")
    admin_client = app.test_client()
    assert sign_in(admin, target=admin_client).status_code == 302
    return AdminScene(admin, admin_client)


def test_user_create_update_disable_enable(app, as_admin):
    response = post_form(as_admin.client, "/admin/users/new", {
        "username": "can.bo.moi", "display_name": "Đặng Thị Mới", "unit": "BTCTU",
        "role": "officer", "clearance": "confidential"}, token_from="/admin/users/new")
    assert response.status_code == 200
    created = [e for e in audit_entries(app, "user.created") if e.actor_id == as_admin.admin.id]
    assert len(created) == 1
    new_id = created[0].target_id
    assert_entry(created[0], actor=as_admin.admin, target=("user", new_id))
    assert created[0].detail == '{"fields":["username","display_name","unit","role","clearance"]}'

    edit_page = f"/admin/users/{new_id}"
    assert post_form(as_admin.client, edit_page, {"display_name": "Đặng Thị Đổi", "unit": "BTCTU",
                                                  "role": "officer", "clearance": "secret"}).status_code == 302
    updated = only(app, "user.updated")
    assert_entry(updated, actor=as_admin.admin, target=("user", new_id))
    assert updated.detail == '{"fields":["display_name","clearance"]}'

    for change in ("disable", "enable"):
        assert post_form(as_admin.client, f"{edit_page}/{change}", token_from=edit_page).status_code == 302
        entry = only(app, f"user.{change}d")
        assert_entry(entry, actor=as_admin.admin, target=("user", new_id))
        assert entry.detail == '{"fields":["active"]}'


def test_unit_create(app, as_admin):
    assert post_form(as_admin.client, "/admin/units", {"code": "HUYEN-B", "name": "Huyện ủy B",
                                                       "kind": "organisation", "parent": "BTCTU"}).status_code == 302
    entry = [e for e in audit_entries(app, "unit.created") if e.actor_id == as_admin.admin.id]
    assert len(entry) == 1
    assert entry[0].target_type == "unit" and len(entry[0].target_id) == 36
    assert_entry(entry[0], actor=as_admin.admin, target=("unit", entry[0].target_id))
    assert entry[0].detail == '{"fields":["code","name","kind","parent"]}'


def test_access_denied(app, client, login_as):
    officer = login_as("officer")
    assert client.get("/admin/users").status_code == 403
    entry = only(app, "access.denied")
    assert_entry(entry, actor=officer, target=(None, None), outcome="denied")
    assert entry.detail == '{"endpoint":"admin.users","permission":"users.manage","status":403}'


def test_changes_made_from_the_command_line_are_recorded_too(app, runner, make_unit):
    make_unit()
    result = runner.invoke(args=["users", "create", "cli.user", "--role", "officer", "--unit", "BTCTU",
                                 "--password-stdin"], input="Song-Da-chay-qua-Hoa-Binh-88\n")
    assert result.exit_code == 0, result.output
    created = audit_entries(app, "user.created")[-1]
    assert_entry(created, actor=None, target=("user", created.target_id), from_request=False)
    assert created.client_address == "cli"


# --- every page that reads personal data records the read -----------------------------------

@dataclass(frozen=True)
class Read:
    role: str  # who may open the page
    path: str  # "{name}" placeholders are filled from the read_targets fixture
    action: str
    target_type: str
    target: str | None = None  # the placeholder whose id the entry must name as its target
    assign: str | None = None  # the case (placeholder) a supervisor assigns the reader to first
    release: str | None = None  # the petition (placeholder) whose identity is released to the reader first


PERSONAL_READS = {
    "access.queue": Read("auditor", "/access/break-glass", "break_glass.list", "break_glass"),
    "admin.users": Read("admin", "/admin/users", "user.list", "user"),
    "admin.edit_user": Read("admin", "/admin/users/{person}", "user.view", "user", target="person"),
    "admin.directory_requests_list": Read("admin", "/admin/directory", "directory_request.list",
                                          "directory_request"),
    "audit.trail": Read("auditor", "/audit/", "audit.search", "audit_log"),
    "audit.export": Read("auditor", "/audit/export.csv", "audit.export", "audit_log"),
    "subjects.index": Read("officer", "/subjects/?q=Nguyen+Van+An", "subject.search", "subject"),
    "subjects.view": Read("officer", "/subjects/{subject}", "subject.view", "subject", target="subject"),
    "subjects.edit": Read("officer", "/subjects/{subject}/edit", "subject.view", "subject", target="subject"),
    "subjects.edit_relative": Read("officer", "/subjects/{subject}/relatives/{relative}", "relative.view",
                                   "subject", target="subject"),
    "subjects.export": Read("supervisor", "/subjects/export.csv", "subject.export", "subject"),
    # A dossier's document register (issue 24 B): its pages show the documents' sealed fields.
    "archive.register": Read("officer", "/archive/subjects/{subject}/register", "archive.register.view", "subject",
                             target="subject"),
    "archive.print_register": Read("officer", "/archive/subjects/{subject}/register.pdf", "archive.register.print",
                                   "subject", target="subject"),
    "archive.edit_document": Read("officer", "/archive/subjects/{subject}/register/{archive_document}/edit",
                                  "archive.document.view", "subject", target="subject"),
    "archive.upload_scan": Read("officer", "/archive/subjects/{subject}/register/{archive_document}/scans/new",
                                "archive.document.view", "subject", target="subject"),
    "archive.download_scan": Read("officer", "/archive/scans/{archive_scan}/download", "archive.scan.download",
                                  "subject", target="subject"),
    "coordination.inbox": Read("liaison", "/requests/", "coordination.list", "coordination_request"),
    "partners.index": Read("admin", "/admin/partners/", "api_client.list", "api_client"),
    # Case work: supervisors see every case of their scope; officers work the cases they are assigned.
    "cases.index": Read("supervisor", "/cases/?view=unit", "case.list", "case"),
    "cases.new_review": Read("officer", "/cases/reviews/new?subject={subject}", "subject.view", "subject",
                             target="subject"),
    "cases.view": Read("supervisor", "/cases/{case}", "case.view", "case", target="case"),
    "cases.petitioner": Read("officer", "/cases/{petition}/petitioner", "petition.petitioner_view", "case",
                             target="petition", assign="petition", release="petition"),
    "cases.identity_release": Read("officer", "/cases/{petition}/identity-release", "case.view", "case",
                                   target="petition", assign="petition"),
    "access.identity_releases": Read("auditor", "/access/identity-releases", "identity_release.list",
                                     "identity_release"),
    "cases.download": Read("supervisor", "/cases/{case}/attachments/{attachment}", "attachment.download", "case",
                           target="case"),
    "cases.approve": Read("supervisor", "/cases/{submitted}/conclusion/approve", "case.view", "case",
                          target="submitted"),
    "cases.decide": Read("officer", "/cases/{petition}/decision", "case.view", "case", target="petition",
                         assign="petition"),
    "cases.add_finding": Read("officer", "/cases/{case}/findings/new", "case.view", "case", target="case",
                              assign="case"),
    "cases.conclusion": Read("officer", "/cases/{case}/conclusion", "case.view", "case", target="case",
                             assign="case"),
    # Printing: the form lists the copies issued, like the register (tests/test_printing.py prints).
    "prints.print_conclusion": Read("supervisor", "/cases/{approved}/conclusions/{approved_conclusion}/print",
                                    "print_register.view", "case", target="approved"),
    "prints.register": Read("supervisor", "/cases/{approved}/conclusions/{approved_conclusion}/prints",
                            "print_register.view", "case", target="approved"),
    # The periodic report: numbers only, but every view and download is recorded (who took which figures).
    "reports.index": Read("supervisor", "/reports/", "report.view", "report"),
    "reports.download": Read("supervisor", "/reports/export.xlsx", "report.export", "report"),
    # Review campaigns: titles and nominees' names and conclusions; the summary's files.
    "campaigns.index": Read("supervisor", "/campaigns/", "campaign.list", "campaign"),
    "campaigns.board": Read("supervisor", "/campaigns/{campaign}", "campaign.view", "campaign", target="campaign"),
    "campaigns.nominees": Read("supervisor", "/campaigns/{campaign}/nominees?q=Nguyen+Van+An", "subject.search",
                               "subject"),
    "campaigns.summary_xlsx": Read("supervisor", "/campaigns/{campaign}/summary.xlsx", "campaign.export", "campaign",
                                   target="campaign"),
    "campaigns.print_summary": Read("supervisor", "/campaigns/{campaign}/print", "campaign.print_register.view",
                                    "campaign", target="campaign"),
    "campaigns.prints": Read("supervisor", "/campaigns/{campaign}/prints", "campaign.print_register.view",
                             "campaign", target="campaign"),
    # The guidance library (issue 24 A.3): titles, notes and files are sealed; every read recorded.
    "oversight.guidance_library": Read("officer", "/oversight/guidance/", "guidance.list", "guidance"),
    "oversight.guidance_view": Read("officer", "/oversight/guidance/{guidance}", "guidance.view", "guidance",
                                    target="guidance"),
    "oversight.guidance_download": Read("officer", "/oversight/guidance/{guidance}/files/{guidance_file}",
                                        "guidance.download", "guidance", target="guidance"),
    "oversight.guidance_readers": Read("supervisor", "/oversight/guidance/{guidance}/readers", "guidance.readers",
                                       "guidance", target="guidance"),
    "oversight.guidance_new_version": Read("supervisor", "/oversight/guidance/{guidance}/versions/new",
                                           "guidance.view", "guidance", target="guidance"),
    "oversight.guidance_withdraw": Read("supervisor", "/oversight/guidance/{guidance}/withdraw", "guidance.view",
                                        "guidance", target="guidance"),
    # The digital archive (issue 24 B.3): the reader page (the page's recognised text) and each page image.
    "archive.read_scan": Read("officer", "/archive/scans/{scan}", "archive.scan.view", "subject", target="subject"),
    "archive.scan_page": Read("officer", "/archive/scans/{scan}/pages/1.png", "archive.scan.page_view", "subject",
                              target="subject"),
    # Inspection visits (issue 24 A.2): what a visit found and recommends, the sub-unit's reports and files.
    "oversight.view_visit": Read("supervisor", "/oversight/visits/{visit}", "oversight.visit.view", "inspection_visit",
                                 target="visit"),
    "oversight.decide": Read("supervisor", "/oversight/visits/{visit}/recommendations/{visit_rec}",
                             "oversight.visit.view", "inspection_visit", target="visit"),
    "oversight.edit_recommendation": Read("supervisor", "/oversight/visits/{visit}/recommendations/{visit_rec}/edit",
                                          "oversight.visit.view", "inspection_visit", target="visit"),
    "oversight.download_file": Read("supervisor", "/oversight/visits/{visit}/files/{visit_file}",
                                    "oversight.file.download", "inspection_visit", target="visit"),
}


class LazyTargets(dict):
    """Records made on first use: a case takes a dozen requests, and most pages need none."""

    def __init__(self, values: dict, makers: dict):
        super().__init__(values)
        self.makers = makers

    def __missing__(self, key):
        for name, value in self.makers[key]().items():
            self.setdefault(name, value)
        return self[key]


@pytest.fixture
def read_targets(app, make_user, sign_in) -> dict[str, object]:
    """The records the walked pages are about, made through the app by someone else of
    the reader's unit; a new kind of record gets its factory here."""
    person = make_user("officer", display_name="Hoàng Thị Được Xem")
    creator = app.test_client()
    assert sign_in(make_user("officer"), target=creator).status_code == 302
    subject = pages.create_subject_by_form(creator)
    relative = pages.add_relative_by_form(creator, subject)

    def review_at_conclusion():
        case = pages.open_review_by_form(creator, subject)
        assert pages.case_action(creator, case, "attachments", {
            "classification": "unclassified", "file": (io.BytesIO(pages.PDF), "bien-ban.pdf")},
            content_type="multipart/form-data").status_code == 302
        page = creator.get(f"/cases/{case}").get_data(as_text=True)
        attachment = re.search(rf"/cases/{case}/attachments/([0-9a-f-]{{36}})", page).group(1)
        pages.to_concluding(creator, case)
        return {"case": case, "attachment": attachment}

    def submitted():
        case = pages.open_review_by_form(creator, subject)
        pages.to_concluding(creator, case)
        pages.draft_and_submit(creator, case)
        return {"submitted": case}

    def approved():
        case = submitted()["submitted"]
        approver = app.test_client()
        assert sign_in(make_user("supervisor"), target=approver).status_code == 302
        assert pages.page_post(approver, f"/cases/{case}/conclusion/approve",
                                    data={"secret": PASSWORD}).status_code == 302
        page = approver.get(f"/cases/{case}").get_data(as_text=True)
        conclusion = re.search(rf"/cases/{case}/conclusions/([0-9a-f-]{{36}})/print", page).group(1)
        return {"approved": case, "approved_conclusion": conclusion}

    def archived():
        register = f"/archive/subjects/{subject}/register"
        assert pages.page_post(creator, f"{register}/new", data={
            "doc_type": "decision", "title": "Quyết định kết nạp (đọc)", "classification": "unclassified"}
        ).status_code == 302
        document = re.search(r"/register/([0-9a-f-]{36})/edit", creator.get(register).get_data(as_text=True)).group(1)
        assert pages.page_post(creator, f"{register}/{document}/scans/new",
                               data={"file": (io.BytesIO(pdf_scan(5)), "quyet-dinh.pdf")},
                               content_type="multipart/form-data").status_code == 302
        scan = re.search(r"/archive/scans/([0-9a-f-]{36})/download", creator.get(register).get_data(as_text=True))
        return {"archive_document": document, "archive_scan": scan.group(1)}

    def campaign():
        with app.app_context():
            owner_unit_id = str(find_unit("BTCTU").id)
            db.session.commit()
        owner = app.test_client()
        assert sign_in(make_user("supervisor"), target=owner).status_code == 302
        response = pages.page_post(owner, "/campaigns/new", data={
            "purpose": "congress", "title": "Nhân sự Đại hội (đọc)", "owner_unit_id": owner_unit_id,
            "due_on": pages.day_text(30), "classification": "unclassified"})
        assert response.status_code == 302, response.status_code
        return {"campaign": response.headers["Location"].rsplit("/", 1)[1]}

    def guidance():
        publisher = app.test_client()
        assert sign_in(make_user("supervisor"), target=publisher).status_code == 302
        response = pages.page_post(publisher, "/oversight/guidance/new", data={
            "kind": "regulation", "title": "Quy định lưu trữ hồ sơ (đọc)", "required_reading": "y",
            "effective_on": pages.day_text(0), "files": [(io.BytesIO(pages.PDF), "quy-dinh.pdf")]},
            content_type="multipart/form-data")
        assert response.status_code == 302, response.status_code
        guidance_id = response.headers["Location"].rsplit("/", 1)[1]
        page = publisher.get(f"/oversight/guidance/{guidance_id}").get_data(as_text=True)
        return {"guidance": guidance_id,
                "guidance_file": re.search(r"/files/([0-9a-f-]{36})", page).group(1)}

    def scan():
        with app.app_context():
            document = ArchiveDocument(subject_id=uuid.UUID(subject), position=1, doc_type="decision",
                                       title="Quyết định (đọc)")
            document.subject = db.session.get(Subject, uuid.UUID(subject))
            db.session.add(document)
            item = add_scan(document, jpeg_scan(2402), "quyet-dinh.jpg", by=None)
            db.session.commit()
            return {"scan": str(item.id)}

    def visit():
        factories.make_unit(app, "HUYEN", "Ban Tổ chức Huyện ủy", "district", "BTCTU")
        with app.app_context():
            huyen = str(find_unit("HUYEN").id)
            db.session.commit()
        inspector = app.test_client()
        assert sign_in(make_user("supervisor"), target=inspector).status_code == 302
        response = pages.page_post(inspector, "/oversight/visits/new", data={
            "sub_unit_id": huyen, "visited_on": pages.day_text(-3), "team": "Đoàn kiểm tra (đọc)",
            "scope": "Phạm vi (đọc)", "classification": "unclassified"})
        assert response.status_code == 302, response.status_code
        visit_id = response.headers["Location"].rsplit("/", 1)[1]
        response = pages.page_post(inspector, f"/oversight/visits/{visit_id}/recommendations/new", data={
            "text": "Khuyến nghị (đọc)", "due_on": pages.day_text(5), "responsible_unit_id": huyen})
        assert response.status_code == 302, response.status_code
        reporter = app.test_client()
        assert sign_in(make_user("officer", unit="HUYEN"), target=reporter).status_code == 302
        page = reporter.get(f"/oversight/visits/{visit_id}").get_data(as_text=True)
        rec = re.search(rf"/oversight/visits/{visit_id}/recommendations/([0-9a-f-]{{36}})/report", page).group(1)
        response = pages.page_post(reporter, f"/oversight/visits/{visit_id}/recommendations/{rec}/report", data={
            "body": "Đã làm (đọc)", "files": (io.BytesIO(pages.PDF), "bao-cao.pdf")},
            content_type="multipart/form-data")
        assert response.status_code == 302, response.status_code
        page = reporter.get(f"/oversight/visits/{visit_id}").get_data(as_text=True)
        found = re.search(rf"/oversight/visits/{visit_id}/files/([0-9a-f-]{{36}})", page).group(1)
        return {"visit": visit_id, "visit_rec": rec, "visit_file": found}

    return LazyTargets({"person": person.id, "subject": subject, "relative": relative}, {
        "scan": scan, "archive_document": archived, "archive_scan": archived,
        "visit": visit, "visit_rec": visit, "visit_file": visit,
        "campaign": campaign, "guidance": guidance, "guidance_file": guidance,
        "case": review_at_conclusion, "attachment": review_at_conclusion, "submitted": submitted,
        "approved": approved, "approved_conclusion": approved,
        "petition": lambda: {"petition": pages.receive_petition_by_form(creator)}})


NOT_PERSONAL = {
    "cases.new_petition": "the intake form: it lists no dossier (people are named by ID number)",
    "static": "our css, js and images",
    "bootstrap.static": "Bootstrap's files",
    "auth.login": "the sign-in form",
    # Health (issue 25): public, never audited; tests/test_doctor.py.
    "health.healthz": "the process answers \"ok\": nothing else",
    "health.readyz": "check names and ok/fail: no record, no version, path or count",
    "auth.second_factor": "the code form during one's own sign-in",
    "auth.enrol": "one's own second-factor set-up",
    "auth.enrol_qr": "one's own second-factor set-up",
    "home": "one's own landing page",
    "account.overview": "one's own account",
    "account.password": "one's own password form",
    "account.sessions": "one's own sessions",
    "account.security_keys": "one's own security keys: names and dates",
    "notifications.index": "one's own notifications: kinds, reference numbers and due dates, each drawn after "
                           "the policy let the reader see the item; no content",
    "notifications.preferences": "one's own delivery choices and work mail address",
    "admin.create_user": "an empty form",
    "admin.confirm_directory_request": "covered by tests/test_directory_signin.py (records directory_request.view)",
    "admin.units": "organisational units, no person",
    "subjects.create": "an empty form",
    "campaigns.create": "an empty form (its unit list names units, no person)",
    "oversight.guidance_new": "an empty form (publishing guidance of one's own unit)",
    "subjects.add_relative": "an empty form for a new relative",
    "archive.add_document": "an empty form for a new document of a register (it names no one)",
    # Inspection visits (issue 24 A.2)
    "oversight.index": "a redirect to the board or the guidance library",
    "oversight.visits_index": "visits' dates, units, states and counts of recommendations; nothing sealed",
    "oversight.new_visit": "an empty form (its unit list names units, no person)",
    "oversight.new_recommendation": "an empty form under the visit's date and units; nothing sealed",
    "oversight.report": "covered by tests/test_oversight_visits.py (records oversight.visit.view, part report_form): "
                        "only the sub-unit's own users open it",
    # Coordination pages need a case in verification; tests/test_coordination.py asserts their reads.
    "coordination.new_request": "covered by tests/test_coordination.py (records case.view)",
    "coordination.officer_view": "covered by tests/test_coordination.py (records coordination.view)",
    "coordination.officer_download": "covered by tests/test_coordination.py (records attachment.download)",
    "coordination.liaison_view": "covered by tests/test_coordination.py (records coordination.view)",
    "coordination.liaison_download": "covered by tests/test_coordination.py (records attachment.download)",
    "coordination.package_printout": "ids, digests and key fingerprints only; covered by tests/test_exchange_server.py "
                                     "(records exchange.printout)",
    # The partner API (issue 21 §A): its reads are covered by token, not by a browser session.
    "api.list_requests": "covered by tests/test_api_requests.py (records coordination.list, via=api)",
    "api.get_request": "covered by tests/test_api_requests.py (records coordination.view, via=api)",
    "api.download_file": "covered by tests/test_api_requests.py (records attachment.download, via=api)",
    "api-docs.openapi_json": "the partner API's OpenAPI document: no record",
    "api_reference.reference": "the API's HTML reference, built from that document: no record",
    # Monitoring (issue 25): counts, ages and durations by endpoint name; no person, no case.
    "metrics.scrape": "Prometheus metrics behind their own bearer token: figures by endpoint name, no record",
    "partners.create": "an empty form (its list names units)",
    "partners.rotate": "a form naming one API client; no person",
    # Partner bodies' exchange keys (issue 21 §B.4): public keys of units, no person or case.
    "partners.exchange_bodies": "units' codes and names with their public exchange keys' fingerprints",
    "partners.exchange_key": "a unit's public keys and its exchange account's username and clearance",
    # Lifetime of records (issue 8): references, kinds, levels and dates only, no content.
    # The release of a petitioner's identity (issue 23): tests/test_identity_release.py.
    "cases.identity_releases_awaiting": "references, askers' names and times of asks waiting for the reader; "
                                        "no reason, no petitioner",
    "cases.approve_identity_release": "covered by tests/test_identity_release.py (records case.view, part "
                                      "identity_release_approval)",
    "retention.index": "references, kinds and dates of cases past retention; no content",
    "retention.purge": "the purge confirmation: reference, kind and dates; the purge itself is audited",
    "retention.classified": "references, levels and end dates of classified items; no content",
    "retention.decide": "an item's level and end date; the decision is audited (classification.review)",
    # The unit board (issue 24 A.1): counts per unit, no person or case; still every view and download is
    # recorded, as the periodic report's are (the walk's supervisor has no sub-unit: the board needs a tree).
    "oversight.board": "covered by tests/test_oversight_board.py (records oversight.board.view, target the unit)",
    "oversight.board_xlsx": "covered by tests/test_oversight_board.py (records oversight.board.export)",
}


def test_every_page_is_classified(app):
    pages = {rule.endpoint for rule in app.url_map.iter_rules() if "GET" in rule.methods}
    unclassified = pages - PERSONAL_READS.keys() - NOT_PERSONAL.keys()
    assert not unclassified, (
        f"GET pages nobody has classified: {sorted(unclassified)}. If one shows personal or case "
        "data it must record the read (audit.trail.record or signals.record_viewed); then add it to "
        "PERSONAL_READS, or to NOT_PERSONAL with the reason.")
    assert not (PERSONAL_READS.keys() | NOT_PERSONAL.keys()) - pages, "a classified page no longer exists"


@pytest.mark.parametrize("endpoint", sorted(PERSONAL_READS))
def test_each_read_of_personal_data_is_recorded(app, client, read_targets, login_as, make_user, sign_in,
                                                endpoint):
    read = PERSONAL_READS[endpoint]
    reader = login_as(read.role)
    path = read.path.format_map(read_targets)
    if read.assign:
        assigner = app.test_client()
        assert sign_in(make_user("supervisor"), target=assigner).status_code == 302
        assert pages.case_action(assigner, read_targets[read.assign], "assign",
                                      {"officer": str(reader.id)}).status_code == 302
    if read.release:
        factories.release_identity(app, read_targets[read.release], asker=reader,
                                   approvers=[make_user("supervisor"), make_user("supervisor")])
    before = {entry.id for entry in audit_entries(app)}

    response = client.get(path)
    assert response.status_code == 200
    response.get_data()  # a streamed body runs to its end

    new = [entry for entry in audit_entries(app) if entry.id not in before]
    reads = [entry for entry in new if entry.action == read.action]
    assert len(reads) == 1, [entry.action for entry in new]
    target_id = str(read_targets[read.target]) if read.target else None
    assert_entry(reads[0], actor=reader, target=(read.target_type, target_id))


def test_a_failed_edit_does_not_count_as_a_view_and_a_get_after_it_does(app, as_admin, make_user):
    person = make_user("officer")
    edit_page = f"/admin/users/{person.id}"
    response = post_form(as_admin.client, edit_page, {"display_name": "", "unit": "BTCTU", "role": "officer",
                                                      "clearance": "secret"})
    assert response.status_code == 200
    views = audit_entries(app, "user.view")
    assert len(views) == 1  # the GET that fetched the form's token; the refused POST adds none
    assert as_admin.client.get(edit_page).status_code == 200
    assert len(audit_entries(app, "user.view")) == 2

