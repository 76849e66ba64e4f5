"""Work that finds its people (issue 20 §B) in the app: which events raise which notifications
and for whom, the bell, the page, opening and marking read, what a user who lost the item sees,
and the delivery preferences. Mail delivery is tests/test_notifications_mail.py."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from cases.access import operations as access
from cases.casework import operations
from cases.conclusions import operations as conclusions
from cases.coordination import operations as coordination
from cases.coordination.operations import RequestData
from cases.notifications import service
from cases.notifications.models import MailAddress, Notification, NotificationPreference
from protection import accounts
from protection.db import db
from protection.identity import Role
from tests.conftest import audit_entries
from tests.factories import (
    approve_conclusion,
    fresh_id_number,
    make_subject,
    open_review,
    submit_conclusion,
    to_conclusion,
    user_row,
    walk,
)
from tests.pages import field_errors, hidden, input_value, page_post, selected_option, text_of

TITLE = "Thẩm định bổ nhiệm Giám đốc Sở Thông Báo"
NAME = "Trịnh Văn Chuông Báo"


def notes(app, made) -> list[tuple[str, str]]:
    """The (kind, target type) of a user's notifications, oldest first."""
    with app.app_context():
        rows = db.session.execute(select(Notification.kind, Notification.target_type)
                                  .where(Notification.user_id == made.id)
                                  .order_by(Notification.created_at, Notification.id)).all()
        db.session.commit()
    return [tuple(row) for row in rows]


def all_notes(app) -> list[Notification]:
    with app.app_context():
        rows = list(db.session.scalars(select(Notification)))
        db.session.commit()
    return rows


@pytest.fixture
def people(app, make_unit, make_user):
    """BTCTU with HUYEN below it, BTGTU beside it, the police committee DUCA and the military
    one DUQS; officers, supervisors, liaisons and an auditor around a review in HUYEN."""
    make_unit("BTCTU")
    make_unit("HUYEN", "Ban Tổ chức Huyện ủy", kind="district", parent="BTCTU")
    make_unit("BTGTU", "Ban Tuyên giáo Tỉnh ủy", kind="propaganda")
    make_unit("DUCA", "Đảng ủy Công an tỉnh", kind="police")
    make_unit("DUQS", "Đảng ủy Quân sự tỉnh", kind="military")
    return {
        "officer": make_user("officer", username="officer.huyen", unit="HUYEN"),
        "colleague": make_user("officer", username="colleague.huyen", unit="HUYEN"),
        "supervisor": make_user("supervisor", username="sup.huyen", unit="HUYEN"),
        "province": make_user("supervisor", username="sup.tinh", unit="BTCTU"),
        "low": make_user("supervisor", username="sup.low", unit="BTCTU", clearance="unclassified"),
        "beside": make_user("supervisor", username="sup.btgtu", unit="BTGTU"),
        "recused": make_user("supervisor", username="sup.recused", unit="BTCTU"),
        "inactive": make_user("supervisor", username="sup.off", unit="BTCTU", active=False),
        "liaison": make_user("liaison", username="liaison.ca", unit="DUCA"),
        "liaison_off": make_user("liaison", username="liaison.off", unit="DUCA", active=False),
        "military": make_user("liaison", username="liaison.qs", unit="DUQS"),
        "auditor": make_user("auditor", username="auditor.one"),
    }


def review(app, people, *, recused_number: bool = True) -> uuid.UUID:
    """A confidential review in HUYEN by the officer, at the conclusion stage; the 'recused'
    supervisor is the person it is about."""
    number = fresh_id_number()
    with app.app_context():
        officer = user_row(people["officer"])
        subject = make_subject(officer, NAME, id_number=number)
        case = to_conclusion(open_review(officer, subject, title=TITLE), by=officer)
        if recused_number:
            user_row(people["recused"]).citizen_index = access.citizen_index(number)
        db.session.commit()
        return case.id


def case_of(case_id):
    return operations.find_case(case_id)


# --- which events raise which notifications, for whom ----------------------------------------------

