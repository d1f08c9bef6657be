"""Entry points: `python -m service` (API with in-process workers), `python -m service worker`."""

from __future__ import annotations

import asyncio
import signal
import sys

from service.config import Settings


def run_api(settings: Settings) -> None:
    import uvicorn

    from service.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=15,
    )


async def run_worker(settings: Settings) -> None:
    from service.auth import keys
    from service.logs import configure
    from service.runtime import start_runtime
    from service.worker import WorkerPool

    configure(settings.log_level, settings.log_json)
    runtime = await start_runtime(settings)
    if settings.bootstrap_admin_key:
        async with runtime.transaction() as session:
            await keys.ensure_bootstrap_admin(session, settings.bootstrap_admin_key)
    pool = WorkerPool(runtime, max(1, settings.workers))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    pool.start()
    await stop.wait()
    await pool.stop()
    await runtime.close()


def main(argv: list[str]) -> int:
    try:
        settings = Settings()
    except Exception as exc:  # contradictory or malformed settings: say so and stop
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if argv[:1] == ["worker"]:
        asyncio.run(run_worker(settings))
        return 0
    if argv and argv[0] not in ("api", "serve"):
        print("usage: python -m service [api|worker]", file=sys.stderr)
        return 2
    run_api(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
