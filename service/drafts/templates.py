"""Replies written without a model: the best knowledge answer in the brand's voice, or a holding reply
that acknowledges, asks for what the team needs (order number, meter number by DM) or hands over.

Used when no LLM is configured, when it failed or its circuit is open, when the brand's token budget is
spent, and as the safe replacement of a model draft suspected of obeying an injection. The texts are
Jinja templates in prompts/ (holding_reply.j2, template_reply.j2, _phrases.j2).
"""

from __future__ import annotations

import re
from typing import Any

from service.prompts import render

TEMPLATE_LANGUAGES = ("de", "en")
TEMPLATE_FILES = ("template_reply.j2", "holding_reply.j2", "_phrases.j2")

# What to ask for when no knowledge answers, by the words of the post (stems, lower case). First match
# wins: an order number is the quickest way into a parcel question, a meter number into a bill.
NEEDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "order",
        (
            "bestell",
            "order",
            "paket",
            "parcel",
            "package",
            "liefer",
            "deliver",
            "shipment",
            "sendung",
            "tracking",
            "versand",
            "shipping",
            "refund",
            "erstatt",
            "rücksend",
            "return",
        ),
    ),
    (
        "booking",
        (
            "buchung",
            "booking",
            "ticket",
            "fahrkarte",
            "reservier",
            "reservation",
            "sitzplatz",
            "seat",
            "flug",
            "flight",
        ),
    ),
    (
        "meter",
        (
            "zähler",
            "meter",
            "strom",
            "gas ",
            "wasser",
            "abschlag",
            "abrechnung",
            "nachzahlung",
            "electricity",
            "energy",
        ),
    ),
    (
        "account",
        (
            "konto",
            "account",
            "login",
            "anmeld",
            "passwort",
            "password",
            "portal",
            "vertrag",
            "contract",
            "abo",
            "subscription",
            "rechnung",
            "invoice",
            "bill",
        ),
    ),
)
_HANDLE = re.compile(r"(?<!\w)@\w+")


def need_for(text: str) -> str | None:
    lowered = " " + _HANDLE.sub(" ", text.lower()) + " "
    for need, stems in NEEDS:
        if any(stem in lowered for stem in stems):
            return need
    return None


def template_language(customer: str, brand: str) -> str:
    if customer in TEMPLATE_LANGUAGES:
        return customer
    return brand if brand in TEMPLATE_LANGUAGES else "en"


def wants_empathy(intent: str | None, sentiment: str | None) -> bool:
    return intent == "complaint" or sentiment == "negative"


def answer_reply(prompts_dir: Any, *, answer: str, **voice: Any) -> str:
    return render(prompts_dir, "template_reply.j2", answer=answer, **voice)


def holding_reply(prompts_dir: Any, *, need: str | None, **voice: Any) -> str:
    return render(prompts_dir, "holding_reply.j2", need=need, **voice)
