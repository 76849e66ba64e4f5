"""Printing approved conclusions (issue 7): the PDF read back with pypdf (Vietnamese text
intact, the classification marking at the top and bottom of every page, numbered copies),
copy numbers that run on across prints, the copy register and who may read it, refusals
that write nothing, a failed build that leaves no trace but a log line, and no protected
value in the PDF's metadata, its file name, the audit trail or the log.

Every request is made after any app context that touched the database is closed."""

from __future__ import annotations

import html
import io
import logging
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import date

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from audit.trail import detail_of
from cases.models import Case, Conclusion, PrintRecord
from cases.printing import operations as prints
from cases.printing import pdf as printing
from protection.db import db
from protection.i18n import local_date
from protection.identity import User
from tests.conftest import PASSWORD, audit_entries, logger_into_caplog
from tests.pages import (
    case_action,
    create_subject_by_form,
    draft_and_submit,
    field_errors,
    hidden,
    input_value,
    open_review_by_form,
    page_post,
    person,
    text_of,
    to_concluding,
)

NAME = "Nguyễn Thị Ngọc Ánh"
BIRTH = "17/08/1981"
UNIT = "Sở Giáo dục và Đào tạo tỉnh Lâm Sơn"
POSITION = "Phó Trưởng phòng Tổ chức cán bộ"
REASONING = ("Qua thẩm tra, xác minh lý lịch của đồng chí và người thân: chấp hành tốt đường lối của Đảng, "
             "chính sách, pháp luật của Nhà nước; không phát hiện vấn đề ảnh hưởng đến tiêu chuẩn chính trị. "
             "Ý kiến của Đảng ủy cơ sở thống nhất đề nghị.")
APPROVER = "Đặng Ưng Lãnh Đạo"
OUTCOME = "Không có vấn đề chính trị"
PROTECTED = (NAME, BIRTH, UNIT, POSITION, REASONING, "Nguyen", "Anh")
MM = 72 / 25.4  # PDF points per millimetre


@pytest.fixture(autouse=True)
def _rate_limit_out_of_the_way(app_config):
    app_config["HOSO_LOGIN_RATE_LIMIT"] = "1000 per minute"


@dataclass
class Approved:
    case: str
    conclusion: str
    document_number: str
    officer: object
    supervisor: object  # a signed-in client; .user is the account

    @property
    def form(self) -> str:
        return f"/cases/{self.case}/conclusions/{self.conclusion}/print"

    @property
    def register(self) -> str:
        return f"/cases/{self.case}/conclusions/{self.conclusion}/prints"


def _approve(app, officer_client, supervisor, subject_id: str, classification: str) -> tuple[str, str, str]:
    case_id = open_review_by_form(officer_client, subject_id, purpose="appointment", classification=classification)
    to_concluding(officer_client, case_id)
    response = page_post(officer_client, f"/cases/{case_id}/conclusion",
                                    data={"outcome": "no_issue", "reasoning": REASONING})
    assert response.status_code == 302
    assert case_action(officer_client, case_id, "conclusion/submit").status_code == 302
    response = page_post(supervisor, f"/cases/{case_id}/conclusion/approve", data={"secret": PASSWORD})
    assert response.status_code == 302
    with app.app_context():
        conclusion = db.session.scalars(select(Conclusion).where(Conclusion.case_id == uuid.UUID(case_id))).one()
        values = str(conclusion.id), conclusion.document_number
        db.session.commit()
    return case_id, *values


@pytest.fixture
def officer(client, make_user, sign_in):
    user = make_user("officer", display_name="Phạm Văn Thẩm Định")
    assert sign_in(user).status_code == 302
    return user


@pytest.fixture
def supervisor(app, make_user, sign_in):
    user = make_user("supervisor", display_name=APPROVER)
    other = app.test_client()
    assert sign_in(user, target=other).status_code == 302
    other.user = user
    return other


@pytest.fixture
def subject_id(client, officer):
    return create_subject_by_form(client, person(
        full_name=NAME, date_of_birth=BIRTH, current_unit=UNIT, position=POSITION, id_number="001181000777"))


def approved_case(app, client, officer, supervisor, subject_id, classification="confidential") -> Approved:
    case_id, conclusion_id, number = _approve(app, client, supervisor, subject_id, classification)
    return Approved(case_id, conclusion_id, number, officer, supervisor)


