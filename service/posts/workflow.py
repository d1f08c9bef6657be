"""The way of one post through the workers, in two steps, each its own job:

1. `triage_post` (enqueued with the post): triage it, group it into an incident, send the brand's holding
   reply when the team is off, and send `post.triaged`. A post that needs a reply becomes `triaged` (in
   the agents' queue, where a helpdesk can route it), is assigned to an on-shift team member
   (team/service.py) and its `draft_post` job is enqueued, taken by the same worker, which runs it next;
   one that needs none becomes `no_reply_needed`.
2. `draft_post` (also for regeneration, with an agent's instruction): find knowledge and draft; the post
   becomes `drafted` and `draft.ready` is sent. An agent approves it (drafts/review.py); nothing is sent
   before.

Each job reads what it needs in a read-only session (`Runtime.read`: no write lock on SQLite), then ends
in one transaction that stores its result and completes the job only while this worker still holds the
lease, so each step happens exactly once even when a worker dies mid-job. That
transaction first locks the brand's row: one brand's posts are stored one at a time, so incident grouping
never races itself, and a brand change either precedes it (seen) or follows it (re-triaged). Slow work
(models, LLM, retrieval) happens between transactions, never inside one.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.drafts import service as drafts
from service.events import schemas as events
from service.events.outbox import emit
from service.incidents import service as incidents
from service.incidents.grouping import from_bytes
from service.jobs import queue
from service.models import Brand, Post, utcnow
from service.runtime import Runtime
from service.team import service as team
from service.triage import service as triage
from service.triage.out_of_hours import send_holding_reply


async def triage_post(runtime: Runtime, lease: queue.Lease) -> queue.Lease | None:
    """The first step; the lease of the post's `draft_post` job when it needs a reply: that job is
    enqueued taken by this worker, which drafts next (no other worker is woken, and no take is spent)."""
    post_id = lease.payload["post_id"]
    async with runtime.read() as session:
        post, brand = await _load(session, post_id, "accepted")
        if post is not None and brand is not None:
            inp = await triage.triage_input(session, post)
            policy = triage.brand_policy(brand)
    if post is None or brand is None:
        await _finish_moot(runtime, lease)
        return None
    vector = await triage.embed_post(runtime, post.text, brand.language)
    result = await triage.decide(runtime, brand.name, inp, policy, vector=vector)

    drafting = None
    async with runtime.transaction() as session:
        post, brand = await _load(session, post_id, "accepted", lock=True)
        if post is None or brand is None:
            await _finish(session, lease)
            return None
        triage.apply(post, result.to_dict())
        if result.policy_version != brand.policy_version:
            # the brand changed while this post was triaged; its re-triage job may have passed it by
            queue.enqueue(session, "retriage_brand", {"brand_id": brand.id})
        if result.needs_reply:
            post.status = "triaged"
            if vector is not None:
                await incidents.assign(session, runtime.vectors, brand, post, vector, runtime.embedder.name)
            await send_holding_reply(session, brand, post)
            await team.assign_new(session, brand, post)
            drafting = queue.enqueue_taken(
                session,
                "draft_post",
                {"post_id": post.id, "generation": 1},
                lease,
                lease_s=runtime.settings.job_lease_s,
                max_attempts=runtime.settings.job_max_attempts,
            )
        else:
            post.status = "no_reply_needed"
        emit(session, brand, "post.triaged", events.post_triaged(post))
        await _finish(session, lease)
    return queue.lease_of(drafting) if drafting is not None else None


async def draft_post(runtime: Runtime, lease: queue.Lease) -> None:
    post_id, generation = lease.payload["post_id"], int(lease.payload.get("generation", 1))
    instruction = lease.payload.get("instruction")
    async with runtime.read() as session:
        post, brand = await _load(session, post_id, "triaged")
        if post is not None and brand is not None:
            embedding = await session.scalar(sa.select(Post.embedding).where(Post.id == post_id))
            same_model = post.embedding_model == runtime.embedder.name
            request = drafts.draft_request(
                runtime, brand, post, await triage.thread_texts(session, post), instruction
            )
    if post is None or brand is None:
        return await _finish_moot(runtime, lease)
    vector = from_bytes(embedding) if embedding and same_model else None
    content = await drafts.compose(
        runtime, brand, post, request, vector=vector, last_attempt=lease.last_attempt
    )

    async with runtime.transaction() as session:
        post, brand = await _load(session, post_id, "triaged", lock=True)
        if post is None or brand is None:
            return await _finish(session, lease)
        await drafts.store(session, brand, post, content, generation, instruction)
        await _finish(session, lease)


async def mark_failed(runtime: Runtime, lease: queue.Lease, error: str) -> None:
    """A post whose job failed for good is shown as failed, with the reason, not silently dropped."""
    async with runtime.transaction() as session:
        await session.execute(
            sa.update(Post)
            .where(Post.id == lease.payload["post_id"], Post.status.in_(("accepted", "triaged")))
            .values(status="failed", error=error[:2000], updated_at=utcnow())
        )


async def _load(
    session: AsyncSession, post_id: str, status: str, *, lock: bool = False
) -> tuple[Post | None, Brand | None]:
    """The post and its brand while the post is still at `status` (else this step is done or moot).
    With `lock`, the brand's row first, then the post's: the lock order of every writer that takes both."""
    post = await session.get(Post, post_id)
    if post is None:
        return None, None
    brand = await session.get(Brand, post.brand_id, with_for_update=lock)
    if lock:
        await session.refresh(post, with_for_update=True)
    return (post, brand) if brand is not None and post.status == status else (None, None)


async def _finish_moot(runtime: Runtime, lease: queue.Lease) -> None:
    """The post moved on (or is gone) before the step began: complete the job, nothing else."""
    async with runtime.transaction() as session:
        await _finish(session, lease)


async def _finish(session: AsyncSession, lease: queue.Lease) -> None:
    """Complete the job in the caller's transaction, or undo everything if another worker owns it now."""
    if not await queue.complete(session, lease):
        raise queue.LeaseLost(lease.id)
