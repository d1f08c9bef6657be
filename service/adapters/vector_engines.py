"""The two vector engines behind `service.adapters.vectors.VectorStore`, the only code that knows them.

`EdgeEngine`: Qdrant Edge (qdrant-edge-py), Qdrant's Rust engine in this process, one shard folder per
collection: filters and scores in Rust (measured in BENCHMARKS.md, issue 14), the embedded default.
`ClientEngine`: qdrant-client, for a Qdrant server or cluster by URL, or its local mode on disk (which
filters and scores point by point in Python: fine for a few thousand points, not for tens of thousands).

Both take the same engine-neutral requests (`Where`, named queries) and hand back plain ids, payloads
and vectors, so features never see an engine's objects.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

SPARSE = "sparse"


@dataclass(frozen=True)
class SparseVector:
    """Term ids and weights (see service.knowledge.sparse); scored by dot product."""

    indices: list[int]
    values: list[float]

    def __bool__(self) -> bool:
        return bool(self.indices)


QueryVector = np.ndarray | SparseVector


@dataclass(frozen=True)
class VectorPoint:
    id: str
    vectors: Mapping[str, np.ndarray]
    payload: dict[str, Any]
    sparse: SparseVector | None = None


@dataclass(frozen=True)
class Where:
    """A payload filter: every `equals` and `any_of` holds, no `not_equal` does, each range holds."""

    equals: dict[str, str | int] = field(default_factory=dict)
    any_of: dict[str, list[str]] = field(default_factory=dict)
    not_equal: dict[str, str | int] = field(default_factory=dict)
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)  # gte, lte


@dataclass(frozen=True)
class Found:
    """A point as an engine returns it: `score` the engine's own (a fusion rank, or a cosine), `vectors`
    the stored vectors asked for (dense as lists, sparse as objects with indices and values)."""

    id: str
    score: float
    payload: dict[str, Any]
    vectors: dict[str, Any]


@dataclass(frozen=True)
class Schema:
    """What a collection holds: dense vector sizes by name, a sparse vector or not, indexed payload fields."""

    dims: dict[str, int]
    sparse: bool
    keywords: tuple[str, ...] = ()
    tenant: str | None = None  # the keyword field that separates tenants (brands)
    integers: tuple[str, ...] = ()
    floats: tuple[str, ...] = ()


class SchemaMismatch(RuntimeError):
    """An existing collection was made for other vectors (another embedding model)."""


class Engine(Protocol):
    local: bool

    async def open(self, collection: str, schema: Schema) -> None: ...
    async def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None: ...
    async def fused(
        self, collection: str, queries: Mapping[str, QueryVector], where: Where, limit: int
    ) -> list[Found]: ...
    async def nearest(
        self,
        collection: str,
        name: str,
        vector: np.ndarray,
        where: Where,
        limit: int,
        threshold: float | None = None,
    ) -> list[Found]: ...
    async def delete(self, collection: str, where: Where) -> None: ...
    async def count(self, collection: str, where: Where | None) -> int: ...
    async def first_payload(self, collection: str, where: Where) -> dict[str, Any] | None: ...
    async def present(self, collection: str, ids: Sequence[str]) -> set[str]: ...
    async def check(self, collection: str) -> None: ...
    async def close(self) -> None: ...


def _query_list(vector: np.ndarray) -> list[float]:
    return np.asarray(vector, dtype=np.float32).tolist()  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------- edge


class EdgeEngine:
    """Qdrant Edge shards under `root` (one folder per collection). Its calls are synchronous (Rust,
    sub-millisecond for a search, longer for a large upsert): they run in a worker thread so the event
    loop keeps serving; the shard is safe to use from several threads (tested in test_vector_engines)."""

    local = True

    def __init__(self, root: str) -> None:
        import qdrant_edge

        self._qe = qdrant_edge
        self._tmp: str | None = None
        if root == ":memory:":
            # Edge has no in-memory mode: a temporary folder, removed at close.
            root = self._tmp = tempfile.mkdtemp(prefix="reply-edge-")
        self.root = Path(root)
        self._shards: dict[str, Any] = {}
        self._names: dict[str, set[str]] = {}  # each collection's dense vector names

    def _config(self, schema: Schema) -> Any:
        qe = self._qe
        return qe.EdgeConfig(
            vectors={
                name: qe.EdgeVectorParams(size=size, distance=qe.Distance.Cosine)
                for name, size in schema.dims.items()
            },
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams()} if schema.sparse else None,
        )

    def _open(self, collection: str, schema: Schema) -> None:
        qe = self._qe
        path = self.root / collection
        config = self._config(schema)
        if (path / "edge_config.json").exists():
            try:
                shard = qe.EdgeShard.load(str(path), config)
            except Exception as exc:
                if "incompatible" in str(exc).lower():
                    raise SchemaMismatch(str(exc)) from exc
                raise
        else:
            path.mkdir(parents=True, exist_ok=True)
            shard = qe.EdgeShard.create(str(path), config)
        indexed = set(shard.info().payload_schema)
        wanted: list[tuple[str, Any]] = []
        for name in schema.keywords:
            wanted.append((name, qe.KeywordIndexParams(is_tenant=name == schema.tenant)))
        wanted += [(name, qe.PayloadSchemaType.Integer) for name in schema.integers]
        wanted += [(name, qe.PayloadSchemaType.Float) for name in schema.floats]
        for name, params in wanted:
            if name not in indexed:
                shard.update(qe.UpdateOperation.create_field_index(name, params))
        self._shards[collection] = shard
        self._names[collection] = set(schema.dims)

    async def open(self, collection: str, schema: Schema) -> None:
        if collection not in self._shards:
            await asyncio.to_thread(self._open, collection, schema)

    def _filter(self, where: Where | None) -> Any:
        if where is None:
            return None
        qe = self._qe
        must: list[Any] = [qe.FieldCondition(key=k, match=qe.MatchValue(v)) for k, v in where.equals.items()]
        must += [qe.FieldCondition(key=k, match=qe.MatchAny(list(v))) for k, v in where.any_of.items()]
        must += [
            qe.FieldCondition(key=k, range=qe.RangeFloat(gte=lo, lte=hi))
            for k, (lo, hi) in where.ranges.items()
        ]
        must_not = [qe.FieldCondition(key=k, match=qe.MatchValue(v)) for k, v in where.not_equal.items()]
        return qe.Filter(must=must or None, must_not=must_not or None)

    def _vector(self, query: QueryVector) -> Any:
        if isinstance(query, SparseVector):
            return self._qe.SparseVector(indices=list(query.indices), values=list(query.values))
        return _query_list(query)

    def _point(self, p: VectorPoint, names: set[str]) -> Any:
        vector: dict[str, Any] = {n: _query_list(v) for n, v in p.vectors.items() if n in names}
        if p.sparse:
            vector[SPARSE] = self._vector(p.sparse)
        return self._qe.Point(p.id, vector, p.payload)

    def _upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        names = self._names[collection]
        op = self._qe.UpdateOperation.upsert_points([self._point(p, names) for p in points])
        self._shards[collection].update(op)

    async def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        await asyncio.to_thread(self._upsert, collection, points)

    @staticmethod
    def _found(points: list[Any]) -> list[Found]:
        return [Found(str(p.id), float(p.score), dict(p.payload or {}), dict(p.vector or {})) for p in points]

    def _fused(
        self, collection: str, queries: Mapping[str, QueryVector], where: Where, limit: int
    ) -> list[Found]:
        qe = self._qe
        flt = self._filter(where)
        prefetches = [
            qe.Prefetch(limit=limit, query=qe.Query.Nearest(self._vector(q), using=n), filter=flt)
            for n, q in queries.items()
        ]
        request = qe.QueryRequest(
            limit=limit * len(prefetches),
            prefetches=prefetches,
            query=qe.Fusion.Rrf(k=60),
            with_vector=list(queries),
            with_payload=True,
        )
        return self._found(self._shards[collection].query(request))

    async def fused(
        self, collection: str, queries: Mapping[str, QueryVector], where: Where, limit: int
    ) -> list[Found]:
        return await asyncio.to_thread(self._fused, collection, queries, where, limit)

    def _nearest(
        self,
        collection: str,
        name: str,
        vector: np.ndarray,
        where: Where,
        limit: int,
        threshold: float | None,
    ) -> list[Found]:
        qe = self._qe
        request = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(_query_list(vector), using=name),
            filter=self._filter(where),
            score_threshold=threshold,
            with_payload=True,
        )
        return self._found(self._shards[collection].query(request))

    async def nearest(
        self,
        collection: str,
        name: str,
        vector: np.ndarray,
        where: Where,
        limit: int,
        threshold: float | None = None,
    ) -> list[Found]:
        return await asyncio.to_thread(self._nearest, collection, name, vector, where, limit, threshold)

    async def delete(self, collection: str, where: Where) -> None:
        op = self._qe.UpdateOperation.delete_points_by_filter(self._filter(where))
        await asyncio.to_thread(self._shards[collection].update, op)

    async def first_payload(self, collection: str, where: Where) -> dict[str, Any] | None:
        request = self._qe.ScrollRequest(limit=1, filter=self._filter(where), with_payload=True)
        records, _ = await asyncio.to_thread(self._shards[collection].scroll, request)
        return dict(records[0].payload or {}) if records else None

    async def count(self, collection: str, where: Where | None) -> int:
        request = self._qe.CountRequest(exact=True, filter=self._filter(where))
        return int(await asyncio.to_thread(self._shards[collection].count, request))

    async def present(self, collection: str, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        records = await asyncio.to_thread(self._shards[collection].retrieve, list(ids), False, False)
        return {str(r.id) for r in records}

    async def check(self, collection: str) -> None:
        await asyncio.to_thread(self._shards[collection].info)

    def _close(self) -> None:
        for shard in self._shards.values():
            shard.flush()
            shard.close()
        self._shards.clear()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)


# ------------------------------------------------------------------------------------- qdrant-client


class ClientEngine:
    """qdrant-client: a server by URL (payload indexes, brand as tenant) or local mode in a folder."""

    def __init__(
        self, *, url: str | None = None, api_key: str | None = None, path: str | None = None
    ) -> None:
        from qdrant_client import AsyncQdrantClient, models

        self.m = models
        self.local = url is None
        if url:
            self._client = AsyncQdrantClient(url=url, api_key=api_key)
        elif path == ":memory:":
            self._client = AsyncQdrantClient(location=":memory:")
        else:
            self._client = AsyncQdrantClient(path=path)
        self._names: dict[str, set[str]] = {}  # each open collection's dense vector names

    async def open(self, collection: str, schema: Schema) -> None:
        if collection in self._names:
            return
        m = self.m
        if not await self._client.collection_exists(collection):
            try:
                await self._client.create_collection(
                    collection,
                    vectors_config={
                        name: m.VectorParams(size=size, distance=m.Distance.COSINE)
                        for name, size in schema.dims.items()
                    },
                    sparse_vectors_config={SPARSE: m.SparseVectorParams()} if schema.sparse else None,
                )
            except Exception:
                # Another replica created it between our check and our create.
                if not await self._client.collection_exists(collection):
                    raise
            if not self.local:
                for name in schema.keywords:
                    params: Any = m.PayloadSchemaType.KEYWORD
                    if name == schema.tenant:
                        params = m.KeywordIndexParams(type=m.KeywordIndexType.KEYWORD, is_tenant=True)
                    await self._client.create_payload_index(collection, name, params)
                for name in schema.integers:
                    await self._client.create_payload_index(collection, name, m.PayloadSchemaType.INTEGER)
                for name in schema.floats:
                    await self._client.create_payload_index(collection, name, m.PayloadSchemaType.FLOAT)
        info = await self._client.get_collection(collection)
        vectors = info.config.params.vectors
        have = {n: v.size for n, v in vectors.items()} if isinstance(vectors, dict) else {}
        sparse = info.config.params.sparse_vectors or {}
        wrong = [n for n, d in schema.dims.items() if have.get(n) != d]
        if wrong or (schema.sparse and SPARSE not in sparse):
            found = ", ".join(f"{n} {s}-d" for n, s in have.items()) or "no named dense vectors"
            raise SchemaMismatch(f"it has {found} and {'a' if SPARSE in sparse else 'no'} sparse vector")
        self._names[collection] = set(schema.dims)

    def _filter(self, where: Where | None) -> Any:
        if where is None:
            return None
        m = self.m
        must: list[Any] = [
            m.FieldCondition(key=k, match=m.MatchValue(value=v)) for k, v in where.equals.items()
        ]
        must += [m.FieldCondition(key=k, match=m.MatchAny(any=list(v))) for k, v in where.any_of.items()]
        must += [
            m.FieldCondition(key=k, range=m.Range(gte=lo, lte=hi)) for k, (lo, hi) in where.ranges.items()
        ]
        must_not = [m.FieldCondition(key=k, match=m.MatchValue(value=v)) for k, v in where.not_equal.items()]
        return m.Filter(must=must or None, must_not=must_not or None)

    def _vector(self, query: QueryVector) -> Any:
        if isinstance(query, SparseVector):
            return self.m.SparseVector(indices=query.indices, values=query.values)
        return _query_list(query)

    async def upsert(self, collection: str, points: Sequence[VectorPoint]) -> None:
        structs, names = [], self._names[collection]
        for p in points:
            vector: dict[str, Any] = {n: _query_list(v) for n, v in p.vectors.items() if n in names}
            if p.sparse:
                vector[SPARSE] = self._vector(p.sparse)
            structs.append(self.m.PointStruct(id=p.id, vector=vector, payload=p.payload))
        await self._client.upsert(collection, points=structs, wait=True)

    @staticmethod
    def _found(points: list[Any]) -> list[Found]:
        return [
            Found(
                str(p.id),
                float(p.score),
                dict(p.payload or {}),
                p.vector if isinstance(p.vector, dict) else {},
            )
            for p in points
        ]

    async def fused(
        self, collection: str, queries: Mapping[str, QueryVector], where: Where, limit: int
    ) -> list[Found]:
        flt = self._filter(where)
        prefetch = [
            self.m.Prefetch(query=self._vector(q), using=n, filter=flt, limit=limit)
            for n, q in queries.items()
        ]
        response = await self._client.query_points(
            collection,
            prefetch=prefetch,
            query=self.m.FusionQuery(fusion=self.m.Fusion.RRF),
            limit=limit * len(prefetch),
            with_payload=True,
            with_vectors=list(queries),
        )
        return self._found(response.points)

    async def nearest(
        self,
        collection: str,
        name: str,
        vector: np.ndarray,
        where: Where,
        limit: int,
        threshold: float | None = None,
    ) -> list[Found]:
        response = await self._client.query_points(
            collection,
            query=_query_list(vector),
            using=name,
            query_filter=self._filter(where),
            limit=limit,
            score_threshold=threshold,
            with_payload=True,
        )
        return self._found(response.points)

    async def delete(self, collection: str, where: Where) -> None:
        selector = self.m.FilterSelector(filter=self._filter(where))
        await self._client.delete(collection, points_selector=selector, wait=True)

    async def first_payload(self, collection: str, where: Where) -> dict[str, Any] | None:
        points, _ = await self._client.scroll(
            collection, scroll_filter=self._filter(where), limit=1, with_payload=True
        )
        return dict(points[0].payload or {}) if points else None

    async def count(self, collection: str, where: Where | None) -> int:
        return (await self._client.count(collection, count_filter=self._filter(where), exact=True)).count

    async def present(self, collection: str, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        records = await self._client.retrieve(collection, list(ids), with_payload=False, with_vectors=False)
        return {str(r.id) for r in records}

    async def check(self, collection: str) -> None:
        await self._client.get_collection(collection)

    async def close(self) -> None:
        await self._client.close()