@pytest.fixture
def approved(app, client, officer, supervisor, subject_id) -> Approved:
    return approved_case(app, client, officer, supervisor, subject_id)


def print_copies(client, scene: Approved, copies: str | None):
    data = {} if copies is None else {"copies": copies}
    return page_post(client, scene.form, data=data)


def register_rows(app, conclusion_id: str) -> list[tuple[int, int, int, str]]:
    with app.app_context():
        rows = [(row.copies, row.first_number, row.last_number, row.classification.value)
                for row in db.session.scalars(select(PrintRecord).where(
                    PrintRecord.conclusion_id == uuid.UUID(conclusion_id)).order_by(PrintRecord.first_number))]
        db.session.commit()
    return rows


def print_details(app) -> list[dict]:
    return [detail_of(entry) for entry in audit_entries(app, "conclusion.print")]


# --- reading the PDF back ------------------------------------------------------------------

@dataclass
class Page:
    text: str
    top: str  # the text printed within 20 mm of the top edge
    bottom: str  # ... and of the bottom edge


def pages_of(data: bytes) -> list[Page]:
    pages = []
    for page in PdfReader(io.BytesIO(data)).pages:
        height = float(page.mediabox.height)
        fragments: list[tuple[float, str]] = []

        def visit(text, _cm, tm, _font, _size, into=fragments):
            if text.strip():
                into.append((tm[5], text))

        text = page.extract_text(visitor_text=visit)
        top = " ".join(text for y, text in fragments if y > height - 20 * MM)
        bottom = " ".join(text for y, text in fragments if y < 20 * MM)
        pages.append(Page(text, top, bottom))
    return pages


def copy_of(page: Page) -> str:
    match = re.search(r"Bản số (\d+/\d+)", page.top)
    assert match, page.top
    return match.group(1)


def check_value_on_case_page(client, case_id: str) -> str:
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    return re.search(r'<span class="font-monospace">([0-9A-F ]{19})</span>', page).group(1)


# --- the PDF -----------------------------------------------------------------------------------

def test_a_classified_print_reads_back_with_its_marking_on_every_page(app, client, approved):
    response = print_copies(client, approved, "3")
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == 'attachment; filename="1-KL-BTCTU.pdf"'
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert approved.document_number == "1-KL/BTCTU"

    pages = pages_of(response.data)
    assert len(pages) % 3 == 0
    per_copy = len(pages) // 3
    for index, page in enumerate(pages):
        assert "MẬT" in page.top and "MẬT" in page.bottom, (index, page.top, page.bottom)
        number = index // per_copy + 1
        assert copy_of(page) == f"{number}/3"
        assert f"Bản số {number}/3" in page.bottom
        assert f"Trang {index % per_copy + 1}/{per_copy}" in page.bottom
    firsts = [pages[copy * per_copy].text for copy in range(3)]
    assert firsts[0].replace("1/3", "k/3") == firsts[1].replace("2/3", "k/3") == firsts[2].replace("3/3", "k/3")
    text = " ".join(page.text.replace("\n", " ") for page in pages[:per_copy])
    for expected in ("BAN TỔ CHỨC TỈNH ỦY", "Số 1-KL/BTCTU", "KẾT LUẬN", "Về tiêu chuẩn chính trị",
                     f"Họ và tên: {NAME}", f"Ngày sinh: {BIRTH}", f"Đơn vị công tác: {UNIT}",
                     f"Chức vụ: {POSITION}", "Mục đích thẩm định: Bổ nhiệm", f"Kết luận: {OUTCOME}",
                     APPROVER, "(Đã ký số)", "Có giá trị đến:"):
        assert expected in text, expected
    assert " ".join(REASONING.split()) in " ".join(text.split())
    check = check_value_on_case_page(approved.supervisor, approved.case)
    assert f"Mã kiểm tra chữ ký số: {check}" in text

    # The metadata names the document only; the file name is the document number.
    metadata = PdfReader(io.BytesIO(response.data)).metadata
    assert metadata.title == "1-KL/BTCTU"
    for value in [*metadata.values(), response.headers["Content-Disposition"]]:
        assert not [secret for secret in PROTECTED if secret in str(value)], value
    assert b"Nguy" not in response.data  # the text is glyph ids in compressed streams, never plain

    assert register_rows(app, approved.conclusion) == [(3, 1, 3, "confidential")]
    assert print_details(app) == [{"conclusion": approved.conclusion, "copies": 3, "first": 1, "last": 3}]
    entry = audit_entries(app, "conclusion.print")[0]
    assert (entry.target_type, entry.target_id, entry.actor_id) == ("case", approved.case, approved.officer.id)


