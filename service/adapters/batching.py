"""Micro-batching of embedding calls: texts that arrive close together are encoded in one model call.

The idea the rest rests on: a model encodes 32 texts in little more time than one (padding aside), so
many posts embedded one text at a time waste most of the model's time. Here:

1. Every async call (`encode`) adds its texts to its model's queue and waits for its rows.
2. A model that is idle takes the queue after at most `max_wait_s` (≤ 10 ms; 2 ms by default), so a lone
   text waits that long at most. A model that is busy takes it the moment it is free: whatever arrived
   meanwhile goes in one call, so a burst batches itself without anyone waiting on a timer.
3. One call takes up to `max_batch` texts of one kind (passages or queries: E5 embeds them differently),
   chosen among the waiting ones around the oldest by length, so texts of similar length share a call
   (less padding) and the oldest text always goes in the next call of its kind (nobody starves). A large
   call (indexing a document) is split the same way, so a post's query slips in between its parts.
4. Calls run in one executor thread per model, off the event loop; one at a time per model, which is
   what a CPU model on few cores wants anyway.

Rows are the model's own (the same `encode` as a direct call), so results match single encodes up to
float rounding: a text in a batch of other lengths is padded, and attention masks the padding.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from prometheus_client import Histogram

if TYPE_CHECKING:
    from service.adapters.embedder import Embedder

DEFAULT_MAX_WAIT_S = 0.002
DEFAULT_MAX_BATCH = 32
MAX_WAIT_LIMIT_S = 0.010

BATCH_SIZE = Histogram(
    "reply_service_embed_batch_texts",
    "Texts per embedding model call (micro-batching), by model",
    ["model"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)


@dataclass
class _Request:
    future: asyncio.Future[np.ndarray]
    rows: np.ndarray
    remaining: int


@dataclass
class _Item:
    request: _Request
    index: int
    text: str
    query: bool
    seq: int


@dataclass
class _LoopState:
    pending: list[_Item] = field(default_factory=list)
    busy: bool = False
    timer: asyncio.TimerHandle | None = None
    seq: int = 0


class EmbedBatcher:
    """One per model per process (`batcher_for`); safe to use from several event loops in turn."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        self.embedder = embedder
        self.configure(max_wait_s=max_wait_s, max_batch=max_batch)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"embed-{embedder.name}")
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )

    def configure(self, *, max_wait_s: float, max_batch: int) -> None:
        if not 0.0 <= max_wait_s <= MAX_WAIT_LIMIT_S:
            raise ValueError(f"max_wait_s must lie between 0 and {MAX_WAIT_LIMIT_S}")
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.max_wait_s = max_wait_s
        self.max_batch = max_batch

    async def encode(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        """The rows of `texts` (passages, or queries with `query`), encoded with whatever else is waiting."""
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            state = self._states[loop] = _LoopState()
        rows = np.empty((len(texts), self.embedder.dim), dtype=np.float32)
        request = _Request(future=loop.create_future(), rows=rows, remaining=len(texts))
        for i, text in enumerate(texts):
            state.pending.append(_Item(request, i, text, query, state.seq))
            state.seq += 1
        if not state.busy:
            if len(state.pending) >= self.max_batch or self.max_wait_s == 0:
                self._start(loop, state)
            elif state.timer is None:
                state.timer = loop.call_later(self.max_wait_s, self._start, loop, state)
        return await request.future

    def _start(self, loop: asyncio.AbstractEventLoop, state: _LoopState) -> None:
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None
        if state.busy:
            return
        state.busy = True
        loop.create_task(self._drain(loop, state), name=f"embed-{self.embedder.name}")

    def _next_batch(self, state: _LoopState) -> list[_Item]:
        state.pending = [item for item in state.pending if not item.request.future.done()]
        if not state.pending:
            return []
        oldest = min(state.pending, key=lambda item: item.seq)
        same_kind = sorted((i for i in state.pending if i.query == oldest.query), key=lambda i: len(i.text))
        if len(same_kind) > self.max_batch:
            at = same_kind.index(oldest)
            start = min(max(0, at - self.max_batch // 2), len(same_kind) - self.max_batch)
            same_kind = same_kind[start : start + self.max_batch]
        taken = {id(item) for item in same_kind}
        state.pending = [item for item in state.pending if id(item) not in taken]
        return same_kind

    async def _drain(self, loop: asyncio.AbstractEventLoop, state: _LoopState) -> None:
        try:
            while batch := self._next_batch(state):
                await self._run(loop, batch)
        finally:
            state.busy = False
            if state.pending:  # arrived after the last look: their caller found the model busy
                self._start(loop, state)

    async def _run(self, loop: asyncio.AbstractEventLoop, batch: list[_Item]) -> None:
        texts = [item.text for item in batch]
        fn: Callable[[list[str]], np.ndarray] = (
            self.embedder.encode_queries if batch[0].query else self.embedder.encode
        )
        BATCH_SIZE.labels(model=self.embedder.name).observe(len(texts))
        try:
            vectors = await loop.run_in_executor(self._executor, fn, texts)
            vectors = np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.embedder.dim)
        except Exception as exc:
            for request in {id(item.request): item.request for item in batch}.values():
                if not request.future.done():
                    request.future.set_exception(exc)
            return
        for item, row in zip(batch, vectors, strict=True):
            request = item.request
            if request.future.done():
                continue
            request.rows[item.index] = row
            request.remaining -= 1
            if request.remaining == 0:
                request.future.set_result(request.rows)


_batchers: weakref.WeakKeyDictionary[Embedder, EmbedBatcher] = weakref.WeakKeyDictionary()
_config = {"max_wait_s": DEFAULT_MAX_WAIT_S, "max_batch": DEFAULT_MAX_BATCH}


def configure(*, max_wait_s: float, max_batch: int) -> None:
    """The process's batching settings (REPLY_EMBED_BATCH_WAIT_MS, REPLY_EMBED_BATCH_SIZE), for every
    model's batcher, those made already included."""
    for batcher in list(_batchers.values()):
        batcher.configure(max_wait_s=max_wait_s, max_batch=max_batch)
    _config.update(max_wait_s=max_wait_s, max_batch=max_batch)


def batcher_for(embedder: Embedder) -> EmbedBatcher:
    batcher = _batchers.get(embedder)
    if batcher is None:
        batcher = _batchers[embedder] = EmbedBatcher(
            embedder, max_wait_s=float(_config["max_wait_s"]), max_batch=int(_config["max_batch"])
        )
    return batcher
