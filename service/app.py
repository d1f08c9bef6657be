"""The web application: `create_app(settings)` wires routes, auth, errors, limits and the workers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, cast

import structlog
from litestar import Litestar, Request, Response, Router, get
from litestar.datastructures import MutableScopeHeaders, State
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.openapi import OpenAPIConfig
from litestar.plugins.problem_details import (
    ProblemDetailsConfig,
    ProblemDetailsException,
    ProblemDetailsPlugin,
)
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.routes import HTTPRoute

from service import input_guard, logs, openapi, ratelimit, readiness, shutdown
from service.adapters.embedder import Embedder
from service.auth import keys
from service.auth.guards import current_principal
from service.auth.routes import create_api_key
from service.brands.routes import BrandController
from service.config import Settings
from service.console import routes as console
from service.console.templating import template_config
from service.drafts.routes import DraftController
from service.errors import DomainError, UnsupportedMediaType
from service.events import routes as event_routes
from service.idempotency import IdempotencyMiddleware
from service.incidents.routes import IncidentController
from service.knowledge import routes as knowledge_routes
from service.knowledge.demo import load_demo_knowledge
from service.posts import routes as post_routes
from service.problems import MEDIA_TYPE, problem, type_uri
from service.runtime import Runtime, start_runtime
from service.worker import WorkerPool

log = structlog.get_logger("service.app")


def _problem(exc: DomainError) -> ProblemDetailsException:
    extra = {"errors": exc.errors} if exc.errors else None
    return ProblemDetailsException(
        detail=exc.detail,
        status_code=exc.status,
        title=exc.title,
        type_=type_uri(exc.status),
        extra=extra,
    )


def _validation_problem(exc: ValidationException) -> ProblemDetailsException:
    """Well-formed but invalid input: 422 naming each field that was wrong."""
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            errors.append({"field": item.get("key") or "body", "message": item.get("message", "invalid")})
    detail = f"invalid input in: {', '.join(e['field'] for e in errors)}" if errors else str(exc.detail)
    return ProblemDetailsException(
        detail=detail,
        status_code=422,
        title="Invalid input",
        type_=type_uri(422),
        extra={"errors": errors} if errors else None,
    )


def _http_problem(exc: HTTPException) -> ProblemDetailsException:
    shape = problem(exc.status_code, str(exc.detail))
    headers = exc.headers
    if exc.status_code == 429:  # the rate limit: when to come back (RFC 9110 Retry-After, in seconds)
        headers = {**(headers or {}), "Retry-After": ratelimit.retry_after(headers)}
        shape["detail"] = "rate limit exceeded for this API key; retry after the Retry-After seconds"
    return ProblemDetailsException(
        detail=shape["detail"],
        status_code=exc.status_code,
        title=shape["title"],
        type_=shape["type"],
        headers=headers,
        extra=exc.extra if isinstance(exc.extra, dict) else None,
    )


def _too_large(request: Request[Any, Any, Any], exc: RequestEntityTooLarge) -> Response[dict[str, Any]]:
    """Litestar's 413 (announced or streamed bytes over the route's limit), naming the limit."""
    limit = request.route_handler.resolve_request_max_body_size()
    return Response(
        problem(413, f"request body is larger than {limit} bytes"), status_code=413, media_type=MEDIA_TYPE
    )


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error", path=request.scope.get("path"), method=request.method)
    return Response(
        {
            "type": type_uri(500),
            "title": "Internal Server Error",
            "status": 500,
            "detail": "an unexpected error occurred; it has been logged",
        },
        status_code=500,
        media_type="application/problem+json",
    )


async def _require_json(request: Request[Any, Any, Any]) -> None:
    """415 for request bodies that are not JSON on JSON routes (uploads check multipart themselves);
    then the request-wide input rules (input_guard: nesting depth, NUL characters)."""
    opt = request.route_handler.opt
    if request.method not in ("POST", "PATCH", "PUT") or opt.get("multipart") or opt.get("form"):
        await input_guard.check_request(request, json_body=False)
        return
    has_body = (
        request.headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in request.headers
    )
    if not has_body:
        await input_guard.check_request(request, json_body=False)
        return
    media_type = request.content_type[0]
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"send the body as application/json, not {media_type or 'no content type'}"
        )
    await input_guard.check_request(request, json_body=True)


async def _options_allow(message: Any, scope: Any) -> None:
    """A `before_send` hook: an OPTIONS answer's Allow names every method of the path. Litestar's own
    OPTIONS handler keeps the methods of the route as it was when first built, so a path whose handlers
    are registered in steps (GET, then PATCH on /v1/brands/{slug}) would leave methods out."""
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    template = scope.get("path_template")
    for route in scope["litestar_app"].routes:
        if getattr(route, "path_format", None) == template and isinstance(route, HTTPRoute):
            MutableScopeHeaders.from_message(message)["allow"] = ", ".join(sorted(route.methods))
            return


@get("/health", tags=["ops"], include_in_schema=True)
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", tags=["ops"])
async def ready(runtime: Runtime, state: State) -> Response[dict[str, Any]]:
    """200 when every configured part answers (readiness.py); 503 naming the parts that do not, and 503
    "shutting down" once SIGTERM has arrived (shutdown.py)."""
    if state.get("draining"):
        return Response({"status": "not ready", "checks": {"shutdown": "shutting down"}}, status_code=503)
    checks = await readiness.checks(runtime, state.get("llm_probe"), state.get("redis"))
    ok = all(v.startswith(("ok", "degraded")) for v in checks.values())
    return Response(
        {"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503
    )


def _runtime(state: State) -> Runtime:
    runtime: Runtime = state.runtime
    return runtime


def create_app(settings: Settings | None = None, *, embedder: Embedder | None = None) -> Litestar:
    settings = settings or Settings()
    limit_store, redis_client = ratelimit.store(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        runtime = await start_runtime(settings, embedder=embedder)
        app.state.runtime = runtime
        app.state.redis = redis_client
        openapi.install(app)
        if settings.llm_enabled:
            assert settings.llm_base_url
            app.state.llm_probe = readiness.LLMProbe(
                settings.llm_base_url, settings.llm_api_key, settings.ready_cache_s
            )
        if settings.bootstrap_admin_key:
            async with runtime.transaction() as session:
                await keys.ensure_bootstrap_admin(session, settings.bootstrap_admin_key)
        if settings.load_demo_knowledge and settings.demo_dir.is_dir():
            await load_demo_knowledge(runtime, settings.demo_dir)
        pool = WorkerPool(runtime, settings.workers) if settings.workers > 0 else None
        app.state.pool = pool
        if pool:
            pool.start()
        log.info(
            "service started",
            database=runtime.engine.dialect.name,
            qdrant="local" if runtime.vectors.local else "server",
            llm=settings.llm_enabled,
            workers=settings.workers,
        )
        try:
            yield
        finally:
            if pool:
                await pool.stop(shutdown.grace_s(settings))  # at once when a SIGTERM drained it already
            await runtime.close()
            if redis_client is not None:
                await redis_client.aclose()

    # JSON routes get the stricter limit; Litestar enforces it on the bytes read, with or without a
    # Content-Length (413). Uploads sit outside this router and get the app-wide upload limit; the list
    # of documents shares their path, and a path lives in one router only.
    json_routes = Router(
        path="/",
        request_max_body_size=settings.max_json_bytes,
        route_handlers=[
            BrandController,
            create_api_key,
            post_routes.create_post,
            post_routes.get_post,
            post_routes.report_published,
            post_routes.review_queue,
            DraftController,
            IncidentController,
            knowledge_routes.get_document,
            knowledge_routes.delete_document,
            knowledge_routes.search_knowledge,
            event_routes.list_deliveries,
            event_routes.replay_delivery,
        ],
    )
    prometheus = PrometheusConfig(app_name="reply_service", prefix="reply_service", group_path=True)
    return Litestar(
        route_handlers=[
            json_routes,
            knowledge_routes.upload_document,
            knowledge_routes.list_documents,
            health,
            ready,
            PrometheusController,
            *console.routers(settings),
        ],
        template_config=template_config(console.TEMPLATES),
        lifespan=[lifespan],
        dependencies={
            "runtime": Provide(_runtime, sync_to_thread=False),
            "principal": Provide(current_principal, sync_to_thread=False),
        },
        before_request=_require_json,
        before_send=[logs.send_request_id, _options_allow],
        middleware=cast(
            list[Any],
            [
                logs.request_id_middleware,
                logs.access_log_config().middleware,
                *([ratelimit.config(settings).middleware] if settings.rate_limit_per_minute > 0 else []),
                IdempotencyMiddleware,
                prometheus.middleware,
            ],
        ),
        plugins=[
            logs.structlog_plugin(settings.log_level, settings.log_json),
            ProblemDetailsPlugin(
                ProblemDetailsConfig(
                    enable_for_all_http_exceptions=True,
                    exception_to_problem_detail_map={
                        DomainError: _problem,
                        ValidationException: _validation_problem,
                        HTTPException: _http_problem,
                    },
                )
            ),
        ],
        stores={ratelimit.STORE_NAME: limit_store},
        exception_handlers={RequestEntityTooLarge: _too_large, Exception: _internal_error},
        openapi_config=OpenAPIConfig(title="Reply service", version="1.0.0", path="/schema"),
        request_max_body_size=settings.max_upload_bytes,
        debug=False,
    )
