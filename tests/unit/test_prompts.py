"""Prompt and reply templates render as intended; replies are cut to the channel's limit at sentence ends."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from service.drafts.writer import _fit
from service.prompts import render

PROMPTS = Path(__file__).resolve().parents[2] / "prompts"


def test_template_reply_layout() -> None:
    text = render(
        PROMPTS,
        "template_reply.j2",
        language="de",
        formality="formal",
        name="Lena",
        signature="Ihr Team",
        answer="Die Erstattung beantragen Sie online.",
    )
    assert text == "Hallo Lena,\n\nDie Erstattung beantragen Sie online.\n\nIhr Team"
    text = render(
        PROMPTS,
        "template_reply.j2",
        language="en",
        formality="informal",
        name="@sam",
        signature=None,
        answer="Returns are free.",
    )
    assert text == "Hi @sam,\n\nReturns are free."


@pytest.mark.parametrize(
    ("language", "formality", "needle"),
    [
        ("de", "formal", "melden uns so schnell wie möglich bei Ihnen"),
        ("de", "informal", "bei dir"),
        ("en", "formal", "get back to you"),
    ],
)
def test_holding_reply_per_language(language: str, formality: str, needle: str) -> None:
    text = render(
        PROMPTS, "holding_reply.j2", language=language, formality=formality, name="Kim", signature=None
    )
    assert needle in text and "Kim" in text


def test_missing_variables_fail_loudly() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render(PROMPTS, "template_reply.j2", language="en", formality="formal", name="x", signature=None)


def test_fit_cuts_at_sentence_end() -> None:
    text = "First sentence here. Second sentence is longer than the rest. Third."
    cut, truncated = _fit(text, 50)
    assert truncated and cut == "First sentence here."
    assert _fit(text, 500) == (text, False)
    cut, truncated = _fit("a" * 30 + " " + "b" * 30, 40)
    assert truncated and cut.endswith("…") and len(cut) <= 40
