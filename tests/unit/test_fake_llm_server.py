"""Tests for the fake OpenAI-compatible server, exercised through the real openai client."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.llm_server import FakeLLMServer

REPO_ROOT = Path(__file__).resolve().parents[2]
JSON_FORMAT: Any = {"type": "json_object"}

GERMAN_PROMPT = """Beantworte den Post.
SOURCES:
[source:faq-returns-01] Rücksendungen sind innerhalb von 30 Tagen kostenlos möglich.
[source:faq-shipping-02] Der Versand dauert 2-3 Werktage.
POST: Kann ich meine Schuhe zurückschicken?
LANGUAGE: de
"""

ENGLISH_PROMPT = """Answer the post.
[source:kb-42] Refunds are issued within 5 business days.
POST: Where is my refund?
LANGUAGE: en
"""


def _messages(prompt: str) -> Any:
    return [
        {"role": "system", "content": "You draft replies. [source:system-ignored] not a user source"},
        {"role": "user", "content": prompt},
    ]


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(timeout_sleep_s=2.0) as srv:
        yield srv


@pytest.fixture
async def aclient(server: FakeLLMServer) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=3.0)
    yield client
    await client.close()


@pytest.fixture
def client(server: FakeLLMServer) -> Iterator[openai.OpenAI]:
    c = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=3.0)
    yield c
    c.close()


async def test_german_json_reply_with_source_ids(aclient: openai.AsyncOpenAI, server: FakeLLMServer) -> None:
    resp = await aclient.chat.completions.create(
        model="fake-model", messages=_messages(GERMAN_PROMPT), response_format=JSON_FORMAT
    )
    data = json.loads(resp.choices[0].message.content or "")
    assert data == {
        "reply": "Danke für Ihre Nachricht! Rücksendungen sind innerhalb von 30 Tagen kostenlos möglich.",
        "source_ids": ["faq-returns-01"],
    }
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None and resp.usage.total_tokens > 0
    (req,) = server.requests
    assert req["path"] == "/v1/chat/completions"
    assert req["authorization"] == "Bearer test"
    assert req["body"]["response_format"] == {"type": "json_object"}


async def test_english_json_schema_reply(aclient: openai.AsyncOpenAI) -> None:
    long_text = "x" * 300
    prompt = ENGLISH_PROMPT.replace("Refunds are issued within 5 business days.", long_text)
    fmt: Any = {"type": "json_schema", "json_schema": {"name": "draft", "schema": {"type": "object"}}}
    resp = await aclient.chat.completions.create(
        model="fake-model", messages=_messages(prompt), response_format=fmt
    )
    data = json.loads(resp.choices[0].message.content or "")
    assert data == {"reply": "Thanks for reaching out! " + "x" * 200, "source_ids": ["kb-42"]}


def test_sync_client_plain_text_and_models(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(model="fake-model", messages=_messages(ENGLISH_PROMPT))
    assert (
        resp.choices[0].message.content
        == "Thanks for reaching out! Refunds are issued within 5 business days."
    )
    assert [m.id for m in client.models.list()] == ["fake-model"]


def test_no_sources_gives_holding_reply(client: openai.OpenAI) -> None:
    prompt = "POST: Hallo?\nLANGUAGE: de\n"
    resp = client.chat.completions.create(
        model="fake-model", messages=_messages(prompt), response_format=JSON_FORMAT
    )
    data = json.loads(resp.choices[0].message.content or "")
    assert data["source_ids"] == []
    assert data["reply"].startswith("Danke für Ihre Nachricht!")


def test_streaming(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="fake-model",
        messages=_messages(GERMAN_PROMPT),
        response_format=JSON_FORMAT,
        stream=True,
        stream_options={"include_usage": True},
    )
    parts: list[str] = []
    finish = None
    usage = None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            parts.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert json.loads("".join(parts))["source_ids"] == ["faq-returns-01"]
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens > 0


def test_set_reply_override_and_reset(client: openai.OpenAI, server: FakeLLMServer) -> None:
    server.set_reply(lambda body: "custom:" + body["model"])
    resp = client.chat.completions.create(model="fake-model", messages=_messages(ENGLISH_PROMPT))
    assert resp.choices[0].message.content == "custom:fake-model"
    server.reset_reply()
    resp = client.chat.completions.create(model="fake-model", messages=_messages(ENGLISH_PROMPT))
    assert (resp.choices[0].message.content or "").startswith("Thanks for reaching out!")


@pytest.mark.parametrize(
    ("kind", "exc", "status"),
    [
        ("429", openai.RateLimitError, 429),
        ("500", openai.InternalServerError, 500),
        ("503", openai.InternalServerError, 503),
    ],
)
async def test_status_faults(
    aclient: openai.AsyncOpenAI,
    server: FakeLLMServer,
    kind: str,
    exc: type[openai.APIStatusError],
    status: int,
) -> None:
    server.inject(kind)
    with pytest.raises(exc) as info:
        await aclient.chat.completions.create(model="fake-model", messages=_messages(ENGLISH_PROMPT))
    assert info.value.status_code == status
    if kind == "429":
        assert info.value.response.headers["retry-after"] == "0"
        assert info.value.code == "rate_limit_exceeded"
    # fault consumed: the next call succeeds
    resp = await aclient.chat.completions.create(model="fake-model", messages=_messages(ENGLISH_PROMPT))
    assert resp.choices[0].message.content


async def test_faults_are_fifo(aclient: openai.AsyncOpenAI, server: FakeLLMServer) -> None:
    server.inject_many("500", 2)
    server.inject("429")
    for exc in (openai.InternalServerError, openai.InternalServerError, openai.RateLimitError):
        with pytest.raises(exc):
            await aclient.chat.completions.create(model="fake-model", messages=_messages(ENGLISH_PROMPT))
    assert [r["fault"] for r in server.requests] == ["500", "500", "429"]
    server.inject_many("503", 3)
    server.clear_faults()
    assert server.pending_faults == []


async def test_timeout_fault(server: FakeLLMServer) -> None:
    server.timeout_sleep_s = 1.0
    server.inject("timeout")
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=0.3) as c:
        start = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            await c.chat.completions.create(model="fake-model", messages=_messages(ENGLISH_PROMPT))
        assert time.monotonic() - start < 1.0


async def test_content_faults(aclient: openai.AsyncOpenAI, server: FakeLLMServer) -> None:
    server.inject("malformed")
    server.inject("bad_schema")
    server.inject("empty")

    async def content() -> str | None:
        resp = await aclient.chat.completions.create(
            model="fake-model", messages=_messages(GERMAN_PROMPT), response_format=JSON_FORMAT
        )
        return resp.choices[0].message.content

    with pytest.raises(json.JSONDecodeError):
        json.loads(await content() or "")
    bad = json.loads(await content() or "")
    assert "reply" not in bad
    assert not await content()


async def test_disconnect_fault(aclient: openai.AsyncOpenAI, server: FakeLLMServer) -> None:
    server.inject("disconnect")
    with pytest.raises(openai.APIConnectionError) as info:
        await aclient.chat.completions.create(model="fake-model", messages=_messages(ENGLISH_PROMPT))
    assert not isinstance(info.value, openai.APITimeoutError)
    resp = await aclient.chat.completions.create(model="fake-model", messages=_messages(ENGLISH_PROMPT))
    assert resp.choices[0].message.content


async def test_delay(server: FakeLLMServer) -> None:
    server.set_delay(0.4)
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=3.0) as c:
        start = time.monotonic()
        await c.chat.completions.create(model="fake-model", messages=_messages(ENGLISH_PROMPT))
        assert time.monotonic() - start >= 0.4
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=0.2) as c:
        with pytest.raises(openai.APITimeoutError):
            await c.chat.completions.create(model="fake-model", messages=_messages(ENGLISH_PROMPT))


def test_inject_rejects_unknown_kind(server: FakeLLMServer) -> None:
    with pytest.raises(ValueError):
        server.inject("nope")


def test_process_mode() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.llm_server", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        assert ready, "fake server did not print its port"
        first = proc.stdout.readline().split()
        assert first[0] == "LISTENING"
        root = f"http://127.0.0.1:{int(first[1])}"

        with (
            openai.OpenAI(base_url=f"{root}/v1", api_key="proc", max_retries=0, timeout=3.0) as c,
            httpx.Client(base_url=root, timeout=3.0) as ctl,
        ):
            resp = c.chat.completions.create(
                model="fake-model", messages=_messages(GERMAN_PROMPT), response_format=JSON_FORMAT
            )
            assert json.loads(resp.choices[0].message.content or "")["source_ids"] == ["faq-returns-01"]

            assert ctl.post("/_control/fault", json={"kind": "429", "count": 2}).status_code == 200
            for _ in range(2):
                with pytest.raises(openai.RateLimitError):
                    c.chat.completions.create(model="fake-model", messages=_messages(GERMAN_PROMPT))
            assert ctl.post("/_control/fault", json={"kind": "bogus"}).status_code == 400

            assert ctl.post("/_control/delay", json={"seconds": 0.3}).status_code == 200
            start = time.monotonic()
            c.chat.completions.create(model="fake-model", messages=_messages(GERMAN_PROMPT))
            assert time.monotonic() - start >= 0.3

            reqs = ctl.get("/_control/requests").json()
            assert [r["fault"] for r in reqs] == [None, "429", "429", None]
            assert all(r["authorization"] == "Bearer proc" for r in reqs)

            assert ctl.post("/_control/reset").status_code == 200
            assert ctl.get("/_control/requests").json() == []
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _fates(server: FakeLLMServer, calls: int) -> list[str]:
    """What each of `calls` chat calls met: "ok", or the fault it failed with (timeouts cut short)."""
    fates = []
    with openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0, timeout=0.3) as c:
        for _ in range(calls):
            try:
                c.chat.completions.create(model="fake-model", messages=_messages(ENGLISH_PROMPT))
                fates.append("ok")
            except openai.RateLimitError:
                fates.append("429")
            except openai.InternalServerError:
                fates.append("500")
            except openai.APITimeoutError:
                fates.append("timeout")
    return fates


def test_a_seeded_fault_rate_fails_that_share_of_calls_the_same_way_each_time(server: FakeLLMServer) -> None:
    server.timeout_sleep_s = 0.5
    server.set_fault_rate(0.3, seed=7)
    first = _fates(server, 60)
    counts = dict(server.fault_counts)
    server.set_fault_rate(0.3, seed=7)
    assert _fates(server, 60) == first  # reproducible by seed
    failed = [fate for fate in first if fate != "ok"]
    assert 8 <= len(failed) <= 30 and set(failed) == {"429", "500", "timeout"}
    assert sum(counts.values()) == len(failed)
    server.set_fault_rate(0.3, seed=8)
    assert _fates(server, 60) != first  # another seed, other fates
    server.reset()
    assert _fates(server, 5) == ["ok"] * 5
    with pytest.raises(ValueError):
        server.set_fault_rate(1.5)
