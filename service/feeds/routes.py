"""HTTP routes for a brand's feeds (admin)."""

from __future__ import annotations

from litestar import Controller, delete, get, post

from service.auth.guards import allow
from service.auth.keys import Principal
from service.feeds import service
from service.feeds.schemas import FeedIn, FeedList, FeedOut
from service.jobs import queue
from service.runtime import Runtime


class FeedController(Controller):
    path = "/v1/brands/{slug:str}/feeds"
    tags = ["feeds"]
    guards = allow("admin")

    @post("/", status_code=201)
    async def create_feed(self, slug: str, data: FeedIn, runtime: Runtime, principal: Principal) -> FeedOut:
        async with runtime.transaction() as session:
            out = await service.create_feed(session, runtime.settings, principal, slug, data)
        queue.notify()
        return out

    @get("/")
    async def list_feeds(self, slug: str, runtime: Runtime, principal: Principal) -> FeedList:
        async with runtime.transaction() as session:
            return FeedList(items=await service.list_feeds(session, principal, slug))

    @get("/{feed_id:str}")
    async def get_feed(self, slug: str, feed_id: str, runtime: Runtime, principal: Principal) -> FeedOut:
        async with runtime.transaction() as session:
            return await service.get_feed(session, principal, slug, feed_id)

    @delete("/{feed_id:str}", status_code=204)
    async def delete_feed(self, slug: str, feed_id: str, runtime: Runtime, principal: Principal) -> None:
        async with runtime.transaction() as session:
            await service.delete_feed(session, principal, slug, feed_id)
