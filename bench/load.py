"""Load benchmark: the accept endpoint over loopback at 1 and 2 API processes, and a burst drafted by a
slow model at 1 and 2 worker processes. Real processes (`python -m service`, `python -m service worker`).

Run from the project root: `.venv/bin/python bench/load.py [--quick] [--db sqlite postgresql]`.

- accept: POST /v1/posts (validate, dedupe, store, enqueue, 202) from 16 concurrent clients over HTTP on
  127.0.0.1, spread over the API processes, for `--seconds` or `--max-requests`, whichever comes first;
  the API processes run no workers, so this is accept alone. `rps`, `p50_ms`, `p99_ms`, `errors` (any
  answer but 202, or a transport error).
- burst (PostgreSQL): posts accepted first, then worker processes (`REPLY_WORKERS=4` each) draft them with
  the fake OpenAI-compatible model (tests/fakes/llm_server.py) answering every call after 500 ms; timed
  from the workers' start to the last post settled: `posts_per_s` at 1 and 2 processes and their ratio.

The load generator shares the machine (2 cores) with the service: the figures are lower bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from the project root, without installing the package

from tests.conftest import PG_DSN, create_pg_database, drop_pg_database  # noqa: E402
from tests.e2e.process import ServiceProcess  # noqa: E402
from tests.fakes.llm_server import FakeLLMServer  # noqa: E402

ADMIN_KEY = "load-admin-key-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
TEXTS = [
    "where is my parcel? ordered two weeks ago and still nothing",
    "my train was cancelled this morning, do I get a refund?",
    "the app keeps crashing when I open my tickets",
    "why was I charged twice for the same order",
    "can I change the delivery address of an order already shipped",
]


def env_for(data_dir: Path, db_url: str, **extra: str) -> dict[str, str]:
    return {
        "REPLY_DATA_DIR": str(data_dir),
        "REPLY_DATABASE_URL": db_url,
        "REPLY_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "REPLY_QDRANT_PATH": ":memory:",  # one per process here; at scale a Qdrant server
        "REPLY_LOG_LEVEL": "WARNING",
        "REPLY_MULTILINGUAL_EMBEDDING_MODEL": "",
        **extra,
    }


def setup(url: str) -> dict[str, str]:
    with httpx.Client(base_url=url, timeout=60) as client:
        body = {"slug": "acme", "name": "Acme", "language": "en", "timezone": "Europe/London"}
        assert client.post("/v1/brands", json=body, headers=ADMIN).status_code == 201
        key = client.post(
            "/v1/api-keys", json={"name": "load", "role": "integration", "brands": ["acme"]}, headers=ADMIN
        )
        assert key.status_code == 201, key.text
        return {"Authorization": f"Bearer {key.json()['key']}"}


def post_body(n: int, prefix: str) -> dict[str, Any]:
    return {
        "brand": "acme",
        "channel": "twitter",
        "external_id": f"{prefix}-{n}",
        "text": f"{TEXTS[n % len(TEXTS)]} ({n})",
        "author": {"handle": f"user{n % 500}", "followers": 40},
    }


async def hammer(
    urls: list[str], headers: dict[str, str], *, clients: int, seconds: float, max_requests: int, prefix: str
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(max_requests))
    deadline = time.perf_counter() + seconds

    async def client(index: int) -> None:
        nonlocal errors
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=urls[index % len(urls)], timeout=30, limits=limits) as http:
            for n in counter:
                if time.perf_counter() > deadline:
                    return
                started = time.perf_counter()
                try:
                    response = await http.post("/v1/posts", json=post_body(n, prefix), headers=headers)
                    ok = response.status_code == 202
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - started) * 1000)
                errors += not ok

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "rps": round(len(latencies) / wall, 1),
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1),
        "errors": errors,
    }


async def scalar(db_url: str, query: str) -> int:
    engine = create_async_engine(db_url.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(sa.text(query))).scalar_one())
    finally:
        await engine.dispose()


SETTLED_QUERY = "SELECT count(*) FROM posts WHERE status IN ('drafted', 'no_reply_needed', 'failed')"
WORKER_PROCESSES_QUERY = "SELECT count(DISTINCT split_part(locked_by, ':', 2)) FROM jobs"


async def new_database(db: str, tmp: Path) -> str:
    if db == "postgresql":
        return await create_pg_database()
    return f"sqlite:///{tmp / 'reply.db'}"


async def accept(db: str, processes: int, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        db_url = await new_database(db, Path(tmp))
        apis = []
        try:
            env = env_for(Path(tmp) / "data", db_url, REPLY_WORKERS="0")
            for index in range(processes):
                apis.append(ServiceProcess(env, log_path=Path(tmp) / f"api{index}.log").start(wait=False))
            for api in apis:
                api.wait_ready(timeout=600)  # a busy machine loads models slowly
            headers = setup(apis[0].url)
            urls = [a.url for a in apis]
            await hammer(urls, headers, clients=4, seconds=2, max_requests=100, prefix="warm")
            result = await hammer(
                urls,
                headers,
                clients=args.clients,
                seconds=args.seconds,
                max_requests=args.max_requests,
                prefix="load",
            )
        finally:
            for api in apis:
                api.stop()
            if db == "postgresql":
                await drop_pg_database(db_url)
    return {"bench": "load", "dataset": "accept", "processes": processes, "db": db, **result}


async def burst(workers: int, n_posts: int, fake: FakeLLMServer) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        db_url = await create_pg_database()
        procs: list[ServiceProcess] = []
        try:
            env = env_for(
                Path(tmp) / "data",
                db_url,
                REPLY_WORKERS="0",
                REPLY_LLM_BASE_URL=fake.base_url,
                REPLY_LLM_MODEL="fake-model",
                REPLY_LLM_API_KEY="k",
                REPLY_LLM_TIMEOUT_S="30",
            )
            api = ServiceProcess(env, log_path=Path(tmp) / "api.log").start(wait=False)
            procs.append(api)
            api.wait_ready(timeout=600)
            headers = setup(api.url)
            for index in range(workers):
                worker_env = {**env, "REPLY_WORKERS": "4", "REPLY_JOB_POLL_S": "0.5"}
                procs.append(
                    ServiceProcess(worker_env, worker=True, log_path=Path(tmp) / f"w{index}.log").start()
                )
            # warm up until every worker process has taken a job (its models are loaded)
            warm = 0
            while await scalar(db_url, WORKER_PROCESSES_QUERY) < workers:
                await hammer(
                    [api.url], headers, clients=workers, seconds=60, max_requests=workers, prefix=f"w{warm}"
                )
                warm += 1
                while await scalar(db_url, SETTLED_QUERY) < warm * workers:  # noqa: ASYNC110 - the table tells
                    await asyncio.sleep(0.2)
            before = await scalar(db_url, SETTLED_QUERY)
            started = time.perf_counter()
            result = await hammer(
                [api.url], headers, clients=8, seconds=600, max_requests=n_posts, prefix="burst"
            )
            assert result["errors"] == 0, result
            while (await scalar(db_url, SETTLED_QUERY)) - before < n_posts:  # noqa: ASYNC110 - as above
                await asyncio.sleep(0.2)
            wall = time.perf_counter() - started
            done = n_posts
        finally:
            for proc in procs:
                proc.stop()
            await drop_pg_database(db_url)
    return {
        "bench": "load",
        "dataset": "burst-fake-llm-500ms",
        "db": "postgresql",
        "processes": workers,
        "posts": done,
        "seconds": round(wall, 1),
        "posts_per_s": round(done / wall, 2),
    }


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    lines = []
    for db in args.db:
        for processes in (1, 2):
            line = await accept(db, processes, args)
            print(
                f"accept  {db:10} {processes} process(es): {line['rps']:7.1f} req/s  "
                f"p50 {line['p50_ms']:6.1f} ms  p99 {line['p99_ms']:7.1f} ms  errors {line['errors']}"
            )
            lines.append(line)
    if not args.no_burst:
        with FakeLLMServer() as fake:
            fake.set_delay(0.5)
            bursts = []
            for workers in (1, 2):
                line = await burst(workers, args.burst, fake)
                print(f"burst   postgresql {workers} worker process(es): {line['posts']} posts in "
                      f"{line['seconds']} s = {line['posts_per_s']} posts/s")  # fmt: skip
                bursts.append(line)
            bursts[1]["scaling_1_to_2"] = round(bursts[1]["posts_per_s"] / bursts[0]["posts_per_s"], 2)
            lines += bursts
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="5 s per accept run, a burst of 40")
    parser.add_argument("--db", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--max-requests", type=int, default=5000)
    parser.add_argument("--burst", type=int, default=None, help="posts in the slow-model burst")
    parser.add_argument("--no-burst", action="store_true")
    args = parser.parse_args()
    args.seconds = args.seconds or (5.0 if args.quick else 15.0)
    args.burst = args.burst or (40 if args.quick else 120)
    os.environ.setdefault("REPLY_TEST_POSTGRES", PG_DSN)
    for line in asyncio.run(main_async(args)):
        print(json.dumps(line))


if __name__ == "__main__":
    main()
