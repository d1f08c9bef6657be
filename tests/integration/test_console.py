"""The console over HTTP (the app from its factory): sign-in, CSRF, roles, security headers, and the
review actions going through the same service functions as the API. The browser test is
tests/e2e/test_console.py."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from tests.conftest import ADMIN_KEY, Api


def csrf(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    page = await client.get("/console/login")
    assert page.status_code == 200
    return await client.post("/console/login", data={"key": key, "_csrf_token": csrf(page.text)})


async def agent_key(api: Api) -> str:
    response = await api.client.post(
        "/v1/api-keys", json={"name": "agent", "role": "agent", "brands": ["shop"]}, headers=api.admin
    )
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


async def test_sign_in_security_headers_and_roles(api: Api) -> None:
    await api.brand("shop")
    client = api.client
    login = await client.get("/console/login")
    headers = login.headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cache-control"] == "no-store"
    static = await client.get("/console/static/console.js")
    assert static.status_code == 200 and static.headers["x-frame-options"] == "DENY"
    assert "no-store" not in static.headers.get("cache-control", "")

    # not signed in: pages send the browser to the login
    assert (await client.get("/console/queue")).headers["location"].endswith("/console/login")

    bad = await sign_in(client, "rk_not-a-key")
    assert bad.status_code == 401 and "Unknown or revoked key" in bad.text
    integration = await api.key("integration", ["shop"])
    refused = await sign_in(client, integration["Authorization"].split()[1])
    assert refused.status_code == 403

    agent = await agent_key(api)
    ok = await sign_in(client, agent)
    assert ok.status_code == 303, ok.text
    cookie = next(c for c in ok.headers.get_list("set-cookie") if c.startswith("console_session="))
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Path=/console" in cookie
    assert agent not in cookie  # the key's secret never travels in the cookie
    queue = await client.get("/console/queue")
    assert queue.status_code == 200 and "shop" in queue.text
    # an agent is refused on the admin pages, and sees no link to them
    assert "/console/knowledge" not in queue.text
    assert (await client.get("/console/knowledge")).status_code == 403
    assert (await client.get("/console/brand")).status_code == 403
    token = csrf(queue.text)
    upload = await client.post(
        "/console/knowledge/shop/upload", files={"file": ("f.md", b"# x")}, data={"_csrf_token": token}
    )
    assert upload.status_code == 403

    # signed out, the old cookie is gone and the pages are closed again
    out = await client.post("/console/logout", data={"_csrf_token": token})
    assert out.status_code == 303
    assert (await client.get("/console/queue")).status_code == 303


async def test_post_without_csrf_token_is_refused(api: Api) -> None:
    await api.brand("shop")
    client = api.client
    assert (await sign_in(client, ADMIN_KEY)).status_code == 303
    page = await client.get("/console/brand?brand=shop")
    assert page.status_code == 200
    body: dict[str, Any] = {"name": "Evil", "language": "en", "timezone": "Europe/Berlin"}
    refused = await client.post("/console/brand/shop", data=body)
    assert refused.status_code == 403
    wrong = await client.post("/console/brand/shop", data={**body, "_csrf_token": "x" * 40})
    assert wrong.status_code == 403
    assert (await client.get("/v1/brands/shop", headers=api.admin)).json()["name"] == "Shop"
    # a sign-in form is no exception (login CSRF)
    assert (await client.post("/console/login", data={"key": ADMIN_KEY})).status_code == 403
    # with the token the same change goes through, by the API's rules
    saved = await client.post("/console/brand/shop", data={**body, "_csrf_token": csrf(page.text)})
    assert saved.status_code == 303, saved.text
    assert (await client.get("/v1/brands/shop", headers=api.admin)).json()["name"] == "Evil"


async def test_brand_form_errors_name_the_field(api: Api) -> None:
    await api.brand("shop")
    client = api.client
    await sign_in(client, ADMIN_KEY)
    token = csrf((await client.get("/console/brand?brand=shop")).text)
    base = {"name": "Shop", "language": "en", "timezone": "Europe/Berlin", "_csrf_token": token}
    bad_json = await client.post("/console/brand/shop", data={**base, "channels": "{not json"})
    assert bad_json.status_code == 422 and "channels" in bad_json.text
    bad_zone = await client.post("/console/brand/shop", data={**base, "timezone": "Mars/Olympus"})
    assert bad_zone.status_code == 422 and "timezone" in bad_zone.text
    meta = await client.post("/console/brand/shop", data={**base, "webhook_url": "http://169.254.169.254/x"})
    assert meta.status_code == 422
    hook = await client.post("/console/brand/shop", data={**base, "webhook_url": "http://127.0.0.1:9/hooks"})
    assert hook.status_code == 200 and re.search(r'id="webhook-secret">whsec_', hook.text)


async def test_language_follows_the_browser_and_the_switch(api: Api) -> None:
    client = api.client
    german = await client.get("/console/login", headers={"accept-language": "de-DE,de;q=0.9,en;q=0.5"})
    assert "Anmelden" in german.text and '<html lang="de">' in german.text
    switched = await client.post(
        "/console/language",
        data={"language": "en", "back": "/console/login", "_csrf_token": csrf(german.text)},
    )
    assert switched.status_code == 303 and switched.headers["location"] == "/console/login"
    english = await client.get("/console/login", headers={"accept-language": "de"})
    assert "Sign in" in english.text
    away = await client.post(
        "/console/language",
        data={"language": "de", "back": "//evil.example/", "_csrf_token": csrf(english.text)},
    )
    assert away.headers["location"] == "/console/"


async def test_review_actions_use_the_draft_version(api: Api, receiver: Any) -> None:
    await api.brand("shop", webhook={"url": receiver.url})
    integration = await api.key("integration", ["shop"])
    post_id = await api.send_post(integration, "e1", "Do you ship to Norway?")
    await api.wait_post(post_id, integration)
    client = api.client
    await sign_in(client, await agent_key(api))
    page = await client.get(f"/console/posts/{post_id}")
    assert page.status_code == 200, page.text
    token = csrf(page.text)
    draft_id = re.search(r"/console/drafts/([0-9a-f]+)/save", page.text).group(1)  # type: ignore[union-attr]
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)  # type: ignore[union-attr]
    saved = await client.post(
        f"/console/drafts/{draft_id}/save",
        data={"text": "Yes,\r\nwe do.", "version": version, "_csrf_token": token},
    )
    assert saved.status_code == 303, saved.text
    reloaded = await client.get(saved.headers["location"])
    assert "Draft saved." in reloaded.text and ">Yes,\nwe do.</textarea>" in reloaded.text
    stale = await client.post(
        f"/console/drafts/{draft_id}/approve", data={"text": "Mine", "version": version, "_csrf_token": token}
    )
    assert stale.status_code == 409 and "Yes,\nwe do." in stale.text
    empty = await client.post(
        f"/console/drafts/{draft_id}/approve", data={"text": "  ", "version": "2", "_csrf_token": token}
    )
    assert empty.status_code == 422 and "text must not be empty" in empty.text
    approved = await client.post(
        f"/console/drafts/{draft_id}/approve",
        data={"text": "Yes, we do!", "version": "2", "_csrf_token": token},
    )
    assert approved.status_code == 303, approved.text
    draft = (await client.get(f"/v1/posts/{post_id}", headers=integration)).json()["draft"]
    assert draft["status"] == "approved" and draft["text"] == "Yes, we do!"


def _draft_id(html: str) -> str:
    match = re.search(r"/console/drafts/([0-9a-f]+)/save", html)
    assert match, html[:300]
    return match.group(1)


async def test_reject_regenerate_and_brand_scope(api: Api) -> None:
    await api.brand("shop")
    await api.brand("other")
    integration = await api.key("integration", ["shop"])
    first = await api.send_post(integration, "e1", "Do you ship to Norway?")
    second = await api.send_post(integration, "e2", "How do I reset my password?")
    for post_id in (first, second):
        await api.wait_post(post_id, integration)
    client = api.client
    await sign_in(client, await agent_key(api))
    page = await client.get(f"/console/posts/{first}")
    token = csrf(page.text)

    # reject: the reason is required, as the API requires it
    no_reason = await client.post(
        f"/console/drafts/{_draft_id(page.text)}/reject", data={"_csrf_token": token}
    )
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    rejected = await client.post(
        f"/console/drafts/{_draft_id(page.text)}/reject", data={"reason": "off topic", "_csrf_token": token}
    )
    assert rejected.status_code == 303 and "notice=rejected" in rejected.headers["location"]
    assert (await client.get(f"/v1/posts/{first}", headers=integration)).json()["status"] == "rejected"

    # regenerate with an instruction: the page waits (htmx polls /ready) until the new draft is there
    page = await client.get(f"/console/posts/{second}")
    regen = await client.post(
        f"/console/drafts/{_draft_id(page.text)}/regenerate",
        data={"instruction": "shorter", "version": "1", "_csrf_token": token},
    )
    assert regen.status_code == 303
    waiting = await client.get(regen.headers["location"])
    assert waiting.status_code == 200
    post = await api.poll(
        f"/v1/posts/{second}", integration, lambda p: p["draft"] and p["draft"]["generation"] == 2, 30
    )
    assert post["draft"]["instruction"] == "shorter"
    ready = await client.get(f"/console/posts/{second}/ready")
    assert ready.headers.get("hx-refresh") == "true"

    # the agent key is scoped to shop: other's pages and another brand's queue are refused
    assert (await client.get("/console/queue?brand=other")).status_code == 403
    other_integration = await api.key("integration", ["other"])
    body = {
        "brand": "other",
        "channel": "twitter",
        "external_id": "o1",
        "text": "hi?",
        "author": {"handle": "o"},
    }
    foreign = (await client.post("/v1/posts", json=body, headers=other_integration)).json()["id"]
    assert (await client.get(f"/console/posts/{foreign}")).status_code == 403
    assert (await client.get("/console/posts/nope")).status_code == 404


async def test_a_revoked_key_ends_its_session(api: Api) -> None:
    import sqlalchemy as sa

    from service.models import ApiKey, utcnow

    await api.brand("shop")
    client = api.client
    await sign_in(client, await agent_key(api))
    assert (await client.get("/console/queue")).status_code == 200
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.transaction() as session:
        await session.execute(sa.update(ApiKey).where(ApiKey.role == "agent").values(revoked_at=utcnow()))
    assert (await client.get("/console/queue")).headers["location"] == "/console/login"


async def test_replicas_with_the_same_secret_share_sessions(make_client: Any) -> None:
    one = await make_client(console_secret="s" * 32, qdrant_path=":memory:")
    two = await make_client(console_secret="s" * 32, qdrant_path=":memory:", workers=0)
    three = await make_client(console_secret="t" * 32, qdrant_path=":memory:", workers=0)
    assert (await sign_in(one.client, ADMIN_KEY)).status_code == 303
    cookies = {c.name: c.value for c in one.client.cookies.jar}
    assert (await two.client.get("/console/brand", cookies=cookies)).status_code == 200
    # another secret cannot read the cookie: signed out, not an error
    refused = await three.client.get("/console/brand", cookies=cookies)
    assert refused.status_code == 303 and refused.headers["location"] == "/console/login"


async def test_knowledge_upload_replace_and_delete(api: Api) -> None:
    await api.brand("shop")
    client = api.client
    await sign_in(client, ADMIN_KEY)
    token = csrf((await client.get("/console/knowledge?brand=shop")).text)
    for text in (b"# Returns\n\nFree within 30 days.", b"# Returns\n\nFree within 60 days."):
        sent = await client.post(
            "/console/knowledge/shop/upload",
            files={"file": ("returns.md", text)},
            data={"_csrf_token": token},
        )
        assert sent.status_code == 303, sent.text
    [doc] = (await client.get("/v1/brands/shop/documents", headers=api.admin)).json()["items"]
    assert doc["version"] == 2  # the same name replaced the first upload
    await api.wait_document("shop", doc["id"])
    row = await client.get(f"/console/knowledge/shop/documents/{doc['id']}/row")
    assert "doc-ready" in row.text and "hx-get" not in row.text  # a ready row stops polling
    found = await client.get("/console/knowledge?brand=shop&q=How long can I return things?")
    assert "60 days" in found.text and "30 days" not in found.text
    no_file = await client.post(
        "/console/knowledge/shop/upload", files={"kind": (None, "faq")}, data={"_csrf_token": token}
    )
    assert no_file.status_code == 422 and "file" in no_file.text
    gone = await client.post(
        f"/console/knowledge/shop/documents/{doc['id']}/delete", data={"_csrf_token": token}
    )
    assert gone.status_code == 303
    assert (await client.get("/v1/brands/shop/documents", headers=api.admin)).json()["items"] == []


async def test_webhook_test_send_carries_no_reply(api: Api, receiver: Any) -> None:
    from tests.fakes.receiver import verified

    created = await api.brand("shop", webhook={"url": receiver.url})
    client = api.client
    await sign_in(client, ADMIN_KEY)
    page = await client.get("/console/brand?brand=shop")
    assert 'id="test-webhook"' in page.text
    sent = await client.post("/console/brand/shop/test-webhook", data={"_csrf_token": csrf(page.text)})
    assert sent.status_code == 303 and "notice=webhook_test_sent" in sent.headers["location"]
    [delivery] = await receiver.wait_for_async(1)
    event = verified(created["webhook"]["secret"], delivery)
    assert event["type"] == "webhook.test"
    assert event["data"] == {
        "post_id": None,
        "brand": "shop",
        "test": True,
        "sent_by": event["data"]["sent_by"],
    }
    assert "text" not in json.dumps(event["data"])

    await api.brand("bare")
    no_hook = await client.post("/console/brand/bare/test-webhook", data={"_csrf_token": csrf(page.text)})
    assert no_hook.status_code == 409 and "no webhook" in no_hook.text


async def test_an_incident_is_answered_once_from_its_post(api: Api) -> None:
    from collections import Counter

    from tests.integration.incident_posts import OUTAGE_EN

    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    ids = [
        await api.send_post(integration, f"o-{i}", OUTAGE_EN[i], author={"handle": f"o{i}"}) for i in range(6)
    ]
    for pid in ids:
        await api.wait_post(pid, integration)
    # an incident forms once enough like posts are in and then takes in the earlier ones, so a post read
    # as soon as it was drafted may not show it yet: read them all again once every job has settled
    await api.settled_jobs()
    posts = [(await api.client.get(f"/v1/posts/{pid}", headers=integration)).json() for pid in ids]
    [(incident_id, size)] = Counter(p["incident_id"] for p in posts if p["incident_id"]).most_common(1)
    assert size >= 3
    members = [p["id"] for p in posts if p["incident_id"] == incident_id]
    client = api.client
    await sign_in(client, await agent_key(api))
    page = await client.get(f"/console/posts/{members[0]}")
    assert f"/console/incidents/{incident_id}/redraft" in page.text
    queue = await client.get("/console/queue?brand=shop")
    assert queue.text.count('class="badge incident"') == size
    redraft = await client.post(
        f"/console/incidents/{incident_id}/redraft",
        data={
            "instruction": "mention the status page",
            "post_id": members[0],
            "_csrf_token": csrf(page.text),
        },
    )
    assert redraft.status_code == 303
    assert (
        f"/console/posts/{members[0]}" in redraft.headers["location"]
        and f"count={size}" in redraft.headers["location"]
    )
    for pid in members:
        post = await api.poll(
            f"/v1/posts/{pid}", integration, lambda p: p["draft"] and p["draft"]["generation"] == 2, 30
        )
        assert post["draft"]["instruction"] == "mention the status page"
