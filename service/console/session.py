"""Who is signed in to the console, and the cookies and headers that keep that safe.

The rules, in words:
- An agent or admin signs in with their API key. The server checks it (service/auth) and keeps only the
  key's id in the session, never the secret; every request looks the key up again, so a key revoked
  since the login stops working at once.
- The session is a client-side cookie, encrypted and authenticated (AES-GCM, Litestar's cookie
  backend) with REPLY_CONSOLE_SECRET: any replica with the same secret reads it, no session store is
  shared. Without the setting a secret is generated once into REPLY_DATA_DIR/console_secret (enough for
  one replica, or replicas sharing that folder). The cookie is HttpOnly, SameSite=Strict, limited to
  /console, Secure when REPLY_CONSOLE_SECURE_COOKIE is set, and lasts REPLY_CONSOLE_SESSION_HOURS.
- Every unsafe request (POST) carries the CSRF token (Litestar's CSRF middleware: a signed double-submit
  cookie, in a hidden form field or the htmx header), or it is refused with 403.
- Every console response carries a CSP without inline script or style, X-Frame-Options DENY, a strict
  Referrer-Policy and nosniff.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.middleware.session import SessionMiddleware
from litestar.middleware.session.client_side import ClientSideSessionBackend, CookieBackendConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.auth.guards import Guard
from service.auth.keys import Principal, principal_by_id
from service.config import Settings
from service.errors import Forbidden, Unauthorized
from service.runtime import Runtime

PATH = "/console"
SESSION_COOKIE = "console_session"
CSRF_COOKIE = "console_csrf"
CSRF_HEADER = "x-csrftoken"
CONSOLE_ROLES = ("agent", "admin")

SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}


def secret_of(settings: Settings) -> bytes:
    """32 bytes from REPLY_CONSOLE_SECRET, or from a file made once in the data folder."""
    if settings.console_secret:
        return hashlib.sha256(settings.console_secret.encode()).digest()
    path = Path(settings.data_dir) / "console_secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once agree on the one that was written first
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return hashlib.sha256(path.read_text().strip().encode()).digest()


def middleware(settings: Settings) -> list[DefineMiddleware]:
    """Session, then CSRF, for the console's router only: the API's Bearer keys need neither."""
    key = secret_of(settings)
    session = CookieBackendConfig(
        secret=hmac.new(key, b"session", hashlib.sha256).digest(),
        key=SESSION_COOKIE,
        path=PATH,
        max_age=int(settings.console_session_hours * 3600),
        secure=settings.console_secure_cookie,
        httponly=True,
        samesite="strict",
    )
    csrf = CSRFConfig(
        secret=hmac.new(key, b"csrf", hashlib.sha256).hexdigest(),
        cookie_name=CSRF_COOKIE,
        cookie_path=PATH,
        header_name=CSRF_HEADER,
        cookie_secure=settings.console_secure_cookie,
        cookie_httponly=True,
        cookie_samesite="strict",
    )
    return [
        DefineMiddleware(SecurityHeaders),
        DefineMiddleware(session_middleware, config=session),
        DefineMiddleware(CSRFMiddleware, config=csrf),
    ]


def session_middleware(app: ASGIApp, config: CookieBackendConfig) -> SessionMiddleware[Any]:
    """Built when the app is: Litestar deep-copies routers, and a ready backend's cipher cannot be."""
    return SessionMiddleware(app, backend=ClientSideSessionBackend(config))


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every console response, error pages included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # pages hold a CSRF token and customer data: not cached; the static files may be
        static = str(scope.get("path", "")).startswith(PATH + "/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                for name, value in SECURITY_HEADERS.items():
                    if not (static and name == "cache-control"):
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The signed-in key, looked up again on every request; Unauthorized without a live session."""
    key_id = connection.session.get("key_id") if connection.scope.get("session") else None
    if not isinstance(key_id, str):
        raise Unauthorized("sign in to the console")
    runtime: Runtime = connection.app.state.runtime
    async with runtime.sessionmaker() as session:
        return await principal_by_id(session, key_id)


def signed_in(*roles: str) -> list[Guard]:
    """A guard list for console pages: a live session whose key has one of `roles`."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = await principal_of(connection)
        if principal.role not in roles:
            raise Forbidden(
                f"this page is for {' or '.join(roles)} keys; you are signed in as {principal.role}"
            )
        connection.state.principal = principal

    return [guard]
