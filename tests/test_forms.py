"""Forms people fill in every day (issue 17), through the real app: dates in the browser's
date input and still typed dd/mm/yyyy, every error at once in a summary that links to its
field, the home page saying whose each case is (and recording that read), kinds and steps
with distinct names, a relative's relation chosen rather than preset, a petition sent twice
(Back, then submit) received once, a deadline extension's reason kept sealed and shown in
the case's history, and the report's period shortcuts."""

from __future__ import annotations

import html
import re
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select, text

from audit.trail import detail_of
from cases import labels
from cases.models import Case, DeadlineExtension, Subject
from cases.reports import report as reports
from protection.db import db
from protection.i18n import local_today
from tests import factories, pages
from tests.conftest import audit_entries, post_form
from tests.pages import field_errors, hidden, text_of

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
EXTENSION_REASON = "Chờ kết quả xác minh của Công an huyện về ông Lê Văn Bị Phản Ánh"


@pytest.fixture(autouse=True)
def _rate_limit_out_of_the_way(app_config):
    app_config["HOSO_LOGIN_RATE_LIMIT"] = "1000 per minute"


@pytest.fixture
def officer(client, make_user, sign_in):
    user = make_user("officer", display_name="Phạm Văn Biểu Mẫu", clearance="top_secret")
    assert sign_in(user).status_code == 302
    return user


def input_tag(page: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
    assert match, f"no input {name}"
    return match.group(0)


def summary_of(page: str) -> str | None:
    match = re.search(r'<div class="alert alert-danger" role="alert"[^>]*data-error-summary[^>]*>(.*?)</div>', page, re.S)
    return match.group(1) if match else None


# --- 1. dates -----------------------------------------------------------------------------------

def test_date_fields_are_date_inputs_that_read_iso_and_typed_dates(app, client, officer):
    form = client.get("/subjects/new").get_data(as_text=True)
    for name in ("date_of_birth", "party_admission_date", "party_official_date"):
        assert 'type="date"' in input_tag(form, name), name

    # What the date input submits (yyyy-mm-dd), and what a person types (dd/mm/yyyy).
    subject_id = pages.create_subject_by_form(client, {**pages.AN, "date_of_birth": "1980-02-01",
                                                "party_admission_date": "19/05/2004",
                                                "party_official_date": "2005-05-19"})
    with app.app_context():
        subject = db.session.get(Subject, uuid.UUID(subject_id))
        assert (subject.date_of_birth, subject.party_admission_date, subject.party_official_date) == \
            (date(1980, 2, 1), date(2004, 5, 19), date(2005, 5, 19))
        db.session.commit()
    # Shown again in the edit form as the date input reads it; the browser shows 01/02/1980.
    edit = client.get(f"/subjects/{subject_id}/edit").get_data(as_text=True)
    assert 'value="1980-02-01"' in input_tag(edit, "date_of_birth")
    assert 'type="date"' in input_tag(edit, "date_of_birth")


def test_a_date_that_is_not_one_comes_back_as_typed_beside_its_error(app, client, officer):
    response = post_form(client, "/subjects/new", {**pages.AN, "id_number": "001080000009",
                                                   "date_of_birth": "31/02/1980", "party_official_date": "2003-01-01"},
                         token_from="/subjects/new")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    # A date input would show "31/02/1980" blank: a text box keeps it, with its error beside it.
    tag = input_tag(page, "date_of_birth")
    assert 'type="text"' in tag and 'value="31/02/1980"' in tag
    assert "Ngày không hợp lệ" in field_errors(page, "date_of_birth")
    # Cross-field check on two readable dates, in the same answer.
    assert "sau ngày vào Đảng" in field_errors(page, "party_official_date")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Subject)) == 0
        db.session.commit()


# --- 2. every error at once, summarised at the top -----------------------------------------------

def test_every_error_of_a_form_is_listed_at_the_top_with_links_to_its_fields(app, client, officer):
    response = pages.page_post(client, "/cases/petitions/new", data={
        "received_on": (pages.org_today() + timedelta(days=3)).isoformat(), "channel": "", "petition_type": "complaint",
        "summary": "", "classification": "unclassified"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    summary = summary_of(page)
    assert summary is not None and 'tabindex="-1"' in page and "autofocus" in page
    links = dict(re.findall(r'<a class="alert-link" href="#([\w-]+)">([^<]*)</a>', summary))
    # Field checks and the checks across fields (a name unless unsigned; whom it concerns;
    # not received in the future) all in one pass.
    assert set(links) == {"received_on", "channel", "summary", "petitioner_name", "named_people"}
    for field_id in links:
        assert re.search(rf'<(input|select|textarea)[^>]* id="{field_id}"', page), field_id
        assert field_errors(page, field_id), field_id
    assert "5 chỗ cần sửa" in html.unescape(summary)
    # The input is kept.
    assert re.search(r'<option selected value="complaint">|<option value="complaint" selected>', page)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Case)) == 0
        db.session.commit()


