"""Job workers: take leased jobs and hand each to the feature that does it. In-process with the API by
default, or alone as `python -m service worker` (as many processes as you like, on PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Awaitable, Callable

import structlog
from prometheus_client import Counter, Gauge

from service import logs
from service.events.delivery import deliver_event
from service.jobs import queue
from service.jobs.retention import purge_expired, schedule_purge
from service.knowledge.service import delete_vectors, index_document, learn_answer
from service.posts import workflow
from service.runtime import Runtime
from service.triage.service import retriage_brand

log = structlog.get_logger("service.worker")
JOBS = Gauge("reply_service_jobs", "Jobs in the queue table by status", ["status"])
JOB_RUNS = Counter("reply_service_job_runs_total", "Jobs run by this process", ["kind", "outcome"])
METRICS_INTERVAL_S = 5.0

Handler = Callable[[Runtime, queue.Lease], Awaitable[None]]
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
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def _on_enqueue(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for status in ("queued", "running", "done", "failed"):
            JOBS.labels(status=status)  # the series exist from the start, before the first count
        queue.add_listener(self._on_enqueue)
        self._tasks = [asyncio.create_task(self._run(i), name=f"worker-{i}") for i in range(self.concurrency)]
        self._tasks.append(asyncio.create_task(self._report_metrics(), name="worker-metrics"))
        self._tasks.append(asyncio.create_task(schedule_purge(self.runtime), name="retention-schedule"))

    async def stop(self, grace_s: float = 10.0) -> None:
        """Take no new job; finish the jobs in hand (up to `grace_s`); a job still running then is cancelled
        and released, so another worker takes it at once rather than when its lease ends. Idempotent."""
        self._stopping.set()
        self._wake.set()
        queue.remove_listener(self._on_enqueue)
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=grace_s)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _report_metrics(self) -> None:
        """Queue depth by status for /metrics: one small GROUP BY every few seconds per process."""
        while not self._stopping.is_set():
            try:
                async with self.runtime.sessionmaker() as session:
                    counts = await queue.stats(session)
                for status in ("queued", "running", "done", "failed"):
                    JOBS.labels(status=status).set(counts.get(status, 0))
            except Exception:
                log.warning("could not read job stats")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=METRICS_INTERVAL_S)

    async def run_until_stopped(self) -> None:
        self.start()
        await self._stopping.wait()

    async def _run(self, index: int) -> None:
        settings = self.runtime.settings
        while not self._stopping.is_set():
            try:
                worked = await self.run_once()
            except Exception:
                log.exception("worker loop error")
                worked = False
            if not worked:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=settings.job_poll_s)

    async def run_once(self) -> bool:
        """Take and run one job; False when there was none (or the pool is stopping)."""
        settings = self.runtime.settings
        if self._stopping.is_set():
            return False
        async with self.runtime.transaction() as session:
            leases = await queue.take(session, self.worker_id, lease_s=settings.job_lease_s)
        if not leases:
            return False
        for lease in leases:
            await self._execute(lease)
        return True

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

    async def _execute(self, lease: queue.Lease) -> None:
        handler = HANDLERS.get(lease.kind)
        bound = log.bind(job_id=lease.id, kind=lease.kind, attempt=lease.attempts)
        request_id = logs.bind_request_id(lease.payload.get(logs.REQUEST_ID_KEY))  # for all the job's lines
        heartbeat = asyncio.create_task(self._heartbeat(lease))
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind {lease.kind!r}")
            await handler(self.runtime, lease)
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