def test_opening_a_review_tells_nobody_and_an_assignment_tells_the_officer(app, client, people, sign_in):
    case_id = review(app, people)
    assert all_notes(app) == []  # the officer opened it themselves
    assert sign_in(people["supervisor"]).status_code == 302
    response = page_post(client, f"/cases/{case_id}", f"/cases/{case_id}/assign",
                         {"officer": str(people["colleague"].id)})
    assert response.status_code == 302, text_of(response)[:500]
    assert notes(app, people["colleague"]) == [(service.CASE_ASSIGNED, "case")]
    assert [note.user_id for note in all_notes(app)] == [people["colleague"].id]


def test_an_officer_taken_off_and_assigned_again_hears_of_it_again(app, people):
    case_id = review(app, people)
    with app.app_context():
        supervisor, colleague = user_row(people["supervisor"]), user_row(people["colleague"])
        operations.assign(case_of(case_id), colleague, by=supervisor)
        operations.unassign(case_of(case_id), colleague.id, by=supervisor)
        operations.assign(case_of(case_id), colleague, by=supervisor)
        db.session.commit()
    assert notes(app, people["colleague"]) == [(service.CASE_ASSIGNED, "case")] * 2


def test_a_submitted_conclusion_tells_exactly_the_supervisors_who_may_approve_it(app, people):
    case_id = review(app, people)
    with app.app_context():
        submit_conclusion(case_of(case_id), by=user_row(people["officer"]))
        db.session.commit()
    told = {note.user_id for note in all_notes(app)}
    # Its own unit's supervisor and the province's above it; not the one beside, not the one
    # cleared below the case, not the person it is about, not a disabled account, not its author.
    assert told == {people["supervisor"].id, people["province"].id}
    assert notes(app, people["supervisor"]) == [(service.APPROVAL_AWAITING, "case")]


def test_returned_and_approved_conclusions_tell_the_case_officers(app, people):
    case_id = review(app, people)
    officer = people["officer"]
    with app.app_context():
        colleague = user_row(people["colleague"])
        operations.assign(case_of(case_id), colleague, by=user_row(people["supervisor"]))
        db.session.commit()
    for _round in range(2):  # returned twice: two events
        with app.app_context():
            submit_conclusion(case_of(case_id), by=user_row(officer))
            conclusions.return_for_revision(case_of(case_id), "Bổ sung phần lịch sử.", by=user_row(people["province"]))
            db.session.commit()
    with app.app_context():
        submit_conclusion(case_of(case_id), by=user_row(officer))
        approve_conclusion(case_of(case_id), by=user_row(people["supervisor"]))
        db.session.commit()
    returned, approved = [service.CONCLUSION_RETURNED, "case"], [service.CONCLUSION_APPROVED, "case"]
    assert notes(app, officer) == [tuple(returned)] * 2 + [tuple(approved)]
    assert [kind for kind, _ in notes(app, people["colleague"])] == [
        service.CASE_ASSIGNED, service.CONCLUSION_RETURNED, service.CONCLUSION_RETURNED, service.CONCLUSION_APPROVED]
    # Each submission was its own event for the approvers; none was told of their own act.
    assert [kind for kind, _ in notes(app, people["province"])] == [service.APPROVAL_AWAITING] * 3
    assert [kind for kind, _ in notes(app, people["supervisor"])] == [service.APPROVAL_AWAITING] * 3


def test_a_request_tells_the_body_liaisons_and_its_answer_the_officers(app, people):
    with app.app_context():
        officer = user_row(people["officer"])
        case = walk(open_review(officer, title=TITLE), "start_examination", "start_verification", by=officer)
        police = accounts.find_unit("DUCA")
        request_ = coordination.send_request(case, RequestData(police.id, "Đề nghị xác minh.",
                                                               operations.today() + timedelta(days=10)), by=officer)
        db.session.commit()
        request_id = request_.id
    assert notes(app, people["liaison"]) == [(service.REQUEST_RECEIVED, "request")]
    assert notes(app, people["military"]) == notes(app, people["liaison_off"]) == []
    with app.app_context():
        request_ = db.session.get(coordination.CoordinationRequest, request_id)
        liaison = user_row(people["liaison"])
        coordination.acknowledge(request_, by=liaison)
        coordination.answer(request_, "Không có vấn đề.", by=liaison)
        db.session.commit()
    assert notes(app, people["officer"]) == [(service.REQUEST_ANSWERED, "request")]
    assert notes(app, people["liaison"]) == [(service.REQUEST_RECEIVED, "request")]


