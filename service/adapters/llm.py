"""The LLM: the only module that knows the OpenAI API (OpenAI, Azure, vLLM, Ollama, llama.cpp server).

The client's own retries are off; tenacity retries here, with a timeout per call, exponential backoff
with jitter and a cap on attempts. Rate limits, 5xx, timeouts, dropped connections and malformed output
are retried; 4xx answers other than 429 are not (retrying a bad request cannot help).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import openai
from openai import AsyncOpenAI
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from service.config import Settings

T = TypeVar("T")


class LLMError(Exception):
    """The LLM gave no usable answer after every attempt."""


class MalformedOutput(LLMError):
    """The LLM answered, but not with the JSON object we asked for."""


@dataclass(frozen=True)
class LLMReply:
    text: str
    source_ids: list[str]
    model: str


_RETRYABLE = (
    openai.RateLimitError,
    openai.InternalServerError,
    openai.APITimeoutError,
    openai.APIConnectionError,
    MalformedOutput,
)


class LLMClient:
    def __init__(self, settings: Settings) -> None:
        assert settings.llm_base_url and settings.llm_model
        self.model = settings.llm_model
        self._attempts = settings.llm_attempts
        self._max_backoff = settings.llm_max_backoff_s
        self._temperature = settings.llm_temperature
        self._client = AsyncOpenAI(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key or "not-needed",
            timeout=settings.llm_timeout_s,
            max_retries=0,
        )

    async def draft_reply(self, system: str, user: str) -> LLMReply:
        """Ask for `{"reply": str, "source_ids": [str]}`; retried as the module docstring says."""

        async def once() -> LLMReply:
            content, model = await self._json_chat(system, user, self._temperature)
            return parse_reply(content, model)

        return await self._retrying(once)

    async def classify(self, system: str, user: str, labels: Sequence[str]) -> LLMClassification:
        """Ask for `{"intent": <one of labels>, "needs_reply": bool, "reason": str}` (triage of a post the
        rules could not place); retried as the module docstring says, an unknown label included."""

        async def once() -> LLMClassification:
            content, model = await self._json_chat(system, user, 0.0)
            return parse_classification(content, model, labels)

        return await self._retrying(once)

    async def _json_chat(self, system: str, user: str, temperature: float) -> tuple[str, str]:
        response = await self._client.chat.completions.create(
            model=self.model,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            temperature=temperature,
            response_format={"type": "json_object"},
        )
        content = response.choices[0].message.content if response.choices else None
        return content or "", response.model or self.model

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._attempts),
                wait=wait_exponential_jitter(initial=0.2, max=self._max_backoff),
                retry=retry_if_exception_type(_RETRYABLE),
                reraise=True,
            ):
                with attempt:
                    return await call()
        except openai.APIStatusError as exc:
            raise LLMError(f"LLM answered HTTP {exc.status_code}") from exc
        except openai.APIError as exc:
            raise LLMError(f"LLM unreachable: {type(exc).__name__}") from exc
        raise LLMError("LLM gave no answer")  # pragma: no cover - AsyncRetrying always returns or raises

    async def check(self) -> None:
        await self._client.models.list()

    async def close(self) -> None:
        await self._client.close()


def parse_reply(content: str, model: str) -> LLMReply:
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise MalformedOutput(f"LLM output is not JSON: {exc.msg}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("reply"), str) or not data["reply"].strip():
        raise MalformedOutput("LLM output has no non-empty 'reply' string")
    ids = data.get("source_ids") or []
    if not isinstance(ids, list):
        ids = []
    return LLMReply(text=data["reply"].strip(), source_ids=[str(i) for i in ids], model=model)


@dataclass(frozen=True)
class LLMClassification:
    label: str
    needs_reply: bool
    reason: str
    model: str


def parse_classification(content: str, model: str, labels: Sequence[str]) -> LLMClassification:
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise MalformedOutput(f"LLM output is not JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise MalformedOutput("LLM output is not a JSON object")
    label = str(data.get("intent") or "").strip().lower()
    if label not in labels:
        raise MalformedOutput(f"LLM output's 'intent' is not one of {', '.join(labels)}")
    needs_reply = data.get("needs_reply")
    if not isinstance(needs_reply, bool):
        raise MalformedOutput("LLM output has no boolean 'needs_reply'")
    reason = data.get("reason")
    return LLMClassification(
        label=label,
        needs_reply=needs_reply,
        reason=reason.strip() if isinstance(reason, str) else "",
        model=model,
    )
