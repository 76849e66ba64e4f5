"""Ergonomics across the pages, through the real app: every list sorts (by plain columns,
from a whitelist) and pages the same way, odd sort and page values never crash, empty lists
say what to do next, classified pages carry their marking top and bottom, due dates read
"còn 3 ngày" / "hôm nay" / "trễ 5 ngày", every irreversible button asks first, and every
control has a label.

Every request is made after any app context that touched the database is closed."""

from __future__ import annotations

import html
import re
import uuid
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from flask_babel import force_locale
from sqlalchemy import select, update

from cases import deadlines
from cases.casework import operations
from cases.models import Case
from cases.reviews import operations as reviews
from cases.reviews.operations import ReviewData
from protection.db import db
from protection.demo import DEMO_PASSWORD
from protection.identity import User
from tests.conftest import MadeUser
from tests.pages import create_subject_by_form

ROW_REFERENCE = re.compile(r"<tr>\s*<td class=\"text-nowrap\">\s*(?:<a [^>]*>)?([A-Z]+-[0-9A-Z/.-]+)")
MARKING = re.compile(r'<div class="hoso-marking hoso-marking-(\w+)" role="note" data-marking="(top|bottom)"')


@pytest.fixture(autouse=True)
def _rate_limit_out_of_the_way(app_config):
    app_config["HOSO_LOGIN_RATE_LIMIT"] = "1000 per minute"


# --- helpers --------------------------------------------------------------------------------

def page_text(response) -> str:
    assert response.status_code == 200, (response.status_code, response.get_data(as_text=True)[:2000])
    return response.get_data(as_text=True)


def references(page: str) -> list[str]:
    """The case references of a case list's rows, top to bottom."""
    body = page[page.index("<tbody>"):page.index("</tbody>")]
    return ROW_REFERENCE.findall(body)


def markings(page: str) -> list[tuple[str, str]]:
    return MARKING.findall(page)


@pytest.fixture
def officer(app, client, make_user, sign_in) -> MadeUser:
    user = make_user("officer", display_name="Phạm Văn Sắp Xếp", clearance="top_secret")
    assert sign_in(user).status_code == 302
    return user


@pytest.fixture
def subject_id(client, officer) -> str:
    return create_subject_by_form(client)


def open_cases(app, officer: MadeUser, subject_id: str, specs: list[tuple[str, int]]) -> list[str]:
    """Reviews assigned to `officer`, one per (classification, due in N days); their
    references in the order given."""
    made = []
    with app.app_context():
        user = db.session.get(User, officer.id)
        today = operations.today()
        for classification, due_in in specs:
            case = reviews.open_review(ReviewData(
                subject_id=uuid.UUID(subject_id), purpose="other", classification=classification,
                title=f"Hồ sơ hạn {due_in}", due_on=today + timedelta(days=max(due_in, 0))), by=user)
            made.append(case.id)
        db.session.commit()
        # A due date in the past, as time passing leaves it (the form refuses one).
        for case_id, (_classification, due_in) in zip(made, specs, strict=True):
            db.session.execute(update(Case).where(Case.id == case_id).values(due_on=today + timedelta(days=due_in))
                               .execution_options(synchronize_session=False))
        db.session.commit()
        refs = [db.session.get(Case, case_id).reference for case_id in made]
        db.session.commit()
    return refs


def case_id_of(app, reference: str) -> uuid.UUID:
    with app.app_context():
        case_id = db.session.scalar(select(Case.id).where(Case.reference == reference))
        db.session.commit()
    return case_id


# --- sorting and paging ---------------------------------------------------------------------

def test_sorting_changes_the_order_of_the_case_list(app, client, officer, subject_id):
    refs = open_cases(app, officer, subject_id, [("unclassified", 9), ("secret", -5), ("confidential", 3),
                                                  ("unclassified", 0)])
    by_due = [refs[1], refs[3], refs[2], refs[0]]

    default = page_text(client.get("/cases/?view=mine"))
    assert references(default) == by_due, "by due date, the most urgent first, by default"
    assert 'aria-sort="ascending"' in default

    assert references(page_text(client.get("/cases/?view=mine&sort=due&dir=desc"))) == by_due[::-1]
    assert references(page_text(client.get("/cases/?view=mine&sort=reference&dir=asc"))) == sorted(refs)
    descending = page_text(client.get("/cases/?view=mine&sort=reference&dir=desc"))
    assert references(descending) == sorted(refs, reverse=True)
    assert re.search(r'<th scope="col" aria-sort="descending">\s*<a [^>]*>Số hiệu', descending)
    # The other columns' links sort by them, from the first page, keeping the tab.
    assert 'href="/cases/?view=mine&amp;sort=opened&amp;dir=desc"' in descending
    # The title is sealed: no link sorts by it.
    assert "sort=title" not in descending


