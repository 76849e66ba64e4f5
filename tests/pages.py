"""Reading the app's pages and acting through them as a person with a browser would: what a
form field holds or says beside it, posting a page's own form (CSRF token, form token and
version taken from the page), and the few journeys many tests start with (a dossier typed into
its form, a review opened or a petition received through the case pages).

Shared by the test modules, which never import one another (tests/test_test_hygiene.py).
Objects made directly through the operations, without pages, are in tests/factories.py."""

from __future__ import annotations

import html
import re
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pyotp

from cases.models import Subject
from protection.clock import utcnow
from protection.db import db
from protection.identity import User

CSRF_PATTERN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
CASE_LOCATION = re.compile(r"^/cases/([0-9a-f-]{36})(?:#\w+)?$")
SUBJECT_LOCATION = re.compile(r"/subjects/([0-9a-f-]{36})")
ORGANISATION_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

# A dossier as an officer types it into the form.
AN = {
    "full_name": "Nguyễn Văn An",
    "other_names": "Ba An",
    "date_of_birth": "01/02/1980",
    "sex": "male",
    "id_number": "001080000001",
    "native_place": "Xã Đông Sơn, huyện Sơn Hà",
    "residence": "Phường Bắc Sơn",
    "ethnicity": "Kinh",
    "religion": "Không",
    "current_unit": "Sở Tư pháp",
    "position": "Phó Giám đốc",
    "party_admission_date": "19/05/2004",
    "party_official_date": "19/05/2005",
    "notes": "Đề nghị bổ nhiệm lại.",
}
FATHER = {"relation": "father", "full_name": "Nguyễn Văn Quý", "birth_year": "1950",
          "residence": "Xã Đông Sơn", "occupation": "Nghỉ hưu", "party_member": "y"}

# A review and a petition as the case pages receive them.
TITLE = "Thẩm định kết nạp Đảng đồng chí Nguyễn Văn An"
SUMMARY = "Chi bộ đề nghị thẩm định lý lịch trước khi xét kết nạp"
REASONING = "Lý lịch rõ ràng, không phát hiện vấn đề chính trị"
PETITIONER = "Trần Văn Tố Cáo"
PETITION_SUMMARY = "Đơn phản ánh việc kê khai tài sản không trung thực"


# --- dates as the forms take them -----------------------------------------------------------

def org_today() -> date:
    """Today on the organisation's calendar (Asia/Ho_Chi_Minh, BABEL_DEFAULT_TIMEZONE in
    protection/settings.py), as protection.i18n.local_today() says inside the app; also
    outside an app context. From 17:00 UTC it is already tomorrow in Vietnam."""
    return datetime.now(ORGANISATION_ZONE).date()


def day_text(days: int = 0) -> str:
    """The organisation's day `days` from today, as dd/mm/yyyy (how the forms take a date)."""
    return (org_today() + timedelta(days=days)).strftime("%d/%m/%Y")


# --- reading a page ---------------------------------------------------------------------------

def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def hidden(page: str, name: str) -> str:
    """The value of an input (usually a hidden one), found by id or name; "" without a value."""
    match = re.search(rf'<input[^>]*\b(?:id|name)="{name}"[^>]*>', page)
    assert match, f"no input {name}"
    value = re.search(r'value="([^"]*)"', match.group(0))
    return html.unescape(value.group(1)) if value else ""


def input_value(page: str, field: str) -> str | None:
    """What an input holds (None when it has no value attribute)."""
    match = re.search(rf'<(?:input|textarea)[^>]*\b(?:id|name)="{field}"[^>]*>', page)
    assert match, f"no input {field}"
    value = re.search(r'\bvalue="([^"]*)"', match.group(0))
    return html.unescape(value.group(1)) if value else None


def selected_option(page: str, field: str) -> str | None:
    match = re.search(rf'<select[^>]*\b(?:id|name)="{field}"[^>]*>(.*?)</select>', page, re.S)
    assert match, f"no select {field}"
    option = re.search(r'<option(?=[^>]*\bselected\b)[^>]*value="([^"]*)"', match.group(1))
    return option.group(1) if option else None


