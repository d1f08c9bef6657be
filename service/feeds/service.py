"""Feeds: create, list, delete, and poll.

The schedule rests on one idea: each feed has one poll chain, named by `feeds.poll_job_id`, the id of
its one unfinished `poll_feed` job. A poll ends in one transaction that locks the feed's row, checks the
chain is still its own (`poll_job_id` is this job), stores the new posts and the feed's validators
(ETag, Last-Modified), completes the job (only while holding its lease) and enqueues the next poll
`interval_s` later, pointing `poll_job_id` at it. So:
- several replicas poll a feed once per interval: there is one job, and a job is taken by one worker;
- a worker that lost its lease rolls the whole poll back (the next holder polls again; the posts it
  stores are the same ones, made once by (brand, channel, external_id));
- a job that is not the feed's chain (the feed was deleted, or re-scheduled at start-up after its job
  was lost) ends without a successor; start-up adds a chain to a feed whose job is gone (under the
  feed's row lock, so replicas starting together add one).
Polls are conditional GETs (If-None-Match / If-Modified-Since): a 304 stores nothing but the poll time,
parses nothing and makes no post. Fetching follows the webhook URL rules (adapters/webhooks.py). A
failed fetch is recorded on the feed (`last_error`) and the chain goes on at the normal interval.
"""

from __future__ import annotations

import asyncio

import httpx
import sqlalchemy as sa
import structlog
from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from service.adapters import feeds as feed_parser
from service.adapters.webhooks import HostDoesNotResolve, ResponseTooLarge, UnsafeWebhookURL, check_url
from service.auth.keys import Principal
from service.config import Settings
from service.errors import Conflict, InvalidInput, NotFound
from service.feeds.schemas import FeedIn, FeedOut
from service.jobs import periodic, queue
from service.models import Brand, Feed, Job, utcnow
from service.posts import service as posts
from service.posts.schemas import Author, PostIn
from service.runtime import Runtime

log = structlog.get_logger("service.feeds")

KIND = "poll_feed"
POLLS = Counter("reply_service_feed_polls_total", "Feed polls by outcome", ["outcome"])
USER_AGENT = "reply-service-feeds/1"


def feed_out(feed: Feed) -> FeedOut:
    return FeedOut.model_validate(feed, from_attributes=True)


async def _brand(session: AsyncSession, principal: Principal, slug: str) -> Brand:
    principal.ensure_brand(slug)
    brand = await session.scalar(sa.select(Brand).where(Brand.slug == slug))
    if brand is None:
        raise NotFound(f"no brand '{slug}'")
    return brand


async def _check(settings: Settings, url: str) -> None:
    try:
        await check_url(
            url,
            allow_loopback=settings.webhook_allow_loopback,
            allowed_networks=settings.webhook_allowed_networks,
        )
    except HostDoesNotResolve:
        pass  # DNS may not know the host here yet: the address is checked again at every poll
    except UnsafeWebhookURL as exc:
        raise InvalidInput(f"url refused: {exc}", errors=[{"field": "url", "message": str(exc)}]) from exc


def _chain(session: AsyncSession, feed: Feed, delay_s: float) -> Job:
    return queue.enqueue(
        session, KIND, {"feed_id": feed.id}, max_attempts=periodic.MAX_ATTEMPTS, delay_s=delay_s
    )


async def create_feed(
    session: AsyncSession, settings: Settings, principal: Principal, slug: str, data: FeedIn
) -> FeedOut:
    brand = await _brand(session, principal, slug)
    interval = data.interval_s if data.interval_s is not None else settings.feed_default_interval_s
    if interval < settings.feed_min_interval_s:
        message = f"at least {settings.feed_min_interval_s} seconds"
        raise InvalidInput(f"interval_s: {message}", errors=[{"field": "interval_s", "message": message}])
    await _check(settings, data.url)
    feed = Feed(brand_id=brand.id, url=data.url, channel=data.channel, interval_s=interval)
    try:
        async with session.begin_nested():
            session.add(feed)
            await session.flush()
    except sa.exc.IntegrityError as exc:
        raise Conflict(f"brand '{slug}' has this feed already") from exc
    job = _chain(session, feed, 0)
    await session.flush()
    feed.poll_job_id = job.id
    return feed_out(feed)


async def list_feeds(session: AsyncSession, principal: Principal, slug: str) -> list[FeedOut]:
    brand = await _brand(session, principal, slug)
    rows = await session.scalars(sa.select(Feed).where(Feed.brand_id == brand.id).order_by(Feed.created_at))
    return [feed_out(f) for f in rows]


async def get_feed(session: AsyncSession, principal: Principal, slug: str, feed_id: str) -> FeedOut:
    brand = await _brand(session, principal, slug)
    feed = await session.get(Feed, feed_id)
    if feed is None or feed.brand_id != brand.id:
        raise NotFound(f"no feed '{feed_id}' in brand '{slug}'")
    return feed_out(feed)


