"""HTTP routes for brands (admin)."""

from __future__ import annotations

from litestar import Controller, get, patch, post

from service.auth.guards import allow
from service.auth.keys import Principal
from service.brands import service
from service.brands.schemas import BrandIn, BrandOut, BrandPatch, TokenBudgetOut
from service.drafts import budget
from service.errors import Forbidden
from service.jobs import queue
from service.runtime import Runtime


class BrandController(Controller):
    path = "/v1/brands"
    tags = ["brands"]

    @post("/", guards=allow("admin"), status_code=201)
    async def create_brand(self, data: BrandIn, runtime: Runtime, principal: Principal) -> BrandOut:
        if principal.brands is not None:
            raise Forbidden("creating a brand needs an admin key scoped to all brands")
        async with runtime.transaction() as session:
            return await service.create_brand(session, runtime.settings, runtime.secrets, principal, data)

    @get("/{slug:str}", guards=allow("admin", "agent", "integration"))
    async def get_brand(self, slug: str, runtime: Runtime, principal: Principal) -> BrandOut:
        principal.ensure_brand(slug)
        async with runtime.transaction() as session:
            brand = await service.get_by_slug(session, slug)
            out = service.to_out(brand)
            limit = (brand.settings or {}).get("monthly_token_budget")
            out.token_budget = TokenBudgetOut(**await budget.status(session, brand.id, limit))
            return out

    @patch("/{slug:str}", guards=allow("admin"))
    async def patch_brand(
        self, slug: str, data: BrandPatch, runtime: Runtime, principal: Principal
    ) -> BrandOut:
        principal.ensure_brand(slug)
        async with runtime.transaction() as session:
            out = await service.patch_brand(session, runtime.settings, runtime.secrets, principal, slug, data)
        queue.notify()  # a re-triage job may wait
        return out

    @post("/{slug:str}/out-of-hours-reply/approve", guards=allow("admin"), status_code=200)
    async def approve_out_of_hours_reply(self, slug: str, runtime: Runtime, principal: Principal) -> BrandOut:
        """Approve the holding reply as it stands; changing its text later withdraws the approval."""
        principal.ensure_brand(slug)
        async with runtime.transaction() as session:
            return await service.approve_out_of_hours_reply(session, slug, principal)
