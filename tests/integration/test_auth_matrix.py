"""Every route: no or unknown key gets 401, wrong roles and other brands' keys 403, as problem+json."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from service.models import Brand, Incident
from tests.conftest import Api

ROLES = ("admin", "integration", "agent")

# (method, path, allowed roles, json body); {post}, {draft}, {doc} are filled in per test.
ROUTES: list[tuple[str, str, tuple[str, ...], Any]] = [
    ("POST", "/v1/brands", ("admin",), {"slug": "new-brand", "name": "N", "language": "en"}),
    ("GET", "/v1/brands/shop", ("admin", "agent", "integration"), None),
    ("PATCH", "/v1/brands/shop", ("admin",), {"name": "Shop 2"}),
    ("POST", "/v1/api-keys", ("admin",), {"name": "k", "role": "agent", "brands": ["shop"]}),
    ("GET", "/v1/brands/shop/documents", ("admin",), None),
    ("GET", "/v1/brands/shop/documents/{doc}", ("admin",), None),
    ("DELETE", "/v1/brands/shop/documents/{doc}", ("admin",), None),
    ("GET", "/v1/brands/shop/knowledge/search?q=return", ("admin", "agent"), None),
    (
        "POST",
        "/v1/posts",
        ("integration",),
        {
            "brand": "shop",
            "channel": "twitter",
            "external_id": "m-1",
            "text": "hi?",
            "author": {"handle": "a"},
        },
    ),
    ("GET", "/v1/posts/{post}", ("integration", "agent", "admin"), None),
    ("POST", "/v1/posts/{post}/published", ("integration",), {"external_reply_id": "x"}),
    ("GET", "/v1/queue?brand=shop", ("agent",), None),
    ("GET", "/v1/drafts/{draft}", ("agent",), None),
    ("PATCH", "/v1/drafts/{draft}", ("agent",), {"text": "edited"}),
    ("POST", "/v1/drafts/{draft}/approve", ("agent",), {}),
    ("POST", "/v1/drafts/{draft}/reject", ("agent",), {"reason": "no"}),
    ("POST", "/v1/drafts/{draft}/regenerate", ("agent",), {}),
    ("POST", "/v1/brands/shop/out-of-hours-reply/approve", ("admin",), {}),
    ("GET", "/v1/incidents?brand=shop", ("agent",), None),
    ("GET", "/v1/incidents/{incident}", ("agent",), None),
    ("POST", "/v1/incidents/{incident}/redraft", ("agent",), {}),
    ("POST", "/v1/incidents/{incident}/close", ("agent",), {}),
    ("POST", "/v1/brands/shop/members", ("admin",), {"name": "M"}),
    ("GET", "/v1/brands/shop/members", ("admin", "agent"), None),
    ("PATCH", "/v1/brands/shop/members/m0", ("admin",), {"name": "N"}),
    ("DELETE", "/v1/brands/shop/members/m0", ("admin",), None),
    ("POST", "/v1/posts/{post}/claim", ("agent",), {}),
    ("POST", "/v1/posts/{post}/assign", ("admin",), {"member_id": None}),
    ("GET", "/v1/brands/shop/forecast", ("admin", "agent"), None),
    ("GET", "/v1/brands/shop/analytics", ("admin", "agent"), None),
    ("GET", "/v1/brands/shop/knowledge-gaps", ("admin", "agent"), None),
    ("POST", "/v1/brands/shop/feeds", ("admin",), {"url": "http://127.0.0.1:9/feed.atom"}),
    ("GET", "/v1/brands/shop/feeds", ("admin",), None),
    ("GET", "/v1/brands/shop/feeds/f0", ("admin",), None),
    ("DELETE", "/v1/brands/shop/feeds/f0", ("admin",), None),
]


@pytest.fixture
async def world(api: Api) -> dict[str, Any]:
    await api.brand("shop")
    await api.brand("other")
    keys = {(role, scope): await api.key(role, [scope]) for role in ROLES for scope in ("shop", "other")}
    faq = [{"id": "f1", "question": "How do I return an item?", "answer": "Within 30 days."}]
    doc = await api.upload("shop", "faq.json", json.dumps(faq).encode())
    await api.wait_document("shop", doc["id"])
    response = await api.client.post(
        "/v1/posts",
        headers=keys[("integration", "shop")],
        json={
            "brand": "shop",
            "channel": "twitter",
            "external_id": "p-1",
            "text": "How do I return this?",
            "author": {"handle": "jane"},
        },
    )
    post = await api.wait_post(response.json()["id"], keys[("integration", "shop")])
    runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.transaction() as session:  # an incident of brand shop, to address by id
        brand_id = await session.scalar(sa.select(Brand.id).where(Brand.slug == "shop"))
        incident = Incident(brand_id=brand_id, title="app login outage", post_count=3, author_count=3)
        session.add(incident)
        await session.flush()
        incident_id = incident.id
    return {
        "keys": keys,
        "post": post["id"],
        "draft": post["draft"]["id"],
        "doc": doc["id"],
        "incident": incident_id,
    }


def _problem(response: Any, status: int) -> None:
    assert response.status_code == status, (response.request.url, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]


async def test_every_route_checks_key_role_and_brand(api: Api, world: dict[str, Any]) -> None:
    for method, template, allowed, body in ROUTES:
        path = template.format(
            post=world["post"], draft=world["draft"], doc=world["doc"], incident=world["incident"]
        )
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        headers = {"If-Match": "1"}

        _problem(await api.client.request(method, path, headers=headers, **kwargs), 401)
        bad = {**headers, "Authorization": "Bearer rk_not-a-real-key"}
        _problem(await api.client.request(method, path, headers=bad, **kwargs), 401)
        for role in ROLES:
            if role in allowed:
                continue
            wrong = {**headers, **world["keys"][(role, "shop")]}
            _problem(await api.client.request(method, path, headers=wrong, **kwargs), 403)
        for role in allowed:
            other = {**headers, **world["keys"][(role, "other")]}
            _problem(await api.client.request(method, path, headers=other, **kwargs), 403)


async def test_allowed_role_in_scope_passes(api: Api, world: dict[str, Any]) -> None:
    """The same matrix's positive side: the right key is not refused (read routes)."""
    agent = world["keys"][("agent", "shop")]
    assert (await api.client.get(f"/v1/drafts/{world['draft']}", headers=agent)).status_code == 200
    assert (await api.client.get("/v1/queue?brand=shop", headers=agent)).status_code == 200
    assert (await api.client.get("/v1/brands/shop/documents", headers=api.admin)).status_code == 200
    integration = world["keys"][("integration", "shop")]
    assert (await api.client.get(f"/v1/posts/{world['post']}", headers=integration)).status_code == 200


async def test_scoped_admin_cannot_escalate(api: Api, world: dict[str, Any]) -> None:
    scoped_admin = world["keys"][("admin", "shop")]
    response = await api.client.post(
        "/v1/api-keys", headers=scoped_admin, json={"name": "x", "role": "agent", "brands": "*"}
    )
    _problem(response, 403)
    response = await api.client.post(
        "/v1/api-keys", headers=scoped_admin, json={"name": "x", "role": "agent", "brands": ["other"]}
    )
    _problem(response, 403)
