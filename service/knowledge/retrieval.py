"""Finding the brand's knowledge that answers a text: embed, search the vector index, keep what is live,
rank and calibrate (service.knowledge.ranking), and let a second model re-order the FAQ hits
(service.knowledge.rerank).

Which embedding answers: the English model when both the brand and the post are English, the
multilingual one otherwise, so a German post finds a German FAQ and an English post to a German brand
does too (measured in BENCHMARKS.md). Every point carries both, so the choice is made per query.

A document being replaced has points of two versions in the index for a moment; a hit counts only when
its version is the document's active one in the database, so a search sees the old or the new version,
never a mix. Hits of deleted documents drop out the same way, before their points are gone.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from service.adapters.embedder import Embedder, aencode_queries
from service.adapters.vectors import DENSE, MULTILINGUAL, SPARSE, VectorStore
from service.config import Settings
from service.knowledge import ranking, rerank, sparse
from service.knowledge.codes import mask_codes
from service.knowledge.ranking import Candidate
from service.models import Brand, Document
from service.runtime import Runtime
from service.text import strip_handles_and_links
from service.triage.language import detect_language


@dataclass(frozen=True)
class KnowledgeHit:
    source_id: str
    kind: str
    title: str
    text: str
    score: float  # calibrated confidence 0..1 (see ranking.CALIBRATIONS)
    url: str | None = None
    page: int | None = None
    question: str | None = None
    relevance: float = 0.0  # the uncalibrated similarity it was ranked by
    # the learned abstention (ranking.abstains) judged that no hit of this search answers the post: the
    # same on every hit of one search, which the writer then keeps as near misses only
    abstained: bool = False


def clean_text(text: str, language: str | None = None) -> str:
    """What gets embedded of a post: without @handles and links (`strip_handles_and_links`), then without
    codes and numbers (train lines, order and product numbers: `codes.mask_codes`; a line in the post's
    `language` becomes "Zug"/"train"), which pull a sentence embedding away from the entry that answers
    the question; the keyword query keeps them (`candidates`)."""
    return mask_codes(strip_handles_and_links(text), language)


def route(models: dict[str, Embedder], brand_language: str, post_language: str) -> str:
    if MULTILINGUAL in models and (brand_language != "en" or post_language != "en"):
        return MULTILINGUAL
    return DENSE


def keyword_weight(settings: Settings, brand_language: str, post_language: str) -> float:
    """Keywords only count when the post is in the knowledge's language (taken to be the brand's): an
    English post shares no words with a German FAQ, and a zero keyword score would only drag its
    cross-language match down."""
    return settings.retrieval_sparse_weight if post_language == brand_language else 0.0


async def candidates(
    vectors: VectorStore,
    embedder: Embedder,
    vector_name: str,
    brand_id: str,
    text: str,
    *,
    limit: int,
    kinds: list[str] | None = None,
    dense: np.ndarray | None = None,
    language: str | None = None,
) -> list[Candidate]:
    """The brand's points nearest to `text` by the named dense vector or by keywords, with both scores.
    The dense query leaves codes and numbers out (`clean_text`), the keyword query keeps them. `dense`:
    the text's query embedding by `embedder`, when the caller has it already."""
    if dense is None:
        dense = (await aencode_queries(embedder, [clean_text(text, language)]))[0]
    keywords = sparse.query_vector(strip_handles_and_links(text))
    hits = await vectors.search(brand_id, {vector_name: dense, SPARSE: keywords}, limit=limit, kinds=kinds)
    return [
        Candidate(
            source_id=str(h.payload["source_id"]),
            group=str(h.payload.get("group") or h.payload["source_id"]),
            dense=h.scores.get(vector_name, 0.0),
            sparse=sparse.coverage(h.scores.get(SPARSE, 0.0), keywords),
            payload=h.payload,
        )
        for h in hits
    ]


def rank(
    settings: Settings, embedder: Embedder, found: list[Candidate], *, sparse_weight: float
) -> list[ranking.Ranked]:
    return ranking.rank(
        found,
        sparse_weight=sparse_weight,
        vote_weight=settings.retrieval_vote_weight,
        calibration=ranking.calibration_for(embedder.name),
    )


async def _live(runtime: Runtime, found: list[Candidate]) -> list[Candidate]:
    doc_ids = {c.payload["document_id"] for c in found if c.payload.get("document_id")}
    active: dict[str, int | None] = {}
    if doc_ids:
        async with runtime.read() as session:
            rows = await session.execute(
                sa.select(Document.id, Document.active_version).where(Document.id.in_(doc_ids))
            )
            active = {row.id: row.active_version for row in rows}
    return [
        c
        for c in found
        if not (doc_id := c.payload.get("document_id"))
        or (doc_id in active and active[doc_id] == c.payload.get("version"))
    ]


async def search(
    runtime: Runtime,
    brand_id: str,
    query: str,
    *,
    limit: int = 5,
    kinds: list[str] | None = None,
    brand_language: str | None = None,
    language: str | None = None,
    vector: np.ndarray | None = None,
) -> list[KnowledgeHit]:
    """The brand's knowledge that answers `query`, best first. A post's workflow passes what triage found
    (its language, the brand's, and its embedding by the service model) so nothing is done twice."""
    if brand_language is None:
        async with runtime.read() as session:
            brand_language = (
                await session.scalar(sa.select(Brand.language).where(Brand.id == brand_id)) or "en"
            )
    if language is None:
        language = (await asyncio.to_thread(detect_language, query, brand_language)).language
    models = runtime.retrieval_models
    name = route(models, brand_language, language)
    found = await candidates(
        runtime.vectors,
        models[name],
        name,
        brand_id,
        query,
        limit=max(runtime.settings.retrieval_candidates, limit),
        kinds=kinds,
        dense=vector if name == DENSE else None,
        language=language,
    )
    weight = keyword_weight(runtime.settings, brand_language, language)
    ranked = rank(runtime.settings, models[name], await _live(runtime, found), sparse_weight=weight)
    if runtime.reranker is not None:
        opinion = await runtime.reranker.rerank(clean_text(query, language), ranked, sparse_weight=weight)
    else:
        opinion = rerank.Opinion(ranked)
    # the second opinion's abstention where it can tell, else the first list's (on the first list's order)
    judged = rerank.abstains(opinion, models[name].name)
    abstained = ranking.abstains(ranked, models[name].name) if judged is None else judged
    ranked = opinion.ranked
    return [
        KnowledgeHit(
            source_id=r.source_id,
            kind=str(r.payload.get("kind", "doc")),
            title=str(r.payload.get("title", "")),
            text=str(r.payload.get("text", "")),
            score=round(r.score, 4),
            url=r.payload.get("url"),
            page=r.payload.get("page"),
            question=r.payload.get("question"),
            relevance=round(r.relevance, 4),
            abstained=abstained,
        )
        for r in ranked[:limit]
    ]


async def source(runtime: Runtime, brand_id: str, source_id: str) -> KnowledgeHit | None:
    """One of the brand's sources by its id, as a draft cites it (FAQ entry, passage, past answer): what
    an agent opens to check the draft against. None once it is gone from the index."""
    payload = await runtime.vectors.source_payload(brand_id, source_id)
    if payload is None:
        return None
    return KnowledgeHit(
        source_id=source_id,
        kind=str(payload.get("kind") or "doc"),
        title=str(payload.get("title") or ""),
        text=str(payload.get("text") or ""),
        score=0.0,
        url=payload.get("url"),
        page=payload.get("page"),
        question=payload.get("question"),
    )
