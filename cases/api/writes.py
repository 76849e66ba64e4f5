"""One pattern for every write of the partner API: load and authorise, replay a retried call,
check the version, claim the idempotency key, run one operation, answer with the new ETag.

    load_for_liaison (404) → Idempotency-Key: a known key replays (or 422 for another call)
    → If-Match: missing 428, stale 412 → the request's state (409) → claim the key (409 when
    a concurrent call holds it) → the operation (a refusal: 422 beside its field; an illegal
    step: 409; a lost race: 412, rolled back) → 200/201 with ETag.

Every refusal is a problem document and leaves nothing written: the request's unit of work
rolls back any response of 400 or more (app.py). The refusal itself is recorded in a short
transaction of its own (`record_refusal`, called for the blueprint after the response).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from flask import g, request
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from audit.trail import record
from cases import actions
from cases.api import documents, idempotency
from cases.api.parsing import has_body
from cases.casework.operations import CaseError
from cases.coordination import operations as coordination
from cases.coordination.operations import StaleRequest
from cases.models import CoordinationRequest
from protection.db import db
from protection.problems import problem

__all__ = ["etag_headers", "has_body", "record_refusal", "run"]

REQUEST_TARGET = "coordination_request"
# Refusals already in the trail by the time the response is made: a 404 or 403 by the
# policy (policy.deny), a 401 by the token check; a 429 is not written at all (the limiter
# answers before the token is checked, and a flood of refusals must not become a flood of
# writes); a 5xx is in the server log under its reference id.
NOT_RECORDED_HERE = frozenset({401, 403, 404, 429})


def etag_headers(request_: CoordinationRequest) -> dict[str, str]:
    return {"ETag": f'"{request_.version}"'}


def _refuse(status: int, detail: str, *, code: str | None = None, errors: dict | None = None) -> Response:
    g.api_refusal = code or str(status)
    return problem(status, detail, code=code, errors=errors)


def run(operation: str, request_id: uuid.UUID, *, body: Any, change: Callable[[CoordinationRequest], Any],
        created: str | None = None, needs_answering: bool = False):
    """Run `change(request)` as the write `operation`. `body` is the call's input in a
    canonical form (for the idempotency fingerprint); `created` names what the operation
    returns ("finding", "attachment"), None when the answer is the request itself;
    `needs_answering`: only while the body works on its answer (acknowledged, or asked for more)."""
    client_id = g.api_client.id
    request_ = coordination.load_for_liaison(request_id)
    try:
        key = idempotency.key_from_header(request.headers.get(idempotency.HEADER))
    except idempotency.KeyRefused:
        message = _("Idempotency-Key phải là 1 đến 200 ký tự ASCII in được.")
        return _refuse(400, message, code="idempotency-key", errors={idempotency.HEADER: [message]})
    fingerprint = idempotency.call_fingerprint(request.method, request.path, body)
    if key is not None:
        earlier = idempotency.earlier_call(client_id, key, fingerprint)
        if earlier is not None and not earlier.same_call:
            message = _("Idempotency-Key này đã được dùng cho một lần gọi khác; hãy dùng khóa mới.")
            return _refuse(422, message, code="idempotency-key-reuse", errors={idempotency.HEADER: [message]})
        if earlier is not None:
            return _replay(request_, operation, earlier)
    refused = _check_if_match(request_)
    if refused is not None:
        return refused
    if needs_answering and not coordination.being_answered(request_):
        return _refuse(409, _("Chỉ ghi kết quả hoặc gửi tệp khi yêu cầu ở trạng thái \"Đã nhận\" hoặc \"Yêu cầu "
                              "bổ sung\"."), code="wrong-state")
    claimed = None
    if key is not None:
        try:
            claimed = idempotency.claim(client_id, key, fingerprint)
        except idempotency.KeyInUse:
            db.session.rollback()
            return _refuse(409, _("Một lần gọi khác với cùng Idempotency-Key đang được xử lý; hãy thử lại sau."),
                           code="idempotency-key-in-use")

    def change_and_flush():
        result = change(request_)
        db.session.flush()  # the versioned UPDATE now: a lost race is told here, not at commit
        return result

    try:
        result = actions.lost_race_told_as_stale(change_and_flush)
    except StaleRequest as stale:
        return _refuse(412, stale.message, code="stale-version")
    except CaseError as refusal:
        if refusal.field is None:  # the workflow refused the step in this state
            return _refuse(409, refusal.message, code="wrong-state")
        return _refuse(422, refusal.message, errors={refusal.field: [refusal.message]})
    target_type, target_id, status = ((REQUEST_TARGET, request_.id, 200) if created is None
                                      else (created, result.id, 201))
    if claimed is not None:
        idempotency.settle(claimed, status, target_type, target_id)
    record("api.write", target_type=REQUEST_TARGET, target_id=request_.id, via="api", api_client=client_id,
           operation=operation, status=status, created=target_id if created else None,
           idempotency_key=claimed is not None)
    return _answer(request_, target_type, target_id, status)


def _check_if_match(request_: CoordinationRequest) -> Response | None:
    """RFC 9110 §13.1.1 with a strong comparison: the ETag the client read must be the
    request's current version. `*` would match any version, which is no check at all."""
    if not request.headers.get("If-Match", "").strip():
        return _refuse(428, _("Hãy gửi If-Match với ETag của yêu cầu vừa đọc."), code="if-match-required")
    if request.if_match.star_tag:
        return _refuse(428, _("If-Match phải là ETag của yêu cầu, không nhận \"*\"."), code="if-match-required")
    if not request.if_match.contains(str(request_.version)):
        return _refuse(412, _("Yêu cầu đã thay đổi kể từ lần đọc (ETag khác); hãy đọc lại rồi thực hiện lại. "
                              "Chưa có gì được ghi."), code="stale-version")
    return None


