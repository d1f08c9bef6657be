"""Retention: a scheduled job purges finished jobs, finished webhook events, expired idempotency keys and
the raw bytes of uploads that no longer need them.

The schedule is the job table itself (service/jobs/periodic.py): at most one unfinished `purge_expired`
job at any moment, each run enqueues the next in the transaction that finishes it, so however many
replicas run, there is one purge per interval.

What is removed and when:
- jobs that are `done` or `failed` once `finished_at` is older than REPLY_RETENTION_JOBS_DAYS;
- events that are `delivered`, `skipped` or `failed` once created longer ago than
  REPLY_RETENTION_EVENTS_DAYS (pending events are never touched: their delivery job still needs them);
- idempotency keys past their `expires_at` (REPLY_IDEMPOTENCY_TTL_S after their first use);
- an upload's bytes (`documents.content`) once the document is no longer processing. Indexing clears them
  itself when it finishes; the purge catches rows from before that. Nothing needs them afterwards: a
  replacement is a new upload with its own bytes, and the unchanged-upload check uses `sha256`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from service.jobs import periodic, queue
from service.models import Document, Event, IdempotencyRecord, Job, utcnow
from service.runtime import Runtime

log = structlog.get_logger("service.retention")

KIND = "purge_expired"
MAX_ATTEMPTS = periodic.MAX_ATTEMPTS
# Rows per DELETE, so a first purge of a large backlog holds no lock for long.
BATCH = 1000


@dataclass(frozen=True)
class Purged:
    jobs: int = 0
    events: int = 0
    idempotency_keys: int = 0
    document_contents: int = 0


async def ensure_scheduled(session: AsyncSession) -> bool:
    """Enqueue a first purge, due now, unless one is queued or running. True when this call added it."""
    return await periodic.ensure_scheduled(session, KIND)


async def schedule_purge(runtime: Runtime) -> None:
    """The worker pool's start-up hook; a failure is logged, not raised (the next start tries again)."""
    await periodic.schedule_at_start(runtime, KIND)


async def _delete_batches(
    runtime: Runtime, model: type[Job | Event | IdempotencyRecord], where: sa.ColumnElement[bool]
) -> int:
    total = 0
    while True:
        async with runtime.transaction() as session:
            ids = sa.select(model.id).where(where).limit(BATCH).scalar_subquery()
            result = await session.execute(
                sa.delete(model).where(model.id.in_(ids)).execution_options(synchronize_session=False)
            )
        count = int(getattr(result, "rowcount", 0) or 0)
        total += count
        if count < BATCH:
            return total


async def purge(runtime: Runtime) -> Purged:
    """Remove what the retention settings no longer keep (see the module's opening lines)."""
    settings = runtime.settings
    now = utcnow()
    jobs = await _delete_batches(
        runtime,
        Job,
        sa.and_(
            Job.status.in_(("done", "failed")),
            Job.finished_at < now - timedelta(days=settings.retention_jobs_days),
        ),
    )
    events = await _delete_batches(
        runtime,
        Event,
        sa.and_(
            Event.status.in_(("delivered", "skipped", "failed")),
            Event.created_at < now - timedelta(days=settings.retention_events_days),
        ),
    )
    keys = await _delete_batches(runtime, IdempotencyRecord, IdempotencyRecord.expires_at < now)
    async with runtime.transaction() as session:
        result = await session.execute(
            sa.update(Document)
            .where(Document.status != "processing", Document.content.is_not(None))
            .values(content=None)
            .execution_options(synchronize_session=False)
        )
    contents = int(getattr(result, "rowcount", 0) or 0)
    return Purged(jobs=jobs, events=events, idempotency_keys=keys, document_contents=contents)


async def purge_expired(runtime: Runtime, lease: queue.Lease) -> None:
    """The job handler: purge, then finish this run and schedule the next one in the same transaction."""
    purged = await purge(runtime)
    async with runtime.transaction() as session:
        await periodic.finish_and_schedule_next(session, lease, runtime.settings.retention_interval_s)
    log.info("retention purge done", **purged.__dict__)
