"""The OpenAPI schema describes what the API really does: problem+json errors, the If-Match and
Idempotency-Key headers, the upload's multipart body, the patterns of slugs, languages and channels; and
405 answers list every method a path has."""

from __future__ import annotations

from typing import Any

from service.brands.schemas import SLUG_PATTERN
from tests.conftest import Api

PROBLEM_REF = "#/components/schemas/Problem"
OPS = ("get", "post", "patch", "put", "delete")


def _problem_statuses(operation: dict[str, Any]) -> set[int]:
    out = set()
    for status, response in operation["responses"].items():
        content = response.get("content", {})
        if int(status) >= 400:
            assert list(content) == ["application/problem+json"], (status, response)
            assert content["application/problem+json"]["schema"]["$ref"] == PROBLEM_REF
            out.add(int(status))
    return out


def _header(operation: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next(
        (p for p in operation.get("parameters", []) if p["in"] == "header" and p["name"] == name), None
    )


async def test_the_schema_documents_errors_headers_bodies_and_patterns(api: Api) -> None:
    schema = (await api.client.get("/schema/openapi.json")).json()
    paths = schema["paths"]
    problem = schema["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"]) and "errors" in problem[
        "properties"
    ]

    for path, item in paths.items():
        for method in OPS:
            if method not in item or not path.startswith("/v1/"):
                continue
            statuses = _problem_statuses(item[method])
            assert {401, 403, 422} <= statuses, (method, path, statuses)
            if "{" in path:
                assert 404 in statuses, (method, path)
            if method in ("post", "patch"):
                assert {409, 413, 415} <= statuses, (method, path)
            if method == "post":
                assert _header(item[method], "Idempotency-Key") is not None, path
    assert {409, 422} <= _problem_statuses(paths["/v1/brands"]["post"])

    for method, path, required in (
        ("patch", "/v1/drafts/{draft_id}", True),
        ("post", "/v1/drafts/{draft_id}/approve", True),
        ("post", "/v1/drafts/{draft_id}/regenerate", False),
    ):
        if_match = _header(paths[path][method], "If-Match")
        assert if_match is not None and if_match["required"] is required, (method, path)
        assert (428 in _problem_statuses(paths[path][method])) is required

    upload = paths["/v1/brands/{slug}/documents"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert upload["schema"]["required"] == ["file"]
    assert upload["schema"]["properties"]["file"]["format"] == "binary"
    assert upload["schema"]["properties"]["kind"]["enum"] == ["faq", "doc"]

    components = schema["components"]["schemas"]
    assert components["BrandIn"]["properties"]["slug"]["pattern"] == SLUG_PATTERN
    assert components["BrandIn"]["properties"]["language"]["pattern"] == "^[a-z]{2}$"
    assert components["PostIn"]["properties"]["brand"]["pattern"] == SLUG_PATTERN
    assert components["PostIn"]["properties"]["channel"]["pattern"].startswith("^[a-z]")
    patch_language = components["BrandPatch"]["properties"]["language"]
    assert any(b.get("pattern") == "^[a-z]{2}$" for b in patch_language.get("oneOf", [patch_language]))
    slug = next(p for p in paths["/v1/brands/{slug}"]["get"]["parameters"] if p["name"] == "slug")
    assert slug["in"] == "path" and slug["schema"]["pattern"] == SLUG_PATTERN
    queue_brand = next(p for p in paths["/v1/queue"]["get"]["parameters"] if p["name"] == "brand")
    assert queue_brand["schema"]["pattern"] == SLUG_PATTERN


async def test_405_lists_every_method_of_the_path(api: Api) -> None:
    await api.brand("shop")
    schema = (await api.client.get("/schema/openapi.json")).json()
    filled = {
        "{slug}": "shop",
        "{draft_id}": "d1",
        "{post_id}": "p1",
        "{incident_id}": "i1",
        "{document_id}": "x",
    }
    checked = 0
    for path, item in schema["paths"].items():
        methods = {m.upper() for m in OPS if m in item}
        unused = next((m for m in ("PUT", "DELETE", "PATCH", "POST") if m not in methods), None)
        if unused is None:
            continue
        url = path
        for placeholder, value in filled.items():
            url = url.replace(placeholder, value)
        response = await api.client.request(unused, url, headers=api.admin)
        assert response.status_code == 405, (unused, url, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        allowed = {m.strip() for m in response.headers["allow"].split(",")}
        assert methods <= allowed, (path, methods, allowed)
        checked += 1
    assert checked > 10
    agent = await api.key("agent", ["shop"])
    for path, item in schema["paths"].items():  # and the OPTIONS answer of every path
        methods = {m.upper() for m in OPS if m in item}
        url = path
        for placeholder, value in filled.items():
            url = url.replace(placeholder, value)
        options = await api.client.options(url, headers=api.admin)
        if options.status_code == 403:  # the drafts' guard covers OPTIONS too
            options = await api.client.options(url, headers=agent)
        assert options.status_code == 204, (url, options.text)
        assert methods <= {m.strip() for m in options.headers["allow"].split(",")}, (path, options.headers)
    assert {"GET", "PATCH"} <= {
        m.strip()
        for m in (await api.client.delete("/v1/brands/shop", headers=api.admin)).headers["allow"].split(",")
    }
