"""Graceful shutdown on SIGTERM (a rolling deploy, a scale-down): stop being a target, then stop working.

1. `/ready` answers 503 "shutting down", so the load balancer sends no new traffic; the API keeps
   answering what still arrives.
2. The in-process workers take no new job. The jobs they hold get up to `grace_s` to finish; one still
   running then is cancelled (its transaction rolls back) and released at once (queued again, the cut
   attempt not counted): another worker takes it without waiting for the lease to run out.
3. uvicorn's own graceful HTTP shutdown, the lifespan's cleanup, exit 0.

`grace_s` is REPLY_SHUTDOWN_GRACE_S, at most half the job lease, so a process exits within the lease.
`python -m service worker` does steps 2 and 3 (it serves no HTTP).
"""

from __future__ import annotations

import asyncio
from types import FrameType
from typing import Any

import structlog
import uvicorn

from service.config import Settings

log = structlog.get_logger("service.shutdown")


def grace_s(settings: Settings) -> float:
    return min(settings.shutdown_grace_s, settings.job_lease_s / 2)


async def drain(app: Any) -> None:
    """Steps 1 and 2 for the app: readiness off, then the worker pool finished or released."""
    app.state.draining = True
    pool = app.state.get("pool")
    runtime = app.state.get("runtime")
    grace = grace_s(runtime.settings) if runtime is not None else 0.0
    log.info("shutting down: not ready, draining jobs", grace_s=grace, workers=pool is not None)
    if pool is not None:
        await pool.stop(grace)


class DrainingServer(uvicorn.Server):
    """uvicorn with step 1 and 2 before its own shutdown. The first SIGTERM or SIGINT drains, then asks
    uvicorn to exit; the signal is not raised again afterwards (uvicorn's default), so a drained process
    exits 0. A second signal during the drain is uvicorn's usual forced exit."""

    def __init__(self, config: uvicorn.Config, app: Any) -> None:
        super().__init__(config)
        self._app = app
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = False
        self._drain_task: asyncio.Task[None] | None = None

    async def serve(self, sockets: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining or self._loop is None or not self.started:
            super().handle_exit(sig, frame)  # a second signal, or one during start-up
            return
        self._draining = True
        self._loop.call_soon_threadsafe(self._begin_drain)

    def _begin_drain(self) -> None:
        assert self._loop is not None
        self._drain_task = self._loop.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            await drain(self._app)
        except Exception:
            log.exception("drain failed; shutting down anyway")
        finally:
            self.should_exit = True
