"""The vector index's contract on each embedded engine (Qdrant Edge, qdrant-client local mode), with
random vectors whose exact scores numpy can check: brand isolation, kind and version filters, deletes by
filter, exact scores under every queried vector, post neighbours by time, author and threshold, data kept
across a restart, a collection made for other vectors refused, and one process per folder."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from service.adapters.vectors import (
    DENSE,
    SPARSE,
    FolderInUse,
    SparseVector,
    VectorPoint,
    VectorStore,
    point_id,
)
from service.config import Settings

DIM = 16
ROOT = Path(__file__).resolve().parents[2]


def settings(tmp_path: Path, backend: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "vector_backend": backend,
        "multilingual_embedding_model": None,
        **extra,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def knowledge(rng: np.random.Generator, brand: str, n: int, *, version: int = 1) -> list[VectorPoint]:
    vectors = unit(rng, n)
    return [
        VectorPoint(
            point_id(brand, str(version), str(i)),
            {DENSE: vectors[i]},
            {
                "brand_id": brand,
                "document_id": f"doc-{brand}",
                "version": version,
                "kind": "faq" if i % 2 else "doc",
                "source_id": f"{brand}-{i}",
            },
            SparseVector([i % 7, 100 + i % 3], [1.0, 0.5]),
        )
        for i in range(n)
    ]


@pytest.fixture(params=["edge", "local"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def opened(tmp_path: Path, backend: str) -> VectorStore:
    store = VectorStore(settings(tmp_path, backend), DIM)
    await store.ensure_collection()
    return store


async def test_search_filters_scores_and_deletes(tmp_path: Path, backend: str) -> None:
    rng = np.random.default_rng(7)
    store = await opened(tmp_path, backend)
    try:
        mine, theirs = knowledge(rng, "shop", 60), knowledge(rng, "other", 60)
        await store.upsert(mine + theirs)
        assert (await store.count(), await store.count("shop")) == (120, 60)

        query = unit(rng, 1)[0]
        keywords = SparseVector([3, 101], [1.0, 1.0])
        hits = await store.search("shop", {DENSE: query, SPARSE: keywords}, limit=10)
        assert hits and all(h.payload["brand_id"] == "shop" for h in hits)
        by_id = {p.id: p for p in mine}
        for h in hits:  # every hit scored exactly under both vectors, not only the one it ranked by
            stored = by_id[h.id]
            assert h.scores[DENSE] == pytest.approx(float(stored.vectors[DENSE] @ query), abs=1e-5)
            assert stored.sparse is not None
            expected = dict(zip(stored.sparse.indices, stored.sparse.values, strict=True))
            assert h.scores[SPARSE] == pytest.approx(expected.get(3, 0.0) + expected.get(101, 0.0))
        # the ten nearest by the dense vector are among the candidates, whatever the keywords found
        nearest = sorted(mine, key=lambda p: -float(p.vectors[DENSE] @ query))[:10]
        assert {p.id for p in nearest} <= {h.id for h in hits}

        source = await store.source_payload("shop", "shop-5")
        assert source is not None and source["source_id"] == "shop-5" and source["brand_id"] == "shop"
        assert await store.source_payload("other", "shop-5") is None  # another brand's source is not found

        faq = await store.search("shop", {DENSE: query}, limit=50, kinds=["faq"])
        assert len(faq) == 30 and {h.payload["kind"] for h in faq} == {"faq"}
        assert await store.search("shop", {SPARSE: SparseVector([], [])}, limit=5) == []

        # a new version of the document, then every other version of it goes
        await store.upsert(knowledge(rng, "shop", 60, version=2))
        assert await store.count("shop") == 120
        await store.delete("shop", document_id="doc-shop", keep_version=2)
        assert await store.count("shop", document_id="doc-shop") == 60
        await store.delete("shop", source_id="shop-3")
        assert await store.count("shop") == 59
        await store.delete("shop", document_id="doc-shop")
        assert (await store.count("shop"), await store.count("other")) == (0, 60)
    finally:
        await store.close()


async def test_post_neighbours_by_brand_time_author_and_threshold(tmp_path: Path, backend: str) -> None:
    rng = np.random.default_rng(3)
    store = await opened(tmp_path, backend)
    t0 = datetime(2026, 5, 1, 12, 0)  # naive, as SQLite hands back UTC
    base = unit(rng, 1)[0]
    try:
        points, vectors = [], {}
        for i in range(40):
            noise = unit(rng, 1)[0]
            vec = base + (0.3 if i < 20 else 3.0) * noise  # 20 close to the base, 20 far
            vec = vec / np.linalg.norm(vec)
            vectors[f"p{i}"] = vec
            posted = t0 + timedelta(hours=(i % 10) - 5)  # -5h .. +4h
            brand = "shop" if i % 4 else "other"
            points.append(VectorStore.post_point(f"p{i}", brand, vec, "m1", f"a{i % 5}", posted))
        await store.upsert_posts(points)
        since, until = t0 - timedelta(hours=3), t0 + timedelta(hours=3)
        hits = await store.post_neighbours(
            "shop",
            base,
            model="m1",
            since=since.replace(tzinfo=UTC),  # aware and naive times are the same instant
            until=until,
            not_post="p1",
            not_author="a2",
            threshold=0.8,
            limit=100,
        )
        expected = {
            f"p{i}"
            for i in range(40)
            if i % 4
            and -3 <= (i % 10) - 5 <= 3
            and i % 5 != 2
            and i != 1
            and float(vectors[f"p{i}"] @ base) >= 0.8
        }
        assert expected and {h.payload["post_id"] for h in hits} == expected
        scores = [h.scores[DENSE] for h in hits]
        assert scores == sorted(scores, reverse=True)
        for h in hits:
            assert h.scores[DENSE] == pytest.approx(float(vectors[h.payload["post_id"]] @ base), abs=1e-5)
        other_model = await store.post_neighbours(
            "shop",
            base,
            model="m2",
            since=since,
            until=until,
            not_post="x",
            not_author="x",
            threshold=0.0,
            limit=100,
        )
        assert other_model == []
        in_window = sum(
            1
            for p in points
            if p.payload["brand_id"] == "shop"
            and abs(p.payload["posted_at"] - t0.replace(tzinfo=UTC).timestamp()) <= 3 * 3600
        )
        assert await store.count_posts("shop", "m1", since, until, not_post="nobody") == in_window
        assert await store.posts_missing(["p1", "p2", "never-indexed"]) == ["never-indexed"]
    finally:
        await store.close()


async def test_data_outlives_a_restart_and_other_vectors_are_refused(tmp_path: Path, backend: str) -> None:
    rng = np.random.default_rng(11)
    store = await opened(tmp_path, backend)
    await store.upsert(knowledge(rng, "shop", 25))
    await store.upsert_posts(
        [VectorStore.post_point("p1", "shop", unit(rng, 1)[0], "m1", "a", datetime.now(UTC))]
    )
    await store.close()

    again = await opened(tmp_path, backend)
    try:
        assert await again.count("shop") == 25
        assert await again.posts_missing(["p1"]) == []
        hits = await again.search("shop", {DENSE: unit(rng, 1)[0]}, limit=5)
        assert len(hits) == 5
    finally:
        await again.close()

    wider = VectorStore(settings(tmp_path, backend), DIM * 2)  # another embedding model
    try:
        with pytest.raises(RuntimeError, match="REPLY_QDRANT_COLLECTION"):
            await wider.ensure_collection()
    finally:
        await wider.close()


async def test_engines_find_the_same_top_ten(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    points = knowledge(rng, "shop", 500) + knowledge(rng, "other", 500)
    queries = unit(rng, 20)
    tops: dict[str, list[list[str]]] = {}
    for backend in ("edge", "local"):
        store = await opened(tmp_path / backend, backend)
        try:
            await store.upsert(points)
            tops[backend] = [
                [
                    h.id
                    for h in sorted(
                        await store.search("shop", {DENSE: q}, limit=10), key=lambda h: -h.scores[DENSE]
                    )
                ]
                for q in queries
            ]
        finally:
            await store.close()
    assert tops["edge"] == tops["local"]


async def test_a_second_open_of_the_folder_is_refused(tmp_path: Path, backend: str) -> None:
    first = await opened(tmp_path, backend)
    try:
        with pytest.raises(FolderInUse, match="in use by another process") as refused:
            VectorStore(settings(tmp_path, backend), DIM)
        assert "REPLY_QDRANT_URL" in str(refused.value)
        # another process is refused too, with the same message (the lock is the kernel's, per process)
        code = (
            "import asyncio, sys\n"
            "from service.adapters.vectors import VectorStore, FolderInUse\n"
            "from service.config import Settings\n"
            f"s = Settings(_env_file=None, data_dir={str(tmp_path)!r}, vector_backend={backend!r}, "
            "multilingual_embedding_model=None)\n"
            "try:\n    VectorStore(s, 16)\nexcept FolderInUse as e:\n    print(e); sys.exit(3)\n"
        )
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 3, result.stderr
        assert "in use by another process" in result.stdout
    finally:
        await first.close()
    # closed: the folder is free again
    again = await opened(tmp_path, backend)
    await again.close()
