"""Request ids, server logging, and error pages in the app's layout (never a traceback)."""

from __future__ import annotations

import logging
import secrets
import time
from datetime import UTC, datetime

from flask import (
    Flask,
    abort,
    g,
    has_request_context,
    render_template,
    request,
    request_finished,
    request_started,
)
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from pythonjsonlogger.json import JsonFormatter
from werkzeug.exceptions import HTTPException, InternalServerError

from .db import database_busy, db, reading_first
from .problems import PROBLEM_MIME, TITLES, is_api_request, problem

log = logging.getLogger("hoso")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

ERROR_TEXT = {
    400: (lambda: _("Yêu cầu không hợp lệ"),
          lambda: _("Yêu cầu không đọc được hoặc thiếu thông tin. Hãy quay lại và thử lại.")),
    401: (lambda: _("Cần đăng nhập"),
          lambda: _("Bạn cần đăng nhập để thực hiện thao tác này.")),
    403: (lambda: _("Không có quyền truy cập"),
          lambda: _("Tài khoản của bạn không được phép thực hiện thao tác này.")),
    404: (lambda: _("Không tìm thấy"),
          lambda: _("Trang hoặc hồ sơ này không tồn tại, hoặc bạn không có quyền biết đến nó.")),
    405: (lambda: _("Thao tác không được hỗ trợ"),
          lambda: _("Địa chỉ này không nhận kiểu yêu cầu vừa gửi.")),
    409: (lambda: _("Xung đột dữ liệu"),
          lambda: _("Hồ sơ đã được người khác thay đổi. Hãy tải lại trang và thử lại.")),
    413: (lambda: _("Dữ liệu gửi lên quá lớn"),
          lambda: _("Tệp hoặc biểu mẫu vượt quá dung lượng cho phép.")),
    429: (lambda: _("Quá nhiều yêu cầu"),
          lambda: _("Bạn đã thử quá nhiều lần trong thời gian ngắn. Hãy đợi một lát rồi thử lại.")),
    503: (lambda: _("Chưa sẵn sàng"),
          lambda: _("Hoso chưa được khởi tạo. Quản trị viên cần chạy lệnh khởi tạo.")),
    500: (lambda: _("Lỗi hệ thống"),
          lambda: _("Đã có lỗi phía máy chủ. Thao tác chưa được lưu. Hãy báo mã tham chiếu cho quản trị viên.")),
}


