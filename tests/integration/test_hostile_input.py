"""Inputs an attacker sends to find 500s: each is a clear 4xx problem+json, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api

DEEP = b"[" * 10000 + b"]" * 10000


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = dict(response.json())
    assert body["status"] == status and body["type"] and body["title"] and body["detail"]
    return body


def _fields(body: dict[str, Any]) -> set[str]:
    return {e["field"] for e in body.get("errors") or []}


def _post(**fields: Any) -> dict[str, Any]:
    body = {
        "brand": "shop",
        "channel": "twitter",
        "external_id": "x-1",
        "text": "hi",
        "author": {"handle": "a"},
    }
    return {**body, **fields}


async def _json_routes(api: Api) -> list[tuple[str, str]]:
    """Every POST/PATCH route of the app that takes a JSON body, with its path parameters filled in."""
    app = api.client.app  # type: ignore[attr-defined]
    routes = []
    for route in app.routes:
        for method, handler in getattr(route, "route_handler_map", {}).items():
            handler = handler[0] if isinstance(handler, tuple) else handler
            # the console's routes take forms (CSRF-checked), not JSON: tests/integration/test_console.py
            if (
                method in ("POST", "PATCH")
                and not handler.opt.get("multipart")
                and not handler.opt.get("form")
            ):
                path = route.path.replace("{slug:str}", "shop")
                for name in ("post_id", "draft_id", "incident_id", "document_id"):
                    path = path.replace("{" + name + ":str}", "nope")
                routes.append((method, path))
    return routes


async def test_deeply_nested_json_is_400_on_every_json_route(api: Api) -> None:
    await api.brand("shop")
    routes = await _json_routes(api)
    assert ("POST", "/v1/posts") in routes and ("PATCH", "/v1/brands/shop") in routes
    keys = [api.admin, await api.key("integration", ["shop"]), await api.key("agent", ["shop"])]
    for method, path in routes:
        for body in (DEEP, b'{"text": ' + DEEP + b"}"):
            for key in keys:  # the role the route allows: guards answer before the body is read
                response = await api.client.request(
                    method, path, content=body, headers={**key, "content-type": "application/json"}
                )
                if response.status_code != 403:
                    break
            problem = _problem(response, 400)
            assert "nested" in problem["detail"], (method, path, problem)


async def test_created_at_that_overflows_in_utc_is_422(api: Api) -> None:
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    response = await api.client.post(
        "/v1/posts", json=_post(created_at="9999-12-31T23:59:59-23:59"), headers=integration
    )
    assert "created_at" in _fields(_problem(response, 422))
    fine = await api.client.post(
        "/v1/posts", json=_post(created_at="2026-11-30T10:00:00-05:00"), headers=integration
    )
    assert fine.status_code == 202, fine.text


async def test_followers_are_bounded(api: Api) -> None:
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    response = await api.client.post(
        "/v1/posts", json=_post(author={"handle": "a", "followers": 2**63}), headers=integration
    )
    assert "author.followers" in _fields(_problem(response, 422))
    big = await api.client.post(
        "/v1/posts", json=_post(author={"handle": "a", "followers": 10**12}), headers=integration
    )
    assert big.status_code == 202, big.text


async def test_sla_minutes_are_bounded(api: Api) -> None:
    response = await api.client.post(
        "/v1/brands",
        json={"slug": "shop", "name": "Shop", "language": "en", "sla_minutes": {"urgent": 10**20}},
        headers=api.admin,
    )
    assert "sla_minutes" in _fields(_problem(response, 422))


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"text": "where is my\x00 order"}, "text"),
        ({"author": {"handle": "ja\x00ne"}}, "author.handle"),
        ({"external_id": "18\x0070"}, "external_id"),
    ],
)
async def test_nul_characters_in_a_post_are_422(api: Api, fields: dict[str, Any], named: str) -> None:
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    response = await api.client.post("/v1/posts", json=_post(**fields), headers=integration)
    assert named in _fields(_problem(response, 422))


async def test_nul_characters_elsewhere_are_422(api: Api) -> None:
    created = await api.client.post(
        "/v1/brands", json={"slug": "shop", "name": "Sh\x00op", "language": "en"}, headers=api.admin
    )
    assert "name" in _fields(_problem(created, 422))
    await api.brand("shop")
    patched = await api.client.patch(
        "/v1/brands/shop", json={"voice": {"banned_phrases": ["ok", "b\x00d"]}}, headers=api.admin
    )
    assert "voice.banned_phrases.1" in _fields(_problem(patched, 422))
    integration = await api.key("integration", ["shop"])
    in_path = await api.client.get("/v1/posts/ab%00cd", headers=integration)
    assert "post_id" in _fields(_problem(in_path, 422))
    in_query = await api.client.get("/v1/brands/shop/knowledge/search?q=a%00b", headers=api.admin)
    assert "q" in _fields(_problem(in_query, 422))


async def test_nul_in_an_upload_file_name_is_422(api: Api) -> None:
    await api.brand("shop")
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="fa\x00q.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
        "How do I return a product? Start at shop.example/returns.\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    response = await api.client.post(
        "/v1/brands/shop/documents",
        content=body,
        headers={**api.admin, "content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert "file" in _fields(_problem(response, 422))


async def test_if_match_beyond_any_version_is_4xx(api: Api) -> None:
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    agent = await api.key("agent", ["shop"])
    post_id = await api.send_post(integration, "im-1", "How do I return my headphones?")
    post = await api.wait_post(post_id, integration)
    assert post["draft"], post
    draft_id = post["draft"]["id"]
    for method, path, body in (
        ("PATCH", f"/v1/drafts/{draft_id}", {"text": "Hi!"}),
        ("POST", f"/v1/drafts/{draft_id}/approve", {}),
        ("POST", f"/v1/drafts/{draft_id}/regenerate", {}),
    ):
        for value in ("99999999999999999999999", "2147483648"):
            response = await api.client.request(method, path, json=body, headers={**agent, "If-Match": value})
            problem = _problem(response, 422)
            assert "If-Match" in _fields(problem), (method, path, problem)
    still = await api.client.get(f"/v1/drafts/{draft_id}", headers=agent)
    assert still.json()["version"] == post["draft"]["version"]  # nothing changed
