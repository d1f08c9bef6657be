"""Outbound events: written in the caller's transaction (the outbox), delivered later by a job.

One post's events reach the receiver in the order they were written (`post.triaged` before
`draft.ready`, before `reply.approved`): a delivery waits while an earlier event of its post is pending
(events/delivery.py). Events of different posts go out side by side, in no particular order.

Delivery is retried with capped backoff until a 2xx or until `event_retry_hours` (24 h) after the event
was made; the time window, not an attempt count, ends it (delivery.py gives up and marks it `failed`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.jobs import queue
from service.models import Brand, Event, new_id, utcnow

# Far more attempts than the window allows at the backoff cap (24 h / 300 s ~ 290): never the limit.
DELIVERY_MAX_ATTEMPTS = 100_000
# post.holding_reply: the brand's admin-approved out-of-hours reply, the only text sent without review
# webhook.test: an admin's test send (console); no post, no reply
EVENT_TYPES = ("reply.approved", "post.triaged", "draft.ready", "post.holding_reply", "webhook.test")


def emit(session: AsyncSession, brand: Brand, event_type: str, data: dict[str, Any]) -> Event | None:
    """Record an event for the brand's webhook; nothing is recorded when the brand has none."""
    assert event_type in EVENT_TYPES, event_type
    if not brand.webhook_url or brand.webhook_disabled:
        return None
    event = Event(
        id="msg_" + new_id(),
        brand_id=brand.id,
        post_id=data.get("post_id"),
        type=event_type,
        payload={"type": event_type, "timestamp": utcnow().isoformat(), "data": data},
        next_attempt_at=utcnow(),
    )
    session.add(event)
    queue.enqueue(session, "deliver_event", {"event_id": event.id}, max_attempts=DELIVERY_MAX_ATTEMPTS)
    return event