def test_a_radio_groups_link_goes_to_its_first_option(app, client, officer):
    case_id = pages.receive_petition_by_form(client)
    response = pages.page_post(client, f"/cases/{case_id}/decision", data={"action": "forward", "note": ""})
    page = response.get_data(as_text=True)
    summary = summary_of(page)
    hrefs = re.findall(r'href="#([\w-]+)"', summary)
    assert hrefs == ["forwarded_to", "note"]
    page = pages.page_post(client, f"/cases/{case_id}/decision", data={"note": "x"}).get_data(as_text=True)
    assert re.findall(r'href="#([\w-]+)"', summary_of(page)) == ["action-0"] and 'id="action-0"' in page


def test_every_template_form_with_fields_has_the_error_summary():
    missing = []
    for path in TEMPLATES.rglob("*.html"):
        source = path.read_text(encoding="utf-8")
        for block in re.findall(r"<form\b.*?</form>", source, re.S):
            if "render_field(" in block and "error_summary(" not in block:
                missing.append(str(path.relative_to(TEMPLATES)))
    assert missing == []
    assert "error_summary(form)" in (TEMPLATES / "_forms.html").read_text(encoding="utf-8")  # render_form's


# --- 3. the home page says whose case it is -----------------------------------------------------

def test_home_shows_whose_case_it_is_and_records_the_read(app, client, officer):
    subject_id = pages.create_subject_by_form(client)
    pages.open_review_by_form(client, subject_id)
    pages.receive_petition_by_form(client, title="")  # untitled: type and the person it concerns
    before = len(audit_entries(app, "case.list"))
    page = text_of(client.get("/"))
    about = re.findall(r"data-about>([^<]*)</div>", page)
    assert "Nguyễn Văn An · Kết nạp Đảng" in about
    assert "Tố cáo · Lê Văn Bị Phản Ánh" in about
    assert pages.PETITIONER not in page
    entries = audit_entries(app, "case.list")
    assert len(entries) == before + 1
    detail = detail_of(entries[-1])
    assert detail["view"] == "home" and detail["readable"] == 2
    assert "Nguyễn Văn An" not in str(detail)


# --- 4. a kind is not named like a step ----------------------------------------------------------

@pytest.mark.parametrize("locale", ["vi", "en"])
def test_kinds_and_steps_have_distinct_labels(app, locale):
    with app.test_request_context(), force_locale(locale):
        kinds = {str(label) for label in labels.KINDS_SHORT.values()} | {str(label) for label in labels.KINDS.values()}
        states = {str(label) for label in labels.CASE_STATES.values()}
        assert kinds.isdisjoint(states), kinds & states


# --- 5. smaller ones ------------------------------------------------------------------------------

def test_the_relation_starts_blank_and_must_be_chosen(app, client, officer):
    subject_id = pages.create_subject_by_form(client)
    form = client.get(f"/subjects/{subject_id}/relatives/new").get_data(as_text=True)
    select_ = re.search(r'<select[^>]*name="relation"[^>]*>(.*?)</select>', form, re.S).group(1)
    first = re.search(r'<option[^>]*value="([^"]*)"', select_)
    assert first.group(1) == "" and "selected" not in select_
    response = post_form(client, f"/subjects/{subject_id}/relatives/new",
                         {**pages.FATHER, "relation": ""}, token_from=f"/subjects/{subject_id}/relatives/new")
    assert response.status_code == 200 and field_errors(response.get_data(as_text=True), "relation")


