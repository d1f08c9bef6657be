"""Job workers: take leased jobs and hand each to the feature that does it. In-process with the API by
default, or alone as `python -m service worker` (as many processes as you like, on PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import uuid
import zlib
from collections.abc import Awaitable, Callable
from typing import IO

import sqlalchemy as sa
import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncConnection

from service import logs
from service.events.delivery import deliver_event
from service.feeds.service import poll_feed, schedule_feeds
from service.jobs import queue
from service.jobs.retention import purge_expired, schedule_purge
from service.knowledge.service import delete_vectors, index_document, learn_answer
from service.posts import workflow
from service.privacy.erasure import erase_author
from service.runtime import Runtime
from service.team.assignment import reassign_shifts, schedule_reassignment
from service.triage.service import retriage_brand

log = structlog.get_logger("service.worker")
# Global: the queue table's counts, the same whichever process reads them; only the metrics leader (one
# process of the deployment, `MetricsLeader`) exposes them, so a sum over replicas is not N times too big.
JOBS = Gauge("reply_service_jobs", "Jobs in the queue table by status (global: the leader's)", ["status"])
LEADER = Gauge("reply_service_metrics_leader", "1 on the one process that reports the global job counts")
# Per process: these add up over replicas.
JOB_RUNS = Counter("reply_service_job_runs_total", "Jobs run by this process", ["kind", "outcome"])
METRICS_INTERVAL_S = 5.0
STATUSES = ("queued", "running", "done", "failed")
_LEADER_LOCK_ID = zlib.crc32(b"reply-service-metrics-leader")


class MetricsLeader:
    """Which process reports global counts: the holder of a PostgreSQL advisory lock (on a connection it
    keeps; when that process dies the lock goes with it and another takes over within an interval), or
    on SQLite, where every process shares the data folder, of an exclusive lock on a file in it."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._conn: AsyncConnection | None = None
        self._file: IO[str] | None = None

    async def holds(self) -> bool:
        if self.runtime.engine.dialect.name == "postgresql":
            return await self._holds_advisory_lock()
        if self._file is None:
            path = self.runtime.settings.data_dir / "metrics-leader.lock"
            handle = path.open("w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                return False
            self._file = handle
        return True

    async def _holds_advisory_lock(self) -> bool:
        if self._conn is not None:
            try:
                await self._conn.execute(sa.text("SELECT 1"))
                return True
            except Exception:  # the connection, and with it the lock, is gone
                await self.release()
        conn = await self.runtime.engine.connect()
        try:
            got = await conn.scalar(sa.text("SELECT pg_try_advisory_lock(:id)"), {"id": _LEADER_LOCK_ID})
            await conn.commit()
        except Exception:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()  # a session's advisory locks end with it
            self._conn = None
        if self._file is not None:
            self._file.close()
            self._file = None


# A handler may return the lease of a job it enqueued taken (`queue.enqueue_taken`): its next step, which
# the pool runs next instead of waking a worker and spending a take on it.
Handler = Callable[[Runtime, queue.Lease], Awaitable[queue.Lease | None]]
HANDLERS: dict[str, Handler] = {
    "triage_post": workflow.triage_post,
    "draft_post": workflow.draft_post,
    # the kinds before triage and drafting were two steps, for jobs queued by an older version
    "process_post": workflow.triage_post,
    "redraft_post": workflow.draft_post,
    "retriage_brand": retriage_brand,
    "index_document": index_document,
    "delete_vectors": delete_vectors,
    "learn_answer": learn_answer,
    "deliver_event": deliver_event,
    "purge_expired": purge_expired,
    "erase_author": erase_author,
    "reassign_shifts": reassign_shifts,
    "poll_feed": poll_feed,
}
# What to do when a job of this kind fails for good, so the failure is visible where users look.
ON_FINAL_FAILURE: dict[str, Callable[[Runtime, queue.Lease, str], Awaitable[None]]] = {
    kind: workflow.mark_failed for kind in ("triage_post", "draft_post", "process_post", "redraft_post")
}


class WorkerPool:
    def __init__(self, runtime: Runtime, concurrency: int) -> None:
        self.runtime = runtime
        self.concurrency = concurrency
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        # one per worker task; an enqueued job wakes one worker that is looking or waiting for work (in
        # `_looking`), so a burst does not send every idle worker to take the same job
        self._wakes = [asyncio.Event() for _ in range(concurrency)]
        self._looking: set[int] = set()
        self._notified = False  # LISTENing on PostgreSQL: every enqueue, this process's too, is heard
        self._next: list[queue.Lease] = []  # next steps handed on by handlers, run before any take
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def _wake_all(self) -> None:
        for wake in self._wakes:
            wake.set()

    def _wake(self, jobs: int) -> None:
        """Wake up to `jobs` workers that are looking for work and not woken yet. A busy worker needs no
        wake: it looks again as soon as its job is done."""
        for index in self._looking:
            if jobs <= 0:
                return
            if not self._wakes[index].is_set():
                self._wakes[index].set()
                jobs -= 1

    def _on_enqueue(self, jobs: int = 1) -> None:
        if self._loop is not None and not self._notified:  # NOTIFY tells of it, or it would wake two
            self._loop.call_soon_threadsafe(self._wake, jobs)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        queue.add_listener(self._on_enqueue)
        self._tasks = [asyncio.create_task(self._run(i), name=f"worker-{i}") for i in range(self.concurrency)]
        self._tasks.append(asyncio.create_task(self._report_metrics(), name="worker-metrics"))
        self._tasks.append(asyncio.create_task(schedule_purge(self.runtime), name="retention-schedule"))
        self._tasks.append(asyncio.create_task(schedule_reassignment(self.runtime), name="team-schedule"))
        self._tasks.append(asyncio.create_task(schedule_feeds(self.runtime), name="feeds-schedule"))
        if self.runtime.engine.dialect.name == "postgresql":
            self._tasks.append(asyncio.create_task(self._listen(), name="worker-listen"))

    async def stop(self, grace_s: float = 10.0) -> None:
        """Take no new job; finish the jobs in hand (up to `grace_s`); a job still running then is cancelled
        and released, so another worker takes it at once rather than when its lease ends. Idempotent."""
        self._stopping.set()
        self._wake_all()
        queue.remove_listener(self._on_enqueue)
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=grace_s)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        while self._next:  # next steps not begun: back to the queue, for another worker at once
            with contextlib.suppress(Exception):
                await self._release(self._next.pop())

    async def _report_metrics(self) -> None:
        """Queue depth by status for /metrics, from the metrics leader only: one small GROUP BY every few
        seconds in one process of the deployment; the others show no such series."""
        leader = MetricsLeader(self.runtime)
        was_leader = False
        try:
            while not self._stopping.is_set():
                try:
                    if await leader.holds():
                        async with self.runtime.sessionmaker() as session:
                            counts = await queue.stats(session)
                        for status in STATUSES:
                            JOBS.labels(status=status).set(counts.get(status, 0))
                        LEADER.set(1)
                        was_leader = True
                    elif was_leader:  # lost the lock: another process reports from now on
                        JOBS.clear()
                        LEADER.set(0)
                        was_leader = False
                except Exception:
                    log.warning("could not read job stats")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=METRICS_INTERVAL_S)
        finally:
            await leader.release()

    async def _listen(self) -> None:
        """LISTEN for jobs enqueued by other processes (the jobs table's NOTIFY trigger, migration 0009) on
        one connection of the pool; polling stays as the fallback, and while the connection is down."""
        retry_s = max(1.0, self.runtime.settings.job_poll_s)
        while not self._stopping.is_set():
            try:
                await self._listen_once()
            except Exception:
                log.warning("job LISTEN connection failed; polling until it is back", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=retry_s)

    async def _listen_once(self) -> None:
        lost = asyncio.Event()

        def heard(*_: object) -> None:
            self._wake(1)  # one NOTIFY per enqueued job

        def closed(*_: object) -> None:
            lost.set()

        async with self.runtime.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            raw.add_termination_listener(closed)
            await raw.add_listener(queue.NOTIFY_CHANNEL, heard)
            self._notified = True
            self._wake_all()  # jobs enqueued while nobody listened
            stop = asyncio.ensure_future(self._stopping.wait())
            gone = asyncio.ensure_future(lost.wait())
            try:
                await asyncio.wait({stop, gone}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._notified = False
                stop.cancel()
                gone.cancel()
                raw.remove_termination_listener(closed)
                if not lost.is_set():
                    await raw.remove_listener(queue.NOTIFY_CHANNEL, heard)

    async def run_until_stopped(self) -> None:
        self.start()
        await self._stopping.wait()

    async def _run(self, index: int) -> None:
        settings = self.runtime.settings
        wake = self._wakes[index]
        while not self._stopping.is_set():
            wake.clear()  # before looking: a job committed after this look sets it again
            self._looking.add(index)
            try:
                worked = await self.run_once(index)
            except Exception:
                log.exception("worker loop error")
                worked = False
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=settings.job_poll_s)

    async def run_once(self, index: int | None = None) -> bool:
        """Run the next step a job handed on, or take and run one job; False when there was none (or the
        pool is stopping)."""
        if self._stopping.is_set():
            return False
        if self._next:
            leases = [self._next.pop()]
        else:
            leases = await self._take()
            if not leases:
                return False
        if index is not None:  # None: called alone, not by one of the pool's tasks
            self._looking.discard(index)
        for lease in leases:
            if (following := await self._execute(lease)) is not None:
                self._next.append(following)
        return True

    async def _take(self) -> list[queue.Lease]:
        if self.runtime.engine.dialect.name == "sqlite":
            # SQLite has one writer: look first in a read, and take the write lock only for a job to take
            async with self.runtime.read() as session:
                if not await queue.any_ready(session):
                    return []
        async with self.runtime.transaction() as session:
            return await queue.take(session, self.worker_id, lease_s=self.runtime.settings.job_lease_s)

    async def _heartbeat(self, lease: queue.Lease) -> None:
        lease_s = self.runtime.settings.job_lease_s
        while True:
            await asyncio.sleep(lease_s / 3)
            async with self.runtime.transaction() as session:
                if not await queue.extend(session, lease, lease_s):
                    return

    async def _release(self, lease: queue.Lease) -> None:
        async with self.runtime.transaction() as session:
            await queue.release(session, lease, 0.0)

    async def _execute(self, lease: queue.Lease) -> queue.Lease | None:
        """Run one job; the lease of its next step when its handler handed one on."""
        handler = HANDLERS.get(lease.kind)
        following = None
        bound = log.bind(job_id=lease.id, kind=lease.kind, attempt=lease.attempts)
        request_id = logs.bind_request_id(lease.payload.get(logs.REQUEST_ID_KEY))  # for all the job's lines
        heartbeat = asyncio.create_task(self._heartbeat(lease))
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind {lease.kind!r}")
            following = await handler(self.runtime, lease)
            JOB_RUNS.labels(kind=lease.kind, outcome="done").inc()
            bound.info("job done")
        except queue.LeaseLost:
            bound.warning("lease lost; another worker owns this job now")
        except asyncio.CancelledError:
            # shutdown cut the job off (its transaction rolled back): hand it back for another worker now
            with contextlib.suppress(Exception):
                await asyncio.shield(self._release(lease))
            JOB_RUNS.labels(kind=lease.kind, outcome="released").inc()
            bound.warning("job released at shutdown")
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            async with self.runtime.transaction() as session:
                status = await queue.fail(
                    session,
                    lease,
                    error,
                    retry=handler is not None,
                    backoff_base_s=self.runtime.settings.job_backoff_base_s,
                    backoff_cap_s=self.runtime.settings.job_backoff_cap_s,
                    delay_s=exc.delay_s if isinstance(exc, queue.RetryLater) else None,
                )
            JOB_RUNS.labels(kind=lease.kind, outcome=status).inc()
            bound.warning("job failed", error=error, status=status)
            if status == "failed" and lease.kind in ON_FINAL_FAILURE:
                await ON_FINAL_FAILURE[lease.kind](self.runtime, lease, error)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            logs.unbind_request_id(request_id)
        return following
