"""The guidance library (issue 24 A.3), through the pages: a supervisor of the provincial
committee publishes guidance to the units below it, with versions, files and read receipts
for required reading; readers are the officers and supervisors of the publishing unit and of
the units below it, never a sibling district, a unit above, nor a partner body's liaison.

The scene: BTCTU above HUYEN-A and HUYEN-B (siblings); BTGTU, another provincial unit; DUCA,
a partner body with a liaison."""

from __future__ import annotations

import io
import json
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pypdfium2
import pytest
from sqlalchemy import func, select, text

from audit.models import AuditEntry
from cases.notifications.models import Notification
from cases.oversight import guidance as guidance_ops
from cases.oversight.models import Guidance, GuidanceReceipt, GuidanceVersion, OversightFile
from protection.accounts import find_user
from protection.blobs import Blob
from protection.db import db
from tests.conftest import MadeUser, audit_entries
from tests.pages import (
    PDF,
    assert_labelled,
    day_text,
    field_errors,
    hidden,
    input_value,
    org_today,
    page_post,
    text_of,
)

TITLE = "Hướng dẫn thẩm định tiêu chuẩn chính trị khi bổ nhiệm cán bộ năm 2027"
NOTE = "Bổ sung quy trình xác minh qua cơ quan phối hợp"
SECOND_NOTE = "Sửa biểu mẫu số 3 theo Quy định 126"
FILE_NAME = "huong-dan-tham-dinh-2027.pdf"
SECOND_PDF = b"%PDF-1.4\n% mau bieu 02\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
DISGUISED = b"<html><body><script>alert('x')</script></body></html>"
UNREAD = "\">chưa đọc</span>"  # the library's mark (the bell says "chưa đọc" too)
ID_LINK = re.compile(r"^/oversight/guidance/([0-9a-f-]{36})$")


@dataclass
class Scene:
    publisher: MadeUser   # supervisor of BTCTU
    officer_top: MadeUser  # officer of BTCTU
    district_boss: MadeUser  # supervisor of HUYEN-A
    officer_a: MadeUser   # officer of HUYEN-A
    officer_b: MadeUser   # officer of HUYEN-B (sibling of HUYEN-A)
    other: MadeUser       # officer of BTGTU (another provincial unit)
    liaison: MadeUser     # liaison of DUCA
    clients: dict

    def __call__(self, who: MadeUser):
        return self.clients[who.username]


@pytest.fixture
def scene(app, make_unit, make_user, sign_in) -> Scene:
    make_unit()
    make_unit("HUYEN-A", "Huyện ủy Sơn Hà", kind="district", parent="BTCTU")
    make_unit("HUYEN-B", "Thị ủy Bình Minh", kind="district", parent="BTCTU")
    make_unit("BTGTU", "Ban Tuyên giáo Tỉnh ủy", kind="propaganda")
    make_unit("DUCA", "Đảng ủy Công an tỉnh", kind="police")
    people = {
        "publisher": make_user("supervisor", display_name="Phạm Quang Ban Hành"),
        "officer_top": make_user("officer", display_name="Nguyễn Văn Tỉnh"),
        "district_boss": make_user("supervisor", unit="HUYEN-A", display_name="Hoàng Thị Huyện"),
        "officer_a": make_user("officer", unit="HUYEN-A", display_name="Lê Văn Sơn Hà"),
        "officer_b": make_user("officer", unit="HUYEN-B", display_name="Trần Thị Bình Minh"),
        "other": make_user("officer", unit="BTGTU", display_name="Đinh Văn Tuyên Giáo"),
        "liaison": make_user("liaison", unit="DUCA", display_name="Đặng Thị Phối Hợp"),
    }
    clients = {}
    for user in people.values():
        clients[user.username] = app.test_client()
        assert sign_in(user, target=clients[user.username]).status_code == 302
    return Scene(**people, clients=clients)


