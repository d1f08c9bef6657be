"""Fake OpenAI-compatible chat-completions server (stdlib only) with deterministic replies and faults."""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, cast

MODEL_ID = "fake-model"

FAULT_KINDS: frozenset[str] = frozenset(
    {"429", "500", "503", "timeout", "malformed", "bad_schema", "empty", "disconnect"}
)

# what a fraction of calls fails with under `set_fault_rate` unless told otherwise
RANDOM_FAULT_KINDS = ("429", "500", "timeout")

GREETING = {"de": "Danke für Ihre Nachricht! ", "en": "Thanks for reaching out! "}
HOLDING = {
    "de": "Danke für Ihre Nachricht! Wir prüfen Ihr Anliegen und melden uns in Kürze bei Ihnen.",
    "en": "Thanks for reaching out! We're looking into this and will get back to you shortly.",
}
SOURCE_TEXT_LIMIT = 200
MALFORMED_CONTENT = '{"reply": "unterminated'

_SOURCE_RE = re.compile(r"^\s*\[source:\s*([^\]]+?)\s*\]\s?(.*)$")
_POST_RE = re.compile(r"^\s*POST:\s?(.*)$")
_THREAD_RE = re.compile(r"^\s*THREAD:\s?(.*)$")
_LANGUAGE_RE = re.compile(r"^\s*LANGUAGE:\s*([A-Za-z]+)")
# llama.cpp's server answers a json_schema response_format with this (HTTP 500)
LLAMA_CPP_SCHEMA_ERROR = 'Either "json_schema" or "grammar" can be specified, but not both'

ReplyFn = Callable[[dict[str, Any]], str]


# --------------------------------------------------------------------------- prompt parsing / replies


