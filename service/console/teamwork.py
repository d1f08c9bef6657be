"""Console pages for a brand's team work: the team (members with shifts, add, edit, remove; the breach
forecast), its feeds (list, add, delete), claiming a post (agents) and replaying a delivery of the
delivery log that the brand settings page shows. The same service functions as the API's routes
(team.service, team.forecast, posts team routes, feeds.service, events.deliveries), with the same roles."""

from __future__ import annotations

import json
from typing import Any

from litestar import Request
from litestar.params import Parameter
from litestar.response import Redirect, Template

from service.auth.keys import Principal
from service.brands import service as brands
from service.console.admin import ADMIN, _json_field
from service.console.pages import action, form_values, page, pick_brand, redirect, render
from service.console.review import AGENT, notice, valid
from service.errors import DomainError
from service.events import deliveries
from service.feeds import service as feeds
from service.feeds.schemas import FeedIn
from service.jobs import queue
from service.models import utcnow
from service.runtime import Runtime
from service.team import forecast
from service.team import service as team
from service.team.routes import DEFAULT_HORIZON
from service.team.schemas import MemberIn, MemberOut, MemberPatch

FORECAST_WINDOW_HOURS = 4.0  # the API's default pace window


def member_fields(form: dict[str, str]) -> dict[str, Any]:
    """The member form as the API's body: shifts as JSON text, an empty key id unlinks the key."""
    return {
        "name": form.get("name", "").strip(),
        "key_id": form.get("key_id", "").strip() or None,
        "weekly_shifts": _json_field(form, "weekly_shifts"),
        "shifts": _json_field(form, "shifts") or [],
        "active": form.get("active") == "true",
    }


def shown(member: MemberOut) -> dict[str, str]:
    """A member's shifts as the edit form shows them (JSON text)."""
    return {
        "weekly_shifts": json.dumps(member.weekly_shifts) if member.weekly_shifts else "",
        "shifts": json.dumps([s.model_dump(mode="json") for s in member.shifts]) if member.shifts else "",
    }


