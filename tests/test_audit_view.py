"""The auditor's view: only auditors reach it (and a refusal is itself on record); filters
by actor, action, target, outcome and dates, with errors beside the field for bad input;
a streamed CSV export that is itself audited; "verify now"; the entries waiting for the
sequencer (PostgreSQL, issue 22); and no person's name shown.

Rows are numbered by entry; an entry's place in the chain is its link's `seq`, which on
PostgreSQL it gets from the audit sequencer (the tests run its passes, `sequenced_all`)."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from audit.models import AuditEntry
from audit.service import EXPORT_COLUMNS
from audit.trail import record
from protection.clock import utcnow
from protection.db import db
from protection.forms import parse_date
from protection.i18n import format_moment
from tests.conftest import (
    MadeUser,
    audit_entries,
    audit_links,
    audit_tampering,
    post_form,
    sequenced_all,
)
from tests.pages import field_errors, input_value

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
OTHER_NAMES = ("Trịnh Thị Được Ghi", "Lý Văn Sai Mật Khẩu", "Quách Thị Quản Trị")


@pytest.fixture(autouse=True)
def _rate_limit_out_of_the_way(app_config):
    app_config["HOSO_LOGIN_RATE_LIMIT"] = "1000 per minute"


class Scene:
    def __init__(self, officer: MadeUser, careless: MadeUser, admin: MadeUser, auditor: MadeUser):
        self.officer, self.careless, self.admin, self.auditor = officer, careless, admin, auditor


@pytest.fixture
def scene(app, client, make_user, sign_in) -> Scene:
    """Activity by three people, then the auditor signs in on `client`."""
    officer = make_user("officer", display_name=OTHER_NAMES[0])
    careless = make_user("officer", display_name=OTHER_NAMES[1])
    admin = make_user("admin", display_name=OTHER_NAMES[2])
    auditor = make_user("auditor", display_name="Kiểm Tra Viên")
    elsewhere = app.test_client()
    assert sign_in(officer, target=elsewhere).status_code == 302
    for _ in range(2):
        assert sign_in(careless, target=app.test_client(), password="Sai-roi-Ha-Giang-11").status_code == 200
    admin_client = app.test_client()
    assert sign_in(admin, target=admin_client).status_code == 302
    assert admin_client.get(f"/admin/users/{officer.id}").status_code == 200
    assert sign_in(auditor).status_code == 302
    return Scene(officer, careless, admin, auditor)


def page_of(client, query: str = "") -> str:
    response = client.get("/audit/" + query)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def shown(page: str) -> list[tuple[int, str]]:
    """(entry number, action) of each row in the table."""
    return [(int(entry), action) for entry, action in
            re.findall(r"<tr>\s*<td>(\d+)</td>.*?<code>([^<]+)</code>", page, re.S)]


def total(page: str) -> int:
    return int(re.search(r'<p class="text-muted">(\d+) bản ghi</p>', page).group(1))


PENDING = re.compile(r'<p class="mb-2 ([\w-]+)" id="audit-pending">\s*Đang chờ xâu chuỗi: (\d+) bản ghi, '
                     r"cũ nhất lúc ([^.]+)\.")


def pending_of(page: str) -> tuple[str, int, str] | None:
    """The panel's line about entries waiting for the sequencer: (its class, how many, the
    oldest's time), or None."""
    found = PENDING.search(page)
    return (found.group(1), int(found.group(2)), found.group(3)) if found else None


def without_pending(page: str) -> str:
    return re.sub(r'<p [^>]*id="audit-pending">.*?</p>', "", page, flags=re.S)


def on_postgresql(app) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


def seqs(app) -> dict[int, tuple[str, str]]:
    """Each linked entry's (seq, entry_hash), as the export writes them."""
    return {link.entry_id: (str(link.seq), link.entry_hash) for link in audit_links(app)}