def test_break_the_glass_tells_the_auditors(app, people):
    case_id = review(app, people)
    with app.app_context():
        access.break_glass(case_of(case_id), "Cần đối chiếu gấp hồ sơ trước cuộc họp.", by=user_row(people["colleague"]))
        db.session.commit()
    assert notes(app, people["auditor"]) == [(service.BREAK_GLASS_REVIEW, "break_glass")]
    assert {note.user_id for note in all_notes(app)} == {people["auditor"].id}


def test_a_rolled_back_change_tells_nobody(app, people):
    case_id = review(app, people)
    with app.app_context():
        operations.assign(case_of(case_id), user_row(people["colleague"]), by=user_row(people["supervisor"]))
        db.session.rollback()
    assert all_notes(app) == []


def test_the_same_event_is_raised_once_and_never_for_a_disabled_account(app, people):
    case_id = review(app, people)
    with app.app_context():
        ids = [people["colleague"].id, people["inactive"].id]
        first = service.notify(ids, service.DUE_SOON, target_type="case", target_id=case_id, reference="R")
        again = service.notify(ids, service.DUE_SOON, target_type="case", target_id=case_id, reference="R")
        db.session.commit()
    assert (first, again) == (1, 0)
    assert notes(app, people["inactive"]) == []


def test_mail_waits_only_when_mail_is_configured_and_the_user_has_an_address(app, people):
    case_id = review(app, people)
    chose = {"officer": "immediate", "colleague": "digest", "supervisor": "immediate"}
    with app.app_context():
        for who, delivery in chose.items():
            db.session.add(NotificationPreference(user_id=people[who].id, kind=service.OVERDUE, delivery=delivery))
        for who in ("officer", "colleague", "province"):
            db.session.add(MailAddress(user_id=people[who].id, address=f"{who}@tinhuy.vn"))
        db.session.flush()
        everyone = [people[who].id for who in ("officer", "colleague", "supervisor", "province")]
        service.notify(everyone, service.DUE_SOON, target_type="case", target_id=case_id)  # mail not configured
        app.config["HOSO_SMTP_URL"] = "smtp://127.0.0.1:2525"
        service.notify(everyone, service.OVERDUE, target_type="case", target_id=case_id)
        db.session.commit()
    states = {(note.kind, note.user_id): note.mail_state for note in all_notes(app)}
    assert {states[(service.DUE_SOON, user_id)] for user_id in everyone} == {None}
    assert states[(service.OVERDUE, people["officer"].id)] == "immediate"
    assert states[(service.OVERDUE, people["colleague"].id)] == "digest"
    assert states[(service.OVERDUE, people["supervisor"].id)] is None  # chose mail, has no address
    assert states[(service.OVERDUE, people["province"].id)] is None  # has an address, chose the app


# --- the bell and the page ------------------------------------------------------------------------

def assigned_to_colleague(app, people) -> uuid.UUID:
    case_id = review(app, people)
    with app.app_context():
        operations.assign(case_of(case_id), user_row(people["colleague"]), by=user_row(people["supervisor"]))
        db.session.commit()
    return case_id


def test_the_bell_counts_unread_notifications(app, client, people, sign_in):
    assert sign_in(people["colleague"]).status_code == 302
    page = text_of(client.get("/"))
    assert 'aria-label="Thông báo"' in page and "hoso-bell-count" not in page
    case_id = assigned_to_colleague(app, people)
    with app.app_context():
        service.notify([people["colleague"].id], service.DUE_SOON, target_type="case", target_id=case_id)
        db.session.commit()
    page = text_of(client.get("/"))
    assert 'aria-label="Thông báo (2 chưa đọc)"' in page
    assert 'href="/notifications/"' in page


def test_the_page_lists_kinds_and_references_only_and_opening_marks_read(app, client, people, sign_in):
    case_id = assigned_to_colleague(app, people)
    with app.app_context():
        reference = case_of(case_id).reference
        db.session.commit()
    assert sign_in(people["colleague"]).status_code == 302
    page = text_of(client.get("/notifications/"))
    assert "Hồ sơ được giao cho bạn" in page and reference in page
    assert TITLE not in page and NAME not in page
    [note] = all_notes(app)
    response = client.post(f"/notifications/{note.id}/open", data={"csrf_token": hidden(page, "csrf_token")})
    assert response.status_code == 303 and response.headers["Location"] == f"/cases/{case_id}"
    [note] = all_notes(app)
    assert note.read_at is not None
    assert 'aria-label="Thông báo"' in text_of(client.get("/"))
    assert [entry.detail for entry in audit_entries(app, "notifications.read")][-1] == '{"all":false,"count":1}'


