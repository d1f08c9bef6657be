"""The authorization matrix, generated from the app's own route table: every /v1 route (path and method
as Litestar registered them) × every role (admin, agent, integration) × own brand / other brand, plus no
key and an unknown key. No or unknown key: 401; a role the route does not allow: 403; an allowed role
with a key for another brand: 403; an allowed role with a key for the brand: the route's own answer
(`ok`), never 401/403. All as problem+json. One app, seeded once per database.

Adding a route: add ONE line to `MATRIX` below, keyed "METHOD /path/{param}" exactly as the route is
registered (the failure message prints the key to copy), with the roles that may call it. A route in the
app without a line fails the test, and so does a line without a route. Routes outside /v1 go in
`UNGUARDED` (they answer without a key), `OWN_AUTH` (signed in otherwise: the console) or `MATRIX` (if
they are guarded like /v1)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.routes import HTTPRoute

from service.models import Brand, Event, Incident
from tests.conftest import Api
from tests.fakes.receiver import WebhookReceiver

ROLES = ("admin", "agent", "integration")
ALL = ROLES
POST_BODY = {
    "brand": "shop",
    "channel": "twitter",
    "external_id": "m-1",
    "text": "hi?",
    "author": {"handle": "a"},
}


@dataclass(frozen=True)
class Rule:
    """Who may call a route: `roles`; the request's `body` (JSON), `query` and extra `headers`; `ok`, the
    statuses the in-scope key gets (the route's real answer to this request, 2xx unless noted)."""

    roles: tuple[str, ...]
    body: Any = None
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    ok: tuple[int, ...] = (200, 201, 202, 204)


# One line per route. Path parameters are filled from the seeded world (`world` below: slug, post_id,
# draft_id, document_id, incident_id, delivery_id); a new parameter name needs a value there too.
# The in-scope (positive) calls run in this order, after every refusal has been checked.
MATRIX: dict[str, Rule] = {
    "GET /v1/brands/{slug}": Rule(ALL),
    "PATCH /v1/brands/{slug}": Rule(("admin",), body={"name": "Shop 2"}),
    "POST /v1/brands": Rule(("admin",), body={"slug": "new-brand", "name": "N", "language": "en"}, ok=(403,)),
    "POST /v1/api-keys": Rule(("admin",), body={"name": "k", "role": "agent", "brands": ["shop"]}),
    "POST /v1/brands/{slug}/out-of-hours-reply/approve": Rule(("admin",), body={}, ok=(200, 409)),
    "GET /v1/brands/{slug}/documents": Rule(("admin",)),
    "GET /v1/brands/{slug}/documents/{document_id}": Rule(("admin",)),
    "POST /v1/brands/{slug}/documents": Rule(("admin",)),  # multipart: sent as a file upload
    "GET /v1/brands/{slug}/knowledge/search": Rule(("admin", "agent"), query="q=return"),
    "POST /v1/posts": Rule(("integration",), body=POST_BODY),
    "GET /v1/posts/{post_id}": Rule(ALL),
    "POST /v1/posts/{post_id}/published": Rule(("integration",), body={"external_reply_id": "x"}, ok=(409,)),
    "GET /v1/queue": Rule(("agent",), query="brand=shop"),
    "GET /v1/drafts/{draft_id}": Rule(("agent",)),
    "GET /v1/drafts/{draft_id}/versions": Rule(("agent",)),
    "PATCH /v1/drafts/{draft_id}": Rule(("agent",), body={"text": "edited"}, headers={"If-Match": "1"}),
    "POST /v1/drafts/{draft_id}/approve": Rule(("agent",), body={}, headers={"If-Match": "2"}),
    "POST /v1/drafts/{draft_id}/reject": Rule(("agent",), body={"reason": "no"}, ok=(409,)),
    "POST /v1/drafts/{draft_id}/regenerate": Rule(("agent",), body={}, ok=(409,)),
    "GET /v1/incidents": Rule(("agent",), query="brand=shop"),
    "GET /v1/incidents/{incident_id}": Rule(("agent",)),
    "POST /v1/incidents/{incident_id}/redraft": Rule(("agent",), body={}),
    "POST /v1/incidents/{incident_id}/close": Rule(("agent",), body={}),
    "GET /v1/brands/{slug}/deliveries": Rule(("admin",)),
    "POST /v1/deliveries/{delivery_id}/replay": Rule(("admin",), body={}),
    "POST /v1/brands/{slug}/members": Rule(("admin",), body={"name": "M"}),
    "GET /v1/brands/{slug}/members": Rule(("admin", "agent")),
    "PATCH /v1/brands/{slug}/members/{member_id}": Rule(("admin",), body={"name": "N"}),
    "POST /v1/posts/{post_id}/claim": Rule(("agent",), body={}, ok=(409,)),  # the agent is no member
    "POST /v1/posts/{post_id}/assign": Rule(("admin",), body={"member_id": None}, ok=(200, 409)),
    "DELETE /v1/brands/{slug}/members/{member_id}": Rule(("admin",)),
    "GET /v1/brands/{slug}/forecast": Rule(("admin", "agent")),
    "GET /v1/brands/{slug}/analytics": Rule(("admin", "agent")),
    "GET /v1/brands/{slug}/knowledge-gaps": Rule(("admin", "agent")),
    "POST /v1/brands/{slug}/feeds": Rule(("admin",), body={"url": "https://forum.example.com/b.atom"}),
    "GET /v1/brands/{slug}/feeds": Rule(("admin",)),
    "GET /v1/brands/{slug}/feeds/{feed_id}": Rule(("admin",)),
    "DELETE /v1/brands/{slug}/feeds/{feed_id}": Rule(("admin",)),
    "GET /v1/brands/{slug}/audit": Rule(("admin",)),
    "POST /v1/brands/{slug}/erasures": Rule(("admin",), body={"channel": "twitter", "handle": "nobody"}),
    # an id nobody made: the allowed key gets the route's 404, every other key its 401/403 first
    "GET /v1/brands/{slug}/erasures/{erasure_id}": Rule(("admin",), ok=(404,)),
    "DELETE /v1/brands/{slug}/documents/{document_id}": Rule(("admin",)),
}
# Routes that answer without a key: operations, metrics and the schema (prefixes).
UNGUARDED = ("/health", "/ready", "/metrics", "/schema")
# Routes with an authentication of their own, not API keys (prefixes): the agent console signs in with a
# session cookie; its own tests cover who may do what there (tests/e2e/test_console.py).
OWN_AUTH = ("/console",)


def app_routes(app: Any) -> set[str]:
    """'METHOD /path' for every handler in the app's route table (Litestar's own OPTIONS left out)."""
    found = set()
    for route in app.routes:
        assert isinstance(route, HTTPRoute), f"a route kind this matrix does not know: {route!r}"
        for handler in route.route_handlers:
            for method in handler.http_methods:
                if method not in ("OPTIONS", "HEAD"):
                    found.add(f"{method} {route.path_format}")
    return found


async def seed(api: Api, receiver: WebhookReceiver) -> dict[str, Any]:
    await api.brand("shop", webhook={"url": receiver.url})  # so the brand has deliveries
    await api.brand("other")
    keys = {(role, scope): await api.key(role, [scope]) for role in ROLES for scope in ("shop", "other")}
    faq = [{"id": "f1", "question": "How do I return an item?", "answer": "Within 30 days."}]
    doc = await api.upload("shop", "faq.json", json.dumps(faq).encode())
    await api.wait_document("shop", doc["id"])
    integration = keys[("integration", "shop")]
    post_id = await api.send_post(integration, "p-1", "How do I return this?")
    post = await api.wait_post(post_id, integration)
    runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.transaction() as session:  # an incident of brand shop, to address by id
        brand_id = await session.scalar(sa.select(Brand.id).where(Brand.slug == "shop"))
        incident = Incident(brand_id=brand_id, title="app login outage", post_count=3, author_count=3)
        session.add(incident)
        await session.flush()
        incident_id = incident.id
    await api.settled_jobs()
    async with runtime.sessionmaker() as session:
        delivery_id = await session.scalar(sa.select(Event.id).where(Event.brand_id == brand_id).limit(1))
    assert delivery_id is not None
    member = await api.client.post("/v1/brands/shop/members", json={"name": "Mo"}, headers=api.admin)
    feed = await api.client.post(
        "/v1/brands/shop/feeds", json={"url": "https://forum.example.com/a.atom"}, headers=api.admin
    )
    assert member.status_code == 201 and feed.status_code == 201, (member.text, feed.text)
    return {
        "keys": keys,
        "params": {
            "slug": "shop",
            "post_id": post_id,
            "draft_id": post["draft"]["id"],
            "document_id": doc["id"],
            "incident_id": incident_id,
            "delivery_id": delivery_id,
            "member_id": member.json()["id"],
            "feed_id": feed.json()["id"],
            "erasure_id": "e-unknown",
        },
    }


async def call(api: Api, world: dict[str, Any], key: str, rule: Rule, auth: dict[str, str]) -> Any:
    method, template = key.split(" ", 1)
    try:
        path = template.format(**world["params"])
    except KeyError as exc:
        raise AssertionError(f"{key}: add a seeded value for path parameter {exc} in seed()") from None
    url = path + (f"?{rule.query}" if rule.query else "")
    headers = {**rule.headers, **auth}
    if key == "POST /v1/brands/{slug}/documents":
        faq = b'[{"id": "f2", "question": "Shipping?", "answer": "To the EU."}]'
        return await api.client.post(url, headers=headers, files={"file": ("more.json", faq)})
    kwargs: dict[str, Any] = {"json": rule.body} if rule.body is not None else {}
    return await api.client.request(method, url, headers=headers, **kwargs)


def problem_failure(where: str, response: Any, status: int) -> str | None:
    if response.status_code != status:
        return f"{where}: expected {status}, got {response.status_code} {response.text[:200]}"
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return f"{where}: {status} is not problem+json"
    body = response.json()
    if not (body.get("status") == status and body.get("title") and body.get("detail")):
        return f"{where}: problem body incomplete: {body}"
    return None


async def test_every_route_in_the_app_checks_key_role_and_brand(api: Api, receiver: WebhookReceiver) -> None:
    routes = app_routes(api.client.app)  # type: ignore[attr-defined]
    guarded = {r for r in routes if r.split(" ", 1)[1].startswith("/v1/") or r in MATRIX}
    own_auth = {r for r in routes - guarded if r.split(" ", 1)[1].startswith(OWN_AUTH)}
    unguarded = routes - guarded - own_auth
    without_entry = sorted(guarded - MATRIX.keys())
    assert not without_entry, f"routes without a line in MATRIX (add one per route): {without_entry}"
    without_route = sorted(MATRIX.keys() - routes)
    assert not without_route, f"MATRIX lines without a route in the app (remove or fix): {without_route}"
    strays = sorted(r for r in unguarded if not r.split(" ", 1)[1].startswith(UNGUARDED))
    assert not strays, f"routes outside /v1 in none of MATRIX, UNGUARDED, OWN_AUTH: {strays}"

    world = await seed(api, receiver)
    failures: list[str] = []
    cells = 0
    for key, rule in MATRIX.items():
        assert set(rule.roles) <= set(ROLES), key
        checks: list[tuple[str, dict[str, str], int]] = [
            ("no key", {}, 401),
            ("unknown key", {"Authorization": "Bearer rk_not-a-real-key"}, 401),
        ]
        for role in ROLES:
            if role not in rule.roles:  # a refused role is refused for its own brand and any other
                checks += [
                    (f"{role}@{scope}", world["keys"][(role, scope)], 403) for scope in ("shop", "other")
                ]
            else:
                checks.append((f"{role}@other", world["keys"][(role, "other")], 403))
        for label, auth, status in checks:
            cells += 1
            failure = problem_failure(f"{key} as {label}", await call(api, world, key, rule, auth), status)
            if failure:
                failures.append(failure)
    # The positive side, after every refusal (which must have changed nothing): each allowed role with a
    # key for the brand gets the route's own answer.
    for key, rule in MATRIX.items():
        for role in rule.roles:
            cells += 1
            response = await call(api, world, key, rule, world["keys"][(role, "shop")])
            if response.status_code not in rule.ok:
                got = f"{response.status_code} {response.text[:200]}"
                failures.append(f"{key} as {role}@shop: expected {rule.ok}, got {got}")
    for path in sorted(r.split(" ", 1)[1] for r in unguarded if r.startswith("GET ")):
        if "{" in path:
            continue
        cells += 1
        response = await api.client.get(path)
        if response.status_code in (401, 403) or response.status_code >= 500:
            failures.append(f"GET {path} without a key: {response.status_code}")
    print(json.dumps({"auth_matrix": {"routes": len(MATRIX), "cells": cells, "failures": len(failures)}}))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("brands", ["*", ["other"]])
async def test_scoped_admin_cannot_escalate(api: Api, brands: Any) -> None:
    await api.brand("shop")
    await api.brand("other")
    scoped_admin = await api.key("admin", ["shop"])
    response = await api.client.post(
        "/v1/api-keys", headers=scoped_admin, json={"name": "x", "role": "agent", "brands": brands}
    )
    assert problem_failure("escalation", response, 403) is None, response.text
