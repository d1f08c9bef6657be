"""The way of one post through the workers: triage, group into incidents, find knowledge, draft; drafting
again on request; and triaging a brand's open posts again when its hours or reply policy change.

Each job ends in one transaction that stores its result and completes the job only while this worker
still holds the lease, so a post is triaged and drafted exactly once even when a worker dies mid-job.
That transaction first locks the brand's row: one brand's posts are stored one at a time, so incident
grouping never races itself, and a brand change either precedes it (seen) or follows it (re-triaged).
Slow work (models, LLM, retrieval) happens between transactions, never inside one.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from service.adapters.embedder import aencode
from service.brands.schemas import DEFAULT_SLA
from service.drafts.writer import DraftContent, DraftRequest, write_draft
from service.events.outbox import emit
from service.incidents import service as incidents
from service.jobs import queue
from service.knowledge import retrieval
from service.models import Brand, Draft, Post, utcnow
from service.runtime import Runtime
from service.triage import TRIAGE_VERSION, BrandPolicy, LLMVerdict, TriageInput, Triager, TriageResult
from service.triage.hours import is_open, next_opening
from service.triage.llm import ask_llm
from service.triage.nearest import CALIBRATED_MODELS

PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
THREAD_DEPTH = 5
REPEAT_WINDOW = timedelta(hours=48)
# Posts still waiting for an agent; re-triage moves their priority and due time, nothing else.
OPEN_STATUSES = ("triaged", "drafted")
RETRIAGE_BATCH = 100
# One holding reply per author per night, however often they post.
HOLDING_REPLY_QUIET = timedelta(hours=12)

log = structlog.get_logger("service.pipeline")


def triager(runtime: Runtime) -> Triager:
    cached = runtime.state.get("triager")
    if not isinstance(cached, Triager):
        calibrated = runtime.embedder.name in CALIBRATED_MODELS
        cached = Triager(embed=runtime.embedder.encode if calibrated else None)
        runtime.state["triager"] = cached
    return cached


def brand_policy(brand: Brand) -> BrandPolicy:
    settings = brand.settings or {}
    return BrandPolicy(
        language=brand.language,
        timezone=brand.timezone,
        business_hours=brand.business_hours,
        holidays=tuple(date.fromisoformat(d) for d in brand.holidays or []),
        sla_minutes={**DEFAULT_SLA, **(brand.sla_minutes or {})},
        reply_to_praise=bool(settings.get("reply_to_praise", False)),
        urgent_around_the_clock=bool(settings.get("urgent_around_the_clock", True)),
        version=brand.policy_version or 1,
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


async def triage_input(session: AsyncSession, post: Post) -> TriageInput:
    author = post.author or {}
    return TriageInput(
        text=post.text,
        channel=post.channel,
        created_at=post.posted_at,
        author_followers=author.get("followers"),
        author_verified=bool(author.get("verified")),
        thread_texts=await _thread_texts(session, post),
        author_recent_posts=await _recent_by_author(session, post),
    )


async def compute_triage(
    runtime: Runtime,
    brand_name: str,
    inp: TriageInput,
    policy: BrandPolicy,
    previous: dict[str, Any] | None = None,
) -> TriageResult:
    """Rules (and the embedding vote) first; the LLM, when configured, only for a post they leave open.
    A verdict the LLM gave before (`previous`, on re-triage) is reused instead of asking again."""
    known = (previous or {}).get("llm")
    verdict = LLMVerdict.from_dict(known) if known else None
    result = await asyncio.to_thread(triager(runtime).triage, inp, policy, verdict=verdict)
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
    return await asyncio.to_thread(triager(runtime).triage, inp, policy, verdict=verdict)


async def triage_post(runtime: Runtime, session: AsyncSession, post: Post, brand: Brand) -> dict[str, Any]:
    inp = await triage_input(session, post)
    return (await compute_triage(runtime, brand.name, inp, brand_policy(brand))).to_dict()


async def _post_vector(runtime: Runtime, text: str) -> np.ndarray | None:
    """The post's embedding for incident grouping; a post is never held up for want of one."""
    try:
        return (await aencode(runtime.embedder, [text]))[0]
    except Exception:
        log.warning("embedding for incident grouping failed; the post stays ungrouped", exc_info=True)
        return None


def _draft_request(
    brand: Brand,
    post: Post,
    triage: dict[str, Any],
    instruction: str | None,
    min_score: float,
    thread: tuple[str, ...] = (),
) -> DraftRequest:
    settings = brand.settings or {}
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
        thread=thread,
        intent=triage.get("intent"),
        sentiment=triage.get("sentiment"),
        urgency=tuple(triage.get("urgency") or ()),
        brand_id=brand.id,
        reply_language=str(settings.get("reply_language") or "customer"),
        monthly_token_budget=settings.get("monthly_token_budget"),
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
    """Find knowledge and draft. On the job's last attempt a failing vector index does not leave the
    post without a draft: it is drafted without knowledge and flagged `retrieval_failed`."""
    flags: list[str] = []
    try:
        hits = await retrieval.search(runtime, brand.id, post.text, limit=5)
    except Exception:
        if not last_attempt:
            raise
        log.exception("retrieval failed on the last attempt; drafting without knowledge", post_id=post.id)
        hits, flags = [], ["retrieval_failed"]
    async with runtime.transaction() as session:
        thread = await _thread_texts(session, post)
    req = _draft_request(brand, post, triage, instruction, _min_score(runtime, brand), thread)
    content = await write_draft(runtime, req, hits, allow_fallback=last_attempt)
    content.flags.extend(flags)
    return content


