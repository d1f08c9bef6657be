"""The LLM adapter with the real openai client over HTTP against the fake server: retries and their limits,
the three structured-output modes and the probe that picks one, and the circuit breaker."""

from __future__ import annotations

import asyncio
import json

import pytest

from service.adapters.llm import CircuitBreaker, LLMClient, LLMError, LLMUnavailable, parse_reply
from service.config import Settings
from tests.fakes.llm_server import FakeLLMServer

SYSTEM = 'You draft replies. Answer with one JSON object: {"reply": "...", "source_ids": []}.'
USER = "Sources:\n[source:faq-1] Returns are free within 30 days.\n\nLANGUAGE: en\nPOST: can I return this?"
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
SCHEMA = {"type": "object", "properties": {"reply": {"type": "string"}}, "required": ["reply"]}


def client(server: FakeLLMServer, **overrides: object) -> LLMClient:
    values: dict[str, object] = {
        "llm_base_url": server.base_url,
        "llm_model": "fake-model",
        "llm_api_key": "k",
        "llm_timeout_s": 1.0,
        "llm_attempts": 3,
        "llm_max_backoff_s": 0.05,
        "llm_output_mode": "json_schema",
    }
    values.update(overrides)
    return LLMClient(Settings(_env_file=None, **values))  # type: ignore[arg-type]


async def test_reply_sources_and_usage(fake_llm: FakeLLMServer) -> None:
    llm = client(fake_llm)
    completion = await llm.complete(MESSAGES, schema=SCHEMA, schema_name="draft_reply")
    reply = parse_reply(completion.content, completion.model)
    assert reply.text == "Thanks for reaching out! Returns are free within 30 days."
    assert reply.source_ids == ["faq-1"]
    assert completion.prompt_tokens > 0 and completion.completion_tokens > 0 and completion.latency_ms > 0
    request = fake_llm.chat_requests[-1]
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["schema"] == SCHEMA
    assert request["messages"][0] == {"role": "system", "content": SYSTEM}
    await llm.close()


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("json_object", {"type": "json_object", "schema": SCHEMA}),
        ("text", None),
    ],
)
async def test_other_output_modes(fake_llm: FakeLLMServer, mode: str, expected: object) -> None:
    llm = client(fake_llm, llm_output_mode=mode)
    completion = await llm.complete(MESSAGES, schema=SCHEMA, schema_name="draft_reply")
    assert parse_reply(completion.content, completion.model).source_ids == ["faq-1"]
    assert fake_llm.chat_requests[-1].get("response_format") == expected
    await llm.close()


async def test_auto_probes_once_and_takes_json_object_from_a_llama_cpp_like_server(
    fake_llm: FakeLLMServer,
) -> None:
    fake_llm.supports_json_schema = False  # HTTP 500 on json_schema, as llama.cpp's server answers
    llm = client(fake_llm, llm_output_mode="auto")
    for _ in range(2):
        completion = await llm.complete(MESSAGES, schema=SCHEMA, schema_name="draft_reply")
        assert completion.mode == "json_object"
    kinds = [(r.get("response_format") or {}).get("type") for r in fake_llm.chat_requests]
    assert kinds == ["json_schema", "json_object", "json_object", "json_object"]  # probe x2, then drafts
    assert llm.output_mode == "json_object"
    await llm.close()


async def test_auto_falls_to_text_without_response_format(fake_llm: FakeLLMServer) -> None:
    fake_llm.supports_response_format = False
    llm = client(fake_llm, llm_output_mode="auto")
    completion = await llm.complete(MESSAGES, schema=SCHEMA, schema_name="draft_reply")
    assert completion.mode == "text" and json.loads(completion.content)["source_ids"] == ["faq-1"]
    await llm.close()


async def test_auto_takes_json_schema_when_served(fake_llm: FakeLLMServer) -> None:
    llm = client(fake_llm, llm_output_mode="auto")
    await llm.complete(MESSAGES, schema=SCHEMA, schema_name="draft_reply")
    assert llm.output_mode == "json_schema" and len(fake_llm.chat_requests) == 2
    await llm.close()


