"""Idempotency-Key for POSTs (IETF httpapi draft): same key and body replays the first 2xx response,
another body with the same key is 422, a key whose first request is still running is 409.

An ASGI middleware, because it must see the raw body and the finished response. Keys are scoped to
the API key that sent them and to the path, and live `idempotency_ttl_s` (24 h by default). Only 2xx
answers are kept: after an error the client may fix its request and try again with the same key.

In flight, a key is held under a lease (`idempotency_lease_s`, 30 s by default) by one request, named by
a random owner token; the request renews the lease while it runs. A request whose process died stops
renewing, so once its lease has passed a retry takes the key over (one conditional UPDATE, so only one
retry wins). Storing or releasing the answer is conditional on still being the owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from service.asgi import ASGIApp, Message, Receive, Scope, Send
from service.models import IdempotencyRecord, utcnow
from service.problems import MEDIA_TYPE, encode, problem

HEADER = b"idempotency-key"
REPLAYED = b"idempotent-replayed"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value)
    return None


async def _send_problem(send: Send, status: int, detail: str) -> None:
    body = encode(problem(status, detail))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        raw_key = _header(scope, HEADER)
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not key or len(key) > 255:
            await _send_problem(send, 400, "Idempotency-Key must be 1 to 255 characters")
            return
        runtime = scope["litestar_app"].state.runtime
        # The route's own body limit (JSON or upload): a larger body is never buffered whole here.
        route_limit = scope["route_handler"].resolve_request_max_body_size()
        limit = (route_limit or runtime.settings.max_upload_bytes) + 1
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:  # let the app answer 413; nothing to remember
                await self.app(
                    scope, _replay([*chunks, chunk], receive, more=message.get("more_body", False)), send
                )
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        auth = _header(scope, b"authorization") or b""
        record_scope = hashlib.sha256(auth).hexdigest()[:32] + " " + scope["path"]
        digest = hashlib.sha256((_header(scope, b"content-type") or b"") + b"\n" + body).hexdigest()

        owner = secrets.token_hex(16)
        state = await self._claim(runtime, record_scope, key, digest, owner=owner)
        if state is not None:
            if state["kind"] == "mismatch":
                await _send_problem(send, 422, "this Idempotency-Key was used with a different request body")
            elif state["kind"] == "in_flight":
                await _send_problem(send, 409, "a request with this Idempotency-Key is still being processed")
            else:
                headers = [(k.encode(), v.encode()) for k, v in state["headers"]] + [(REPLAYED, b"true")]
                await send({"type": "http.response.start", "status": state["status"], "headers": headers})
                await send({"type": "http.response.body", "body": state["body"]})
            return

        captured: dict[str, Any] = {"status": 500, "headers": [], "body": []}
        # The answer's last part is held back until the answer is stored: a client that has it and sends
        # the same key again gets the replay, never a 409 "still being processed".
        held: list[Message] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = [
                    (bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
                    for k, v in message.get("headers", [])
                ]
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
                if not message.get("more_body", False):
                    held.append(message)
                    return
            await send(message)

        renewing = asyncio.create_task(self._keep_lease(runtime, record_scope, key, owner))
        try:
            await self.app(scope, _replay([body], receive, more=False), capture)
        except BaseException:
            await self._stop(renewing)
            await self._release(runtime, record_scope, key, owner)
            raise
        await self._stop(renewing)
        try:
            if 200 <= captured["status"] < 300:
                await self._store(runtime, record_scope, key, owner, captured)
            else:
                await self._release(runtime, record_scope, key, owner)
        finally:
            for message in held:
                await send(message)

    @staticmethod
    async def _stop(task: asyncio.Task[None]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _keep_lease(self, runtime: Any, record_scope: str, key: str, owner: str) -> None:
        """Renew the lease every third of it while the request runs; stops once the key is not ours."""
        lease_s = runtime.settings.idempotency_lease_s
        while True:
            await asyncio.sleep(lease_s / 3)
            if not await self._renew(runtime, record_scope, key, owner):
                return

    async def _renew(self, runtime: Any, record_scope: str, key: str, owner: str) -> bool:
        async with runtime.transaction() as session:
            result = await session.execute(
                sa.update(IdempotencyRecord)
                .where(
                    IdempotencyRecord.scope == record_scope,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.owner == owner,
                    IdempotencyRecord.state == "in_flight",
                )
                .values(lease_until=utcnow() + timedelta(seconds=runtime.settings.idempotency_lease_s))
            )
            return bool(getattr(result, "rowcount", 0))

    @staticmethod
    def _lease_end(row: IdempotencyRecord, lease_s: float) -> datetime:
        # rows written before leases existed have none: their lease is counted from their creation
        return row.lease_until or row.created_at + timedelta(seconds=lease_s)

    async def _claim(
        self, runtime: Any, record_scope: str, key: str, digest: str, *, owner: str
    ) -> dict[str, Any] | None:
        """None: we own the key now. Otherwise what to answer instead of running the request."""
        now = utcnow()
        settings = runtime.settings
        lease_until = now + timedelta(seconds=settings.idempotency_lease_s)
        for _ in range(3):
            async with runtime.transaction() as session:
                row = await session.scalar(
                    sa.select(IdempotencyRecord).where(
                        IdempotencyRecord.scope == record_scope, IdempotencyRecord.key == key
                    )
                )
                if row is not None and row.expires_at <= now:
                    await session.delete(row)
                    row = None
                if row is None:
                    try:
                        async with session.begin_nested():
                            session.add(
                                IdempotencyRecord(
                                    scope=record_scope,
                                    key=key,
                                    request_hash=digest,
                                    expires_at=now + timedelta(seconds=settings.idempotency_ttl_s),
                                    lease_until=lease_until,
                                    owner=owner,
                                )
                            )
                        return None
                    except IntegrityError:
                        continue  # someone claimed it between our read and insert: look again
                if row.state == "in_flight" and self._lease_end(row, settings.idempotency_lease_s) <= now:
                    # Its request died with its process (it stopped renewing): this retry takes the key
                    # over, whatever body the dead one had, since it never answered. Conditional on the
                    # lease we read, so of two retries only one wins.
                    taken = await session.execute(
                        sa.update(IdempotencyRecord)
                        .where(
                            IdempotencyRecord.id == row.id,
                            IdempotencyRecord.state == "in_flight",
                            IdempotencyRecord.owner == row.owner
                            if row.owner is not None
                            else IdempotencyRecord.owner.is_(None),
                        )
                        .values(
                            owner=owner,
                            lease_until=lease_until,
                            request_hash=digest,
                            expires_at=now + timedelta(seconds=settings.idempotency_ttl_s),
                        )
                        .execution_options(synchronize_session=False)
                    )
                    if getattr(taken, "rowcount", 0):
                        return None
                    continue
                if row.request_hash != digest:
                    return {"kind": "mismatch"}
                if row.state == "in_flight":
                    return {"kind": "in_flight"}
                return {
                    "kind": "replay",
                    "status": row.response_status,
                    "headers": [tuple(h) for h in (row.response_headers or {}).get("list", [])],
                    "body": row.response_body or b"",
                }
        return {"kind": "in_flight"}

    async def _store(
        self, runtime: Any, record_scope: str, key: str, owner: str, captured: dict[str, Any]
    ) -> None:
        headers = [h for h in captured["headers"] if h[0].lower() in ("content-type", "location", "etag")]
        async with runtime.transaction() as session:
            await session.execute(
                sa.update(IdempotencyRecord)
                .where(
                    IdempotencyRecord.scope == record_scope,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.owner == owner,
                )
                .values(
                    state="done",
                    lease_until=None,
                    response_status=captured["status"],
                    response_body=b"".join(captured["body"]),
                    response_headers={"list": [list(h) for h in headers]},
                )
            )

    async def _release(self, runtime: Any, record_scope: str, key: str, owner: str) -> None:
        async with runtime.transaction() as session:
            await session.execute(
                sa.delete(IdempotencyRecord).where(
                    IdempotencyRecord.scope == record_scope,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.state == "in_flight",
                    IdempotencyRecord.owner == owner,
                )
            )


def _replay(chunks: list[bytes], receive: Receive, *, more: bool) -> Receive:
    pending = list(chunks)

    async def replay() -> Message:
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending) or more}
        return await receive()

    return replay