def _emit_triaged(
    session: AsyncSession, brand: Brand, post: Post, triage: dict[str, Any], **extra: Any
) -> None:
    data = {
        "post_id": post.id,
        "external_id": post.external_id,
        "channel": post.channel,
        "triage": triage,
        "incident_id": post.incident_id,
        **extra,
    }
    emit(session, brand, "post.triaged", data)


async def _store_draft(
    session: AsyncSession,
    brand: Brand,
    post: Post,
    content: DraftContent,
    generation: int,
    instruction: str | None,
) -> Draft:
    """The draft, the post's new status and the draft.ready event, in the caller's transaction."""
    draft = _new_draft(post, content, generation, instruction)
    session.add(draft)
    post.status = "drafted"
    await session.flush()
    emit(
        session,
        brand,
        "draft.ready",
        {"post_id": post.id, "draft_id": draft.id, "external_id": post.external_id, "flags": content.flags},
    )
    return draft


def _apply_triage(post: Post, triage: dict[str, Any]) -> None:
    post.triage = triage
    post.triage_version = triage.get("version")
    post.policy_version = triage.get("policy_version")
    due = triage.get("due_at")
    post.due_at = _parse_due(due) if due else None
    post.priority_rank = PRIORITY_RANK.get(triage.get("priority", "normal"), 2)


def _parse_due(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def _send_holding_reply(
    session: AsyncSession, brand: Brand, post: Post, triage: dict[str, Any]
) -> None:
    """The brand's approved holding reply, as an event, for a post that needs a reply while the team is
    off (when it was posted and now). Urgent posts get none when someone is on call for them."""
    settings = brand.settings or {}
    holding = settings.get("out_of_hours_reply") or {}
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
    handle = incidents.author_key(post.id, post.author)
    recent = await session.execute(
        sa.select(Post.id, Post.author).where(
            Post.brand_id == brand.id, Post.holding_reply_at >= now - HOLDING_REPLY_QUIET
        )
    )
    if any(incidents.author_key(r.id, r.author) == handle for r in recent):
        return
    post.holding_reply_at = now
    emit(
        session,
        brand,
        "post.holding_reply",
        {
            "post_id": post.id,
            "brand": brand.slug,
            "channel": post.channel,
            "external_id": post.external_id,
            "in_reply_to": post.external_id,
            "author": {"handle": (post.author or {}).get("handle")},
            "text": holding["text"],
            "opens_at": next_opening(now, *hours).isoformat(),
            "approved_by": holding.get("approved_by"),
        },
    )


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
        prompt_version=content.prompt_version,
        checks=content.checks,
        usage=content.usage,
        tokens=content.tokens,
        generated_text=content.text,
    )


async def process_post(runtime: Runtime, lease: queue.Lease) -> None:
    post_id = lease.payload["post_id"]
    async with runtime.transaction() as session:
        post = await session.get(Post, post_id)
        brand = await session.get(Brand, post.brand_id) if post else None
        if post is None or brand is None or post.status not in ("accepted", "triaged"):
            await queue.complete(session, lease)
            return
        stored = post.triage
        inp = None if stored else await triage_input(session, post)
        policy = brand_policy(brand)
    if stored is not None:
        triage = stored
    else:
        assert inp is not None
        triage = (await compute_triage(runtime, brand.name, inp, policy)).to_dict()

    content = vector = None
    if triage["needs_reply"]:
        vector = await _post_vector(runtime, post.text)
        content = await _compose(runtime, brand, post, triage, None, lease.last_attempt)

    async with runtime.transaction() as session:
        # the brand first, then the post: the lock order of every writer that takes both
        brand = await session.get(Brand, brand.id, with_for_update=True)
        post = await session.get(Post, post_id, with_for_update=True)
        if brand is None or post is None or post.status not in ("accepted", "triaged"):
            await queue.complete(session, lease)
            return
        _apply_triage(post, triage)
        if triage.get("policy_version") != brand.policy_version:
            # the brand changed while this post was triaged; its re-triage job may have passed it by
            queue.enqueue(session, "retriage_brand", {"brand_id": brand.id})
        if vector is not None:
            await incidents.assign(session, brand, post, vector, runtime.embedder.name)
        _emit_triaged(session, brand, post, triage)
        await _send_holding_reply(session, brand, post, triage)
        if content is None:
            post.status = "no_reply_needed"
        else:
            await _store_draft(session, brand, post, content, 1, None)
        if not await queue.complete(session, lease):
            raise queue.LeaseLost(lease.id)


async def retriage_brand(runtime: Runtime, lease: queue.Lease) -> None:
    """Triage a brand's open posts again under its current policy (hours, SLA, reply rules) and the
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
            pid: (await compute_triage(runtime, name, inp, policy, previous)).to_dict()
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
                _apply_triage(post, triage)
                if any(before.get(k) != triage.get(k) for k in ("needs_reply", "priority", "due_at")):
                    _emit_triaged(session, brand, post, triage, retriaged=True)


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
        await _store_draft(session, brand, post, content, generation, instruction)
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