def test_numbers_run_on_across_prints_and_the_register_lists_every_print(app, client, approved):
    assert print_copies(client, approved, "3").status_code == 200
    second = print_copies(approved.supervisor, approved, "2")
    assert second.status_code == 200
    pages = pages_of(second.data)
    copies = [copy_of(page) for page in pages]
    assert copies[0] == "4/5" and copies[-1] == "5/5" and set(copies) == {"4/5", "5/5"}
    assert register_rows(app, approved.conclusion) == [(3, 1, 3, "confidential"), (2, 4, 5, "confidential")]
    assert [(d["first"], d["last"]) for d in print_details(app)] == [(1, 3), (4, 5)]

    views_before = len(audit_entries(app, "print_register.view"))
    page = html.unescape(approved.supervisor.get(approved.register).get_data(as_text=True))
    assert "Bản số 1–3" in page and "Bản số 4–5" in page
    assert "Phạm Văn Thẩm Định" in page and APPROVER in page and "đã cấp 5 bản" in page
    assert NAME not in page and REASONING not in page
    reads = audit_entries(app, "print_register.view")[views_before:]
    assert [(e.target_id, detail_of(e)["page"]) for e in reads] == [(approved.case, "register")]
    # The assigned officer reads it too (whoever may issue copies sees which were issued).
    assert client.get(approved.register).status_code == 200
    # The form says how many exist.
    form = html.unescape(client.get(approved.form).get_data(as_text=True))
    assert "Bản số 4–5" in form and re.search(r"Số bản đã cấp</dt><dd[^>]*>5<", form)


def test_the_case_page_links_print_and_register_on_the_approved_conclusion(client, approved):
    page = client.get(f"/cases/{approved.case}").get_data(as_text=True)
    assert f'href="{approved.form}"' in page and f'href="{approved.register}"' in page


def test_who_may_print_and_read_the_register(app, approved, make_user, make_unit, sign_in):
    def as_user(role, **kwargs):
        other = app.test_client()
        assert sign_in(make_user(role, **kwargs), target=other).status_code == 302
        return other

    make_unit("BTGTU", "Ban Tuyên giáo Tỉnh ủy", kind="propaganda")
    cases = {
        "unassigned officer": (as_user("officer"), 403),
        "liaison": (as_user("liaison"), 403),
        "auditor": (as_user("auditor"), 403),
        "admin": (as_user("admin"), 403),
        "other unit's supervisor": (as_user("supervisor", unit="BTGTU"), 404),
        "supervisor not cleared": (as_user("supervisor", clearance="unclassified"), 404),
    }
    for who, (other, status) in cases.items():
        denials = len(audit_entries(app, "access.denied"))
        for path in (approved.form, approved.register):
            response = other.get(path)
            assert response.status_code == status, (who, path, response.status_code)
            assert NAME not in response.get_data(as_text=True)
        response = print_copies(other, approved, "1") if status == 404 else other.post(approved.form,
                                                                                      data={"copies": "1"})
        assert response.status_code in (status, 400), (who, response.status_code)
        assert len(audit_entries(app, "access.denied")) > denials, who
    assert register_rows(app, approved.conclusion) == []
    assert print_details(app) == []


def test_only_an_approved_conclusion_of_this_case_prints(app, client, officer, supervisor, subject_id, approved):
    # A second review of the same subject, its conclusion only submitted.
    pending = open_review_by_form(client, subject_id, purpose="appointment")
    to_concluding(client, pending)
    draft_and_submit(client, pending)
    with app.app_context():
        submitted = db.session.scalars(select(Conclusion.id).where(Conclusion.case_id == uuid.UUID(pending))).one()
        db.session.commit()
    for path in (f"/cases/{pending}/conclusions/{submitted}/print",
                 f"/cases/{pending}/conclusions/{approved.conclusion}/print",  # another case's conclusion
                 f"/cases/{approved.case}/conclusions/{uuid.uuid4()}/print",
                 f"/cases/{pending}/conclusions/{submitted}/prints"):
        assert client.get(path).status_code == 404, path
        assert supervisor.get(path).status_code == 404, path
    response = client.post(f"/cases/{pending}/conclusions/{submitted}/print",
                           data={"copies": "1", "csrf_token": hidden(
                               client.get(approved.form).get_data(as_text=True), "csrf_token")})
    assert response.status_code == 404
    assert register_rows(app, str(submitted)) == [] and print_details(app) == []


