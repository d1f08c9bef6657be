"""Idempotency-Key for POSTs (IETF httpapi draft): same key and body replays the first 2xx response,
another body with the same key is 422, a key whose first request is still running is 409.

An ASGI middleware, because it must see the raw body and the finished response. Keys are scoped to
the API key that sent them and to the path, and live `idempotency_ttl_s` (24 h by default). Only 2xx
answers are kept: after an error the client may fix its request and try again with the same key.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
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

        state = await self._claim(runtime, record_scope, key, digest)
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

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = [
                    (bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
                    for k, v in message.get("headers", [])
                ]
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, _replay([body], receive, more=False), capture)
        except BaseException:
            await self._release(runtime, record_scope, key)
            raise
        if 200 <= captured["status"] < 300:
            await self._store(runtime, record_scope, key, captured)
        else:
            await self._release(runtime, record_scope, key)

    async def _claim(self, runtime: Any, record_scope: str, key: str, digest: str) -> dict[str, Any] | None:
        """None: we own the key now. Otherwise what to answer instead of running the request."""
        now = utcnow()
        for _ in range(2):
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
                                    expires_at=now + timedelta(seconds=runtime.settings.idempotency_ttl_s),
                                )
                            )
                        return None
                    except IntegrityError:
                        continue  # someone claimed it between our read and insert: look again
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

    async def _store(self, runtime: Any, record_scope: str, key: str, captured: dict[str, Any]) -> None:
        headers = [h for h in captured["headers"] if h[0].lower() in ("content-type", "location", "etag")]
        async with runtime.transaction() as session:
            await session.execute(
                sa.update(IdempotencyRecord)
                .where(IdempotencyRecord.scope == record_scope, IdempotencyRecord.key == key)
                .values(
                    state="done",
                    response_status=captured["status"],
                    response_body=b"".join(captured["body"]),
                    response_headers={"list": [list(h) for h in headers]},
                )
            )

    async def _release(self, runtime: Any, record_scope: str, key: str) -> None:
        async with runtime.transaction() as session:
            await session.execute(
                sa.delete(IdempotencyRecord).where(
                    IdempotencyRecord.scope == record_scope,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.state == "in_flight",
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
