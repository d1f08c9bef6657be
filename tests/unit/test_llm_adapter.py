"""The LLM adapter with the real openai client over HTTP against the fake server: retries and their limits."""

from __future__ import annotations

import pytest

from service.adapters.llm import LLMClient, LLMError
from service.config import Settings
from tests.fakes.llm_server import FakeLLMServer

SYSTEM = "You draft replies."
USER = "Sources:\n[source:faq-1] Returns are free within 30 days.\n\nLANGUAGE: en\nPOST: can I return this?"


def client(server: FakeLLMServer, **overrides: object) -> LLMClient:
    values: dict[str, object] = {
        "llm_base_url": server.base_url,
        "llm_model": "fake-model",
        "llm_api_key": "k",
        "llm_timeout_s": 1.0,
        "llm_attempts": 3,
        "llm_max_backoff_s": 0.05,
    }
    values.update(overrides)
    return LLMClient(Settings(_env_file=None, **values))  # type: ignore[arg-type]


async def test_reply_and_sources(fake_llm: FakeLLMServer) -> None:
    llm = client(fake_llm)
    reply = await llm.draft_reply(SYSTEM, USER)
    assert reply.text == "Thanks for reaching out! Returns are free within 30 days."
    assert reply.source_ids == ["faq-1"]
    request = fake_llm.chat_requests[-1]
    assert request["response_format"] == {"type": "json_object"}
    assert request["messages"][0] == {"role": "system", "content": SYSTEM}
    await llm.close()


@pytest.mark.parametrize(
    "fault", ["429", "500", "503", "timeout", "malformed", "bad_schema", "empty", "disconnect"]
)
async def test_transient_faults_are_retried(fake_llm: FakeLLMServer, fault: str) -> None:
    llm = client(fake_llm)
    fake_llm.inject_many(fault, 2)
    reply = await llm.draft_reply(SYSTEM, USER)
    assert reply.source_ids == ["faq-1"]
    assert len(fake_llm.chat_requests) == 3  # two faults, then the answer
    await llm.close()


async def test_attempts_are_capped(fake_llm: FakeLLMServer) -> None:
    llm = client(fake_llm, llm_attempts=2)
    fake_llm.inject_many("500", 5)
    with pytest.raises(LLMError, match="500"):
        await llm.draft_reply(SYSTEM, USER)
    assert len(fake_llm.chat_requests) == 2
    await llm.close()


async def test_malformed_every_time_gives_llm_error(fake_llm: FakeLLMServer) -> None:
    llm = client(fake_llm, llm_attempts=2)
    fake_llm.inject_many("malformed", 2)
    with pytest.raises(LLMError, match="not JSON"):
        await llm.draft_reply(SYSTEM, USER)
    await llm.close()
