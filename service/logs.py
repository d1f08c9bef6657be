"""Structured logs and request ids. Never log post or reply text, handles or secrets: ids and counts.

Logs go through Litestar's structlog plugin: JSON lines on stderr by default (`REPLY_LOG_JSON`), the level
from `REPLY_LOG_LEVEL`, and one access line a request (method, path, status code, duration) from
Litestar's logging middleware, configured to log no bodies, headers, cookies or query strings (a search
query or a header can hold customer text or a key).

Every request has an id: the caller's `X-Request-ID` when it is a sane token, else a new one. It is
bound in structlog's contextvars for the request's log lines and sent back on every response. A job
enqueued during the request keeps it in its payload, and the worker binds it again for the job's lines.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Mapping
from contextvars import Token
from typing import Any

import structlog
from litestar import types
from litestar.constants import HTTP_RESPONSE_BODY
from litestar.data_extractors import ResponseExtractorField
from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.logging.config import LoggingConfig, StructLoggingConfig
from litestar.middleware.logging import LoggingMiddleware, LoggingMiddlewareConfig
from litestar.plugins.structlog import StructlogConfig, StructlogPlugin
from litestar.utils.scope.state import ScopeState

from service.asgi import ASGIApp, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_KEY = "request_id"
# Letters, digits and a few separators: what tracing systems send, and nothing that could forge a log
# line or a header (no spaces, quotes, control characters).
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=@-]{0,127}")
_NOISY = (
    "httpx",
    "httpx2",
    "httpcore",
    "httpcore2",
    "sentence_transformers",
    "transformers",
    "alembic.runtime.migration",
    # at DEBUG these log every statement with its parameters: post text, handles, secrets
    "aiosqlite",
    "asyncpg",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
)
_SECRET_HEADERS = {
    "Authorization",
    "Cookie",
    "Set-Cookie",
    "X-API-KEY",
    "Idempotency-Key",
    "webhook-signature",
}
_STARTED = "access_log_started"
_RESPONSE_FIELDS: tuple[ResponseExtractorField, ...] = ("status_code",)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record comes, not the one of the day logging was
    configured (pytest swaps it for each test and closes the old one while workers still log)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def _stderr_logger(*_: Any) -> structlog.PrintLogger:
    return structlog.PrintLogger(sys.stderr)  # the stderr of now, as above


def _processors(json_output: bool) -> list[Any]:
    renderer = structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer()
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        renderer,
    ]


def _stdlib_config(level: str, json_output: bool) -> LoggingConfig:
    """Records of the standard library's loggers (uvicorn, SQLAlchemy, ...) rendered like our own."""
    renderer = structlog.processors.JSONRenderer() if json_output else structlog.dev.ConsoleRenderer()
    stderr = {"()": StderrHandler, "formatter": "standard"}
    return LoggingConfig(
        formatters={
            "standard": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.contextvars.merge_contextvars,
                    structlog.stdlib.add_log_level,
                    structlog.stdlib.add_logger_name,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.format_exc_info,
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    renderer,
                ],
            }
        },
        # Litestar's config wants a handler of this name; ours writes at once, as `console` does: its
        # default starts a queue thread for every app built (many in the tests), whose lines arrive late.
        handlers={"console": stderr, "queue_listener": stderr},
        root={"handlers": ["console"], "level": level.upper()},
        loggers={
            "litestar": {"level": level.upper(), "handlers": ["console"], "propagate": False},
            **{name: {"level": "WARNING"} for name in _NOISY},
        },
    )


def structlog_config(level: str = "INFO", json_output: bool = True) -> StructLoggingConfig:
    return StructLoggingConfig(
        processors=_processors(json_output),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=_stderr_logger,
        # Each app configures logging anew (the tests build many with different levels): a cached logger
        # would keep the first configuration.
        cache_logger_on_first_use=False,
        standard_lib_logging_config=_stdlib_config(level, json_output),
        # Unhandled errors are logged once, by the app's own handler for them.
        log_exceptions="never",
    )


