"""The partner API's endpoints (issue 21 §A.2): thin views over cases/coordination, the
liaison's pages for a partner body's system.

Every endpoint declares `api.partner`: the policy authenticates the bearer token before the
view runs (protection/api_tokens.py) and the client's service account — a liaison of its
body — is `current_user`. From there the liaison's own rules apply unchanged:
`coordination.load_for_liaison` answers 404 for a request not addressed to the body, above
the account's clearance or about one of its people; the operations check the workflow and
record their audit entries. Reads record the web's action codes with `via="api"`.

Writes (cases/api/writes.py) need `If-Match` with the request's ETag and take an
`Idempotency-Key`; refusals are problem documents (protection/problems.py).
"""

from __future__ import annotations

import http
import uuid

from flask import current_app, g, request
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint

from audit.trail import record
from cases.api import documents, idempotency, writes
from cases.api.parsing import ApiParser, refuse
from cases.api.schemas import (
    AnswerInput,
    FileInput,
    FileOut,
    FindingInput,
    FindingOut,
    RequestListQuery,
    RequestOut,
    RequestPageOut,
)
from cases.casework.operations import FindingData
from cases.coordination import operations as coordination
from protection.blobs import download_response
from protection.policy import permission
from protection.problems import problem


class ApiBlueprint(Blueprint):
    """flask-smorest's Blueprint with the strict parser, and multipart bodies documented as
    one request body (form fields and files together)."""

    ARGUMENTS_PARSER = ApiParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {**Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
                                             "multipart": "multipart/form-data"}


api_bp = ApiBlueprint("api", __name__, url_prefix="/api/v1", description="Yêu cầu phối hợp gửi cơ quan đối tác")

# --- what the spec says besides the schemas ----------------------------------------------

ETAG_HEADER = {"ETag": {"description": "Phiên bản hiện tại của yêu cầu, \"<version>\" (ETag mạnh); gửi lại "
                                       "trong If-Match khi ghi.", "schema": {"type": "string"}}}
REPLAYED_HEADER = {"Idempotent-Replayed": {
    "description": "\"true\" khi câu trả lời là của lần gọi đầu tiên với cùng Idempotency-Key.",
    "schema": {"type": "string", "enum": ["true"]}}}
IF_MATCH = {"in": "header", "name": "If-Match", "required": True, "schema": {"type": "string"},
            "description": "ETag của yêu cầu vừa đọc (\"<version>\"). Thiếu: 428; đã cũ: 412, không ghi gì."}
IDEMPOTENCY_KEY = {"in": "header", "name": "Idempotency-Key", "required": False,
                   "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]+$"},
                   "description": "Khóa do hệ thống đối tác chọn cho lần ghi này (ví dụ một UUID). Gửi lại cùng "
                                  "khóa với cùng nội dung: nhận lại câu trả lời đầu tiên, không ghi lần hai; cùng "
                                  "khóa với nội dung khác: 422; lần gọi đầu chưa xong: 409."}