@pytest.mark.parametrize("query", ["sort=title", "sort=../etc&dir=up", "sort=due&dir=sideways", "page=abc",
                                   "page=2.5", "page=", "page=%EF%BC%92", "sort=", "dir=desc", "page=999"])
def test_odd_sort_and_page_values_fall_back_to_the_default(app, client, officer, subject_id, query):
    refs = open_cases(app, officer, subject_id, [("unclassified", 4), ("unclassified", 1)])
    response = client.get(f"/cases/?view=mine&{query}")
    assert references(page_text(response)) == [refs[1], refs[0]]


LISTS = {
    "officer": ["/cases/?view=mine", "/cases/?view=unit", "/subjects/?q=Nguy%E1%BB%85n"],
    "supervisor": ["/cases/?view=unit", "/cases/?view=approval"],
    "liaison": ["/requests/"],
    "auditor": ["/audit/", "/access/break-glass", "/access/break-glass?show=all", "/access/identity-releases",
                "/access/identity-releases?show=all"],
    "admin": ["/admin/users", "/admin/units"],
}


@pytest.fixture
def demo(app, runner):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output


def demo_client(app, sign_in, username: str):
    """A client signed in as a demo account, second factor included."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        made = MadeUser(user.id, user.username, DEMO_PASSWORD, user.role.value, user.unit.code, user.totp_secret)
        db.session.commit()
    browser = app.test_client()
    assert sign_in(made, target=browser).status_code == 302
    return browser


DEMO_ACCOUNTS = {"officer": "canbo.an", "supervisor": "lanhdao.minh", "liaison": "phoihop.congan",
                 "liaison (UBKT)": "phoihop.ubkt", "auditor": "kiemtra.ha", "admin": "quantri"}


@pytest.fixture
def clients(app, demo, sign_in) -> dict:
    return {role: demo_client(app, sign_in, username) for role, username in DEMO_ACCOUNTS.items()}


def test_bad_sort_and_page_values_never_crash_any_list(clients):
    # A NUL character is refused before any view (protection/errors.py): PostgreSQL text cannot hold one.
    odd = {"sort=nonsense&dir=sideways": 200, "sort=%00&dir=%00": 400, "page=abc": 200, "page=": 200,
           "page=99999": 200, "page=0": 400, "page=-3": 400, "page=99999999999999999999": 400}
    for role, paths in LISTS.items():
        for path in paths:
            for query, status in odd.items():
                joiner = "&" if "?" in path else "?"
                response = clients[role].get(f"{path}{joiner}{query}")
                assert response.status_code == status, (role, path, query, response.status_code)
                if status == 400:
                    page = response.get_data(as_text=True)
                    assert 'class="navbar' in page and "Traceback" not in page, "the 400 page is in the layout"


def test_every_list_offers_sortable_headers(clients):
    for role, paths in LISTS.items():
        for path in paths:
            page = page_text(clients[role].get(path))
            if "<tbody>" not in page:
                continue  # an empty list: nothing to sort
            assert re.search(r'<th scope="col" aria-sort="(ascending|descending)">', page), (role, path)
            links = re.findall(r'<a class="hoso-sort[^"]*" href="([^"]+)"', page)
            assert links, (role, path)
            for link in links:  # every order each list offers works, both ways
                for direction in ("asc", "desc"):
                    target = re.sub(r"dir=\w+", f"dir={direction}", html.unescape(link))
                    assert clients[role].get(target).status_code == 200, (role, target)


def test_the_pager_appears_past_one_page(clients):
    auditor = clients["auditor"]
    first = page_text(auditor.get("/audit/"))
    total = int(re.search(r"(\d+) bản ghi", first).group(1))
    assert total > 50, "the demo leaves more than a page of audit entries"
    pages = -(-total // 50)
    assert '<nav aria-label="Phân trang"' in first and f"Trang 1/{pages}" in first
    assert 'rel="next" href="/audit/?page=2"' in first and 'rel="prev"' not in first
    second = page_text(auditor.get("/audit/?page=2&sort=seq&dir=asc"))
    assert f"Trang 2/{pages}" in second and 'rel="prev"' in second
    seqs = [int(seq) for seq in re.findall(r"<tr>\s*<td>(\d+)</td>", second)]
    assert seqs == list(range(51, 51 + len(seqs))), "oldest first, second page"
    last = page_text(auditor.get("/audit/?page=99999"))
    assert f"Trang {pages}/{pages}" in last and 'rel="next"' not in last, "past the end: the last page"


def test_one_page_needs_no_pager(app, client, officer, subject_id):
    open_cases(app, officer, subject_id, [("unclassified", 3)])
    assert 'aria-label="Phân trang"' not in page_text(client.get("/cases/?view=mine"))


# --- empty states ---------------------------------------------------------------------------

def test_empty_lists_say_what_to_do_next(app, client, make_user, sign_in):
    expected = {
        "officer": {"/cases/?view=mine": "Mở một hồ sơ thẩm định", "/cases/?view=unit&kind=petition": "bỏ bớt",
                    "/subjects/": "Nhập một phần họ tên", "/subjects/?q=Kh%C3%B4ng+C%C3%B3+Ai": "thêm đối tượng mới"},
        "liaison": {"/requests/": "Khi cán bộ thẩm định gửi yêu cầu"},
        "auditor": {"/access/break-glass": "Các lượt đã đánh giá", "/access/break-glass?show=all": "Khi cán bộ",
                    "/audit/?action=case.nothing": "nới rộng"},
    }
    for role, pages in expected.items():
        browser = app.test_client()
        assert sign_in(make_user(role), target=browser).status_code == 302
        for path, hint in pages.items():
            page = html.unescape(page_text(browser.get(path)))
            empty = re.search(r'<p class="hoso-card-empty[^"]*">(.*?)</p>', page, re.S)
            assert empty and hint in empty.group(1), (role, path)


# --- the classification marking -------------------------------------------------------------

def test_a_classified_case_page_is_marked_top_and_bottom(app, client, officer, subject_id):
    secret, plain = open_cases(app, officer, subject_id, [("secret", 5), ("unclassified", 5)])
    page = page_text(client.get(f"/cases/{case_id_of(app, secret)}"))
    assert markings(page) == [("secret", "top"), ("secret", "bottom")]
    top, bottom = page.index('data-marking="top"'), page.index('data-marking="bottom"')
    assert top < page.index("<main") and bottom > page.index("</main>") and bottom > page.index("</footer>")
    assert ">TỐI MẬT</div>" in page and 'aria-label="Độ mật của nội dung trên trang: Tối mật"' in page

    assert markings(page_text(client.get(f"/cases/{case_id_of(app, plain)}"))) == []
    # A page about the case (the finding form) carries it too.
    form = page_text(client.get(f"/cases/{case_id_of(app, secret)}/findings/new"))
    assert [level for level, _place in markings(form)] == ["secret", "secret"]


def test_a_list_is_marked_with_the_highest_level_it_shows(app, client, officer, subject_id):
    open_cases(app, officer, subject_id, [("confidential", 5), ("top_secret", 6), ("unclassified", 7)])
    page = page_text(client.get("/cases/?view=mine"))
    assert [level for level, _place in markings(page)] == ["top_secret", "top_secret"]
    assert ">TUYỆT MẬT</div>" in page
    only_plain = page_text(client.get("/cases/?view=mine&classification=unclassified"))
    assert markings(only_plain) == []


def test_the_restricted_page_shows_nothing_classified_and_no_marking(app, client, make_user, sign_in, officer,
                                                                     subject_id):
    (secret,) = open_cases(app, officer, subject_id, [("secret", 5)])
    colleague = app.test_client()
    assert sign_in(make_user("officer", clearance="top_secret"), target=colleague).status_code == 302
    response = colleague.get(f"/cases/{case_id_of(app, secret)}")
    assert response.status_code == 403 and 'action="/cases/' in response.get_data(as_text=True)
    assert markings(response.get_data(as_text=True)) == []


# --- due dates ------------------------------------------------------------------------------

@pytest.mark.usefixtures("around_vietnam_midnight")
def test_relative_due_dates(app):
    with app.test_request_context("/"):
        today = operations.today()
        assert deadlines.relative_due(today, today) == "hôm nay"
        assert deadlines.relative_due(today + timedelta(days=3), today) == "còn 3 ngày"
        assert deadlines.relative_due(today - timedelta(days=5), today) == "trễ 5 ngày"
        assert deadlines.relative_due(today - timedelta(days=1), today) == "trễ 1 ngày"


def test_relative_due_dates_in_english_are_plural_correct(app):
    with app.test_request_context("/", headers={"Accept-Language": "en"}), force_locale("en"):
        today = operations.today()
        assert deadlines.relative_due(today, today) == "today"
        # "in 3 days" or "3 days left": the catalog's wording, in the right number.
        one, three = (deadlines.relative_due(today + timedelta(days=days), today) for days in (1, 3))
        assert "1 day" in one and "days" not in one and "3 days" in three
        assert deadlines.relative_due(today - timedelta(days=1), today) == "1 day late"
        assert deadlines.relative_due(today - timedelta(days=5), today) == "5 days late"


@pytest.mark.usefixtures("around_vietnam_midnight")
def test_due_dates_show_how_near_they_are_with_the_date(app, client, officer, subject_id):
    late, soon, due_today = open_cases(app, officer, subject_id, [("unclassified", -5), ("unclassified", 3),
                                                                  ("unclassified", 0)])
    with app.app_context():
        today = operations.today()
    listing = page_text(client.get("/cases/?view=mine"))
    for reference, days, text in ((late, -5, "trễ 5 ngày"), (soon, 3, "còn 3 ngày"), (due_today, 0, "hôm nay")):
        due = today + timedelta(days=days)
        row = re.search(rf"{reference}.*?</tr>", listing, re.S).group(0)
        assert f'<time class="text-nowrap" datetime="{due.isoformat()}">{due.strftime("%d/%m/%Y")}</time>' in row
        assert f"({text})" in row
        case_page = page_text(client.get(f"/cases/{case_id_of(app, reference)}"))
        assert f"({text})" in case_page and due.strftime("%d/%m/%Y") in case_page
    assert "Quá hạn" in re.search(rf"{late}.*?</tr>", listing, re.S).group(0)


# --- confirmation and labels on every rendered page ------------------------------------------

IRREVERSIBLE = [re.compile(pattern) for pattern in (
    r"^/cases/[^/]+/(transition|correction|decision|extend|break-glass)$",
    r"^/cases/[^/]+/conclusion/(submit|approve|return)$",
    r"^/cases/[^/]+/unassign/[^/]+$",
    r"^/cases/[^/]+/requests/new$",
    r"^/cases/[^/]+/requests/[^/]+/(accept|more|withdraw)$",
    r"^/requests/[^/]+/(acknowledge|answer)$",
    r"^/access/break-glass/[^/]+/review$",
    r"^/admin/users/[^/]+/(disable|enable|reset-password|reset-two-factor)$",
    r"^/audit/verify$",
    r"^/subjects/[^/]+/relatives/[^/]+/delete$",
    r"^/account/sessions/.+$",
)]
# Pages a crawl does not open: files, exports and the sign-out.
SKIPPED = re.compile(r"/attachments/|\.csv$|\.svg$|/logout$|/download")


class PageParts(HTMLParser):
    """The forms (action, method, data-confirm) and the controls with how they are named."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self.controls: list[dict] = []
        self.labelled: set[str] = set()
        self.links: list[str] = []
        self.open_labels = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.forms.append(attributes)
        elif tag == "label":
            self.open_labels += 1
            if attributes.get("for"):
                self.labelled.add(attributes["for"])
        elif tag in ("input", "select", "textarea"):
            self.controls.append({"tag": tag, "inside_label": self.open_labels > 0, **attributes})
        elif tag == "a" and attributes.get("href", "").startswith("/"):
            self.links.append(attributes["href"])
        if "tabindex" in attributes:
            assert int(attributes["tabindex"]) <= 0, f"a positive tabindex on <{tag}>"

    def handle_endtag(self, tag):
        if tag == "label":
            self.open_labels = max(0, self.open_labels - 1)