# --- refusals write nothing ----------------------------------------------------------------------

def test_a_classified_print_needs_a_valid_copy_count(app, client, approved):
    for typed, message in ((None, "bắt buộc"), ("", "bắt buộc"), ("ba", "số nguyên"), ("0", "từ 1 đến 50"),
                           ("51", "từ 1 đến 50"), ("-2", "số nguyên"), ("2.5", "số nguyên")):
        response = print_copies(client, approved, typed)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
        page = response.get_data(as_text=True)
        assert message in (field_errors(page, "copies") or ""), (typed, page[:3000])
        if typed:
            assert input_value(page, "copies") == typed
    assert register_rows(app, approved.conclusion) == []
    assert print_details(app) == []


def test_a_double_submitted_form_prints_once(app, client, approved):
    page = client.get(approved.form).get_data(as_text=True)
    data = {"csrf_token": hidden(page, "csrf_token"), "form_token": hidden(page, "form_token"),
            "copies": "2"}
    assert client.post(approved.form, data=data).status_code == 200
    again = client.post(approved.form, data=data)
    assert again.status_code == 302 and again.headers["Location"] == approved.register
    assert "các bản số 1–2 đã được in" in html.unescape(client.get(approved.register).get_data(as_text=True))
    assert register_rows(app, approved.conclusion) == [(2, 1, 2, "confidential")]


@pytest.fixture
def cases_log(caplog):
    with logger_into_caplog(caplog, "cases") as captured:
        yield captured


def test_a_failed_build_registers_nothing_and_logs_only_the_reference(app, client, approved, monkeypatch,
                                                                       cases_log):
    def broken(document):
        raise RuntimeError(f"cannot lay out {document.people[0].full_name}")

    monkeypatch.setattr(printing, "build_pdf", broken)
    response = print_copies(client, approved, "2")
    assert response.status_code == 500
    page = html.unescape(response.get_data(as_text=True))
    assert "Không tạo được bản in" in page and NAME not in page
    reference = re.search(r"[0-9A-F]{8}", page.split("tham chiếu", 1)[-1]).group(0)
    assert register_rows(app, approved.conclusion) == [] and print_details(app) == []
    failures = [record for record in cases_log.records if record.levelno >= logging.ERROR]
    assert len(failures) == 1 and failures[0].request_id == reference
    assert "RuntimeError" in failures[0].getMessage()
    assert not [secret for secret in PROTECTED if secret in cases_log.text]

    monkeypatch.undo()  # the next print gets the first numbers: nothing was taken
    assert copy_of(pages_of(print_copies(client, approved, "1").data)[0]) == "1/1"


# --- unclassified ------------------------------------------------------------------------------

def test_an_unclassified_print_defaults_to_one_copy_and_carries_no_marking(app, client, officer, supervisor,
                                                                           subject_id):
    scene = approved_case(app, client, officer, supervisor, subject_id, classification="unclassified")
    form = client.get(scene.form).get_data(as_text=True)
    assert input_value(form, "copies") == "1"
    response = print_copies(client, scene, "")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/pdf"
    pages = pages_of(response.data)
    assert all("MẬT" not in page.text for page in pages)
    assert copy_of(pages[0]) == "1/1" and NAME in pages[0].text
    assert register_rows(app, scene.conclusion) == [(1, 1, 1, "unclassified")]


# --- the builder alone, and the database's backstop ------------------------------------------

