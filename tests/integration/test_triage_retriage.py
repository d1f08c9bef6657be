"""Re-triage when a brand's settings change (SQLite and PostgreSQL): open posts get their due time and
priority recomputed by a durable job and carry the policy version they were triaged under; posts an
agent has finished keep theirs; a change that triage does not read re-triages nothing."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from service.triage import TRIAGE_VERSION
from tests.conftest import Api
from tests.fakes.receiver import WebhookReceiver

TZ = "Europe/Berlin"
HOURS = {day: [["08:00", "20:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
MONDAY_19H = datetime(2024, 5, 6, 19, 0, tzinfo=ZoneInfo(TZ))


def local(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(ZoneInfo(TZ))


async def send(api: Api, headers: dict[str, str], external_id: str, text: str) -> str:
    body = {
        "brand": "shop",
        "channel": "twitter",
        "external_id": external_id,
        "text": text,
        "author": {"handle": external_id, "followers": 100},
        "created_at": MONDAY_19H.isoformat(),
    }
    response = await api.client.post("/v1/posts", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def patch(api: Api, **fields: Any) -> dict[str, Any]:
    response = await api.client.patch("/v1/brands/shop", json=fields, headers=api.admin)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def retriaged(api: Api, post_id: str, headers: dict[str, str], version: int) -> dict[str, Any]:
    return await api.poll(
        f"/v1/posts/{post_id}", headers, lambda p: p["triage"]["policy_version"] == version, 30
    )


async def retriage_events(api: Api, receiver: WebhookReceiver) -> list[dict[str, Any]]:
    """The re-triage events delivered, once every job has finished (re-triages and deliveries): all of
    them, so a change that must re-triage nothing is seen to have queued nothing."""
    jobs = await api.settled_jobs()
    assert all(job.status == "done" for job in jobs), [(j.kind, j.status, j.last_error) for j in jobs]
    events = [json.loads(d["body"]) for d in list(receiver.received)]
    return [e for e in events if e["type"] == "post.triaged" and e["data"].get("retriaged")]


async def test_brand_changes_retriage_open_posts(api: Api, receiver: WebhookReceiver) -> None:
    brand = await api.brand("shop", timezone=TZ, business_hours=HOURS, webhook={"url": receiver.url})
    assert brand["policy_version"] == 1
    integration = await api.key("integration", ["shop"])
    agent = await api.key("agent", ["shop"])
    open_id = await send(api, integration, "q-open", "Do you ship to Switzerland?")
    done_id = await send(api, integration, "q-done", "Can I pay with PayPal?")
    praise_id = await send(api, integration, "praise", "Thank you so much, you are the best! 😊")

    post = await api.wait_post(open_id, agent)
    triage = post["triage"]
    assert (triage["priority"], triage["policy_version"], triage["version"]) == ("normal", 1, TRIAGE_VERSION)
    # 720 business minutes from Monday 19:00: one hour on Monday, eleven on Tuesday
    assert local(triage["due_at"]) == datetime(2024, 5, 7, 19, 0, tzinfo=ZoneInfo(TZ))
    assert (await api.wait_post(praise_id, agent))["status"] == "no_reply_needed"
    done = await api.wait_post(done_id, agent)
    approved = await api.client.post(
        f"/v1/drafts/{done['draft']['id']}/approve",
        json={},
        headers={**agent, "If-Match": str(done["draft"]["version"])},
    )
    assert approved.status_code == 200

    # open around the clock now: the same 720 minutes end on Tuesday 07:00
    assert (await patch(api, business_hours=None))["policy_version"] == 2
    post = await retriaged(api, open_id, agent, 2)
    assert local(post["triage"]["due_at"]) == datetime(2024, 5, 7, 7, 0, tzinfo=ZoneInfo(TZ))
    assert post["status"] == "drafted" and post["draft"] is not None  # the draft stays for review

    # a shorter SLA for normal posts: due two hours after posting
    assert (await patch(api, sla_minutes={"normal": 120}))["policy_version"] == 3
    post = await retriaged(api, open_id, agent, 3)
    assert local(post["triage"]["due_at"]) == datetime(2024, 5, 6, 21, 0, tzinfo=ZoneInfo(TZ))

    # the queue follows the new due time
    queue = await api.client.get("/v1/queue", params={"brand": "shop"}, headers=agent)
    assert [i["id"] for i in queue.json()["items"]] == [open_id]

    # finished posts keep the triage they were handled under
    for finished in (done_id, praise_id):
        kept = (await api.client.get(f"/v1/posts/{finished}", headers=agent)).json()
        assert kept["triage"]["policy_version"] == 1

    # a change triage does not read (the name, the voice) re-triages nothing
    assert (await patch(api, name="Shop & Co", voice={"formality": "informal"}))["policy_version"] == 3
    # the helpdesk heard of each new due time
    events = await retriage_events(api, receiver)
    assert [e["data"]["post_id"] for e in events] == [open_id, open_id]
    assert sorted(e["data"]["triage"]["policy_version"] for e in events) == [2, 3]


async def test_a_change_during_triage_is_not_lost(make_client: Any, monkeypatch: Any) -> None:
    """The brand changes between a post's triage and the moment it is stored: the re-triage job that
    the change queued has already found nothing to do, so storing the post queues another."""
    from service.brands import service as brands
    from service.brands.schemas import BrandPatch
    from service.triage import service as triage
    from service.worker import WorkerPool

    api = await make_client(workers=0)
    await api.brand("shop", timezone=TZ, business_hours=HOURS)
    integration = await api.key("integration", ["shop"])
    runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    original = triage.decide

    async def triage_then_change_brand(*args: Any, **kwargs: Any) -> Any:
        result = await original(*args, **kwargs)
        async with runtime.transaction() as session:
            await brands.patch_brand(
                session, runtime.settings, runtime.secrets, None, "shop", BrandPatch(business_hours=None)
            )
        pool = WorkerPool(runtime, 1)
        assert await pool.run_once()  # the change's own re-triage job: the post is not stored yet
        return result

    monkeypatch.setattr(triage, "decide", triage_then_change_brand)
    post_id = await send(api, integration, "q1", "Do you ship to Switzerland?")
    pool = WorkerPool(runtime, 1)
    assert await pool.run_once()  # triage_post, triaged under policy 1
    monkeypatch.setattr(triage, "decide", original)
    stored = (await api.client.get(f"/v1/posts/{post_id}", headers=api.admin)).json()
    assert stored["triage"]["policy_version"] == 1
    while await pool.run_once():  # the re-triage job triage_post queued, and the draft
        pass
    post = (await api.client.get(f"/v1/posts/{post_id}", headers=api.admin)).json()
    assert post["triage"]["policy_version"] == 2
    assert local(post["triage"]["due_at"]) == datetime(2024, 5, 7, 7, 0, tzinfo=ZoneInfo(TZ))
