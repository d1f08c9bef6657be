"""Console pages for admins: a brand's knowledge (upload with indexing progress, list, replace, delete,
try a search) and its settings (voice, hours, holidays, SLA, channels, webhook). The same service
functions as the API's routes (knowledge.service, knowledge.retrieval, brands.service)."""

from __future__ import annotations

import json
from typing import Any

from litestar import Request
from litestar.params import Parameter
from litestar.response import Redirect, Template

from service import pagination
from service.auth.keys import Principal
from service.brands import service as brands
from service.brands.schemas import BrandOut, BrandPatch
from service.console.pages import action, form_values, page, pick_brand, redirect, render
from service.console.review import notice, valid
from service.errors import Conflict, DomainError, InvalidInput
from service.events import schemas as events
from service.events.outbox import emit
from service.jobs import queue
from service.knowledge import retrieval
from service.knowledge import service as knowledge
from service.knowledge.retrieval import KnowledgeHit
from service.runtime import Runtime
from service.triage.models import PRIORITIES

ADMIN = ("admin",)


@page("/knowledge", roles=ADMIN, nav="nav_knowledge")
async def knowledge_page(
    request: Request,
    runtime: Runtime,
    principal: Principal,
    brand: str | None = Parameter(default=None, max_length=63),
    q: str | None = Parameter(default=None, max_length=2000),
    notice_: str | None = Parameter(query="notice", default=None, max_length=20),
) -> Template:
    async with runtime.transaction() as session:
        slug = pick_brand(await brands.visible_slugs(session, principal), brand)
        documents = []
        if slug:
            principal.ensure_brand(slug)
            row = await brands.get_by_slug(session, slug)
            documents = [
                knowledge.to_out(d)
                for d in await knowledge.list_documents(session, row, limit=pagination.MAX_LIMIT)
            ]
            brand_id = row.id
    hits: list[KnowledgeHit] = []
    if slug and q and q.strip():
        hits = await retrieval.search(runtime, brand_id, q.strip(), limit=5)
    return await render(
        request,
        runtime,
        "knowledge.html",
        brand=slug,
        documents=documents,
        q=q or "",
        hits=hits,
        notice=notice(notice_),
    )


@page("/knowledge/{slug:str}/documents/{document_id:str}/row", roles=ADMIN)
async def document_row(
    request: Request, runtime: Runtime, principal: Principal, slug: str, document_id: str
) -> Template:
    """One document's row, polled by htmx while it is indexing (chunks done of chunks total)."""
    principal.ensure_brand(slug)
    async with runtime.transaction() as session:
        row = await brands.get_by_slug(session, slug)
        doc = knowledge.to_out(await knowledge.get(session, row, document_id))
    return await render(request, runtime, "document_row.html", brand=slug, doc=doc)


@action("/knowledge/{slug:str}/upload", roles=ADMIN, opt={"upload": True})
async def upload_document(request: Request, runtime: Runtime, principal: Principal, slug: str) -> Redirect:
    principal.ensure_brand(slug)
    filename, data, content_type, kind = await knowledge.read_upload(await request.form())
    async with runtime.transaction() as session:
        row = await brands.get_by_slug(session, slug)
        await knowledge.upload(
            session,
            row,
            filename,
            data,
            content_type=content_type,
            kind=kind,
            max_bytes=runtime.settings.max_upload_bytes,
        )
    queue.notify()
    return redirect("/knowledge", brand=slug, notice="uploaded")


@action("/knowledge/{slug:str}/documents/{document_id:str}/delete", roles=ADMIN)
async def delete_document(runtime: Runtime, principal: Principal, slug: str, document_id: str) -> Redirect:
    principal.ensure_brand(slug)
    async with runtime.transaction() as session:
        row = await brands.get_by_slug(session, slug)
        await knowledge.delete(session, row, document_id)
    queue.notify()
    return redirect("/knowledge", brand=slug, notice="deleted")