def export(client, query: str = "") -> list[dict]:
    response = client.get("/audit/export.csv" + query)
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="hoso-audit.csv"'
    reader = csv.reader(io.StringIO(response.get_data(as_text=True)))
    header = next(reader)
    assert tuple(header) == EXPORT_COLUMNS
    return [dict(zip(header, row, strict=True)) for row in reader]


def today() -> datetime:
    return datetime.now(LOCAL)


# --- who may look ----------------------------------------------------------------------------

def test_the_auditor_sees_the_trail(app, client, scene):
    sequenced_all(app)
    page = page_of(client)
    rows = shown(page)
    committed = audit_entries(app)
    assert total(page) == len(committed) - 1  # all but this page's own search entry, written after the query
    assert rows[0][0] > rows[-1][0], "newest first"
    assert ("auth.login.failed" in dict(rows).values()) and ("user.view" in dict(rows).values())
    assert scene.careless.username in page  # actors by username
    # The head as the page read it: its own search entry is linked as the request commits
    # (SQLite), or by the sequencer afterwards (PostgreSQL).
    head = seqs(app)[committed[-2].id][0]
    assert head == str(len(committed) - 1)
    assert "Tình trạng chuỗi" in page and f"<strong>#{head}</strong>" in page
    search = audit_entries(app, "audit.search")[-1]
    assert (search.actor_id, search.actor_role) == (scene.auditor.id, "auditor")


@pytest.mark.parametrize("role", ["officer", "liaison", "supervisor", "admin"])
@pytest.mark.parametrize("method, path", [("GET", "/audit/"), ("GET", "/audit/export.csv"),
                                          ("POST", "/audit/verify")])
def test_every_other_role_is_refused_and_the_refusal_is_on_record(app, client, login_as, role, method, path):
    user = login_as(role)
    if method == "GET":
        response = client.get(path)
    else:
        response = post_form(client, path, token_from="/account/")
    assert response.status_code == 403
    assert "bản ghi" not in response.get_data(as_text=True)
    denial = audit_entries(app, "access.denied")[-1]
    assert (denial.actor_id, denial.outcome) == (user.id, "denied")
    assert '"permission":"audit.read"' in denial.detail
    assert audit_entries(app, "audit.") == []


# --- filters ---------------------------------------------------------------------------------

def test_filter_by_actor_username(app, client, scene):
    page = page_of(client, f"?actor={scene.careless.username.upper()}")
    expected = [e for e in audit_entries(app) if e.actor_id == scene.careless.id]
    assert [entry for entry, _ in shown(page)] == sorted((e.id for e in expected), reverse=True)
    assert {action for _, action in shown(page)} == {"auth.login.failed"}
    # A username that names nobody says so beside the field (it used to be an empty table).
    unknown = page_of(client, "?actor=nobody.here")
    assert field_errors(unknown, "actor") == "Không có người dùng nào có tên đăng nhập này."
    assert input_value(unknown, "actor") == "nobody.here" and shown(unknown) == []


def test_filter_by_exact_action_and_by_prefix(app, client, scene):
    exact = shown(page_of(client, "?action=auth.login.failed"))
    assert len(exact) == 2 and {action for _, action in exact} == {"auth.login.failed"}
    prefix = shown(page_of(client, "?action=auth."))
    assert {action for _, action in prefix} == {"auth.login.failed", "auth.password_ok", "auth.signed_in"}
    assert len(prefix) == len(audit_entries(app, "auth."))
    assert shown(page_of(client, "?action=auth")) == []  # not a prefix without the dot
    assert shown(page_of(client, "?action=auth_login%25")) == []  # LIKE wildcards are escaped


def test_filter_by_target_is_the_access_history_of_a_record(app, client, scene):
    query = f"?target_type=user&target_id={scene.officer.id}"
    page = page_of(client, query)
    actions = sorted(action for _, action in shown(page))
    assert actions == ["auth.signed_in", "user.created", "user.view"]
    link = f'href="/audit/?target_type=user&amp;target_id={scene.officer.id}"'
    assert link in page, "each row links to its target's history"


