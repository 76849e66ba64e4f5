"""How the partner API reads a call's input (webargs, under flask-smorest's `arguments`)
and says no: every refusal is a problem document (protection/problems.py), nothing is
written, and nothing the caller sent is echoed in it except the names of the fields.

- a body of another media type than the operation takes: 415;
- JSON that does not parse (or that Python cannot hold: nested too deep, a huge integer): 400;
- a field missing, of the wrong type or unknown: 422 with {field: [message]} — marshmallow's
  nested errors ({"json": {"text": [...]}}) flattened to the field names the caller sent.

A body over MAX_CONTENT_LENGTH is refused by Werkzeug as it is read (413, answered by the
app's error handler as a problem too).
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from flask import abort
from flask_babel import gettext as _
from marshmallow import RAISE, ValidationError
from webargs import core
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict

from protection.problems import flatten_errors, problem

JSON_MIME = "application/json"
MULTIPART_MIME = "multipart/form-data"


def refuse(response) -> NoReturn:
    """Stop the call with this problem response (Flask answers an abort(Response) as is)."""
    abort(response)


def unsupported_media_type(expected: str) -> NoReturn:
    refuse(problem(415, _("Nội dung phải có kiểu %(expected)s.", expected=expected)))


def has_body(request) -> bool:
    return bool(request.content_length) or request.headers.get("Transfer-Encoding", "").lower() == "chunked"


class ApiParser(FlaskParser):
    """webargs' Flask parser, strict: unknown fields refused in every location, a body only
    in the media type the operation documents, and errors as problem documents."""

    __location_map__ = {**FlaskParser.__location_map__, "multipart": "load_multipart"}
    DEFAULT_UNKNOWN_BY_LOCATION = {location: RAISE for location in FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION}

    def load_json(self, req, schema):
        if has_body(req) and not core.is_json(req.mimetype):
            unsupported_media_type(JSON_MIME)
        return super().load_json(req, schema)

    def load_multipart(self, req, schema):
        """The form fields and the files of a multipart/form-data body, as one mapping."""
        if req.mimetype != MULTIPART_MIME:
            unsupported_media_type(MULTIPART_MIME)
        return self._makeproxy(CombinedMultiDict([req.form, req.files]), schema)

    def _raw_load_json(self, req):
        """The JSON body, as webargs reads it; JSON that parses by the grammar but not in
        Python — nested past the recursion limit, an integer of more digits than
        int() takes — is refused like JSON that does not parse (400), not left to become a 500."""
        try:
            return super()._raw_load_json(req)
        except json.JSONDecodeError:
            raise
        except (RecursionError, ValueError) as error:
            self._handle_invalid_json_error(error, req)

    def _handle_invalid_json_error(self, error: ValueError | RecursionError, req, *args: Any,
                                   **kwargs: Any) -> NoReturn:
        refuse(problem(400, _("Nội dung JSON không đọc được (sai cú pháp hoặc không phải UTF-8).")))

    def handle_error(self, error: ValidationError, req, schema, *, error_status_code, error_headers) -> NoReturn:
        messages = error.messages
        # webargs files the errors under the location ({"json": {...}}): the caller knows
        # where they sent a field, and reads its name alone.
        if isinstance(messages, dict) and len(messages) == 1 and next(iter(messages)) in self.__location_map__:
            messages = next(iter(messages.values()))
        refuse(problem(422, _("Dữ liệu gửi lên không hợp lệ; xem từng trường trong `errors`."),
                       errors=flatten_errors(messages)))
