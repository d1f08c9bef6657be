"""HTTP routes for API keys (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from litestar import post
from pydantic import BaseModel, ConfigDict, Field

from service.auth import keys
from service.auth.guards import allow
from service.auth.keys import Principal
from service.errors import Forbidden, InvalidInput
from service.models import Brand
from service.runtime import Runtime


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "integration", "agent"]
    brands: list[str] | Literal["*"] = Field(description='brand slugs, or "*" for all brands')


class ApiKeyOut(BaseModel):
    id: str
    name: str
    role: str
    brands: list[str] | Literal["*"]
    key: str = Field(description="the secret: shown once, here, and never again")
    created_at: datetime


@post("/v1/api-keys", guards=allow("admin"), status_code=201, tags=["keys"])
async def create_api_key(data: ApiKeyIn, runtime: Runtime, principal: Principal) -> ApiKeyOut:
    brands = [keys.ALL_BRANDS] if data.brands == "*" else sorted(set(data.brands))
    # A key can never reach further than the key that made it.
    if principal.brands is not None and (data.brands == "*" or not set(brands) <= principal.brands):
        raise Forbidden("a brand-scoped admin key can only create keys for its own brands")
    async with runtime.transaction() as session:
        if data.brands != "*":
            if not brands:
                raise InvalidInput(
                    'brands must name at least one brand, or be "*"',
                    errors=[{"field": "brands", "message": "empty list"}],
                )
            found = set((await session.scalars(sa.select(Brand.slug).where(Brand.slug.in_(brands)))).all())
            missing = sorted(set(brands) - found)
            if missing:
                raise InvalidInput(
                    f"unknown brands: {', '.join(missing)}",
                    errors=[{"field": "brands", "message": f"unknown: {', '.join(missing)}"}],
                )
        row, secret = await keys.create_key(session, data.name, data.role, brands)
    return ApiKeyOut(
        id=row.id,
        name=row.name,
        role=row.role,
        brands="*" if keys.ALL_BRANDS in row.brands else list(row.brands),
        key=secret,
        created_at=row.created_at,
    )
