"""A local HTTP receiver for outbound webhooks: records every request; the status it answers is settable."""

from __future__ import annotations

import asyncio
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
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []  # answered in order; 200 once empty
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._lock:
                    receiver.received.append(
                        {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
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