def test_mark_all_read(app, client, people, sign_in):
    case_id = assigned_to_colleague(app, people)
    with app.app_context():
        service.notify([people["colleague"].id], service.DUE_SOON, target_type="case", target_id=case_id)
        db.session.commit()
    assert sign_in(people["colleague"]).status_code == 302
    response = page_post(client, "/notifications/", "/notifications/read-all", follow_redirects=True)
    assert "Đã đánh dấu 2 thông báo là đã đọc." in text_of(response)
    assert all(note.read_at is not None for note in all_notes(app))


def test_another_users_notification_is_not_found(app, client, people, sign_in):
    assigned_to_colleague(app, people)
    [note] = all_notes(app)
    assert sign_in(people["officer"]).status_code == 302
    page = text_of(client.get("/notifications/"))
    token = hidden(page, "csrf_token")
    assert client.post(f"/notifications/{note.id}/open", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/notifications/{uuid.uuid4()}/open", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/notifications/{note.id}/open").status_code == 400  # no CSRF token
    [note] = all_notes(app)
    assert note.read_at is None


def test_an_officer_taken_off_the_case_sees_nothing_of_it(app, client, people, sign_in):
    case_id = assigned_to_colleague(app, people)
    with app.app_context():
        reference = case_of(case_id).reference
        operations.unassign(case_of(case_id), people["colleague"].id, by=user_row(people["supervisor"]))
        db.session.commit()
    assert sign_in(people["colleague"]).status_code == 302
    page = text_of(client.get("/notifications/"))
    assert "Mục này không còn trong phạm vi của bạn" in page
    assert reference not in page and "Hồ sơ được giao cho bạn" not in page
    [note] = all_notes(app)
    response = client.post(f"/notifications/{note.id}/open", data={"csrf_token": hidden(page, "csrf_token")},
                           follow_redirects=True)
    assert response.request.path == "/notifications/" and reference not in text_of(response)


def test_a_supervisor_recused_after_being_told_sees_nothing_of_the_case(app, client, people, sign_in):
    case_id = review(app, people, recused_number=False)
    with app.app_context():
        submit_conclusion(case_of(case_id), by=user_row(people["officer"]))
        reference = case_of(case_id).reference
        number = case_of(case_id).subject.id_number
        db.session.commit()
    assert notes(app, people["province"]) == [(service.APPROVAL_AWAITING, "case")]
    with app.app_context():  # the province's supervisor turns out to be the person reviewed
        user_row(people["province"]).citizen_index = access.citizen_index(number)
        db.session.commit()
    assert sign_in(people["province"]).status_code == 302
    page = text_of(client.get("/notifications/"))
    assert "Mục này không còn trong phạm vi của bạn" in page and reference not in page


# --- preferences ----------------------------------------------------------------------------------

def test_preferences_save_kinds_and_the_address_and_audit_no_address(app, client, people, sign_in):
    assert sign_in(people["officer"]).status_code == 302
    page = text_of(client.get("/notifications/preferences"))
    assert "Máy chủ chưa được cấu hình gửi thư" in page
    assert selected_option(page, "kind_case_assigned") == "app"
    response = page_post(client, "/notifications/preferences", data={
        "mail_address": "can.bo@tinhuy.vn", "kind_case_assigned": "immediate", "kind_overdue": "digest",
        **{f"kind_{kind}": "app" for kind in service.KINDS if kind not in ("case_assigned", "overdue")}})
    assert response.status_code == 303, text_of(response)[:1000]
    page = text_of(client.get("/notifications/preferences"))
    assert selected_option(page, "kind_case_assigned") == "immediate"
    assert selected_option(page, "kind_overdue") == "digest"
    assert input_value(page, "mail_address") == "can.bo@tinhuy.vn"
    [changed] = audit_entries(app, "notifications.preferences")
    assert '"kinds":["case_assigned","overdue"]' in changed.detail
    [address] = audit_entries(app, "notifications.mail_address")
    assert "tinhuy" not in address.detail and "tinhuy" not in changed.detail