READ_ERRORS = (401, 404, 422, 429)
WRITE_ERRORS = (400, 401, 404, 409, 412, 413, 415, 422, 428, 429)
DOWNLOAD_TYPES = ("application/pdf", "image/jpeg", "image/png", "image/tiff",
                  "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                  "application/vnd.oasis.opendocument.text")


def documented_errors(*statuses: int):
    """The problem responses an operation can answer (components registered by HosoApi)."""
    def decorate(view):
        for status in statuses:
            view = api_bp.alt_response(status, response=http.HTTPStatus(status).name)(view)
        return view

    return decorate


def _client_id():
    return g.api_client.id


def _user():
    # The service account itself, not the proxy: operations read it many times.
    return current_user._get_current_object()


# --- reads --------------------------------------------------------------------------------

@api_bp.route("/requests", methods=["GET"])
@permission("api.partner")
@api_bp.arguments(RequestListQuery, location="query", as_kwargs=True)
@api_bp.response(200, RequestPageOut)
@documented_errors(*READ_ERRORS)
def list_requests(state: str | None = None, page: int = 1, per_page: int | None = None):
    """Danh sách yêu cầu phối hợp gửi cơ quan

    Các yêu cầu gửi cơ quan của khóa API mà tài khoản được phép xem (theo độ mật), xếp theo
    hạn trả lời; lọc theo trạng thái, chia trang.
    """
    largest = current_app.config["HOSO_API_PAGE_SIZE"]
    if per_page is not None and per_page > largest:
        refuse(problem(422, _("Mỗi trang không quá %(n)d yêu cầu.", n=largest),
                       errors={"per_page": [_("Không quá %(n)d.", n=largest)]}))
    found = documents.requests_page(_user(), state=state, page=page, per_page=per_page or largest)
    record("coordination.list", target_type="coordination_request", results=len(found.items), via="api",
           api_client=_client_id())
    return found


@api_bp.route("/requests/<uuid:request_id>", methods=["GET"])
@permission("api.partner")
@api_bp.response(200, RequestOut, headers=ETAG_HEADER)
@documented_errors(401, 404, 429)
def get_request(request_id: uuid.UUID):
    """Một yêu cầu phối hợp và gói thông tin được chia sẻ

    Nội dung đề nghị xác minh, hạn, trạng thái, thông tin đối tượng và người thân được chia sẻ,
    kết quả và tệp được chia sẻ, những người có thể ghi kết quả về, kết quả và tệp đơn vị đã gửi,
    trả lời và yêu cầu bổ sung. ETag là phiên bản của yêu cầu.
    """
    request_ = coordination.load_for_liaison(request_id)
    record("coordination.view", target_type="coordination_request", target_id=request_.id, via="api",
           api_client=_client_id())
    return documents.request_document(request_, _user()), 200, writes.etag_headers(request_)


@api_bp.route("/requests/<uuid:request_id>/files/<uuid:file_id>", methods=["GET"])
@permission("api.partner")
@api_bp.doc(responses={"200": {"description": "Nội dung tệp (Content-Disposition: attachment).",
                               "content": {media: {"schema": {"type": "string", "format": "binary"}}
                                           for media in DOWNLOAD_TYPES}}})
@documented_errors(401, 404, 429)
def download_file(request_id: uuid.UUID, file_id: uuid.UUID):
    """Tải một tệp của yêu cầu

    Một tệp được chia sẻ trong gói thông tin, hoặc một tệp đơn vị đã gửi kèm trả lời.
    """
    request_ = coordination.load_for_liaison(request_id)
    attachment = coordination.shared_attachment(request_, file_id, _user())
    record("attachment.download", target_type="coordination_request", target_id=request_.id,
           attachment=attachment.id, via="api", api_client=_client_id())
    return download_response(attachment.blob)


# --- writes -------------------------------------------------------------------------------

WRITE_DOC = {"parameters": [IF_MATCH, IDEMPOTENCY_KEY]}


@api_bp.route("/requests/<uuid:request_id>/acknowledge", methods=["POST"])
@permission("api.partner")
@api_bp.doc(**WRITE_DOC)
@api_bp.response(200, RequestOut, headers={**ETAG_HEADER, **REPLAYED_HEADER})
@documented_errors(*WRITE_ERRORS)
def acknowledge(request_id: uuid.UUID):
    """Xác nhận đã nhận yêu cầu

    Chuyển yêu cầu từ "Đã gửi" sang "Đã nhận". Không có nội dung gửi lên.
    """
    if writes.has_body(request):
        refuse(problem(415, _("Thao tác này không nhận nội dung gửi lên.")))
    return writes.run("acknowledge", request_id, body=None,
                      change=lambda item: coordination.acknowledge(item, by=_user()))


@api_bp.route("/requests/<uuid:request_id>/findings", methods=["POST"])
@permission("api.partner")
@api_bp.doc(**WRITE_DOC)
@api_bp.arguments(FindingInput, location="json")
@api_bp.response(201, FindingOut, headers={**ETAG_HEADER, **REPLAYED_HEADER})
@documented_errors(*WRITE_ERRORS)
def log_finding(data: dict, request_id: uuid.UUID):
    """Ghi một kết quả xác minh

    Về một người trong `people` của yêu cầu (trường `person`), khi yêu cầu ở trạng thái "Đã nhận"
    hoặc "Yêu cầu bổ sung".
    """
    finding = FindingData(person=data.get("person") or "", category=data["category"], text=data["text"],
                          classification=data["classification"], source=data.get("source"),
                          found_on=data.get("found_on"))
    return writes.run("finding", request_id, body=request.get_json(), created="finding", needs_answering=True,
                      change=lambda item: coordination.log_body_finding(item, finding, by=_user()))


@api_bp.route("/requests/<uuid:request_id>/files", methods=["POST"])
@permission("api.partner")
@api_bp.doc(**WRITE_DOC)
@api_bp.arguments(FileInput, location="multipart")
@api_bp.response(201, FileOut, headers={**ETAG_HEADER, **REPLAYED_HEADER})
@documented_errors(*WRITE_ERRORS)
def upload_file(data: dict, request_id: uuid.UUID):
    """Gửi một tệp kèm theo trả lời

    multipart/form-data: `file` và `classification`. Cùng kiểm tra nội dung và giới hạn dung lượng
    như trang web (PDF, JPEG, PNG, TIFF, DOCX, ODT; HOSO_MAX_UPLOAD_MB).
    """
    upload = data["file"]
    body = {"file_sha256": idempotency.file_digest(upload.stream), "filename": upload.filename or "",
            "classification": data["classification"]}
    return writes.run("file", request_id, body=body, created="attachment", needs_answering=True,
                      change=lambda item: coordination.attach_to_answer(item, upload.stream, upload.filename,
                                                                        data["classification"], by=_user()))


@api_bp.route("/requests/<uuid:request_id>/answer", methods=["POST"])
@permission("api.partner")
@api_bp.doc(**WRITE_DOC)
@api_bp.arguments(AnswerInput, location="json")
@api_bp.response(200, RequestOut, headers={**ETAG_HEADER, **REPLAYED_HEADER})
@documented_errors(*WRITE_ERRORS)
def answer(data: dict, request_id: uuid.UUID):
    """Gửi trả lời

    Chuyển yêu cầu sang "Đã trả lời" với nội dung trả lời; các kết quả và tệp đã ghi đi cùng.
    """
    return writes.run("answer", request_id, body=request.get_json(),
                      change=lambda item: coordination.answer(item, data["answer"], by=_user()))


# A refused call by an authenticated client leaves its entry (cases/api/writes.py).
api_bp.after_request(writes.record_refusal)