def unlabelled(parts: PageParts) -> list[dict]:
    missing = []
    for control in parts.controls:
        if control.get("type") in ("hidden", "submit", "button", "reset", "image"):
            continue
        named = (control.get("id") in parts.labelled or control["inside_label"] or control.get("aria-label")
                 or control.get("aria-labelledby"))
        if not named:
            missing.append(control)
    return missing


def crawl(browser, start: list[str], limit: int = 120) -> dict[str, str]:
    """GET pages from `start`, following links within the app (paths only, no query strings)."""
    seen: dict[str, str] = {}
    queue = list(start)
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if path in seen or SKIPPED.search(path.split("?")[0]):
            continue
        response = browser.get(path)
        if response.status_code not in (200, 403) or response.mimetype != "text/html":
            seen[path] = ""
            continue
        page = response.get_data(as_text=True)
        seen[path] = page
        parts = PageParts()
        parts.feed(page)
        for link in parts.links:
            target = html.unescape(link).split("#")[0].split("?")[0]
            if target and target not in seen and re.match(r"^/(cases|requests|subjects|access|admin|audit|account)",
                                                          target):
                queue.append(target)
    return seen


def test_every_irreversible_form_asks_first_and_every_control_has_a_label(app, sign_in, clients):
    demo_client(app, sign_in, DEMO_ACCOUNTS["officer"])  # a second session: "end the others" shows
    with app.app_context():
        officer = db.session.scalar(select(User).where(User.username == DEMO_ACCOUNTS["officer"]))
        # Every case of the officer's unit: the unassigned ones answer with the break-glass offer.
        unit_cases = [f"/cases/{case_id}" for case_id in db.session.scalars(
            select(Case.id).where(Case.owner_unit_id == officer.unit_id))]
        db.session.commit()
    starts = {"officer": ["/cases/?view=mine", "/subjects/?q=Nguy%E1%BB%85n+V%C4%83n+An", *unit_cases],
              "supervisor": ["/cases/?view=unit", "/cases/?view=approval"],
              "liaison": ["/requests/"],
              "liaison (UBKT)": ["/requests/"],
              "auditor": ["/audit/", "/access/break-glass"],
              "admin": ["/admin/users", "/admin/units"]}
    checked_forms, checked_controls, pages_seen = set(), 0, 0
    problems = []
    for role, start in starts.items():
        for path, page in crawl(clients[role], start + ["/account/", "/account/sessions"]).items():
            if not page:
                continue
            pages_seen += 1
            parts = PageParts()
            parts.feed(page)
            for form in parts.forms:
                action = form.get("action", "")
                if form.get("method", "get").lower() != "post":
                    continue
                if any(pattern.match(action) for pattern in IRREVERSIBLE):
                    checked_forms.add(re.sub(r"[0-9a-f-]{36}", "ID", action))
                    if not form.get("data-confirm"):
                        problems.append(f"{role} {path}: POST {action} without data-confirm")
            for control in unlabelled(parts):
                problems.append(f"{role} {path}: <{control['tag']} name={control.get('name')}> has no label")
            checked_controls += len(parts.controls)
    assert not problems, "\n".join(sorted(set(problems)))
    assert pages_seen > 40 and checked_controls > 100
    # The crawl did reach the irreversible buttons of each kind (not a vacuous pass).
    for expected in ("/cases/ID/transition", "/cases/ID/unassign/ID", "/cases/ID/requests/ID/withdraw",
                     "/requests/ID/acknowledge", "/requests/ID/answer", "/access/break-glass/ID/review", "/admin/users/ID/disable",
                     "/admin/users/ID/reset-password", "/audit/verify", "/account/sessions/end-others",
                     "/subjects/ID/relatives/ID/delete", "/cases/ID/conclusion/submit",
                     "/cases/ID/requests/ID/accept", "/cases/ID/break-glass"):
        assert expected in checked_forms, f"the crawl met no {expected} form"


# --- forms ----------------------------------------------------------------------------------

def test_field_errors_are_tied_to_their_field(app, client, officer):
    page = client.get("/subjects/?q=" + "a" * 201).get_data(as_text=True)
    field = re.search(r'<input[^>]*id="q"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in field and 'aria-describedby="q-errors"' in field
    message = html.unescape(re.search(r'id="q-errors">\s*<div>([^<]+)</div>', page).group(1))
    assert "Field" not in message and "characters" not in message, f"WTForms' English leaked: {message}"
