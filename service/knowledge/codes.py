"""Finding the codes and numbers in a post (train lines, order, booking, flight and meter numbers, product
codes) so the dense query can leave them out; the keyword query keeps them.

Why: a sentence embedding reads "im RB 33" as part of the meaning and drifts away from the FAQ entry
that answers the question (nordbahn's lost-property FAQ: 0.94 without the line, 0.33 with it), while the
same code either matches an entry word for word or matches nothing, which is what keyword scoring is
for. Pure text functions: the caller masks once and may reuse the result (e.g. for triage's vector).

Kept: plain quantities ("75 Minuten", "2 days", "640 €"), times and dates a person reads as words are
not codes, and neither are units glued to a number ("65W", "5G", "4K", "10kg").
"""

from __future__ import annotations

import re

from service.text import HANDLE

# A line or vehicle: letters that name a service, then its number ("RB 33", "ICE 1045", "S1", "Bus 5",
# "LH 2034", "Linie 4").
# The letters go too when they are only a code ("RB 33"); a word stays ("Bus 5" -> "Bus").
_LINE = re.compile(r"\b(?:RB|RE|RS|IRE|IC|ICE|EC|ECE|EN|NJ|FLX|TGV|RJ|RJX|MEX|S|U|STR)[ -]?\d{1,5}[a-z]?\b")
_LINE_WORD = re.compile(
    r"\b(?:tram|bus|linie|line|zug|train|flug|flight|gleis|platform|bahnsteig|wagen|coach|car|sitz|seat|platz)"
    r"\.?\s*(?P<code>\d{1,5}[a-z]?)\b",
    re.IGNORECASE,
)
# Two or three capitals and digits: flight numbers ("LH2034", "BA 117").
_FLIGHT = re.compile(r"\b[A-Z]{2,3} ?\d{2,4}\b")
# Numbers that say "this one": after "#", "Nr.", "No.", "number"... of any length.
_NUMBERED = re.compile(
    r"(?:#|\b(?:nr|no|nummer|number|num|id|ref|az|kd-nr|kundennr|order|bestellung|buchung|booking|ticket|"
    r"case|fall|vorgang|rechnung|invoice|zähler|meter|serial|sn|account|konto)\.?:?\s*#?)\s*"
    r"(?P<code>[A-Z0-9][A-Z0-9/-]*\d[A-Z0-9/-]*)",
    re.IGNORECASE,
)
# A token mixing letters and digits, long or joined by "-" ("SP-200", "SN4829103", "NB-48213-X",
# "A-558120"), or a long digit run with separators ("7731-4420-19", "10293847"). Short ones are names
# people search by ("PS5", "X3", "S23") and stay.
_MIXED = re.compile(r"(?<![\w@])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9]+(?:[-_/][A-Za-z0-9]+)*(?![\w@])")
_DIGIT_RUN = re.compile(
    r"(?<![\w.,:])\d{4,}(?:[-/ ]\d{2,})*(?![\w.,:])|(?<![\w.,:])\d{2,}(?:[-/]\d{2,}){1,}(?![\w.,:])"
)
_SHORT_NAME = re.compile(r"^[A-Za-z0-9]{1,4}$")
# A number with its unit is a quantity, not a code.
_UNIT = re.compile(
    r"^\d+(?:[.,]\d+)?(?:st|nd|rd|th|x|k|m|g|h|s|w|kw|kwh|mah|mb|gb|tb|hz|mhz|ghz|mm|cm|km|kg|ml|l|"
    r"min|mins|std|pm|am|p|fps|mp|ms|er|te|ten|stel|euro|eur|usd|chf)$",
    re.IGNORECASE,
)
# Dates and times are words to a reader ("am 14.3.", "um 14:32"): left alone.
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b")
# A user name with digits ("jane.doe88") is an account handle, as good as a code.
_USERNAME = re.compile(r"(?<![\w@])[a-z]+[._][a-z]+\d+\b", re.IGNORECASE)


# What a line or flight code stands for, in the post's language: "Der RE 70 ist ausgefallen" reads as
# "Der Zug ist ausgefallen" (measured on bench/data/dev: removing the code alone lost the meaning).
PLACEHOLDERS = {
    "line": {"de": "Zug", "en": "train", "fr": "train", "nl": "trein", "it": "treno", "es": "tren"},
    "flight": {"de": "Flug", "en": "flight", "fr": "vol", "nl": "vlucht", "it": "volo", "es": "vuelo"},
}


def _spans(text: str) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    patterns = (
        (_EMAIL, ""), (HANDLE, ""), (_USERNAME, ""), (_NUMBERED, ""), (_LINE, "line"), (_LINE_WORD, ""),
        (_FLIGHT, "flight"), (_DIGIT_RUN, ""), (_MIXED, ""),
    )  # fmt: skip
    for pattern, kind in patterns:
        for match in pattern.finditer(text):
            if pattern is _MIXED and (_UNIT.match(match.group(0)) or _SHORT_NAME.match(match.group(0))):
                continue
            start, end = match.span("code") if "code" in pattern.groupindex else match.span()
            if not any(s < end and start < e for s, e, _ in spans):
                spans.append((start, end, kind))
    return sorted(spans)


def find_codes(text: str) -> list[str]:
    """The codes in `text`, in order (see the module's docstring for what counts)."""
    return [text[s:e] for s, e, _ in _spans(text)]


def mask_codes(text: str, language: str | None = None) -> str:
    """`text` without its codes (see `find_codes`), spaces tidied; the text itself when nothing else is
    left. With the post's `language`, a train line or flight code becomes the word for it ("Zug")."""
    pieces: list[str] = []
    last = 0
    for start, end, kind in _spans(text):
        word = PLACEHOLDERS.get(kind, {}).get(language or "", "")
        if word and text[:start].rstrip().lower().endswith(word.lower()):
            word = ""  # "Flight LH2034": the word is there already
        pieces += [text[last:start], f" {word} " if word else " "]
        last = end
    masked = "".join([*pieces, text[last:]])
    masked = re.sub(r"#(?=[\s,.!?;:]|$)", " ", masked)  # what "#55123" leaves
    masked = re.sub(r"\s+([,.!?;:])", r"\1", " ".join(masked.split()))
    return masked if re.search(r"\w", masked) else text
