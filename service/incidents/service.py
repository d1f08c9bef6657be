"""Incidents: group a triaged post with its near-duplicates from other authors, list, read and close.

`assign` runs inside the transaction that stores a post's triage, after the caller has locked the
brand's row: one brand's posts are grouped one at a time, on every replica and worker, so a burst of
posts about one outage can never open two incidents side by side.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.keys import Principal
from service.errors import Conflict, NotFound
from service.incidents.grouping import (
    WINDOW,
    Candidate,
    decide,
    from_bytes,
    representative,
    thresholds_for,
    to_bytes,
)
from service.incidents.schemas import IncidentDetail, IncidentOut, IncidentPost
from service.jobs import queue
from service.models import Brand, Draft, Incident, Post, utcnow

MAX_CANDIDATES = 2000
TITLE_CHARS = 280
DETAIL_POSTS = 500


def author_key(post_id: str, author: dict[str, Any] | None) -> str:
    handle = str((author or {}).get("handle") or "").strip().lstrip("@").lower()
    return handle or f"post:{post_id}"  # no handle: never the same author as anyone


async def assign(
    session: AsyncSession, brand: Brand, post: Post, vector: np.ndarray, model: str
) -> str | None:
    """Store the post's embedding and put it into an incident when it belongs to one; the incident id.
    The caller holds the brand row lock."""
    post.embedding = to_bytes(vector)
    post.embedding_model = model
    thresholds = thresholds_for(model, (brand.settings or {}).get("incident_similarity"))
    if thresholds is None:
        return None
    await _close_quiet(session, brand.id, post)
    rows = (
        await session.execute(
            sa.select(Post.id, Post.author, Post.incident_id, Post.embedding)
            .where(
                Post.brand_id == brand.id,
                Post.id != post.id,
                Post.embedding_model == model,
                Post.embedding.is_not(None),
                Post.posted_at >= post.posted_at - WINDOW,
                Post.posted_at <= post.posted_at + WINDOW,
            )
            .order_by(Post.posted_at.desc())
            .limit(MAX_CANDIDATES)
        )
    ).all()
    rows = [r for r in rows if len(r.embedding) == vector.size * 4]
    if not rows:
        return None
    open_sizes: dict[str, int] = {
        incident_id: count
        for incident_id, count in (
            await session.execute(
                sa.select(Incident.id, Incident.post_count).where(
                    Incident.brand_id == brand.id, Incident.status == "open"
                )
            )
        ).all()
    }
    candidates = [
        Candidate(r.id, author_key(r.id, r.author), r.incident_id, r.incident_id in open_sizes) for r in rows
    ]
    matrix = np.stack([from_bytes(r.embedding) for r in rows])
    grouping = decide(
        vector,
        author_key(post.id, post.author),
        candidates,
        matrix,
        thresholds.neighbour,
        incident_sizes=open_sizes,
        cohesion=thresholds.cohesion,
    )
    if grouping.join is not None:
        incident = await session.get(Incident, grouping.join)
        assert incident is not None
        for other in grouping.merge:
            await _merge(session, other, into=incident.id)
    elif grouping.open_with:
        members = [post.id, *grouping.open_with]
        index = {r.id: i for i, r in enumerate(rows)}
        vectors = np.stack([vector, *(matrix[index[m]] for m in grouping.open_with)])
        central = members[representative(vectors)]
        title = post.text
        if central != post.id:
            title = await session.scalar(sa.select(Post.text).where(Post.id == central)) or post.text
        incident = Incident(brand_id=brand.id, title=_title(title), status="open")
        session.add(incident)
        await session.flush()
    else:
        return None
    if grouping.open_with:
        await session.execute(
            sa.update(Post)
            .where(Post.id.in_(grouping.open_with), Post.incident_id.is_(None))
            .values(incident_id=incident.id)
            .execution_options(synchronize_session=False)
        )
    post.incident_id = incident.id
    await session.flush()
    await _recount(session, incident)
    return incident.id


def _title(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"


async def _merge(session: AsyncSession, source_id: str, *, into: str) -> None:
    await session.execute(
        sa.update(Post)
        .where(Post.incident_id == source_id)
        .values(incident_id=into)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        sa.update(Incident)
        .where(Incident.id == source_id)
        .values(status="merged", merged_into=into, closed_at=utcnow(), post_count=0, author_count=0)
        .execution_options(synchronize_session=False)
    )


async def _recount(session: AsyncSession, incident: Incident) -> None:
    rows = (
        await session.execute(
            sa.select(Post.id, Post.author, Post.posted_at).where(Post.incident_id == incident.id)
        )
    ).all()
    incident.post_count = len(rows)
    incident.author_count = len({author_key(r.id, r.author) for r in rows})
    incident.first_post_at = min(r.posted_at for r in rows)
    incident.last_post_at = max(r.posted_at for r in rows)
    await session.flush()


async def _close_quiet(session: AsyncSession, brand_id: str, post: Post) -> None:
    """An incident that no post joined for `WINDOW` is over (measured in the posts' own time)."""
    await session.execute(
        sa.update(Incident)
        .where(
            Incident.brand_id == brand_id,
            Incident.status == "open",
            Incident.last_post_at < post.posted_at - WINDOW,
        )
        .values(status="closed", closed_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def incident_out(incident: Incident, slug: str) -> IncidentOut:
    return IncidentOut(
        id=incident.id,
        brand=slug,
        title=incident.title,
        status=incident.status,
        merged_into=incident.merged_into,
        post_count=incident.post_count,
        author_count=incident.author_count,
        first_post_at=incident.first_post_at,
        last_post_at=incident.last_post_at,
        created_at=incident.created_at,
        closed_at=incident.closed_at,
    )


async def list_for_brand(
    session: AsyncSession, principal: Principal, slug: str, status: str | None, limit: int, *, offset: int = 0
) -> list[IncidentOut]:
    principal.ensure_brand(slug)
    brand = await session.scalar(sa.select(Brand).where(Brand.slug == slug))
    if brand is None:
        raise NotFound(f"no brand '{slug}'")
    query = sa.select(Incident).where(Incident.brand_id == brand.id)
    query = query.where(Incident.status == status) if status else query.where(Incident.status != "merged")
    rows = await session.scalars(
        query.order_by(Incident.last_post_at.desc(), Incident.id).offset(offset).limit(limit)
    )
    return [incident_out(i, slug) for i in rows]


async def _load(session: AsyncSession, principal: Principal, incident_id: str) -> tuple[Incident, Brand]:
    row = (
        await session.execute(
            sa.select(Incident, Brand)
            .join(Brand, Brand.id == Incident.brand_id)
            .where(Incident.id == incident_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"no incident '{incident_id}'")
    incident, brand = row
    principal.ensure_brand(brand.slug)
    return incident, brand


async def get_detail(session: AsyncSession, principal: Principal, incident_id: str) -> IncidentDetail:
    incident, brand = await _load(session, principal, incident_id)
    posts = await session.scalars(
        sa.select(Post)
        .where(Post.incident_id == incident.id)
        .order_by(Post.posted_at, Post.id)
        .limit(DETAIL_POSTS)
    )
    return IncidentDetail(
        **incident_out(incident, brand.slug).model_dump(),
        posts=[
            IncidentPost(
                id=p.id,
                external_id=p.external_id,
                channel=p.channel,
                author=str((p.author or {}).get("handle", "")),
                text=p.text,
                status=p.status,
                priority=(p.triage or {}).get("priority"),
                due_at=p.due_at,
                created_at=p.posted_at,
            )
            for p in posts
        ],
    )


async def close(session: AsyncSession, principal: Principal, incident_id: str) -> IncidentOut:
    """An agent declares the incident over: later posts about the same thing start a new one."""
    incident, brand = await _load(session, principal, incident_id)
    if incident.status == "merged":
        raise Conflict(f"incident was merged into '{incident.merged_into}'; close that one")
    if incident.status == "open":
        incident.status = "closed"
        incident.closed_at = utcnow()
        await session.flush()
    return incident_out(incident, brand.slug)


async def redraft(
    session: AsyncSession, principal: Principal, incident_id: str, instruction: str | None
) -> int:
    """Answer once, personalise per post: after an agent approved one reply (it becomes a past answer of
    the brand within seconds), draft the incident's other waiting posts again so they rest on it. Only
    drafts nobody has edited are replaced; the number of posts being redrafted."""
    incident, _ = await _load(session, principal, incident_id)
    rows = (
        await session.execute(
            sa.select(Post, Draft)
            .join(Draft, Draft.post_id == Post.id)
            .where(
                Post.incident_id == incident.id,
                Post.status == "drafted",
                Draft.status == "pending",
                Draft.version == 1,
            )
            .with_for_update(of=Post)
        )
    ).all()
    for post, draft in rows:
        post.status = "triaged"
        queue.enqueue(
            session,
            "draft_post",
            {"post_id": post.id, "generation": draft.generation + 1, "instruction": instruction},
        )
    await session.flush()
    return len(rows)