def test_filter_by_outcome(app, client, scene):
    failures = shown(page_of(client, "?outcome=failure"))
    assert {action for _, action in failures} == {"auth.login.failed"}
    page = page_of(client, "?outcome=bogus")
    assert field_errors(page, "outcome") == "Kết quả không hợp lệ."
    assert shown(page) == []


@pytest.mark.parametrize("style", ["%d/%m/%Y", "%Y-%m-%d"])
def test_filter_by_date_range(app, client, scene, style):
    day = today()
    everything = total(page_of(client))
    this_day = day.strftime(style)
    assert total(page_of(client, f"?date_from={this_day}&date_to={this_day}")) == everything + 1
    yesterday = (day - timedelta(days=1)).strftime(style)
    assert total(page_of(client, f"?date_to={yesterday}")) == 0
    tomorrow = (day + timedelta(days=1)).strftime(style)
    assert total(page_of(client, f"?date_from={tomorrow}")) == 0


def test_date_range_follows_the_local_day(app, client, scene):
    """An entry at 23:30 UTC belongs to the next day in Hanoi (UTC+7)."""
    with app.app_context():
        record("test.late", target_type="user")
        db.session.commit()
    number = audit_entries(app, "test.late")[-1].id
    with audit_tampering(app) as connection:  # move it back in time, as a test only can
        late = datetime(2026, 3, 9, 23, 30).replace(tzinfo=ZoneInfo("UTC"))
        connection.execute(update(AuditEntry.__table__).where(AuditEntry.__table__.c.id == number)
                           .values(occurred_at=late))
    assert [s for s, _ in shown(page_of(client, "?date_from=10/03/2026&date_to=10/03/2026"))] == [number]
    assert shown(page_of(client, "?date_from=09/03/2026&date_to=09/03/2026")) == []


@pytest.mark.parametrize("field, value, message", [
    ("date_from", "32/13/2026", "Ngày không hợp lệ. Nhập theo dạng dd/mm/yyyy."),
    ("date_from", "hôm qua", "Ngày không hợp lệ. Nhập theo dạng dd/mm/yyyy."),
    ("date_to", "2026-02-30", "Ngày không hợp lệ. Nhập theo dạng dd/mm/yyyy."),
    ("date_from", "01/01/0001", "Năm phải nằm trong khoảng 1900–9998."),
    ("date_to", "31/12/9999", "Năm phải nằm trong khoảng 1900–9998."),
    ("actor", "Nguyễn Văn A", "Chỉ gồm chữ không dấu, số và . _ - :"),
    ("action", "auth.login' OR 1=1", "Chỉ gồm chữ không dấu, số và . _ - :"),
    ("target_type", "user%", "Chỉ gồm chữ không dấu, số và . _ - :"),
    ("target_id", "a b", "Chỉ gồm chữ không dấu, số và . _ - :"),
    ("target_type", "x" * 33, "Không được dài quá 32 ký tự."),
    ("actor", "a" * 65, "Không được dài quá 64 ký tự."),
])
def test_malformed_filters_get_an_error_beside_the_field(app, client, scene, field, value, message):
    searches = len(audit_entries(app, "audit.search"))
    response = client.get("/audit/", query_string={field: value})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert field_errors(page, field) == message
    readable = parse_date(value)  # a date comes back as the date input reads it (yyyy-mm-dd)
    assert input_value(page, field) == (readable.isoformat() if readable else value), "the input is kept"
    # No count and no empty table that would read as "nothing happened" (the panel's line
    # about entries waiting for the sequencer is no search result).
    assert shown(page) == [] and "bản ghi" not in without_pending(page)
    assert len(audit_entries(app, "audit.search")) == searches  # nothing searched, nothing recorded
    assert client.get("/audit/export.csv", query_string={field: value}).status_code == 400


