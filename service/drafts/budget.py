"""A brand's monthly LLM token budget: tokens its drafts used this calendar month (UTC), and its status.

The count is the sum of `drafts.tokens` of the brand's posts since the first of the month, so it needs
no counter of its own and survives restarts; a draft written while the budget is spent is a template,
flagged `budget_exhausted`, and costs nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.models import Draft, Post, utcnow


def month_start(now: datetime | None = None) -> datetime:
    now = (now or utcnow()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def tokens_this_month(session: AsyncSession, brand_id: str, now: datetime | None = None) -> int:
    used = await session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Draft.tokens), 0))
        .join(Post, Post.id == Draft.post_id)
        .where(Post.brand_id == brand_id, Draft.created_at >= month_start(now))
    )
    return int(used or 0)


async def status(session: AsyncSession, brand_id: str, limit: int | None) -> dict[str, Any]:
    """What GET brand shows: the limit, what this month used, and whether drafts still use the model."""
    used = await tokens_this_month(session, brand_id)
    start = month_start()
    return {
        "month": start.strftime("%Y-%m"),
        "monthly_limit": limit,
        "used": used,
        "remaining": None if limit is None else max(0, limit - used),
        "status": "unlimited" if limit is None else ("exhausted" if used >= limit else "ok"),
    }
