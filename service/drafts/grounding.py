"""Checks run on every draft (model or template) before an agent sees it.

The rules, in words:
- A cited source id must be one the writer was given; others are dropped (`unknown_source_cited`).
- Every checkable claim in the draft (URL, e-mail address, phone number, price or amount, date, time,
  any other number) must appear in what the writer was given: the sources, the customer's post and
  thread, the brand's own words (signature, name). One that does not is `unsupported_claim`, with its
  span, so the agent looks at exactly that. Numbers compare by value ("49,99 €" = "49.99 EUR"), phone
  numbers by their digits, URLs without scheme, "www." and trailing slash.
- Phrases the brand bans are `banned_phrase`, with their spans.
- The draft's language is detected and compared with the one it should be in (`wrong_language`); a
  German draft in the wrong form of address (du for a formal brand, Ihnen for an informal one) is
  `wrong_formality`.
A draft that passes is not flagged: the benchmark measures the false-flag rate on supported replies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from service.triage.language import detect_language

Span = tuple[int, int, str]


@dataclass
class Check:
    """One finding on a draft: the flag, the spans of the draft text it is about, and a sentence why."""

    flag: str
    spans: list[Span] = field(default_factory=list)
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"flag": self.flag, "spans": [list(s) for s in self.spans]}
        if self.detail:
            out["detail"] = self.detail
        return out


_TRAIL = ".,;:!?)]}\"'»“”’"
URL_RE = re.compile(
    r"(?:https?://|www\.)[^\s<>\"'«»]+"
    r"|\b(?:[a-z0-9-]+\.)+(?:com|de|net|org|io|eu|at|ch|info|shop|app|example|co|uk|ly|me)(?:/[^\s<>\"'«»]*)?",
    re.IGNORECASE,
)
EMAIL_RE = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
PHONE_RE = re.compile(r"(?<![\w.,])(?:\+|00)?\d[\d /().-]{5,}\d(?![\w])")
DATE_RE = re.compile(
    r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}\.\d{1,2}\.(?:\d{2,4})?|\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b"
    r"|\b\d{1,2}\.?\s+(?:Jan(?:uar|uary)?|Feb(?:ruar|ruary)?|März|Mar(?:ch)?|Apr(?:il)?|Mai|May|Jun[ei]?|"
    r"Jul[iy]?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Okt(?:ober)?|Oct(?:ober)?|Nov(?:ember)?|Dez(?:ember)?|"
    r"Dec(?:ember)?)\b",
    re.IGNORECASE,
)
TIME_RE = re.compile(r"\b\d{1,2}:\d{2}\b")
_CURRENCY = r"(?:€|EUR|Euro|\$|USD|£|GBP|CHF)"
AMOUNT_RE = re.compile(
    rf"{_CURRENCY}\s?\d+(?:[.,]\d+)*(?:,-)?|\d+(?:[.,]\d+)*(?:,-)?\s?{_CURRENCY}|\d+(?:[.,]\d+)*\s?%",
    re.IGNORECASE,
)
NUMBER_RE = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)*(?![\w])")
_DIGITS = re.compile(r"\d+")


def _strip_trailing(text: str, start: int, end: int) -> tuple[int, int]:
    while end > start and text[end - 1] in _TRAIL:
        end -= 1
    return start, end


def normalize_url(url: str) -> str:
    url = url.lower().strip(_TRAIL)
    url = re.sub(r"^https?://", "", url)
    url = re.sub(r"^www\.", "", url)
    return url.rstrip("/")


def _number_values(text: str) -> set[str]:
    """Each number's readings: "1.000" is 1000 (German) or 1.0; "49,99" is 49.99; digits alone too."""
    values: set[str] = set()
    for raw in re.findall(r"\d+(?:[.,]\d+)*", text):
        values.add(raw.replace(".", "").replace(",", ""))
        values.add(_canonical(raw.replace(",", ".")))
        values.add(_canonical(raw.replace(".", "").replace(",", ".")))
        values.add(_canonical(raw.replace(",", "")))
    return values


def _canonical(raw: str) -> str:
    if raw.count(".") > 1:
        return raw.replace(".", "")
    if "." in raw:
        whole, frac = raw.split(".")
        frac = frac.rstrip("0")
        return f"{int(whole or 0)}.{frac}" if frac else str(int(whole or 0))
    return str(int(raw)) if raw.isdigit() else raw


@dataclass(frozen=True)
class Evidence:
    """What a draft may state: the text it was given, prepared for the comparisons of the rules."""

    text: str
    urls: frozenset[str]
    emails: frozenset[str]
    digits: str
    numbers: frozenset[str]

    @classmethod
    def of(cls, texts: Iterable[str]) -> Evidence:
        joined = "\n".join(t for t in texts if t)
        return cls(
            text=joined.lower(),
            urls=frozenset(normalize_url(m.group()) for m in URL_RE.finditer(joined)),
            emails=frozenset(m.group().lower() for m in EMAIL_RE.finditer(joined)),
            digits="".join(_DIGITS.findall(joined)),
            numbers=frozenset(_number_values(joined)),
        )

    def has_url(self, url: str) -> bool:
        norm = normalize_url(url)
        return any(norm == known or known.startswith(norm + "/") for known in self.urls) or norm in self.text


