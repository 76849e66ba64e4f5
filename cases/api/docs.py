"""The partner API's reference as a server-rendered page, /api/v1/docs, built from the very
OpenAPI document at /api/v1/openapi.json: operations, parameters, request and response
schemas. Readable offline on the body's machine, with no CDN and no script.

Why not Swagger UI: the one on PyPI (swagger-ui-bundle) is 4.15, which cannot render
OpenAPI 3.1, and the site's CSP allows no script or style from elsewhere. The page is
public, as the document is: it describes the API, it holds no record. It is standalone (not
the app's layout), so it reads no session cookie and sets none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, current_app, render_template

from protection.policy import public

reference_bp = Blueprint("api_reference", __name__)

METHODS = ("get", "post", "put", "patch", "delete")
REF_PREFIX = "#/components/"


@dataclass
class Field:
    name: str
    type: str
    required: bool = False
    description: str = ""
    where: str = ""  # a parameter's location: path, query, header


@dataclass
class Body:
    media_type: str
    type: str
    fields: list[Field] = field(default_factory=list)


@dataclass
class Answer:
    status: str
    description: str
    bodies: list[Body] = field(default_factory=list)
    headers: list[Field] = field(default_factory=list)


@dataclass
class Operation:
    method: str
    path: str
    summary: str
    description: str
    anchor: str
    parameters: list[Field] = field(default_factory=list)
    body: Body | None = None
    body_required: bool = False
    answers: list[Answer] = field(default_factory=list)


@dataclass
class SchemaDoc:
    name: str
    anchor: str
    fields: list[Field]


@dataclass
class Reference:
    title: str
    version: str
    description: str
    operations: list[Operation]
    schemas: list[SchemaDoc]
    security: list[str]


def _resolve(spec: dict, item: dict) -> dict:
    """A `$ref` into components, followed (once per level)."""
    while isinstance(item, dict) and "$ref" in item:
        kind, name = item["$ref"].removeprefix(REF_PREFIX).split("/", 1)
        item = spec.get("components", {}).get(kind, {}).get(name, {})
    return item


def type_text(schema: dict) -> str:
    """A schema's type in one short phrase: "string (date)", "array of FindingOut", "string | null"."""
    if not schema:
        return "—"
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema or "oneOf" in schema:
        return " | ".join(type_text(part) for part in schema.get("anyOf") or schema.get("oneOf"))
    types = schema.get("type", "object")
    names = types if isinstance(types, list) else [types]
    parts = []
    for name in names:
        if name == "array":
            parts.append(f"array of {type_text(schema.get('items', {}))}")
        elif name == "object" and "additionalProperties" in schema and isinstance(schema["additionalProperties"], dict):
            parts.append(f"object of {type_text(schema['additionalProperties'])}")
        else:
            parts.append(f"{name} ({schema['format']})" if "format" in schema and name != "null" else name)
    text = " | ".join(parts)
    if "enum" in schema:
        text += ": " + ", ".join(str(value) for value in schema["enum"] if value is not None)
    return text


def _fields(spec: dict, schema: dict) -> list[Field]:
    schema = _resolve(spec, schema)
    required = set(schema.get("required", ()))
    return [Field(name, type_text(value), name in required, value.get("description", ""))
            for name, value in schema.get("properties", {}).items()]


def _bodies(spec: dict, content: dict) -> list[Body]:
    bodies = []
    for media_type, value in content.items():
        schema = value.get("schema", {})
        bodies.append(Body(media_type, type_text(schema), _fields(spec, schema)))
    return bodies


def _operation(spec: dict, path: str, method: str, item: dict, shared: list) -> Operation:
    parameters = [_resolve(spec, parameter) for parameter in shared + item.get("parameters", [])]
    request_body = _resolve(spec, item.get("requestBody", {}))
    bodies = _bodies(spec, request_body.get("content", {}))
    answers = []
    for status, response in sorted(item.get("responses", {}).items()):
        response = _resolve(spec, response)
        headers = [Field(name, type_text(_resolve(spec, header).get("schema", {})), False,
                         _resolve(spec, header).get("description", ""))
                   for name, header in response.get("headers", {}).items()]
        answers.append(Answer(status, response.get("description", ""), _bodies(spec, response.get("content", {})),
                              headers))
    description = (item.get("description") or "").strip()
    return Operation(
        method=method.upper(), path=path, summary=item.get("summary", ""), description=description,
        anchor=f"{method}-{path.strip('/').replace('/', '-').replace('{', '').replace('}', '')}",
        parameters=[Field(parameter.get("name", ""), type_text(parameter.get("schema", {})),
                          bool(parameter.get("required")), parameter.get("description", ""), parameter.get("in", ""))
                    for parameter in parameters],
        body=bodies[0] if bodies else None, body_required=bool(request_body.get("required")), answers=answers)


def describe(spec: dict[str, Any]) -> Reference:
    """The page's content, from the OpenAPI document."""
    operations = []
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                operations.append(_operation(spec, path, method, item[method], item.get("parameters", [])))
    schemas = [SchemaDoc(name, f"schema-{name}", _fields(spec, value))
               for name, value in sorted(spec.get("components", {}).get("schemas", {}).items())]
    info = spec.get("info", {})
    security = [f"{name}: {value.get('type', '')} {value.get('scheme', '')}".strip()
                for name, value in spec.get("components", {}).get("securitySchemes", {}).items()]
    return Reference(info.get("title", ""), info.get("version", ""), info.get("description", ""), operations,
                     schemas, security)


@reference_bp.route("/api/v1/docs")
@public
def reference():
    spec = current_app.extensions["hoso.api"].spec.to_dict()
    return render_template("api/docs.html", reference=describe(spec))
