"""The durable job table: enqueue inside the caller's transaction, take with a lease, retry with backoff.

A job is taken by one atomic UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING, so on
PostgreSQL many workers take jobs side by side without taking one twice; on SQLite the single writer
makes the same statement atomic. A worker that dies leaves its job 'running' with a lease that runs out;
the next worker takes it again. Finishing is conditional on still holding the lease (`locked_by` and
`attempts` unchanged), so a worker whose lease was taken over cannot commit its result a second time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from service import logs
from service.models import Job, utcnow

# Wake-ups for in-process workers so a job enqueued by this process starts without waiting for a poll:
# every transaction that enqueued a job calls them once it has committed (workers in other processes
# hear of it by NOTIFY on PostgreSQL, migration 0009, else at their next poll).
_listeners: list[Any] = []
ENQUEUED = "reply_jobs_enqueued"
NOTIFY_CHANNEL = "reply_jobs"


def add_listener(callback: Any) -> None:
    _listeners.append(callback)


def remove_listener(callback: Any) -> None:
    if callback in _listeners:
        _listeners.remove(callback)


def notify(jobs: int = 1) -> None:
    """Tell this process's workers that `jobs` jobs were enqueued (one worker is woken for each)."""
    for callback in list(_listeners):
        callback(jobs)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if jobs := session.info.pop(ENQUEUED, 0):
        notify(jobs)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(ENQUEUED, None)


@dataclass(frozen=True)
class Lease:
    """A job taken by one worker; pass it back to complete/fail."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    worker_id: str

    @property
    def last_attempt(self) -> bool:
        return self.attempts >= self.max_attempts


def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    max_attempts: int = 8,
    delay_s: float = 0.0,
) -> Job:
    """Add a job to the caller's transaction: it exists exactly when the caller's change commits. The
    request (or job) that enqueues it lends it its request id, so its worker's log lines carry it too."""
    job = Job(
        kind=kind,
        payload=_with_request_id(payload),
        max_attempts=max_attempts,
        run_at=utcnow() + timedelta(seconds=delay_s),
    )
    session.add(job)
    session.info[ENQUEUED] = session.info.get(ENQUEUED, 0) + 1
    return job


def enqueue_taken(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    lease: Lease,
    *,
    lease_s: float,
    max_attempts: int,
) -> Job:
    """Add a job already taken, by the worker that holds `lease`, for the step it does next (`lease_of`
    once committed): no worker is woken for it and none takes it while the lease holds; if its worker
    dies, the lease runs out and another worker takes it, as any job."""
    job = Job(
        kind=kind,
        payload=_with_request_id(payload),
        max_attempts=max_attempts,
        status="running",
        attempts=1,
        locked_by=lease.worker_id,
        lease_until=utcnow() + timedelta(seconds=lease_s),
    )
    session.add(job)
    return job


def lease_of(job: Job) -> Lease:
    """The lease of a job from `enqueue_taken`, once its transaction has committed."""
    assert job.locked_by is not None
    return Lease(job.id, job.kind, dict(job.payload or {}), job.attempts, job.max_attempts, job.locked_by)


def _with_request_id(payload: dict[str, Any]) -> dict[str, Any]:
    if (request_id := logs.current_request_id()) and logs.REQUEST_ID_KEY not in payload:
        return {**payload, logs.REQUEST_ID_KEY: request_id}
    return payload


def _ready(now: Any) -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.and_(Job.status == "queued", Job.run_at <= now),
        sa.and_(Job.status == "running", Job.lease_until < now),
    )


async def any_ready(session: AsyncSession) -> bool:
    """Whether a job could be taken now: a read, so a worker that finds nothing takes no write lock."""
    return (await session.scalar(sa.select(Job.id).where(_ready(utcnow())).limit(1))) is not None


