"""Opt-in smoke test against a real OpenAI-compatible server (Ollama, llama.cpp, vLLM, OpenAI): set
REPLY_TEST_LLM_URL (e.g. http://127.0.0.1:11434/v1), REPLY_TEST_LLM_MODEL and, if needed,
REPLY_TEST_LLM_API_KEY. `make llm-smoke` starts llama.cpp's server with SmolLM2-135M and runs it.

A real model's words cannot be asserted; what can: the output mode is found, every post ends drafted
with the draft's structure complete, and the draft is in the customer's language or says it is not."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from tests.conftest import Api

LLM_URL = os.environ.get("REPLY_TEST_LLM_URL")
pytestmark = [
    pytest.mark.skipif(
        not LLM_URL, reason="REPLY_TEST_LLM_URL is not set: no real OpenAI-compatible server to smoke-test"
    ),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

FAQ = [
    {
        "id": "faq-return",
        "question": "How do I return a product?",
        "answer": "Returns are free within 30 days.",
    },
    {
        "id": "faq-ruecksendung",
        "question": "Wie schicke ich einen Artikel zurück?",
        "answer": "Rücksendungen sind innerhalb von 30 Tagen kostenlos.",
    },
]


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("How can I return the headphones I bought?", "en"),
        ("Wie kann ich meine Kopfhörer zurückschicken?", "de"),
    ],
)
async def test_real_model_drafts_with_structure_and_language(
    make_client: Any, text: str, language: str
) -> None:
    api: Api = await make_client(
        llm_base_url=LLM_URL,
        llm_model=os.environ.get("REPLY_TEST_LLM_MODEL", "default"),
        llm_api_key=os.environ.get("REPLY_TEST_LLM_API_KEY", "none"),
        llm_timeout_s=180.0,
        llm_attempts=2,
        job_max_attempts=2,
    )
    await api.brand("shop", language="de", voice={"formality": "formal", "signature": "Ihr Shop-Team"})
    doc = await api.upload("shop", "faq.json", json.dumps(FAQ).encode())
    await api.wait_document("shop", doc["id"])
    integration = await api.key("integration", ["shop"])
    post_id = await api.send_post(integration, "smoke-1", text, author={"handle": "kim", "name": "Kim"})
    post = await api.wait_post(post_id, integration, timeout=600)
    assert post["status"] == "drafted"
    draft = post["draft"]
    assert draft["text"].strip() and draft["flags"][0] in ("llm", "template")
    if draft["flags"][0] == "llm":
        assert draft["usage"]["output_mode"] in ("json_schema", "json_object", "text")
    assert draft["prompt_version"] and isinstance(draft["checks"], list)
    assert draft["language"] == language or "wrong_language" in draft["flags"]
