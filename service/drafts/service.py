"""Drafting as a step of the post workflow: find the knowledge, write the draft (writer.py), store it for
an agent; and the draft as the API shows it. Nothing here sends anything anywhere."""

from __future__ import annotations

from typing import Any

import numpy as np
import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from service.drafts.schemas import CheckOut, DraftEditOut, DraftOut, SourceOut
from service.drafts.writer import DraftContent, DraftRequest, write_draft
from service.events import schemas as events
from service.events.outbox import emit
from service.knowledge import retrieval
from service.models import Brand, Draft, Post
from service.runtime import Runtime

# Drafts an agent still works with; superseded generations are kept but not shown as the post's draft.
ACTIVE_STATUSES = ("pending", "approved", "rejected")

log = structlog.get_logger("service.drafts")


def _threshold(runtime: Runtime, brand: Brand) -> tuple[float, bool]:
    """(min_score, chosen): the brand's own `retrieval_min_score`, else the service's; `chosen` when someone
    set it (the brand, or the operator's REPLY_RETRIEVAL_MIN_SCORE) rather than leaving the default: a
    chosen threshold decides alone, without the learned abstention."""
    configured = (brand.settings or {}).get("retrieval_min_score")
    if configured is not None:
        return float(configured), True
    settings = runtime.settings
    return settings.retrieval_min_score, "retrieval_min_score" in settings.model_fields_set


def draft_request(
    runtime: Runtime, brand: Brand, post: Post, thread: tuple[str, ...], instruction: str | None
) -> DraftRequest:
    triage = post.triage or {}
    settings = brand.settings or {}
    min_score, chosen = _threshold(runtime, brand)
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
        learned_abstention=not chosen,
        instruction=instruction,
        thread=thread,
        intent=triage.get("intent"),
        sentiment=triage.get("sentiment"),
        urgency=tuple(triage.get("urgency") or ()),
        brand_id=brand.id,
        reply_language=str(settings.get("reply_language") or "customer"),
        monthly_token_budget=settings.get("monthly_token_budget"),
    )


async def compose(
    runtime: Runtime,
    brand: Brand,
    post: Post,
    req: DraftRequest,
    *,
    vector: np.ndarray | None,
    last_attempt: bool,
) -> DraftContent:
    """Find knowledge and draft. On the job's last attempt a failing vector index does not leave the post
    without a draft: it is drafted without knowledge and flagged `retrieval_failed`."""
    flags: list[str] = []
    try:
        hits = await retrieval.search(
            runtime,
            brand.id,
            post.text,
            limit=5,
            brand_language=brand.language,
            language=req.language,
            vector=vector,
        )
    except Exception:
        if not last_attempt:
            raise
        log.exception("retrieval failed on the last attempt; drafting without knowledge", post_id=post.id)
        hits, flags = [], ["retrieval_failed"]
    content = await write_draft(runtime, req, hits, allow_fallback=last_attempt)
    content.flags.extend(flags)
    return content


async def store(
    session: AsyncSession,
    brand: Brand,
    post: Post,
    content: DraftContent,
    generation: int,
    instruction: str | None,
) -> Draft:
    """The draft replaces the post's pending one (kept as `superseded`); the post becomes `drafted` and
    `draft.ready` is written, all in the caller's transaction."""
    await session.execute(
        sa.update(Draft)
        .where(Draft.post_id == post.id, Draft.status == "pending")
        .values(status="superseded")
    )
    draft = Draft(
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
    session.add(draft)
    post.status = "drafted"
    await session.flush()
    emit(session, brand, "draft.ready", events.draft_ready(post, draft))
    return draft


async def current_draft(session: AsyncSession, post_id: str) -> Draft | None:
    return await session.scalar(
        sa.select(Draft)
        .where(Draft.post_id == post_id, Draft.status.in_(ACTIVE_STATUSES))
        .order_by(Draft.generation.desc())
        .limit(1)
    )


def _source_out(source: dict[str, Any]) -> SourceOut:
    return SourceOut(**{k: source[k] for k in ("source_id", "kind", "title", "score")})


def draft_out(draft: Draft) -> DraftOut:
    return DraftOut(
        id=draft.id,
        post_id=draft.post_id,
        text=draft.text,
        language=draft.language,
        sources=[_source_out(s) for s in draft.sources],
        confidence=draft.confidence,
        flags=list(draft.flags),
        version=draft.version,
        status=draft.status,
        generation=draft.generation,
        created_at=draft.created_at,
        updated_at=draft.updated_at,
        prompt_version=draft.prompt_version,
        checks=[CheckOut(**c) for c in draft.checks or []],
        usage=draft.usage,
        instruction=draft.instruction,
        edit=DraftEditOut(**draft.edit) if draft.edit else None,
    )
