"""HTTP routes for erasures (admin)."""

from __future__ import annotations

from litestar import get, post

from service.auth.guards import allow
from service.auth.keys import Principal
from service.brands.service import get_by_slug
from service.jobs import queue
from service.privacy import erasure
from service.privacy.schemas import ErasureIn, ErasureOut
from service.runtime import Runtime

BASE = "/v1/brands/{slug:str}/erasures"


def _out(row: erasure.Erasure) -> ErasureOut:
    return ErasureOut(id=row.id, status=row.status, posts_deleted=row.posts_deleted)  # type: ignore[arg-type]


@post(BASE, guards=allow("admin"), status_code=202, tags=["privacy"])
async def request_erasure(slug: str, data: ErasureIn, runtime: Runtime, principal: Principal) -> ErasureOut:
    """Erase one author (channel and handle) from the brand: posts, drafts, past answers, their traces."""
    principal.ensure_brand(slug)
    async with runtime.transaction() as session:
        brand = await get_by_slug(session, slug)
        out = _out(await erasure.request(session, principal, brand, data.channel, data.handle))
    queue.notify()
    return out


@get(BASE + "/{erasure_id:str}", guards=allow("admin"), tags=["privacy"])
async def get_erasure(slug: str, erasure_id: str, runtime: Runtime, principal: Principal) -> ErasureOut:
    principal.ensure_brand(slug)
    async with runtime.transaction() as session:
        brand = await get_by_slug(session, slug)
        return _out(await erasure.get(session, brand, erasure_id))
