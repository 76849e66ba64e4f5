"""Wiring of the partner API into the app: flask-smorest's Api (the OpenAPI 3.1 document at
/api/v1/openapi.json), the blueprint, the HTML reference (/api/v1/docs), CSRF exemption
(token auth only) and the per-token rate limit.

Why flask-smorest: it plugs into the existing Flask app as an extension (APIFlask replaces
the app class, and with it the factory every other part of Hoso is wired into), and it
generates OpenAPI 3.1 from the same marshmallow schemas that check the calls, so the
document cannot drift from the code.
"""

from __future__ import annotations

import hashlib
import http
import time

from flask import Flask, current_app, request
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from cases.api.docs import reference_bp
from cases.api.schemas import ProblemOut
from cases.api.views import api_bp
from protection.problems import PROBLEM_MIME, problem
from protection.ratelimit import limiter

BEARER_SCHEME = "bearerAuth"
API_DESCRIPTION = (
    "API cho hệ thống của các cơ quan phối hợp (Ủy ban Kiểm tra, Đảng ủy Công an, Quân sự, Biên phòng, Thanh tra, "
    "các ban): đọc yêu cầu xác minh gửi cơ quan và gói thông tin được chia sẻ, xác nhận đã nhận, ghi kết quả "
    "xác minh, gửi tệp và trả lời. Xác thực bằng `Authorization: Bearer <khóa API>` (không dùng cookie). "
    "Lỗi theo RFC 9457 (`application/problem+json`). Ghi cần `If-Match` với ETag của yêu cầu; nên gửi "
    "`Idempotency-Key` để gọi lại an toàn."
)


class HosoApi(Api):
    """flask-smorest's Api without its app-wide HTTPException handler: the app's own error
    handling (protection/errors.py) answers problem documents under /api/ and keeps the
    HTML error pages everywhere else. Its error responses are documented as what they are:
    problem documents, `application/problem+json`."""

    ERROR_SCHEMA = ProblemOut

    def _register_error_handlers(self):
        return None

    def _register_responses(self):
        for status in http.HTTPStatus:
            if status < 400:
                continue
            response = {"description": status.phrase, "schema": self.ERROR_SCHEMA}
            if status == http.HTTPStatus.TOO_MANY_REQUESTS:
                response["headers"] = {"Retry-After": {
                    "description": "Số giây cần đợi trước khi gọi lại.", "schema": {"type": "string"}}}
            prepare_response(response, self.spec, PROBLEM_MIME)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Problem document (RFC 9457)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_MIME)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


# --- the rate limit per token ---------------------------------------------------------------

def api_rate_limit() -> str:
    return current_app.config["HOSO_API_RATE_LIMIT"]


def api_rate_key() -> str:
    """Who is counted: the presented bearer token, by its digest (the limiter runs before
    the policy checks the token, and its storage — Redis when shared — must never hold a
    token), else the client address."""
    scheme, _space, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "api-token:" + hashlib.sha256(token.strip().encode("utf-8")).hexdigest()[:32]
    return "api-address:" + (get_remote_address() or "-")


def too_many_calls(limit) -> object:
    """The 429 problem, with how long to wait (the limiter's own headers are off app-wide)."""
    wait = max(1, int(limit.reset_at - time.time()))
    return problem(429, _("Đã vượt giới hạn số lần gọi API của khóa này; hãy thử lại sau %(s)d giây.", s=wait),
                   headers={"Retry-After": str(wait)})


def refused_rate_limit() -> str:
    return current_app.config["HOSO_API_REFUSED_RATE_LIMIT"]


def refused_rate_key() -> str:
    return "api-refused:" + (get_remote_address() or "-")


def too_many_refusals(limit) -> object:
    wait = max(1, int(limit.reset_at - time.time()))
    return problem(429, _("Quá nhiều lần gọi API với mã truy cập không hợp lệ từ địa chỉ này; hãy thử lại sau "
                          "%(s)d giây.", s=wait), headers={"Retry-After": str(wait)})


# Once per process, on the blueprint (not per app: the limiter keeps its limits across apps).
limiter.limit(api_rate_limit, key_func=api_rate_key, on_breach=too_many_calls)(api_bp)
# A caller making up a new token for every call is never held by the per-token limit, and each
# refused token is an audit entry: refusals (401) are also counted per client address, and an
# address over HOSO_API_REFUSED_RATE_LIMIT waits before it is heard again.
limiter.limit(refused_rate_limit, key_func=refused_rate_key, on_breach=too_many_refusals,
              deduct_when=lambda response: response.status_code == 401)(api_bp)


def configure_api(app: Flask) -> None:
    app.config.setdefault("API_TITLE", "Hoso partner API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("API_SPEC_OPTIONS", {
        "info": {"description": API_DESCRIPTION},
        "security": [{BEARER_SCHEME: []}],
    })
    api = HosoApi(app)
    api.spec.components.security_scheme(BEARER_SCHEME, {
        "type": "http", "scheme": "bearer",
        "description": "Khóa API do quản trị viên cấp cho hệ thống của cơ quan (`flask api-clients create`)."})
    api.register_blueprint(api_bp)
    app.extensions["hoso.api"] = api
    # Token auth only, never the session cookie: a forged cross-site request carries no
    # token, so the API needs no CSRF token; the web's protection stays as it is.
    app.extensions["csrf"].exempt(api_bp)
    app.register_blueprint(reference_bp)
