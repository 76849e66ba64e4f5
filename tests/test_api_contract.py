"""The partner API keeps its contract (issue 21 §A.5): schemathesis generates calls from the
live OpenAPI document (/api/v1/openapi.json, loaded from the app under test), valid and
invalid, as the police committee's token and as a caller with no token, and checks every
answer: no 5xx, the status, media type, headers and body as documented — and nothing of
another body's request (its id, its case's reference, its subject) in any of them.

Path parameters are drawn from the scene's real ids as well as generated ones, and a write
sometimes carries the request's current ETag, so the checks see successful answers too, not
only 404s and 412s. The budget is bounded (a fixed number of examples per operation,
derandomised, no example database), so the module runs in well under two minutes.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests import scenes
from tests.scenes import OTHER_SUBJECT, bearer

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
EXAMPLES = 12


@pytest.fixture
def generous_limits(app_config):
    """No rate limit in the way of the generated calls (requested before `app`)."""
    app_config["HOSO_API_RATE_LIMIT"] = "100000 per minute"
    app_config["HOSO_API_REFUSED_RATE_LIMIT"] = "100000 per minute"


@pytest.fixture
def api(generous_limits, app, scene) -> scenes.ApiScene:
    return scenes.api_scene(app, scene)


def _hypothesis_settings():
    return settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))


def _exercise(app, api, operation, mode: GenerationMode, token: str | None) -> list[int]:
    """Run the operation's generated cases; the statuses seen."""
    seen: list[int] = []
    ids = st.sampled_from([None, str(api.request_id), str(api.other_request_id)])
    files = st.sampled_from([None, str(api.scene.shared_file), str(api.scene.unshared_file)])
    client = app.test_client()

    @_hypothesis_settings()
    @given(case=operation.as_strategy(generation_mode=mode), request_id=ids, file_id=files,
           current_etag=st.booleans())
    def run(case, request_id, file_id, current_etag):
        if request_id is not None and "request_id" in (case.path_parameters or {}):
            case.path_parameters["request_id"] = request_id
        if file_id is not None and "file_id" in (case.path_parameters or {}):
            case.path_parameters["file_id"] = file_id
        headers = bearer(token) if token else {}
        if current_etag and token and case.method.upper() == "POST" and case.path_parameters:
            read = client.get(f"/api/v1/requests/{case.path_parameters['request_id']}", headers=bearer(token))
            if read.status_code == 200:
                headers["If-Match"] = read.headers["ETag"]
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        seen.append(response.status_code)
        text = _answered(response)
        for foreign in (str(api.other_request_id), api.other_reference, OTHER_SUBJECT):
            assert foreign not in text, (case.method, case.path, foreign)

    run()
    return seen


def _answered(response) -> str:
    """What an answer tells: its body, less a problem's `instance` (the caller's own URL,
    which holds the id they asked for)."""
    media = next((values[0] for name, values in response.headers.items() if name.lower() == "content-type"), "")
    if "json" not in media:
        return response.content.decode("latin-1")
    document = response.json()
    if isinstance(document, dict):
        document.pop("instance", None)
    return json.dumps(document, ensure_ascii=False)


def operations(app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) == 7  # list, read, download, acknowledge, findings, files, answer
    return found


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_the_police_token_gets_documented_answers_within_its_scope(app, api, mode):
    statuses = set()
    for operation in operations(app):
        statuses.update(_exercise(app, api, operation, mode, api.token))
    # The generated calls reached past the gate: real answers, not only refusals.
    assert {200, 404} <= statuses
    assert statuses & {400, 412, 415, 422, 428}


def test_a_caller_without_a_token_gets_documented_401s(app, api):
    statuses = set()
    for operation in operations(app):
        statuses.update(_exercise(app, api, operation, GenerationMode.POSITIVE, None))
    assert statuses == {401}