def _document(**changes) -> printing.PrintableConclusion:
    values = dict(organisation="Ban Tổ chức Huyện ủy Sơn Hà", parent_organisation="Huyện ủy Sơn Hà",
                  document_number="7-KL/HUYEN", case_reference="DT-2026-000007", kind="petition",
                  marking="TUYỆT MẬT", purpose="Tố cáo, nhận ngày 02/03/2026", outcome=OUTCOME,
                  reasoning="\n".join([REASONING] * 12), approver=APPROVER, approved_on=date(2026, 3, 5),
                  check_value="ABCD 0123 4567 89EF", first_copy=2, last_copy=3, copies_issued=3,
                  people=(printing.Person(NAME, date(1981, 8, 17), UNIT, POSITION),
                          printing.Person("Lê Văn Được Nêu Tên")))
    return printing.PrintableConclusion(**{**values, **changes})


def test_the_builder_numbers_pages_within_each_copy(app):
    with app.app_context():
        pages = pages_of(printing.build_pdf(_document()))
    assert len(pages) >= 4 and len(pages) % 2 == 0
    per_copy = len(pages) // 2
    assert per_copy >= 2
    for index, page in enumerate(pages):
        assert "TUYỆT MẬT" in page.top and "TUYỆT MẬT" in page.bottom
        assert copy_of(page) == ("2/3" if index < per_copy else "3/3")
        assert f"Trang {index % per_copy + 1}/{per_copy}" in page.bottom
    assert "Về việc giải quyết đơn thư" in pages[0].text and "Lê Văn Được Nêu Tên" in pages[0].text
    with app.app_context(), pytest.raises(ValueError):
        printing.build_pdf(_document(first_copy=3, last_copy=2))


def test_a_copy_number_is_never_given_twice(app, approved, client):
    assert print_copies(client, approved, "2").status_code == 200
    with app.app_context():
        first = db.session.scalars(select(PrintRecord)).one()
        db.session.add(PrintRecord(conclusion_id=first.conclusion_id, case_id=first.case_id,
                                   printed_by_id=first.printed_by_id, classification=first.classification,
                                   copies=1, first_number=1, last_number=1))
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


