"""Erasing an author: every post of theirs in a brand and everything made from it, from the database and
from Qdrant, by a durable job.

The request stores the erasure (the handle, kept only until the job no longer needs it), its audit entry
("erase", target: the channel and a hash of the handle, never the handle) and the job, in one transaction.

The job works in two steps, each safe to run again:
1. one database transaction: the author's posts go, with their drafts (every generation, with its edits),
   their outbox events (pending ones too: no reply for an erased post is ever sent; a delivery job whose
   event is gone just finishes), the jobs about them, the Idempotency-Key answers that name them, and the
   text they left elsewhere: audit before/after of their drafts, or holding their text or handle, become
   `{"erased": true}`; other drafts' sources that quoted their past answer lose its title; an incident
   titled with their words takes another member's post as its title (or goes, left empty). The erasure
   then keeps the posts' ids (ids only) for step 2 and drops the handle.
2. Qdrant: the past answers of those posts are deleted by post id, then the erasure is `done`.
A learn_answer job that embedded one of the posts during step 1 checks, after writing its points, that
its draft still exists, and deletes them if not (knowledge/service.py learn_answer).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import service as audit
from service.auth.keys import Principal
from service.errors import InvalidInput, NotFound
from service.incidents.service import _recount, _title
from service.jobs import queue
from service.models import (
    AuditEntry,
    Brand,
    Draft,
    Erasure,
    Event,
    IdempotencyRecord,
    Incident,
    Job,
    Post,
    utcnow,
)
from service.runtime import Runtime

log = structlog.get_logger("service.erasure")
KIND = "erase_author"
BATCH = 500


def normalize_handle(handle: str) -> str:
    return handle.strip().lstrip("@").strip().lower()


def handle_hash(channel: str, handle: str) -> str:
    return hashlib.sha256(f"{channel}\n{normalize_handle(handle)}".encode()).hexdigest()


async def request(
    session: AsyncSession, principal: Principal, brand: Brand, channel: str, handle: str
) -> Erasure:
    normalized = normalize_handle(handle)
    if not normalized:
        raise InvalidInput(
            "handle must name an author (more than an @)", errors=[{"field": "handle", "message": "empty"}]
        )
    digest = handle_hash(channel, normalized)
    erasure = Erasure(
        brand_id=brand.id,
        channel=channel,
        handle=normalized,
        handle_hash=digest,
        status="pending",
        posts_deleted=0,
        post_ids=[],
        requested_by=principal.key_id,
    )
    session.add(erasure)
    await session.flush()
    audit.record(
        session,
        principal,
        "erase",
        f"author:{channel}:{digest}",
        brand_id=brand.id,
        after={"erasure_id": erasure.id, "channel": channel, "handle_sha256": digest},
    )
    queue.enqueue(session, KIND, {"erasure_id": erasure.id}, max_attempts=50)
    return erasure


async def get(session: AsyncSession, brand: Brand, erasure_id: str) -> Erasure:
    erasure = await session.get(Erasure, erasure_id)
    if erasure is None or erasure.brand_id != brand.id:
        raise NotFound(f"no erasure '{erasure_id}' in brand '{brand.slug}'")
    return erasure


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)] + [str(k) for k in value]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _names(value: Any, needles: list[str]) -> bool:
    """Whether any string in a JSON value holds one of the (lower-case) needles."""
    return any(n in s.lower() for s in _strings(value) for n in needles)


def _needles(handle: str, texts: list[str], ids: list[str]) -> list[str]:
    found = {handle, *ids, *(t.strip().lower() for t in texts)}
    return sorted(n for n in found if len(n) >= 3)  # a one-letter text would match everything


async def _delete_database_rows(session: AsyncSession, erasure: Erasure) -> list[str]:
    handle = erasure.handle or ""
    author = sa.func.lower(sa.func.ltrim(sa.func.trim(Post.author["handle"].as_string()), "@"))
    posts = (
        await session.execute(
            sa.select(Post.id, Post.text, Post.incident_id).where(
                Post.brand_id == erasure.brand_id, Post.channel == erasure.channel, author == handle
            )
        )
    ).all()
    post_ids = [p.id for p in posts]
    texts = [p.text for p in posts]
    drafts = (await session.execute(sa.select(Draft.id, Draft.text).where(Draft.post_id.in_(post_ids)))).all()
    draft_ids = [d.id for d in drafts]
    texts += [d.text for d in drafts]  # a reply to them can quote them or greet them by name
    incident_ids = {p.incident_id for p in posts if p.incident_id}
    needles = _needles(handle, [p.text for p in posts], post_ids + draft_ids)

    if post_ids:
        await session.execute(
            sa.delete(Event).where(Event.brand_id == erasure.brand_id, Event.post_id.in_(post_ids))
        )
        refs = sa.or_(
            Job.payload["post_id"].as_string().in_(post_ids),
            Job.payload["draft_id"].as_string().in_(draft_ids),
        )
        # a running job is left to finish: it finds its post gone (and its lease must stay its own)
        await session.execute(sa.delete(Job).where(refs, Job.status != "running"))
        await _scrub_idempotency(session, needles)
        await _scrub_audit(session, erasure.brand_id, draft_ids + post_ids, needles)
        await _scrub_sources(session, erasure.brand_id, draft_ids)
        await session.execute(sa.delete(Draft).where(Draft.post_id.in_(post_ids)))
        await session.execute(sa.delete(Post).where(Post.id.in_(post_ids)))
        await _retitle_incidents(session, incident_ids, texts)
    erasure.post_ids = post_ids
    erasure.posts_deleted = len(post_ids)
    erasure.handle = None
    await session.flush()
    return post_ids


async def _scrub_idempotency(session: AsyncSession, needles: list[str]) -> None:
    """Stored answers that name an erased post, draft, handle or text go (a replay would show them)."""
    last = 0
    while True:
        rows = (
            await session.execute(
                sa.select(IdempotencyRecord.id, IdempotencyRecord.response_body)
                .where(IdempotencyRecord.id > last)
                .order_by(IdempotencyRecord.id)
                .limit(BATCH)
            )
        ).all()
        if not rows:
            return
        last = rows[-1].id
        doomed = []
        for row in rows:
            body = (row.response_body or b"").decode("utf-8", "replace").lower()
            try:  # JSON escapes (\u00e9, \") hide text from a plain search: look at the decoded values too
                decoded = json.loads(body) if body else None
            except ValueError:
                decoded = None
            if any(n in body for n in needles) or _names(decoded, needles):
                doomed.append(row.id)
        if doomed:
            await session.execute(sa.delete(IdempotencyRecord).where(IdempotencyRecord.id.in_(doomed)))


async def _scrub_audit(session: AsyncSession, brand_id: str, targets: list[str], needles: list[str]) -> None:
    about = {f"draft:{t}" for t in targets} | {f"post:{t}" for t in targets}
    last = 0
    while True:
        rows = (
            (
                await session.execute(
                    sa.select(AuditEntry)
                    .where(
                        sa.or_(AuditEntry.brand_id == brand_id, AuditEntry.brand_id.is_(None)),
                        AuditEntry.id > last,
                        sa.or_(AuditEntry.before.isnot(None), AuditEntry.after.isnot(None)),
                    )
                    .order_by(AuditEntry.id)
                    .limit(BATCH)
                )
            )
            .scalars()
            .all()
        )
        if not rows:
            return
        last = rows[-1].id
        for entry in rows:
            if entry.before == audit.ERASED and entry.after in (audit.ERASED, None):
                continue
            if entry.target in about or _names(entry.before, needles) or _names(entry.after, needles):
                entry.before = audit.ERASED if entry.before is not None else None
                entry.after = audit.ERASED if entry.after is not None else None


async def _scrub_sources(session: AsyncSession, brand_id: str, draft_ids: list[str]) -> None:
    """Other posts' drafts that were grounded on an erased past answer keep the reference, not its title
    (the title is the erased post's text). One pass over the brand's drafts that cite any past answer."""
    erased = {f"past:{d}" for d in draft_ids}
    if not erased:
        return
    rows = (
        await session.scalars(
            sa.select(Draft)
            .join(Post, Post.id == Draft.post_id)
            .where(Post.brand_id == brand_id, sa.cast(Draft.sources, sa.Text).contains("past:"))
        )
    ).all()
    for row in rows:
        if any(isinstance(s, dict) and s.get("source_id") in erased for s in row.sources):
            row.sources = [
                {**s, "title": ""} if isinstance(s, dict) and s.get("source_id") in erased else s
                for s in row.sources
            ]


async def _retitle_incidents(session: AsyncSession, incident_ids: set[str], texts: list[str]) -> None:
    erased_titles = {_title(t) for t in texts}
    for incident_id in incident_ids:
        incident = await session.get(Incident, incident_id)
        if incident is None:
            continue
        remaining = (
            await session.scalars(
                sa.select(Post.text).where(Post.incident_id == incident_id).order_by(Post.posted_at).limit(1)
            )
        ).first()
        if remaining is None:
            await session.delete(incident)
            continue
        if incident.title in erased_titles or any(t.strip() and t.strip() in incident.title for t in texts):
            incident.title = _title(remaining)
        await _recount(session, incident)


async def erase_author(runtime: Runtime, lease: queue.Lease) -> None:
    erasure_id = lease.payload["erasure_id"]
    async with runtime.transaction() as session:
        erasure = await session.get(Erasure, erasure_id)
        if erasure is None or erasure.status == "done":
            await queue.complete(session, lease)
            return
        if erasure.handle is not None:  # step 1 not done yet (a retry after step 1 skips it)
            await _delete_database_rows(session, erasure)
        brand_id, post_ids = erasure.brand_id, list(erasure.post_ids or [])
        if not await queue.extend(session, lease, runtime.settings.job_lease_s):
            raise queue.LeaseLost(lease.id)
    await runtime.vectors.delete(brand_id, post_ids=post_ids)
    async with runtime.transaction() as session:
        erasure = await session.get(Erasure, erasure_id)
        assert erasure is not None
        erasure.status, erasure.finished_at, erasure.post_ids = "done", utcnow(), []
        if not await queue.complete(session, lease):
            raise queue.LeaseLost(lease.id)
    log.info("author erased", erasure_id=erasure_id, posts_deleted=len(post_ids))