@page("/brand", roles=ADMIN, nav="nav_brand")
async def brand_page(
    request: Request,
    runtime: Runtime,
    principal: Principal,
    brand: str | None = Parameter(default=None, max_length=63),
    notice_: str | None = Parameter(query="notice", default=None, max_length=20),
) -> Template:
    async with runtime.transaction() as session:
        slug = pick_brand(await brands.visible_slugs(session, principal), brand)
        out = None
        if slug:
            principal.ensure_brand(slug)
            out = brands.to_out(await brands.get_by_slug(session, slug))
    return await render(request, runtime, "brand.html", brand=slug, notice=notice(notice_), **_shown(out))


def _shown(out: BrandOut | None) -> dict[str, Any]:
    """The brand as the settings form shows it: JSON fields as indented text."""
    if out is None:
        return {"out": None}
    channels = {k: v.model_dump(exclude_none=True) for k, v in out.channels.items()}
    return {
        "out": out,
        "channels_json": json.dumps(channels, indent=1),
        "hours_json": json.dumps(out.business_hours) if out.business_hours else "",
        "priorities": PRIORITIES,
    }


def _json_field(form: dict[str, str], name: str) -> Any:
    text = form.get(name, "").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{name} is not valid JSON: {exc.msg} (line {exc.lineno})",
            errors=[{"field": name, "message": "not valid JSON"}],
        ) from exc


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def brand_patch(form: dict[str, str], current_webhook: str | None) -> BrandPatch:
    """The settings form as the API's PATCH body; the schema checks it as it checks the API's."""
    values: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "language": form.get("language", "").strip(),
        "timezone": form.get("timezone", "").strip(),
        "business_hours": _json_field(form, "business_hours"),
        "holidays": _lines(form.get("holidays")),
        "sla_minutes": {p: form[f"sla_{p}"].strip() for p in PRIORITIES if form.get(f"sla_{p}", "").strip()},
        "voice": {
            "formality": form.get("formality", "formal"),
            "persona": form.get("persona", "").strip() or None,
            "signature": form.get("signature", "").strip() or None,
            "banned_phrases": _lines(form.get("banned_phrases")),
        },
        "channels": _json_field(form, "channels") or {},
    }
    url = form.get("webhook_url", "").strip()
    if url != (current_webhook or ""):
        # a new URL gets a new secret (shown once); an emptied field removes the webhook
        values["webhook"] = {"url": url} if url else None
    return valid(BrandPatch, **values)  # type: ignore[no-any-return]


@action("/brand/{slug:str}", roles=ADMIN)
async def save_brand(
    request: Request, runtime: Runtime, principal: Principal, slug: str
) -> Redirect | Template:
    principal.ensure_brand(slug)
    form = await form_values(request)
    try:
        async with runtime.transaction() as session:
            current = await brands.get_by_slug(session, slug)
            out = await brands.patch_brand(
                session, runtime.settings, slug, brand_patch(form, current.webhook_url)
            )
    except DomainError as error:
        async with runtime.transaction() as session:
            out = brands.to_out(await brands.get_by_slug(session, slug))
        return await render(
            request,
            runtime,
            "brand.html",
            status_code=error.status,
            brand=slug,
            error=error,
            form=form,
            **_shown(out),
        )
    queue.notify()  # a re-triage job may wait
    if out.webhook and out.webhook.secret:
        # the new secret is shown once, in this response, never in a URL
        return await render(
            request,
            runtime,
            "brand.html",
            brand=slug,
            notice="settings_saved",
            **_shown(out),
        )
    return redirect("/brand", brand=slug, notice="settings_saved")


@action("/brand/{slug:str}/test-webhook", roles=ADMIN)
async def test_webhook(runtime: Runtime, principal: Principal, slug: str) -> Redirect:
    """Send a signed `webhook.test` event (no post, no reply) through the outbox, as every event goes."""
    principal.ensure_brand(slug)
    async with runtime.transaction() as session:
        row = await brands.get_by_slug(session, slug)
        if emit(session, row, "webhook.test", events.webhook_test(row, principal.key_id)) is None:
            raise Conflict("this brand has no webhook (or it was disabled by a 410): set its URL first")
    queue.notify()
    return redirect("/brand", brand=slug, notice="webhook_test_sent")
