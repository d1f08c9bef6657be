"""A local HTTP receiver for outbound webhooks: records every request; the status it answers is settable,
or a seeded fraction of requests fails (`fail_rate`); `accepted()` dedupes by webhook-id, as a real
receiver does, and counts the duplicates it was sent."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


def verified(secret: str, delivery: dict[str, Any]) -> Any:
    """A received delivery's JSON body once its signature checks out; raises `WebhookVerificationError`
    otherwise. Checked by the Standard Webhooks reference library (signature and timestamp tolerance),
    not by a copy of the service's own signing code."""
    return Webhook(secret).verify(delivery["body"], delivery["headers"])


class WebhookReceiver:
    def __init__(self, *, fail_rate: float = 0.0, seed: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []  # answered in order; then 200, or 503 for a `fail_rate` share
        self.fail_rate = fail_rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # TCP_NODELAY, as the LLM fake: no wait for a delayed ACK

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request (a crash test's kill): not delivered
                    self.close_connection = True
                    return
                with receiver._lock:
                    if receiver.statuses:
                        status = receiver.statuses.pop(0)
                    else:
                        status = 503 if receiver._rng.random() < receiver.fail_rate else 200
                    receiver.received.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers.items()),
                            "body": body,
                            "status": status,
                        }
                    )
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def accepted(self, event_type: str | None = None) -> tuple[dict[str, dict[str, Any]], int]:
        """The deliveries answered 2xx, deduped by webhook-id (first one kept), and how many 2xx deliveries
        repeated an id already accepted; only events of `event_type` if given."""
        unique: dict[str, dict[str, Any]] = {}
        duplicates = 0
        with self._lock:
            received = list(self.received)
        for delivery in received:
            if not 200 <= delivery["status"] < 300:
                continue
            body = json.loads(delivery["body"])
            if event_type is not None and body.get("type") != event_type:
                continue
            webhook_id = {k.lower(): v for k, v in delivery["headers"].items()}["webhook-id"]
            if webhook_id in unique:
                duplicates += 1
            else:
                unique[webhook_id] = body
        return unique, duplicates

    def wait_for(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} webhook requests, got {len(self.received)}")

    async def wait_for_async(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """The same, without blocking an event loop that in-process workers run on."""
        return await asyncio.to_thread(self.wait_for, count, timeout)
