"""Finding the brand's knowledge that answers a text: embed, search the vector index, keep what is live.

A document being replaced has points of two versions in the index for a moment; a hit counts only when
its version is the document's active one in the database, so a search sees the old or the new version,
never a mix. Hits of deleted documents drop out the same way, before their points are gone.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from service.adapters.embedder import aencode
from service.models import Document
from service.runtime import Runtime


@dataclass(frozen=True)
class KnowledgeHit:
    source_id: str
    kind: str
    title: str
    text: str
    score: float
    url: str | None = None
    page: int | None = None
    question: str | None = None


async def search(
    runtime: Runtime, brand_id: str, query: str, *, limit: int = 5, kinds: list[str] | None = None
) -> list[KnowledgeHit]:
    vector = (await aencode(runtime.embedder, [query]))[0]
    raw = await runtime.vectors.search(brand_id, vector, limit=limit * 3 + 10, kinds=kinds)
    doc_ids = {h.payload["document_id"] for h in raw if h.payload.get("document_id")}
    active: dict[str, int | None] = {}
    if doc_ids:
        async with runtime.sessionmaker() as session:
            rows = await session.execute(
                sa.select(Document.id, Document.active_version).where(Document.id.in_(doc_ids))
            )
            active = {row.id: row.active_version for row in rows}
    best: dict[str, KnowledgeHit] = {}
    for hit in raw:
        payload = hit.payload
        doc_id = payload.get("document_id")
        if doc_id and (doc_id not in active or active[doc_id] != payload.get("version")):
            continue
        source_id = str(payload["source_id"])
        if source_id in best:  # one entry may be indexed several ways; keep its best score
            continue
        best[source_id] = KnowledgeHit(
            source_id=source_id,
            kind=str(payload.get("kind", "doc")),
            title=str(payload.get("title", "")),
            text=str(payload.get("text", "")),
            score=round(max(0.0, min(1.0, hit.score)), 4),
            url=payload.get("url"),
            page=payload.get("page"),
            question=payload.get("question"),
        )
        if len(best) == limit:
            break
    return list(best.values())