def configure(level: str = "INFO", json_output: bool = True) -> None:
    """Logging for processes without the web app (the standalone worker)."""
    config = structlog_config(level, json_output)
    config.configure()
    if config.standard_lib_logging_config is not None:
        config.standard_lib_logging_config.configure()


class AccessLogMiddleware(LoggingMiddleware):
    """Litestar's logging middleware with one line a request when its response ends (the stock one writes
    a line for the request and one for each response chunk, and has no duration)."""

    async def __call__(self, scope: types.Scope, receive: types.Receive, send: types.Send) -> None:
        ScopeState.from_scope(scope).log_context[_STARTED] = time.perf_counter()
        await super().__call__(scope, receive, send)

    def log_response(self, scope: types.Scope) -> None:
        context = ScopeState.from_scope(scope).log_context
        if context[HTTP_RESPONSE_BODY].get("more_body"):
            return  # a streamed body: one line at its end
        super().log_response(scope)

    def extract_response_data(self, scope: types.Scope) -> dict[str, Any]:
        started = ScopeState.from_scope(scope).log_context.get(_STARTED, time.perf_counter())
        data = super().extract_response_data(scope)
        return {
            "message": data.pop("message"),
            "method": scope.get("method"),
            "path": scope["path"],
            **data,
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }


def access_log_config() -> LoggingMiddlewareConfig:
    return LoggingMiddlewareConfig(
        middleware_class=AccessLogMiddleware,
        request_log_fields=(),
        response_log_fields=_RESPONSE_FIELDS,
        response_log_message="request",
        # Not logged at all; obfuscated too, should someone add "headers" or "cookies" to the fields.
        request_headers_to_obfuscate=set(_SECRET_HEADERS),
        response_headers_to_obfuscate=set(_SECRET_HEADERS),
        request_cookies_to_obfuscate={"session"},
        response_cookies_to_obfuscate={"session"},
    )


def structlog_plugin(level: str = "INFO", json_output: bool = True) -> StructlogPlugin:
    """The plugin configures structlog and the standard library. Its access log middleware is placed by
    the app itself (`access_log_config().middleware`): appended last, as the plugin does, it would sit
    inside the idempotency middleware and miss the responses that middleware answers on its own."""
    return StructlogPlugin(
        StructlogConfig(
            structlog_logging_config=structlog_config(level, json_output),
            middleware_logging_config=access_log_config(),
            enable_middleware_logging=False,
        )
    )


def request_id(scope: Any) -> str:
    """This request's id, decided once: the caller's X-Request-ID if sane, else a new one."""
    state = scope.setdefault("state", {})
    if (known := state.get(REQUEST_ID_KEY)) is not None:
        return str(known)
    sent = Headers.from_scope(scope).get(REQUEST_ID_HEADER)
    value = sent if sent and _SANE_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
    state[REQUEST_ID_KEY] = value
    return value


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Binds the request id in the log context for everything this request logs."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        with structlog.contextvars.bound_contextvars(**{REQUEST_ID_KEY: request_id(scope)}):
            await app(scope, receive, send)

    return middleware


async def send_request_id(message: types.Message, scope: types.Scope) -> None:
    """A `before_send` hook: it sees every response, also those routing answers before any middleware
    (404, 405), so every response carries the id."""
    if message["type"] == "http.response.start" and scope["type"] == "http":
        MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = request_id(scope)


def current_request_id() -> str | None:
    """The id of the request (or job) being handled in this context, if any."""
    value = structlog.contextvars.get_contextvars().get(REQUEST_ID_KEY)
    return str(value) if value else None


def bind_request_id(value: Any) -> Mapping[str, Token[Any]]:
    """Bind a job's request id for its log lines; undo with `unbind_request_id(tokens)`."""
    if not value:
        return {}
    return structlog.contextvars.bind_contextvars(**{REQUEST_ID_KEY: str(value)})


def unbind_request_id(tokens: Mapping[str, Token[Any]]) -> None:
    structlog.contextvars.reset_contextvars(**tokens)
