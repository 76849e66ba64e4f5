"""Several gunicorn workers writing at once never fail ("database is locked" on SQLite,
a forked chain or a 500 anywhere). A real server on loopback, a bounded burst, then stop."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from protection.db import db
from protection.sessions import AuthSession
from tests.servers import Browser


def test_concurrent_sign_ins_and_page_views_on_several_workers(gunicorn_server, make_user, app):
    base, log = gunicorn_server
    users = [make_user("officer") for _ in range(4)]

    def work(index: int) -> list[int]:
        user = users[index % len(users)]
        statuses = []
        browser = Browser(base)
        # A wrong password (a lockout row is written), then the right one (a session is written).
        statuses.append(Browser(base).sign_in(user.username, "not-the-password-at-all"))
        statuses.append(browser.sign_in(user.username, user.password))
        for path in ("/", "/account/", "/account/sessions"):
            statuses.append(browser.request(path)[0])
        return statuses

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [status for statuses in pool.map(work, range(16)) for status in statuses]

    server_log = log.read_text()
    assert all(status < 500 for status in results), (results, server_log[-3000:])
    assert "database is locked" not in server_log
    with app.app_context():
        opened = db.session.scalar(select(func.count()).select_from(AuthSession))
    assert opened == 16, "every acknowledged sign-in left its session row"