async def _team_page(
    request: Request,
    runtime: Runtime,
    principal: Principal,
    slug: str | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> Template:
    members: list[MemberOut] = []
    outlook = None
    if slug:
        now = utcnow()
        async with runtime.transaction() as session:
            members = await team.list_members(session, principal, slug)
            brand = await team.brand_for(session, principal, slug)
            outlook = await forecast.forecast(
                session, brand, now, now + DEFAULT_HORIZON, FORECAST_WINDOW_HOURS
            )
    return await render(
        request,
        runtime,
        "team.html",
        status_code=status_code,
        brand=slug,
        members=[(m, shown(m)) for m in members],
        forecast=outlook,
        **context,
    )


@page("/team", roles=ADMIN, nav="nav_team")
async def team_page(
    request: Request,
    runtime: Runtime,
    principal: Principal,
    brand: str | None = Parameter(default=None, max_length=63),
    notice_: str | None = Parameter(query="notice", default=None, max_length=20),
) -> Template:
    async with runtime.sessionmaker() as session:
        slug = pick_brand(await brands.visible_slugs(session, principal), brand)
    return await _team_page(request, runtime, principal, slug, notice=notice(notice_))


@action("/team/{slug:str}/members", roles=ADMIN)
async def add_member(
    request: Request, runtime: Runtime, principal: Principal, slug: str
) -> Redirect | Template:
    form = await form_values(request)
    try:
        data = valid(MemberIn, **member_fields(form))
        async with runtime.transaction() as session:
            await team.create_member(session, principal, slug, data)
    except DomainError as error:
        return await _team_page(
            request, runtime, principal, slug, status_code=error.status, error=error, form=form
        )
    queue.notify()  # the re-assignment job hands unassigned posts to someone on shift
    return redirect("/team", brand=slug, notice="member_added")


@action("/team/{slug:str}/members/{member_id:str}", roles=ADMIN)
async def edit_member(
    request: Request, runtime: Runtime, principal: Principal, slug: str, member_id: str
) -> Redirect | Template:
    form = await form_values(request)
    try:
        data = valid(MemberPatch, **member_fields(form))
        async with runtime.transaction() as session:
            await team.patch_member(session, principal, slug, member_id, data)
    except DomainError as error:
        return await _team_page(request, runtime, principal, slug, status_code=error.status, error=error)
    return redirect("/team", brand=slug, notice="member_saved")


@action("/team/{slug:str}/members/{member_id:str}/delete", roles=ADMIN)
async def remove_member(runtime: Runtime, principal: Principal, slug: str, member_id: str) -> Redirect:
    async with runtime.transaction() as session:
        await team.delete_member(session, principal, slug, member_id)
    return redirect("/team", brand=slug, notice="member_removed")


@action("/posts/{post_id:str}/claim", roles=AGENT)
async def claim_post(runtime: Runtime, principal: Principal, post_id: str) -> Redirect:
    """The signed-in agent's member takes the post over (POST /v1/posts/{id}/claim)."""
    async with runtime.transaction() as session:
        await team.claim(session, principal, post_id)
    return redirect(f"/posts/{post_id}", notice="claimed")


@page("/feeds", roles=ADMIN, nav="nav_feeds")
async def feeds_page(
    request: Request,
    runtime: Runtime,
    principal: Principal,
    brand: str | None = Parameter(default=None, max_length=63),
    notice_: str | None = Parameter(query="notice", default=None, max_length=20),
) -> Template:
    async with runtime.transaction() as session:
        slug = pick_brand(await brands.visible_slugs(session, principal), brand)
        items = await feeds.list_feeds(session, principal, slug) if slug else []
    return await _feeds_render(request, runtime, slug, items, notice=notice(notice_))


async def _feeds_render(
    request: Request, runtime: Runtime, slug: str | None, items: list[Any], **context: Any
) -> Template:
    return await render(
        request,
        runtime,
        "feeds.html",
        brand=slug,
        feeds=items,
        default_interval=runtime.settings.feed_default_interval_s,
        min_interval=runtime.settings.feed_min_interval_s,
        **context,
    )


@action("/feeds/{slug:str}", roles=ADMIN)
async def add_feed(
    request: Request, runtime: Runtime, principal: Principal, slug: str
) -> Redirect | Template:
    form = await form_values(request)
    interval = form.get("interval_s", "").strip()
    try:
        data = valid(
            FeedIn,
            url=form.get("url", "").strip(),
            channel=form.get("channel", "").strip() or "forum",
            interval_s=interval or None,
        )
        async with runtime.transaction() as session:
            await feeds.create_feed(session, runtime.settings, principal, slug, data)
    except DomainError as error:
        async with runtime.transaction() as session:
            items = await feeds.list_feeds(session, principal, slug)
        return await _feeds_render(
            request, runtime, slug, items, status_code=error.status, error=error, form=form
        )
    queue.notify()  # its first poll is due now
    return redirect("/feeds", brand=slug, notice="feed_added")


@action("/feeds/{slug:str}/{feed_id:str}/delete", roles=ADMIN)
async def delete_feed(runtime: Runtime, principal: Principal, slug: str, feed_id: str) -> Redirect:
    async with runtime.transaction() as session:
        await feeds.delete_feed(session, principal, slug, feed_id)
    return redirect("/feeds", brand=slug, notice="feed_deleted")


@action("/deliveries/{delivery_id:str}/replay", roles=ADMIN)
async def replay_delivery(
    request: Request, runtime: Runtime, principal: Principal, delivery_id: str
) -> Redirect:
    """POST /v1/deliveries/{id}/replay from the delivery log on the brand settings page."""
    form = await form_values(request)
    async with runtime.transaction() as session:
        await deliveries.replay(session, principal, delivery_id)
    queue.notify()
    slug = form.get("brand", "")
    return redirect("/brand", brand=slug if slug.replace("-", "").isalnum() else None, notice="replayed")
