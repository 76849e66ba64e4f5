"""Reading a scan in the browser (issue 24 B.3, B.4), on the `archive` blueprint: the reader
page (one page image at a time, previous/next and a page picker, the page's recognised text
beside it), the watermarked page image, and the button that recognises a scan's text now.
The rules are cases/archive/reader.py and protection/policy.py (can_read_scan)."""

from __future__ import annotations

import uuid

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from cases.archive import ocr, reader, rendering
from cases.archive.blueprint import archive_bp
from cases.archive.reader_forms import RecogniseForm, recognition_state
from protection import policy
from protection.errors import render_error
from protection.forms import require_submitted
from protection.marking import mark_page_classification
from protection.policy import permission


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and len(raw) <= 6 else 0


@archive_bp.route("/scans/<uuid:scan_id>")
@permission("subject.view")
def read_scan(scan_id: uuid.UUID):
    scan = reader.load_scan(scan_id, with_texts=True)
    page = reader.page_in_range(scan, _page_number())
    mark_page_classification(scan.document.classification)
    content = reader.open_reader(scan, page, by=current_user)
    can_recognise = policy.can_read_scan(current_user, scan.subject, scan.document.classification, "subject.edit")
    return render_template("archive/reader.html", reader=content, scan=scan, document=scan.document,
                           recognise_form=RecogniseForm(formdata=None, seen=recognition_state(scan)),
                           can_recognise=can_recognise and ocr.enabled(),
                           too_long_to_recognise=scan.page_count > reader.WEB_MAX_PAGES)


@archive_bp.route("/scans/<uuid:scan_id>/pages/<int:page>.png")
@permission("subject.view")
def scan_page(scan_id: uuid.UUID, page: int):
    scan = reader.load_scan(scan_id)
    reader.page_in_range(scan, page)
    try:
        rendered = reader.render_page(scan, page, by=current_user)
    except rendering.PageOutOfRange:
        policy.deny("subject.view", status=404)
    except rendering.PageTooLarge:
        return render_error(400, _("Trang quét quá lớn để hiển thị."))
    except rendering.UnreadableScan:
        return render_error(400, _("Không đọc được bản quét: tệp hỏng hoặc không đúng định dạng."))
    response = Response(rendered.data, mimetype=rendered.media_type)
    response.headers["Content-Length"] = str(len(rendered.data))
    # Never kept by the browser or a proxy: the next view is another watermark and another entry.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@archive_bp.route("/scans/<uuid:scan_id>/recognise", methods=["POST"])
@permission("subject.edit")
def recognise_scan(scan_id: uuid.UUID):
    scan = reader.load_scan(scan_id, need="subject.edit")
    form = RecogniseForm()
    require_submitted(form)
    back = redirect(url_for("archive.read_scan", scan_id=scan.id))
    if form.seen.data != recognition_state(scan):
        flash(_("Bản quét vừa được nhận dạng chữ. Hãy xem lại kết quả trước khi nhận dạng lại."), "info")
        return back
    try:
        result = reader.recognise(scan, by=current_user, page_timeout=reader.WEB_PAGE_TIMEOUT_SECONDS,
                                  max_pages=reader.WEB_MAX_PAGES)
    except reader.ScanNotRecognised as refused:
        flash(refused.message, "danger")
        return back
    flash(_("Đã nhận dạng chữ %(pages)d trang của bản quét.", pages=len(result.texts)), "success")
    return back
