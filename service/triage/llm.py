"""The LLM's reading of a post the rules could not place: the one async, networked step of triage.

Asked only for posts whose `TriageResult.uncertain` is set (no rule cue, no thread to read it with), so
a configured LLM costs one short call for the few unclear posts and nothing for the rest. Any failure
leaves the decision to the rules and the embedding vote.
"""

from __future__ import annotations

import logging
from pathlib import Path

from service.adapters.llm import LLMClient, LLMError
from service.prompts import render
from service.triage.models import INTENTS, LLMVerdict, TriageInput

logger = logging.getLogger(__name__)


async def ask_llm(
    llm: LLMClient,
    prompts_dir: Path,
    *,
    brand_name: str,
    inp: TriageInput,
    language: str,
    reply_to_praise: bool,
) -> LLMVerdict | None:
    system = render(
        prompts_dir,
        "triage_system.j2",
        brand_name=brand_name,
        reply_to_praise=reply_to_praise,
        intents=INTENTS,
    )
    user = render(
        prompts_dir,
        "triage_user.j2",
        channel=inp.channel,
        thread=list(inp.thread_texts[-3:]),
        language=language,
        post_text=inp.text,
    )
    try:
        answer = await llm.classify(system, user, INTENTS)
    except LLMError as exc:
        logger.warning("LLM triage failed; the rules decide: %s", exc)
        return None
    return LLMVerdict(
        intent=answer.label, needs_reply=answer.needs_reply, reason=answer.reason, model=answer.model
    )
