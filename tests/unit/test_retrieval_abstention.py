"""The learned abstention (issue 11): its features of a ranked list, its decision, and the writer's use."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import pytest

from service.config import Settings
from service.drafts import service as drafts
from service.drafts.writer import DraftRequest, _split_hits
from service.knowledge import ranking
from service.knowledge.ranking import Abstention, Candidate, Ranked
from service.knowledge.retrieval import KnowledgeHit


def cand(source: str, dense: float, sparse: float = 0.0, group: str | None = None) -> Candidate:
    payload: dict[str, Any] = {"kind": "faq", "source_id": source}
    return Candidate(source, group or source, dense, sparse, payload)


def ranked(*found: Candidate) -> list[Ranked]:
    return ranking.rank(list(found), sparse_weight=0.2, vote_weight=0.1, calibration=None)


# a hand-made model: more relevance, margin and agreement mean a better chance
MODEL = Abstention(intercept=-6.0, weights=(8.0, 10.0, 0.0, 1.0, 1.0), threshold=0.5)


def test_features_of_a_ranked_list() -> None:
    hits = ranked(cand("a", 0.8, 0.5), cand("b", 0.6, 0.7), cand("a2", 0.7, group="a"))
    relevance, margin, dense, sparse, agree = ranking.abstain_features(hits) or ()
    assert hits[0].source_id == "a" and relevance == pytest.approx(hits[0].relevance)
    other = next(h for h in hits if h.group != "a")
    assert margin == pytest.approx(hits[0].relevance - other.relevance)
    assert (dense, sparse) == (0.8, 0.5)
    assert agree == 0.0  # "b" holds more of the keywords
    assert ranking.abstain_features(ranked(cand("a", 0.8, 0.9), cand("b", 0.6, 0.1)))[-1] == 1.0  # type: ignore[index]
    assert ranking.abstain_features([]) is None


def test_a_clear_match_is_answered_and_a_vague_one_abstained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ranking.ABSTENTIONS, "m", MODEL)
    clear = ranked(cand("a", 0.85, 0.8), cand("b", 0.4, 0.1))
    vague = ranked(cand("a", 0.45, 0.1), cand("b", 0.44, 0.3))
    assert not ranking.abstains(clear, "m")
    assert ranking.abstains(vague, "m")
    assert ranking.abstains([], "m")
    assert not ranking.abstains(vague, "no-such-model")  # only the score threshold decides then


@pytest.mark.parametrize("model", [*sorted(ranking.ABSTENTIONS), "hand-made"])
def test_the_chance_grows_with_the_top_relevance(model: str) -> None:
    fitted = ranking.ABSTENTIONS.get(model, MODEL)
    chances = [fitted.chance((r, 0.05, r, 0.3, 1.0)) for r in (0.3, 0.5, 0.7, 0.9)]
    assert chances == sorted(chances) and chances[0] < chances[-1]


def hit(source: str, score: float, abstained: bool) -> KnowledgeHit:
    return KnowledgeHit(source, "faq", source, f"answer {source}", score, abstained=abstained)


def request() -> DraftRequest:
    return DraftRequest("Shop", "en", {}, "x", {}, "Where is my parcel?", {}, "en", min_score=0.4)


def test_an_abstained_search_leaves_nothing_usable_but_keeps_its_hits_and_scores() -> None:
    usable, near, _ = _split_hits(request(), [hit("a", 0.9, True), hit("b", 0.5, True)])
    assert usable == [] and [(h.source_id, h.score) for h in near] == [("a", 0.9), ("b", 0.5)]
    usable, near, _ = _split_hits(request(), [hit("a", 0.9, False), hit("b", 0.3, False)])
    assert [h.source_id for h in usable] == ["a"] and near == []


def test_a_threshold_set_on_purpose_decides_alone() -> None:
    """A brand's own retrieval_min_score (even 0) or the operator's is not overruled by the abstention."""
    req = dataclasses.replace(request(), learned_abstention=False)
    usable, near, _ = _split_hits(req, [hit("a", 0.9, True), hit("b", 0.3, True)])
    assert [h.source_id for h in usable] == ["a"] and near == []
    usable, _, _ = _split_hits(dataclasses.replace(req, min_score=0.0), [hit("a", 0.2, True)])
    assert [h.source_id for h in usable] == ["a"]


def _draft_request(settings: Settings, brand_settings: dict[str, object]) -> DraftRequest:
    runtime = SimpleNamespace(settings=settings)
    brand = SimpleNamespace(
        id="b", name="Shop", language="en", voice={}, channels={}, settings=brand_settings
    )
    post = SimpleNamespace(
        text="Where is my parcel?", channel="twitter", author={}, triage={"language": "en"}
    )
    return drafts.draft_request(runtime, brand, post, (), None)  # type: ignore[arg-type]


def test_who_set_the_threshold_decides_whether_the_abstention_may_veto(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REPLY_RETRIEVAL_MIN_SCORE", raising=False)
    default = Settings(_env_file=None)  # type: ignore[call-arg]
    assert _draft_request(default, {}).learned_abstention is True
    brand_own = _draft_request(default, {"retrieval_min_score": 0.0})
    assert brand_own.learned_abstention is False and brand_own.min_score == 0.0
    monkeypatch.setenv("REPLY_RETRIEVAL_MIN_SCORE", "0.3")
    operator = _draft_request(Settings(_env_file=None), {})  # type: ignore[call-arg]
    assert operator.learned_abstention is False and operator.min_score == 0.3