def publish(client, *, title=TITLE, files=None, required="y", effective=None, kind="instruction", note=NOTE):
    data = {"kind": kind, "title": title, "effective_on": effective or day_text(0), "note": note,
            "files": files if files is not None else [(io.BytesIO(PDF), FILE_NAME),
                                                       (io.BytesIO(SECOND_PDF), "mau-bieu-02.pdf")]}
    if required:
        data["required_reading"] = required
    return page_post(client, "/oversight/guidance/new", data=data, content_type="multipart/form-data")


def published_id(response) -> str:
    assert response.status_code == 302, text_of(response)[:3000]
    match = ID_LINK.match(response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def new_version(client, guidance_id, *, effective, note=SECOND_NOTE, files=None):
    path = f"/oversight/guidance/{guidance_id}/versions/new"
    return page_post(client, path, data={
        "effective_on": effective, "note": note,
        "files": files if files is not None else [(io.BytesIO(SECOND_PDF), "huong-dan-sua-doi.pdf")]},
        content_type="multipart/form-data")


def confirm_read(client, guidance_id):
    page = client.get(f"/oversight/guidance/{guidance_id}").get_data(as_text=True)
    action = re.search(r'action="(/oversight/guidance/[^"]+/read)"', page)
    assert action, "no read button"
    return page_post(client, f"/oversight/guidance/{guidance_id}", action.group(1))


def details(app, action):
    return [json.loads(entry.detail) for entry in audit_entries(app, action)]


def notified(app, user):
    with app.app_context():
        rows = db.session.scalars(select(Notification).where(Notification.user_id == user.id,
                                                             Notification.kind == "guidance_to_read")).all()
        result = [(row.target_type, row.reference) for row in rows]
        db.session.commit()
    return result


def test_publish_stores_sealed_notifies_the_readers_and_audits_ids_only(app, scene):
    guidance_id = published_id(publish(scene(scene.publisher)))

    with app.app_context():
        guidance = db.session.get(Guidance, uuid.UUID(guidance_id))
        assert (guidance.title, guidance.kind, guidance.required_reading) == (TITLE, "instruction", True)
        version = guidance.versions[0]
        assert (version.number, version.effective_on, version.note) == (1, org_today(), NOTE)
        names = sorted(item.blob.filename for item in version.files)
        assert names == sorted([FILE_NAME, "mau-bieu-02.pdf"])
        # Sealed under the guidance's own key: its dependants and its files follow it.
        assert {item.blob.data_key_id for item in version.files} == {guidance.data_key_id} == {version.data_key_id}
        raw = b"".join(bytes(value or b"") if not isinstance(value, str) else value.encode()
                       for row in db.session.execute(text(
                           "SELECT g.title, v.note, b.filename, b.content FROM guidance g "
                           "JOIN guidance_versions v ON v.guidance_id = g.id "
                           "JOIN oversight_files f ON f.guidance_version_id = v.id JOIN blobs b ON b.id = f.blob_id"))
                       for value in row)
        db.session.commit()
    for secret in (TITLE, NOTE, FILE_NAME):
        assert secret.encode() not in raw
    assert b"%PDF-1.4" not in raw

    entry = details(app, "guidance.publish")
    assert entry == [{"effective_on": org_today().isoformat(), "files": 2, "kind": "instruction", "required": True,
                      "unit": "BTCTU", "version": 1}]
    with app.app_context():
        trail = " ".join(row.detail for row in db.session.scalars(select(AuditEntry)))
        db.session.commit()
    assert TITLE not in trail and FILE_NAME not in trail

    # Every reader but the publisher hears of it, by the unit's code; nobody outside.
    for reader in (scene.officer_top, scene.district_boss, scene.officer_a, scene.officer_b):
        assert notified(app, reader) == [("guidance", "BTCTU")]
    for outsider in (scene.publisher, scene.other, scene.liaison):
        assert notified(app, outsider) == []
    listing = text_of(scene(scene.officer_a).get("/notifications/"))
    assert "Đơn vị đã ban hành hướng dẫn nghiệp vụ mới cần đọc" in listing and TITLE not in listing
    with app.app_context():
        notification_id = db.session.scalar(select(Notification.id).where(Notification.user_id == scene.officer_a.id))
        db.session.commit()
    opened = page_post(scene(scene.officer_a), "/notifications/", f"/notifications/{notification_id}/open")
    assert opened.headers["Location"].endswith(f"/oversight/guidance/{guidance_id}")


def test_scope_down_the_tree_only(app, scene):
    top = published_id(publish(scene(scene.publisher)))
    district_title = "Hướng dẫn riêng của Huyện ủy Sơn Hà về lưu trữ hồ sơ"
    district = published_id(publish(scene(scene.district_boss), title=district_title, required=None,
                                    kind="form_template"))

    # The unit above's guidance is seen below, in both districts, and in the unit itself.
    for reader in (scene.officer_top, scene.district_boss, scene.officer_a, scene.officer_b):
        assert TITLE in text_of(scene(reader).get("/oversight/guidance/"))
        assert scene(reader).get(f"/oversight/guidance/{top}").status_code == 200
    # A district's guidance: its own people only, never the sibling district nor the unit above.
    assert district_title in text_of(scene(scene.officer_a).get("/oversight/guidance/"))
    for outsider in (scene.officer_b, scene.officer_top, scene.publisher, scene.other):
        assert district_title not in text_of(scene(outsider).get("/oversight/guidance/"))
        response = scene(outsider).get(f"/oversight/guidance/{district}")
        assert response.status_code == 404 and district_title not in text_of(response)
    assert scene(scene.other).get(f"/oversight/guidance/{top}").status_code == 404
    assert scene(scene.liaison).get("/oversight/guidance/").status_code == 403
    assert scene(scene.liaison).get(f"/oversight/guidance/{top}").status_code == 403

    # The kind filter.
    page = text_of(scene(scene.officer_a).get("/oversight/guidance/?kind=form_template"))
    assert district_title in page and TITLE not in page
    denials = [json.loads(entry.detail)["status"] for entry in audit_entries(app, "access.denied")
               if json.loads(entry.detail).get("endpoint") == "oversight.guidance_view"
               and entry.actor_id != scene.liaison.id]
    assert denials == [404] * 5  # four outsiders, then BTGTU's officer on the provincial item
    # Only the publishing unit's supervisors change it.
    assert scene(scene.district_boss).get(f"/oversight/guidance/{top}/versions/new").status_code == 403
    assert scene(scene.officer_a).get(f"/oversight/guidance/{top}/readers").status_code == 403
    assert scene(scene.publisher).get(f"/oversight/guidance/{district}/withdraw").status_code == 404


def test_read_receipts_per_version_and_who_has_read(app, scene):
    guidance_id = published_id(publish(scene(scene.publisher)))
    reader = scene(scene.officer_a)
    assert UNREAD in text_of(reader.get("/oversight/guidance/"))

    assert confirm_read(reader, guidance_id).status_code == 302
    page = text_of(reader.get(f"/oversight/guidance/{guidance_id}"))
    assert "Bạn đã xác nhận đọc phiên bản 1" in page
    assert UNREAD not in text_of(reader.get("/oversight/guidance/"))
    # One receipt per user and version: a second POST is refused, nothing added.
    with app.app_context():
        version_id = db.session.scalar(select(GuidanceVersion.id).where(GuidanceVersion.guidance_id == uuid.UUID(guidance_id)))
        db.session.commit()
    again = page_post(reader, "/oversight/guidance/", f"/oversight/guidance/{guidance_id}/versions/{version_id}/read",
                      follow_redirects=True)
    assert "Bạn đã xác nhận đọc phiên bản này." in text_of(again)
    assert details(app, "guidance.read") == [{"version": 1}]

    # Who has read: per version, the receipts and who is still to confirm, by unit.
    readers = text_of(scene(scene.publisher).get(f"/oversight/guidance/{guidance_id}/readers"))
    assert "Đã xác nhận: 1 · Chưa xác nhận: 4" in readers
    assert "Lê Văn Sơn Hà" in readers and "Thị ủy Bình Minh" in readers
    assert "Đinh Văn Tuyên Giáo" not in readers and "Đặng Thị Phối Hợp" not in readers
    assert len(audit_entries(app, "guidance.readers")) == 1

    # A new version asks again, and tells the readers again.
    assert new_version(scene(scene.publisher), guidance_id, effective=day_text(10)).status_code == 302
    assert UNREAD in text_of(reader.get("/oversight/guidance/"))
    assert len(notified(app, scene.officer_a)) == 2
    assert confirm_read(reader, guidance_id).status_code == 302
    readers = text_of(scene(scene.publisher).get(f"/oversight/guidance/{guidance_id}/readers"))
    assert readers.count("Đã xác nhận: 1 · Chưa xác nhận: 4") == 2
    # Version 2 takes effect in ten days: version 1 stays the one in effect until then.
    page = text_of(reader.get(f"/oversight/guidance/{guidance_id}"))
    assert "Sắp có hiệu lực" in page and SECOND_NOTE in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(GuidanceReceipt)) == 2
        db.session.commit()
    assert details(app, "guidance.new_version") == [{"effective_on": (org_today() + timedelta(days=10)).isoformat(),
                                                     "files": 1, "version": 2}]