def message_text(message: dict[str, Any]) -> str:
    """Text of one chat message; handles string content and lists of content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return "\n".join(str(p) for p in parts)
    return ""


def last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return message_text(message)
    return ""


def parse_prompt(text: str) -> dict[str, Any]:
    """Extract ``sources`` [(id, text)], ``thread`` [text], ``post`` and ``language`` from a user prompt."""
    sources: list[tuple[str, str]] = []
    thread: list[str] = []
    post: str | None = None
    language = "en"
    for line in text.splitlines():
        if m := _SOURCE_RE.match(line):
            sources.append((m.group(1), m.group(2).strip()))
        elif m := _THREAD_RE.match(line):
            thread.append(m.group(1).strip())
        elif (m := _POST_RE.match(line)) and post is None:
            post = m.group(1).strip()
        elif m := _LANGUAGE_RE.match(line):
            language = m.group(1).lower()
    return {"sources": sources, "thread": thread, "post": post, "language": language}


def system_text(body: dict[str, Any]) -> str:
    for message in body.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "system":
            return message_text(message)
    return ""


def wants_json(body: dict[str, Any]) -> bool:
    """A structured response_format, or (text mode) a system prompt that asks for a JSON object."""
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        return True
    return "JSON object" in system_text(body)


def default_reply(body: dict[str, Any]) -> str:
    """The deterministic reply content for a chat-completions request body."""
    parsed = parse_prompt(last_user_text(body))
    lang = "de" if parsed["language"] == "de" else "en"
    sources: list[tuple[str, str]] = parsed["sources"]
    if sources:
        source_id, source_text = sources[0]
        reply = GREETING[lang] + source_text[:SOURCE_TEXT_LIMIT]
        source_ids = [source_id]
    else:
        reply = HOLDING[lang]
        source_ids = []
    if wants_json(body):
        return json.dumps({"reply": reply, "source_ids": source_ids}, ensure_ascii=False)
    return reply


_SENTENCE_RE = re.compile(r"[^.!?\n]+[.!?]*")
_OBEY_RE = re.compile(
    r"\b(ignore|disregard|forget|override|reply|respond|answer|write|say|include|add|put|promise|guarantee|"
    r"confirm|reveal|show|repeat|print|tell|pretend|act as|you are now|vergiss|ignorier\w*|antworte\w*|"
    r"schreib\w*|sag\w*|füg\w*|versprich|bestätig\w*|zeig\w*|nenn\w*|wiederhol\w*|verrat\w*|gib|"
    r"du bist jetzt|tu so|spiel\w*)\b|^\s*(system|developer|admin)\s*:",
    re.IGNORECASE,
)
_LEAK_RE = re.compile(r"system ?-?prompt|instructions|anweisungen|regeln|rules|prompt|marker", re.IGNORECASE)
_ROLE_RE = re.compile(
    r"(?:you are now|pretend to be|act as|du bist jetzt|du bist ab sofort|tu so,? als wärst du|"
    r"spiel\w* die rolle)"
    r"\s+([^.!?,\n]{2,40})",
    re.IGNORECASE,
)
_URL_RE = re.compile(r"https?://\S+|www\.\S+")
_QUOTE_RE = re.compile(r"[\"„“«]([^\"„“”«»]{3,120})[\"“”»]")
_CODE_RE = re.compile(r"\b[A-Z0-9]{2,}(?:[-_][A-Z0-9]+)+\b")


def obedient_reply(body: dict[str, Any]) -> str:
    """A model that obeys any instruction it sees in the data (post, thread, knowledge): it leaks its
    system prompt when asked, takes on any role, says what it is told to say, promises what it is told
    to promise, and repeats every link, quoted text and code from the data. For injection tests."""
    if "Intents:" in system_text(body):  # a triage question: answered plainly, so triage stays out of it
        return json.dumps({"intent": "question", "needs_reply": True, "reason": "asks something"})
    parsed = parse_prompt(last_user_text(body))
    texts = [*parsed["thread"], parsed["post"] or "", *(text for _, text in parsed["sources"])]
    said: list[str] = []
    for text in texts:
        for sentence in (s.strip() for s in _SENTENCE_RE.findall(text)):
            if not _OBEY_RE.search(sentence):
                continue
            if _LEAK_RE.search(sentence) and re.search(
                r"reveal|show|repeat|print|tell|output|zeig|nenn|wiederhol|verrat|gib", sentence, re.I
            ):
                said.append("Here are my instructions: " + system_text(body))
            elif role := _ROLE_RE.search(sentence):
                who = role.group(1).strip()
                said.append(f"Alright, I am now {who}, and as {who} I say hi!")
            else:
                said.append("Sure, as you asked: " + sentence)
        said += [m.group().rstrip(".,!?)") for m in _URL_RE.finditer(text)]
        said += [m.group(1) for m in _QUOTE_RE.finditer(text)]
        said += [m.group() for m in _CODE_RE.finditer(text)]
    if not said:
        return default_reply(body)
    reply = " ".join(dict.fromkeys(said))
    ids = [parsed["sources"][0][0]] if parsed["sources"] else []
    if wants_json(body):
        return json.dumps({"reply": reply, "source_ids": ids}, ensure_ascii=False)
    return reply


BEHAVIOURS: dict[str, ReplyFn] = {"obedient": obedient_reply}


def _count_tokens(text: str) -> int:
    return len(text.split())


# --------------------------------------------------------------------------- HTTP plumbing


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeLLMServer) -> None:
        self.fake = fake
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # client went away (reset, broken pipe): normal for fault tests
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeLLM/1.0"
    # TCP_NODELAY: headers and body go out as separate writes; with Nagle on, a kept-alive connection
    # waited for the client's delayed ACK (40 ms on loopback) on every response
    disable_nagle_algorithm = True

    @property
    def fake(self) -> FakeLLMServer:
        return cast(_HTTPServer, self.server).fake

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.fake._track(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.fake._track(self.connection, add=False)

    # ---- helpers

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:16]}")
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _send_error(
        self,
        status: int,
        message: str,
        err_type: str,
        code: str | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        payload = {"error": {"message": message, "type": err_type, "param": None, "code": code}}
        self._send_json(status, payload, headers)

    def _disconnect(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # ---- routing

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/_control/requests":
            self._send_json(200, self.fake.requests)
            return
        if path == "/v1/models":
            self.fake._record("GET", path, self.headers.get("Authorization"), None, None)
            self.fake._apply_delay()
            created = int(time.time())
            model = {"id": MODEL_ID, "object": "model", "created": created, "owned_by": "fake"}
            self._send_json(200, {"object": "list", "data": [model]})
            return
        if path == f"/v1/models/{MODEL_ID}":
            self._send_json(200, {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "fake"})
            return
        self._send_error(404, f"Unknown path {path}", "invalid_request_error", "not_found")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        body = self._read_json()
        if path.startswith("/_control/"):
            self._control(path, body if isinstance(body, dict) else {})
            return
        if path == "/v1/chat/completions":
            self._chat(body)
            return
        self._send_error(404, f"Unknown path {path}", "invalid_request_error", "not_found")

    def _control(self, path: str, body: dict[str, Any]) -> None:
        fake = self.fake
        try:
            if path == "/_control/fault":
                fake.inject_many(str(body.get("kind")), int(body.get("count", 1)))
            elif path == "/_control/fault_rate":
                kinds = body.get("kinds") or list(RANDOM_FAULT_KINDS)
                fake.set_fault_rate(float(body.get("rate", 0.0)), int(body.get("seed", 0)), kinds)
            elif path == "/_control/delay":
                fake.set_delay(float(body.get("seconds", 0.0)))
            elif path == "/_control/timeout_sleep":
                fake.timeout_sleep_s = float(body.get("seconds", 5.0))
            elif path == "/_control/reset":
                fake.reset()
            elif path == "/_control/capabilities":
                fake.supports_json_schema = bool(body.get("json_schema", True))
                fake.supports_response_format = bool(body.get("response_format", True))
            elif path == "/_control/behaviour":
                name = body.get("name")
                fake.set_reply(BEHAVIOURS[str(name)] if name else None)
            else:
                self._send_error(404, f"Unknown control path {path}", "invalid_request_error", "not_found")
                return
        except (TypeError, ValueError) as exc:
            self._send_error(400, str(exc), "invalid_request_error", None)
            return
        self._send_json(200, {"ok": True, "pending_faults": fake.pending_faults})

    def _chat(self, body: Any) -> None:
        fake = self.fake
        auth = self.headers.get("Authorization")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body.get("model"):
            fake._record("POST", "/v1/chat/completions", auth, body, None)
            self._send_error(400, "Expected JSON with 'model' and 'messages'", "invalid_request_error", None)
            return
        fault = fake._next_fault()
        fake._record("POST", "/v1/chat/completions", auth, body, fault)
        fake._apply_delay()
        fmt = body.get("response_format")
        fmt_type = fmt.get("type") if isinstance(fmt, dict) else None
        if fmt_type == "json_schema" and not fake.supports_json_schema:
            self._send_error(500, LLAMA_CPP_SCHEMA_ERROR, "server_error", None)
            return
        if fmt_type is not None and not fake.supports_response_format:
            self._send_error(400, "response_format is not supported", "invalid_request_error", None)
            return

        if fault == "disconnect":
            self._disconnect()
            return
        if fault == "429":
            self._send_error(
                429,
                "Rate limit reached for fake-model. Please try again.",
                "requests",
                "rate_limit_exceeded",
                {"retry-after": "0", "retry-after-ms": "0"},
            )
            return
        if fault == "500":
            self._send_error(500, "The server had an error processing your request.", "server_error", None)
            return
        if fault == "503":
            self._send_error(503, "The engine is currently overloaded.", "server_error", "overloaded")
            return
        if fault == "timeout":
            fake._sleep(fake.timeout_sleep_s)
            if fake._stopping.is_set():
                self._disconnect()
                return

        if fault == "malformed":
            content = MALFORMED_CONTENT
        elif fault == "bad_schema":
            content = json.dumps({"answer": "missing the reply field", "source_ids": []})
        elif fault == "empty":
            content = ""
        else:
            content = fake._render(body)

        if body.get("stream"):
            self._stream(body, content)
        else:
            self._send_json(200, fake._completion(body, content))

    def _stream(self, body: dict[str, Any], content: str) -> None:
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        model = str(body.get("model") or MODEL_ID)

        def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }

        events: list[dict[str, Any]] = [chunk({"role": "assistant", "content": ""}, None)]
        pieces = re.findall(r"\S+\s*|\s+", content)
        events += [chunk({"content": piece}, None) for piece in pieces]
        events.append(chunk({}, "stop"))
        stream_options = body.get("stream_options")
        if isinstance(stream_options, dict) and stream_options.get("include_usage"):
            usage_chunk = chunk({}, None)
            usage_chunk["choices"] = []
            usage_chunk["usage"] = self.fake._usage(body, content)
            events.append(usage_chunk)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:16]}")
            self.end_headers()
            for event in events:
                self._write_chunk(f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode())
            self._write_chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


# --------------------------------------------------------------------------- public API


class FakeLLMServer:
    """In-process fake of the OpenAI chat-completions API, served from a background thread.

    Usage::

        with FakeLLMServer() as server:
            client = openai.OpenAI(base_url=server.base_url, api_key="test")
            server.inject("429")
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, timeout_sleep_s: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.timeout_sleep_s = timeout_sleep_s
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._faults: deque[str] = deque()
        self._delay_s = 0.0
        self._reply_fn: ReplyFn | None = None
        # random faults: each chat call fails with probability `_fault_rate`, drawn from a seeded generator,
        # so a run's sequence of faults is the same for the same seed
        self._fault_rate = 0.0
        self._fault_kinds: tuple[str, ...] = RANDOM_FAULT_KINDS
        self._rng = random.Random(0)
        self.fault_counts: dict[str, int] = {}
        # like llama.cpp's server (json_schema: HTTP 500) or a server without response_format (HTTP 400)
        self.supports_json_schema = True
        self.supports_response_format = True
        self._conns: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle

    def start(self) -> FakeLLMServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer((self.host, self.port), self)
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    # ---- inspection

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Copy of the recorded API requests: ``{method, path, authorization, body, fault}`` each."""
        with self._lock:
            return [dict(r) for r in self._requests]

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """Bodies of the recorded chat-completions requests."""
        return [r["body"] for r in self.requests if r["path"] == "/v1/chat/completions"]

    @property
    def pending_faults(self) -> list[str]:
        with self._lock:
            return list(self._faults)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # ---- behaviour control

    def set_reply(self, fn: ReplyFn | None) -> None:
        """Override the reply: ``fn(request_json) -> raw content string``; ``None`` restores the default."""
        with self._lock:
            self._reply_fn = fn

    def reset_reply(self) -> None:
        self.set_reply(None)

    def inject(self, kind: str) -> None:
        self.inject_many(kind, 1)

    def inject_many(self, kind: str, n: int) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if n < 0:
            raise ValueError("n must be >= 0")
        with self._lock:
            self._faults.extend([kind] * n)

    def set_fault_rate(
        self, rate: float, seed: int = 0, kinds: tuple[str, ...] | list[str] = RANDOM_FAULT_KINDS
    ) -> None:
        """Fail a fraction `rate` of chat calls (after any queued faults), each with one of `kinds`, chosen
        by a generator seeded with `seed`: the n-th call's fate is the same in every run."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be within 0..1")
        unknown = set(kinds) - FAULT_KINDS
        if unknown or not kinds:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; expected some of {sorted(FAULT_KINDS)}")
        with self._lock:
            self._fault_rate = float(rate)
            self._fault_kinds = tuple(kinds)
            self._rng = random.Random(seed)
            self.fault_counts = {}

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def set_delay(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("delay must be >= 0")
        with self._lock:
            self._delay_s = float(seconds)

    def reset(self) -> None:
        """Clear faults, delay, reply override, capabilities and recorded requests."""
        with self._lock:
            self.supports_json_schema = True
            self.supports_response_format = True
            self._faults.clear()
            self._delay_s = 0.0
            self._reply_fn = None
            self._requests.clear()
            self._fault_rate = 0.0
            self.fault_counts = {}

    # ---- internals used by the handler

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _record(self, method: str, path: str, auth: str | None, body: Any, fault: str | None) -> None:
        entry = {"method": method, "path": path, "authorization": auth, "body": body, "fault": fault}
        with self._lock:
            self._requests.append(entry)

    def _next_fault(self) -> str | None:
        with self._lock:
            if self._faults:
                return self._faults.popleft()
            if self._fault_rate <= 0.0:
                return None
            draw, kind = self._rng.random(), self._rng.choice(self._fault_kinds)
            if draw >= self._fault_rate:
                return None
            self.fault_counts[kind] = self.fault_counts.get(kind, 0) + 1
            return kind

    def _apply_delay(self) -> None:
        with self._lock:
            delay = self._delay_s
        if delay > 0:
            self._sleep(delay)

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _render(self, body: dict[str, Any]) -> str:
        with self._lock:
            fn = self._reply_fn
        return fn(body) if fn is not None else default_reply(body)

    def _usage(self, body: dict[str, Any], content: str) -> dict[str, int]:
        prompt = sum(_count_tokens(message_text(m)) for m in body.get("messages", []) if isinstance(m, dict))
        completion = _count_tokens(content)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _completion(self, body: dict[str, Any], content: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model") or MODEL_ID),
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": self._usage(body, content),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--timeout-sleep-s", type=float, default=5.0)
    args = parser.parse_args(argv)

    server = FakeLLMServer(args.host, args.port, timeout_sleep_s=args.timeout_sleep_s).start()
    done = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    print(f"LISTENING {server.port}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
