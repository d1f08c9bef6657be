"""Idempotency after a crash: a key whose request died with its process is free again once its lease has
passed (seconds, not the key's 24 hours); a key whose request is alive and renewing stays taken."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from service.idempotency import IdempotencyMiddleware
from service.models import IdempotencyRecord, utcnow
from tests.conftest import Api


def _body(external_id: str) -> bytes:
    return json.dumps(
        {
            "brand": "shop",
            "channel": "twitter",
            "external_id": external_id,
            "text": "Hi?",
            "author": {"handle": "j"},
        }
    ).encode()


async def _left_in_flight(
    api: Api, auth: str, key: str, content: bytes, *, lease_until: Any, **extra: Any
) -> None:
    """The row a request leaves behind when its process dies between claiming the key and answering."""
    runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.transaction() as session:
        session.add(
            IdempotencyRecord(
                scope=hashlib.sha256(auth.encode()).hexdigest()[:32] + " /v1/posts",
                key=key,
                request_hash=hashlib.sha256(b"application/json\n" + content).hexdigest(),
                state="in_flight",
                expires_at=utcnow() + timedelta(hours=24),
                lease_until=lease_until,
                owner="dead-process",
                **extra,
            )
        )


async def test_a_dead_requests_key_is_taken_over_after_its_lease(make_client: Any) -> None:
    api = await make_client(idempotency_lease_s=2.0)
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    headers = {**integration, "content-type": "application/json"}

    # Lease still running: the first request may be alive; the retry waits (409).
    content = _body("crash-1")
    await _left_in_flight(
        api, integration["Authorization"], "k-live", content, lease_until=utcnow() + timedelta(seconds=60)
    )
    live = await api.client.post(
        "/v1/posts", content=content, headers={**headers, "Idempotency-Key": "k-live"}
    )
    assert live.status_code == 409, live.text

    # Lease passed (the process died and stopped renewing): the retry takes the key over and runs.
    await _left_in_flight(
        api, integration["Authorization"], "k-dead", content, lease_until=utcnow() - timedelta(seconds=1)
    )
    retry = await api.client.post(
        "/v1/posts", content=content, headers={**headers, "Idempotency-Key": "k-dead"}
    )
    assert retry.status_code == 202, retry.text
    replay = await api.client.post(
        "/v1/posts", content=content, headers={**headers, "Idempotency-Key": "k-dead"}
    )
    assert replay.status_code == 202 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == retry.json()

    # A row from before leases existed (no lease): counted from its creation.
    old = _body("crash-2")
    await _left_in_flight(
        api,
        integration["Authorization"],
        "k-old",
        old,
        lease_until=None,
        created_at=utcnow() - timedelta(minutes=5),
    )
    taken = await api.client.post("/v1/posts", content=old, headers={**headers, "Idempotency-Key": "k-old"})
    assert taken.status_code == 202, taken.text


async def test_a_running_request_renews_its_lease(make_client: Any) -> None:
    api = await make_client(idempotency_lease_s=0.3)
    runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    middleware = IdempotencyMiddleware(api.client.app)  # type: ignore[attr-defined]
    assert await middleware._claim(runtime, "scope", "k", "digest", owner="alive") is None
    renewing = asyncio.create_task(middleware._keep_lease(runtime, "scope", "k", "alive"))
    try:
        await asyncio.sleep(0.9)  # three leases long: without renewal another request would take it
        assert await middleware._claim(runtime, "scope", "k", "digest", owner="other") == {
            "kind": "in_flight"
        }
    finally:
        await middleware._stop(renewing)
    await asyncio.sleep(0.4)  # no longer renewed: the lease runs out and the key can be taken over
    assert await middleware._claim(runtime, "scope", "k", "digest", owner="other") is None
    async with runtime.sessionmaker() as session:
        row = await session.scalar(sa.select(IdempotencyRecord).where(IdempotencyRecord.key == "k"))
    assert row is not None and row.owner == "other"
    # The old owner can no longer store or release what is now the other request's key.
    await middleware._release(runtime, "scope", "k", "alive")
    async with runtime.sessionmaker() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(IdempotencyRecord)) == 1
