"""The feed poller on SQLite and PostgreSQL, against a local Atom feed that changes between polls: each
new entry becomes a post once (and is triaged like any post), an unchanged feed is answered 304 and
costs nothing (no parse, no post), every fetch follows the webhook URL rules, and two app instances on
one database poll once per interval."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from service.feeds import service as feeds
from service.models import Job, Post
from service.runtime import Runtime
from tests.conftest import Api
from tests.fakes.feed_server import FeedServer

ENTRY_A = {"id": "urn:forum:post:1001", "title": "Refund?", "author": "Kim Lee",
           "body": "<p>How long does a <b>refund</b> take after I return the shoes?</p>"}  # fmt: skip
ENTRY_B = {"id": "urn:forum:post:1002", "title": "Password", "author": "Ola",
           "body": "I cannot reset my password, the email never arrives."}  # fmt: skip
ENTRY_C = {"id": "urn:forum:post:1003", "title": "Broken zipper", "author": "Pat",
           "body": "The zipper of my new jacket broke on the first day. What now?"}  # fmt: skip


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def runtime_of(api: Api) -> Runtime:
    runtime: Runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def polls(outcome: str) -> float:
    return REGISTRY.get_sample_value("reply_service_feed_polls_total", {"outcome": outcome}) or 0.0


async def forum_posts(runtime: Runtime) -> list[Post]:
    async with runtime.sessionmaker() as session:
        return list(
            await session.scalars(sa.select(Post).where(Post.channel == "forum").order_by(Post.external_id))
        )


async def until(check: Any, timeout: float = 60.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (result := await check()):
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return result


async def test_entries_become_posts_once_and_304_costs_nothing(
    make_client: Any, feed_server: FeedServer
) -> None:
    api = await make_client(feed_min_interval_s=1)
    await api.brand("shop")
    agent = await api.key("agent", ["shop"])
    runtime = runtime_of(api)
    feed_server.set_entries([ENTRY_A, ENTRY_B])
    parsed_before, unchanged_before = polls("parsed"), polls("not_modified")

    created = await api.client.post("/v1/brands/shop/feeds", json={"url": feed_server.url, "interval_s": 1},
                                    headers=api.admin)  # fmt: skip
    assert created.status_code == 201, created.text
    feed = created.json()
    assert (feed["channel"], feed["interval_s"]) == ("forum", 1)

    posts = await until(lambda: _count(runtime, 2))
    assert [(p.external_id, p.author["handle"], p.channel) for p in posts] == [
        ("urn:forum:post:1001", "Kim Lee", "forum"),
        ("urn:forum:post:1002", "Ola", "forum"),
    ]
    assert posts[0].text == "Refund?\n\nHow long does a refund take after I return the shoes?"
    assert posts[0].url == "https://forum.example.com/t/1001"
    # triaged and drafted like any post
    first = await api.wait_post(posts[0].id, agent, timeout=90)
    assert first["status"] == "drafted" and first["triage"]["needs_reply"] is True

    # unchanged: the next polls are conditional and answered 304; nothing is parsed, nothing is made
    await until(lambda: _answered(feed_server, 304, 2))
    conditional = next(r for r in feed_server.requests if r["status"] == 304)["headers"]
    lowered = {k.lower(): v for k, v in conditional.items()}
    assert lowered["if-none-match"].startswith('"') and "if-modified-since" in lowered
    assert polls("parsed") - parsed_before == 1
    assert polls("not_modified") - unchanged_before >= 2
    assert len(await forum_posts(runtime)) == 2

    # a new entry: one new post; the two known ones are not made again
    feed_server.set_entries([ENTRY_C, ENTRY_A, ENTRY_B])
    posts = await until(lambda: _count(runtime, 3))
    assert posts[2].external_id == "urn:forum:post:1003"
    await until(lambda: _answered(feed_server, 304, 4))  # settled on the new version
    assert len(await forum_posts(runtime)) == 3
    listed = (await api.client.get("/v1/brands/shop/feeds", headers=api.admin)).json()["items"]
    assert [(f["id"], f["posts_created"], f["last_status"], f["last_error"]) for f in listed] == [
        (feed["id"], 3, 304, None)
    ]

    # deleted: its poll job finds no feed and ends the chain
    assert (
        await api.client.delete(f"/v1/brands/shop/feeds/{feed['id']}", headers=api.admin)
    ).status_code == 204
    await until(lambda: _unfinished_polls(runtime, 0))
    assert (await api.client.get(f"/v1/brands/shop/feeds/{feed['id']}", headers=api.admin)).status_code == 404
    assert len(await forum_posts(runtime)) == 3  # its posts stay


async def _count(runtime: Runtime, count: int) -> list[Post] | None:
    posts = await forum_posts(runtime)
    assert len(posts) <= count, [p.external_id for p in posts]
    return posts if len(posts) == count else None


async def _answered(server: FeedServer, status: int, count: int) -> bool:
    return sum(1 for r in server.requests if r["status"] == status) >= count


async def _unfinished_polls(runtime: Runtime, count: int) -> bool:
    async with runtime.sessionmaker() as session:
        rows = await session.scalars(
            sa.select(Job.id).where(Job.kind == feeds.KIND, Job.status.in_(("queued", "running")))
        )
        return len(list(rows)) == count


async def test_two_instances_poll_once_per_interval(make_client: Any, feed_server: FeedServer) -> None:
    settings = {"workers": 2, "qdrant_path": ":memory:", "feed_min_interval_s": 1}
    first = await make_client(**settings)
    await first.brand("shop")
    feed_server.set_entries([ENTRY_A])
    created = await first.client.post("/v1/brands/shop/feeds", json={"url": feed_server.url, "interval_s": 1},
                                      headers=first.admin)  # fmt: skip
    assert created.status_code == 201
    second = await make_client(**settings)  # its start-up finds the feed's chain alive: adds none
    await until(lambda: _answered(feed_server, 304, 4))
    times = [r["at"] for r in feed_server.requests]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.95, gaps  # one poll per interval, not one per instance
    assert await _unfinished_polls(runtime_of(second), 1)
    assert len(await forum_posts(runtime_of(second))) == 1


async def test_feed_urls_follow_the_webhook_rules(make_client: Any, feed_server: FeedServer) -> None:
    api = await make_client(feed_min_interval_s=1, feed_default_interval_s=120)
    await api.brand("shop")
    agent = await api.key("agent", ["shop"])

    async def create(body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        return await api.client.post("/v1/brands/shop/feeds", json=body, headers=headers or api.admin)

    for url in ("http://169.254.169.254/latest/meta-data", "http://10.1.2.3/feed", "ftp://example.com/x",
                "http://[fe80::1]/feed"):  # fmt: skip
        refused = await create({"url": url})
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "url", (
            url,
            refused.text,
        )
    short = await create({"url": feed_server.url, "interval_s": 0})
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "interval_s"
    assert (await create({"url": feed_server.url, "channel": "Forum!"})).status_code == 422
    assert (await create({"url": feed_server.url}, agent)).status_code == 403

    # a redirect to a metadata address is checked like the first hop: refused, recorded, nothing made
    feed_server.redirect_to = "http://169.254.169.254/latest/meta-data"
    created = await create({"url": feed_server.url})
    assert created.status_code == 201 and created.json()["interval_s"] == 120
    assert (await create({"url": feed_server.url})).status_code == 409
    feed_id = created.json()["id"]

    async def recorded() -> dict[str, Any] | None:
        body = (await api.client.get(f"/v1/brands/shop/feeds/{feed_id}", headers=api.admin)).json()
        return body if body["last_polled_at"] else None

    feed = await until(recorded)
    assert "link-local" in feed["last_error"] and feed["posts_created"] == 0
    assert len(await forum_posts(runtime_of(api))) == 0