async def delete_feed(session: AsyncSession, principal: Principal, slug: str, feed_id: str) -> None:
    """Its poll job, when it runs, finds no feed and ends the chain; the posts it made stay."""
    brand = await _brand(session, principal, slug)
    feed = await session.get(Feed, feed_id, with_for_update=True)
    if feed is None or feed.brand_id != brand.id:
        raise NotFound(f"no feed '{feed_id}' in brand '{slug}'")
    await session.delete(feed)


async def _ours(session: AsyncSession, feed_id: str, lease: queue.Lease, *, lock: bool) -> Feed | None:
    feed = await session.get(Feed, feed_id, with_for_update=lock, populate_existing=lock)
    return feed if feed is not None and feed.poll_job_id == lease.id else None


def _conditional(etag: str | None, last_modified: str | None) -> dict[str, str]:
    headers = {"user-agent": USER_AGENT, "accept": "application/atom+xml, application/rss+xml, */*;q=0.5"}
    if etag:
        headers["if-none-match"] = etag
    if last_modified:
        headers["if-modified-since"] = last_modified
    return headers


def _post_in(slug: str, channel: str, entry: feed_parser.FeedEntry) -> PostIn:
    return PostIn(
        brand=slug,
        channel=channel,
        external_id=entry.external_id,
        text=entry.text,
        author=Author(handle=entry.author_handle, name=entry.author_name),
        url=entry.url if entry.url and len(entry.url) <= 2048 else None,
        created_at=entry.published,
    )


async def poll_feed(runtime: Runtime, lease: queue.Lease) -> None:
    """The job handler: one conditional GET, new entries become posts, the next poll is scheduled."""
    settings = runtime.settings
    feed_id = lease.payload["feed_id"]
    async with runtime.transaction() as session:
        feed = await _ours(session, feed_id, lease, lock=False)
        if feed is None:
            if not await queue.complete(session, lease):
                raise queue.LeaseLost(lease.id)
            return
        url, etag, last_modified = feed.url, feed.etag, feed.last_modified

    status: int | None = None
    error: str | None = None
    entries: list[feed_parser.FeedEntry] = []
    validators = (etag, last_modified)
    try:
        fetched = await runtime.webhooks.fetch(
            url, _conditional(etag, last_modified), max_bytes=settings.feed_max_bytes
        )
        status = fetched.status_code
        if status == 304:
            POLLS.labels(outcome="not_modified").inc()
        elif 200 <= status < 300:
            entries = await asyncio.to_thread(
                feed_parser.parse, fetched.content, base_url=fetched.url, headers=fetched.headers
            )
            validators = (fetched.headers.get("etag"), fetched.headers.get("last-modified"))
            POLLS.labels(outcome="parsed").inc()
        else:
            error = f"the feed answered HTTP {status}"
    except (UnsafeWebhookURL, HostDoesNotResolve, ResponseTooLarge, feed_parser.InvalidFeed) as exc:
        error = str(exc)
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    if error:
        POLLS.labels(outcome="error").inc()

    created = 0
    async with runtime.transaction() as session:
        feed = await _ours(session, feed_id, lease, lock=True)
        if feed is None:  # deleted meanwhile
            if not await queue.complete(session, lease):
                raise queue.LeaseLost(lease.id)
            return
        brand = await session.get(Brand, feed.brand_id)
        assert brand is not None  # the feed's row is locked and cascades with its brand
        principal = Principal(key_id=f"feed:{feed.id}", role="integration", brands=frozenset({brand.slug}))
        for entry in entries:
            try:
                data = _post_in(brand.slug, feed.channel, entry)
            except ValidationError as exc:
                # one entry the post rules refuse must not stop the feed (its poll would fail forever)
                log.warning("feed entry skipped", feed_id=feed_id, entry=entry.external_id, error=str(exc))
                continue
            _, new = await posts.accept(session, principal, data, max_attempts=settings.job_max_attempts)
            created += int(new)
        feed.etag, feed.last_modified = validators
        feed.last_polled_at, feed.last_status, feed.last_error = utcnow(), status, error
        feed.posts_created += created
        if not await queue.complete(session, lease):
            raise queue.LeaseLost(lease.id)
        following = _chain(session, feed, feed.interval_s)
        await session.flush()
        feed.poll_job_id = following.id
    log.info(
        "feed polled", feed_id=feed_id, status=status, entries=len(entries), created=created, error=error
    )


async def ensure_chains(session: AsyncSession) -> int:
    """Give every feed whose poll job is gone (finished, failed or purged) a new chain, due now."""
    await periodic.lock(session, KIND)
    live = sa.select(Job.id).where(Job.kind == KIND, Job.status.in_(periodic.UNFINISHED))
    orphans = (
        await session.scalars(
            sa.select(Feed)
            .where(sa.or_(Feed.poll_job_id.is_(None), Feed.poll_job_id.not_in(live)))
            .with_for_update()
        )
    ).all()
    for feed in orphans:
        job = _chain(session, feed, 0)
        await session.flush()
        feed.poll_job_id = job.id
    return len(orphans)


async def schedule_feeds(runtime: Runtime) -> None:
    """The worker pool's start-up hook; a failure is logged, not raised (the next start tries again)."""
    try:
        async with runtime.transaction() as session:
            await ensure_chains(session)
    except Exception:
        log.exception("could not schedule feed polls")
        return
