"""The summary of a campaign for the standing committee (issue 20 §A6): a PDF of numbered
copies carrying the classification marking, with a copy register whose numbers run on per
campaign, and an XLSX whose text never becomes a formula. Each nominee is listed with their
conclusion's number, date and approved outcome; one without is "Chưa có kết luận", never
guessed. Printing and downloading are audited (counts, never a name) before the file is sent."""

from __future__ import annotations

import io
import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import openpyxl
import pytest
from pypdf import PdfReader

from cases.campaigns import exports
from cases.campaigns import operations as campaigns
from cases.campaigns.operations import CampaignData, SummaryLine
from cases.models import Campaign, CampaignPrintRecord
from protection.accounts import find_unit
from protection.db import db
from tests.conftest import MadeUser, audit_entries
from tests.factories import (
    approve_conclusion,
    count_rows,
    make_subject,
    open_review,
    submit_conclusion,
    to_conclusion,
    user_row,
)
from tests.pages import csrf_token, org_today, page_post, text_of

TITLE = "Nhân sự Ban Chấp hành Đảng bộ tỉnh khóa mới"
CONCLUDED = "Nguyễn Thị Đã Kết Luận"
WAITING = "=HYPERLINK(\"http://x.invalid\",\"Trần Văn Chưa Xong\")"  # a name that looks like a formula
IDS = ("038079000201", "038079000202")


@pytest.fixture(autouse=True)
def _rate_limit_out_of_the_way(app_config):
    app_config["HOSO_LOGIN_RATE_LIMIT"] = "1000 per minute"


@dataclass
class Scene:
    supervisor: MadeUser
    officer: MadeUser
    campaign_id: str
    document_number: str


@pytest.fixture
def scene(app, make_unit, make_user) -> Scene:
    make_unit("BTCTU", "Ban Tổ chức Tỉnh ủy")
    supervisor = make_user("supervisor", unit="BTCTU", clearance="top_secret")
    officer = make_user("officer", unit="BTCTU", clearance="secret")
    with app.app_context():
        boss, worker = user_row(supervisor), user_row(officer)
        concluded = make_subject(worker, CONCLUDED, date(1972, 3, 4), IDS[0])
        waiting = make_subject(worker, WAITING, date(1981, 5, 6), IDS[1])
        case = to_conclusion(open_review(worker, concluded), by=worker)
        submit_conclusion(case, by=worker, outcome="no_issue")
        conclusion = approve_conclusion(case, by=boss)
        campaign = campaigns.create_campaign(CampaignData(
            "congress", TITLE, find_unit("BTCTU").id, org_today() + timedelta(days=30), "confidential"), by=boss)
        campaigns.add_nominees_from_dossiers(campaign, [concluded.id, waiting.id], by=boss)
        nominees = campaigns.board(campaign, boss, campaigns.BoardFilters()).rows
        reusable = [row.nominee.id for row in nominees if row.reusable is not None]
        assert campaigns.reuse_conclusions(campaign, reusable, by=boss) == 1
        made = Scene(supervisor, officer, str(campaign.id), conclusion.document_number)
        db.session.commit()
    return made


@pytest.fixture
def supervisor_client(app, scene, sign_in):
    client = app.test_client()
    assert sign_in(scene.supervisor, target=client).status_code == 302
    return client


def print_copies(client, campaign_id: str, copies: str):
    return page_post(client, f"/campaigns/{campaign_id}/print", data={"copies": copies})


def pdf_pages(body: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(body)).pages]


def test_the_printed_summary_carries_the_marking_copy_numbers_and_never_guesses(app, scene, supervisor_client):
    response = print_copies(supervisor_client, scene.campaign_id, "2")
    assert response.status_code == 200, text_of(response)[:3000]
    assert response.mimetype == "application/pdf" and response.headers["Cache-Control"] == "no-store"
    assert re.match(r'attachment; filename="DTD-[0-9-]+-tong-hop\.pdf"', response.headers["Content-Disposition"])
    pages = pdf_pages(response.data)
    assert len(pages) == 2  # one page a copy
    for number, text in enumerate(pages, start=1):
        assert text.count("MẬT") >= 2, text  # top and bottom
        assert f"Bản số {number}/2" in text
        assert CONCLUDED in text and scene.document_number in text
        assert "Không có vấn đề chính trị" in text
        assert "Chưa có kết luận" in text
        assert "Trần Văn Chưa Xong" in text
    metadata = PdfReader(io.BytesIO(response.data)).metadata
    assert CONCLUDED not in str(metadata) and TITLE not in str(metadata)

    # Numbers run on: a later print of one copy is copy 3 of 3.
    again = print_copies(supervisor_client, scene.campaign_id, "1")
    assert "Bản số 3/3" in pdf_pages(again.data)[0]
    register = text_of(supervisor_client.get(f"/campaigns/{scene.campaign_id}/prints"))
    assert "Bản số 1–2" in register and "Bản số 3–3" in register
    assert count_rows(app, CampaignPrintRecord) == 2
    entries = [json.loads(entry.detail) for entry in audit_entries(app, "campaign.print")]
    assert [(entry["first"], entry["last"], entry["copies"]) for entry in entries] == [(1, 2, 2), (3, 3, 1)]
    for entry in audit_entries(app, "campaign."):
        assert CONCLUDED not in entry.detail and TITLE not in entry.detail and IDS[0] not in entry.detail