@pytest.mark.usefixtures("around_vietnam_midnight")
def test_back_and_submit_again_receives_the_petition_once(app, client, officer):
    first_visit = client.get("/cases/petitions/new")
    assert first_visit.status_code == 302
    address = first_visit.headers["Location"]  # the form's token is in the address
    assert re.fullmatch(r"/cases/petitions/new\?form=[\w-]{16,64}", address)
    page = client.get(address).get_data(as_text=True)
    token = hidden(page, "form_token")
    assert address.endswith(token)
    data = {"csrf_token": hidden(page, "csrf_token"), "form_token": token,
            "received_on": pages.org_today().isoformat(), "channel": "post", "petition_type": "reflection",
            "petitioner_name": "Người Gửi Hai Lần", "named_people": "Lê Văn C",
            "summary": pages.PETITION_SUMMARY, "classification": "unclassified"}
    first = pages.case_id_of(client.post(address, data=data))

    # Back: the browser fetches the page again (it is never cached), at the same address.
    again = client.get(address).get_data(as_text=True)
    assert hidden(again, "form_token") == token
    reference = factories.stored_case(app, first)["reference"]
    assert f"đơn {reference} đã được tiếp nhận" in html.unescape(again)
    data["csrf_token"] = hidden(again, "csrf_token")
    second = client.post(address, data=data)
    assert pages.case_id_of(second) == first
    message = text_of(client.get(second.headers["Location"]))
    assert f"hồ sơ {reference} đã được tạo từ lần gửi trước, không tạo thêm hồ sơ trùng" in message
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Case)) == 1
        db.session.commit()
    # A new petition: a new address, a new token.
    assert client.get("/cases/petitions/new").headers["Location"] != address


@pytest.mark.usefixtures("around_vietnam_midnight")
def test_an_extension_keeps_its_reason_sealed_and_shows_it_in_the_history(app, client, officer):
    case_id = pages.receive_petition_by_form(client)
    assert pages.page_post(client, f"/cases/{case_id}/decision",
                                data={"action": "accept", "note": "Đủ điều kiện thụ lý"}).status_code == 302
    due_before = factories.stored_case(app, case_id)["due_on"]
    response = pages.case_action(client, case_id, "extend", {"note": ""})
    assert response.status_code == 200 and field_errors(text_of(response), "note")
    assert pages.case_action(client, case_id, "extend", {"note": EXTENSION_REASON}).status_code == 302
    due_after = factories.stored_case(app, case_id)["due_on"]

    page = text_of(client.get(f"/cases/{case_id}"))
    history = page[page.index('id="timeline"'):]
    assert "Gia hạn giải quyết" in history
    assert f"Lần 1: hạn từ {due_before:%d/%m/%Y} đến {due_after:%d/%m/%Y}." in history
    assert EXTENSION_REASON in history

    with app.app_context():
        row = db.session.scalars(select(DeadlineExtension)).one()
        assert (row.number, row.due_before, row.due_after, row.reason) == (1, due_before, due_after, EXTENSION_REASON)
        case = db.session.get(Case, uuid.UUID(case_id))
        assert row.data_key_id == case.data_key_id  # shredded with the case
        raw = db.session.execute(text("SELECT reason FROM case_extensions")).scalar_one()
        assert EXTENSION_REASON.encode() not in bytes(raw)
        db.session.commit()
    assert "Lê Văn Bị Phản Ánh" not in str([detail_of(entry) for entry in audit_entries(app)])


def test_report_period_shortcuts():
    shortcuts = {item.key: (item.period.start, item.period.end) for item in reports.period_shortcuts(date(2026, 5, 20))}
    assert shortcuts == {
        "quarter": (date(2026, 4, 1), date(2026, 5, 20)),
        "last_quarter": (date(2026, 1, 1), date(2026, 3, 31)),
        "six_months": (date(2025, 12, 1), date(2026, 5, 20)),
        "year": (date(2026, 1, 1), date(2026, 5, 20)),
        "last_year": (date(2025, 1, 1), date(2025, 12, 31)),
    }
    january = {item.key: (item.period.start, item.period.end) for item in reports.period_shortcuts(date(2026, 1, 15))}
    assert january["last_quarter"] == (date(2025, 10, 1), date(2025, 12, 31))
    assert january["six_months"] == (date(2025, 8, 1), date(2026, 1, 15))


@pytest.mark.usefixtures("around_vietnam_midnight")
def test_the_report_page_offers_the_shortcuts_as_links(app, make_user, sign_in, make_unit):
    supervisor = make_user("supervisor")
    client = app.test_client()
    assert sign_in(supervisor, target=client).status_code == 302
    page = client.get("/reports/").get_data(as_text=True)
    links = dict(re.findall(r'data-period="(\w+)"\s+href="([^"]+)"', page))
    assert set(links) == {"quarter", "last_quarter", "six_months", "year", "last_year"}
    followed = client.get(html.unescape(links["last_year"]))
    assert followed.status_code == 200
    body = followed.get_data(as_text=True)
    with app.app_context():
        last_year = local_today().year - 1  # the organisation's calendar year, as the page's
    assert f'value="{last_year}-01-01"' in input_tag(body, "start")
    assert f'value="{last_year}-12-31"' in input_tag(body, "end")
    assert f"từ 01/01/{last_year} đến 31/12/{last_year}" in html.unescape(body)
    assert re.search(r'aria-current="true"', body)