def test_form_errors_keep_the_input_and_write_nothing(app, scene):
    client = scene(scene.publisher)
    response = publish(client, title="", files=[])
    page = text_of(response)
    assert response.status_code == 200
    assert field_errors(page, "title") and field_errors(page, "files") == "Hãy đính kèm ít nhất một tệp."
    assert NOTE in page  # the note typed is kept

    response = publish(client, files=[(io.BytesIO(PDF), "ok.pdf"), (io.BytesIO(DISGUISED), "quy-dinh.pdf")])
    page = text_of(response)
    assert response.status_code == 200
    assert "kiểm tra theo nội dung tệp" in field_errors(page, "files")
    assert input_value(page, "title") == TITLE

    response = publish(client, effective="31/02/2027")
    assert field_errors(text_of(response), "effective_on") == "Ngày không hợp lệ. Nhập theo dạng dd/mm/yyyy."
    with app.app_context():
        counts = [db.session.scalar(select(func.count()).select_from(model))
                  for model in (Guidance, GuidanceVersion, OversightFile, Blob)]
        db.session.commit()
    assert counts == [0, 0, 0, 0]
    assert audit_entries(app, "guidance.publish") == []

    guidance_id = published_id(publish(client, effective=day_text(5)))
    response = new_version(client, guidance_id, effective=day_text(4))
    page = text_of(response)
    assert response.status_code == 200
    assert field_errors(page, "effective_on") == (
        f"Ngày có hiệu lực không được trước ngày có hiệu lực của phiên bản trước ({day_text(5)}).")
    assert SECOND_NOTE in page
    response = new_version(client, guidance_id, effective=day_text(5), files=[(io.BytesIO(DISGUISED), "x.pdf")])
    assert "kiểm tra theo nội dung tệp" in field_errors(text_of(response), "files")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(GuidanceVersion)) == 1
        assert db.session.scalar(select(func.count()).select_from(Blob)) == 2
        db.session.commit()

    # The same form sent twice (a double click): one item, the second answer leads to it.
    page = client.get("/oversight/guidance/new").get_data(as_text=True)
    assert_labelled(page)
    assert 'enctype="multipart/form-data"' in page
    assert_labelled(client.get("/oversight/guidance/").get_data(as_text=True))
    tokens = {name: hidden(page, name) for name in ("csrf_token", "form_token")}
    answers = [client.post("/oversight/guidance/new", content_type="multipart/form-data", data={
        **tokens, "kind": "regulation", "title": "Quy định gửi hai lần", "effective_on": day_text(0),
        "files": [(io.BytesIO(PDF), "a.pdf")]}) for _twice in range(2)]
    assert [answer.status_code for answer in answers] == [302, 302]
    assert answers[0].headers["Location"] == answers[1].headers["Location"]
    assert len(audit_entries(app, "guidance.publish")) == 2


