"""HTTP routes for the delivery log (admin): read a brand's outbound events and replay one."""

from __future__ import annotations

from typing import Literal

from litestar import get, post
from litestar.params import Parameter

from service import pagination
from service.auth.guards import allow
from service.auth.keys import Principal
from service.events import deliveries
from service.events.schemas import DeliveryList, DeliveryReplayed
from service.jobs import queue
from service.runtime import Runtime


@get("/v1/brands/{slug:str}/deliveries", guards=allow("admin"), tags=["events"])
async def list_deliveries(
    slug: str,
    runtime: Runtime,
    principal: Principal,
    status: Literal["pending", "delivered", "failed", "skipped"] | None = Parameter(default=None),
    limit: int = Parameter(default=pagination.DEFAULT_LIMIT, ge=1, le=pagination.MAX_LIMIT),
    cursor: str | None = Parameter(default=None, max_length=200, description="next_cursor of the last page"),
) -> DeliveryList:
    """The brand's outbound events as delivery records, newest first."""
    async with runtime.transaction() as session:
        return await deliveries.list_for_brand(
            session, principal, slug, status=status, limit=limit, cursor=cursor
        )


@post("/v1/deliveries/{delivery_id:str}/replay", guards=allow("admin"), tags=["events"], status_code=202)
async def replay_delivery(delivery_id: str, runtime: Runtime, principal: Principal) -> DeliveryReplayed:
    """Send a delivered, failed or skipped event again, with the same `webhook-id` (receivers dedupe)."""
    async with runtime.transaction() as session:
        out = await deliveries.replay(session, principal, delivery_id)
    queue.notify()
    return out