def test_simultaneous_prints_get_distinct_numbers(app, approved):
    """Two prints at once: the second waits for the first (a row lock on PostgreSQL, the write
    lock on SQLite) and numbers on from where it ended."""
    barrier = threading.Barrier(2)
    given: list[tuple[int, int]] = []
    failures: list[BaseException] = []

    def print_two():
        try:
            barrier.wait()
            with app.app_context():
                user = db.session.get(User, approved.officer.id)
                case = db.session.get(Case, uuid.UUID(approved.case))
                conclusion = db.session.get(Conclusion, uuid.UUID(approved.conclusion))
                printed = prints.print_conclusion(user, case, conclusion, 2)
                given.append((printed.record.first_number, printed.record.last_number))
                db.session.commit()
        except BaseException as error:  # reported below, in the test's own thread
            failures.append(error)

    threads = [threading.Thread(target=print_two) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert sorted(given) == [(1, 2), (3, 4)]
    assert register_rows(app, approved.conclusion) == [(2, 1, 2, "confidential"), (2, 3, 4, "confidential")]
    assert sorted((d["first"], d["last"]) for d in print_details(app)) == [(1, 2), (3, 4)]


# --- a corrected conclusion --------------------------------------------------------------------

def correct(app, client, supervisor, scene: Approved) -> tuple[str, str]:
    """Reopen the case, draft, submit and approve version 2: (its id, its number)."""
    assert case_action(client, scene.case, "correction").status_code == 302
    response = page_post(client, f"/cases/{scene.case}/conclusion",
                                    data={"outcome": "no_issue", "reasoning": REASONING + " Đính chính."})
    assert response.status_code == 302
    assert case_action(client, scene.case, "conclusion/submit").status_code == 302
    response = page_post(supervisor, f"/cases/{scene.case}/conclusion/approve", data={"secret": PASSWORD})
    assert response.status_code == 302
    with app.app_context():
        latest = db.session.scalars(select(Conclusion).where(Conclusion.case_id == uuid.UUID(scene.case),
                                                             Conclusion.version_number == 2)).one()
        values = str(latest.id), latest.document_number
        db.session.commit()
    return values


def test_a_superseded_version_is_marked_everywhere_and_prints_no_more(app, client, supervisor, approved):
    assert print_copies(client, approved, "1").status_code == 200
    replacement, number = correct(app, client, supervisor, approved)
    page = text_of(client.get(f"/cases/{approved.case}"))
    first = page[page.index('id="conclusion-v1"'):]
    assert f"Đã bị thay thế bởi bản 2 (số {number})" in first
    assert f'href="/cases/{approved.case}#conclusion-v2"' in first
    # The signature still verifies: the version was validly signed, it is just no longer in force.
    assert "Chữ ký hợp lệ" in first and "Văn bản đã bị thay thế" in first
    assert f'href="{approved.form}"' not in page and f'href="{approved.register}"' in page
    assert f'href="/cases/{approved.case}/conclusions/{replacement}/print"' in page

    form_page = text_of(client.get(approved.form))
    assert "Kết luận đã bị thay thế." in form_page and 'name="copies"' not in form_page
    assert "Kết luận đã bị thay thế." in text_of(client.get(approved.register))
    assert "Đã bị thay thế bởi số" in text_of(client.get(f"/subjects/{approved_subject(app, approved)}"))

    token = hidden(client.get(f"/cases/{approved.case}").get_data(as_text=True), "csrf_token")
    refused = client.post(approved.form, data={"csrf_token": token, "copies": "2"})
    assert refused.status_code == 200 and refused.mimetype == "text/html"
    assert f"đã bị thay thế bởi bản 2 (số {number}) nên không in thêm" in text_of(refused)
    assert register_rows(app, approved.conclusion) == [(1, 1, 1, "confidential")]
    entries = audit_entries(app, "conclusion.print")
    assert entries[-1].outcome == "refused"
    assert detail_of(entries[-1]) == {"conclusion": approved.conclusion, "reason": "superseded",
                                      "superseded_by": replacement}
    # The version in force prints as before.
    assert print_copies(client, Approved(approved.case, replacement, number, None, None), "1").status_code == 200


def approved_subject(app, scene: Approved) -> str:
    with app.app_context():
        value = str(db.session.get(Case, uuid.UUID(scene.case)).subject_id)
        db.session.commit()
    return value


# --- the date line's place and the recipients ---------------------------------------------------

def test_the_print_carries_the_place_and_the_recipients_the_form_asked_for(app, client, approved):
    app.config["HOSO_DOCUMENT_PLACE"] = "Thanh Hóa"
    form_page = text_of(client.get(approved.form))
    with app.app_context():
        case = db.session.get(Case, uuid.UUID(approved.case))
        unit, reference = case.owner_unit.name, case.reference
        local = local_date(db.session.get(Conclusion, uuid.UUID(approved.conclusion)).approved_at)
        db.session.commit()
    # The form starts from the issuing unit and the archive.
    assert re.search(rf'<textarea[^>]*name="recipients"[^>]*>\s*{re.escape(unit)}\nLưu: Văn thư, hồ sơ {reference}</textarea>',
                     form_page), form_page[form_page.find("recipients") - 200:][:600]
    response = page_post(client, approved.form, data={
        "copies": "1", "recipients": "Như trên\n- Ban Thường vụ Tỉnh ủy (để báo cáo);\n\nLưu: VT, hồ sơ."})
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = " ".join(" ".join(page.text.split()) for page in pages_of(response.data))
    assert f"Thanh Hóa, ngày {local.day:02d} tháng {local.month:02d} năm {local.year}" in text
    assert "Nơi nhận: - Như trên; - Ban Thường vụ Tỉnh ủy (để báo cáo); - Lưu: VT, hồ sơ." in text
    # What was printed to whom is not kept: the audit entry counts the copies only.
    assert "Thanh Hóa" not in str(print_details(app)) and "Thường vụ" not in str(print_details(app))


def test_without_a_place_the_date_line_leaves_it_to_be_filled_in(app):
    with app.app_context():
        text = " ".join(page.text for page in pages_of(printing.build_pdf(_document(recipients=("Như trên",)))))
    assert "…………, ngày 05 tháng 03 năm 2026" in " ".join(text.split())
    assert "Nơi nhận:" in text and "- Như trên." in text


def test_too_many_recipients_are_refused_beside_the_field(app, client, approved):
    response = page_post(client, approved.form, data={
        "copies": "1", "recipients": "\n".join(f"Nơi {number}" for number in range(20))})
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "tối đa 12 dòng" in field_errors(response.get_data(as_text=True), "recipients")
    assert "Nơi 19" in text_of(response)  # the input is kept
    assert register_rows(app, approved.conclusion) == []
