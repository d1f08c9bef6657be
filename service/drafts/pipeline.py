"""The way of one post through the workers: triage, find knowledge, draft; and drafting again on request.

Each job ends in one transaction that stores its result and completes the job only while this worker
still holds the lease, so a post is triaged and drafted exactly once even when a worker dies mid-job.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.brands.schemas import DEFAULT_SLA
from service.drafts.writer import DraftContent, DraftRequest, write_draft
from service.events.outbox import emit
from service.jobs import queue
from service.knowledge import retrieval
from service.models import Brand, Draft, Post, utcnow
from service.runtime import Runtime
from service.triage import BrandPolicy, TriageInput, Triager

PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
THREAD_DEPTH = 5
REPEAT_WINDOW = timedelta(hours=48)


def triager(runtime: Runtime) -> Triager:
    cached = runtime.state.get("triager")
    if not isinstance(cached, Triager):
        cached = Triager(embed=runtime.embedder.encode)
        runtime.state["triager"] = cached
    return cached


def brand_policy(brand: Brand) -> BrandPolicy:
    return BrandPolicy(
        language=brand.language,
        timezone=brand.timezone,
        business_hours=brand.business_hours,
        holidays=tuple(date.fromisoformat(d) for d in brand.holidays or []),
        sla_minutes={**DEFAULT_SLA, **(brand.sla_minutes or {})},
        reply_to_praise=bool((brand.settings or {}).get("reply_to_praise", False)),
    )


async def _thread_texts(session: AsyncSession, post: Post) -> tuple[str, ...]:
    texts: list[str] = []
    parent_id = post.in_reply_to
    while parent_id and len(texts) < THREAD_DEPTH:
        parent = await session.scalar(
            sa.select(Post).where(Post.brand_id == post.brand_id, Post.external_id == parent_id).limit(1)
        )
        if parent is None:
            break
        texts.append(parent.text)
        parent_id = parent.in_reply_to
    return tuple(reversed(texts))


async def _recent_by_author(session: AsyncSession, post: Post) -> int:
    handle = post.author.get("handle")
    if not handle:
        return 0
    rows = await session.scalars(
        sa.select(Post.author).where(
            Post.brand_id == post.brand_id,
            Post.id != post.id,
            Post.received_at >= post.received_at - REPEAT_WINDOW,
            Post.received_at <= post.received_at,
        )
    )
    return sum(1 for author in rows if (author or {}).get("handle") == handle)


async def triage_post(runtime: Runtime, session: AsyncSession, post: Post, brand: Brand) -> dict[str, Any]:
    author = post.author or {}
    inp = TriageInput(
        text=post.text,
        channel=post.channel,
        created_at=post.posted_at,
        author_followers=author.get("followers"),
        author_verified=bool(author.get("verified")),
        thread_texts=await _thread_texts(session, post),
        author_recent_posts=await _recent_by_author(session, post),
    )
    result = await asyncio.to_thread(triager(runtime).triage, inp, brand_policy(brand))
    return result.to_dict()


def _draft_request(
    brand: Brand, post: Post, triage: dict[str, Any], instruction: str | None, min_score: float
) -> DraftRequest:
    return DraftRequest(
        brand_name=brand.name,
        brand_language=brand.language,
        voice=brand.voice or {},
        channel=post.channel,
        channel_settings=brand.channels or {},
        post_text=post.text,
        author=post.author or {},
        language=triage.get("language") or brand.language,
        min_score=min_score,
        instruction=instruction,
    )


def _min_score(runtime: Runtime, brand: Brand) -> float:
    configured = (brand.settings or {}).get("retrieval_min_score")
    return float(configured) if configured is not None else runtime.settings.retrieval_min_score


async def _compose(
    runtime: Runtime,
    brand: Brand,
    post: Post,
    triage: dict[str, Any],
    instruction: str | None,
    last_attempt: bool,
) -> DraftContent:
    hits = await retrieval.search(runtime, brand.id, post.text, limit=5)
    req = _draft_request(brand, post, triage, instruction, _min_score(runtime, brand))
    return await write_draft(runtime, req, hits, allow_fallback=last_attempt)


def _apply_triage(post: Post, triage: dict[str, Any]) -> None:
    post.triage = triage
    post.triage_version = triage.get("version")
    due = triage.get("due_at")
    post.due_at = _parse_due(due) if due else None
    post.priority_rank = PRIORITY_RANK.get(triage.get("priority", "normal"), 2)


def _parse_due(value: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _new_draft(post: Post, content: DraftContent, generation: int, instruction: str | None) -> Draft:
    return Draft(
        post_id=post.id,
        generation=generation,
        text=content.text,
        language=content.language,
        sources=content.sources,
        confidence=round(content.confidence, 4),
        flags=content.flags,
        instruction=instruction,
    )


async def process_post(runtime: Runtime, lease: queue.Lease) -> None:
    post_id = lease.payload["post_id"]
    async with runtime.transaction() as session:
        post = await session.get(Post, post_id)
        brand = await session.get(Brand, post.brand_id) if post else None
        if post is None or brand is None or post.status not in ("accepted", "triaged"):
            await queue.complete(session, lease)
            return
        triage = post.triage or await triage_post(runtime, session, post, brand)

    content = None
    if triage["needs_reply"]:
        content = await _compose(runtime, brand, post, triage, None, lease.last_attempt)

    async with runtime.transaction() as session:
        post = await session.get(Post, post_id, with_for_update=True)
        if post is None or post.status not in ("accepted", "triaged"):
            await queue.complete(session, lease)
            return
        _apply_triage(post, triage)
        emit(
            session,
            brand,
            "post.triaged",
            {"post_id": post.id, "external_id": post.external_id, "channel": post.channel, "triage": triage},
        )
        if content is None:
            post.status = "no_reply_needed"
        else:
            draft = _new_draft(post, content, 1, None)
            session.add(draft)
            post.status = "drafted"
            await session.flush()
            emit(
                session,
                brand,
                "draft.ready",
                {
                    "post_id": post.id,
                    "draft_id": draft.id,
                    "external_id": post.external_id,
                    "flags": content.flags,
                },
            )
        if not await queue.complete(session, lease):
            raise queue.LeaseLost(lease.id)


async def redraft_post(runtime: Runtime, lease: queue.Lease) -> None:
    """Regenerate: a new generation replaces the pending draft; the agent's instruction goes to the LLM."""
    post_id, generation = lease.payload["post_id"], int(lease.payload["generation"])
    instruction = lease.payload.get("instruction")
    async with runtime.transaction() as session:
        post = await session.get(Post, post_id)
        brand = await session.get(Brand, post.brand_id) if post else None
        if post is None or brand is None or post.status != "triaged":
            await queue.complete(session, lease)
            return
        triage = post.triage or await triage_post(runtime, session, post, brand)
    content = await _compose(runtime, brand, post, triage, instruction, lease.last_attempt)
    async with runtime.transaction() as session:
        post = await session.get(Post, post_id, with_for_update=True)
        if post is None or post.status != "triaged":
            await queue.complete(session, lease)
            return
        await session.execute(
            sa.update(Draft)
            .where(Draft.post_id == post_id, Draft.status == "pending")
            .values(status="superseded")
        )
        draft = _new_draft(post, content, generation, instruction)
        session.add(draft)
        post.status = "drafted"
        await session.flush()
        emit(
            session,
            brand,
            "draft.ready",
            {
                "post_id": post.id,
                "draft_id": draft.id,
                "external_id": post.external_id,
                "flags": content.flags,
            },
        )
        if not await queue.complete(session, lease):
            raise queue.LeaseLost(lease.id)


async def mark_failed(runtime: Runtime, lease: queue.Lease, error: str) -> None:
    """A post whose job failed for good is shown as failed, with the reason, not silently dropped."""
    async with runtime.transaction() as session:
        await session.execute(
            sa.update(Post)
            .where(Post.id == lease.payload["post_id"], Post.status.in_(("accepted", "triaged")))
            .values(status="failed", error=error[:2000], updated_at=utcnow())
        )