def field_errors(page: str, field: str) -> str | None:
    """The error text rendered beside `field` (templates/_forms.html) as one string, None
    when the field has none."""
    match = re.search(rf'id="{field}-errors">(.*?)</div>\s*</(?:div|fieldset)>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).strip() if match else None


def field_error_lines(page: str, field: str) -> list[str]:
    """The error lines rendered beside `field`, one per message ([] when it has none)."""
    block = re.search(rf'id="{field}-errors">\s*((?:<div>.*?</div>\s*)*)</div>', page, re.S)
    if block is None:
        return []
    return [html.unescape(line) for line in re.findall(r"<div>(.*?)</div>", block.group(1), re.S)]


def fields_with_errors(page: str) -> set[str]:
    return set(re.findall(r'id="([a-z_]+)-errors"', page))


def assert_labelled(page: str) -> None:
    """Every visible input has a label (WCAG 1.3.1); buttons name themselves."""
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", page):
        if re.search(r'type="(hidden|submit)"', tag):
            continue
        field_id = re.search(r'id="([^"]+)"', tag)
        assert field_id and f'for="{field_id.group(1)}"' in page, tag


def case_id_of(response) -> str:
    """The case a form sent us to (a 302 to /cases/<id>)."""
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    match = CASE_LOCATION.match(response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


# --- acting through a page ----------------------------------------------------------------------

def next_totp_code(app, user) -> str:
    """A code the server has not seen yet: TOTP accepts each time step once, so a test
    signing in twice within 30 s uses the next step (the server allows one step of drift).
    Never the previous step: if the clock crosses a step boundary before the server checks,
    that one falls out of the window (a CI run failed exactly so)."""
    totp = pyotp.TOTP(user.totp_secret)
    with app.app_context():
        last = db.session.get(User, user.id).totp_last_counter
    now = totp.timecode(utcnow())
    for counter in (now, now + 1):
        if last is None or counter > last:
            return totp.generate_otp(counter)
    raise AssertionError("every acceptable TOTP step was already used in this test")


def sign_in(app, client, user, *, password: str | None = None, with_code: bool = True):
    """Sign `user` (a MadeUser) in on `client` through /login and, when they have a second
    factor and `with_code`, the second-factor page with a code not used yet."""
    response = post_form(client, "/login", {"username": user.username, "password": password or user.password})
    if with_code and user.totp_secret and response.status_code == 302 \
            and response.headers["Location"].endswith("/login/second-factor"):
        response = post_form(client, "/login/second-factor", {"code": next_totp_code(app, user)})
    return response


def csrf_token(client, path: str = "/login") -> str:
    response = client.get(path, follow_redirects=True)
    match = CSRF_PATTERN.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {path} (status {response.status_code})"
    return match.group(1)


def post_form(client, path: str, data: dict | None = None, *, token_from: str | None = None, **kwargs):
    """POST like a browser: take the CSRF token from a page first."""
    payload = {"csrf_token": csrf_token(client, token_from or path), **(data or {})}
    return client.post(path, data=payload, **kwargs)


def page_post(client, page_path: str, post_path: str | None = None, data: dict | None = None, **kwargs):
    """GET a page, then POST its form with the page's CSRF token, form token and version."""
    page = client.get(page_path, follow_redirects=True).get_data(as_text=True)
    payload = {"csrf_token": hidden(page, "csrf_token")}
    for name in ("form_token", "version"):
        if f'name="{name}"' in page:
            payload[name] = hidden(page, name)
    payload.update(data or {})
    return client.post(post_path or page_path, data=payload, **kwargs)


def case_action(client, case_id: str, path: str, data: dict | None = None, **kwargs):
    """POST one of the case page's forms (/cases/<id>/<path>) with that page's tokens."""
    return page_post(client, f"/cases/{case_id}", f"/cases/{case_id}/{path}", data, **kwargs)


def step(client, case_id: str, action: str) -> None:
    """One plain workflow step through the case page's transition form."""
    response = case_action(client, case_id, "transition", {"action": action})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]


# --- journeys through the pages ----------------------------------------------------------------

def person(**changes) -> dict:
    """The dossier form for Nguyễn Văn An, with some fields changed."""
    return {**AN, **changes}


def create_subject_by_form(client, data: dict | None = None) -> str:
    """Type a dossier into /subjects/new (An's by default); its id."""
    response = post_form(client, "/subjects/new", data or AN)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    match = SUBJECT_LOCATION.fullmatch(response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def add_relative_by_form(client, subject_id: str, data: dict | None = None) -> str:
    """Add a relative (An's father by default) through the dossier's form; the relative's id."""
    response = post_form(client, f"/subjects/{subject_id}/relatives/new", data or FATHER)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert response.headers["Location"] == f"/subjects/{subject_id}"
    with client.application.app_context():
        subject = db.session.get(Subject, uuid.UUID(str(subject_id)))
        relative_id = str(subject.relatives[-1].id)
        db.session.commit()
    return relative_id


def open_review_by_form(client, subject_id: str, **changes) -> str:
    """Open a review of a dossier through /cases/reviews/new; the case id."""
    data = {"subject_id": subject_id, "purpose": "party_admission", "classification": "confidential",
            "title": TITLE, "summary": SUMMARY, **changes}
    return case_id_of(page_post(client, f"/cases/reviews/new?subject={subject_id}", "/cases/reviews/new", data))


def receive_petition_by_form(client, **changes) -> str:
    """Receive a petition (a denunciation by post, today) through /cases/petitions/new; the case id."""
    data = {"received_on": day_text(), "channel": "post", "petition_type": "denunciation",
            "petitioner_name": PETITIONER, "petitioner_address": "Phường Bắc Sơn", "petitioner_contact": "0912000000",
            "named_people": "Lê Văn Bị Phản Ánh", "summary": PETITION_SUMMARY, "classification": "unclassified",
            **changes}
    return case_id_of(page_post(client, "/cases/petitions/new", data=data))


def to_concluding(client, case_id: str) -> None:
    """Walk a new review to the conclusion stage through the case page."""
    for action in ("start_examination", "start_verification", "start_appraisal", "start_conclusion"):
        step(client, case_id, action)


def draft_and_submit(client, case_id: str, reasoning: str = REASONING) -> None:
    """Draft a no-issue conclusion and submit it for approval, through the pages."""
    response = page_post(client, f"/cases/{case_id}/conclusion", data={
        "outcome": "no_issue", "admission_eligible": "yes", "reasoning": reasoning})
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    response = case_action(client, case_id, "conclusion/submit")
    assert response.status_code == 302
