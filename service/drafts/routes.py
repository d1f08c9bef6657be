"""HTTP routes for drafts and review (agent)."""

from __future__ import annotations

from litestar import Controller, Request, Response, get, patch, post

from service.auth.guards import allow
from service.auth.keys import Principal
from service.drafts import review
from service.drafts.schemas import (
    DraftApprove,
    DraftEdit,
    DraftOut,
    DraftRegenerate,
    DraftReject,
    DraftVersionsOut,
)
from service.drafts.service import draft_out
from service.jobs import queue
from service.posts.schemas import PostAccepted
from service.runtime import Runtime


def _etag(draft: DraftOut) -> dict[str, str]:
    return {"ETag": f'"{draft.version}"'}


class DraftController(Controller):
    path = "/v1/drafts/{draft_id:str}"
    tags = ["review"]
    guards = allow("agent")

    @get("/")
    async def get_draft(self, draft_id: str, runtime: Runtime, principal: Principal) -> Response[DraftOut]:
        async with runtime.transaction() as session:
            draft, _, _ = await review.load(session, principal, draft_id)
            out = draft_out(draft)
        return Response(out, headers=_etag(out))

    @get("/versions")
    async def draft_versions(self, draft_id: str, runtime: Runtime, principal: Principal) -> DraftVersionsOut:
        """Every generation of this draft's post, oldest first, each with its instruction and checks."""
        async with runtime.transaction() as session:
            rows = await review.versions(session, principal, draft_id)
            return DraftVersionsOut(items=[draft_out(d) for d in rows])

    @patch("/")
    async def edit_draft(
        self, draft_id: str, data: DraftEdit, request: Request, runtime: Runtime, principal: Principal
    ) -> Response[DraftOut]:
        version = review.parse_if_match(request.headers.get("if-match"), required=True)
        async with runtime.transaction() as session:
            out = draft_out(await review.edit(session, principal, draft_id, data.text, version))
        return Response(out, headers=_etag(out))

    @post("/approve", status_code=200)
    async def approve_draft(
        self,
        draft_id: str,
        request: Request,
        runtime: Runtime,
        principal: Principal,
        data: DraftApprove | None = None,
    ) -> Response[DraftOut]:
        version = review.parse_if_match(request.headers.get("if-match"), required=True)
        async with runtime.transaction() as session:
            out = draft_out(
                await review.approve(session, principal, draft_id, data.text if data else None, version)
            )
        queue.notify()
        return Response(out, headers=_etag(out))

    @post("/reject", status_code=200)
    async def reject_draft(
        self, draft_id: str, data: DraftReject, runtime: Runtime, principal: Principal
    ) -> DraftOut:
        async with runtime.transaction() as session:
            return draft_out(await review.reject(session, principal, draft_id, data.reason))

    @post("/regenerate", status_code=202)
    async def regenerate_draft(
        self,
        draft_id: str,
        request: Request,
        runtime: Runtime,
        principal: Principal,
        data: DraftRegenerate | None = None,
    ) -> PostAccepted:
        version = review.parse_if_match(request.headers.get("if-match"), required=False)
        async with runtime.transaction() as session:
            post_row = await review.regenerate(
                session, principal, draft_id, data.instruction if data else None, version
            )
            out = PostAccepted(id=post_row.id, status=post_row.status)
        queue.notify()
        return out