def test_download_is_audited_and_withdrawal_asks_for_confirmation(app, scene):
    guidance_id = published_id(publish(scene(scene.publisher)))
    reader = scene(scene.officer_b)
    page = reader.get(f"/oversight/guidance/{guidance_id}").get_data(as_text=True)
    link = re.search(rf'href="(/oversight/guidance/{guidance_id}/files/[0-9a-f-]{{36}})">{FILE_NAME}<', page)
    response = reader.get(link.group(1))
    assert response.status_code == 200 and response.data == PDF
    assert response.headers["Content-Disposition"].startswith("attachment;")
    entry = audit_entries(app, "guidance.download")[-1]
    assert (entry.actor_id, entry.target_type, entry.target_id) == (scene.officer_b.id, "guidance", guidance_id)
    assert json.loads(entry.detail)["version"] == 1
    assert reader.get(f"/oversight/guidance/{guidance_id}/files/{guidance_id}").status_code == 404
    views = [json.loads(entry.detail) for entry in audit_entries(app, "guidance.view")]
    assert {"part": "page"} in views

    client = scene(scene.publisher)
    refused = page_post(client, f"/oversight/guidance/{guidance_id}/withdraw")
    assert refused.status_code == 200
    assert field_errors(text_of(refused), "confirm") == "Hãy đánh dấu để xác nhận bãi bỏ."
    done = page_post(client, f"/oversight/guidance/{guidance_id}/withdraw", data={"confirm": "y"})
    assert done.status_code == 302
    assert details(app, "guidance.withdraw") == [{"versions": 1, "withdrawn_on": org_today().isoformat()}]
    assert TITLE not in text_of(reader.get("/oversight/guidance/"))
    assert TITLE in text_of(reader.get("/oversight/guidance/?withdrawn=y"))
    page = text_of(reader.get(f"/oversight/guidance/{guidance_id}"))
    assert "Tôi đã đọc phiên bản này" not in page and "Đã bãi bỏ" in page
    refused = new_version(client, guidance_id, effective=day_text(3))
    assert refused.status_code == 200 and "Hướng dẫn này đã bị bãi bỏ." in text_of(refused)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(GuidanceVersion)) == 1
        db.session.commit()


