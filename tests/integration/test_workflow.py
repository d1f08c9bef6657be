"""The post workflow's two steps seen from outside: a post is `triaged` (in the queue, `post.triaged`
sent) before its draft is written, and `draft.ready` follows; the same post sent again is the whole post."""

from __future__ import annotations

import json
from typing import Any

from service.worker import WorkerPool
from tests.conftest import Api
from tests.fakes.receiver import WebhookReceiver


async def test_post_is_triaged_before_it_is_drafted(make_client: Any, receiver: WebhookReceiver) -> None:
    api: Api = await make_client(workers=0)  # the test runs the jobs one at a time
    await api.brand("shop", webhook={"url": receiver.url})
    integration = await api.key("integration", ["shop"])
    agent = await api.key("agent", ["shop"])
    runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    pool = WorkerPool(runtime, 1)
    post_id = await api.send_post(integration, "w-1", "Where is my order? I paid two weeks ago.")
    assert (await api.client.get(f"/v1/posts/{post_id}", headers=integration)).json()["status"] == "accepted"

    assert await pool.run_once()  # the triage step alone
    post = (await api.client.get(f"/v1/posts/{post_id}", headers=integration)).json()
    assert post["status"] == "triaged" and post["draft"] is None
    assert post["triage"]["needs_reply"] is True and post["triage"]["intent"] in ("question", "complaint")
    queue = (await api.client.get("/v1/queue?brand=shop", headers=agent)).json()["items"]
    assert [(p["id"], p["status"], p["draft"]) for p in queue] == [(post_id, "triaged", None)]

    while await pool.run_once():  # delivery of post.triaged, the draft, delivery of draft.ready
        pass
    post = (await api.client.get(f"/v1/posts/{post_id}", headers=integration)).json()
    assert post["status"] == "drafted" and post["draft"]["generation"] == 1
    bodies = [json.loads(r["body"]) for r in await receiver.wait_for_async(2)]
    assert [(b["type"], b["data"]["post_id"]) for b in bodies] == [
        ("post.triaged", post_id),
        ("draft.ready", post_id),
    ]
    assert bodies[0]["data"]["status"] == "triaged"
    assert bodies[0]["data"]["triage"] == post["triage"]


async def test_events_arrive_in_step_order_with_running_workers(
    make_client: Any, receiver: WebhookReceiver
) -> None:
    api: Api = await make_client()
    await api.brand("shop", webhook={"url": receiver.url})
    integration = await api.key("integration", ["shop"])
    ids = [
        await api.send_post(integration, f"o-{i}", f"Question {i}: how long does delivery take?")
        for i in range(5)
    ]
    for post_id in ids:
        await api.wait_post(post_id, integration)
    bodies = [json.loads(r["body"]) for r in await receiver.wait_for_async(10)]
    for post_id in ids:
        types = [b["type"] for b in bodies if b["data"]["post_id"] == post_id]
        assert types == ["post.triaged", "draft.ready"], (post_id, types)


async def test_a_post_sent_again_is_answered_with_the_whole_post(api: Api) -> None:
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    post_id = await api.send_post(integration, "again-1", "Do you ship to Austria?")
    drafted = await api.wait_post(post_id, integration)
    body = {
        "brand": "shop",
        "channel": "twitter",
        "external_id": "again-1",
        "text": "Do you ship to Austria?",
        "author": {"handle": "jo"},
    }
    again = await api.client.post("/v1/posts", json=body, headers=integration)
    assert again.status_code == 200
    assert again.json() == drafted  # every field, draft included, as GET shows it


async def test_triage_is_typed_in_the_schema(api: Api) -> None:
    schema = (await api.client.get("/schema/openapi.json")).json()
    components = schema["components"]["schemas"]
    triage = next(v for k, v in components.items() if k.endswith("TriageOut"))
    for field in (
        "needs_reply",
        "intent",
        "sentiment",
        "language",
        "influence",
        "priority",
        "due_at",
        "reasons",
    ):
        assert field in triage["properties"], field
    assert set(triage["properties"]["intent"]["enum"]) == {
        "question", "complaint", "request", "praise", "feedback", "spam", "other"
    }  # fmt: skip


async def test_one_problem_type_per_status(api: Api) -> None:
    """A 404 from a domain error and a 404 from the router share their `type`."""
    domain = await api.client.get("/v1/posts/nope", headers=api.admin)
    router = await api.client.get("/v1/no-such-route", headers=api.admin)
    assert domain.status_code == router.status_code == 404
    assert domain.json()["type"] == router.json()["type"] == "https://reply-service.dev/problems/not-found"