def _answer(request_: CoordinationRequest, target_type: str, target_id: uuid.UUID | None, status: int,
            extra: dict[str, str] | None = None):
    headers = {**etag_headers(request_), **(extra or {})}
    if target_type == "finding":
        finding = documents.body_finding(request_, target_id)
        if finding is not None:
            return documents.finding_document(request_, finding), status, headers
    elif target_type == "attachment":
        attachment = documents.body_file(request_, target_id)
        if attachment is not None:
            document = documents.file_document(request_, attachment)
            return document, status, {**headers, "Location": document["href"]}
    else:
        return documents.request_document(request_, current_user._get_current_object()), status, headers
    # What the first call created is gone (a retention purge): the key can no longer be honoured.
    return _refuse(409, _("Kết quả của lần gọi đầu tiên với Idempotency-Key này không còn; hãy dùng khóa mới."),
                   code="idempotency-key-gone")


def _replay(request_: CoordinationRequest, operation: str, earlier: idempotency.Earlier):
    """The first call's answer again, re-rendered from what it created (its state now)."""
    record("api.write_replayed", target_type=REQUEST_TARGET, target_id=request_.id, via="api",
           api_client=g.api_client.id, operation=operation, status=earlier.status,
           created=earlier.target_id if earlier.target_type != REQUEST_TARGET else None)
    return _answer(request_, earlier.target_type or REQUEST_TARGET, earlier.target_id, earlier.status,
                   {"Idempotent-Replayed": "true"})


def record_refusal(response: Response) -> Response:
    """after_request of the API: a refused call by an authenticated client leaves its entry,
    committed on its own (the call's own changes are rolled back by the unit of work)."""
    status = response.status_code
    if status < 400 or status >= 500 or status in NOT_RECORDED_HERE or g.get("api_client") is None:
        return response
    db.session.rollback()
    record("api.refused", target_type=REQUEST_TARGET if request.view_args else None,
           target_id=(request.view_args or {}).get("request_id"), outcome="failure", via="api",
           api_client=g.api_client.id, endpoint=request.endpoint, method=request.method, status=status,
           reason=g.get("api_refusal"))
    db.session.commit()
    return response
