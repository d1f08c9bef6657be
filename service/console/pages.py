"""How a console page is made: `page` (a GET rendering a template) and `action` (a form POST) register a
handler with its guard, and a page with `nav` gets its entry in the header for the roles that may open
it. A new page is one template and one handler decorated here; routes.py lists the modules.

Every page gets `t` (UI text in the chosen language), the signed-in `principal`, the brands it may see,
the navigation for its role and the CSRF token (`csrf_token()`, Litestar's template callable)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.response import Redirect, Template

from service.auth.keys import Principal
from service.brands.service import visible_slugs
from service.console import i18n
from service.console.session import PATH, signed_in
from service.runtime import Runtime


@dataclass(frozen=True)
class NavEntry:
    label: str  # a key of strings/*.toml
    path: str
    roles: tuple[str, ...]


NAV: list[NavEntry] = []
HANDLERS: list[HTTPRouteHandler] = []


def page(
    path: str, *, roles: tuple[str, ...], nav: str | None = None, **options: Any
) -> Callable[[Callable[..., Any]], HTTPRouteHandler]:
    """A GET page under /console for `roles`; `nav`: its label in the header (a strings key)."""

    def register(fn: Callable[..., Any]) -> HTTPRouteHandler:
        handler = get(path, guards=signed_in(*roles), **options)(fn)
        if nav:
            NAV.append(NavEntry(nav, PATH + path, roles))
        HANDLERS.append(handler)
        return handler

    return register


def action(
    path: str, *, roles: tuple[str, ...], **options: Any
) -> Callable[[Callable[..., Any]], HTTPRouteHandler]:
    """A form POST under /console for `roles` (the CSRF middleware has checked its token already)."""

    def register(fn: Callable[..., Any]) -> HTTPRouteHandler:
        handler = post(path, guards=signed_in(*roles), **options)(fn)
        HANDLERS.append(handler)
        return handler

    return register


def translator(request: Request[Any, Any, Any]) -> i18n.Translator:
    return i18n.Translator(
        i18n.choose(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))
    )


def principal_of(request: Request[Any, Any, Any]) -> Principal | None:
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal


def base_context(request: Request[Any, Any, Any], principal: Principal | None) -> dict[str, Any]:
    t = translator(request)
    return {
        "t": t,
        "lang": t.language,
        "languages": i18n.LANGUAGES,
        "principal": principal,
        "brands": [],
        "nav": [e for e in NAV if principal is not None and principal.role in e.roles],
        "path": request.url.path,
        "here": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        # what some pages show, absent unless a handler passes it
        **dict.fromkeys(("brand", "notice", "count", "error", "theirs", "yours", "form")),
    }


async def render(
    request: Request[Any, Any, Any],
    runtime: Runtime,
    template: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> Template:
    principal = principal_of(request)
    brands: list[str] = []
    if principal is not None:
        async with runtime.sessionmaker() as session:
            brands = await visible_slugs(session, principal)
    return Template(
        template_name=template,
        context={**base_context(request, principal), "brands": brands, **context},
        status_code=status_code,
    )


def pick_brand(brands: list[str], requested: str | None) -> str | None:
    """The brand a page shows: the one asked for (the service checks the key's scope), else the first."""
    if requested:
        return requested
    return brands[0] if brands else None


def redirect(path: str, **query: str | None) -> Redirect:
    """303 to a console path after a form POST (Post/Redirect/Get), with the notice to show."""
    return Redirect(PATH + path, query_params={k: v for k, v in query.items() if v}, status_code=303)


async def form_values(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The text fields of a urlencoded or multipart form; browsers send CRLF line ends, kept as LF."""
    form = await request.form()
    return {k: v.replace("\r\n", "\n") for k, v in form.items() if isinstance(v, str) and k != "_csrf_token"}
