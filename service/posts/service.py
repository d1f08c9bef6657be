"""Posts: accept durably (post and job in one transaction), read, and record publication."""

from __future__ import annotations

from datetime import UTC

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.keys import Principal
from service.drafts.service import current_draft, draft_out
from service.errors import Conflict, InvalidInput, NotFound
from service.jobs import queue
from service.models import Brand, Draft, Post, utcnow
from service.posts.schemas import PostIn, PostOut, PublishedIn
from service.triage.models import PRIORITIES
from service.triage.schemas import TriageOut


async def _existing(session: AsyncSession, brand_id: str, data: PostIn) -> Post | None:
    return await session.scalar(
        sa.select(Post).where(
            Post.brand_id == brand_id, Post.channel == data.channel, Post.external_id == data.external_id
        )
    )


async def accept(
    session: AsyncSession, principal: Principal, data: PostIn, *, max_attempts: int = 8
) -> tuple[Post, bool]:
    """Returns (post, created). The same (brand, channel, external_id) again returns the first post."""
    principal.ensure_brand(data.brand)
    brand = await session.scalar(sa.select(Brand).where(Brand.slug == data.brand))
    if brand is None:
        raise InvalidInput(
            f"no brand '{data.brand}'", errors=[{"field": "brand", "message": "unknown brand"}]
        )
    existing = await _existing(session, brand.id, data)
    if existing is not None:
        return existing, False
    posted_at = data.created_at or utcnow()
    if posted_at.tzinfo is None:
        posted_at = posted_at.replace(tzinfo=UTC)
    post = Post(
        brand_id=brand.id,
        channel=data.channel,
        external_id=data.external_id,
        text=data.text,
        author=data.author.model_dump(),
        author_handle=data.author.handle,
        url=data.url,
        in_reply_to=data.in_reply_to,
        posted_at=posted_at,
        status="accepted",
    )
    try:
        async with session.begin_nested():
            session.add(post)
            await session.flush()
    except IntegrityError:
        # A concurrent request with the same external id won the race: answer with its post.
        existing = await _existing(session, brand.id, data)
        if existing is None:
            raise
        return existing, False
    queue.enqueue(session, "triage_post", {"post_id": post.id}, max_attempts=max_attempts)
    return post, True


async def load(session: AsyncSession, principal: Principal, post_id: str) -> tuple[Post, Brand]:
    row = (
        await session.execute(
            sa.select(Post, Brand).join(Brand, Brand.id == Post.brand_id).where(Post.id == post_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"no post '{post_id}'")
    post, brand = row
    principal.ensure_brand(brand.slug)
    return post, brand


def post_out(post: Post, brand_slug: str, draft: Draft | None) -> PostOut:
    return PostOut(
        id=post.id,
        brand=brand_slug,
        channel=post.channel,
        external_id=post.external_id,
        status=post.status,
        text=post.text,
        author=post.author,
        url=post.url,
        in_reply_to=post.in_reply_to,
        created_at=post.posted_at,
        received_at=post.received_at,
        triage=TriageOut.model_validate(post.triage) if post.triage else None,
        draft=draft_out(draft) if draft else None,
        published=post.published,
        error=post.error,
        incident_id=post.incident_id,
        holding_reply_at=post.holding_reply_at,
    )


async def mark_published(
    session: AsyncSession, principal: Principal, post_id: str, data: PublishedIn
) -> PostOut:
    post, brand = await load(session, principal, post_id)
    if (
        post.status == "published"
        and post.published
        and post.published.get("external_reply_id") == (data.external_reply_id)
    ):
        return post_out(post, brand.slug, await current_draft(session, post.id))
    if post.status != "approved":
        raise Conflict(f"post is '{post.status}'; only an approved reply can be reported as published")
    post.status = "published"
    post.published = {**data.model_dump(), "at": utcnow().isoformat()}
    await session.flush()
    return post_out(post, brand.slug, await current_draft(session, post.id))


async def queue_for_brand(
    session: AsyncSession,
    principal: Principal,
    slug: str,
    limit: int,
    incident: str | None = None,
    *,
    offset: int = 0,
    channel: str | None = None,
    priority: str | None = None,
    overdue: bool = False,
) -> list[PostOut]:
    """Posts waiting for an agent, most urgent first: due time, then priority, then arrival. Filters:
    one channel, one priority, only posts past their due time."""
    principal.ensure_brand(slug)
    brand = await session.scalar(sa.select(Brand).where(Brand.slug == slug))
    if brand is None:
        raise NotFound(f"no brand '{slug}'")
    query = sa.select(Post).where(Post.brand_id == brand.id, Post.status.in_(("triaged", "drafted")))
    if incident is not None:
        query = query.where(Post.incident_id == incident)
    if channel is not None:
        query = query.where(Post.channel == channel)
    if priority is not None:
        query = query.where(Post.priority_rank == PRIORITIES.index(priority))
    if overdue:
        query = query.where(Post.due_at < utcnow())
    posts = (
        await session.scalars(
            query.order_by(Post.due_at.asc().nulls_last(), Post.priority_rank, Post.received_at, Post.id)
            .offset(offset)
            .limit(limit)
        )
    ).all()
    drafts: dict[str, Draft] = {}
    if posts:
        rows = await session.scalars(
            sa.select(Draft)
            .where(Draft.post_id.in_([p.id for p in posts]), Draft.status == "pending")
            .order_by(Draft.generation)
        )
        drafts = {d.post_id: d for d in rows}
    return [post_out(p, slug, drafts.get(p.id)) for p in posts]
