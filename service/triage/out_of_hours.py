"""The brand's holding reply for posts that arrive while the team is off: the one text that leaves the
service without an agent's review, because an admin wrote and approved it (brands/service.py)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.events import schemas as events
from service.events.outbox import emit
from service.incidents.service import author_key
from service.models import Brand, Post, utcnow
from service.triage.hours import is_open, next_opening
from service.triage.service import brand_policy

# One holding reply per author per night, however often they post.
QUIET = timedelta(hours=12)


async def send_holding_reply(session: AsyncSession, brand: Brand, post: Post) -> None:
    """The approved holding reply, as a `post.holding_reply` event, for a triaged post that needs a reply
    while the team is off (both when it was posted and now). Urgent posts get none when someone is on call
    for them. In the caller's transaction, which holds the brand's row lock."""
    settings = brand.settings or {}
    holding = settings.get("out_of_hours_reply") or {}
    triage = post.triage or {}
    if not (holding.get("enabled") and holding.get("approved") and holding.get("text")):
        return
    if brand.business_hours is None or not triage.get("needs_reply"):
        return
    if triage.get("priority") == "urgent" and settings.get("urgent_around_the_clock", True):
        return
    policy = brand_policy(brand)
    now = utcnow()
    hours = (policy.timezone, policy.business_hours, policy.holidays)
    if is_open(now, *hours) or is_open(post.posted_at, *hours):
        return
    handle = author_key(post.id, post.author)
    recent = await session.execute(
        sa.select(Post.id, Post.author).where(Post.brand_id == brand.id, Post.holding_reply_at >= now - QUIET)
    )
    if any(author_key(r.id, r.author) == handle for r in recent):
        return
    post.holding_reply_at = now
    data = events.holding_reply(
        brand, post, holding["text"], next_opening(now, *hours), holding.get("approved_by")
    )
    emit(session, brand, "post.holding_reply", data)
