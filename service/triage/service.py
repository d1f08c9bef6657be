"""Triage as a step of the post workflow: what triage needs from the database (brand policy, thread,
repeat contact), the decision (rules, the example vote on the post's embedding, the LLM for posts the
rules leave open), storing it on the post, and re-triaging a brand's open posts when its policy changes."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from service.adapters.embedder import aencode_queries
from service.events import schemas as events
from service.events.outbox import emit
from service.jobs import queue
from service.knowledge.retrieval import clean_text
from service.models import Brand, Post
from service.runtime import Runtime
from service.triage import TRIAGE_VERSION, BrandPolicy, LLMVerdict, TriageInput, TriageResult
from service.triage.llm import ask_llm
from service.triage.models import DEFAULT_SLA_MINUTES, PRIORITIES

THREAD_DEPTH = 5
REPEAT_WINDOW = timedelta(hours=48)
# Posts still waiting for an agent; re-triage moves their priority and due time, nothing else.
OPEN_STATUSES = ("triaged", "drafted")
RETRIAGE_BATCH = 100

log = structlog.get_logger("service.triage")


def brand_policy(brand: Brand) -> BrandPolicy:
    settings = brand.settings or {}
    return BrandPolicy(
        language=brand.language,
        timezone=brand.timezone,
        business_hours=brand.business_hours,
        holidays=tuple(date.fromisoformat(d) for d in brand.holidays or []),
        sla_minutes={**DEFAULT_SLA_MINUTES, **(brand.sla_minutes or {})},
        reply_to_praise=bool(settings.get("reply_to_praise", False)),
        urgent_around_the_clock=bool(settings.get("urgent_around_the_clock", True)),
        names=(brand.slug, brand.name, *settings.get("social_handles", [])),
        version=brand.policy_version or 1,
    )


async def thread_texts(session: AsyncSession, post: Post) -> tuple[str, ...]:
    """The posts this one answers, oldest first, up to THREAD_DEPTH."""
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
    """The author's other posts to the brand in the 48 hours before this one, by ix_posts_author_recent."""
    handle = post.author_handle or (post.author or {}).get("handle")
    if not handle:
        return 0
    count = await session.scalar(
        sa.select(sa.func.count()).where(
            Post.brand_id == post.brand_id,
            Post.author_handle == handle,
            Post.id != post.id,
            Post.received_at >= post.received_at - REPEAT_WINDOW,
            Post.received_at <= post.received_at,
        )
    )
    return int(count or 0)


async def triage_input(session: AsyncSession, post: Post) -> TriageInput:
    author = post.author or {}
    return TriageInput(
        text=post.text,
        channel=post.channel,
        created_at=post.posted_at,
        author_followers=author.get("followers"),
        author_verified=bool(author.get("verified")),
        author_bot=bool(author.get("bot")),
        thread_texts=await thread_texts(session, post),
        author_recent_posts=await _recent_by_author(session, post),
    )


async def embed_post(runtime: Runtime, text: str, brand_language: str) -> np.ndarray | None:
    """The post's one embedding (the service model): the example vote, incident grouping and retrieval
    by that model all use it. A post is never held up for want of one. Codes are masked in the brand's
    language: the post's is not known before triage, and retrieval uses this vector only where the
    two are the same (an English post to an English brand, `retrieval.route`)."""
    try:
        return (await aencode_queries(runtime.embedder, [clean_text(text, brand_language)]))[0]
    except Exception:
        log.warning("embedding the post failed; triage decides by rules, no incident grouping", exc_info=True)
        return None


async def decide(
    runtime: Runtime,
    brand_name: str,
    inp: TriageInput,
    policy: BrandPolicy,
    *,
    vector: np.ndarray | None = None,
    previous: dict[str, Any] | None = None,
) -> TriageResult:
    """Rules (and the example vote) first; the LLM, when configured, only for a post they leave open.
    A verdict the LLM gave before (`previous`, on re-triage) is reused instead of asking again."""
    known = (previous or {}).get("llm")
    verdict = LLMVerdict.from_dict(known) if known else None
    triager = runtime.triager
    result = await asyncio.to_thread(triager.triage, inp, policy, verdict=verdict, vector=vector)
    if not result.uncertain or verdict is not None or runtime.llm is None:
        return result
    verdict = await ask_llm(
        runtime.llm,
        runtime.settings.prompts_dir,
        brand_name=brand_name,
        inp=inp,
        language=result.language,
        reply_to_praise=policy.reply_to_praise,
    )
    if verdict is None:
        note = "the LLM gave no usable answer: decided without it"
        return dataclasses.replace(result, reasons=(*result.reasons, note))
    return await asyncio.to_thread(triager.triage, inp, policy, verdict=verdict, vector=vector)


def apply(post: Post, triage: dict[str, Any]) -> None:
    """Store a triage result (`TriageResult.to_dict()`) on the post, with the columns the queue sorts by."""
    post.triage = triage
    post.triage_version = triage.get("version")
    post.policy_version = triage.get("policy_version")
    due = triage.get("due_at")
    post.due_at = datetime.fromisoformat(due.replace("Z", "+00:00")) if due else None
    post.priority_rank = PRIORITIES.index(triage.get("priority", "normal"))


async def retriage_brand(runtime: Runtime, lease: queue.Lease) -> None:
    """Job: triage a brand's open posts again under its current policy (hours, SLA, reply rules) and the
    current rules version, in batches. Idempotent: a post already at both versions is skipped, so a job
    taken over after a crash carries on where the last one stopped."""
    brand_id = lease.payload["brand_id"]
    while True:
        async with runtime.transaction() as session:
            brand = await session.get(Brand, brand_id)
            if brand is None:
                if not await queue.complete(session, lease):
                    raise queue.LeaseLost(lease.id)
                return
            version = brand.policy_version
            stale = (
                await session.scalars(
                    sa.select(Post)
                    .where(
                        Post.brand_id == brand_id,
                        Post.status.in_(OPEN_STATUSES),
                        sa.or_(
                            Post.policy_version.is_(None),
                            Post.policy_version != version,
                            Post.triage_version.is_(None),
                            Post.triage_version != TRIAGE_VERSION,
                        ),
                    )
                    .order_by(Post.id)
                    .limit(RETRIAGE_BATCH)
                )
            ).all()
            if not stale:
                if not await queue.complete(session, lease):
                    raise queue.LeaseLost(lease.id)
                return
            work = [(p.id, await triage_input(session, p), p.triage) for p in stale]
            policy, name = brand_policy(brand), brand.name
        results = {
            pid: (await decide(runtime, name, inp, policy, previous=previous)).to_dict()
            for pid, inp, previous in work
        }
        async with runtime.transaction() as session:
            brand = await session.get(Brand, brand_id, with_for_update=True)
            if brand is None or brand.policy_version != version:
                continue  # changed again meanwhile: start over under the newest policy
            for pid, triage in results.items():
                post = await session.get(Post, pid, with_for_update=True)
                if post is None or post.status not in OPEN_STATUSES:
                    continue
                before = post.triage or {}
                apply(post, triage)
                if any(before.get(k) != triage.get(k) for k in ("needs_reply", "priority", "due_at")):
                    emit(session, brand, "post.triaged", events.post_triaged(post, retriaged=True))
