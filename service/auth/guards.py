"""Route guards: who may call a route (role), checked before the handler runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from service.auth.keys import Principal, authenticate
from service.errors import Forbidden
from service.runtime import Runtime

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def allow(*roles: str) -> list[Guard]:
    """A guard list for route handlers: authenticates the key, then checks its role."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        runtime: Runtime = connection.app.state.runtime
        async with runtime.read() as session:
            principal = await authenticate(session, connection.headers.get("authorization"))
        if principal.role not in roles:
            raise Forbidden(f"role '{principal.role}' may not do this; allowed: {', '.join(roles)}")
        connection.state.principal = principal

    return [guard]


def current_principal(request: Request[Any, Any, Any]) -> Principal:
    principal: Principal = request.state.principal
    return principal
