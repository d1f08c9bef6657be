"""Outbound events: retried with backoff until 2xx, a 410 disables the endpoint, unsafe addresses are
refused again at delivery, and nothing is sent for a brand without a webhook."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import sqlalchemy as sa

from service.models import Brand, Event
from tests.conftest import Api
from tests.fakes.receiver import WebhookReceiver


async def events(api: Api) -> list[Event]:
    runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.sessionmaker() as session:
        return list((await session.scalars(sa.select(Event).order_by(Event.created_at))).all())


async def wait_events(api: Api, done: Any, timeout: float = 20.0) -> list[Event]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rows = await events(api)
        if done(rows):
            return rows
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError([(e.type, e.status, e.attempts, e.last_error) for e in rows])
        await asyncio.sleep(0.05)


async def send_post(api: Api, external_id: str = "e-1") -> str:
    """Sends a post and waits for its draft: the events it causes are in the outbox by then."""
    integration = await api.key("integration", ["shop"])
    post_id = await api.send_post(integration, external_id, "Where is my order??")
    assert (await api.wait_post(post_id, integration))["status"] == "drafted"
    return post_id


async def test_retried_until_2xx(make_client: Any, receiver: WebhookReceiver) -> None:
    api = await make_client(job_backoff_base_s=0.05)
    await api.brand("shop", webhook={"url": receiver.url})
    receiver.statuses = [500, 503, 500, 503]  # the first four deliveries fail
    await send_post(api)
    rows = await wait_events(api, lambda rows: len(rows) == 2 and all(e.status == "delivered" for e in rows))
    assert sum(e.attempts for e in rows) == 6
    bodies = [json.loads(r["body"]) for r in receiver.received]
    assert len(bodies) == 6
    # Every attempt of one event carries the same webhook-id, so receivers can de-duplicate.
    ids = {r["headers"]["webhook-id"] for r in receiver.received}
    assert ids == {e.id for e in rows}


async def test_gone_disables_the_endpoint(make_client: Any, receiver: WebhookReceiver) -> None:
    api = await make_client(job_backoff_base_s=0.05)
    await api.brand("shop", webhook={"url": receiver.url})
    receiver.statuses = [410]
    await send_post(api)
    rows = await wait_events(
        api, lambda rows: any(e.status == "failed" for e in rows) and all(e.status != "pending" for e in rows)
    )
    brand = (await api.client.get("/v1/brands/shop", headers=api.admin)).json()
    assert brand["webhook"]["enabled"] is False
    assert any("410" in (e.last_error or "") for e in rows)
    sent = len(receiver.received)
    second = await send_post(api, "e-2")
    # The second post is drafted and every job, deliveries included, has finished: only now does
    # "nothing more arrived" mean the disabled endpoint was skipped, not that delivery was still to come.
    jobs = await api.settled_jobs()
    assert any(j.payload.get("post_id") == second and j.status == "done" for j in jobs)
    after = await events(api)
    assert [e.id for e in after] == [e.id for e in rows]  # no event recorded for the second post
    assert len(receiver.received) == sent  # nothing more goes to a disabled endpoint


async def test_unsafe_address_refused_at_delivery(make_client: Any, receiver: WebhookReceiver) -> None:
    api = await make_client(job_backoff_base_s=0.05)
    await api.brand("shop", webhook={"url": receiver.url})
    runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.transaction() as session:  # as if DNS now pointed at the metadata service
        await session.execute(sa.update(Brand).values(webhook_url="http://169.254.169.254/latest"))
    await send_post(api)
    rows = await wait_events(api, lambda rows: len(rows) == 2 and all(e.status == "failed" for e in rows))
    assert all("refused" in (e.last_error or "") for e in rows)
    assert receiver.received == []


async def test_no_webhook_no_events(api: Api) -> None:
    await api.brand("shop")
    post_id = await send_post(api)
    jobs = await api.settled_jobs()  # the post's work is over: any event would be in the outbox by now
    assert any(j.payload.get("post_id") == post_id and j.status == "done" for j in jobs)
    assert not [j for j in jobs if j.kind == "deliver_event"]
    assert await events(api) == []
