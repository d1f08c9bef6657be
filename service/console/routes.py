"""The console's routers: signing in and out, the language switch, the static files, the pages of
review.py and admin.py, and error pages (HTML, not problem+json: a person reads them)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.exceptions import HTTPException, PermissionDeniedException, ValidationException
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router

from service.auth.keys import authenticate
from service.config import Settings
from service.console import admin, i18n, review, session
from service.console.pages import HANDLERS, NAV, base_context, form_values, translator
from service.errors import DomainError, Forbidden, Unauthorized
from service.runtime import Runtime

_ = (admin, review)  # their pages register themselves in pages.HANDLERS
TEMPLATES = Path(str(files("service.console").joinpath("templates")))
STATIC = Path(str(files("service.console").joinpath("static")))


@get("/", include_in_schema=False)
async def home(request: Request) -> Redirect:
    """Straight to the first page the signed-in role may open, or to the login."""
    try:
        principal = await session.principal_of(request)
    except Unauthorized:
        return Redirect("/console/login", status_code=303)
    entry = next((e for e in NAV if principal.role in e.roles), None)
    return Redirect(entry.path if entry else "/console/login", status_code=303)


@get("/login", include_in_schema=False)
async def login_page(request: Request) -> Template:
    return Template(template_name="login.html", context=base_context(request, None))


@post("/login", include_in_schema=False)
async def login(request: Request, runtime: Runtime) -> Redirect | Template:
    form = await form_values(request)
    key = form.get("key", "").strip()
    t = translator(request)
    try:
        async with runtime.sessionmaker() as db:
            principal = await authenticate(db, f"Bearer {key}") if key else None
    except Unauthorized:
        principal = None
    if principal is None or principal.role not in session.CONSOLE_ROLES:
        message = t("wrong_role") if principal is not None else t("bad_key")
        return Template(
            template_name="login.html",
            context={**base_context(request, None), "error": message},
            status_code=403 if principal is not None else 401,
        )
    request.set_session({"key_id": principal.key_id})
    return Redirect("/console/", status_code=303)


@post("/logout", include_in_schema=False)
async def logout(request: Request) -> Redirect:
    request.clear_session()
    return Redirect("/console/login", status_code=303)


@post("/language", include_in_schema=False)
async def set_language(request: Request) -> Redirect:
    form = await form_values(request)
    language = form.get("language", "")
    back = form.get("back", "")
    # only a path of the console: never an open redirect
    target = back if back.startswith("/console/") and "//" not in back and "\\" not in back else "/console/"
    response = Redirect(target, status_code=303)
    if language in i18n.LANGUAGES:
        response.set_cookie(
            i18n.COOKIE, language, path=session.PATH, samesite="strict", httponly=True, max_age=365 * 86400
        )
    return response


def _error_page(request: Request[Any, Any, Any], status: int, detail: str) -> Response[Any]:
    context = base_context(request, getattr(request.state, "principal", None))
    return Template(
        template_name="error.html",
        context={**context, "status": status, "detail": detail},
        status_code=status,
    )


def _domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    if isinstance(exc, Unauthorized):
        if request.headers.get("hx-request"):
            return Response("", status_code=401, headers={"HX-Redirect": "/console/login"})
        return Redirect("/console/login", status_code=303)
    detail = exc.detail
    if exc.errors:
        detail += " (" + ", ".join(f"{e['field']}: {e['message']}" for e in exc.errors) + ")"
    return _error_page(request, exc.status, detail)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ValidationException):
        fields = (
            [str(e.get("key")) for e in exc.extra if isinstance(e, dict)]
            if isinstance(exc.extra, list)
            else []
        )
        return _error_page(request, 400, f"invalid input in: {', '.join(fields) or 'the request'}")
    if isinstance(exc, PermissionDeniedException):  # the CSRF check
        return _error_page(request, 403, str(exc.detail))
    return _error_page(request, exc.status_code, str(exc.detail))


def routers(settings: Settings) -> list[Router]:
    """The console under /console: pages and form posts with the JSON body limit, uploads with the
    upload limit; static files. All behind the session, CSRF and security-header middleware."""
    middleware = session.middleware(settings)
    handlers = [home, login_page, login, logout, set_language, *HANDLERS]
    options: dict[str, Any] = {
        "middleware": middleware,
        "exception_handlers": {
            DomainError: _domain_error,
            Forbidden: _domain_error,
            HTTPException: _http_error,
        },
        "opt": {"form": True},  # app.py: form bodies, not JSON
        "include_in_schema": False,
    }
    uploads = [h for h in handlers if h.opt.get("upload")]
    return [
        Router(
            path=session.PATH,
            route_handlers=[h for h in handlers if not h.opt.get("upload")],
            request_max_body_size=settings.max_json_bytes,
            **options,
        ),
        Router(
            path=session.PATH,
            route_handlers=uploads,
            request_max_body_size=settings.max_upload_bytes,
            **options,
        ),
        create_static_files_router(
            path=session.PATH + "/static",
            directories=[STATIC],
            name="console_static",
            middleware=[middleware[0]],
            include_in_schema=False,
        ),
    ]
