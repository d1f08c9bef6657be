"""Console pages for agents: the queue and a post with its draft (edit, approve, reject, regenerate,
answer an incident once). Each action calls the same service function as the API's route does
(posts.service, drafts.review, incidents.service), with the signed-in key as the principal."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.params import Parameter
from litestar.response import Redirect, Template
from pydantic import ValidationError

from service.auth.keys import Principal
from service.brands.service import visible_slugs
from service.console.pages import action, form_values, page, pick_brand, redirect, render
from service.drafts import review
from service.drafts.schemas import DraftRegenerate, DraftReject
from service.drafts.service import current_draft, draft_out, draft_request
from service.drafts.writer import DEFAULT_MAX_CHARS, text_limit
from service.errors import Conflict, DomainError, InvalidInput
from service.incidents import service as incidents
from service.jobs import queue
from service.knowledge import retrieval
from service.models import Draft, Incident
from service.posts import service as posts
from service.posts.schemas import PostOut
from service.runtime import Runtime
from service.triage.models import PRIORITIES
from service.triage.service import thread_texts

AGENT = ("agent",)
NOTICES = (
    "saved",
    "approved",
    "rejected",
    "regenerating",
    "redrafting",
    "uploaded",
    "deleted",
    "settings_saved",
)


def notice(value: str | None) -> str | None:
    return value if value in NOTICES else None


def highlighted(text: str, checks: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """The text cut into (piece, flag or None) so the template marks each checked span."""
    spans = sorted(
        (int(s), int(e), str(c.get("flag")))
        for c in checks
        for s, e, *_ in c.get("spans") or []
        if 0 <= int(s) < int(e) <= len(text)
    )
    pieces: list[tuple[str, str | None]] = []
    at = 0
    for start, end, flag in spans:
        if start < at:  # overlapping spans: the first one marks the shared part
            start = at
        if start >= end:
            continue
        if start > at:
            pieces.append((text[at:start], None))
        pieces.append((text[start:end], flag))
        at = end
    if at < len(text):
        pieces.append((text[at:], None))
    return pieces


async def queue_items(
    runtime: Runtime,
    principal: Principal,
    brand: str,
    channel: str | None,
    priority: str | None,
    overdue: bool,
) -> list[PostOut]:
    async with runtime.transaction() as session:
        return await posts.queue_for_brand(
            session, principal, brand, 200, channel=channel, priority=priority, overdue=overdue
        )


def _filters(channel: str | None, priority: str | None, overdue: bool) -> tuple[str | None, str | None, bool]:
    """Form filters, where an empty select means none; an unknown priority is a 422 naming the field."""
    if priority and priority not in PRIORITIES:
        raise InvalidInput(
            "unknown priority", errors=[{"field": "priority", "message": "|".join(PRIORITIES)}]
        )
    return channel or None, priority or None, overdue


@page("/queue", roles=AGENT, nav="nav_queue")
async def queue_page(
    request: Request,
    runtime: Runtime,
    principal: Principal,
    brand: str | None = Parameter(default=None, max_length=63),
    channel: str | None = Parameter(default=None, max_length=32),
    priority: str | None = Parameter(default=None, max_length=10),
    overdue: bool = Parameter(default=False),
    notice_: str | None = Parameter(query="notice", default=None, max_length=20),
) -> Template:
    async with runtime.sessionmaker() as session:
        slug = pick_brand(await visible_slugs(session, principal), brand)
    channel, priority, overdue = _filters(channel, priority, overdue)
    items = await queue_items(runtime, principal, slug, channel, priority, overdue) if slug else []
    return await render(
        request,
        runtime,
        "queue.html",
        brand=slug,
        items=items,
        channel=channel,
        priority=priority,
        overdue=overdue,
        priorities=PRIORITIES,
        channels=sorted(DEFAULT_MAX_CHARS),
        notice=notice(notice_),
    )


@page("/queue/rows", roles=AGENT)
async def queue_rows(
    request: Request,
    runtime: Runtime,
    principal: Principal,
    brand: str = Parameter(min_length=1, max_length=63),
    channel: str | None = Parameter(default=None, max_length=32),
    priority: str | None = Parameter(default=None, max_length=10),
    overdue: bool = Parameter(default=False),
) -> Template:
    """The queue's rows alone, which the page fetches again every few seconds (htmx)."""
    channel, priority, overdue = _filters(channel, priority, overdue)
    items = await queue_items(runtime, principal, brand, channel, priority, overdue)
    return await render(request, runtime, "queue_rows.html", brand=brand, items=items)


async def _post_context(
    runtime: Runtime, principal: Principal, post_id: str, draft: Draft | None = None
) -> dict[str, Any]:
    """Everything the post page shows: post, thread, draft, its checks marked, sources opened, the
    channel's limit, the incident and the next post of the queue."""
    async with runtime.transaction() as session:
        row, brand = await posts.load(session, principal, post_id)
        current = draft or await current_draft(session, row.id)
        thread = await thread_texts(session, row)
        out = posts.post_out(row, brand.slug, current)
        limit = text_limit(draft_request(runtime, brand, row, thread, None))
        incident = await session.get(Incident, row.incident_id) if row.incident_id else None
        waiting = await posts.queue_for_brand(session, principal, brand.slug, 200)
        brand_id = brand.id
    sources = []
    for s in out.draft.sources if out.draft else []:
        sources.append((s, await retrieval.source(runtime, brand_id, s.source_id)))
    ids = [p.id for p in waiting]
    later = ids[ids.index(post_id) + 1 :] if post_id in ids else ids
    checked = (current.generated_text or current.text) if current else ""
    return {
        "post": out,
        "brand": brand.slug,
        "thread": thread,
        "limit": limit,
        "sources": sources,
        "incident": incident,
        "next_post": later[0] if later else None,
        "marked": highlighted(checked, current.checks or []) if current else [],
        "regenerating": row.status == "triaged",
    }


