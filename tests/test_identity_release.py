"""The two-person release of a petitioner's identity (issue 23), through the pages: the
assigned officer asks with a reason; M supervisors above the case who are not the asker
approve after re-authenticating (M by petition type); the identity then opens for that
officer and that petition only, until the release expires. Every step is audited and the
auditors review each release beside break-the-glass accesses."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from app import create_app
from audit.trail import detail_of
from cases.access.operations import citizen_index
from cases.models import IdentityRelease, IdentityReleaseApproval, Petition
from cases.notifications.models import Notification
from protection.clock import utcnow
from protection.db import db
from protection.demo import DEMO_PASSWORD
from protection.identity import SecurityKey, User
from protection.settings import ConfigurationError
from tests import factories
from tests.conftest import PASSWORD, MadeUser, audit_entries
from tests.pages import (
    PETITIONER,
    csrf_token,
    field_errors,
    page_post,
    post_form,
    receive_petition_by_form,
    text_of,
)

REASON = "Cần gặp trực tiếp người tố cáo để xác minh chứng cứ kèm theo đơn."
REFUSAL = "Chưa đủ căn cứ: hãy xác minh qua hồ sơ trước."
NAMED_ID = "038079004321"


@dataclass
class People:
    officer: MadeUser       # receives the petitions (so is assigned to them), signed in on `client`
    colleague: MadeUser     # assigned to the same petitions too, asks nothing
    first: MadeUser         # supervisors of the unit
    second: MadeUser
    recused: MadeUser       # a supervisor of the unit who is the person a petition names
    clients: dict


@pytest.fixture
def people(app, client, make_unit, make_user, sign_in) -> People:
    make_unit()
    officer = make_user("officer", display_name="Phạm Văn Đề Nghị")
    colleague = make_user("officer", display_name="Đỗ Thị Cùng Tổ")
    first = make_user("supervisor", display_name="Lê Thị Duyệt Một")
    second = make_user("supervisor", display_name="Vũ Văn Duyệt Hai")
    recused = make_user("supervisor", display_name="Ngô Văn Bị Nêu Tên")
    with app.app_context():
        factories.make_subject(factories.user_row(officer), "Ngô Văn Bị Nêu Tên", id_number=NAMED_ID)
        factories.user_row(recused).citizen_index = citizen_index(NAMED_ID)
        db.session.commit()
    assert sign_in(officer).status_code == 302
    clients = {"officer": client}
    for name, user in (("colleague", colleague), ("first", first), ("second", second), ("recused", recused)):
        clients[name] = app.test_client()
        assert sign_in(user, target=clients[name]).status_code == 302
    return People(officer, colleague, first, second, recused, clients)


def _petition(people: People, **changes) -> str:
    """A petition received by the officer through the form, the colleague assigned to it too."""
    case_id = receive_petition_by_form(people.clients["officer"], **changes)
    assert page_post(people.clients["first"], f"/cases/{case_id}", f"/cases/{case_id}/assign",
                     {"officer": str(people.colleague.id)}).status_code == 302
    return case_id


def _ask(client, case_id: str, reason: str = REASON):
    return page_post(client, f"/cases/{case_id}/identity-release", data={"reason": reason})


def _release_of(app, case_id: str) -> IdentityRelease:
    with app.app_context():
        release = db.session.scalars(select(IdentityRelease).where(IdentityRelease.case_id == uuid.UUID(case_id))
                                     .order_by(IdentityRelease.requested_at.desc())).first()
        release.approvals  # noqa: B018 - loaded while the session is open
        db.session.commit()
    return release


def _approve(client, case_id: str, release_id, secret: str = PASSWORD):
    path = f"/cases/{case_id}/identity-release/{release_id}/approve"
    return page_post(client, path, data={"secret": secret})


def _told(app, kind: str) -> set:
    with app.app_context():
        told = set(db.session.scalars(select(Notification.user_id).where(Notification.kind == kind)))
        db.session.commit()
    return told


def _last(app, action: str):
    entry = audit_entries(app, action)[-1]
    return entry, detail_of(entry)


def test_ask_approve_view_and_expiry(app, people):
    officer = people.clients["officer"]
    case_id = _petition(people, petition_type="complaint")  # one approval for a complaint
    other_case = _petition(people, petition_type="complaint")

    # No release: the identity page sends the officer to ask, and the attempt is on the trail.
    response = officer.get(f"/cases/{case_id}/petitioner")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/cases/{case_id}/identity-release")
    page = text_of(officer.get(response.headers["Location"]))
    assert PETITIONER not in page and "chỉ mở khi có đề nghị" in page
    entry, detail = _last(app, "petition.petitioner_view")
    assert entry.outcome == "denied" and detail["reason"] == "no_release"

    # An empty reason is refused beside the field; nothing is asked.
    response = _ask(officer, case_id, reason="   ")
    assert response.status_code == 200 and field_errors(text_of(response), "reason")
    assert factories.count_rows(app, IdentityRelease) == 0
    assert _ask(officer, case_id).status_code == 302
    release = _release_of(app, case_id)
    assert (release.state, release.required_approvals, release.requested_by_id) == ("asked", 1, people.officer.id)
    assert "Chờ phê duyệt" in text_of(officer.get(f"/cases/{case_id}/identity-release"))
    assert _last(app, "identity_release.ask")[1]["required"] == 1
    # Asking twice while the first waits is refused.
    response = _ask(officer, case_id)
    assert response.status_code == 200 and "đang chờ phê duyệt" in field_errors(text_of(response), "reason")

    # The supervisors who may approve are told, and find the ask on their list.
    assert {people.first.id, people.second.id} <= _told(app, "identity_release_awaiting")
    first = people.clients["first"]
    waiting = text_of(first.get("/cases/identity-releases"))
    assert factories.stored_case(app, case_id)["reference"] in waiting and PETITIONER not in waiting

    # The approval page shows the asker's reason, and records the read.
    assert REASON in text_of(first.get(f"/cases/{case_id}/identity-release/{release.id}/approve"))
    entry, detail = _last(app, "case.view")
    assert (entry.actor_id, entry.target_id, detail["part"]) == (people.first.id, case_id, "identity_release_approval")
    # A wrong re-authentication is refused, counted and audited; nothing changes.
    response = _approve(first, case_id, release.id, secret="khong-phai-mat-khau")
    assert response.status_code == 200 and field_errors(text_of(response), "secret")
    assert _release_of(app, case_id).state == "asked"
    entry, detail = _last(app, "identity_release.approve")
    assert entry.outcome == "failure" and detail["reason"] == "reauth_failed"
    assert _last(app, "auth.recheck.failed")[1].get("purpose") == "identity_release_approval"

    assert _approve(first, case_id, release.id).status_code == 302
    released = _release_of(app, case_id)
    assert released.state == "released" and [a.approver_id for a in released.approvals] == [people.first.id]
    assert timedelta(hours=23, minutes=59) < released.expires_at - released.released_at <= timedelta(hours=24)
    assert _last(app, "identity_release.approve")[1]["released"] is True

    # The identity opens for the asker, on that petition, saying who released it and until when.
    page = text_of(officer.get(f"/cases/{case_id}/petitioner"))
    assert PETITIONER in page and "Lê Thị Duyệt Một" in page and "Phạm Văn Đề Nghị" in page
    entry, detail = _last(app, "petition.petitioner_view")
    assert entry.outcome == "success" and detail["release"] == str(released.id)
    # ...not for another officer of the same petition, nor for the approver, nor on another petition.
    for client, path in ((people.clients["colleague"], f"/cases/{case_id}/petitioner"),
                         (first, f"/cases/{case_id}/petitioner"), (officer, f"/cases/{other_case}/petitioner")):
        response = client.get(path)
        assert response.status_code == 302 and PETITIONER not in text_of(client.get(response.headers["Location"]))
    # ...and a release of one petition is not found under another's address.
    assert first.get(f"/cases/{other_case}/identity-release/{released.id}/approve").status_code == 404

    # Past its time it stops opening: refused with a clear message, the expiry recorded.
    with app.app_context():
        db.session.execute(update(IdentityRelease).where(IdentityRelease.id == released.id)
                           .values(expires_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
    response = officer.get(f"/cases/{case_id}/petitioner", follow_redirects=True)
    page = text_of(response)
    assert PETITIONER not in page and "đã hết" in page
    assert _release_of(app, case_id).state == "expired"
    assert _last(app, "identity_release.expire")[1]["was"] == "released"
    entry, detail = _last(app, "petition.petitioner_view")
    assert entry.outcome == "denied" and detail["reason"] == "expired"


def test_a_denunciation_needs_two_different_supervisors_and_nobody_approves_alone(app, people):
    officer, first, second = people.clients["officer"], people.clients["first"], people.clients["second"]
    case_id = _petition(people, subject_id_numbers=NAMED_ID)  # a denunciation naming the recused supervisor
    assert _ask(officer, case_id).status_code == 302
    release = _release_of(app, case_id)
    assert release.required_approvals == 2
    assert people.recused.id not in _told(app, "identity_release_awaiting")

    assert _approve(first, case_id, release.id).status_code == 302
    assert _release_of(app, case_id).state == "asked"
    assert PETITIONER not in text_of(officer.get(f"/cases/{case_id}/petitioner", follow_redirects=True))
    # Approving twice does not count twice.
    response = _approve(first, case_id, release.id)
    assert response.status_code == 200 and "Bạn đã phê duyệt" in field_errors(text_of(response), "secret")
    entry, detail = _last(app, "identity_release.approve")
    assert entry.outcome == "denied" and detail["reason"] == "already_approved"
    # A supervisor the petition names neither sees nor approves it.
    assert people.clients["recused"].get(f"/cases/{case_id}/identity-release/{release.id}/approve").status_code == 404
    assert _approve(people.clients["recused"], case_id, release.id).status_code == 404
    assert len(_release_of(app, case_id).approvals) == 1

    assert _approve(second, case_id, release.id).status_code == 302
    released = _release_of(app, case_id)
    assert released.state == "released" and len(released.approvals) == 2
    assert PETITIONER in text_of(officer.get(f"/cases/{case_id}/petitioner"))

    # A supervisor may ask too, but never approves their own ask; another may refuse it.
    other = _petition(people)
    assert _ask(first, other).status_code == 302
    own = _release_of(app, other)
    response = _approve(first, other, own.id)
    assert response.status_code == 200 and "chính mình" in field_errors(text_of(response), "secret")
    entry, detail = _last(app, "identity_release.approve")
    assert entry.outcome == "denied" and detail["reason"] == "own_ask"
    assert factories.count_rows(app, IdentityReleaseApproval) == 2
    response = page_post(second, f"/cases/{other}/identity-release/{own.id}/approve",
                         f"/cases/{other}/identity-release/{own.id}/refuse", {"note": REFUSAL})
    assert response.status_code == 302
    refused = _release_of(app, other)
    assert (refused.state, refused.closed_by_id, refused.refusal) == ("refused", people.second.id, REFUSAL)
    assert REFUSAL in text_of(first.get(f"/cases/{other}/identity-release"))

    # The officer withdraws an ask of their own; nobody else can.
    third = _petition(people)
    assert _ask(officer, third).status_code == 302
    ask = _release_of(app, third)
    path = f"/cases/{third}/identity-release/{ask.id}/withdraw"
    assert post_form(people.clients["colleague"], path, token_from=f"/cases/{third}").status_code == 302
    assert _release_of(app, third).state == "asked"
    assert post_form(officer, path, token_from=f"/cases/{third}/identity-release").status_code == 302
    assert _release_of(app, third).state == "withdrawn"
    assert _last(app, "identity_release.withdraw")[0].outcome == "success"


def test_an_ask_not_approved_in_time_lapses(app, people, runner):
    officer = people.clients["officer"]
    case_id = _petition(people, petition_type="complaint")
    assert _ask(officer, case_id).status_code == 302
    release = _release_of(app, case_id)
    with app.app_context():
        db.session.execute(update(IdentityRelease).where(IdentityRelease.id == release.id)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    # The periodic run records the expiry even though nobody looked...
    result = runner.invoke(args=["notify", "send-due"])
    assert result.exit_code == 0, result.output
    assert "expired 1 identity release" in result.output
    assert _release_of(app, case_id).state == "expired"
    # ...and an approval that comes too late is refused, audited.
    response = _approve(people.clients["first"], case_id, release.id)
    assert response.status_code == 200 and "không còn chờ" in field_errors(text_of(response), "secret")
    assert _release_of(app, case_id).approvals == []
    # The officer may ask again.
    assert _ask(officer, case_id).status_code == 302


def test_the_setting_names_real_petition_types(app_config):
    app_config["HOSO_IDENTITY_RELEASE_APPROVALS"] = "denunciaton=2,*=1"
    with pytest.raises(ConfigurationError) as raised:
        create_app(app_config)
    assert "denunciaton" in str(raised.value) and "\n" not in str(raised.value)
    app_config["HOSO_IDENTITY_RELEASE_APPROVALS"] = {"complaint": 3, "*": 1}
    configured = create_app(app_config)
    assert configured.config["HOSO_IDENTITY_RELEASE_APPROVALS"] == {"complaint": 3, "*": 1}
    with configured.app_context():
        db.engine.dispose()


def test_auditors_review_releases_beside_break_glass(app, people, make_user, sign_in):
    case_id = _petition(people)
    reference = factories.stored_case(app, case_id)["reference"]
    release_id = factories.release_identity(app, case_id, asker=people.officer, approvers=[people.first, people.second])
    assert PETITIONER in text_of(people.clients["officer"].get(f"/cases/{case_id}/petitioner"))
    auditor_user = make_user("auditor")
    auditor = app.test_client()
    assert sign_in(auditor_user, target=auditor).status_code == 302

    page = text_of(auditor.get("/access/identity-releases"))
    row = re.search(rf"<tr>\s*<td[^>]*>{reference}</td>.*?</tr>", page, re.S).group(0)
    for shown in ("Phạm Văn Đề Nghị", "Lê Thị Duyệt Một", "Vũ Văn Duyệt Hai", "Đã mở", "Có lý do chính đáng"):
        assert shown in row
    assert PETITIONER not in page and "Truy cập khẩn cấp" in page  # the two queues side by side
    assert _last(app, "identity_release.list")[1] == {"pending_only": True, "results": 1}

    path = f"/access/identity-releases/{release_id}/review"
    assert post_form(auditor, path, {"decision": "maybe"}, token_from="/access/identity-releases").status_code == 302
    assert _release_of(app, case_id).review is None
    assert post_form(auditor, path, {"decision": "justified"}, token_from="/access/identity-releases").status_code == 302
    reviewed = _release_of(app, case_id)
    assert (reviewed.review, reviewed.reviewed_by_id) == ("justified", auditor_user.id)
    assert post_form(auditor, path, {"decision": "unjustified"}, token_from="/access/identity-releases",
                     follow_redirects=True).status_code == 200
    assert _release_of(app, case_id).review == "justified"
    assert _last(app, "identity_release.review")[1]["decision"] == "justified"
    assert reference not in text_of(auditor.get("/access/identity-releases"))  # reviewed: off the pending list
    assert reference in text_of(auditor.get("/access/identity-releases?show=all"))


def test_the_identity_shows_nowhere_else_even_when_released(app, people):
    """With a live release, the petitioner still appears only on the identity page: not on
    the case page, the lists, the ask and approval pages, or the notifications."""
    officer, first = people.clients["officer"], people.clients["first"]
    case_id = _petition(people)
    release_id = factories.release_identity(app, case_id, asker=people.officer, approvers=[people.first, people.second])
    assert PETITIONER in text_of(officer.get(f"/cases/{case_id}/petitioner"))
    for client, path in ((officer, f"/cases/{case_id}"), (officer, "/cases/"), (officer, "/"),
                         (officer, f"/cases/{case_id}/identity-release"), (officer, "/notifications/"),
                         (first, f"/cases/{case_id}"), (first, "/cases/?view=unit"), (first, "/cases/identity-releases"),
                         (first, f"/cases/{case_id}/identity-release/{release_id}/approve")):
        response = client.get(path)
        assert response.status_code == 200, path
        assert PETITIONER not in text_of(response), path


# --- the identity shows nowhere else -------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
# Where the petitioner's fields may be named: the model, the intake (form, operation, view that
# builds its data), the demo that invents them, and the identity page itself.
MAY_NAME_THE_PETITIONER = {"cases/models.py", "cases/petitions/forms.py", "cases/petitions/operations.py",
                           "cases/petitions/views.py", "cases/demo/seed.py", "templates/petitions/form.html",
                           "templates/petitions/petitioner.html"}


def test_no_list_export_print_api_or_package_reads_the_petitioner():
    """Every list, export, print, API answer and exchange package is built in cases/ and
    templates/: none of them names the petitioner's fields."""
    naming = {str(path.relative_to(ROOT)) for folder in ("cases", "protection", "audit", "templates")
              for path in (ROOT / folder).rglob("*") if path.suffix in (".py", ".html", ".txt", ".csv")
              and re.search(r"petitioner_(name|address|contact)", path.read_text(encoding="utf-8"))}
    assert naming == MAY_NAME_THE_PETITIONER
    views = (ROOT / "cases/petitions/views.py").read_text(encoding="utf-8")
    assert views.count('render_template("petitions/petitioner.html"') == 1


