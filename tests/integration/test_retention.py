"""Retention on SQLite and PostgreSQL: the purge removes what is past its age and keeps the rest, indexing
drops an upload's bytes, and however many app instances start, one purge chain runs, one per interval."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from service.jobs import queue, retention
from service.models import Brand, Document, Event, IdempotencyRecord, Job, utcnow
from service.runtime import Runtime
from tests.conftest import Api


def runtime_of(api: Api) -> Runtime:
    runtime: Runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


async def purge_jobs(runtime: Runtime) -> list[Job]:
    async with runtime.sessionmaker() as session:
        rows = await session.scalars(sa.select(Job).where(Job.kind == retention.KIND).order_by(Job.id))
        return list(rows)


async def seed(runtime: Runtime) -> None:
    """Rows on both sides of each age: 'old' ones past it, 'new' ones inside it."""
    now = utcnow()
    old_job, new_job = now - timedelta(days=8), now - timedelta(days=6)
    old_event, new_event = now - timedelta(days=31), now - timedelta(days=29)
    async with runtime.transaction() as session:
        session.add(Brand(id="b1", slug="shop", name="Shop", language="en", timezone="UTC"))
        await session.flush()
        for name, status, finished in [
            ("old-done", "done", old_job),
            ("old-failed", "failed", old_job),
            ("new-done", "done", new_job),
            ("old-queued", "queued", None),
            ("old-running", "running", None),
        ]:
            session.add(
                Job(
                    kind="index_document",
                    payload={"name": name},
                    status=status,
                    created_at=old_job,
                    run_at=old_job,
                    finished_at=finished,
                )
            )
        for event_id, status, created in [
            ("msg_old_delivered", "delivered", old_event),
            ("msg_old_skipped", "skipped", old_event),
            ("msg_old_failed", "failed", old_event),
            ("msg_old_pending", "pending", old_event),
            ("msg_new_delivered", "delivered", new_event),
        ]:
            session.add(
                Event(
                    id=event_id,
                    brand_id="b1",
                    type="reply.approved",
                    payload={},
                    status=status,
                    created_at=created,
                )
            )
        for key, expires in [("expired", now - timedelta(seconds=1)), ("live", now + timedelta(hours=1))]:
            session.add(
                IdempotencyRecord(
                    scope="k:/v1/posts",
                    key=key,
                    request_hash="0" * 64,
                    state="done",
                    created_at=now - timedelta(days=1),
                    expires_at=expires,
                )
            )
        for filename, status in [("ready.md", "ready"), ("failed.md", "failed"), ("busy.md", "processing")]:
            session.add(
                Document(brand_id="b1", filename=filename, content=b"# bytes", sha256="1" * 64, status=status)
            )


async def test_purge_removes_what_is_past_its_age(make_client: Any) -> None:
    api = await make_client(workers=0, retention_jobs_days=7, retention_events_days=30)
    runtime = runtime_of(api)
    await seed(runtime)

    purged = await retention.purge(runtime)

    assert purged == retention.Purged(jobs=2, events=3, idempotency_keys=1, document_contents=2)
    async with runtime.sessionmaker() as session:
        jobs = {j.payload["name"] for j in await session.scalars(sa.select(Job))}
        events = set(await session.scalars(sa.select(Event.id)))
        keys = set(await session.scalars(sa.select(IdempotencyRecord.key)))
        contents = dict((await session.execute(sa.select(Document.filename, Document.content))).all())
        hashes = set(await session.scalars(sa.select(Document.sha256)))
    assert jobs == {"new-done", "old-queued", "old-running"}
    assert events == {"msg_old_pending", "msg_new_delivered"}
    assert keys == {"live"}
    assert contents == {"ready.md": None, "failed.md": None, "busy.md": b"# bytes"}
    assert hashes == {"1" * 64}  # what the unchanged-upload check needs stays
    assert await retention.purge(runtime) == retention.Purged()  # nothing left to do


async def test_purge_deletes_in_batches(make_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    api = await make_client(workers=0)
    runtime = runtime_of(api)
    monkeypatch.setattr(retention, "BATCH", 3)
    old = utcnow() - timedelta(days=30)
    async with runtime.transaction() as session:
        for _ in range(7):
            session.add(Job(kind="learn_answer", status="done", finished_at=old))
        session.add(Job(kind="learn_answer", status="queued"))
    assert (await retention.purge(runtime)).jobs == 7
    async with runtime.sessionmaker() as session:
        assert list(await session.scalars(sa.select(Job.status))) == ["queued"]


async def test_the_purge_schedules_its_next_run_in_the_same_transaction(make_client: Any) -> None:
    api = await make_client(workers=0, retention_interval_s=600)
    runtime = runtime_of(api)
    async with runtime.transaction() as session:
        assert await retention.ensure_scheduled(session)
    async with runtime.transaction() as session:
        assert not await retention.ensure_scheduled(session)  # one is queued already
        (lease,) = await queue.take(session, "w1", lease_s=60, kinds=[retention.KIND])

    before = utcnow()
    await retention.purge_expired(runtime, lease)

    first, following = await purge_jobs(runtime)
    assert (first.id, first.status) == (lease.id, "done")
    assert following.status == "queued" and following.max_attempts == retention.MAX_ATTEMPTS
    assert before + timedelta(seconds=599) <= following.run_at <= utcnow() + timedelta(seconds=601)

    # A worker whose lease was taken over neither finishes the job nor forks the chain.
    async with runtime.transaction() as session:
        await session.execute(sa.update(Job).where(Job.id == following.id).values(run_at=utcnow()))
        (lease,) = await queue.take(session, "w2", lease_s=60, kinds=[retention.KIND])
        await session.execute(sa.update(Job).where(Job.id == lease.id).values(locked_by="someone-else"))
    with pytest.raises(queue.LeaseLost):
        await retention.purge_expired(runtime, lease)
    assert [(j.id, j.status) for j in await purge_jobs(runtime)] == [
        (first.id, "done"),
        (following.id, "running"),
    ]


async def test_two_instances_run_one_purge_chain(make_client: Any) -> None:
    # Both share the database; vectors in memory because an embedded engine allows one process per folder.
    settings = {"workers": 1, "qdrant_path": ":memory:", "retention_interval_s": 3600}
    first = runtime_of(await make_client(**settings))
    second = runtime_of(await make_client(**settings))

    deadline = asyncio.get_running_loop().time() + 20
    while not any(j.status == "done" for j in await purge_jobs(first)):
        assert asyncio.get_running_loop().time() < deadline, await purge_jobs(first)
        await asyncio.sleep(0.05)
    jobs = await purge_jobs(second)
    assert [j.status for j in jobs] == ["done", "queued"], [(j.id, j.status, j.locked_by) for j in jobs]
    assert jobs[1].run_at > utcnow() + timedelta(seconds=3500)


async def test_start_ups_that_race_add_one_purge(make_client: Any) -> None:
    settings = {"workers": 0, "qdrant_path": ":memory:"}
    first = runtime_of(await make_client(**settings))
    second = runtime_of(await make_client(**settings))
    # More start-ups than two replicas, all at once, to make a race likely.
    await asyncio.gather(*(retention.schedule_purge(rt) for rt in (first, second) * 4))
    assert [j.status for j in await purge_jobs(first)] == ["queued"]


async def test_indexing_drops_the_upload_bytes(make_client: Any) -> None:
    api = await make_client()
    await api.brand("shop")
    faq = b'[{"id": "q1", "question": "Do you ship to Norway?", "answer": "Yes, in four days."}]'
    ready = await api.wait_document("shop", (await api.upload("shop", "faq.json", faq, "faq"))["id"])
    failed = await api.wait_document("shop", (await api.upload("shop", "empty.md", b"   \n", None))["id"])
    assert (ready["status"], failed["status"]) == ("ready", "failed")

    runtime = runtime_of(api)
    async with runtime.sessionmaker() as session:
        rows = (await session.execute(sa.select(Document.filename, Document.content))).all()
    assert dict(rows) == {"faq.json": None, "empty.md": None}
    # The same file again is still recognised as unchanged (by its hash), and stays searchable.
    again = await api.upload("shop", "faq.json", faq, "faq")
    assert (again["id"], again["status"], again["version"]) == (ready["id"], "ready", 1)
    response = await api.client.get(
        "/v1/brands/shop/knowledge/search", params={"q": "ship to Norway"}, headers=api.admin
    )
    assert response.json()["hits"][0]["text"] == "Yes, in four days."
