"""The delivery log: a brand's admins read its outbound events as delivery records (newest first, paged
with a cursor) and replay one with the same webhook-id; other brands' keys and other roles cannot."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from service.events.outbox import emit
from service.jobs import queue
from service.models import Brand, Job, utcnow
from service.worker import WorkerPool
from tests.fakes.receiver import WebhookReceiver


async def _emit(api: Any, post_id: str, slug: str = "shop") -> str:
    runtime = api.client.app.state.runtime
    async with runtime.transaction() as session:
        brand = await session.scalar(sa.select(Brand).where(Brand.slug == slug))
        event = emit(session, brand, "post.triaged", {"post_id": post_id})
        assert event is not None
        await session.flush()
        return event.id


async def _run_all(api: Any) -> None:
    """Run every job that is due now, in this task (workers=0): no waiting on a background worker."""
    pool = WorkerPool(api.client.app.state.runtime, 0)
    while await pool.run_once():
        pass


async def _deliveries(api: Any, query: str = "", headers: Any = None) -> Any:
    response = await api.client.get(f"/v1/brands/shop/deliveries{query}", headers=headers or api.admin)
    assert response.status_code == 200, response.text
    return response.json()


async def test_failed_and_pending_deliveries_are_listed_newest_first(
    make_client: Any, receiver: WebhookReceiver
) -> None:
    api = await make_client(workers=0, job_backoff_base_s=30.0, job_backoff_cap_s=30.0)
    await api.brand("shop", webhook={"url": receiver.url})
    receiver.statuses = [503]
    first = await _emit(api, "p1")
    await _run_all(api)  # one attempt, answered 503: pending, retried in up to 30 s
    second = await _emit(api, "p2")
    items = (await _deliveries(api))["items"]
    assert [d["id"] for d in items] == [second, first]
    old = items[1]
    assert old["event_id"] == first and old["type"] == "post.triaged"
    assert old["status"] == "pending" and old["attempts"] == 1 and old["last_status_code"] == 503
    due = old["next_attempt_at"]
    assert due is not None

    wait = (datetime.fromisoformat(due) - utcnow()).total_seconds()
    assert -1 < wait <= 30.5  # full jitter under the 30 s cap
    async with api.client.app.state.runtime.sessionmaker() as session:  # the job waits as the log says
        jobs = (await session.scalars(sa.select(Job).where(Job.kind == "deliver_event"))).all()
        [job] = [j for j in jobs if j.payload["event_id"] == first]
        assert job.status == "queued" and abs((job.run_at - datetime.fromisoformat(due)).total_seconds()) < 1
    assert items[0]["attempts"] == 0 and items[0]["last_status_code"] is None
    assert [d["id"] for d in (await _deliveries(api, "?status=pending"))["items"]] == [second, first]
    assert (await _deliveries(api, "?status=failed"))["items"] == []


async def test_gone_fails_and_disables_then_a_replay_resends_the_same_webhook_id(
    make_client: Any, receiver: WebhookReceiver
) -> None:
    api = await make_client(workers=0)
    brand = await api.brand("shop", webhook={"url": receiver.url})
    receiver.statuses = [410]
    event_id = await _emit(api, "p1")
    await _run_all(api)
    [failed] = (await _deliveries(api, "?status=failed"))["items"]
    assert (
        failed["id"] == event_id and failed["last_status_code"] == 410 and failed["next_attempt_at"] is None
    )
    assert (await api.client.get("/v1/brands/shop", headers=api.admin)).json()["webhook"]["enabled"] is False

    # the endpoint is disabled: a replay would only be skipped, so it is refused until it is set again
    refused = await api.client.post(f"/v1/deliveries/{event_id}/replay", headers=api.admin)
    assert refused.status_code == 409, refused.text
    secret = brand["webhook"]["secret"]
    patched = await api.client.patch(
        "/v1/brands/shop", json={"webhook": {"url": receiver.url, "secret": secret}}, headers=api.admin
    )
    assert patched.status_code == 200, patched.text
    replay = await api.client.post(f"/v1/deliveries/{event_id}/replay", headers=api.admin)
    assert replay.status_code == 202, replay.text
    assert replay.json() == {"id": event_id, "status": "pending"}
    again = await api.client.post(f"/v1/deliveries/{event_id}/replay", headers=api.admin)
    assert again.status_code == 409  # already queued: not queued twice
    await _run_all(api)
    [delivered] = (await _deliveries(api))["items"]
    assert delivered["status"] == "delivered" and delivered["attempts"] == 2
    assert delivered["last_status_code"] == 200 and delivered["replayed_at"]

    # a delivered event can be replayed too: the receiver sees the same webhook-id each time
    assert (await api.client.post(f"/v1/deliveries/{event_id}/replay", headers=api.admin)).status_code == 202
    await _run_all(api)
    assert [r["headers"]["webhook-id"] for r in receiver.received] == [event_id] * 3
    assert receiver.received[1]["body"] == receiver.received[2]["body"] == receiver.received[0]["body"]


async def test_a_replay_gets_a_fresh_retry_window(make_client: Any, receiver: WebhookReceiver) -> None:
    # the retry waits 0..30 s (full jitter): with the default 1 s base a near-zero draw let _run_all
    # retry at once, and the second try was answered 200 (seen once on PostgreSQL in CI)
    api = await make_client(
        workers=0, event_retry_hours=24.0, job_backoff_base_s=30.0, job_backoff_cap_s=30.0
    )
    await api.brand("shop", webhook={"url": receiver.url})
    event_id = await _emit(api, "p1")
    runtime = api.client.app.state.runtime
    async with runtime.transaction() as session:  # failed for good two days ago
        await session.execute(
            sa.text("UPDATE events SET status='failed', created_at=:at WHERE id=:id"),
            {"at": (utcnow() - timedelta(days=2)).replace(tzinfo=None), "id": event_id},
        )
        await session.execute(sa.update(Job).values(status="done"))
    assert (await api.client.post(f"/v1/deliveries/{event_id}/replay", headers=api.admin)).status_code == 202
    receiver.statuses = [500]
    await _run_all(api)
    [row] = (await _deliveries(api))["items"]
    assert row["status"] == "pending" and row["last_status_code"] == 500  # retried, not given up at once


async def test_deliveries_page_with_a_cursor_and_cap_the_limit(
    make_client: Any, receiver: WebhookReceiver
) -> None:
    api = await make_client(workers=0)
    await api.brand("shop", webhook={"url": receiver.url})
    ids = [await _emit(api, f"p{i}") for i in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        body = await _deliveries(api, "?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        seen += [d["id"] for d in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids)) and pages == 3
    for query, field in (("?limit=501", "limit"), ("?limit=0", "limit"), ("?cursor=%%%", "cursor")):
        bad = await api.client.get(f"/v1/brands/shop/deliveries{query}", headers=api.admin)
        assert bad.status_code == 422, (query, bad.text)
        assert field in {e["field"] for e in bad.json()["errors"]}, bad.json()


async def test_only_the_brands_admins_read_and_replay(make_client: Any, receiver: WebhookReceiver) -> None:
    api = await make_client(workers=0)
    await api.brand("shop", webhook={"url": receiver.url})
    await api.brand("other", webhook={"url": receiver.url})
    event_id = await _emit(api, "p1")
    other_admin = await api.key("admin", ["other"])
    agent = await api.key("agent", ["shop"])
    listed = await api.client.get("/v1/brands/shop/deliveries", headers=other_admin)
    assert listed.status_code == 403
    assert (await api.client.get("/v1/brands/shop/deliveries", headers=agent)).status_code == 403
    for headers, status in ((other_admin, 403), (agent, 403), ({}, 401)):
        replay = await api.client.post(f"/v1/deliveries/{event_id}/replay", headers=headers)
        assert replay.status_code == status, replay.text
    missing = await api.client.post("/v1/deliveries/msg_nope/replay", headers=api.admin)
    assert missing.status_code == 404
    assert (await api.client.get("/v1/brands/nope/deliveries", headers=api.admin)).status_code == 404
    # the other brand's admin sees its own (empty) log
    other = await api.client.get("/v1/brands/other/deliveries", headers=other_admin)
    assert other.status_code == 200 and other.json()["items"] == []


def test_backoff_is_exponential_with_full_jitter() -> None:
    samples = {n: [queue.backoff_s(n, base=1.0, cap=300.0) for _ in range(400)] for n in (1, 4, 8, 12)}
    for n, values in samples.items():
        bound = min(300.0, 2.0 ** (n - 1))
        assert all(0 <= v <= bound for v in values)
        assert len(set(values)) > 300  # jittered, not one fixed wait
        assert max(values) > bound * 0.9  # and it reaches up to the bound
    assert max(samples[4]) < 8.0 < max(samples[8])  # the bound doubles per attempt until the cap


async def test_forged_cursors_are_422_not_500(api: Any) -> None:
    await api.brand("shop")
    forged = ["9999-12-31T23:59:59-05:00|x", "2026-01-01T00:00:00|x", "no-bar", "2026-01-01T00:00:00+00:00|"]
    for raw in forged:
        cursor = base64.urlsafe_b64encode(raw.encode()).decode()
        for path in ("/v1/brands/shop/deliveries", "/v1/brands/shop/documents"):
            response = await api.client.get(f"{path}?cursor={cursor}", headers=api.admin)
            assert response.status_code == 422, (raw, path, response.text)
            assert "cursor" in {e["field"] for e in response.json()["errors"]}
