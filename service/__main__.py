"""Entry points: `python -m service` (API with in-process workers), `python -m service worker`, and
`python -m service check` (exit 0 when the database and the Qdrant server answer: a container health
check for the worker, which serves no HTTP)."""

from __future__ import annotations

import asyncio
import signal
import sys

from service.config import Settings


def run_api(settings: Settings) -> None:
    import uvicorn

    from service.app import create_app
    from service.shutdown import DrainingServer

    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=15,
    )
    DrainingServer(config, app).run()


async def run_worker(settings: Settings) -> None:
    from service.auth import keys
    from service.logs import configure
    from service.runtime import start_runtime
    from service.shutdown import grace_s
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
    # no new job; the held ones finish within the grace or are released for another worker at once
    await pool.stop(grace_s(settings))
    await runtime.close()


async def check(settings: Settings) -> int:
    from service import db

    engine = db.create_engine(settings)
    try:
        await db.check_database(engine)
        # Local mode is skipped: its folder is locked by the process that owns it.
        if settings.qdrant_url:
            from service.adapters.vectors import VectorStore

            vectors = VectorStore(settings, dim=0)  # the size only matters when creating the collection
            try:
                await vectors.check()
            finally:
                await vectors.close()
    except Exception as exc:
        print(f"not ready: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print("ready")
    return 0


def main(argv: list[str]) -> int:
    try:
        settings = Settings()
    except Exception as exc:  # contradictory or malformed settings: say so and stop
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if argv[:1] == ["check"]:
        return asyncio.run(check(settings))
    if argv[:1] == ["worker"]:
        asyncio.run(run_worker(settings))
        return 0
    if argv and argv[0] not in ("api", "serve"):
        print("usage: python -m service [api|worker|check]", file=sys.stderr)
        return 2
    run_api(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
