"""Review by an agent: edit, approve, reject, regenerate, each guarded by the draft's version (If-Match).

Approval is the only way a reply leaves the service: the approving transaction writes the
`reply.approved` outbox event and the job that turns the reply into a past answer.

Every edit and approval records how far the text moved from what was generated (`edit`: Levenshtein
distance, similarity, unified diff), for analytics and for learning which drafts agents accept as they
are. Regenerating keeps every generation: `versions` lists them, oldest first.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

import sqlalchemy as sa
from rapidfuzz.distance import Levenshtein
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import service as audit
from service.auth.keys import Principal
from service.drafts.schemas import MAX_REPLY_CHARS
from service.errors import Conflict, InvalidInput, NotFound, PreconditionRequired
from service.events import schemas as events
from service.events.outbox import emit
from service.jobs import queue
from service.models import Brand, Draft, Post, utcnow


def parse_if_match(header: str | None, *, required: bool) -> int | None:
    if header is None or not header.strip():
        if required:
            raise PreconditionRequired(
                "send If-Match with the draft's current version (from GET /v1/drafts/{id})"
            )
        return None
    # at most 9 digits: a version fits the database's integer, and the OpenAPI pattern says the same
    match = re.fullmatch(r'\s*(?:W/)?"?(\d{1,9})"?\s*', header)
    if match is None:
        raise InvalidInput(
            f"If-Match must be the draft version number, got {header[:40]!r}",
            errors=[{"field": "If-Match", "message": "a draft version number"}],
        )
    return int(match.group(1))


async def load(session: AsyncSession, principal: Principal, draft_id: str) -> tuple[Draft, Post, Brand]:
    row = (
        await session.execute(
            sa.select(Draft, Post, Brand)
            .join(Post, Post.id == Draft.post_id)
            .join(Brand, Brand.id == Post.brand_id)
            .where(Draft.id == draft_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"no draft '{draft_id}'")
    draft, post, brand = row
    principal.ensure_brand(brand.slug)
    return draft, post, brand


def _check_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise InvalidInput("text must not be empty", errors=[{"field": "text", "message": "empty"}])
    if len(text) > MAX_REPLY_CHARS:
        raise InvalidInput(
            f"text is longer than {MAX_REPLY_CHARS} characters",
            errors=[{"field": "text", "message": "too long"}],
        )
    return text


async def _bump(session: AsyncSession, draft: Draft, version: int | None, **values: object) -> None:
    """Change a pending draft only if nobody changed it since `version` (optimistic locking)."""
    stmt = sa.update(Draft).where(Draft.id == draft.id, Draft.status == "pending")
    if version is not None:
        stmt = stmt.where(Draft.version == version)
    result = await session.execute(
        stmt.values(version=Draft.version + 1, updated_at=utcnow(), **values).execution_options(
            synchronize_session=False
        )
    )
    if not getattr(result, "rowcount", 0):
        current = await session.scalar(sa.select(Draft.version).where(Draft.id == draft.id))
        status = await session.scalar(sa.select(Draft.status).where(Draft.id == draft.id))
        if status != "pending":
            raise Conflict(f"draft is '{status}', not pending")
        raise Conflict(f"draft changed: your version is {version}, the current one is {current}; reload it")
    await session.refresh(draft)


def edit_record(generated: str, current: str) -> dict[str, Any]:
    """How the agent changed the generated text: distance, similarity and the diff."""
    diff = difflib.unified_diff(
        generated.splitlines(), current.splitlines(), "generated", "current", lineterm="", n=1
    )
    return {
        "distance": Levenshtein.distance(generated, current),
        "ratio": round(Levenshtein.normalized_similarity(generated, current), 4),
        "unchanged": generated == current,
        "diff": "\n".join(diff),
    }


async def edit(
    session: AsyncSession, principal: Principal, draft_id: str, text: str, version: int | None
) -> Draft:
    draft, _, brand = await load(session, principal, draft_id)
    text = _check_text(text)
    change = edit_record(draft.generated_text or draft.text, text)
    before = {"text": draft.text, "version": draft.version}
    await _bump(session, draft, version, text=text, edit=change)
    after = {"text": draft.text, "version": draft.version}
    audit.record(
        session, principal, "edit", f"draft:{draft.id}", brand_id=brand.id, before=before, after=after
    )
    return draft


async def versions(session: AsyncSession, principal: Principal, draft_id: str) -> list[Draft]:
    """Every generation of the draft's post, oldest first (regenerations supersede, never delete)."""
    draft, _, _ = await load(session, principal, draft_id)
    rows = await session.scalars(
        sa.select(Draft).where(Draft.post_id == draft.post_id).order_by(Draft.generation)
    )
    return list(rows)


async def approve(
    session: AsyncSession, principal: Principal, draft_id: str, text: str | None, version: int | None
) -> Draft:
    draft, post, brand = await load(session, principal, draft_id)
    values: dict[str, object] = {"status": "approved", "decided_by": principal.key_id, "decided_at": utcnow()}
    final = draft.text
    if text is not None:
        final = _check_text(text)
        values["text"] = final
    values["edit"] = edit_record(draft.generated_text or draft.text, final)
    before = {"status": draft.status, "text": draft.text, "version": draft.version}
    await _bump(session, draft, version, **values)
    post.status = "approved"
    audit.record(
        session,
        principal,
        "approve",
        f"draft:{draft.id}",
        brand_id=brand.id,
        before=before,
        after={"status": draft.status, "text": draft.text, "version": draft.version},
    )
    emit(session, brand, "reply.approved", events.reply_approved(brand, post, draft))
    queue.enqueue(session, "learn_answer", {"draft_id": draft.id})
    return draft


async def reject(session: AsyncSession, principal: Principal, draft_id: str, reason: str) -> Draft:
    draft, post, brand = await load(session, principal, draft_id)
    before = {"status": draft.status, "version": draft.version}
    await _bump(
        session,
        draft,
        None,
        status="rejected",
        reject_reason=reason,
        decided_by=principal.key_id,
        decided_at=utcnow(),
    )
    post.status = "rejected"
    audit.record(
        session,
        principal,
        "reject",
        f"draft:{draft.id}",
        brand_id=brand.id,
        before=before,
        after={"status": draft.status, "reason": reason, "version": draft.version},
    )
    return draft


async def regenerate(
    session: AsyncSession, principal: Principal, draft_id: str, instruction: str | None, version: int | None
) -> Post:
    draft, post, brand = await load(session, principal, draft_id)
    if draft.status != "pending" or post.status != "drafted":
        raise Conflict(f"draft is '{draft.status}'; only a pending draft can be regenerated")
    if version is not None and version != draft.version:
        raise Conflict(f"draft changed: your version is {version}, the current one is {draft.version}")
    generation = (
        await session.scalar(sa.select(sa.func.max(Draft.generation)).where(Draft.post_id == post.id)) or 0
    ) + 1
    post.status = "triaged"
    queue.enqueue(
        session, "draft_post", {"post_id": post.id, "generation": generation, "instruction": instruction}
    )
    audit.record(
        session,
        principal,
        "regenerate",
        f"draft:{draft.id}",
        brand_id=brand.id,
        before={"generation": draft.generation},
        after={"generation": generation, "instruction": instruction},
    )
    return post
