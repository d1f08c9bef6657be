"""Micro-batching (service/adapters/batching.py) on the real models: calls that arrive together share a
model call, rows match single encodes, a lone call is not held up, kinds and failures stay apart."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from service.adapters.batching import EmbedBatcher
from service.adapters.embedder import USE_MODEL, Embedder, load_embedder

TEXTS = [
    "my train is late again",
    "where is my parcel? ordered two weeks ago and nothing",
    "refund please",
    "the app crashes every time I open the ticket page on android",
    "thanks, that helped a lot!",
    "can I take my bike on the regional train",
    "why was I charged twice for the same order, this is the third time this month",
    "hi",
]


class Counting:
    """The real model, with a record of every call it gets: (method, number of texts, start time)."""

    def __init__(self, inner: Embedder, fail_on: str | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.calls: list[tuple[str, list[str], float]] = []
        self.fail_on = fail_on
        self._lock = threading.Lock()

    def _record(self, method: str, texts: list[str]) -> None:
        with self._lock:
            self.calls.append((method, list(texts), time.perf_counter()))
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError("the model refused this batch")

    def encode(self, texts: list[str]) -> np.ndarray:
        self._record("encode", texts)
        return self.inner.encode(texts)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        self._record("encode_queries", texts)
        return self.inner.encode_queries(texts)


@pytest.fixture(scope="module", params=["minilm", USE_MODEL])
def model(request: pytest.FixtureRequest) -> Embedder:
    return load_embedder() if request.param == "minilm" else load_embedder(USE_MODEL)


async def test_concurrent_single_texts_share_model_calls_and_match_single_encodes(model: Embedder) -> None:
    counting = Counting(model)
    batcher = EmbedBatcher(counting, max_wait_s=0.005, max_batch=32)
    texts = [f"{t} ({i})" for i, t in enumerate(TEXTS * 5)]  # 40 distinct texts
    rows = await asyncio.gather(*(batcher.encode([t], query=True) for t in texts))

    sizes = [len(batch) for _, batch, _ in counting.calls]
    assert sum(sizes) == len(texts)
    assert len(sizes) <= 3, sizes  # 40 texts in at most ceil(40/32)+1 calls, not 40
    assert max(sizes) > 1
    single = np.stack([model.encode_queries([t])[0] for t in texts])
    np.testing.assert_allclose(np.stack([r[0] for r in rows]), single, atol=1e-5)


async def test_a_lone_call_goes_to_the_model_within_the_wait(model: Embedder) -> None:
    counting = Counting(model)
    batcher = EmbedBatcher(counting, max_wait_s=0.010, max_batch=32)
    await batcher.encode(["warm up"], query=True)
    counting.calls.clear()
    started = time.perf_counter()
    row = await batcher.encode(["my train is late again"], query=True)
    done = time.perf_counter()

    assert [(m, len(b)) for m, b, _ in counting.calls] == [("encode_queries", 1)]
    held = counting.calls[0][2] - started
    assert 0.009 <= held < 0.010 + 0.1, held  # the timer, not more (100 ms for a busy machine)
    assert done >= counting.calls[0][2]
    np.testing.assert_allclose(row, model.encode_queries(["my train is late again"]), atol=1e-5)


async def test_a_large_call_is_split_by_length_and_keeps_its_order(model: Embedder) -> None:
    counting = Counting(model)
    batcher = EmbedBatcher(counting, max_wait_s=0.0, max_batch=16)
    texts = [f"{'word ' * (i % 13)}{t}" for i, t in enumerate(TEXTS * 5)]
    rows = await batcher.encode(texts)

    sizes = [len(batch) for _, batch, _ in counting.calls]
    assert sizes == [16, 16, 8]
    for _, batch, _ in counting.calls:
        lengths = [len(t) for t in batch]
        assert lengths == sorted(lengths)  # grouped by length: each call a run of similar lengths
    np.testing.assert_allclose(rows, model.encode(texts), atol=1e-5)


async def test_queries_and_passages_never_share_a_call(model: Embedder) -> None:
    counting = Counting(model)
    batcher = EmbedBatcher(counting, max_wait_s=0.005, max_batch=32)
    await asyncio.gather(
        *(batcher.encode([t], query=i % 2 == 0) for i, t in enumerate(TEXTS * 2)),
    )
    methods = [m for m, _, _ in counting.calls]
    assert set(methods) == {"encode", "encode_queries"}
    assert len(methods) < len(TEXTS) * 2


async def test_a_failing_call_fails_its_callers_only(model: Embedder) -> None:
    counting = Counting(model, fail_on="boom")
    batcher = EmbedBatcher(counting, max_wait_s=0.005, max_batch=32)
    good, bad = await asyncio.gather(
        batcher.encode(["fine"], query=False),
        batcher.encode(["boom"], query=True),
        return_exceptions=True,
    )
    assert isinstance(bad, RuntimeError)
    assert isinstance(good, np.ndarray) and good.shape == (1, model.dim)
    # the batcher keeps working afterwards
    again = await batcher.encode(["boom again, but fine"], query=True)
    assert again.shape == (1, model.dim)


async def test_a_cancelled_caller_does_not_hold_up_the_others(model: Embedder) -> None:
    counting = Counting(model)
    batcher = EmbedBatcher(counting, max_wait_s=0.010, max_batch=32)
    cancelled = asyncio.create_task(batcher.encode(["never mind"], query=True))
    kept = asyncio.create_task(batcher.encode(["still here"], query=True))
    await asyncio.sleep(0)
    cancelled.cancel()
    row = await kept
    assert row.shape == (1, model.dim)
    assert all("never mind" not in batch for _, batch, _ in counting.calls)


def test_settings_are_bounded(model: Embedder) -> None:
    with pytest.raises(ValueError, match="max_wait_s"):
        EmbedBatcher(model, max_wait_s=0.05)
    with pytest.raises(ValueError, match="max_batch"):
        EmbedBatcher(model, max_batch=0)