@pytest.mark.parametrize("changes, field", [
    ({"mail_address": "không phải địa chỉ"}, "mail_address"),
    ({"mail_address": "a@b"}, "mail_address"),
    ({"mail_address": "x" * 250 + "@tinhuy.vn"}, "mail_address"),
    ({"kind_overdue": "carrier_pigeon"}, "kind_overdue"),
])
def test_bad_preferences_are_refused_beside_the_field_with_input_kept(app, client, people, sign_in, changes, field):
    assert sign_in(people["officer"]).status_code == 302
    data = {"mail_address": "can.bo@tinhuy.vn", **{f"kind_{kind}": "immediate" for kind in service.KINDS}}
    data.update(changes)
    response = page_post(client, "/notifications/preferences", data=data)
    assert response.status_code == 200
    page = text_of(response)
    assert field_errors(page, field)
    if field == "mail_address":
        assert input_value(page, "mail_address") == changes["mail_address"]
    assert selected_option(page, "kind_case_assigned") == "immediate"
    with app.app_context():
        assert db.session.scalars(select(NotificationPreference)).all() == []
        assert db.session.scalars(select(MailAddress)).all() == []
        db.session.commit()
    assert audit_entries(app, "notifications.") == []


# --- the demo -------------------------------------------------------------------------------------

def test_the_demo_gives_its_people_addresses_choices_and_notifications_once(app, runner, client):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "Demo notification settings: 8 mail addresses and" in first.output
    with app.app_context():
        counts = (len(db.session.scalars(select(MailAddress)).all()),
                  len(db.session.scalars(select(NotificationPreference)).all()),
                  len(db.session.scalars(select(Notification)).all()))
        kinds = set(db.session.scalars(select(Notification.kind)))
        addresses = set(db.session.scalars(select(MailAddress.address)))
        db.session.commit()
    assert kinds >= {service.CASE_ASSIGNED, service.APPROVAL_AWAITING, service.CONCLUSION_RETURNED,
                     service.CONCLUSION_APPROVED, service.REQUEST_RECEIVED, service.REQUEST_ANSWERED,
                     service.BREAK_GLASS_REVIEW}
    assert all(address.endswith("@tinhuy.example") for address in addresses)
    again = runner.invoke(args=["demo"])
    assert again.exit_code == 0, again.output
    assert "Demo notification settings: 0 mail addresses and 0 delivery choices added." in again.output
    with app.app_context():
        assert (len(db.session.scalars(select(MailAddress)).all()),
                len(db.session.scalars(select(NotificationPreference)).all()),
                len(db.session.scalars(select(Notification)).all())) == counts
        db.session.commit()


def test_a_post_without_some_fields_keeps_their_choices_and_the_address(app, client, people, sign_in):
    assert sign_in(people["officer"]).status_code == 302
    everything = {"mail_address": "can.bo@tinhuy.vn", **{f"kind_{kind}": "digest" for kind in service.KINDS}}
    assert page_post(client, "/notifications/preferences", data=everything).status_code == 303
    response = page_post(client, "/notifications/preferences", data={"kind_overdue": "immediate"})
    assert response.status_code == 303
    with app.app_context():
        user = user_row(people["officer"])
        chosen = service.preferences(user)
        assert service.mail_address(user) == "can.bo@tinhuy.vn"
        db.session.commit()
    assert chosen[service.OVERDUE] == "immediate"
    officers_kinds = service.KINDS_BY_ROLE[Role.OFFICER]
    assert {chosen[kind] for kind in officers_kinds if kind != service.OVERDUE} == {"digest"}
    # Kinds an officer never receives are neither offered nor saved, whatever the POST says.
    assert {chosen[kind] for kind in service.KINDS if kind not in officers_kinds} == {service.DEFAULT_DELIVERY}


def test_each_role_is_offered_the_kinds_it_can_receive(client, people, sign_in):
    assert sign_in(people["officer"]).status_code == 302
    page = client.get("/notifications/preferences").get_data(as_text=True)
    offered = {kind for kind in service.KINDS if f'name="kind_{kind}"' in page}
    assert offered == set(service.KINDS_BY_ROLE[Role.OFFICER])
    assert service.APPROVAL_AWAITING not in offered and service.BREAK_GLASS_REVIEW not in offered
