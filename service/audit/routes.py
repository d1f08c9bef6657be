"""HTTP route for the audit log (admin)."""

from __future__ import annotations

from litestar import get
from litestar.params import Parameter

from service.audit import service
from service.audit.schemas import ActorOut, AuditEntryOut, AuditOut
from service.auth.guards import allow
from service.auth.keys import Principal
from service.brands.service import get_by_slug
from service.runtime import Runtime


@get("/v1/brands/{slug:str}/audit", guards=allow("admin"), tags=["privacy"])
async def list_audit(
    slug: str,
    runtime: Runtime,
    principal: Principal,
    limit: int = Parameter(default=50, ge=1, le=service.MAX_LIMIT),
    before: str | None = Parameter(default=None, max_length=40, description="cursor: `next` of a page"),
) -> AuditOut:
    """Newest first: brand and key changes, uploads and deletions, edits, approvals, rejections, erasures."""
    principal.ensure_brand(slug)
    async with runtime.transaction() as session:
        brand = await get_by_slug(session, slug)
        rows, cursor = await service.page(session, principal, brand, limit, before)
        return AuditOut(
            items=[
                AuditEntryOut(
                    at=r.at,
                    actor=ActorOut(key_id=r.actor_key_id, name=r.actor_name),
                    action=r.action,
                    target=r.target,
                    before=r.before,
                    after=r.after,
                )
                for r in rows
            ],
            next=cursor,
        )
