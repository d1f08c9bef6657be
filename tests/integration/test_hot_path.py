"""The cheap hot path, on SQLite and PostgreSQL: accepting a post does no model work; a post is embedded
once per model on its way to a draft; the repeat-contact check and the reads use indexes, with a number
of statements that does not grow with the rows; a worker in another process starts a job when it is
enqueued (LISTEN/NOTIFY), not at its next poll."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from prometheus_client import REGISTRY

from service.adapters.embedder import USE_MODEL
from service.jobs import queue
from service.models import Post
from service.runtime import Runtime, start_runtime
from service.triage import service as triage
from service.worker import WorkerPool
from tests.conftest import Api

FAQ = [
    {"id": "refund", "question": "How do I get a refund for my order?",
     "answer": "Open the order in your account and choose Return; the refund follows within 5 days."},
    {"id": "delivery", "question": "Where is my parcel?",
     "answer": "The tracking link in your shipping email shows where your parcel is."},
]  # fmt: skip
GERMAN_FAQ = [
    {"id": "erstattung", "question": "Wie bekomme ich mein Geld zurück?",
     "answer": "Öffnen Sie die Bestellung im Kundenkonto und wählen Sie Rücksendung."},
]  # fmt: skip


def runtime_of(api: Api) -> Runtime:
    runtime: Runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def texts_encoded(model: str) -> float:
    """Texts the model has been given by the micro-batcher in this process (every async encode)."""
    return REGISTRY.get_sample_value("reply_service_embed_batch_texts_sum", {"model": model}) or 0.0


@contextmanager
def statements(runtime: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    sa.event.listen(runtime.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(runtime.engine.sync_engine, "before_cursor_execute", record)


def _selects(seen: list[str]) -> list[str]:
    """The request's reads: the workers' looks for a job (in the jobs table) run beside it."""
    return [s for s in seen if s.lstrip().upper().startswith("SELECT") and "FROM jobs" not in s]


async def test_accepting_posts_does_no_model_work(make_client: Any) -> None:
    api = await make_client(workers=0)
    await api.brand("shop")
    headers = await api.key("integration", ["shop"])
    dense = runtime_of(api).embedder.name
    before = texts_encoded(dense), texts_encoded(USE_MODEL)
    for n in range(5):
        await api.send_post(headers, f"a-{n}", f"where is my parcel number {n}?")
    assert (texts_encoded(dense), texts_encoded(USE_MODEL)) == before


async def test_a_post_is_embedded_once_per_model(api: Api) -> None:
    await api.brand("shop")
    await api.brand("laden", language="de")
    for slug, faq in (("shop", FAQ), ("laden", GERMAN_FAQ)):
        doc = await api.upload(slug, "faq.json", json.dumps(faq).encode(), kind="faq")
        assert (await api.wait_document(slug, doc["id"]))["status"] == "ready"
    await api.settled_jobs()
    headers = await api.key("integration", ["shop", "laden"])
    dense = runtime_of(api).embedder.name

    before = texts_encoded(dense), texts_encoded(USE_MODEL)
    pid = await api.send_post(headers, "e-1", "How do I get a refund for my broken order? It came damaged")
    post = await api.wait_post(pid, headers)
    assert post["status"] == "drafted" and post["draft"]["sources"][0]["source_id"] == "refund", post
    # English to an English brand: the triage vector serves the vote, incidents and retrieval
    assert (texts_encoded(dense) - before[0], texts_encoded(USE_MODEL) - before[1]) == (1, 0)

    before = texts_encoded(dense), texts_encoded(USE_MODEL)
    body = {
        "brand": "laden",
        "channel": "twitter",
        "external_id": "d-1",
        "text": "Meine Bestellung kam kaputt an, wie bekomme ich mein Geld zurück?",
        "author": {"handle": "kim"},
    }
    response = await api.client.post("/v1/posts", json=body, headers=headers)
    assert response.status_code == 202, response.text
    post = await api.wait_post(response.json()["id"], headers)
    assert post["status"] == "drafted", post
    # German: triage by the English model, retrieval by the multilingual one, each once
    assert (texts_encoded(dense) - before[0], texts_encoded(USE_MODEL) - before[1]) == (1, 1)


async def test_repeat_contact_counts_one_authors_recent_posts_by_index(make_client: Any) -> None:
    api = await make_client(workers=0)
    await api.brand("shop")
    await api.brand("other")
    headers = await api.key("integration", ["shop", "other"])
    for n in range(3):
        await api.send_post(headers, f"jo-{n}", f"still no answer, attempt {n}", author={"handle": "jo"})
    await api.send_post(headers, "al-1", "hello", author={"handle": "al"})
    other = {
        "brand": "other",
        "channel": "twitter",
        "external_id": "x",
        "text": "hi",
        "author": {"handle": "jo"},
    }
    assert (await api.client.post("/v1/posts", json=other, headers=headers)).status_code == 202
    runtime = runtime_of(api)
    async with runtime.sessionmaker() as session:
        latest = await session.scalar(sa.select(Post).where(Post.external_id == "jo-2"))
        assert latest is not None and latest.author_handle == "jo"
        with statements(runtime) as seen:
            assert await triage._recent_by_author(session, latest) == 2
        assert len(seen) == 1
        # many other authors, so that the planner has a choice to make
        rows = [
            {"id": f"bulk{n:05d}", "brand_id": latest.brand_id, "channel": "twitter",
             "external_id": f"bulk-{n}", "text": "hi", "author": {"handle": f"u{n}"},
             "author_handle": f"u{n}", "posted_at": latest.received_at, "received_at": latest.received_at}
            for n in range(400)
        ]  # fmt: skip
        await session.execute(sa.insert(Post), rows)
        await session.execute(
            sa.text("ANALYZE posts" if runtime.engine.dialect.name != "sqlite" else "ANALYZE")
        )
        sqlite = runtime.engine.dialect.name == "sqlite"
        explain = await session.execute(
            sa.text(
                ("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ")
                + "SELECT count(*) FROM posts WHERE brand_id = :b AND author_handle = :h "
                "AND received_at >= :t"
            ),
            {"b": latest.brand_id, "h": "jo", "t": latest.received_at},
        )
        assert "ix_posts_author_recent" in " ".join(str(v) for row in explain for v in row)


async def test_reads_take_a_fixed_number_of_statements(api: Api) -> None:
    await api.brand("shop")
    headers = await api.key("integration", ["shop"])
    agent = await api.key("agent", ["shop"])
    runtime = runtime_of(api)
    counts = []
    ids: list[str] = []
    for batch in (2, 8):
        for n in range(batch):
            ids.append(await api.send_post(headers, f"q-{len(ids)}-{n}", f"my order {n} never arrived, help"))
        for pid in ids:
            await api.wait_post(pid, headers)
        with statements(runtime) as seen:
            response = await api.client.get("/v1/queue", params={"brand": "shop"}, headers=agent)
        assert response.status_code == 200 and len(response.json()["items"]) == len(ids)
        counts.append(len(_selects(seen)))
    assert counts[0] == counts[1], counts  # 2 posts or 10: the same statements (no query per post)

    draft_id = (await api.client.get(f"/v1/posts/{ids[0]}", headers=headers)).json()["draft"]["id"]
    for path, who in ((f"/v1/posts/{ids[0]}", headers), (f"/v1/drafts/{draft_id}", agent)):
        with statements(runtime) as seen:
            assert (await api.client.get(path, headers=who)).status_code == 200
        selects = _selects(seen)
        assert len(selects) <= 4, (path, selects)  # the key, the row, its brand or draft: no per-item reads


async def test_a_worker_elsewhere_starts_a_job_when_it_is_enqueued(
    make_client: Any, make_settings: Any
) -> None:
    """PostgreSQL: a worker with its own engine (as in another process) that polls only every 60 s takes
    the post's jobs at once: the jobs table's trigger NOTIFYs, the worker LISTENs."""
    settings = make_settings(workers=0, job_poll_s=60.0, qdrant_path=":memory:")
    if not settings.resolved_database_url.startswith("postgresql"):
        return  # SQLite has no NOTIFY: workers in other processes poll (README, "At scale")
    api = await make_client(workers=0)
    await api.brand("shop")
    headers = await api.key("integration", ["shop"])
    other = await start_runtime(settings, embedder=runtime_of(api).embedder)
    pool = WorkerPool(other, 1)
    try:
        pool.start()
        queue.remove_listener(pool._on_enqueue)  # as in another process: only NOTIFY can wake it
        await asyncio.sleep(0.5)  # its LISTEN is up, its first (empty) look is over
        started = asyncio.get_running_loop().time()
        pid = await api.send_post(headers, "n-1", "my order never arrived, where is it?")
        post = await api.wait_post(pid, headers, timeout=20)
        assert post["status"] == "drafted", post
        assert asyncio.get_running_loop().time() - started < 20  # two jobs, each well before a 60 s poll
    finally:
        await pool.stop()
        await other.close()


async def test_reads_do_not_queue_behind_a_writer(api: Api) -> None:
    """A client polling its post while a writer holds the database: on SQLite the key check and the read
    begin deferred (`Runtime.read`), so they answer at once instead of waiting for the one write lock
    (busy_timeout 30 s); PostgreSQL readers never wait for writers."""
    await api.brand("shop")
    headers = await api.key("integration", ["shop"])
    post_id = await api.send_post(headers, "r-1", "where is my parcel?")
    await api.wait_post(post_id, headers)
    runtime = runtime_of(api)
    async with runtime.transaction() as writer:
        await writer.execute(sa.update(Post).where(Post.id == post_id).values(error="held by a writer"))
        response = await asyncio.wait_for(api.client.get(f"/v1/posts/{post_id}", headers=headers), timeout=10)
        assert response.status_code == 200
        assert response.json().get("error") != "held by a writer"  # not committed, not seen


async def test_an_enqueued_job_sends_one_worker_to_take_it(make_client: Any) -> None:
    """Eight idle workers and one post: its triage job wakes one of them, not eight; that worker enqueues
    the draft job already taken and drafts next, so the post costs one take, not two and more (on SQLite
    each a turn of the one writer; a worker looks in a read before it takes). On PostgreSQL, where a look
    is a take, the draft job's NOTIFY sends a worker whose take finds nothing, and the drafting worker
    looks again when it is done: three."""
    api = await make_client(workers=8, job_poll_s=30.0)  # no poll falls inside the test
    await api.brand("shop")
    headers = await api.key("integration", ["shop"])
    runtime = runtime_of(api)
    ready = sa.text("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running') AND run_at <= :now")
    scheduled = sa.text(
        "SELECT count(DISTINCT kind) FROM jobs WHERE kind IN ('purge_expired', 'reassign_shifts')"
    )
    for _ in range(400):  # the pool's start-up jobs are scheduled, and those due are done: it is idle
        async with runtime.read() as session:
            idle = await session.scalar(scheduled) == 2 and not await session.scalar(
                ready, {"now": queue.utcnow()}
            )
        if idle:
            break
        await asyncio.sleep(0.05)
    assert idle
    async with runtime.read() as session:
        last_job = await session.scalar(sa.text("SELECT max(id) FROM jobs")) or 0
    with statements(runtime) as seen:
        pid = await api.send_post(headers, "one-1", "my order never arrived, where is it?")
        assert (await api.wait_post(pid, headers))["status"] == "drafted"
    async with runtime.read() as session:
        jobs = (
            await session.execute(
                sa.text("SELECT kind, status, attempts, locked_by FROM jobs WHERE id > :id ORDER BY id"),
                {"id": last_job},
            )
        ).all()
    assert [(j.kind, j.status, j.attempts) for j in jobs] == [
        ("triage_post", "done", 1),
        ("draft_post", "done", 1),
    ]
    assert jobs[0].locked_by == jobs[1].locked_by  # the worker that triaged it drafted it
    takes = [s for s in seen if s.lstrip().startswith("WITH chosen AS")]  # queue.take's one statement
    sqlite = runtime.engine.dialect.name == "sqlite"
    assert len(takes) == 1 if sqlite else len(takes) <= 3, len(takes)  # was one a worker a job: 16


async def test_sqlite_writers_of_one_process_take_turns(api: Api) -> None:
    """SQLite has one writer: a second write transaction of the process begins once the first has
    committed, woken in the process the moment it does (not in SQLite's busy handler, which sleeps up to
    100 ms between its tries and kept a burst's writers waiting). Reads do not wait for it."""
    runtime = runtime_of(api)
    if runtime.engine.dialect.name != "sqlite":
        return  # PostgreSQL's writers run side by side
    order: list[str] = []
    first_in, release = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with runtime.transaction() as session:
            await session.execute(sa.text("UPDATE brands SET name = name"))
            first_in.set()
            await release.wait()
            order.append("first commits")

    async def second() -> None:
        await first_in.wait()
        async with runtime.transaction() as session:
            order.append("second begins")
            await session.execute(sa.text("UPDATE brands SET name = name"))

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await first_in.wait()
    async with runtime.read() as session:  # a read while the writer holds its turn
        assert await session.scalar(sa.text("SELECT count(*) FROM brands")) is not None
    await asyncio.sleep(0.05)  # the second writer has run up to where it waits
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["first commits", "second begins"]