def _demo_client(app, sign_in, username: str):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        made = MadeUser(user.id, user.username, DEMO_PASSWORD, user.role.value, user.unit.code, user.totp_secret)
        db.session.commit()
    browser = app.test_client()
    assert sign_in(made, target=browser).status_code == 302
    return browser


def test_the_demo_petitioners_show_only_on_the_released_identity_page(app, runner, sign_in):
    assert runner.invoke(args=["demo"]).exit_code == 0
    with app.app_context():
        names = {str(petition.case_id): petition.petitioner_name
                 for petition in db.session.scalars(select(Petition)) if petition.petitioner_name}
        released = {(str(item.case_id), item.requested_by.username)
                    for item in db.session.scalars(select(IdentityRelease).where(IdentityRelease.state == "released"))}
        asked = db.session.scalar(select(func.count()).select_from(IdentityRelease)
                                  .where(IdentityRelease.state == "asked"))
        db.session.commit()
    assert len(released) == 1 and asked == 1  # the demo shows both
    lists = {"canbo.an": ["/", "/cases/?view=mine", "/cases/?view=unit", "/notifications/"],
             "canbo.binh": ["/", "/cases/?view=mine", "/notifications/"],
             "lanhdao.minh": ["/", "/cases/?view=unit", "/cases/?view=approval", "/cases/identity-releases",
                              "/notifications/", "/subjects/export.csv", "/reports/export.csv"],
             "kiemtra.ha": ["/access/identity-releases?show=all", "/audit/?per_page=200", "/audit/export.csv"]}
    openings = 0
    for username, paths in lists.items():
        browser = _demo_client(app, sign_in, username)
        per_case = [f"/cases/{case_id}{tail}" for case_id in names for tail in ("", "/identity-release", "/petitioner")]
        for path in paths + (per_case if username != "kiemtra.ha" else []):
            response = browser.get(path)
            assert response.status_code < 500, path
            body = text_of(response)
            opened = (path.endswith("/petitioner") and response.status_code == 200
                      and (path.split("/")[2], username) in released)
            shown = [name for name in names.values() if name in body]
            if opened:
                assert names[path.split("/")[2]] in body, path
                openings += 1
            else:
                assert not shown, (username, path, shown)
    assert openings == 1  # the one release the demo gave opened for its officer, and for nobody else


