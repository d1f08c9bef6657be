"""Delivering outbox events to the brand's webhook, signed per Standard Webhooks, retried with capped
exponential backoff and full jitter until a 2xx or until `event_retry_hours` after the event was made (or
last replayed; then `failed`, for good). The event row is the delivery record: attempts, status, the
receiver's last status code and error, and when the next attempt is due."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.adapters.webhooks import HostDoesNotResolve, UnsafeWebhookURL
from service.jobs import queue
from service.models import Brand, Event, utcnow
from service.runtime import Runtime

# How long a delivery waits before looking again whether its post's earlier event has gone out.
ORDER_WAIT_S = 0.2


async def _waits_for_earlier(session: AsyncSession, event: Event) -> bool:
    if event.post_id is None:
        return False
    earlier = await session.scalar(
        sa.select(Event.id)
        .where(
            Event.brand_id == event.brand_id,
            Event.post_id == event.post_id,
            Event.status == "pending",
            Event.created_at < event.created_at,
        )
        .limit(1)
    )
    return earlier is not None


class DeliveryFailed(queue.RetryLater):
    """The receiver did not answer 2xx; the job retries after the delay the event records."""

    def __init__(self, message: str, delay_s: float = 0.0) -> None:
        super().__init__(message, delay_s)


async def deliver_event(runtime: Runtime, lease: queue.Lease) -> None:
    async with runtime.transaction() as session:
        event = await session.get(Event, lease.payload["event_id"])
        brand = await session.get(Brand, event.brand_id) if event else None
        if event is None or brand is None or event.status == "delivered":
            await queue.complete(session, lease)
            return
        if await _waits_for_earlier(session, event):
            # one post's events in the order they happened: this one goes once the one before it is out
            if not await queue.release(session, lease, ORDER_WAIT_S):
                raise queue.LeaseLost(lease.id)
            return
        if not brand.webhook_url or not brand.webhook_secret or brand.webhook_disabled:
            event.status, event.next_attempt_at = "skipped", None
            event.last_error = "the brand has no enabled webhook"
            await queue.complete(session, lease)
            return
        url, secret = brand.webhook_url, brand.webhook_secret
        body = json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False).encode()
        event_id = event.id

    error: str | None = None
    status_code = 0
    try:
        # The sender checks the URL again now (DNS may point elsewhere than when it was set) and connects
        # to the addresses it checked.
        status_code = (await runtime.webhooks.send(url, secret, event_id, body)).status_code
    except UnsafeWebhookURL as exc:
        error = f"refused: {exc}"
    except HostDoesNotResolve as exc:  # DNS may be back on the next attempt
        error = str(exc)
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"

    async with runtime.transaction() as session:
        event = await session.get(Event, event_id)
        assert event is not None
        event.attempts += 1
        event.last_status_code = status_code or None
        event.next_attempt_at = None
        if error is None and 200 <= status_code < 300:
            event.status, event.delivered_at, event.last_error = "delivered", utcnow(), None
            if not await queue.complete(session, lease):
                raise queue.LeaseLost(lease.id)
            return
        if status_code == 410:
            # The receiver says the endpoint is gone for good: stop sending to it.
            await session.execute(
                sa.update(Brand).where(Brand.id == event.brand_id).values(webhook_disabled=True)
            )
            event.status, event.last_error = "failed", "receiver answered 410 Gone; webhook disabled"
            await queue.complete(session, lease)
            return
        event.last_error = error or f"receiver answered HTTP {status_code}"
        if error and error.startswith("refused"):
            event.status = "failed"
            await queue.complete(session, lease)
            return
        window = timedelta(hours=runtime.settings.event_retry_hours)
        window_end = (event.replayed_at or event.created_at) + window
        if utcnow() >= window_end:
            event.status = "failed"
            event.last_error = (
                f"gave up: no 2xx within {runtime.settings.event_retry_hours:g} h "
                f"({event.attempts} attempts); last: {event.last_error}"
            )
            await queue.complete(session, lease)
            return
        delay = 0.0
        if lease.last_attempt:
            event.status = "failed"
        else:
            # Exponential backoff with full jitter (capped), chosen here so the log shows the next attempt;
            # never past the window's end, so the last attempt falls inside it.
            settings = runtime.settings
            wait = queue.backoff_s(
                lease.attempts, base=settings.job_backoff_base_s, cap=settings.job_backoff_cap_s
            )
            event.next_attempt_at = min(utcnow() + timedelta(seconds=wait), window_end)
            delay = max(0.0, (event.next_attempt_at - utcnow()).total_seconds())
        message = event.last_error or "delivery failed"
    # raised after the block: the attempt's record above commits, the job is then retried after `delay`
    raise DeliveryFailed(message, delay)
