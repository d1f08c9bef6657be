"""A brand's figures for a period, and its knowledge gaps. Plain async functions (a session, or the
runtime for embeddings) returning schemas, for the API and the console alike.

The period: `from` and `to` are dates in the brand's timezone, both included: from local midnight at
the start of `from` to local midnight after `to`. A post belongs to the period in which it was created
(`created_at` as the helpdesk sent it, else when the service received it).

Each figure, over the posts of the period:
- `posts_in`: the posts.
- `needs_reply`: those triage said need a reply. `needs_reply_share` = needs_reply / posts_in.
- `answered`: those whose reply an agent approved (status approved or published).
  `answered_share` = answered / needs_reply.
- `approved_unchanged` / `approved_edited`: answered posts whose approved text is / is not the text as
  generated (the approval's edit record).
- `rejected`: posts whose draft an agent rejected.
- `first_reply_minutes`: for answered posts, approval time minus the post's creation time, in minutes;
  p50 and p90 by the nearest-rank method (the smallest value with at least 50% / 90% of the values at
  or below it); null when nothing was answered.
- `sla_breaches`: posts that need a reply and have a due time, approved after it or still open (in
  the queue) past it now. A rejected post is not a breach (the team decided not to answer).
- `edit_distance_mean`: mean Levenshtein distance between generated and approved text over answered
  posts (0 for an unchanged one); null when nothing was answered.
- `intents`: triaged posts per intent.
- `topics`: the knowledge sources approved replies rested on most (a draft's first source) and the
  incidents with the most posts, ten each.

Knowledge gaps: posts of the last `days` that need a reply and whose current draft found no fitting
knowledge (flag `no_knowledge`), grouped by meaning (analytics/clustering.py, cosine threshold
REPLY_KNOWLEDGE_GAP_SIMILARITY) with the service's cross-language model when one is configured (the
English model otherwise), most posts first (ties: the most recent post first). `question` is the
text of the group's most central post (closest to all others), without handles and links.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.adapters.embedder import aencode_queries
from service.adapters.vectors import MULTILINGUAL
from service.analytics import clustering
from service.analytics.schemas import (
    AnalyticsOut,
    IncidentCount,
    KnowledgeGap,
    KnowledgeGaps,
    Percentiles,
    SourceCount,
    Topics,
)
from service.auth.keys import Principal
from service.errors import InvalidInput, NotFound
from service.incidents.grouping import representative
from service.models import Brand, Draft, Incident, Post, utcnow
from service.runtime import Runtime
from service.text import strip_handles_and_links

OPEN_STATUSES = ("triaged", "drafted")
ANSWERED_STATUSES = ("approved", "published")
TOP = 10
MAX_GAP_POSTS = 500
EXAMPLES = 5
MAX_PERIOD_DAYS = 366


async def brand_for(session: AsyncSession, principal: Principal, slug: str) -> Brand:
    principal.ensure_brand(slug)
    brand = await session.scalar(sa.select(Brand).where(Brand.slug == slug))
    if brand is None:
        raise NotFound(f"no brand '{slug}'")
    return brand


def period(
    brand: Brand, start: date | None, end: date | None, today: date | None = None
) -> tuple[date, date]:
    """The dates asked for, or the last 7 days up to today (the brand's today)."""
    today = today or utcnow().astimezone(ZoneInfo(brand.timezone)).date()
    end = end or (today if start is None else min(today, start + timedelta(days=6)))
    start = start or end - timedelta(days=6)
    if start > end:
        message = "from must not be after to"
        raise InvalidInput(message, errors=[{"field": "from", "message": message}])
    if (end - start).days >= MAX_PERIOD_DAYS:
        message = f"a period is at most {MAX_PERIOD_DAYS} days"
        raise InvalidInput(message, errors=[{"field": "to", "message": message}])
    return start, end


def _bounds(timezone: str, start: date, end: date) -> tuple[datetime, datetime]:
    zone = ZoneInfo(timezone)
    begin = datetime.combine(start, time(), zone)
    finish = datetime.combine(end + timedelta(days=1), time(), zone)
    return begin, finish


def nearest_rank(values: list[float], percent: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(percent / 100 * len(ordered))) - 1]


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def analytics(
    session: AsyncSession, brand: Brand, start: date, end: date, now: datetime | None = None
) -> AnalyticsOut:
    now = now or utcnow()
    begin, finish = _bounds(brand.timezone, start, end)
    posts = (
        await session.scalars(
            sa.select(Post).where(Post.brand_id == brand.id, Post.posted_at >= begin, Post.posted_at < finish)
        )
    ).all()
    ids = [p.id for p in posts]
    approved: dict[str, Draft] = {}
    if ids:
        rows = await session.scalars(
            sa.select(Draft).where(Draft.post_id.in_(ids), Draft.status == "approved")
        )
        approved = {d.post_id: d for d in rows}
    needs = [p for p in posts if (p.triage or {}).get("needs_reply")]
    answered = [p for p in posts if p.status in ANSWERED_STATUSES and p.id in approved]
    minutes, distances, unchanged, sources = [], [], 0, Counter[tuple[str, str | None]]()
    for post in answered:
        draft = approved[post.id]
        if draft.decided_at is not None:
            minutes.append((draft.decided_at - post.posted_at).total_seconds() / 60)
        edit: dict[str, Any] = draft.edit or {}
        distances.append(int(edit.get("distance", 0)))
        unchanged += 1 if edit.get("unchanged", draft.text == (draft.generated_text or draft.text)) else 0
        if draft.sources:
            first = draft.sources[0]
            sources[(str(first.get("source_id")), first.get("title"))] += 1
    breaches = 0
    for post in needs:
        if post.due_at is None:
            continue
        reply = approved.get(post.id)
        if reply is not None and reply.decided_at is not None:
            breaches += reply.decided_at > post.due_at
        elif post.status in OPEN_STATUSES:
            breaches += now > post.due_at
    intents = Counter(str(p.triage["intent"]) for p in posts if p.triage and p.triage.get("intent"))
    incident_counts = Counter(p.incident_id for p in posts if p.incident_id)
    titles: dict[str, str] = {}
    if incident_counts:
        titles = dict(
            (
                await session.execute(
                    sa.select(Incident.id, Incident.title).where(Incident.id.in_(incident_counts))
                )
            ).all()
        )
    return AnalyticsOut(
        brand=brand.slug,
        from_date=start,
        to_date=end,
        timezone=brand.timezone,
        posts_in=len(posts),
        needs_reply=len(needs),
        answered=len(answered),
        approved_unchanged=unchanged,
        approved_edited=len(answered) - unchanged,
        rejected=sum(1 for p in posts if p.status == "rejected"),
        first_reply_minutes=Percentiles(
            p50=_round(nearest_rank(minutes, 50)), p90=_round(nearest_rank(minutes, 90))
        ),
        sla_breaches=breaches,
        edit_distance_mean=round(sum(distances) / len(distances), 2) if distances else None,
        intents=dict(sorted(intents.items(), key=lambda kv: (-kv[1], kv[0]))),
        needs_reply_share=_share(len(needs), len(posts)),
        answered_share=_share(len(answered), len(needs)),
        topics=Topics(
            sources=[
                SourceCount(source_id=sid, title=title, posts=n)
                for (sid, title), n in sorted(sources.items(), key=lambda kv: (-kv[1], kv[0][0]))[:TOP]
            ],
            incidents=[
                IncidentCount(id=iid, title=titles.get(iid, ""), posts=n)
                for iid, n in sorted(incident_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
            ],
        ),
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def _gap_posts(session: AsyncSession, brand: Brand, since: datetime) -> list[Post]:
    """Posts needing a reply since `since` whose current (latest) draft has `no_knowledge`, newest first."""
    latest = (
        sa.select(Draft.post_id, sa.func.max(Draft.generation).label("generation"))
        .join(Post, Post.id == Draft.post_id)
        .where(Post.brand_id == brand.id, Post.posted_at >= since)
        .group_by(Draft.post_id)
        .subquery()
    )
    rows = (
        await session.execute(
            sa.select(Post, Draft.flags)
            .join(latest, latest.c.post_id == Post.id)
            .join(Draft, sa.and_(Draft.post_id == Post.id, Draft.generation == latest.c.generation))
            .where(Post.status != "no_reply_needed")
            .order_by(Post.posted_at.desc(), Post.id)
        )
    ).all()
    gaps = [
        post
        for post, flags in rows
        if "no_knowledge" in (flags or []) and (post.triage or {}).get("needs_reply")
    ]
    return gaps[:MAX_GAP_POSTS]


async def knowledge_gaps(runtime: Runtime, brand: Brand, days: int, limit: int) -> KnowledgeGaps:
    since = utcnow() - timedelta(days=days)
    async with runtime.sessionmaker() as session:
        posts = await _gap_posts(session, brand, since)
    if not posts:
        return KnowledgeGaps(items=[], since=since)
    model = runtime.retrieval_models.get(MULTILINGUAL, runtime.embedder)
    texts = [strip_handles_and_links(p.text) for p in posts]
    vectors = np.asarray(await aencode_queries(model, texts), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    items: list[KnowledgeGap] = []
    for members in clustering.groups(vectors, runtime.settings.knowledge_gap_similarity):
        central = members[representative(vectors[members])]
        rest = [i for i in members if i != central]  # newest first, as the posts are
        items.append(
            KnowledgeGap(
                question=texts[central][:500],
                posts=len(members),
                example_post_ids=[posts[i].id for i in [central, *rest][:EXAMPLES]],
                last_post_at=max(posts[i].posted_at for i in members),
            )
        )
    items.sort(key=lambda g: (-g.posts, -g.last_post_at.timestamp()))
    return KnowledgeGaps(items=items[:limit], since=since)