def _register_key(app, user: MadeUser) -> factories.SoftKey:
    """A software key registered for `user` as the registration page would keep it."""
    key = factories.SoftKey()
    with app.app_context():
        db.session.add(SecurityKey(user_id=user.id, name="Khóa USB", credential_id=key.credential_id,
                                   public_key=key.cose_public_key(), sign_count=0))
        db.session.commit()
    return key


def _key_options(client, case_id: str, release_id, purpose: str = "identity_release_approval") -> str:
    page = f"/cases/{case_id}/identity-release/{release_id}/approve"
    response = client.post("/login/key-options", data={"csrf_token": csrf_token(client, page),
                                                       "purpose": purpose, "target": str(release_id)})
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_a_security_key_approves_only_the_release_its_answer_was_made_for(app, people):
    """Approval with a key: the answer is bound to this action and this release. One made for
    another release, or for another action on this one, is refused, counted and audited;
    nothing is approved until the right answer comes."""
    first_case, second_case = _petition(people), _petition(people)
    for case_id in (first_case, second_case):
        assert _ask(people.clients["officer"], case_id).status_code == 302
    first, second = _release_of(app, first_case), _release_of(app, second_case)
    key = _register_key(app, people.first)
    supervisor = people.clients["first"]

    made_for_second = key.assertion(_key_options(supervisor, second_case, second.id))
    _key_options(supervisor, first_case, first.id)  # the challenge the first release's page handed out
    refused = page_post(supervisor, f"/cases/{first_case}/identity-release/{first.id}/approve",
                        data={"secret": "", "assertion": made_for_second})
    assert refused.status_code == 200
    assert "khóa bảo mật" in text_of(refused).lower()
    made_for_purge = key.assertion(_key_options(supervisor, first_case, first.id, purpose="case_purge"))
    refused = page_post(supervisor, f"/cases/{first_case}/identity-release/{first.id}/approve",
                        data={"secret": "", "assertion": made_for_purge})
    assert refused.status_code == 200
    assert _release_of(app, first_case).state == "asked" and not _release_of(app, first_case).approvals
    failures = [detail_of(entry) for entry in audit_entries(app, "auth.recheck.failed")]
    assert [d.get("purpose") for d in failures][-2:] == ["identity_release_approval"] * 2

    answer = key.assertion(_key_options(supervisor, first_case, first.id))
    done = page_post(supervisor, f"/cases/{first_case}/identity-release/{first.id}/approve",
                     data={"secret": "", "assertion": answer})
    assert done.status_code == 302, text_of(done)[:400]
    assert [a.approver_id for a in _release_of(app, first_case).approvals] == [people.first.id]
    used = detail_of(audit_entries(app, "auth.security_key.used")[-1])
    assert used["purpose"] == "identity_release_approval" and used["record"] == str(first.id)