def test_an_end_before_the_start_is_refused_beside_the_end(app, client, scene):
    page = page_of(client, "?date_from=10/03/2026&date_to=09/03/2026")
    assert field_errors(page, "date_to") == "Ngày kết thúc phải sau ngày bắt đầu."
    assert field_errors(page, "date_from") is None


@pytest.mark.parametrize("page_number, status", [("0", 400), ("-3", 400), ("abc", 200), ("99999999999999999999", 400),
                                                 ("10000000", 200)])
def test_odd_page_numbers_never_crash(client, scene, page_number, status):
    assert client.get(f"/audit/?page={page_number}").status_code == status


# --- export ----------------------------------------------------------------------------------

def test_export_streams_the_filtered_rows_and_is_itself_audited(app, client, scene):
    sequenced_all(app)
    rows = export(client, "?action=auth.")
    expected = audit_entries(app, "auth.")
    assert [int(row["entry"]) for row in rows] == [entry.id for entry in expected]
    assert {row["action"] for row in rows} == {"auth.login.failed", "auth.password_ok", "auth.signed_in"}
    by_id = {entry.id: entry for entry in expected}
    links = seqs(app)
    for row in rows:
        entry = by_id[int(row["entry"])]
        assert (row["seq"], row["entry_hash"]) == links[entry.id]  # its place in the chain
        assert (row["outcome"], row["detail"]) == (entry.outcome, entry.detail)
    usernames = {row["actor"] for row in rows}
    assert scene.careless.username in usernames and scene.officer.username in usernames

    exported = audit_entries(app, "audit.export")
    assert len(exported) == 1
    assert (exported[0].actor_id, exported[0].target_type) == (scene.auditor.id, "audit_log")
    assert exported[0].detail == '{"filter_action":"auth.","filters":["action"],"format":"csv"}'


def test_export_of_more_rows_than_one_batch(app, client, scene):
    with app.app_context():
        for number in range(2100):
            record("test.bulk", target_type="unit", target_id=number)
        db.session.commit()
    sequenced_all(app)
    rows = export(client, "?action=test.bulk")
    assert [int(row["target_id"]) for row in rows] == list(range(2100))
    assert len({row["entry"] for row in rows}) == 2100
    links = seqs(app)  # each row's own link, in every batch
    assert [(row["seq"], row["entry_hash"]) for row in rows] == [links[int(row["entry"])] for row in rows]
    assert len({row["seq"] for row in rows}) == 2100


def test_export_without_filters_has_every_entry_its_own_included(app, client, scene):
    rows = export(client)
    assert [int(row["entry"]) for row in rows] == [entry.id for entry in audit_entries(app)]
    # Committed before the body streams: the export is on record even if the download stops.
    assert rows[-1]["action"] == "audit.export"
    # An entry not linked yet (PostgreSQL: waiting for the sequencer) has no seq and no hash.
    links = seqs(app)
    assert [(row["seq"], row["entry_hash"]) for row in rows] == [links.get(int(row["entry"]), ("", ""))
                                                                  for row in rows]
    unlinked = [row for row in rows if row["seq"] == ""]
    assert (unlinked == rows) if on_postgresql(app) else (unlinked == [])


# --- verify now ------------------------------------------------------------------------------

def test_verify_now_records_the_check_and_shows_the_summary(app, client, scene):
    sequenced_all(app)
    assert client.post("/audit/verify").status_code == 400  # no CSRF token
    response = post_form(client, "/audit/verify", token_from="/audit/")
    assert response.status_code == 302
    page = page_of(client)
    # In the interface language (the CLI prints the English summary).
    assert re.search(r'alert-success[^>]*>\s*Toàn vẹn: đã kiểm tra \d+ bản ghi \(bản ghi cuối #\d+\)', page)
    assert "entries verified" not in page
    assert "Toàn vẹn" in page
    verified = audit_entries(app, "audit.verify")
    assert len(verified) == 1
    assert (verified[0].actor_id, verified[0].outcome) == (scene.auditor.id, "success")


