"""HTTP routes for API keys (admin)."""

from __future__ import annotations

from litestar import post

from service.auth import service
from service.auth.guards import allow
from service.auth.keys import Principal
from service.auth.schemas import ApiKeyIn, ApiKeyOut
from service.runtime import Runtime


@post("/v1/api-keys", guards=allow("admin"), status_code=201, tags=["keys"])
async def create_api_key(data: ApiKeyIn, runtime: Runtime, principal: Principal) -> ApiKeyOut:
    async with runtime.transaction() as session:
        return await service.create_api_key(session, principal, data)