async def take(
    session: AsyncSession, worker_id: str, *, lease_s: float, kinds: list[str] | None = None, limit: int = 1
) -> list[Lease]:
    """Lease up to `limit` ready jobs (queued and due, or running with an expired lease)."""
    now = utcnow()
    ready = _ready(now)
    candidates = sa.select(Job.id).where(ready).order_by(Job.run_at, Job.id).limit(limit)
    if kinds:
        candidates = candidates.where(Job.kind.in_(kinds))
    # A materialized CTE is evaluated once. As a plain IN (subquery), PostgreSQL may run the subquery again
    # per row, and with SKIP LOCKED each run can pick other rows: more than `limit` jobs would be taken.
    chosen = (
        candidates.with_for_update(skip_locked=True)
        .cte("chosen")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    stmt = (
        sa.update(Job)
        .where(Job.id.in_(sa.select(chosen.c.id)))
        .where(ready)
        .values(
            status="running",
            attempts=Job.attempts + 1,
            locked_by=worker_id,
            lease_until=now + timedelta(seconds=lease_s),
        )
        .returning(Job.id, Job.kind, Job.payload, Job.attempts, Job.max_attempts)
        .execution_options(synchronize_session=False)
    )
    rows = (await session.execute(stmt)).all()
    return [Lease(r.id, r.kind, dict(r.payload or {}), r.attempts, r.max_attempts, worker_id) for r in rows]


def _held(lease: Lease) -> sa.ColumnElement[bool]:
    return sa.and_(
        Job.id == lease.id,
        Job.status == "running",
        Job.locked_by == lease.worker_id,
        Job.attempts == lease.attempts,
    )


async def extend(session: AsyncSession, lease: Lease, lease_s: float) -> bool:
    result = await session.execute(
        sa.update(Job).where(_held(lease)).values(lease_until=utcnow() + timedelta(seconds=lease_s))
    )
    return _rowcount(result) == 1


async def complete(session: AsyncSession, lease: Lease) -> bool:
    """Mark done inside the caller's transaction. False means the lease was lost: roll back."""
    result = await session.execute(
        sa.update(Job).where(_held(lease)).values(status="done", finished_at=utcnow(), lease_until=None)
    )
    return _rowcount(result) == 1


async def release(session: AsyncSession, lease: Lease, delay_s: float) -> bool:
    """Hand a job back untried: queued again after `delay_s`, the attempt it was taken with not counted.
    False means the lease was lost."""
    result = await session.execute(
        sa.update(Job)
        .where(_held(lease))
        .values(
            status="queued",
            attempts=Job.attempts - 1,
            run_at=utcnow() + timedelta(seconds=delay_s),
            locked_by=None,
            lease_until=None,
        )
    )
    return _rowcount(result) == 1


def backoff_s(attempts: int, *, base: float = 1.0, cap: float = 300.0) -> float:
    """Exponential backoff with full jitter: attempt 1 waits up to 1 s, attempt 9 up to 256 s."""
    # the exponent is bounded: jobs retried for a day (event delivery) reach attempts where 2**n overflows
    return random.uniform(0, min(cap, base * 2.0 ** min(attempts - 1, 60)))


async def fail(
    session: AsyncSession,
    lease: Lease,
    error: str,
    *,
    retry: bool = True,
    backoff_base_s: float = 1.0,
    backoff_cap_s: float = 300.0,
    delay_s: float | None = None,
) -> str:
    """Record a failure; retried later with backoff (or after `delay_s`, when the handler chose the wait
    itself), or 'failed' for good. Returns the new status."""
    final = not retry or lease.last_attempt
    status = "failed" if final else "queued"
    values: dict[str, Any] = {"status": status, "last_error": error[:2000], "lease_until": None}
    if final:
        values["finished_at"] = utcnow()
    else:
        wait = (
            delay_s
            if delay_s is not None
            else backoff_s(lease.attempts, base=backoff_base_s, cap=backoff_cap_s)
        )
        values["run_at"] = utcnow() + timedelta(seconds=wait)
    await session.execute(sa.update(Job).where(_held(lease)).values(**values))
    return status


async def stats(session: AsyncSession) -> dict[str, int]:
    rows = (await session.execute(sa.select(Job.status, sa.func.count()).group_by(Job.status))).all()
    return {status: int(count) for status, count in rows}


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class RetryLater(Exception):
    """Raised by a handler that failed and knows when to try again (it recorded that time itself)."""

    def __init__(self, message: str, delay_s: float) -> None:
        super().__init__(message)
        self.delay_s = delay_s


class LeaseLost(Exception):
    """Another worker took this job over (our lease ran out): our result must not be committed."""
