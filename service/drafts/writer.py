"""Writing a draft reply: by the LLM, grounded in the retrieved sources, or by template without one.

Nothing here sends anything anywhere: a draft is only ever stored for an agent to review.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from service.adapters.llm import LLMError
from service.knowledge.retrieval import KnowledgeHit
from service.prompts import render
from service.runtime import Runtime

LANGUAGE_NAMES = {
    "de": "German",
    "en": "English",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "nl": "Dutch",
    "pl": "Polish",
    "tr": "Turkish",
}
TEMPLATE_LANGUAGES = ("de", "en")
DEFAULT_MAX_CHARS = {"twitter": 280, "x": 280, "instagram": 2200, "facebook": 8000}
FALLBACK_MAX_CHARS = 2000


@dataclass
class DraftContent:
    text: str
    language: str
    sources: list[dict[str, Any]]
    confidence: float
    flags: list[str] = field(default_factory=list)


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


def max_chars(req: DraftRequest) -> int:
    configured = (req.channel_settings.get(req.channel) or {}).get("max_chars")
    return int(configured or DEFAULT_MAX_CHARS.get(req.channel, FALLBACK_MAX_CHARS))


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
    if req.language in TEMPLATE_LANGUAGES:
        return req.language
    return req.brand_language if req.brand_language in TEMPLATE_LANGUAGES else "en"


def template_draft(
    runtime: Runtime, req: DraftRequest, usable: list[KnowledgeHit], flags: list[str]
) -> DraftContent:
    """The draft without an LLM: the best knowledge answer with greeting and signature, or a holding reply."""
    language = _template_language(req)
    context = {
        "language": language,
        "formality": req.voice.get("formality", "formal"),
        "name": _display_name(req.author),
        "signature": req.voice.get("signature"),
    }
    if usable:
        text = render(runtime.settings.prompts_dir, "template_reply.j2", answer=usable[0].text, **context)
        confidence = usable[0].score
    else:
        text = render(runtime.settings.prompts_dir, "holding_reply.j2", **context)
        flags = [*flags, "no_knowledge"]
        confidence = 0.0
    text, truncated = _fit(text, max_chars(req))
    if truncated:
        flags.append("truncated")
    return DraftContent(text, language, _source_dicts(usable), confidence, ["template", *flags])


async def write_draft(
    runtime: Runtime, req: DraftRequest, hits: list[KnowledgeHit], *, allow_fallback: bool
) -> DraftContent:
    """Draft from the hits that clear the brand's threshold. With an LLM configured it writes the reply;
    if the LLM fails and `allow_fallback` is set (the job's last attempt), the template draft is used
    and flagged `llm_failed`, so an accepted post always ends with something for an agent to review."""
    usable = [h for h in hits if h.score >= req.min_score]
    if runtime.llm is None:
        return template_draft(runtime, req, usable, [])
    voice = req.voice
    system = render(
        runtime.settings.prompts_dir,
        "draft_system.j2",
        brand_name=req.brand_name,
        language_name=LANGUAGE_NAMES.get(req.language, req.language),
        formality=voice.get("formality", "formal"),
        persona=voice.get("persona"),
        signature=voice.get("signature"),
        banned_phrases=voice.get("banned_phrases") or [],
        channel=req.channel,
        max_chars=max_chars(req),
    )
    user = render(
        runtime.settings.prompts_dir,
        "draft_user.j2",
        sources=usable,
        author_name=_display_name(req.author),
        author_handle=str(req.author.get("handle", "")).lstrip("@"),
        language=req.language,
        post_text=req.post_text,
        instruction=req.instruction,
    )
    try:
        reply = await runtime.llm.draft_reply(system, user)
    except LLMError:
        if not allow_fallback:
            raise
        return template_draft(runtime, req, usable, ["llm_failed"])
    flags: list[str] = ["llm"]
    known = {h.source_id: h for h in usable}
    cited = [known[i] for i in reply.source_ids if i in known]
    if any(i not in known for i in reply.source_ids):
        flags.append("unknown_source_cited")
    ordered = cited + [h for h in usable if h not in cited]
    if not usable:
        flags.append("no_knowledge")
    text, truncated = _fit(reply.text, max_chars(req))
    if truncated:
        flags.append("truncated")
    confidence = ordered[0].score if ordered else 0.0
    return DraftContent(text, req.language, _source_dicts(ordered), confidence, flags)
