"""The vector index: the only module features use for vectors, whatever engine holds them.

Engines (service.adapters.vector_engines): Qdrant Edge in this process (`REPLY_VECTOR_BACKEND=edge`, the
default), qdrant-client's local mode (`local`) or a Qdrant server or cluster (`server`, by
`REPLY_QDRANT_URL`). An embedded engine's folder belongs to one process: a second one is refused at
start (`FolderLock`); several replicas share a server.

Two collections. Knowledge (`REPLY_QDRANT_COLLECTION`) holds every brand's points, each with named
vectors: `dense` (the English embedding model), `dense_ml` (the multilingual one, when configured) and
`sparse` (keyword terms). Features hand in plain vectors and payload dicts and get `VectorHit`s back, each
with its score under every vector that was queried. Every search is filtered by brand (a tenant payload
index), so one brand never sees another's knowledge whatever the caller passes. Posts (the same name
with `_posts`) holds each triaged post's embedding by the service model, with its brand, author and time,
for incident grouping to ask for a post's neighbours (service.incidents.service).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import filelock
import numpy as np

from service.adapters.embedder import embedding_dim
from service.adapters.vector_engines import (
    SPARSE,
    ClientEngine,
    EdgeEngine,
    Engine,
    QueryVector,
    Schema,
    SchemaMismatch,
    SparseVector,
    VectorPoint,
    Where,
)
from service.config import Settings

__all__ = ["DENSE", "MULTILINGUAL", "SPARSE", "QueryVector", "SparseVector", "VectorHit", "VectorPoint"]

DENSE = "dense"
MULTILINGUAL = "dense_ml"
_NAMESPACE = uuid.UUID("0f8b8a52-3b51-4c1e-9d0f-6d2f4b7f2a11")
LOCK_FILE = "reply.lock"


def point_id(*parts: str) -> str:
    """Deterministic point ids: re-indexing the same thing overwrites instead of duplicating."""
    return str(uuid.uuid5(_NAMESPACE, "|".join(parts)))


@dataclass(frozen=True)
class VectorHit:
    """`scores` holds the point's score under each queried vector: cosine for dense ones, dot product for
    the sparse one (0.0 when the point shares no term with the query)."""

    id: str
    scores: dict[str, float]
    payload: dict[str, Any] = field(default_factory=dict)


def _similarity(query: QueryVector, stored: Any) -> float:
    """Cosine for a dense vector (both engines keep cosine vectors normalised), dot product for a sparse
    one."""
    if stored is None:
        return 0.0
    if isinstance(query, SparseVector):
        weights = dict(zip(stored.indices, stored.values, strict=True))
        return float(sum(v * weights.get(i, 0.0) for i, v in zip(query.indices, query.values, strict=True)))
    return float(np.dot(query, np.asarray(stored, dtype=np.float32)))


def epoch(moment: datetime) -> float:
    """Seconds since 1970 of a database time (naive ones are UTC, as the service stores them)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class FolderInUse(RuntimeError):
    pass


