"""Text folding and the parts of a social post that carry no meaning (handles, links), defined once for
triage, retrieval and keyword matching."""

from __future__ import annotations

import re
import unicodedata

URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
HANDLE = re.compile(r"(?<![\w@])@\w+")
# Umlauts are spelled out so "Zählerstand" and "Zaehlerstand" meet in one form; typographic apostrophes
# are straightened so "don’t" matches the lexicons' "don't".
_FOLD = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "æ": "ae",
        "ø": "oe",
        "œ": "oe",
        "’": "'",
        "‘": "'",
        "´": "'",
        "`": "'",
    }
)


def fold(text: str, *, drop_accents: bool = False) -> str:
    """Lower case (NFKC, case-folded), umlauts spelled out, apostrophes straightened. `drop_accents` also
    takes other accents off ("café" -> "cafe"), for keyword matching where the lexicon keeps them."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_FOLD)
    if not drop_accents:
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def strip_handles_and_links(text: str) -> str:
    """The post without @handles (they name the brand and the customer, not the question) and URLs
    (their characters only add noise), whitespace collapsed; the text itself when nothing else is left."""
    return " ".join(URL.sub(" ", HANDLE.sub(" ", text)).split()) or text.strip()
