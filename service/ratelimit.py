"""Rate limits per API key, with Litestar's rate-limit middleware and stores.

The count lives in a store: Redis when REPLY_REDIS_URL is set (every replica counts into the same key, so
the limit holds for the whole deployment), else the process's memory (one replica: the limit per process).
A request is counted under its API key's hash (the same SHA-256 the key table stores, never the secret),
or under the client's address when it sends no key. /health, /ready and /metrics are not counted: load
balancers and scrapers poll them. Over the limit: 429 problem+json with `Retry-After` (app.py).

A store that fails (Redis down) lets requests through and logs it: the limit protects the service, it must
not take it down with the store.
"""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Request
from litestar.middleware.rate_limit import (
    CacheObject,
    RateLimitConfig,
    RateLimitMiddleware,
    get_remote_address,
)
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore

from service.auth.keys import hash_key
from service.config import Settings

log = structlog.get_logger("service.ratelimit")
STORE_NAME = "rate_limit"
EXEMPT = ["^/health$", "^/ready$", "^/metrics"]


def identify(request: Request[Any, Any, Any]) -> str:
    """The bucket a request counts into: its API key's hash, else its client address."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "key:" + hash_key(token.strip())
    return "addr:" + get_remote_address(request)


class _FailOpenRateLimit(RateLimitMiddleware):
    async def retrieve_cached_history(self, key: str, store: Store) -> CacheObject:
        try:
            return await super().retrieve_cached_history(key, store)
        except Exception as exc:  # the store is down: count nothing, serve the request
            log.warning("rate-limit store unreachable; not limiting", error=type(exc).__name__)
            return CacheObject(history=[], reset=0)

    async def set_cached_history(self, key: str, cache_object: CacheObject, store: Store) -> None:
        try:
            await super().set_cached_history(key, cache_object, store)
        except Exception as exc:
            log.warning("rate-limit store unreachable; not limiting", error=type(exc).__name__)


def store(settings: Settings) -> tuple[Store, Any]:
    """The store, and the Redis client to close at shutdown (None for the in-process store)."""
    if not settings.redis_url:
        return MemoryStore(), None
    from litestar.stores.redis import RedisStore
    from redis.asyncio import Redis

    client = Redis.from_url(settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
    return RedisStore(client, namespace="reply_service"), client


def config(settings: Settings) -> RateLimitConfig:
    return RateLimitConfig(
        rate_limit=("minute", settings.rate_limit_per_minute),
        exclude=EXEMPT,
        identifier_for_request=identify,
        middleware_class=_FailOpenRateLimit,
        store=STORE_NAME,
    )


def retry_after(headers: dict[str, str] | None) -> str:
    """Seconds until the window resets, from the middleware's RateLimit-Reset header; at least 1."""
    reset = (headers or {}).get("RateLimit-Reset", "60")
    try:
        return str(max(1, int(reset)))
    except ValueError:
        return "60"
