"""HTTP routes for a brand's analytics and knowledge gaps (agents and admins of the brand)."""

from __future__ import annotations

from datetime import date

from litestar import Controller, get
from litestar.params import Parameter

from service.analytics import service
from service.analytics.schemas import AnalyticsOut, KnowledgeGaps
from service.auth.guards import allow
from service.auth.keys import Principal
from service.runtime import Runtime


class AnalyticsController(Controller):
    path = "/v1/brands/{slug:str}"
    tags = ["analytics"]
    guards = allow("admin", "agent")

    @get("/analytics", description="Figures per period; each one is defined in service/analytics/service.py.")
    async def get_analytics(
        self,
        slug: str,
        runtime: Runtime,
        principal: Principal,
        from_: date | None = Parameter(query="from", default=None, description="first day, brand's timezone"),
        to: date | None = Parameter(default=None, description="last day (included); default: today"),
    ) -> AnalyticsOut:
        async with runtime.transaction() as session:
            brand = await service.brand_for(session, principal, slug)
            start, end = service.period(brand, from_, to)
            return await service.analytics(session, brand, start, end)

    @get("/knowledge-gaps")
    async def get_knowledge_gaps(
        self,
        slug: str,
        runtime: Runtime,
        principal: Principal,
        days: int = Parameter(default=30, ge=1, le=366, description="posts of the last this many days"),
        limit: int = Parameter(default=20, ge=1, le=200),
    ) -> KnowledgeGaps:
        async with runtime.transaction() as session:
            brand = await service.brand_for(session, principal, slug)
        return await service.knowledge_gaps(runtime, brand, days, limit)
