"""RFC 9457 problem details: how the partner API (/api/) says no.

    {"type": "about:blank" | "https://hoso.invalid/problems/<code>", "title": ..., "status": 404,
     "detail": ..., "instance": "/api/v1/requests/...", "request_id": "1A2B3C4D",
     "errors": {"field": ["message", ...]}}

Titles and details are Vietnamese by default (the client's language choice otherwise,
protection/i18n.py). Like the HTML error pages they name a field or a reason, never a
protected value: a detail is written by the code, never copied from the input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Response, g, has_request_context, request
from flask_babel import gettext as _

PROBLEM_MIME = "application/problem+json"
API_PREFIX = "/api/"
# Problem types specific to Hoso (RFC 9457 §3.1.1: a URI that identifies the type; it need
# not resolve). "about:blank" when the status code says it all.
TYPE_BASE = "https://hoso.invalid/problems/"

TITLES = {
    400: lambda: _("Yêu cầu không hợp lệ"),
    401: lambda: _("Cần xác thực"),
    403: lambda: _("Không có quyền truy cập"),
    404: lambda: _("Không tìm thấy"),
    405: lambda: _("Thao tác không được hỗ trợ"),
    409: lambda: _("Xung đột dữ liệu"),
    412: lambda: _("Phiên bản không khớp"),
    413: lambda: _("Dữ liệu gửi lên quá lớn"),
    415: lambda: _("Kiểu dữ liệu không được hỗ trợ"),
    422: lambda: _("Dữ liệu không hợp lệ"),
    428: lambda: _("Thiếu điều kiện phiên bản"),
    429: lambda: _("Quá nhiều yêu cầu"),
    500: lambda: _("Lỗi hệ thống"),
    503: lambda: _("Hệ thống đang bận"),
}


# A field name is the caller's own input; a long one is cut, so a problem document cannot be
# made to carry a whole body back (and into anything that logs responses).
MAX_FIELD_NAME = 100


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Validation errors as {field: [message, ...]}: nested mappings (a field of an object in
    a list) become dotted names ("relatives.0.label"); messages are made text (lazy strings
    included)."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for field, texts in flatten_errors(value, name[:MAX_FIELD_NAME]).items():
                flat.setdefault(field, []).extend(texts)
    elif isinstance(messages, list | tuple) and all(not isinstance(item, Mapping | list | tuple) for item in messages):
        flat[prefix or "_schema"] = [str(item) for item in messages]
    elif isinstance(messages, list | tuple):
        for item in messages:
            for field, texts in flatten_errors(item, prefix).items():
                flat.setdefault(field, []).extend(texts)
    else:
        flat[prefix or "_schema"] = [str(messages)]
    return flat


def is_api_request() -> bool:
    return has_request_context() and request.path.startswith(API_PREFIX)


def problem(status: int, detail: str | None = None, *, code: str | None = None,
            errors: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None) -> Response:
    """A problem response. `code` names a Hoso-specific type (e.g. "stale-version"); without
    it the type is about:blank and the title is the status's."""
    title = TITLES.get(status, TITLES[500 if status >= 500 else 400])()
    body: dict[str, Any] = {"type": f"{TYPE_BASE}{code}" if code else "about:blank", "title": title,
                            "status": status}
    if detail:
        body["detail"] = detail
    if has_request_context():
        body["instance"] = request.path
        body["request_id"] = g.get("request_id", "-")
    if errors:
        body["errors"] = {key: [str(item) for item in value] if isinstance(value, list | tuple) else [str(value)]
                          for key, value in errors.items()}
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_MIME)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
