"""`/ready`: the service is ready when every part it is configured with answers now: the database,
Qdrant, each embedding model (a one-line encode), and the LLM when one is configured.

The LLM check is a cheap `GET {base_url}/models` (every OpenAI-compatible server has it), remembered for
`ready_cache_s` so frequent probes from a load balancer do not become LLM traffic.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from service import db
from service.runtime import Runtime

CHECK_TIMEOUT_S = 5.0


@dataclass
class LLMProbe:
    base_url: str
    api_key: str | None
    cache_s: float
    _checked_at: float = field(default=-1e18)
    _result: str = "error: not checked"
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def check(self) -> str:
        async with self._lock:  # one probe at a time; the others reuse its answer
            if time.monotonic() - self._checked_at >= self.cache_s:
                self._result = await self._ask()
                self._checked_at = time.monotonic()
            return self._result

    async def _ask(self) -> str:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_S, trust_env=False) as client:
                response = await client.get(self.base_url.rstrip("/") + "/models", headers=headers)
        except httpx.HTTPError as exc:
            return f"error: {type(exc).__name__}"
        if response.status_code != 200:
            return f"error: GET /models answered {response.status_code}"
        return "ok"


async def _model(model: Any) -> str:
    vectors = await asyncio.wait_for(asyncio.to_thread(model.encode, ["ready"]), CHECK_TIMEOUT_S)
    if len(vectors) != 1 or len(vectors[0]) != model.dim:
        return "error: unexpected embedding shape"
    return f"ok ({model.name})"


async def _redis(client: Any) -> str:
    """The rate-limit store. Without it requests are let through unlimited (ratelimit.py): degraded, but
    not a reason to take the replica out of the load balancer."""
    try:
        await asyncio.wait_for(client.ping(), CHECK_TIMEOUT_S)
    except Exception as exc:
        return f"degraded: rate limits off ({type(exc).__name__})"
    return "ok"


async def checks(runtime: Runtime, llm: LLMProbe | None, redis: Any = None) -> dict[str, str]:
    parts: dict[str, Any] = {
        "database": db.check_database(runtime.engine),
        "qdrant": runtime.vectors.check(),
    }
    if redis is not None:  # the rate-limit store shared by the replicas
        parts["redis"] = _redis(redis)
    for vector_name, model in runtime.retrieval_models.items():
        parts[f"model:{vector_name}"] = _model(model)
    if runtime.reranker is not None:  # the second opinion on FAQ hits (service.knowledge.rerank)
        parts["model:rerank"] = _model(runtime.reranker.embedder)
    if llm is not None:
        parts["llm"] = llm.check()
    names = list(parts)
    results = await asyncio.gather(*parts.values(), return_exceptions=True)
    out: dict[str, str] = {}
    for name, result in zip(names, results, strict=True):
        if isinstance(result, BaseException):
            out[name] = f"error: {type(result).__name__}"
        else:
            out[name] = result if isinstance(result, str) else "ok"
    return out
