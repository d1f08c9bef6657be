"""Pipeline benchmark: what the service adds to the model's own cost, for one post and for a burst.

Run from the project root: `.venv/bin/python bench/pipeline.py [--quick] [--db sqlite|postgresql]`.

Data: twitter-cdp, RockstarSupport's dev conversations as the brand's FAQ (89 entries), customer turns of
the test split as posts (English posts to an English brand; drafts by the template writer, no LLM).

- The floor, per post: the raw model (`SentenceTransformer.encode` of one text, normalised) and a raw
  exact search over the same FAQ's vectors (numpy dot product and top 5): the least any service could do.
- The service, per post: the post accepted through the API, then its jobs run the way a worker runs them
  (`WorkerPool.run_once`: triage with the example vote, incident grouping, retrieval, template draft,
  each job's transactions and events), timed from the first job taken to the last one done.
  `ratio_p50`, `ratio_p95`: service over floor, same run (target: ratio_p50 ≤ 1.3).
- The burst: 1,000 posts sent by 16 concurrent clients through the API (in-process workers), timed
  until every post is settled (drafted, or no reply needed); against the model's best raw batch
  throughput on the same texts (batch sizes 16 to 128): `burst_throughput_ratio` (target ≥ 0.8).
- Where the machine's time goes (CPU seconds of the whole process, all threads, `time.process_time`):
  `model_cpu_ms_per_text` (the raw batch at its best size), `accept_cpu_ms_per_post` (the same burst
  accepted by the API with no workers: validate, dedupe, store, enqueue, 202) and
  `service_cpu_ms_per_post` (the whole burst). On a CPU-bound machine the burst ratio cannot pass
  `model / (model + accept)` even if the jobs cost nothing: `ratio_ceiling_accept_only`.

Other helpers' work shares the machine: read the ratios, which compare figures of the same run.
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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from the project root, without installing the package

from service.adapters.embedder import SentenceTransformerEmbedder, load_embedder  # noqa: E402
from service.app import create_app  # noqa: E402
from service.config import Settings  # noqa: E402
from service.knowledge.retrieval import clean_text  # noqa: E402
from service.models import Post  # noqa: E402
from service.worker import WorkerPool  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
ADMIN = "bench-admin-key-0123456789"
COMPANY = "RockstarSupport"
SETTLED = ("drafted", "no_reply_needed", "failed")
T = TypeVar("T")


def _customer(conv: dict[str, Any]) -> str:
    return " ".join(t["message"] for t in conv["dialogContent"] if any(k.startswith("client") for k in t))


def _agent(conv: dict[str, Any]) -> str:
    words = conv["agentURL"]["url_utterance"].split()
    while words and words[0].startswith("@"):
        words.pop(0)
    return " ".join(words)


def load_data() -> tuple[list[dict[str, str]], list[str]]:
    folder = DATASETS / "twitter-cdp"
    dev = json.loads((folder / "dev.json").read_text(encoding="utf-8"))
    test = json.loads((folder / "test.json").read_text(encoding="utf-8"))
    faqs = [
        {"id": f"r-{n}", "question": _customer(c)[:1000], "answer": _agent(c)}
        for n, c in enumerate(c for c in dev if c["dialogHeader"]["company"] == COMPANY)
    ]
    posts = [t for t in (_customer(c)[:2000].strip() for c in test) if t]
    return faqs, posts


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class App:
    """The service from its factory with its lifespan in a task, and an in-process client."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings, embedder=load_embedder())
        self.stop = asyncio.Event()
        self.started = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://bench", timeout=120
        )
        self.admin = {"Authorization": f"Bearer {ADMIN}"}
        self.headers: dict[str, str] = {}

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    async def _run(self) -> None:
        async with self.app.lifespan():
            self.started.set()
            await self.stop.wait()

    async def __aenter__(self) -> App:
        self.task = asyncio.create_task(self._run())
        await self.started.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
        self.stop.set()
        assert self.task is not None
        await self.task

    async def call(self, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        response = await self.client.request(method, path, **kwargs)
        assert response.status_code == expect, (path, response.status_code, response.text)
        return response.json()

    async def setup(self, faqs: list[dict[str, str]], *, wait: bool = True) -> None:
        """The brand, its FAQ uploaded, and an integration key. `wait`: until the FAQ is indexed by the
        app's own workers (without workers the caller runs the document's job itself)."""
        body = {"slug": "rockstar", "name": "Rockstar", "language": "en", "voice": {"formality": "informal"}}
        await self.call("POST", "/v1/brands", 201, json=body, headers=self.admin)
        files = {"file": ("faq.json", json.dumps({"faqs": faqs}).encode())}
        path = "/v1/brands/rockstar/documents"
        doc = await self.call("POST", path, 202, files=files, data={"kind": "faq"}, headers=self.admin)
        for _ in range(3000 if wait else 0):
            got = await self.call("GET", f"{path}/{doc['id']}", 200, headers=self.admin)
            if got["status"] != "processing":
                break
            await asyncio.sleep(0.1)
        key = await self.call(
            "POST",
            "/v1/api-keys",
            201,
            json={"name": "bench", "role": "integration", "brands": "*"},
            headers=self.admin,
        )
        self.headers = {"Authorization": f"Bearer {key['key']}"}

    async def send(self, n: int, text: str) -> str:
        post = {
            "brand": "rockstar",
            "channel": "twitter",
            "external_id": f"p-{n}",
            "text": text,
            "author": {"handle": f"customer{n % 97}", "name": "Alex"},
        }
        return str((await self.call("POST", "/v1/posts", 202, json=post, headers=self.headers))["id"])

    async def settled(self) -> int:
        async with self.runtime.sessionmaker() as session:
            return int(await session.scalar(sa.select(sa.func.count()).where(Post.status.in_(SETTLED))) or 0)


def settings_for(data_dir: Path, db_url: str | None, workers: int) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "bootstrap_admin_key": ADMIN,
        "workers": workers,
        "qdrant_path": ":memory:",
        "log_level": "WARNING",
    }
    if db_url:
        values["database_url"] = db_url
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def floor(faqs: list[dict[str, str]], posts: list[str]) -> tuple[list[float], float, float]:
    """Per post: raw encode + raw exact search (ms); the best raw batch throughput (texts/s) and the CPU
    time per text of that batch (ms, all threads)."""
    embedder = load_embedder()
    assert isinstance(embedder, SentenceTransformerEmbedder)
    model = embedder._model

    def encode(texts: list[str], batch_size: int = 32) -> np.ndarray:
        return np.asarray(
            model.encode(
                texts,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        )

    matrix = encode([f"{f['question']} {f['answer']}" for f in faqs])
    encode(posts[:8])  # warm up
    single = []
    for text in posts:
        started = time.perf_counter()
        query = encode([text])[0]
        scores = matrix @ query
        top = np.argpartition(-scores, 5)[:5]
        _ = top[np.argsort(-scores[top])]
        single.append((time.perf_counter() - started) * 1000)
    best, best_cpu = 0.0, float("nan")
    for batch_size in (16, 32, 64, 128):
        started, cpu = time.perf_counter(), time.process_time()
        encode(posts, batch_size=batch_size)
        rate = len(posts) / (time.perf_counter() - started)
        if rate > best:
            best, best_cpu = rate, (time.process_time() - cpu) * 1000 / len(posts)
    return single, best, best_cpu


async def one_post_at_a_time(faqs: list[dict[str, str]], posts: list[str], db_url: str | None) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        async with App(settings_for(Path(tmp), db_url, workers=0)) as app:
            await app.setup(faqs, wait=False)  # no workers here: the loop below indexes it
            pool = WorkerPool(app.runtime, 1)
            while await pool.run_once():  # the document's own jobs
                pass
            await app.send(-1, posts[0])  # warm up: first use of each code path
            while await pool.run_once():
                pass
            times = []
            for n, text in enumerate(posts):
                await app.send(n, text)
                started = time.perf_counter()
                while await pool.run_once():
                    pass
                times.append((time.perf_counter() - started) * 1000)
    return times


async def send_all(app: App, posts: list[str], clients: int, *, first: int = 0) -> None:
    """`posts` sent by `clients` concurrent clients, numbered from `first` (their external ids)."""
    todo = list(enumerate(posts, start=first))

    async def client() -> None:
        while todo:
            n, text = todo.pop()
            await app.send(n, text)

    await asyncio.gather(*(client() for _ in range(clients)))


async def accept_only(posts: list[str], db_url: str | None, clients: int) -> tuple[float, float]:
    """The burst accepted with no workers (nothing drafted): posts/s and CPU ms per post."""
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        async with App(settings_for(Path(tmp), db_url, workers=0)) as app:
            await app.setup([{"id": "a", "question": "Warm up?", "answer": "Yes."}], wait=False)
            await send_all(app, [f"warm up {n}" for n in range(clients)], clients, first=len(posts))
            started, cpu = time.perf_counter(), time.process_time()
            await send_all(app, posts, clients)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return len(posts) / wall, cpu * 1000 / len(posts)


async def burst(
    faqs: list[dict[str, str]], posts: list[str], db_url: str | None, workers: int, clients: int
) -> tuple[float, float, dict[str, int]]:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        async with App(settings_for(Path(tmp), db_url, workers=workers)) as app:
            await app.setup(faqs)
            await app.send(-1, posts[0])
            while await app.settled() < 1:  # noqa: ASYNC110 - the database is what tells
                await asyncio.sleep(0.05)
            calls_before = _model_calls()
            started, cpu = time.perf_counter(), time.process_time()
            await send_all(app, posts, clients)
            while await app.settled() < len(posts) + 1:  # noqa: ASYNC110 - as above
                await asyncio.sleep(0.05)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            calls, texts = (a - b for a, b in zip(_model_calls(), calls_before, strict=True))
            async with app.runtime.sessionmaker() as session:
                rows = await session.execute(sa.select(Post.status, sa.func.count()).group_by(Post.status))
                statuses: dict[str, Any] = {str(s): int(c) for s, c in rows}
            statuses["model_calls"], statuses["texts_per_call"] = int(calls), round(texts / max(calls, 1), 1)
    return len(posts) / wall, cpu * 1000 / len(posts), statuses


def _model_calls() -> tuple[float, float]:
    """Calls to the service model and texts in them so far (the micro-batcher's histogram)."""
    from prometheus_client import REGISTRY

    labels = {"model": load_embedder().name}
    count = REGISTRY.get_sample_value("reply_service_embed_batch_texts_count", labels) or 0.0
    return count, REGISTRY.get_sample_value("reply_service_embed_batch_texts_sum", labels) or 0.0


async def batcher_only(posts: list[str]) -> dict[str, Any]:
    """The micro-batcher alone, same texts, same process: one text per raw call, one raw batch call, and
    the same texts as concurrent single-text calls through the batcher (as concurrent jobs make them)."""
    from service.adapters.embedder import aencode_queries

    embedder = load_embedder()
    embedder.encode(posts[:4])
    started = time.perf_counter()
    for text in posts:
        embedder.encode([text])
    one_by_one = len(posts) / (time.perf_counter() - started)
    started = time.perf_counter()
    embedder.encode(posts)
    raw_batch = len(posts) / (time.perf_counter() - started)
    calls_before = _model_calls()
    started = time.perf_counter()
    await asyncio.gather(*(aencode_queries(embedder, [t]) for t in posts))
    batched = len(posts) / (time.perf_counter() - started)
    calls, texts = (a - b for a, b in zip(_model_calls(), calls_before, strict=True))
    return {
        "bench": "pipeline",
        "dataset": "batcher",
        "texts": len(posts),
        "single_calls_texts_per_s": round(one_by_one, 1),
        "raw_batch_texts_per_s": round(raw_batch, 1),
        "batcher_texts_per_s": round(batched, 1),
        "batcher_vs_raw_batch": round(batched / raw_batch, 3),
        "batcher_vs_single_calls": round(batched / one_by_one, 2),
        "batcher_model_calls": int(calls),
        "texts_per_call": round(texts / max(calls, 1), 1),
    }


async def pg_database() -> tuple[str, Any]:
    from tests.conftest import create_pg_database, drop_pg_database

    url = await create_pg_database()
    return url, drop_pg_database


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    faqs, texts = load_data()
    n_single, n_burst = (30, 200) if args.quick else (100, 1000)
    n_burst = args.burst or n_burst
    single_posts = texts[:n_single]
    burst_posts = [texts[i % len(texts)] for i in range(n_burst)]

    if args.part == "batcher":
        line = await batcher_only([clean_text(t, "en") for t in texts[:64]])
        print(line)
        return [line]
    floor_ms, raw_batch, model_cpu = floor(faqs, [clean_text(t, "en") for t in burst_posts])
    floor_single = floor_ms[:n_single]

    async def fresh(part: Callable[[str | None], Awaitable[T]]) -> T:
        """One part on its own database (a new PostgreSQL database per part; SQLite: a new folder)."""
        if args.db != "postgresql":
            return await part(None)
        db_url, cleanup = await pg_database()
        try:
            return await part(db_url)
        finally:
            await cleanup(db_url)

    service_ms, rate, service_cpu = [float("nan")], float("nan"), float("nan")
    accept_rate, accept_cpu = float("nan"), float("nan")
    statuses: dict[str, Any] = {}
    if args.part in ("all", "single"):
        service_ms = await fresh(lambda url: one_post_at_a_time(faqs, single_posts, url))
    if args.part in ("all", "burst"):
        rate, service_cpu, statuses = await fresh(
            lambda url: burst(faqs, burst_posts, url, args.workers, args.clients)
        )
        accept_rate, accept_cpu = await fresh(lambda url: accept_only(burst_posts, url, args.clients))

    floor_p50, floor_p95 = statistics.median(floor_single), pct(floor_single, 0.95)
    service_p50, service_p95 = statistics.median(service_ms), pct(service_ms, 0.95)
    line = {
        "bench": "pipeline",
        "dataset": "floor-vs-service",
        "db": args.db,
        "posts_single": n_single,
        "posts_burst": n_burst,
        "floor_p50_ms": round(floor_p50, 2),
        "floor_p95_ms": round(floor_p95, 2),
        "service_p50_ms": round(service_p50, 2),
        "service_p95_ms": round(service_p95, 2),
        "ratio_p50": round(service_p50 / floor_p50, 3),
        "ratio_p95": round(service_p95 / floor_p95, 3),
        "raw_batch_texts_per_s": round(raw_batch, 1),
        "burst_posts_per_s": round(rate, 1),
        "burst_throughput_ratio": round(rate / raw_batch, 3),
        "model_cpu_ms_per_text": round(model_cpu, 2),
        "accept_posts_per_s": round(accept_rate, 1),
        "accept_cpu_ms_per_post": round(accept_cpu, 2),
        "service_cpu_ms_per_post": round(service_cpu, 2),
        "ratio_ceiling_accept_only": round(model_cpu / (model_cpu + accept_cpu), 3),
        "burst_workers": args.workers,
        "burst_clients": args.clients,
        "burst_statuses": statuses,
        "cpus": os.cpu_count(),
    }
    print(f"{'':24}{'p50 ms':>10}{'p95 ms':>10}")
    print(f"{'floor (model + search)':24}{floor_p50:>10.1f}{floor_p95:>10.1f}")
    print(f"{'service (one post)':24}{service_p50:>10.1f}{service_p95:>10.1f}")
    print(f"ratio p50 {line['ratio_p50']}  p95 {line['ratio_p95']}")
    print(
        f"burst of {n_burst}: {rate:.1f} posts/s vs raw batch {raw_batch:.1f} texts/s "
        f"= {line['burst_throughput_ratio']} ({statuses})"
    )
    print(
        f"CPU per post: model {model_cpu:.1f} ms per text (raw batch), accept alone {accept_cpu:.1f} ms "
        f"({accept_rate:.1f} posts/s), whole service {service_cpu:.1f} ms; ceiling with free jobs "
        f"{line['ratio_ceiling_accept_only']}"
    )
    return [line]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="30 single posts and a burst of 200")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", type=int, default=16, help="in-process workers for the burst")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients sending the burst")
    parts = ("all", "single", "burst", "batcher")
    parser.add_argument("--part", choices=parts, default="all", help="one part (profiling; batcher alone)")
    parser.add_argument("--burst", type=int, default=None, help="posts in the burst (1,000; --quick 200)")
    args = parser.parse_args()
    for line in asyncio.run(main_async(args)):
        print(json.dumps(line))


if __name__ == "__main__":
    main()
