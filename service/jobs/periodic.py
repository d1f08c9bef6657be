"""Periodic jobs kept in the job table itself: durable, and one run per interval however many replicas.

The invariant: at any moment there is at most one unfinished job (queued or running) of a periodic kind.
- a run finishes its lease and enqueues the next run (`run_at` = now + interval) in one transaction, so
  the chain neither breaks nor forks: a worker that lost its lease rolls both back;
- a worker pool starting up enqueues a first run only if none is unfinished, under a lock (PostgreSQL:
  a transaction advisory lock named after the kind; SQLite: the write lock BEGIN IMMEDIATE takes), so
  replicas that start together still add one.
Used by the retention purge (jobs/retention.py) and the team's shift re-assignment (team/assignment.py).
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from service.jobs import queue
from service.models import Job
from service.runtime import Runtime

log = structlog.get_logger("service.jobs")

# A periodic run that fails is retried with the queue's capped backoff rather than given up: a chain that
# ended in 'failed' would stop until the next start-up.
MAX_ATTEMPTS = 1_000_000
UNFINISHED = ("queued", "running")


async def lock(session: AsyncSession, name: str) -> None:
    """Serialize schedulers of `name` until the transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        lock_id = zlib.crc32(f"reply-service-schedule:{name}".encode())
        await session.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})
    # SQLite: every transaction here starts with BEGIN IMMEDIATE (service.db), which already serializes us.


async def ensure_scheduled(session: AsyncSession, kind: str) -> bool:
    """Enqueue a first run of `kind`, due now, unless one is queued or running. True when this call
    added it."""
    await lock(session, kind)
    pending = await session.scalar(
        sa.select(sa.func.count()).select_from(Job).where(Job.kind == kind, Job.status.in_(UNFINISHED))
    )
    if pending:
        return False
    queue.enqueue(session, kind, {}, max_attempts=MAX_ATTEMPTS)
    return True


async def schedule_at_start(runtime: Runtime, kind: str) -> None:
    """A worker pool's start-up hook; a failure is logged, not raised (the next start tries again)."""
    try:
        async with runtime.transaction() as session:
            await ensure_scheduled(session, kind)
    except Exception:
        log.exception("could not schedule a periodic job", kind=kind)
        return


async def finish_and_schedule_next(
    session: AsyncSession, lease: queue.Lease, interval_s: float
) -> queue.Lease:
    """In the caller's transaction: complete this run and enqueue the next one `interval_s` later.
    Raises LeaseLost (roll back) when another worker owns this run now."""
    if not await queue.complete(session, lease):
        raise queue.LeaseLost(lease.id)
    queue.enqueue(session, lease.kind, {}, max_attempts=MAX_ATTEMPTS, delay_s=interval_s)
    return lease


def periodic_handler(
    work: Callable[[Runtime], Awaitable[object]], interval: Callable[[Runtime], float]
) -> Callable[[Runtime, queue.Lease], Awaitable[None]]:
    """A job handler that does `work`, then finishes the run and schedules the next in one transaction."""

    async def handler(runtime: Runtime, lease: queue.Lease) -> None:
        result = await work(runtime)
        async with runtime.transaction() as session:
            await finish_and_schedule_next(session, lease, interval(runtime))
        log.info("periodic job done", kind=lease.kind, result=repr(result))

    return handler