async def test_a_probe_that_reaches_no_server_decides_nothing(fake_llm: FakeLLMServer) -> None:
    llm = client(fake_llm, llm_output_mode="auto", llm_attempts=1)
    fake_llm.inject("429")
    fake_llm.inject("500")
    with pytest.raises(LLMError):
        await llm.complete(MESSAGES, schema=SCHEMA, schema_name="draft_reply")
    assert llm.output_mode is None
    await llm.complete(MESSAGES, schema=SCHEMA, schema_name="draft_reply")
    assert llm.output_mode == "json_schema"
    await llm.close()


@pytest.mark.parametrize("fault", ["429", "500", "503", "timeout", "disconnect"])
async def test_transient_faults_are_retried(fake_llm: FakeLLMServer, fault: str) -> None:
    llm = client(fake_llm)
    fake_llm.inject_many(fault, 2)
    completion = await llm.complete(MESSAGES, schema=SCHEMA, schema_name="draft_reply")
    assert parse_reply(completion.content, completion.model).source_ids == ["faq-1"]
    assert len(fake_llm.chat_requests) == 3  # two faults, then the answer
    await llm.close()


async def test_attempts_are_capped(fake_llm: FakeLLMServer) -> None:
    llm = client(fake_llm, llm_attempts=2)
    fake_llm.inject_many("500", 5)
    with pytest.raises(LLMError, match="500"):
        await llm.complete(MESSAGES, schema=SCHEMA, schema_name="draft_reply")
    assert len(fake_llm.chat_requests) == 2
    await llm.close()


async def test_breaker_opens_after_failures_and_lets_one_trial_through(fake_llm: FakeLLMServer) -> None:
    llm = client(fake_llm, llm_attempts=1, llm_breaker_failures=2, llm_breaker_reset_s=0.3)
    fake_llm.inject_many("500", 3)
    for _ in range(2):
        with pytest.raises(LLMError, match="500"):
            await llm.complete(MESSAGES, schema=SCHEMA, schema_name="draft_reply")
    with pytest.raises(LLMUnavailable):
        await llm.complete(MESSAGES, schema=SCHEMA, schema_name="draft_reply")
    assert len(fake_llm.chat_requests) == 2  # the open breaker sent nothing
    assert llm.breaker.state == "open"
    await _wait_half_open(llm.breaker)
    with pytest.raises(LLMError, match="500"):  # the trial fails: open again at once
        await llm.complete(MESSAGES, schema=SCHEMA, schema_name="draft_reply")
    assert llm.breaker.state == "open"
    await _wait_half_open(llm.breaker)
    await llm.complete(MESSAGES, schema=SCHEMA, schema_name="draft_reply")
    assert llm.breaker.state == "closed" and len(fake_llm.chat_requests) == 4
    await llm.close()


async def _wait_half_open(breaker: CircuitBreaker) -> None:
    for _ in range(100):
        if breaker.state == "half_open":
            return
        await asyncio.sleep(0.02)
    raise AssertionError("breaker never became half-open")


def test_half_open_lets_one_call_through() -> None:
    now = [0.0]
    breaker = CircuitBreaker(1, 10.0, clock=lambda: now[0])
    breaker.failure()
    assert not breaker.allow()
    now[0] = 11.0
    assert breaker.allow() and not breaker.allow()  # the trial, and nobody else meanwhile
    breaker.success()
    assert breaker.allow() and breaker.state == "closed"


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ('{"reply": "Hi", "source_ids": ["a"]}', "Hi"),
        ('```json\n{"reply": "Hi", "source_ids": []}\n```', "Hi"),
        ('Here you go: {"reply": "Hi", "source_ids": []} Cheers', "Hi"),
    ],
)
def test_parse_reply_finds_the_object(content: str, text: str) -> None:
    assert parse_reply(content, "m").text == text


@pytest.mark.parametrize(
    "content", ['{"reply": "unterminated', '{"answer": "x"}', "", '{"reply": "x", "source_ids": "a"}']
)
def test_parse_reply_rejects_unusable(content: str) -> None:
    with pytest.raises(LLMError):
        parse_reply(content, "m")