def test_verify_now_on_a_tampered_trail(app, client, scene):
    sequenced_all(app)
    failed = audit_entries(app, "auth.login.failed")[0]
    failed_seq = int(seqs(app)[failed.id][0])
    with audit_tampering(app) as connection:
        connection.execute(update(AuditEntry.__table__).where(AuditEntry.__table__.c.id == failed.id)
                           .values(outcome="success"))
    assert post_form(client, "/audit/verify", token_from="/audit/").status_code == 302
    page = page_of(client)
    assert f"Phát hiện sai lệch tại bản ghi #{failed_seq}: bản ghi bị sửa." in page
    assert "TAMPERED" not in page
    assert "Phát hiện sai lệch" in page
    assert audit_entries(app, "audit.verify")[-1].outcome == "failure"


def test_verify_now_counts_the_entries_waiting_for_the_sequencer(app, client, scene):
    response = post_form(client, "/audit/verify", token_from="/audit/")
    assert response.status_code == 302
    page = page_of(client)
    waiting = re.search(r"Còn (\d+) bản ghi đang chờ xâu chuỗi\.", page)
    if on_postgresql(app):  # the scene's entries and the pages' own: none linked yet, and not a problem
        assert re.search(r"alert-success[^>]*>\s*Toàn vẹn: đã kiểm tra 0 bản ghi", page)
        assert waiting and int(waiting.group(1)) == len(audit_entries(app)) - 2  # not the check's, nor this page's
    else:
        assert re.search(r"alert-success[^>]*>\s*Toàn vẹn: đã kiểm tra \d+ bản ghi", page) and waiting is None


# --- entries waiting for the sequencer --------------------------------------------------------

def unlinked_now(app) -> int:
    return len(audit_entries(app)) - len(audit_links(app))


def test_the_panel_shows_entries_waiting_for_the_sequencer(app, client, scene):
    """PostgreSQL: the entries the sequencer has not linked yet are counted on the panel,
    with the time of the oldest, in red with a hint once it has waited past
    HOSO_AUDIT_PENDING_WARN_SECONDS. SQLite links each entry as it is recorded: no line."""
    waiting = unlinked_now(app)
    assert (waiting > 0) == on_postgresql(app)
    page = page_of(client)
    oldest = min((entry.occurred_at for entry in audit_entries(app)), default=None)
    with app.test_request_context():
        oldest_text = format_moment(oldest)
    assert pending_of(page) == (("text-muted", waiting, oldest_text) if waiting else None)

    sequenced_all(app)
    assert pending_of(page_of(client)) is None  # all linked (the page's own search commits after it)

    with app.app_context():  # recorded minutes ago by a transaction that stayed open
        entry = record("test.slow", target_type="unit")
        entry.fields["occurred_at"] = utcnow() - timedelta(minutes=5)
        db.session.commit()
    waiting = unlinked_now(app)
    page = page_of(client)
    if on_postgresql(app):
        with app.test_request_context():
            slow_text = format_moment(audit_entries(app, "test.slow")[-1].occurred_at)
        assert waiting == 2 and pending_of(page) == ("text-danger", 2, slow_text)  # it, and the last page's search
        assert "audit sequence" in page  # the hint: is the sequencer running, a transaction open too long?
    else:
        assert waiting == 0 and pending_of(page) is None and "audit sequence" not in page


# --- the auditor sees the trail, not people ---------------------------------------------------

def test_no_person_s_name_is_shown_to_the_auditor(app, client, scene):
    pages = [page_of(client), page_of(client, f"?target_type=user&target_id={scene.officer.id}")]
    pages.append(client.get("/audit/export.csv").get_data(as_text=True))
    for text in pages:
        for name in OTHER_NAMES:
            assert name not in text
