"""Finding the codes and numbers in a post (train lines, order, booking, flight and meter numbers, product
codes, IBANs, postcodes, licence plates, card endings, e-mail addresses) so the dense query can leave
them out; the keyword query keeps them.

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
# Two or three capitals and digits: flight numbers ("LH2034", "BA 117"), also of airlines whose code
# holds a digit ("U2 1234", "4U 812": looked for before the lines, as "U2" alone is an underground line).
_FLIGHT = re.compile(r"\b[A-Z]{2,3} ?\d{2,4}\b")
_FLIGHT_DIGIT = re.compile(r"\b(?:[A-Z]\d|\d[A-Z]) ?\d{3,4}\b(?![-/]\w)")
# Numbers that say "this one": after "#", "Nr.", "No.", "number"... of any length.
# German compounds count by their end ("Vertragsnummer", "Kundennr.", "Lerchenmeilen-Nr.").
_NUMBERED = re.compile(
    r"(?:#|\b(?:[\w-]*(?:nummer|nr)|no|number|num|id|ref|az|order|bestellung|buchung|booking|ticket|"
    r"case|fall|vorgang|rechnung|invoice|zähler|meter|serial|sn|account|konto|tracking|sendung)\.?:?\s*#?)"
    r"\s*(?P<code>[A-Z0-9][A-Z0-9/-]*\d[A-Z0-9/-]*(?: \d{2,})*)(?![.,]?\w)",
    re.IGNORECASE,
)
# A booking code of six capitals, named as one ("Buchungscode QXRTPL", "booking ref KLMNOP"): without its
# name six capitals may be a shouted word.
_BOOKING = re.compile(
    r"(?i:\b(?:buchung\w*|booking(?: ref(?:erence)?| code| number)?|pnr|reservation\w*|"
    r"reservierung\w*|filekey)\.?:?\s*)(?P<code>[A-Z]{6})\b"
)
# The last digits of a card or account ("endet auf 4821", "card ending in 12").
_CARD_END = re.compile(
    r"(?i:\b(?:endet auf|endend auf|endung|ending(?: in| with)?|ends in|ends with)\s*)(?P<code>\d{2,4})\b"
)
# IBANs, with or without the groups of four ("DE44 5003 0100 0712 4489 03").
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
# Postcodes of the UK ("LS6 2AB", "SW1A 1AA") and Ireland's Eircodes ("D04 X2K7"); German ones are five
# digits (_DIGIT_RUN).
_POSTCODE = re.compile(
    r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b"
    r"|\b[A-Z]\d[0-9W] ?(?=[A-Z0-9]{0,3}\d)(?=[A-Z0-9]{0,3}[A-Z])[A-Z0-9]{4}\b"
)
# Licence plates: German with the district's hyphen ("HB-AB 1234", "M-X 77E"), British ("AB12 CDE").
_PLATE = re.compile(r"(?<![\w-])[A-ZÄÖÜ]{1,3}-[A-Z]{1,2} ?\d{1,4}[EH]?(?![\w-])|\b[A-Z]{2}\d{2} ?[A-Z]{3}\b")
# A token mixing letters and digits, long or joined by "-" ("SP-200", "SN4829103", "NB-48213-X",
# "A-558120"), or a long digit run with separators ("7731-4420-19", "10293847"). Short ones are names
# people search by ("PS5", "X3", "S23") and stay.
_MIXED = re.compile(r"(?<![\w@])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9]+(?:[-_/][A-Za-z0-9]+)*(?![\w@])")
# A sentence's full stop or comma may follow ("Vertragsnummer 4017738291."); a decimal or date part may not.
# After letters and a hyphen the whole token is one code ("FK-50299381": _MIXED).
_DIGIT_RUN = re.compile(
    r"(?<![\w.,:])(?<![A-Za-z]-)\d{4,}(?:[-/ ]\d{2,})*(?!\w|[.,:]\d)"
    r"|(?<![\w.,:])(?<![A-Za-z]-)\d{2,}(?:[-/]\d{2,}){1,}(?!\w|[.,:]\d)"
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
        (_EMAIL, ""), (HANDLE, ""), (_USERNAME, ""), (_IBAN, ""), (_NUMBERED, ""), (_BOOKING, ""),
        (_CARD_END, ""), (_PLATE, ""), (_POSTCODE, ""), (_FLIGHT_DIGIT, "flight"), (_LINE, "line"),
        (_LINE_WORD, ""), (_FLIGHT, "flight"), (_DIGIT_RUN, ""), (_MIXED, ""),
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
