"""Writing a draft reply: by the LLM, grounded in the retrieved sources, or by template without one;
then checking it (grounding.py, injection.py) before an agent sees it.

Nothing here sends anything anywhere: a draft is only ever stored for an agent to review.

The way of one draft, in words:
1. Knowledge that carries instructions to the writer is left out (and the draft says so); hits below
   the brand's threshold are not used, but the best of them stay in `sources` with their real scores.
2. No model, a spent monthly token budget (`budget_exhausted`) or an open circuit breaker: a template.
3. The model answers as JSON (adapters/llm.py picks the output mode); an answer that fails validation
   goes back once with the error (repair); a second failure means a template, flagged `llm_failed`.
4. Too long for the channel: the model is asked once to shorten it; still too long, it is cut at a
   sentence end (`truncated`).
5. A draft that obeys the data (injection.py) is replaced by a safe holding reply in the brand's voice,
   flagged `injection_suspected`, with the reason; every other draft gets the grounding checks.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from prometheus_client import Counter, Histogram

from service.adapters.llm import Completion, LLMError, LLMUnavailable, MalformedOutput, parse_reply
from service.drafts import budget, grounding, injection, templates
from service.drafts.grounding import Check, Evidence
from service.knowledge.retrieval import KnowledgeHit
from service.prompts import render, version
from service.runtime import Runtime

log = structlog.get_logger("service.drafts")

LANGUAGE_NAMES = {
    "de": "German",
    "en": "English",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "nl": "Dutch",
    "pl": "Polish",
    "tr": "Turkish",
    "pt": "Portuguese",
}
TEMPLATE_LANGUAGES = templates.TEMPLATE_LANGUAGES
DEFAULT_MAX_CHARS = {"twitter": 280, "x": 280, "instagram": 2200, "facebook": 8000, "forum": 10000}
FALLBACK_MAX_CHARS = 2000
# X counts the @handle the reply starts with against the 280 characters.
HANDLE_CHANNELS = frozenset({"twitter", "x"})
# Channels that render Markdown; elsewhere asterisks and hashes would show as typed.
MARKDOWN_CHANNELS = frozenset({"forum", "email"})
LLM_PROMPTS = ("draft_system.j2", "draft_user.j2", "draft_repair.j2", "draft_shorten.j2")
NEAR_MISSES = 3
REPLY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reply": {"type": "string", "minLength": 1},
        "source_ids": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["reply", "source_ids"],
    "additionalProperties": False,
}

DRAFTS = Counter("reply_service_drafts_total", "Drafts written", ["writer"])
DRAFT_FLAGS = Counter("reply_service_draft_flags_total", "Flags on written drafts", ["flag"])
DRAFT_SECONDS = Histogram(
    "reply_service_draft_seconds",
    "Time to write and check one draft",
    ["writer"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
)
DRAFT_TOKENS = Counter("reply_service_draft_tokens_total", "LLM tokens spent on drafts", ["kind"])


@dataclass
class DraftContent:
    text: str
    language: str
    sources: list[dict[str, Any]]
    confidence: float
    flags: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    prompt_version: str | None = None
    usage: dict[str, Any] | None = None

    @property
    def tokens(self) -> int:
        return int((self.usage or {}).get("total_tokens", 0))


@dataclass(frozen=True)
class DraftRequest:
    brand_name: str
    brand_language: str
    voice: dict[str, Any]
    channel: str
    channel_settings: dict[str, Any]
    post_text: str
    author: dict[str, Any]
    language: str  # the customer's language, from triage
    min_score: float
    instruction: str | None = None
    thread: tuple[str, ...] = ()  # earlier posts of the thread, oldest first
    intent: str | None = None
    sentiment: str | None = None
    urgency: tuple[str, ...] = ()
    brand_id: str | None = None
    # "customer": reply in the customer's language; "brand": always in the brand's own language
    reply_language: str = "customer"
    monthly_token_budget: int | None = None
    # the learned abstention (ranking.abstains) may veto the hits; off where a threshold was set on purpose
    # (the brand's `retrieval_min_score` or REPLY_RETRIEVAL_MIN_SCORE): that threshold alone decides then
    learned_abstention: bool = True

    @property
    def target_language(self) -> str:
        return self.brand_language if self.reply_language == "brand" else self.language

    @property
    def formality(self) -> str:
        return str(self.voice.get("formality") or "formal")


class UnusableAnswer(Exception):
    """The model answered twice (once repaired) without a usable reply."""


def max_chars(req: DraftRequest) -> int:
    configured = (req.channel_settings.get(req.channel) or {}).get("max_chars")
    return int(configured or DEFAULT_MAX_CHARS.get(req.channel, FALLBACK_MAX_CHARS))


def handle_chars(req: DraftRequest) -> int:
    handle = str(req.author.get("handle", "")).lstrip("@")
    return len(handle) + 2 if handle and req.channel in HANDLE_CHANNELS else 0


def text_limit(req: DraftRequest) -> int:
    """Characters the draft's text may have: the channel's limit less the @handle X puts in front."""
    return max(20, max_chars(req) - handle_chars(req))


def _display_name(author: dict[str, Any]) -> str:
    name = (author.get("name") or "").strip()
    return name.split()[0] if name else "@" + str(author.get("handle", "")).lstrip("@")


def _fit(text: str, limit: int) -> tuple[str, bool]:
    """Cut at the last sentence end that fits; a reply never stops mid-word."""
    if len(text) <= limit:
        return text, False
    cut = text[:limit]
    ends = [m.end() for m in re.finditer(r"[.!?](\s|$)", cut)]
    if ends and ends[-1] > limit // 3:
        return cut[: ends[-1]].rstrip(), True
    return cut[: cut.rfind(" ")].rstrip() + "…" if " " in cut else cut[: limit - 1] + "…", True


def _source_dicts(hits: list[KnowledgeHit]) -> list[dict[str, Any]]:
    return [{"source_id": h.source_id, "kind": h.kind, "title": h.title, "score": h.score} for h in hits]


def _template_language(req: DraftRequest) -> str:
    return templates.template_language(req.target_language, req.brand_language)


def _dedupe(flags: list[str]) -> list[str]:
    return list(dict.fromkeys(flags))


def _voice_context(req: DraftRequest, language: str) -> dict[str, Any]:
    return {
        "language": language,
        "formality": req.formality,
        "name": _display_name(req.author),
        "signature": req.voice.get("signature"),
        "empathy": templates.wants_empathy(req.intent, req.sentiment),
        "followup": bool(req.thread),
    }


def _evidence(req: DraftRequest, sources: list[str]) -> Evidence:
    """What a draft may state: its sources, the customer's words, the brand's own words."""
    author = req.author or {}
    return Evidence.of(
        [
            *sources,
            req.post_text,
            *req.thread,
            req.brand_name,
            str(req.voice.get("signature") or ""),
            str(req.voice.get("persona") or ""),
            str(author.get("name") or ""),
            str(author.get("handle") or ""),
            req.instruction or "",  # the agent's instruction is trusted ("offer a call back at ...")
        ]
    )


def _without_signature(text: str, req: DraftRequest) -> str:
    signature = str(req.voice.get("signature") or "").strip()
    return text.replace(signature, " ") if signature else text


def review_checks(text: str, req: DraftRequest, sources: list[str], language: str) -> list[Check]:
    """The grounding checks every draft gets (module docstring of grounding.py)."""
    found = [
        grounding.unsupported_claims(text, _evidence(req, sources)),
        grounding.banned_phrases(text, req.voice.get("banned_phrases") or []),
        grounding.wrong_language(_without_signature(text, req), language, LANGUAGE_NAMES),
        grounding.wrong_formality(_without_signature(text, req), language, req.formality),
    ]
    return [c for c in found if c is not None]


def _split_hits(
    req: DraftRequest, hits: list[KnowledgeHit]
) -> tuple[list[KnowledgeHit], list[KnowledgeHit], list[Check]]:
    """(usable, near misses, checks): poisoned knowledge out, the rest by the brand's threshold, and none
    usable when the learned abstention judged that the search found nothing that answers the post
    (`KnowledgeHit.abstained`, unless `req.learned_abstention` is off): the hits are then near misses with
    their scores as found."""
    ranked = sorted(hits, key=lambda h: h.score, reverse=True)
    poisoned = [h for h in ranked if injection.carries_instructions(h.text)]
    checks: list[Check] = []
    # only knowledge that would have reached the writer is worth the agent's attention
    if any(h.score >= req.min_score for h in poisoned):
        ids = ", ".join(h.source_id for h in poisoned if h.score >= req.min_score)
        checks.append(
            Check(
                "injection_suspected",
                [],
                f"knowledge {ids} carries instructions to the reply writer; it was left out of this draft",
            )
        )
    clean = [h for h in ranked if h not in poisoned]
    abstained = req.learned_abstention and any(h.abstained for h in ranked)
    usable = [] if abstained else [h for h in clean if h.score >= req.min_score]
    near = [] if usable else clean[:NEAR_MISSES]
    return usable, near, checks


def _finish(
    text: str,
    language: str,
    sources: list[KnowledgeHit],
    confidence: float,
    flags: list[str],
    checks: list[Check],
    *,
    prompt_version: str,
    usage: dict[str, Any],
) -> DraftContent:
    flags = _dedupe([*flags, *(c.flag for c in checks)])
    return DraftContent(
        text=text,
        language=language,
        sources=_source_dicts(sources),
        confidence=confidence,
        flags=flags,
        checks=[c.to_dict() for c in checks],
        prompt_version=prompt_version,
        usage=usage,
    )


def template_draft(
    runtime: Runtime,
    req: DraftRequest,
    usable: list[KnowledgeHit],
    flags: list[str],
    *,
    near: list[KnowledgeHit] | None = None,
    checks: list[Check] | None = None,
    usage: dict[str, Any] | None = None,
) -> DraftContent:
    """The draft without an LLM: the best knowledge answer with greeting and signature, or a holding
    reply. Checked like a model's draft; an answer in another language than the customer's is
    `wrong_language` (a template cannot translate)."""
    prompts_dir = runtime.settings.prompts_dir
    language = _template_language(req)
    context = _voice_context(req, language)
    checks = list(checks or [])
    if usable:
        answer = usable[0].text
        text = templates.answer_reply(prompts_dir, answer=answer, **context)
        sources, confidence, written_in = usable, usable[0].score, language
        found, sure = grounding.draft_language(answer, req.brand_language)
        if sure and found != req.target_language:
            written_in = found
            checks.append(
                Check(
                    "wrong_language",
                    [],
                    f"the only fitting knowledge is in {LANGUAGE_NAMES.get(found, found)}; the customer "
                    f"writes {LANGUAGE_NAMES.get(req.target_language, req.target_language)}",
                )
            )
        elif language != req.target_language:
            checks.append(
                Check("wrong_language", [], f"no template in {LANGUAGE_NAMES.get(req.target_language)}")
            )
    else:
        text = templates.holding_reply(prompts_dir, need=templates.need_for(req.post_text), **context)
        sources = near or []
        confidence = sources[0].score if sources else 0.0
        written_in = language
        flags = [*flags, "no_knowledge"]
        if language != req.target_language:
            checks.append(
                Check("wrong_language", [], f"no template in {LANGUAGE_NAMES.get(req.target_language)}")
            )
    text, truncated = _fit(text, text_limit(req))
    if truncated:
        flags = [*flags, "truncated"]
    source_texts = [h.text for h in usable]
    found_checks = [
        c for c in review_checks(text, req, source_texts, written_in) if c.flag != "wrong_language"
    ]
    return _finish(
        text,
        written_in,
        sources,
        confidence,
        ["template", *flags],
        [*checks, *found_checks],
        prompt_version=version(prompts_dir, *templates.TEMPLATE_FILES),
        usage=usage or {"calls": 0, "total_tokens": 0},
    )


@dataclass
class _Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    model: str | None = None
    mode: str | None = None

    def add(self, completion: Completion) -> None:
        self.calls += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        self.latency_ms += completion.latency_ms
        self.model, self.mode = completion.model, completion.mode

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "llm_latency_ms": round(self.latency_ms, 1),
            "model": self.model,
            "output_mode": self.mode,
        }


async def _ask(
    runtime: Runtime, messages: list[dict[str, str]], usage: _Usage, purpose: str
) -> tuple[Any, str]:
    """One answer parsed as a reply; a malformed one goes back once with the error."""
    assert runtime.llm is not None
    completion = await runtime.llm.complete(
        messages, schema=REPLY_SCHEMA, schema_name="draft_reply", purpose=purpose
    )
    usage.add(completion)
    try:
        return parse_reply(completion.content, completion.model), completion.content
    except MalformedOutput as exc:
        repair = render(runtime.settings.prompts_dir, "draft_repair.j2", error=str(exc))
        messages = [
            *messages,
            {"role": "assistant", "content": completion.content},
            {"role": "user", "content": repair},
        ]
        completion = await runtime.llm.complete(
            messages, schema=REPLY_SCHEMA, schema_name="draft_reply", purpose=f"{purpose}_repair"
        )
        usage.add(completion)
        try:
            return parse_reply(completion.content, completion.model), completion.content
        except MalformedOutput as again:
            raise UnusableAnswer(str(again)) from again


def _data(text: str, nonce: str) -> str:
    """Data goes into the prompt on one line and can never close its own fence."""
    return " ".join(text.replace(nonce, "").split())


async def _llm_draft(
    runtime: Runtime,
    req: DraftRequest,
    usable: list[KnowledgeHit],
    near: list[KnowledgeHit],
    checks: list[Check],
    usage: _Usage,
) -> DraftContent:
    prompts_dir = runtime.settings.prompts_dir
    nonce = "data-" + secrets.token_hex(6)
    canary = "cnry-" + secrets.token_hex(8)
    language = req.target_language
    limit = text_limit(req)
    markdown = req.channel in MARKDOWN_CHANNELS
    need = templates.need_for(req.post_text) if not usable else None
    need_phrase = {
        "order": "their order number",
        "booking": "their booking number",
        "meter": "their customer and meter number",
        "account": "their customer number",
    }.get(need or "")
    urgent = [u for u in req.urgency if u]
    system = render(
        prompts_dir,
        "draft_system.j2",
        brand_name=req.brand_name,
        canary=canary,
        nonce=nonce,
        has_sources=bool(usable),
        need=need_phrase,
        intent=req.intent or "unknown",
        sentiment=req.sentiment or "unknown",
        urgent=urgent,
        language=language,
        language_name=LANGUAGE_NAMES.get(language, language),
        formality=req.formality,
        persona=req.voice.get("persona"),
        signature=req.voice.get("signature"),
        banned_phrases=req.voice.get("banned_phrases") or [],
        author_name=_display_name(req.author),
        channel=req.channel,
        max_chars=limit,
        handle_chars=handle_chars(req),
        markdown=markdown,
    )
    sources = [
        {"source_id": _data(h.source_id, nonce), "title": _data(h.title, nonce), "text": _data(h.text, nonce)}
        for h in usable
    ]
    user = render(
        prompts_dir,
        "draft_user.j2",
        nonce=nonce,
        sources=sources,
        thread=[_data(t, nonce) for t in req.thread],
        author_name=_display_name(req.author),
        author_handle=str(req.author.get("handle", "")).lstrip("@"),
        intent=req.intent or "unknown",
        sentiment=req.sentiment or "unknown",
        urgent=urgent,
        language=language,
        post_text=_data(req.post_text, nonce),
        instruction=req.instruction,
    )
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    reply, raw = await _ask(runtime, messages, usage, "draft")
    text = reply.text if markdown else grounding.strip_markdown(reply.text)
    first_text = text
    source_ids = reply.source_ids
    flags: list[str] = ["llm"]
    if len(text) > limit:
        shorten = render(
            prompts_dir,
            "draft_shorten.j2",
            length=len(text),
            max_chars=limit,
            signature=req.voice.get("signature"),
        )
        retry = [*messages, {"role": "assistant", "content": raw}, {"role": "user", "content": shorten}]
        try:
            shorter, _ = await _ask(runtime, retry, usage, "shorten")
        except (LLMError, UnusableAnswer):
            shorter = None  # the long draft is cut below instead
        if shorter is not None:
            candidate = shorter.text if markdown else grounding.strip_markdown(shorter.text)
            if len(candidate) < len(text):
                text, source_ids = candidate, shorter.source_ids
        text, truncated = _fit(text, limit)
        if truncated:
            flags.append("truncated")

    known = {h.source_id: h for h in usable}
    cited = list(dict.fromkeys(known[i] for i in source_ids if i in known))
    unknown = [i for i in source_ids if i not in known]
    if unknown:
        checks.append(Check("unknown_source_cited", [], "dropped: " + ", ".join(unknown[:10])))
    ordered = cited + [h for h in usable if h not in cited]
    if not usable:
        flags.append("no_knowledge")
    listed = ordered or near
    confidence = listed[0].score if listed else 0.0
    prompt_version = version(prompts_dir, *LLM_PROMPTS, *templates.TEMPLATE_FILES)

    def assess(candidate: str) -> injection.Verdict:
        return injection.assess(
            candidate,
            system_prompt=system,
            canary=canary,
            nonce=nonce,
            post=req.post_text,
            thread=req.thread,
            sources=[h.text for h in usable] + [h.title for h in usable],
            brand_words=[
                req.brand_name,
                str(req.voice.get("signature") or ""),
                str(req.voice.get("persona") or ""),
            ],
        )

    verdict = assess(text)
    if not verdict.suspected and first_text != text:
        # a model that obeyed the data once is not trusted because its shortened version looks clean
        first = assess(first_text)
        if first.suspected:
            verdict, text = first, first_text
    if verdict.suspected:
        log.warning("draft replaced: injection suspected", reasons=list(verdict.reasons))
        template_lang = _template_language(req)
        safe = templates.holding_reply(prompts_dir, need=None, **_voice_context(req, template_lang))
        safe, _ = _fit(safe, limit)
        check = Check(
            "injection_suspected",
            list(verdict.spans),
            "the model's draft "
            + ", ".join(r.replace("_", " ") for r in verdict.reasons)
            + "; replaced by a holding reply. The model wrote: "
            + text[:1000],
        )
        return _finish(
            safe,
            template_lang,
            listed,
            confidence,
            flags,
            [*checks, check],
            prompt_version=prompt_version,
            usage=usage.to_dict(),
        )
    found = review_checks(text, req, [h.text for h in usable] + [h.title for h in usable], language)
    written_in = language
    for check in found:
        if check.flag == "wrong_language":
            written_in, _ = grounding.draft_language(_without_signature(text, req), language)
    return _finish(
        text,
        written_in,
        listed,
        confidence,
        flags,
        [*checks, *found],
        prompt_version=prompt_version,
        usage=usage.to_dict(),
    )


async def _budget_left(runtime: Runtime, req: DraftRequest) -> tuple[bool, str | None]:
    if not req.monthly_token_budget or not req.brand_id:
        return True, None
    async with runtime.transaction() as session:
        used = await budget.tokens_this_month(session, req.brand_id)
    if used < req.monthly_token_budget:
        return True, None
    return False, f"the brand's monthly token budget ({req.monthly_token_budget}) is used up ({used})"


async def write_draft(
    runtime: Runtime, req: DraftRequest, hits: list[KnowledgeHit], *, allow_fallback: bool
) -> DraftContent:
    """Draft from the hits that clear the brand's threshold (module docstring). If the LLM fails and
    `allow_fallback` is set (the job's last attempt), the template draft is used and flagged
    `llm_failed`, so an accepted post always ends with something for an agent to review; an open
    circuit breaker or an answer unusable after its repair falls back at once."""
    started = time.perf_counter()
    usable, near, checks = _split_hits(req, hits)
    usage = _Usage()
    if runtime.llm is None:
        content = template_draft(runtime, req, usable, [], near=near, checks=checks)
    else:
        left, why = await _budget_left(runtime, req)
        if not left:
            checks.append(Check("budget_exhausted", [], why))
            content = template_draft(runtime, req, usable, ["budget_exhausted"], near=near, checks=checks)
        else:
            try:
                content = await _llm_draft(runtime, req, usable, near, list(checks), usage)
            except (LLMUnavailable, UnusableAnswer) as exc:
                checks.append(Check("llm_failed", [], str(exc)))
                content = template_draft(
                    runtime, req, usable, ["llm_failed"], near=near, checks=checks, usage=usage.to_dict()
                )
            except LLMError as exc:
                if not allow_fallback:
                    raise
                checks.append(Check("llm_failed", [], str(exc)))
                content = template_draft(
                    runtime, req, usable, ["llm_failed"], near=near, checks=checks, usage=usage.to_dict()
                )
    elapsed = time.perf_counter() - started
    usage_out = dict(content.usage or {})
    usage_out["latency_ms"] = round(elapsed * 1000, 1)
    content.usage = usage_out
    writer = content.flags[0] if content.flags else "template"
    DRAFTS.labels(writer).inc()
    DRAFT_SECONDS.labels(writer).observe(elapsed)
    for flag in content.flags[1:]:
        DRAFT_FLAGS.labels(flag).inc()
    DRAFT_TOKENS.labels("prompt").inc(usage_out.get("prompt_tokens", 0))
    DRAFT_TOKENS.labels("completion").inc(usage_out.get("completion_tokens", 0))
    return content
