"""HTTP routes for posts (integration; read also agent) and the review queue (agent)."""

from __future__ import annotations

from typing import Literal

from litestar import Response, get, post
from litestar.params import Parameter

from service import pagination
from service.auth.guards import allow
from service.auth.keys import Principal
from service.posts import service
from service.posts.schemas import PostAccepted, PostIn, PostOut, PublishedIn, QueueOut
from service.runtime import Runtime
from service.team import service as team
from service.team.schemas import AssignIn


@post(
    "/v1/posts",
    guards=allow("integration"),
    tags=["posts"],
    status_code=202,
    description="202 with {id, status} for a new post; the same (brand, channel, external_id) again: "
    "200 with the whole post as it stands, nothing created twice.",
)
async def create_post(
    data: PostIn, runtime: Runtime, principal: Principal
) -> Response[PostAccepted | PostOut]:
    async with runtime.transaction() as session:
        row, created = await service.accept(
            session, principal, data, max_attempts=runtime.settings.job_max_attempts
        )
        if created:
            body: PostAccepted | PostOut = PostAccepted(id=row.id, status=row.status)
        else:
            body = await service.post_view(session, row, data.brand)
    return Response(body, status_code=202 if created else 200)


@get("/v1/posts/{post_id:str}", guards=allow("integration", "agent", "admin"), tags=["posts"])
async def get_post(post_id: str, runtime: Runtime, principal: Principal) -> PostOut:
    async with runtime.read() as session:
        row, brand = await service.load(session, principal, post_id)
        return await service.post_view(session, row, brand.slug)


@post("/v1/posts/{post_id:str}/published", guards=allow("integration"), tags=["posts"], status_code=200)
async def report_published(
    post_id: str, data: PublishedIn, runtime: Runtime, principal: Principal
) -> PostOut:
    async with runtime.transaction() as session:
        return await service.mark_published(session, principal, post_id, data)


@get("/v1/queue", guards=allow("agent"), tags=["review"])
async def review_queue(
    runtime: Runtime,
    principal: Principal,
    brand: str = Parameter(min_length=1, max_length=63),
    limit: int = Parameter(default=pagination.DEFAULT_LIMIT, ge=1, le=pagination.MAX_LIMIT),
    offset: int = Parameter(default=0, ge=0, le=pagination.MAX_OFFSET, description="items to skip"),
    incident: str | None = Parameter(default=None, max_length=32, description="only this incident's posts"),
    channel: str | None = Parameter(default=None, pattern=r"^[a-z][a-z0-9_-]{0,31}$"),
    priority: Literal["urgent", "high", "normal", "low"] | None = Parameter(default=None),
    overdue: bool = Parameter(default=False, description="only posts past their due time"),
    assignee: str | None = Parameter(
        default=None,
        max_length=32,
        description="`me` (the member whose key asks), `none` (unassigned) or a member id",
    ),
) -> QueueOut:
    async with runtime.transaction() as session:
        items = await service.queue_for_brand(
            session,
            principal,
            brand,
            limit,
            incident,
            offset=offset,
            channel=channel,
            priority=priority,
            overdue=overdue,
            assignee=assignee,
        )
        return QueueOut(items=items)


@post("/v1/posts/{post_id:str}/claim", guards=allow("agent"), tags=["team"], status_code=200)
async def claim_post(post_id: str, runtime: Runtime, principal: Principal) -> PostOut:
    """The agent whose key belongs to a member of the brand's team takes the post over."""
    async with runtime.transaction() as session:
        row = await team.claim(session, principal, post_id)
        return await service.post_view(session, row, await service.brand_slug(session, row))


@post("/v1/posts/{post_id:str}/assign", guards=allow("admin"), tags=["team"], status_code=200)
async def assign_post(post_id: str, data: AssignIn, runtime: Runtime, principal: Principal) -> PostOut:
    """Give the post to a member of its brand's team (`member_id`), or to nobody (null)."""
    async with runtime.transaction() as session:
        row = await team.assign(session, principal, post_id, data.member_id)
        return await service.post_view(session, row, await service.brand_slug(session, row))
