"""A dossier's document register (mục lục văn bản): the table, its documents added, edited,
moved and removed, scans uploaded and downloaded, the register printed.

Reading follows the dossier: whoever may read it (subject.view, unit scope, not recused:
subjects.load_subject, 404 otherwise) reads its register; a document classified above the
reader's clearance is listed as "tài liệu mật cấp cao hơn" with its place, level and page
count only, so the numbering and the sheet ranges stay whole and the reader knows the paper
dossier holds more (asking for it by URL answers 403). Changing it is subject.edit. Every
page that shows a document's content records its read; the request commits that entry
before the page is sent (app.py, commit_unit_of_work).
"""

from __future__ import annotations

import uuid

from flask import Response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from cases.actions import press, require_submitted, submit
from cases.archive import register
from cases.archive.blueprint import archive_bp
from cases.archive.forms import DocumentForm, ScanForm
from cases.archive.models import ArchiveDocument
from cases.archive.register_pdf import sheet_ranges
from cases.archive.vocabulary import document_type_label
from cases.subjects import operations as subjects
from protection import policy
from protection.blobs import download_response
from protection.errors import render_error
from protection.forms import ConfirmForm
from protection.marking import mark_page_classification
from protection.policy import permission


@archive_bp.app_template_global()
def archive_document_count(subject_id: uuid.UUID) -> int:
    """The subject page's link to the register says how many documents it holds."""
    return register.document_count(subject_id)


def _to_register(subject_id: uuid.UUID, anchor: str | None = None) -> Response:
    return redirect(url_for("archive.register", subject_id=subject_id, _anchor=anchor))


def _changed(changed) -> str:
    return _("Đã lưu thay đổi.") if changed else _("Không có gì thay đổi.")


def _mark(*documents: ArchiveDocument) -> None:
    mark_page_classification(*(document.classification for document in documents
                               if register.readable(current_user, document)))


# Endpoint "archive.register"; the function is named apart from the operations module.
@archive_bp.route("/subjects/<uuid:subject_id>/register", endpoint="register")
@permission("subject.view")
def register_page(subject_id: uuid.UUID):
    subject = subjects.load_subject(subject_id, "subject.view")
    documents = register.documents_of(subject)
    register.record_register_view(subject, documents, current_user)
    _mark(*documents)
    return render_template("archive/register.html", subject=subject, documents=documents,
                           sheets=dict(zip([d.id for d in documents],
                                           sheet_ranges([d.page_count for d in documents]), strict=True)),
                           readable=lambda document: register.readable(current_user, document),
                           type_label=document_type_label, can_edit=policy.can(current_user, "subject.edit"),
                           confirm_form=ConfirmForm())


@archive_bp.route("/subjects/<uuid:subject_id>/register/new", methods=["GET", "POST"])
@permission("subject.edit")
def add_document(subject_id: uuid.UUID):
    subject = subjects.load_subject(subject_id, "subject.edit")
    form = DocumentForm(user=current_user)
    done = submit(form, lambda: register.add_document(subject, form.document_data(), by=current_user),
                  _("Đã thêm văn bản vào mục lục."), lambda document: _to_register(subject.id, f"d{document.position}"))
    return done or render_template("archive/document_form.html", form=form, subject=subject,
                                   title=_("Thêm văn bản vào mục lục"),
                                   action=url_for("archive.add_document", subject_id=subject.id))


@archive_bp.route("/subjects/<uuid:subject_id>/register/<uuid:document_id>/edit", methods=["GET", "POST"])
@permission("subject.edit")
def edit_document(subject_id: uuid.UUID, document_id: uuid.UUID):
    subject = subjects.load_subject(subject_id, "subject.edit")
    document = register.load_document(subject, document_id, current_user, "subject.edit")
    form = DocumentForm(obj=document if request.method == "GET" else None, user=current_user)
    if request.method == "GET":
        form.classification.data = document.classification.value
        register.record_document_view(document, by=current_user)  # the form shows every field
    done = submit(form, lambda: register.update_document(document, form.document_data(), by=current_user),
                  _changed, lambda _result: _to_register(subject.id, f"d{document.position}"))
    _mark(document)
    return done or render_template("archive/document_form.html", form=form, subject=subject, document=document,
                                   title=_("Sửa văn bản số %(position)d", position=document.position),
                                   action=url_for("archive.edit_document", subject_id=subject.id,
                                                  document_id=document.id))


@archive_bp.route("/subjects/<uuid:subject_id>/register/<uuid:document_id>/move/<any(up, down):direction>",
                  methods=["POST"])
@permission("subject.edit")
def move_document(subject_id: uuid.UUID, document_id: uuid.UUID, direction: str):
    require_submitted(ConfirmForm())
    subject = subjects.load_subject(subject_id, "subject.edit")
    document = register.load_document(subject, document_id, current_user, "subject.edit")
    return press(lambda: register.move_document(document, direction, by=current_user),
                 lambda moved: _("Đã đổi thứ tự văn bản.") if moved else _("Văn bản đã ở đầu hoặc cuối mục lục."),
                 lambda _result: _to_register(subject.id, f"d{document.position}"))


@archive_bp.route("/subjects/<uuid:subject_id>/register/<uuid:document_id>/delete", methods=["POST"])
@permission("subject.edit")
def remove_document(subject_id: uuid.UUID, document_id: uuid.UUID):
    require_submitted(ConfirmForm())
    subject = subjects.load_subject(subject_id, "subject.edit")
    document = register.load_document(subject, document_id, current_user, "subject.edit")
    return press(lambda: register.remove_document(document, by=current_user), _("Đã xóa văn bản khỏi mục lục."),
                 lambda _result: _to_register(subject.id))


@archive_bp.route("/subjects/<uuid:subject_id>/register/<uuid:document_id>/scans/new", methods=["GET", "POST"])
@permission("subject.edit")
def upload_scan(subject_id: uuid.UUID, document_id: uuid.UUID):
    subject = subjects.load_subject(subject_id, "subject.edit")
    document = register.load_document(subject, document_id, current_user, "subject.edit")
    form = ScanForm()
    done = submit(form, lambda: register.attach_scan(document, form.file.data.stream, form.file.data.filename,
                                                     by=current_user),
                  lambda scan: _("Đã lưu bản quét (%(pages)d trang).", pages=scan.page_count),
                  lambda _scan: _to_register(subject.id, f"d{document.position}"))
    if done:
        return done
    register.record_document_view(document, by=current_user)  # the page shows the document's fields
    _mark(document)
    return render_template("archive/upload_scan.html", form=form, subject=subject, document=document,
                           type_label=document_type_label)


@archive_bp.route("/scans/<uuid:scan_id>/download")
@permission("subject.view")
def download_scan(scan_id: uuid.UUID):
    scan = register.load_scan_by_id(scan_id, current_user)
    register.record_scan_download(scan, by=current_user)
    return download_response(scan.blob)


@archive_bp.route("/subjects/<uuid:subject_id>/register.pdf")
@permission("subject.view")
def print_register(subject_id: uuid.UUID):
    subject = subjects.load_subject(subject_id, "subject.view")
    try:
        pdf = register.print_register(subject, by=current_user)
    except register.RegisterPrintFailed:
        return render_error(500)
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{register.print_file_name(subject)}"'
    response.headers["Content-Length"] = str(len(pdf))
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
