"""What the generated OpenAPI schema leaves out, added in one place once the app has built it: the
problem+json errors of each operation, the If-Match and Idempotency-Key headers, the upload's multipart
body, and the patterns of slugs, languages and channels (Litestar drops pydantic's `pattern`).

Which errors an operation can answer follows from what it takes: every /v1 route is guarded (401, 403);
a path parameter names something that may not exist (404); a body can be malformed, too large, of the
wrong type or invalid (400, 413, 415, 422); every POST takes an Idempotency-Key (409 while in flight).
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from pydantic import BaseModel

from service.brands.schemas import SLUG_PATTERN
from service.problems import MEDIA_TYPE

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "for invalid input: each field that was wrong",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
WHY = {
    400: "malformed request (JSON syntax, nesting too deep, bad Idempotency-Key)",
    401: "no or unknown API key",
    403: "the key's role or brands do not allow this",
    404: "no such resource (or not visible to this key)",
    409: "conflict: exists already, stale version, or the same Idempotency-Key still in flight",
    413: "request body over the limit",
    415: "unsupported content type",
    422: "invalid input; `errors` names the fields",
    428: "If-Match is required",
}
# (method, path) -> whether If-Match is required: optimistic locking on a draft's version
IF_MATCH = {
    ("patch", "/v1/drafts/{draft_id}"): True,
    ("post", "/v1/drafts/{draft_id}/approve"): True,
    ("post", "/v1/drafts/{draft_id}/regenerate"): False,
}
UPLOAD = ("post", "/v1/brands/{slug}/documents")
UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "FAQ JSON/CSV, Markdown, text, HTML or PDF; its name names it",
                    },
                    "kind": {"type": "string", "enum": ["faq", "doc"]},
                },
            }
        }
    },
}
# query and path parameters that name a brand by slug
SLUG_PARAMETERS = {("path", "slug"), ("query", "brand")}
METHODS = ("get", "post", "patch", "put", "delete")


def _models() -> dict[str, type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    pending = list(BaseModel.__subclasses__())
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        if model.__module__.startswith("service."):
            found.setdefault(model.__name__, model)
    return found


def _first_pattern(schema: Any) -> str | None:
    if isinstance(schema, dict):
        if isinstance(schema.get("pattern"), str):
            return str(schema["pattern"])
        for branch in schema.get("anyOf", []) + schema.get("oneOf", []):
            if (pattern := _first_pattern(branch)) is not None:
                return pattern
    return None


def _add_patterns(components: dict[str, Any]) -> None:
    """Copy each string field's `pattern` from the pydantic model into its component schema."""
    models = _models()
    for name, component in components.items():
        model = models.get(name)
        if model is None:
            continue
        source = model.model_json_schema(mode="validation").get("properties", {})
        for field, prop in component.get("properties", {}).items():
            pattern = _first_pattern(source.get(field))
            if pattern is None or _first_pattern(prop) is not None:
                continue
            branches = [b for b in prop.get("oneOf", []) if b.get("type") == "string"]
            for target in branches or [prop]:
                target["pattern"] = pattern


def _responses(method: str, path: str, operation: dict[str, Any]) -> list[int]:
    if not path.startswith("/v1/"):
        return []
    statuses = [401, 403, 422]
    has_body = "requestBody" in operation or (method, path) == UPLOAD
    if has_body or operation.get("parameters"):
        statuses.append(400)
    if "{" in path or any(
        p.get("in") == "query" and p.get("name") == "brand" for p in operation.get("parameters", [])
    ):
        statuses.append(404)
    if method in ("post", "patch"):
        statuses += [409, 413, 415]
    if IF_MATCH.get((method, path)):
        statuses.append(428)
    return sorted(set(statuses))


def describe(schema: dict[str, Any]) -> dict[str, Any]:
    """Add what the module docstring lists to a generated schema (in place) and return it."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    if "Problem" in components:
        return schema  # described already (a second lifespan of the same app)
    components["Problem"] = PROBLEM
    _add_patterns(components)
    problem = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            parameters = operation.setdefault("parameters", [])
            for parameter in parameters:
                if (parameter.get("in"), parameter.get("name")) in SLUG_PARAMETERS:
                    parameter.setdefault("schema", {})["pattern"] = SLUG_PATTERN
            if (method, path) in IF_MATCH:
                parameters.append(
                    {
                        "name": "If-Match",
                        "in": "header",
                        "required": IF_MATCH[(method, path)],
                        "description": "the draft's current version (its ETag, from GET /v1/drafts/{id})",
                        "schema": {"type": "string", "pattern": r'^(W/)?"?\d{1,10}"?$'},
                    }
                )
            if method == "post" and path.startswith("/v1/"):
                parameters.append(
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "the same key and body replay the first 2xx answer for 24 hours",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                    }
                )
            if (method, path) == UPLOAD:
                operation["requestBody"] = UPLOAD_BODY
            responses = operation.setdefault("responses", {})
            for status in _responses(method, path, operation):
                responses[str(status)] = {"description": WHY[status], "content": problem}
    return schema


def install(app: Litestar) -> None:
    """Describe the app's schema once; the OpenAPI plugin serves this same (cached) document."""
    describe(app.plugins.get(OpenAPIPlugin).provide_openapi_schema())