class RequestIdFilter(logging.Filter):
    """Every log line carries the request's reference id, the one shown on error pages, and
    (for the JSON format) the endpoint's name and the signed-in user's id. The user is the one
    already loaded for the request, never loaded here: a log line must not query the database."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not has_request_context():
            record.request_id = "-"
            return True
        record.request_id = g.get("request_id", "-")
        if not hasattr(record, "endpoint"):
            record.endpoint = request.endpoint
        user = g.get("_login_user")
        if not hasattr(record, "user_id"):
            record.user_id = str(user.id) if getattr(user, "is_authenticated", False) else None
        return True


TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
ACCESS_LOGGER = "hoso.access"


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line for a log collector (python-json-logger): time (ISO 8601,
    UTC, milliseconds), level, logger and message, then what the filter and the record's
    `extra` add (request_id, user_id, endpoint; on the access lines method, status and
    duration_ms), and a traceback as exc_info."""

    def __init__(self) -> None:
        super().__init__(["asctime", "levelname", "name", "message"],
                         rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def _start_timer(sender: Flask, **_extra) -> None:
    g.hoso_request_started = time.perf_counter()


def request_duration() -> float | None:
    """Seconds since the request started (Flask's request_started), or None outside one."""
    started = g.get("hoso_request_started") if has_request_context() else None
    return None if started is None else time.perf_counter() - started


def _log_access(sender: Flask, response, **_extra) -> None:
    """The JSON format's line per request. The endpoint's name stands for the address: no
    path (it holds ids), no query string and no form value (a search term can be a name)."""
    duration = request_duration()
    logging.getLogger(ACCESS_LOGGER).info(
        "%s %s %s", request.method, request.endpoint or "-", response.status_code,
        extra={"method": request.method, "status": response.status_code,
               "duration_ms": None if duration is None else round(duration * 1000, 1)})


def configure_logging(app: Flask) -> None:
    handler = logging.StreamHandler()
    if app.config["HOSO_LOG_FORMAT"] == "json":
        handler.setFormatter(JsonLineFormatter())
        # gunicorn's own access line is text (gunicorn.conf.py turns it off for JSON): the
        # app writes one instead, which knows the endpoint and the user.
        request_finished.connect(_log_access, app)
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RequestIdFilter())
    request_started.connect(_start_timer, app)
    for name in ("hoso", "protection", "audit", "cases"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(app.config["HOSO_LOG_LEVEL"])
        logger.propagate = False
    app.logger.handlers = [handler]
    app.logger.setLevel(app.config["HOSO_LOG_LEVEL"])


def _assign_request_id() -> None:
    g.request_id = secrets.token_hex(4).upper()


def _refuse_nul_characters() -> None:
    """A query or form value holding a NUL character is not typed by a person, and PostgreSQL
    cannot store one in a text column: refuse the request (400) before a view would carry it to
    the database as an error page of another kind. File parts are not form values: a file's
    bytes are the blob's business."""
    values = [*request.args.values(), *(request.form.values() if request.mimetype in FORM_TYPES else ())]
    if any("\x00" in value for value in values):
        log.info("NUL character refused on %s %s", request.method, request.path)
        abort(400)


# Not an error of the request's: the database could not be had in time (issue 19).
BUSY_TEXT = (lambda: _("Hệ thống đang bận"),
             lambda: _("Có quá nhiều yêu cầu cùng lúc nên yêu cầu này chưa được xử lý; chưa có gì được "
                       "lưu. Hãy thử lại sau ít phút. Nếu vẫn gặp, hãy báo mã tham chiếu cho quản trị viên."))
BUSY_RETRY_AFTER_SECONDS = 5


def render_error(code: int, message: str | None = None, *, text=None):
    title, default_message = text or ERROR_TEXT.get(code, ERROR_TEXT[500])
    body = render_template(
        "errors/error.html", code=code, title=title(), message=message or default_message(),
        reference=g.get("request_id", "-"),
    )
    return body, code


def _handle_http(error: HTTPException):
    code = error.code or 500
    if code >= 500:
        log.error("HTTP %s on %s %s", code, request.method, request.path)
    else:
        log.info("HTTP %s on %s %s", code, request.method, request.path)
    if is_api_request():
        # The partner API answers in problem documents (RFC 9457), keeping the error's own
        # headers (Retry-After on 429, Allow on 405). One made already (the API's rate
        # limit says how long to wait) is answered as it is.
        if error.response is not None and error.response.mimetype == PROBLEM_MIME:
            return error.response
        kept = {name: value for name, value in error.get_response().headers.items()
                if name.lower() not in ("content-type", "content-length")}
        return problem(code if code in TITLES else (500 if code >= 500 else 400), headers=kept)
    response_body, status = render_error(code if code in ERROR_TEXT else 400)
    response = error.get_response()
    response.set_data(response_body)
    response.status_code = status
    response.mimetype = "text/html"
    return response


def _handle_csrf(error: CSRFError):
    log.info("CSRF refused on %s %s", request.method, request.path)
    return render_error(400, _(
        "Biểu mẫu đã hết hạn hoặc không hợp lệ (mã chống giả mạo). "
        "Hãy tải lại trang, nhập lại và gửi lại."
    ))


def handle_unexpected(error: Exception):
    # The traceback goes to the server log under the reference id; the user sees the id.
    # SQLAlchemy runs with hide_parameters=True, so statement values never reach the log.
    db.session.rollback()
    original = getattr(error, "original_exception", None) or error
    busy = database_busy(original)
    if busy is not None:
        log.warning("database busy on %s %s: %s; answered 503, nothing written", request.method, request.path, busy)
        if is_api_request():
            return problem(503, BUSY_TEXT[1](), headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)})
        with reading_first():  # the layout reads; it must not queue for the lock again
            body, status = render_error(503, text=BUSY_TEXT)
        return body, status, {"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)}
    log.error("unhandled %s on %s %s", type(original).__name__, request.method, request.path,
              exc_info=original)
    if is_api_request():
        return problem(500, _("Đã có lỗi phía máy chủ. Thao tác chưa được lưu. Hãy báo mã tham chiếu cho "
                              "quản trị viên."))
    return render_error(500)


def configure_errors(app: Flask) -> None:
    # First of all before_request hooks: CSRFProtect's (registered earlier) refuses bad
    # tokens and oversized bodies, and those error pages and log lines need the id too.
    app.before_request_funcs.setdefault(None, []).insert(0, _assign_request_id)
    app.before_request_funcs[None].insert(1, _refuse_nul_characters)
    app.register_error_handler(CSRFError, _handle_csrf)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(InternalServerError, handle_unexpected)
    app.register_error_handler(Exception, handle_unexpected)