@pytest.mark.parametrize("copies", ["", "0", "51", "hai", "٣"])
def test_a_print_without_a_sensible_number_of_copies_is_refused_beside_it(app, scene, supervisor_client, copies):
    response = print_copies(supervisor_client, scene.campaign_id, copies)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert 'id="copies-errors"' in response.get_data(as_text=True)
    assert count_rows(app, CampaignPrintRecord) == 0


def test_a_double_submitted_print_issues_its_copies_once(app, scene, supervisor_client):
    path = f"/campaigns/{scene.campaign_id}/print"
    page = supervisor_client.get(path).get_data(as_text=True)
    data = {name: re.search(rf'name="{name}"[^>]*value="([^"]+)"', page).group(1)
            for name in ("csrf_token", "form_token")}
    first = supervisor_client.post(path, data={**data, "copies": "2"})
    second = supervisor_client.post(path, data={**data, "copies": "2"})
    assert first.mimetype == "application/pdf"
    assert second.status_code == 302 and second.headers["Location"].endswith("/prints")
    assert count_rows(app, CampaignPrintRecord) == 1


def test_the_xlsx_lists_every_nominee_and_keeps_text_as_text(app, scene, supervisor_client):
    response = supervisor_client.get(f"/campaigns/{scene.campaign_id}/summary.xlsx")
    assert response.status_code == 200
    assert response.mimetype == exports.XLSX_TYPE
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][0] == "MẬT"
    header = next(number for number, row in enumerate(rows) if row[0] == "STT")
    lines = rows[header + 1:]
    assert len(lines) == 2
    by_name = {line[1]: line for line in lines}
    assert by_name[CONCLUDED][6] == scene.document_number
    assert by_name[CONCLUDED][8] == "Không có vấn đề chính trị"
    assert by_name["'" + WAITING][8] == "Chưa có kết luận"  # the apostrophe keeps the formula text
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    (entry,) = audit_entries(app, "campaign.export")
    assert json.loads(entry.detail)["format"] == "xlsx" and CONCLUDED not in entry.detail


def test_an_officer_may_neither_print_nor_download_the_summary(app, scene, sign_in):
    client = app.test_client()
    assert sign_in(scene.officer, target=client).status_code == 302
    assert client.get(f"/campaigns/{scene.campaign_id}/print").status_code == 403
    assert client.post(f"/campaigns/{scene.campaign_id}/print", data={
        "csrf_token": csrf_token(client, "/campaigns/"), "copies": "1"}).status_code == 403
    assert client.get(f"/campaigns/{scene.campaign_id}/summary.xlsx").status_code == 403
    assert count_rows(app, CampaignPrintRecord) == 0


# --- the files as pure functions ----------------------------------------------------------------------

def line(number: int, name: str, *, outcome: str | None) -> SummaryLine:
    return SummaryLine(number=number, full_name=name, date_of_birth=date(1980, 1, 1 + number % 28), unit="Sở Nội vụ",
                       position="Giám đốc", case_reference=f"BVCT-2026-{number:06d}" if outcome else None,
                       conclusion_number=f"{number}-KL/BTCTU" if outcome else None,
                       conclusion_date=date(2026, 11, 1 + number % 28) if outcome else None, outcome=outcome,
                       valid_until=date(2027, 5, 1 + number % 28) if outcome else None, reused=False)


def test_a_long_list_runs_over_pages_with_the_marking_and_copy_number_on_each(app):
    lines = tuple(line(number, f"Người Thứ {number}", outcome="no_issue" if number % 2 else None)
                  for number in range(1, 121))
    document = exports.SummaryDocument(
        organisation="Ban Tổ chức Tỉnh ủy", parent_organisation="Tỉnh ủy Thanh Hóa", reference="DTD-2026-0001",
        title=TITLE, purpose="Nhân sự đại hội", due_on=date(2026, 12, 31), marking="TỐI MẬT",
        made_on=date(2026, 12, 6), lines=lines, first_copy=4, last_copy=5, copies_issued=5)
    with app.test_request_context():
        pages = pdf_pages(exports.build_summary_pdf(document))
    per_copy = len(pages) // 2
    assert per_copy > 1 and len(pages) == 2 * per_copy
    for index, text in enumerate(pages):
        assert text.count("TỐI MẬT") >= 2
        assert f"Bản số {4 + index // per_copy}/5" in text
        assert f"Trang {index % per_copy + 1}/{per_copy}" in text
    assert sum(text.count("Chưa có kết luận") for text in pages[:per_copy]) == 60


def test_the_xlsx_writer_alone_quotes_formula_text(app, scene):
    with app.app_context():
        campaign = db.session.get(Campaign, uuid.UUID(scene.campaign_id))
        body = exports.summary_xlsx(campaign, [line(1, "@SUM(A1:A9)", outcome=None), line(2, "-2+3", outcome="no_issue")])
        db.session.commit()
    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
    names = [row[1].value for row in sheet.iter_rows() if isinstance(row[0].value, int)]
    assert names == ["'@SUM(A1:A9)", "'-2+3"]
