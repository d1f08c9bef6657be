"""A local Atom feed whose entries tests change between polls. It answers conditional GETs as a real
server does (ETag and Last-Modified; 304 when unchanged) and records every request it gets."""

from __future__ import annotations

import hashlib
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape


class FeedServer:
    def __init__(self) -> None:
        self.entries: list[dict[str, str]] = []  # {id, title, body, author, updated}
        self.requests: list[dict[str, Any]] = []  # {at, path, headers, status}
        self.redirect_to: str | None = None
        self._modified = time.time()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # TCP_NODELAY, as the LLM fake: no wait for a delayed ACK

            def do_GET(self) -> None:
                with server._lock:
                    status, body, headers = server._answer(dict(self.headers.items()))
                    server.requests.append(
                        {"at": time.monotonic(), "path": self.path, "headers": dict(self.headers.items()),
                         "status": status}
                    )  # fmt: skip
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/forum/feed.atom"

    def set_entries(self, entries: list[dict[str, str]]) -> None:
        with self._lock:
            self.entries = entries
            self._modified = time.time() + 1  # Last-Modified has whole seconds: move it on visibly

    def document(self) -> bytes:
        items = "".join(
            f"<entry><id>{escape(e['id'])}</id><title>{escape(e['title'])}</title>"
            f"<updated>{e.get('updated', '2026-03-02T10:00:00Z')}</updated>"
            f"<author><name>{escape(e['author'])}</name></author>"
            f'<link href="https://forum.example.com/t/{escape(e["id"][-4:])}"/>'
            f'<content type="html">{escape(e["body"])}</content></entry>'
            for e in self.entries
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            "<title>Shop forum</title><id>urn:shop:forum</id><updated>2026-03-02T10:00:00Z</updated>"
            f"{items}</feed>"
        ).encode()

    def _answer(self, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        if self.redirect_to:
            return 302, b"", {"location": self.redirect_to}
        body = self.document()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        modified = formatdate(self._modified, usegmt=True)
        lowered = {k.lower(): v for k, v in headers.items()}
        if lowered.get("if-none-match") == etag:
            return 304, b"", {"etag": etag, "last-modified": modified}
        return 200, body, {"content-type": "application/atom+xml", "etag": etag, "last-modified": modified}

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
