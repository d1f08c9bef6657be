"""Events are retried with capped backoff for at least 24 hours (the contract), not for a count of
attempts; an event older than the window that still gets no 2xx is given up, visibly."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from service.events.outbox import emit
from service.models import Brand, Event, Job, utcnow
from service.worker import WorkerPool
from tests.fakes.receiver import WebhookReceiver


async def _event(api: Any, receiver: WebhookReceiver, *, attempts: int, age: timedelta) -> tuple[str, int]:
    """An event as the outbox writes it, its job already tried `attempts` times, made `age` ago."""
    runtime = api.client.app.state.runtime
    async with runtime.transaction() as session:
        brand = await session.scalar(sa.select(Brand).where(Brand.slug == "shop"))
        event = emit(session, brand, "post.triaged", {"post_id": "p1"})
        assert event is not None
        await session.flush()
        event.created_at = utcnow() - age
        event.attempts = attempts
        job = await session.scalar(sa.select(Job).where(Job.kind == "deliver_event").order_by(Job.id.desc()))
        assert job is not None
        job.attempts = attempts
        return event.id, job.id


async def _run_once(api: Any) -> tuple[Event, Job]:
    runtime = api.client.app.state.runtime
    assert await WorkerPool(runtime, 0).run_once()
    async with runtime.sessionmaker() as session:
        event = (await session.scalars(sa.select(Event).order_by(Event.created_at.desc()))).first()
        job = (await session.scalars(sa.select(Job).order_by(Job.id.desc()))).first()
    assert event is not None and job is not None
    return event, job


async def test_attempt_13_is_still_scheduled(make_client: Any, receiver: WebhookReceiver) -> None:
    api = await make_client(workers=0, job_backoff_cap_s=300.0)
    await api.brand("shop", webhook={"url": receiver.url})
    receiver.statuses = [503]
    await _event(api, receiver, attempts=12, age=timedelta(hours=3))
    event, job = await _run_once(api)
    assert len(receiver.received) == 1  # the 13th attempt was made
    assert event.status == "pending" and event.attempts == 13
    assert job.status == "queued" and job.attempts == 13
    # The next try waits, capped: no more than the backoff cap from now.
    assert job.run_at <= utcnow() + timedelta(seconds=300)


async def test_an_event_older_than_the_window_is_given_up(
    make_client: Any, receiver: WebhookReceiver
) -> None:
    api = await make_client(workers=0, event_retry_hours=24.0)
    await api.brand("shop", webhook={"url": receiver.url})
    receiver.statuses = [500]
    await _event(api, receiver, attempts=2, age=timedelta(hours=25))
    event, job = await _run_once(api)
    assert len(receiver.received) == 1  # it was tried once more before giving up
    assert event.status == "failed" and event.attempts == 3
    assert "gave up" in (event.last_error or "") and "24 h" in (event.last_error or "")
    assert job.status == "done"  # nothing left scheduled for it


async def test_an_old_event_still_delivers_when_the_receiver_answers(
    make_client: Any, receiver: WebhookReceiver
) -> None:
    api = await make_client(workers=0)
    await api.brand("shop", webhook={"url": receiver.url})
    await _event(api, receiver, attempts=200, age=timedelta(hours=23))
    event, _ = await _run_once(api)
    assert event.status == "delivered" and len(receiver.received) == 1