@page("/posts/{post_id:str}", roles=AGENT)
async def post_page(
    request: Request,
    runtime: Runtime,
    principal: Principal,
    post_id: str,
    notice_: str | None = Parameter(query="notice", default=None, max_length=20),
    count: int | None = Parameter(default=None, ge=0, le=100000),
) -> Template:
    context = await _post_context(runtime, principal, post_id)
    return await render(request, runtime, "post.html", notice=notice(notice_), count=count, **context)


@page("/posts/{post_id:str}/ready", roles=AGENT)
async def post_ready(runtime: Runtime, principal: Principal, post_id: str) -> Response[str]:
    """Polled while a draft is being written: HX-Refresh reloads the page once it is there."""
    async with runtime.transaction() as session:
        row, _ = await posts.load(session, principal, post_id)
        ready = row.status != "triaged"
    return Response("", headers={"HX-Refresh": "true"} if ready else {}, media_type="text/html")


async def _problem_page(
    request: Request,
    runtime: Runtime,
    principal: Principal,
    draft_id: str,
    error: DomainError,
    text: str | None,
) -> Template:
    """The post page again, with what went wrong: on a conflict the other agent's text next to one's own
    (kept in the editor, with the current version, so saving again is a deliberate choice)."""
    async with runtime.transaction() as session:
        draft, row, _ = await review.load(session, principal, draft_id)
    context = await _post_context(runtime, principal, row.id)
    theirs = draft_out(draft) if isinstance(error, Conflict) else None
    return await render(
        request,
        runtime,
        "post.html",
        status_code=error.status,
        error=error,
        theirs=theirs,
        yours=text,
        **context,
    )


@action("/drafts/{draft_id:str}/save", roles=AGENT)
async def save_draft(
    request: Request, runtime: Runtime, principal: Principal, draft_id: str
) -> Redirect | Template:
    form = await form_values(request)
    try:
        version = review.parse_if_match(form.get("version"), required=True)
        async with runtime.transaction() as session:
            draft = await review.edit(session, principal, draft_id, form.get("text", ""), version)
            post_id = draft.post_id
    except (Conflict, InvalidInput) as error:
        return await _problem_page(request, runtime, principal, draft_id, error, form.get("text"))
    return redirect(f"/posts/{post_id}", notice="saved")


@action("/drafts/{draft_id:str}/approve", roles=AGENT)
async def approve_draft(
    request: Request, runtime: Runtime, principal: Principal, draft_id: str
) -> Redirect | Template:
    form = await form_values(request)
    try:
        version = review.parse_if_match(form.get("version"), required=True)
        async with runtime.transaction() as session:
            _, _, brand = await review.load(session, principal, draft_id)
            await review.approve(session, principal, draft_id, form.get("text"), version)
    except (Conflict, InvalidInput) as error:
        return await _problem_page(request, runtime, principal, draft_id, error, form.get("text"))
    queue.notify()
    return redirect("/queue", brand=brand.slug, notice="approved")


@action("/drafts/{draft_id:str}/reject", roles=AGENT)
async def reject_draft(
    request: Request, runtime: Runtime, principal: Principal, draft_id: str
) -> Redirect | Template:
    form = await form_values(request)
    try:
        data = valid(DraftReject, reason=form.get("reason", "").strip())
        async with runtime.transaction() as session:
            _, _, brand = await review.load(session, principal, draft_id)
            await review.reject(session, principal, draft_id, data.reason)
    except (Conflict, InvalidInput) as error:
        return await _problem_page(request, runtime, principal, draft_id, error, form.get("text"))
    return redirect("/queue", brand=brand.slug, notice="rejected")


@action("/drafts/{draft_id:str}/regenerate", roles=AGENT)
async def regenerate_draft(
    request: Request, runtime: Runtime, principal: Principal, draft_id: str
) -> Redirect | Template:
    form = await form_values(request)
    try:
        data = valid(DraftRegenerate, instruction=form.get("instruction", "").strip() or None)
        version = review.parse_if_match(form.get("version"), required=False)
        async with runtime.transaction() as session:
            row = await review.regenerate(session, principal, draft_id, data.instruction, version)
            post_id = row.id
    except (Conflict, InvalidInput) as error:
        return await _problem_page(request, runtime, principal, draft_id, error, form.get("text"))
    queue.notify()
    return redirect(f"/posts/{post_id}", notice="regenerating")


@action("/incidents/{incident_id:str}/redraft", roles=AGENT)
async def redraft_incident(
    request: Request, runtime: Runtime, principal: Principal, incident_id: str
) -> Redirect:
    form = await form_values(request)
    data = valid(DraftRegenerate, instruction=form.get("instruction", "").strip() or None)
    async with runtime.transaction() as session:
        count = await incidents.redraft(session, principal, incident_id, data.instruction)
    queue.notify()
    back = form.get("post_id", "")
    if back.isalnum():  # the post page the agent came from
        return redirect(f"/posts/{back}", notice="redrafting", count=str(count))
    return redirect("/queue", notice="redrafting")


def valid(schema: Any, **values: Any) -> Any:
    """The API's request schema checks the form's fields too: a 422 names the field that was wrong."""
    try:
        return schema(**values)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        raise InvalidInput(
            f"invalid input in: {', '.join(e['field'] for e in errors)}", errors=errors
        ) from exc