class FolderLock:
    """One process per embedded vector folder: an exclusive lock on `<folder>/reply.lock`, held until
    close. filelock (flock on Unix) rather than our own: the kernel drops it when a process dies, so a
    crash never leaves the folder locked. The holder's pid is written beside it for the message."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._lock = filelock.FileLock(str(folder / LOCK_FILE), timeout=0)
        self._owner = folder / "reply.lock.pid"

    def acquire(self) -> None:
        try:
            self._lock.acquire()
        except filelock.Timeout:
            try:
                holder = f" (process {self._owner.read_text().strip()})"
            except OSError:
                holder = ""
            raise FolderInUse(
                f"the vector folder {self.folder} is in use by another process{holder}: an embedded vector "
                "engine belongs to one process. Give each process its own REPLY_DATA_DIR (or "
                "REPLY_QDRANT_PATH), or share a Qdrant server with REPLY_QDRANT_URL"
            ) from None
        self._owner.write_text(str(os.getpid()))

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release()


class VectorStore:
    def __init__(self, settings: Settings, dim: int) -> None:
        self.collection = settings.qdrant_collection
        self.posts_collection = f"{settings.qdrant_collection}_posts"
        # The English model's size comes from the loaded model; the multilingual one's from its name.
        self.dims = {DENSE: dim}
        if settings.multilingual_embedding_model:
            self.dims[MULTILINGUAL] = embedding_dim(settings.multilingual_embedding_model)
        self.backend = settings.resolved_vector_backend
        self.local = self.backend != "server"
        path = settings.resolved_vector_path
        self._lock = FolderLock(Path(path)) if self.local and path != ":memory:" else None
        if self._lock is not None:
            self._lock.acquire()  # before the engine opens anything: a second process stops here
        self._engine: Engine
        try:
            if self.backend == "edge":
                self._engine = EdgeEngine(path)
            elif self.backend == "local":
                self._engine = ClientEngine(path=path)
            else:
                self._engine = ClientEngine(url=settings.qdrant_url, api_key=settings.qdrant_api_key)
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise
        self._ready = False

    @property
    def dim(self) -> int:
        return self.dims[DENSE]

    async def ensure_collection(self) -> None:
        if self._ready:
            return
        knowledge = Schema(
            dims=self.dims,
            sparse=True,
            keywords=("brand_id", "document_id", "kind", "source_id", "post_id"),
            tenant="brand_id",
            integers=("version",),
        )
        posts = Schema(
            dims={DENSE: self.dim},
            sparse=False,
            keywords=("brand_id", "model", "author", "post_id"),
            tenant="brand_id",
            floats=("posted_at",),
        )
        for name, schema in ((self.collection, knowledge), (self.posts_collection, posts)):
            try:
                await self._engine.open(name, schema)
            except SchemaMismatch as exc:
                sparse = " and a sparse vector" if schema.sparse else ""
                raise RuntimeError(
                    f"collection {name!r} was made for other vectors ({exc}), but the configured embedding "
                    f"models need {schema.dims}{sparse}: set another REPLY_QDRANT_COLLECTION to index into "
                    "a new collection"
                ) from exc
        self._ready = True

    async def upsert(self, points: list[VectorPoint]) -> None:
        if points:
            await self._engine.upsert(self.collection, points)

    async def search(
        self,
        brand_id: str,
        queries: Mapping[str, QueryVector],
        *,
        limit: int,
        kinds: list[str] | None = None,
    ) -> list[VectorHit]:
        """The union of each query vector's `limit` best points of the brand, each scored under every query
        vector. One request: the engine finds the candidates (a prefetch per vector, fused), and the
        candidates' own vectors come back with them so that every score is exact, not only the ones that
        ranked."""
        named = {n: q for n, q in queries.items() if not isinstance(q, SparseVector) or q}
        if not named:
            return []
        where = Where(equals={"brand_id": brand_id}, any_of={"kind": kinds} if kinds else {})
        found = await self._engine.fused(self.collection, named, where, limit)
        return [
            VectorHit(f.id, {n: _similarity(q, f.vectors.get(n)) for n, q in named.items()}, f.payload)
            for f in found
        ]

    async def delete(
        self,
        brand_id: str,
        *,
        document_id: str | None = None,
        keep_version: int | None = None,
        source_id: str | None = None,
        post_ids: list[str] | None = None,
    ) -> None:
        """Delete a brand's points matching the given fields (all of a document but one version, the past
        answers of some posts, ...)."""
        equals: dict[str, str | int] = {"brand_id": brand_id}
        if document_id is not None:
            equals["document_id"] = document_id
        if source_id is not None:
            equals["source_id"] = source_id
        if post_ids is not None:
            if not post_ids:
                return
            any_of = {"post_id": list(post_ids)}
        else:
            any_of = {}
        not_equal: dict[str, str | int] = {} if keep_version is None else {"version": keep_version}
        await self._engine.delete(self.collection, Where(equals=equals, any_of=any_of, not_equal=not_equal))

    async def source_payload(self, brand_id: str, source_id: str) -> dict[str, Any] | None:
        """The stored payload (title, text, url, ...) of one of a brand's sources, or None."""
        where = Where(equals={"brand_id": brand_id, "source_id": source_id})
        return await self._engine.first_payload(self.collection, where)

    async def count(self, brand_id: str | None = None, *, document_id: str | None = None) -> int:
        equals: dict[str, str | int] = {}
        if brand_id:
            equals["brand_id"] = brand_id
        if document_id:
            equals["document_id"] = document_id
        return await self._engine.count(self.collection, Where(equals=equals) if equals else None)

    # ---- posts, for incident grouping

    @staticmethod
    def post_point(
        post_id: str, brand_id: str, vector: np.ndarray, model: str, author: str, posted_at: datetime
    ) -> VectorPoint:
        payload = {
            "post_id": post_id,
            "brand_id": brand_id,
            "model": model,
            "author": author,
            "posted_at": epoch(posted_at),
        }
        return VectorPoint(point_id("post", post_id), {DENSE: vector}, payload)

    async def upsert_posts(self, points: Sequence[VectorPoint]) -> None:
        if points:
            await self._engine.upsert(self.posts_collection, points)

    async def delete_posts(self, brand_id: str, post_ids: Sequence[str]) -> None:
        """Forget posts' vectors (an author's erasure): their incident neighbours index entries."""
        if post_ids:
            where = Where(equals={"brand_id": brand_id}, any_of={"post_id": list(post_ids)})
            await self._engine.delete(self.posts_collection, where)

    @staticmethod
    def _posts_where(
        brand_id: str,
        model: str,
        since: datetime,
        until: datetime,
        *,
        not_post: str,
        not_author: str | None = None,
    ) -> Where:
        not_equal: dict[str, str | int] = {"post_id": not_post}
        if not_author is not None:
            not_equal["author"] = not_author
        return Where(
            equals={"brand_id": brand_id, "model": model},
            not_equal=not_equal,
            ranges={"posted_at": (epoch(since), epoch(until))},
        )

    async def count_posts(
        self, brand_id: str, model: str, since: datetime, until: datetime, *, not_post: str
    ) -> int:
        where = self._posts_where(brand_id, model, since, until, not_post=not_post)
        return await self._engine.count(self.posts_collection, where)

    async def posts_missing(self, post_ids: Sequence[str]) -> list[str]:
        """Which of these posts are not in the index (ids as the database has them)."""
        ids = {point_id("post", p): p for p in post_ids}
        present = await self._engine.present(self.posts_collection, list(ids))
        return [p for key, p in ids.items() if key not in present]

    async def post_neighbours(
        self,
        brand_id: str,
        vector: np.ndarray,
        *,
        model: str,
        since: datetime,
        until: datetime,
        not_post: str,
        not_author: str,
        threshold: float,
        limit: int,
    ) -> list[VectorHit]:
        """The brand's posts by `model` posted in [since, until], by others than `not_author`, whose cosine
        with `vector` is at least `threshold`: best first, at most `limit`."""
        where = self._posts_where(brand_id, model, since, until, not_post=not_post, not_author=not_author)
        found = await self._engine.nearest(self.posts_collection, DENSE, vector, where, limit, threshold)
        return [VectorHit(f.id, {DENSE: f.score}, f.payload) for f in found]

    async def check(self) -> None:
        await self._engine.check(self.collection)

    async def close(self) -> None:
        try:
            await self._engine.close()
        finally:
            if self._lock is not None:
                self._lock.release()
