"""The lists' badges and bounded counts, on the real database: my open work with what is
due soon and overdue, a supervisor's scope, and counts that stop at their cap."""

from __future__ import annotations

from datetime import timedelta

from cases.casework import lists, operations
from cases.casework.lists import Count
from cases.models import Case
from cases.reviews import operations as reviews
from cases.reviews.operations import ReviewData
from cases.subjects.operations import SubjectData, create_subject
from protection.db import db
from protection.identity import User


def test_badges_count_my_open_work_and_the_scope_for_supervisors(app, make_user, make_unit):
    officer, other, supervisor = make_user("officer"), make_user("officer"), make_user("supervisor")
    with app.app_context():
        by, by_other = db.session.get(User, officer.id), db.session.get(User, other.id)
        subject = create_subject(SubjectData("Đỗ Văn Đếm", operations.today().replace(year=1980), "038080555555"),
                                 owner_unit=by.unit, by=by)
        today = operations.today()
        for offset in (-3, -1, 2, 30):  # two overdue, one due soon, one later
            reviews.open_review(ReviewData(subject.id, "other", "unclassified", due_on=None), by=by)
            case = db.session.query(Case).order_by(Case.created_at.desc()).first()
            case.due_on = today + timedelta(days=offset)
        closed = reviews.open_review(ReviewData(subject.id, "other", "unclassified"), by=by)
        closed.state, closed.due_on = "closed", today - timedelta(days=10)  # closed work is never due
        reviews.open_review(ReviewData(subject.id, "other", "unclassified", due_on=today), by=by_other)
        db.session.commit()

        mine = lists.counts(by)
        assert (mine["mine"], mine["due"], mine["overdue"]) == (4, 3, 2) and "approval" not in mine
        scope = lists.counts(db.session.get(User, supervisor.id))
        assert (scope["mine"], scope["due"], scope["overdue"], scope["approval"]) == (0, 4, 2, 0)


def test_a_count_past_its_cap_says_so():
    assert str(Count(12, 999)) == "12" and not Count(12, 999).capped
    capped = Count(5000, 999)
    assert capped == 999 and capped.capped and str(capped) == "999+"


def test_a_bounded_page_total(app, make_user):
    officer = make_user("officer")
    with app.app_context():
        by = db.session.get(User, officer.id)
        subject = create_subject(SubjectData("Đỗ Văn Trang", operations.today().replace(year=1981), "038081555555"),
                                 owner_unit=by.unit, by=by)
        for _ in range(3):
            reviews.open_review(ReviewData(subject.id, "other", "unclassified"), by=by)
        db.session.commit()
        statement = lists.base_query(by)
        assert str(lists.bounded_count(statement, 2)) == "2+"
        assert str(lists.bounded_count(statement, 3)) == "3"
