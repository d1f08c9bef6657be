"""The LLM: the only module that knows the OpenAI API (OpenAI, Azure, vLLM, Ollama, llama.cpp server).

The client's own retries are off; tenacity retries here, with a timeout per call, exponential backoff
with jitter and a cap on attempts. Rate limits, 5xx, timeouts and dropped connections are retried; 4xx
answers other than 429 are not (retrying a bad request cannot help).

Structured output comes in three modes (`REPLY_LLM_OUTPUT_MODE`), because servers differ:
- `json_schema`: `response_format` with a JSON schema (OpenAI, vLLM, Ollama);
- `json_object`: `{"type": "json_object", "schema": ...}` (llama.cpp's server answers json_schema with
  HTTP 500 but honours this);
- `text`: no `response_format`; the prompt asks for the JSON (every prompt does, in all modes).
`auto` probes the server once, in that order, and keeps the first mode that answers with JSON. A probe
that reaches no server decides nothing: the next call probes again.

A circuit breaker stands around every call: after `llm_breaker_failures` calls in a row that failed
for good (every retry spent; a merely malformed answer does not count: the server is up), calls fail
at once with `LLMUnavailable` for `llm_breaker_reset_s`, so drafts fall back to templates without
waiting on a dead server; then one call is let through to try again (half-open): success closes the
breaker, failure opens it for another period.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import openai
import structlog
from openai import AsyncOpenAI
from prometheus_client import Counter, Gauge, Histogram
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from service.config import Settings
from service.prompts import render

T = TypeVar("T")
log = structlog.get_logger("service.llm")

OUTPUT_MODES = ("json_schema", "json_object", "text")
PROBE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}},
    "required": ["ok"],
    "additionalProperties": False,
}

LLM_CALLS = Counter(
    "reply_service_llm_calls_total", "Chat completions sent to the LLM", ["purpose", "outcome"]
)
LLM_TOKENS = Counter("reply_service_llm_tokens_total", "Tokens used by the LLM", ["purpose", "kind"])
LLM_LATENCY = Histogram(
    "reply_service_llm_call_seconds",
    "Time of one LLM call, retries included",
    ["purpose"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
)
BREAKER_OPEN = Gauge("reply_service_llm_breaker_open", "1 while the LLM circuit breaker is open")


class LLMError(Exception):
    """The LLM gave no usable answer after every attempt."""


class LLMUnavailable(LLMError):
    """The circuit breaker is open: the LLM kept failing, so it is not asked now."""


class MalformedOutput(LLMError):
    """The LLM answered, but not with the JSON object we asked for."""


@dataclass(frozen=True)
class Completion:
    """One answer of the model, with what it cost."""

    content: str
    model: str
    mode: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float


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


class CircuitBreaker:
    """Closed, open for `reset_s` after `failures` failures in a row, then half-open for one trial call.

    Hand-written because the maintained breakers (pybreaker) are synchronous; this one is a few lines
    of state, read and changed only on the event loop.
    """

    def __init__(self, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.failures_to_open = max(1, failures)
        self.reset_s = reset_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._clock() - self._opened_at >= self.reset_s else "open"

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial:
            self._trial = True  # one call tries the server; the others still go to templates
            return True
        return False

    def success(self) -> None:
        self._failures, self._opened_at, self._trial = 0, None, False
        BREAKER_OPEN.set(0)

    def failure(self) -> None:
        self._failures += 1
        if self._trial or self._failures >= self.failures_to_open:
            if self._opened_at is None or self._trial:
                log.warning("LLM circuit breaker opens", failures=self._failures, reset_s=self.reset_s)
            self._opened_at, self._trial = self._clock(), False
            BREAKER_OPEN.set(1)


class LLMClient:
    def __init__(self, settings: Settings) -> None:
        assert settings.llm_base_url and settings.llm_model
        self.model = settings.llm_model
        self._attempts = settings.llm_attempts
        self._max_backoff = settings.llm_max_backoff_s
        self._temperature = settings.llm_temperature
        self._prompts_dir = settings.prompts_dir
        self._mode: str | None = None if settings.llm_output_mode == "auto" else settings.llm_output_mode
        self._probe_lock = asyncio.Lock()
        self.breaker = CircuitBreaker(settings.llm_breaker_failures, settings.llm_breaker_reset_s)
        self._client = AsyncOpenAI(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key or "not-needed",
            timeout=settings.llm_timeout_s,
            max_retries=0,
        )

    @property
    def output_mode(self) -> str | None:
        """The structured-output mode in use; None until `auto` has probed the server."""
        return self._mode

    async def complete(
        self,
        messages: list[dict[str, str]],
        *,
        schema: dict[str, Any],
        schema_name: str,
        purpose: str = "draft",
        temperature: float | None = None,
    ) -> Completion:
        """One chat completion in the output mode, retried as the module docstring says. The content is
        the model's raw text: parsing and validating it is the caller's (it knows how to repair it)."""
        if not self.breaker.allow():
            LLM_CALLS.labels(purpose, "breaker_open").inc()
            raise LLMUnavailable("the LLM circuit breaker is open (the model kept failing)")
        start = time.perf_counter()
        try:
            mode = await self._resolve_mode()
            completion = await self._retrying(
                lambda: self._create(messages, mode, schema, schema_name, temperature, start)
            )
        except LLMError:
            self.breaker.failure()
            LLM_CALLS.labels(purpose, "failed").inc()
            raise
        self.breaker.success()
        LLM_CALLS.labels(purpose, "ok").inc()
        LLM_TOKENS.labels(purpose, "prompt").inc(completion.prompt_tokens)
        LLM_TOKENS.labels(purpose, "completion").inc(completion.completion_tokens)
        LLM_LATENCY.labels(purpose).observe(completion.latency_ms / 1000)
        return completion

    async def classify(self, system: str, user: str, labels: Sequence[str]) -> LLMClassification:
        """Ask for `{"intent": <one of labels>, "needs_reply": bool, "reason": str}` (triage of a post the
        rules could not place); retried as the module docstring says, an unknown label included."""

        async def once() -> LLMClassification:
            content, model = await self._json_chat(system, user, 0.0)
            return parse_classification(content, model, labels)

        if not self.breaker.allow():
            raise LLMUnavailable("the LLM circuit breaker is open (the model kept failing)")
        try:
            result = await self._retrying(once)
        except MalformedOutput:
            self.breaker.success()  # the server answers, if not well: no reason to stop asking it
            raise
        except LLMError:
            self.breaker.failure()
            raise
        self.breaker.success()
        return result

    async def _create(
        self,
        messages: list[dict[str, str]],
        mode: str,
        schema: dict[str, Any],
        schema_name: str,
        temperature: float | None,
        start: float,
    ) -> Completion:
        extra: dict[str, Any] = {}
        response_format = _response_format(mode, schema, schema_name)
        if response_format is not None:
            extra["response_format"] = response_format
        response = await self._client.chat.completions.create(
            model=self.model,
            messages=messages,  # type: ignore[arg-type]
            temperature=self._temperature if temperature is None else temperature,
            **extra,
        )
        content = response.choices[0].message.content if response.choices else None
        usage = response.usage
        return Completion(
            content=content or "",
            model=response.model or self.model,
            mode=mode,
            prompt_tokens=int(usage.prompt_tokens) if usage else 0,
            completion_tokens=int(usage.completion_tokens) if usage else 0,
            latency_ms=round((time.perf_counter() - start) * 1000, 1),
        )

    async def _resolve_mode(self) -> str:
        if self._mode is not None:
            return self._mode
        async with self._probe_lock:
            if self._mode is None:
                found = await self._probe()
                if found is None:
                    # no server answered: decide nothing, and let this call find out what is wrong
                    return "json_object"
                log.info("LLM output mode found by probing", mode=found, model=self.model)
                self._mode = found
            return self._mode

    async def _probe(self) -> str | None:
        """The first mode whose answer parses as JSON; "text" when the server answers but not with JSON
        in either structured mode; None when it does not answer at all (down, rate limited)."""
        messages = [
            {"role": "system", "content": render(self._prompts_dir, "llm_probe_system.j2")},
            {"role": "user", "content": render(self._prompts_dir, "llm_probe_user.j2")},
        ]
        answered = False
        for mode in ("json_schema", "json_object", "text"):
            try:
                started = time.perf_counter()
                completion = await self._create(messages, mode, PROBE_SCHEMA, "probe", 0.0, started)
            except (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError):
                return None
            except openai.APIStatusError as exc:
                log.info("LLM output mode refused", mode=mode, status=exc.status_code)
                continue
            answered = True
            if mode == "text":
                return "text"
            try:
                if isinstance(json.loads(completion.content), dict):
                    return mode
            except json.JSONDecodeError:
                continue
        return "text" if answered else None

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


def _response_format(mode: str, schema: dict[str, Any], name: str) -> dict[str, Any] | None:
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
    if mode == "json_object":
        return {"type": "json_object", "schema": schema}
    return None


def extract_json_object(content: str) -> Any:
    """The JSON object in a model's answer. Text mode answers often wrap it in a code fence or a
    sentence; the first `{` to the last `}` is taken when the whole answer does not parse."""
    text = content.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        start, end = text.find("{"), text.rfind("}")
        if start == -1 or end <= start:
            raise MalformedOutput(f"LLM output is not JSON: {exc.msg}") from exc
        try:
            return json.loads(text[start : end + 1])
        except json.JSONDecodeError as inner:
            raise MalformedOutput(f"LLM output is not JSON: {inner.msg}") from inner


def parse_reply(content: str, model: str) -> LLMReply:
    data = extract_json_object(content)
    if not isinstance(data, dict) or not isinstance(data.get("reply"), str) or not data["reply"].strip():
        raise MalformedOutput("LLM output has no non-empty 'reply' string")
    ids = data.get("source_ids")
    if ids is None:
        ids = []
    if not isinstance(ids, list) or not all(isinstance(i, str | int) for i in ids):
        raise MalformedOutput("LLM output's 'source_ids' is not a list of strings")
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
