"""The vector index: the only module that knows Qdrant (local mode on disk, or a server by URL).

Features hand in plain vectors and payload dicts and get `VectorHit`s back. Every search is filtered by
brand (a tenant payload index on servers), so one brand never sees another's knowledge whatever the
caller passes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
from qdrant_client import AsyncQdrantClient, models

from service.config import Settings

DENSE = "dense"
_NAMESPACE = uuid.UUID("0f8b8a52-3b51-4c1e-9d0f-6d2f4b7f2a11")


def point_id(*parts: str) -> str:
    """Deterministic point ids: re-indexing the same thing overwrites instead of duplicating."""
    return str(uuid.uuid5(_NAMESPACE, "|".join(parts)))


@dataclass(frozen=True)
class VectorPoint:
    id: str
    vector: np.ndarray
    payload: dict[str, Any]


@dataclass(frozen=True)
class VectorHit:
    id: str
    score: float
    payload: dict[str, Any]


class VectorStore:
    def __init__(self, settings: Settings, dim: int) -> None:
        self.collection = settings.qdrant_collection
        self.dim = dim
        self.local = settings.qdrant_url is None
        if settings.qdrant_url:
            self._client = AsyncQdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key)
        elif settings.resolved_qdrant_path == ":memory:":
            self._client = AsyncQdrantClient(location=":memory:")
        else:
            self._client = AsyncQdrantClient(path=settings.resolved_qdrant_path)
        self._ready = False

    async def ensure_collection(self) -> None:
        if self._ready:
            return
        if not await self._client.collection_exists(self.collection):
            try:
                await self._client.create_collection(
                    self.collection,
                    vectors_config={
                        DENSE: models.VectorParams(size=self.dim, distance=models.Distance.COSINE)
                    },
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
                for field in ("document_id", "kind", "source_id"):
                    await self._client.create_payload_index(
                        self.collection, field, models.PayloadSchemaType.KEYWORD
                    )
        info = await self._client.get_collection(self.collection)
        vectors = info.config.params.vectors
        size = vectors[DENSE].size if isinstance(vectors, dict) else None
        if size != self.dim:
            raise RuntimeError(
                f"collection {self.collection!r} holds {size}-d vectors but the embedding model makes "
                f"{self.dim}-d ones: use another REPLY_QDRANT_COLLECTION or re-index"
            )
        self._ready = True

    async def upsert(self, points: list[VectorPoint]) -> None:
        if not points:
            return
        await self._client.upsert(
            self.collection,
            points=[
                models.PointStruct(id=p.id, vector={DENSE: p.vector.tolist()}, payload=p.payload)
                for p in points
            ],
            wait=True,
        )

    async def search(
        self,
        brand_id: str,
        vector: np.ndarray,
        *,
        limit: int,
        kinds: list[str] | None = None,
    ) -> list[VectorHit]:
        must: list[models.Condition] = [
            models.FieldCondition(key="brand_id", match=models.MatchValue(value=brand_id))
        ]
        if kinds:
            must.append(models.FieldCondition(key="kind", match=models.MatchAny(any=kinds)))
        response = await self._client.query_points(
            self.collection,
            query=vector.tolist(),
            using=DENSE,
            query_filter=models.Filter(must=must),
            limit=limit,
            with_payload=True,
        )
        return [VectorHit(str(p.id), float(p.score), dict(p.payload or {})) for p in response.points]

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

    async def count(self, brand_id: str | None = None) -> int:
        flt = None
        if brand_id:
            flt = models.Filter(
                must=[models.FieldCondition(key="brand_id", match=models.MatchValue(value=brand_id))]
            )
        return (await self._client.count(self.collection, count_filter=flt, exact=True)).count

    async def check(self) -> None:
        await self._client.get_collection(self.collection)

    async def close(self) -> None:
        await self._client.close()
