"""Creating API keys: a key never reaches further than the key that made it."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import service as audit
from service.auth import keys
from service.auth.keys import Principal
from service.auth.schemas import ApiKeyIn, ApiKeyOut
from service.errors import Forbidden, InvalidInput
from service.models import Brand


async def create_api_key(session: AsyncSession, principal: Principal, data: ApiKeyIn) -> ApiKeyOut:
    brands = [keys.ALL_BRANDS] if data.brands == "*" else sorted(set(data.brands))
    if principal.brands is not None and (data.brands == "*" or not set(brands) <= principal.brands):
        raise Forbidden("a brand-scoped admin key can only create keys for its own brands")
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
    # the key's secret never enters the log; a key for some brands shows in each of them
    after = {
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "brands": list(row.brands),
    }
    if keys.ALL_BRANDS in row.brands:
        audit.record(session, principal, "create", f"api_key:{row.id}", brand_id=None, after=after)
    else:
        ids = (await session.execute(sa.select(Brand.id).where(Brand.slug.in_(brands)))).scalars().all()
        for brand_id in ids:
            audit.record(session, principal, "create", f"api_key:{row.id}", brand_id=brand_id, after=after)
    return ApiKeyOut(
        id=row.id,
        name=row.name,
        role=row.role,
        brands="*" if keys.ALL_BRANDS in row.brands else list(row.brands),
        key=secret,
        created_at=row.created_at,
    )