def test_the_demo_publishes_guidance_with_versions_files_and_a_receipt(app, runner):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "Demo guidance: 3 items published by BTCTU, one read receipt (lanhdao.lan)." in first.output
    with app.app_context():
        items = db.session.scalars(select(Guidance).order_by(Guidance.created_at)).all()
        assert sorted(item.kind for item in items) == ["form_template", "instruction", "regulation"]
        assert {item.unit.code for item in items} == {"BTCTU"}
        assert sorted(len(item.versions) for item in items) == [1, 1, 2]
        two = next(item for item in items if len(item.versions) == 2)
        assert two.versions[0].effective_on < two.versions[1].effective_on
        for item in items:
            for version in item.versions:
                assert version.files
                for stored in version.files:
                    document = pypdfium2.PdfDocument(stored.blob.content)
                    assert len(document) == 1
                    document.close()
        receipts = db.session.scalars(select(GuidanceReceipt)).all()
        assert [receipt.user.username for receipt in receipts] == ["lanhdao.lan"]
        required = [item for item in items if item.required_reading]
        assert len(required) == 1 and receipts[0].version_id == required[0].versions[-1].id
        unread = {username: guidance_ops.unread_count(find_user(username))
                  for username in ("lanhdao.lan", "canbo.son", "phoihop.congan")}
        db.session.commit()
    assert unread == {"lanhdao.lan": 0, "canbo.son": 1, "phoihop.congan": 0}
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0, second.output
    assert "Demo guidance: already there." in second.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Guidance)) == 3
        db.session.commit()
