"""The delivery log a brand's admins read and replay: one row per outbound event (the event is its own
delivery record), newest first. A replay sends the same event again with the same `webhook-id`, so a
receiver that already has it can drop the copy."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service import pagination
from service.auth.keys import Principal
from service.brands.service import get_by_slug
from service.errors import Conflict, NotFound
from service.events.outbox import DELIVERY_MAX_ATTEMPTS
from service.events.schemas import DeliveryList, DeliveryOut, DeliveryReplayed
from service.jobs import queue
from service.models import Brand, Event, utcnow

REPLAYABLE = ("delivered", "failed", "skipped")


def delivery_out(event: Event) -> DeliveryOut:
    return DeliveryOut(
        id=event.id,
        event_id=event.id,
        type=event.type,
        status=event.status,  # type: ignore[arg-type]
        attempts=event.attempts,
        last_status_code=event.last_status_code,
        next_attempt_at=event.next_attempt_at if event.status == "pending" else None,
        last_error=event.last_error,
        post_id=event.post_id,
        created_at=event.created_at,
        delivered_at=event.delivered_at,
        replayed_at=event.replayed_at,
    )


async def list_for_brand(
    session: AsyncSession,
    principal: Principal,
    slug: str,
    *,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> DeliveryList:
    principal.ensure_brand(slug)
    brand = await get_by_slug(session, slug)
    query = sa.select(Event).where(Event.brand_id == brand.id)
    if status:
        query = query.where(Event.status == status)
    if cursor:
        at, last_id = pagination.decode_cursor(cursor)
        query = query.where(
            sa.or_(Event.created_at < at, sa.and_(Event.created_at == at, Event.id < last_id))
        )
    rows = list(
        (
            await session.scalars(query.order_by(Event.created_at.desc(), Event.id.desc()).limit(limit + 1))
        ).all()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = pagination.encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return DeliveryList(items=[delivery_out(e) for e in rows], next_cursor=next_cursor)


async def replay(session: AsyncSession, principal: Principal, delivery_id: str) -> DeliveryReplayed:
    """Queue the event again (same id, same body). A pending one is already queued: 409. Another brand's
    delivery is a 403, as every brand-scoped read of a key not scoped to that brand."""
    row = (
        await session.execute(
            sa.select(Event, Brand).join(Brand, Brand.id == Event.brand_id).where(Event.id == delivery_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"no delivery '{delivery_id}'")
    event, brand = row
    principal.ensure_brand(brand.slug)
    if event.status not in REPLAYABLE:
        raise Conflict(f"delivery '{delivery_id}' is {event.status}: it is already queued")
    if not brand.webhook_url or brand.webhook_disabled:
        raise Conflict(
            f"brand '{brand.slug}' has no enabled webhook (a 410 disables it); set it again with "
            "PATCH /v1/brands/{slug} before replaying"
        )
    now = utcnow()
    event.status, event.replayed_at, event.next_attempt_at = "pending", now, now
    event.delivered_at = None
    queue.enqueue(session, "deliver_event", {"event_id": event.id}, max_attempts=DELIVERY_MAX_ATTEMPTS)
    await session.flush()
    return DeliveryReplayed(id=event.id, status="pending")
