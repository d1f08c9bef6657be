"""The vector index: the only module that knows Qdrant (local mode on disk, or a server by URL).

One collection holds every brand's points, each with named vectors: `dense` (the English embedding
model), `dense_ml` (the multilingual one, when configured) and `sparse` (keyword terms). Features hand in
plain vectors and payload dicts and get `VectorHit`s back, each with its score under every vector that was
queried. Every search is filtered by brand (a tenant payload index on servers), so one brand never sees
another's knowledge whatever the caller passes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from qdrant_client import AsyncQdrantClient, models

from service.adapters.embedder import embedding_dim
from service.config import Settings

DENSE = "dense"
MULTILINGUAL = "dense_ml"
SPARSE = "sparse"
_NAMESPACE = uuid.UUID("0f8b8a52-3b51-4c1e-9d0f-6d2f4b7f2a11")


def point_id(*parts: str) -> str:
    """Deterministic point ids: re-indexing the same thing overwrites instead of duplicating."""
    return str(uuid.uuid5(_NAMESPACE, "|".join(parts)))


@dataclass(frozen=True)
class SparseVector:
    """Term ids and weights (see service.knowledge.sparse); scored by dot product."""

    indices: list[int]
    values: list[float]

    def __bool__(self) -> bool:
        return bool(self.indices)


@dataclass(frozen=True)
class VectorPoint:
    id: str
    vectors: Mapping[str, np.ndarray]
    payload: dict[str, Any]
    sparse: SparseVector | None = None


@dataclass(frozen=True)
class VectorHit:
    """`scores` holds the point's score under each queried vector: cosine for dense ones, dot product for
    the sparse one (0.0 when the point shares no term with the query)."""

    id: str
    scores: dict[str, float]
    payload: dict[str, Any] = field(default_factory=dict)


QueryVector = np.ndarray | SparseVector


def _similarity(query: QueryVector, stored: Any) -> float:
    """Cosine for a dense vector (Qdrant keeps cosine vectors normalised), dot product for a sparse one."""
    if stored is None:
        return 0.0
    if isinstance(query, SparseVector):
        weights = dict(zip(stored.indices, stored.values, strict=True))
        return float(sum(v * weights.get(i, 0.0) for i, v in zip(query.indices, query.values, strict=True)))
    return float(np.dot(query, np.asarray(stored, dtype=np.float32)))


class VectorStore:
    def __init__(self, settings: Settings, dim: int) -> None:
        self.collection = settings.qdrant_collection
        # The English model's size comes from the loaded model; the multilingual one's from its name.
        self.dims = {DENSE: dim}
        if settings.multilingual_embedding_model:
            self.dims[MULTILINGUAL] = embedding_dim(settings.multilingual_embedding_model)
        self.local = settings.qdrant_url is None
        if settings.qdrant_url:
            self._client = AsyncQdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key)
        elif settings.resolved_qdrant_path == ":memory:":
            self._client = AsyncQdrantClient(location=":memory:")
        else:
            self._client = AsyncQdrantClient(path=settings.resolved_qdrant_path)
        self._ready = False

    @property
    def dim(self) -> int:
        return self.dims[DENSE]

    async def ensure_collection(self) -> None:
        if self._ready:
            return
        if not await self._client.collection_exists(self.collection):
            try:
                await self._client.create_collection(
                    self.collection,
                    vectors_config={
                        name: models.VectorParams(size=size, distance=models.Distance.COSINE)
                        for name, size in self.dims.items()
                    },
                    sparse_vectors_config={SPARSE: models.SparseVectorParams()},
                )
            except Exception:
                # Another replica created it between our check and our create.
                if not await self._client.collection_exists(self.collection):
                    raise
            if not self.local:
                await self._client.create_payload_index(
                    self.collection,
                    "brand_id",
                    models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
                )
                for field_name in ("document_id", "kind", "source_id"):
                    await self._client.create_payload_index(
                        self.collection, field_name, models.PayloadSchemaType.KEYWORD
                    )
        info = await self._client.get_collection(self.collection)
        vectors = info.config.params.vectors
        have = {n: v.size for n, v in vectors.items()} if isinstance(vectors, dict) else {}
        sparse = info.config.params.sparse_vectors or {}
        wrong = [f"{n}: {have.get(n)} (needs {d})" for n, d in self.dims.items() if have.get(n) != d]
        if wrong or SPARSE not in sparse:
            found = ", ".join(f"{n} {s}-d" for n, s in have.items()) or "no named dense vectors"
            raise RuntimeError(
                f"collection {self.collection!r} has {found} and {'a' if SPARSE in sparse else 'no'} sparse "
                f"vector, but the configured embedding models need {self.dims} and a sparse vector: set "
                "another REPLY_QDRANT_COLLECTION to index into a new collection"
            )
        self._ready = True

    async def upsert(self, points: list[VectorPoint]) -> None:
        if not points:
            return
        structs = []
        for p in points:
            vector: dict[str, Any] = {name: v.tolist() for name, v in p.vectors.items() if name in self.dims}
            if p.sparse:
                vector[SPARSE] = models.SparseVector(indices=p.sparse.indices, values=p.sparse.values)
            structs.append(models.PointStruct(id=p.id, vector=vector, payload=p.payload))
        await self._client.upsert(self.collection, points=structs, wait=True)

    async def search(
        self,
        brand_id: str,
        queries: Mapping[str, QueryVector],
        *,
        limit: int,
        kinds: list[str] | None = None,
    ) -> list[VectorHit]:
        """The union of each query vector's `limit` best points of the brand, each scored under every query
        vector. One request: Qdrant finds the candidates (a prefetch per vector, fused), and the candidates'
        own vectors come back with them so that every score is exact, not only the ones that ranked."""
        names = [n for n, q in queries.items() if not isinstance(q, SparseVector) or q]
        if not names:
            return []
        flt = self._filter(brand_id, kinds)
        prefetch = [
            models.Prefetch(query=self._query(queries[n]), using=n, filter=flt, limit=limit) for n in names
        ]
        response = await self._client.query_points(
            self.collection,
            prefetch=prefetch,
            query=models.FusionQuery(fusion=models.Fusion.RRF),
            limit=limit * len(names),
            with_payload=True,
            with_vectors=names,
        )
        hits = []
        for p in response.points:
            stored = p.vector if isinstance(p.vector, dict) else {}
            scores = {n: _similarity(queries[n], stored.get(n)) for n in names}
            hits.append(VectorHit(str(p.id), scores, dict(p.payload or {})))
        return hits

    @staticmethod
    def _filter(brand_id: str, kinds: list[str] | None) -> models.Filter:
        must: list[models.Condition] = [
            models.FieldCondition(key="brand_id", match=models.MatchValue(value=brand_id))
        ]
        if kinds:
            must.append(models.FieldCondition(key="kind", match=models.MatchAny(any=kinds)))
        return models.Filter(must=must)

    @staticmethod
    def _query(query: QueryVector) -> Any:
        if isinstance(query, SparseVector):
            return models.SparseVector(indices=query.indices, values=query.values)
        return query.tolist()

    async def delete(
        self,
        brand_id: str,
        *,
        document_id: str | None = None,
        keep_version: int | None = None,
        source_id: str | None = None,
    ) -> None:
        """Delete a brand's points matching the given fields (all of a document but one version, ...)."""
        must: list[models.Condition] = [
            models.FieldCondition(key="brand_id", match=models.MatchValue(value=brand_id))
        ]
        must_not: list[models.Condition] = []
        if document_id is not None:
            must.append(models.FieldCondition(key="document_id", match=models.MatchValue(value=document_id)))
        if source_id is not None:
            must.append(models.FieldCondition(key="source_id", match=models.MatchValue(value=source_id)))
        if keep_version is not None:
            must_not.append(models.FieldCondition(key="version", match=models.MatchValue(value=keep_version)))
        await self._client.delete(
            self.collection,
            points_selector=models.FilterSelector(filter=models.Filter(must=must, must_not=must_not)),
            wait=True,
        )

    async def source_payload(self, brand_id: str, source_id: str) -> dict[str, Any] | None:
        """The stored payload (title, text, url, ...) of one of a brand's sources, or None."""
        must: list[models.Condition] = [
            models.FieldCondition(key="brand_id", match=models.MatchValue(value=brand_id)),
            models.FieldCondition(key="source_id", match=models.MatchValue(value=source_id)),
        ]
        points, _ = await self._client.scroll(
            self.collection, scroll_filter=models.Filter(must=must), limit=1, with_payload=True
        )
        return dict(points[0].payload or {}) if points else None

    async def count(self, brand_id: str | None = None, *, document_id: str | None = None) -> int:
        must: list[models.Condition] = []
        if brand_id:
            must.append(models.FieldCondition(key="brand_id", match=models.MatchValue(value=brand_id)))
        if document_id:
            must.append(models.FieldCondition(key="document_id", match=models.MatchValue(value=document_id)))
        flt = models.Filter(must=must) if must else None
        return (await self._client.count(self.collection, count_filter=flt, exact=True)).count

    async def check(self) -> None:
        await self._client.get_collection(self.collection)

    async def close(self) -> None:
        await self._client.close()