@dataclass(frozen=True)
class Claim:
    kind: str  # url, email, phone, amount, date, time, number
    start: int
    end: int
    text: str


def find_claims(text: str) -> list[Claim]:
    """The checkable claims in a draft, longest kinds first; a span belongs to one claim only."""
    claims: list[Claim] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    for kind, pattern in (
        ("email", EMAIL_RE),  # before URLs: the domain of an address is not a link of its own
        ("url", URL_RE),
        ("amount", AMOUNT_RE),
        ("date", DATE_RE),
        ("time", TIME_RE),
        ("phone", PHONE_RE),
        ("number", NUMBER_RE),
    ):
        for match in pattern.finditer(text):
            start, end = _strip_trailing(text, match.start(), match.end())
            if kind == "phone" and len("".join(_DIGITS.findall(text[start:end]))) < 7:
                continue  # "3 - 5" or "1/2" are not phone numbers
            if end > start and free(start, end):
                claims.append(Claim(kind, start, end, text[start:end]))
                taken.append((start, end))
    return sorted(claims, key=lambda c: c.start)


def supported(claim: Claim, evidence: Evidence) -> bool:
    if claim.kind == "url":
        return evidence.has_url(claim.text)
    if claim.kind == "email":
        return claim.text.lower() in evidence.emails
    if claim.kind == "phone":
        digits = "".join(_DIGITS.findall(claim.text))
        return digits in evidence.digits
    if claim.kind == "time":
        hours, minutes = claim.text.split(":")
        return f"{int(hours)}:{minutes}" in evidence.text or claim.text in evidence.text
    if claim.kind == "date":
        return claim.text.lower() in evidence.text or all(
            n in evidence.numbers for n in _number_values(claim.text) if n
        )
    values = {v for v in _number_values(claim.text) if v}
    return bool(values & evidence.numbers)


def unsupported_claims(draft: str, evidence: Evidence) -> Check | None:
    spans = [(c.start, c.end, c.text) for c in find_claims(draft) if not supported(c, evidence)]
    if not spans:
        return None
    return Check(
        "unsupported_claim",
        spans,
        "not in the sources or the post: " + ", ".join(s[2] for s in spans),
    )


def urls_outside(draft: str, allowed: Evidence) -> list[Span]:
    """Links in the draft that the allowed text (the sources) does not contain."""
    out: list[Span] = []
    for claim in find_claims(draft):
        if claim.kind in ("url", "email") and not supported(claim, allowed):
            out.append((claim.start, claim.end, claim.text))
    return out


def banned_phrases(draft: str, phrases: Iterable[str]) -> Check | None:
    spans: list[Span] = []
    for phrase in phrases:
        phrase = phrase.strip()
        if not phrase:
            continue
        for match in re.finditer(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", draft, re.IGNORECASE):
            spans.append((match.start(), match.end(), match.group()))
    if not spans:
        return None
    banned = ", ".join(sorted({s[2] for s in spans}))
    return Check("banned_phrase", sorted(spans), "the brand bans: " + banned)


def draft_language(text: str, expected: str) -> tuple[str, bool]:
    """The draft's language and whether the detector was sure; unsure counts as the expected one."""
    guess = detect_language(text, expected)
    return guess.language, guess.source == "detected"


def wrong_language(text: str, expected: str, language_names: dict[str, str]) -> Check | None:
    found, sure = draft_language(text, expected)
    if found == expected or not sure:
        return None
    return Check(
        "wrong_language",
        [],
        f"the draft is in {language_names.get(found, found)}; the customer writes "
        f"{language_names.get(expected, expected)}",
    )


_INFORMAL_DE = re.compile(
    r"\b(du|dich|dir|dein|deine|deinen|deinem|deiner|deines|euch|euer|eure|euren|eurem)\b", re.IGNORECASE
)
_FORMAL_DE = re.compile(r"\b(Ihnen|Ihr|Ihre|Ihren|Ihrem|Ihrer|Ihres)\b")


def wrong_formality(text: str, language: str, formality: str) -> Check | None:
    """German only: the form of address the brand chose (Sie or du) is kept throughout."""
    if language != "de":
        return None
    pattern = _INFORMAL_DE if formality == "formal" else _FORMAL_DE
    spans = [(m.start(), m.end(), m.group()) for m in pattern.finditer(text)]
    if not spans:
        return None
    wanted = "Sie" if formality == "formal" else "du"
    return Check("wrong_formality", spans, f"the brand addresses customers with {wanted!r}")


_MARKDOWN = [
    (re.compile(r"\*\*(.+?)\*\*|__(.+?)__", re.S), lambda m: m.group(1) or m.group(2)),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), lambda m: m.group(1)),
    (re.compile(r"\[([^\]]+)\]\((\S+?)\)"), lambda m: f"{m.group(1)} {m.group(2)}"),
    (re.compile(r"^\s{0,3}#{1,6}\s+", re.M), lambda m: ""),
    (re.compile(r"`([^`]+)`"), lambda m: m.group(1)),
    (re.compile(r"^\s*[-*•]\s+", re.M), lambda m: ""),
]


def strip_markdown(text: str) -> str:
    """Plain text for channels that show Markdown as typed characters (X, Instagram, Facebook)."""
    for pattern, repl in _MARKDOWN:
        text = pattern.sub(repl, text)
    return text
