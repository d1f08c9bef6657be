"""What the generated OpenAPI schema leaves out, added in one place once the app has built it: the
problem+json errors of each operation, the If-Match and Idempotency-Key headers, the upload's multipart
body, and the patterns of slugs, languages and channels (Litestar drops pydantic's `pattern`); what the
validators check where a schema can state it (`REFINE`: IANA time zones, business hours, SLA keys, at
least one brand), that strict models take no other properties, that no string holds a NUL character
(input_guard refuses them), and that /metrics answers Prometheus text.

Which errors an operation can answer follows from what it takes: every /v1 route is guarded (401, 403);
a path parameter names something that may not exist (404); a body can be malformed, too large, of the
wrong type or invalid (400, 413, 415, 422); every POST takes an Idempotency-Key (409 while in flight).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from pydantic import BaseModel

from service.brands.schemas import SLUG_PATTERN
from service.problems import MEDIA_TYPE
from service.triage.hours import WEEKDAY_KEYS
from service.triage.models import PRIORITIES

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
NO_NUL = r"^[^\x00]*$"  # input_guard refuses NUL in every JSON string, path parameter and query value
_CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
_HOURS = {
    "type": "object",
    "minProperties": 1,
    "propertyNames": {"enum": list(WEEKDAY_KEYS)},
    "additionalProperties": {
        "type": "array",
        "minItems": 1,
        "items": {  # [start, end]; an end at or before the start runs past midnight
            "type": "array",
            "prefixItems": [
                {"type": "string", "pattern": _CLOCK},
                {"type": "string", "pattern": r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"},
            ],
            "minItems": 2,
            "maxItems": 2,
        },
    },
}
_SLA = {
    "type": "object",
    "propertyNames": {"enum": list(PRIORITIES)},
    "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 366 * 24 * 60},
}
# (component, property) -> what the model's validator checks, as JSON Schema; merged into the property
# (into its non-null branch where it is nullable, its array branch for `brands`)
REFINE: dict[tuple[str, str], dict[str, Any]] = {
    ("BrandIn", "timezone"): {"enum": sorted(available_timezones())},
    ("BrandPatch", "timezone"): {"enum": sorted(available_timezones())},
    ("BrandIn", "business_hours"): _HOURS,
    ("BrandPatch", "business_hours"): _HOURS,
    ("BrandIn", "sla_minutes"): _SLA,
    ("BrandPatch", "sla_minutes"): _SLA,
    ("ApiKeyIn", "brands"): {"minItems": 1, "items": {"type": "string", "pattern": SLUG_PATTERN}},
}
METRICS = {"text/plain": {"schema": {"type": "string", "description": "Prometheus text exposition"}}}
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


BOUNDS = ("pattern", "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems")


def _first_pattern(schema: Any, key: str = "pattern") -> Any:
    """The first `key` (a pattern, or a bound) in a schema or its branches."""
    if isinstance(schema, dict):
        if schema.get(key) is not None:
            return schema[key]
        for branch in schema.get("anyOf", []) + schema.get("oneOf", []):
            if (found := _first_pattern(branch, key)) is not None:
                return found
    return None


def _add_patterns(components: dict[str, Any]) -> None:
    """Copy each field's `pattern` and bounds (BOUNDS) from the pydantic model into its component schema
    where Litestar left them out (it does for nullable fields)."""
    models = _models()
    for name, component in components.items():
        model = models.get(name)
        if model is None:
            continue
        source = model.model_json_schema(mode="validation").get("properties", {})
        for field, prop in component.get("properties", {}).items():
            for key in BOUNDS:
                value = _first_pattern(source.get(field), key)
                if value is None or _first_pattern(prop, key) is not None:
                    continue
                kind = "string" if key in ("pattern", "minLength", "maxLength") else None
                kind = kind or ("array" if key in ("minItems", "maxItems") else None)
                typed = [
                    b
                    for b in prop.get("oneOf", [])
                    if b.get("type") in ((kind,) if kind else ("integer", "number"))
                ]
                for target in typed or ([prop] if "oneOf" not in prop else []):
                    target[key] = value


def _branch(prop: dict[str, Any], refinement: dict[str, Any]) -> dict[str, Any]:
    """The part of a property a refinement applies to: its non-null branch, or its array branch."""
    branches = [b for b in prop.get("oneOf", []) + prop.get("anyOf", []) if b.get("type") != "null"]
    if "minItems" in refinement:
        branches = [b for b in branches if b.get("type") == "array"]
    return branches[0] if branches else prop


def _refine(components: dict[str, Any]) -> None:
    """REFINE, and `additionalProperties: false` for the models that forbid other fields."""
    models = _models()
    for name, component in components.items():
        model = models.get(name)
        if model is not None and model.model_config.get("extra") == "forbid":
            component["additionalProperties"] = False
        for field, prop in component.get("properties", {}).items():
            if (refinement := REFINE.get((name, field))) is not None:
                _branch(prop, refinement).update(refinement)


def _no_nul(schema: Any) -> None:
    """A NUL-free pattern on every plain string (one without a pattern, enum, const or format of its
    own), and NUL-free property names, wherever they sit in a schema."""
    if isinstance(schema, list):
        for item in schema:
            _no_nul(item)
        return
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string" and not {"pattern", "enum", "const", "format"} & schema.keys():
        schema["pattern"] = NO_NUL
    free_keys = schema.get("additionalProperties") not in (None, False)
    if schema.get("type") == "object" and "propertyNames" not in schema and free_keys:
        schema["propertyNames"] = {"pattern": NO_NUL}
    for key, value in schema.items():
        if key in ("properties", "$defs"):
            for item in value.values():
                _no_nul(item)
        elif key in ("items", "additionalProperties", "oneOf", "anyOf", "allOf", "prefixItems", "schema"):
            _no_nul(value)


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
    _refine(components)
    for component in components.values():
        if component is not PROBLEM:
            _no_nul(component)
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
                _no_nul(parameter.get("schema"))
            if (method, path) in IF_MATCH:
                parameters.append(
                    {
                        "name": "If-Match",
                        "in": "header",
                        "required": IF_MATCH[(method, path)],
                        "description": "the draft's current version (its ETag, from GET /v1/drafts/{id})",
                        "schema": {"type": "string", "pattern": r'^(W/)?"?\d{1,9}"?$'},
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
            if (method, path) == ("get", "/metrics"):
                operation["responses"]["200"]["content"] = METRICS
            responses = operation.setdefault("responses", {})
            for status in _responses(method, path, operation):
                responses[str(status)] = {"description": WHY[status], "content": problem}
    return schema


def install(app: Litestar) -> None:
    """Describe the app's schema once; the OpenAPI plugin serves this same (cached) document."""
    describe(app.plugins.get(OpenAPIPlugin).provide_openapi_schema())
