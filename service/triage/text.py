"""Post text clean-up shared by language detection and classification: handles, links, emoji, folding."""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.text import HANDLE, URL, fold

# Link shorteners hide where a link goes (spam's favourite); bare "bit.ly/x" has no scheme, so it is
# found on its own. t.co is left out: Twitter wraps every link in it.
_SHORT_LINK = re.compile(
    r"(?<![\w.])(?:https?://)?(?:bit\.ly|tinyurl\.com|goo\.gl|ow\.ly|is\.gd|cutt\.ly|rb\.gy|tiny\.cc|"
    r"shorturl\.at|buff\.ly|t\.ly|linktr\.ee|s\.id|rebrand\.ly)/\S*",
    re.IGNORECASE,
)
# A bare domain with a path ("youtube.example/watch?v=1", "shop.example/cart"): a link the URL pattern
# (scheme or www) leaves, whose "?" and words would read as the writer's
_BARE_LINK = re.compile(
    r"(?<![\w@.])[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:example|com|de|net|org|shop|store|io|co|eu|uk|at|ch|"
    r"app|info|online|tv|gg|ly|me)/\S*",
    re.IGNORECASE,
)
_HASHTAG = re.compile(r"(?<![\w#])#(\w+)")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b")
# Pictographs, dingbats, flags, skin tones, joiners and variation selectors: what social posts call emoji.
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U00002b00-\U00002bff\U0001f1e6-\U0001f1ff"
    "\U0000fe0f\U0000200d\U000020e3\U00002190-\U000021ff\U00002300-\U000023ff]"
)
_SPACES = re.compile(r"\s+")
# "cant", "dont", "doesnt": apostrophes dropped on phones; the lexicons spell them with one.
_CONTRACTION = re.compile(
    r"\b(can|don|doesn|didn|won|isn|aren|wasn|weren|haven|hasn|hadn|couldn|wouldn|shouldn)t\b"
)
_HTML_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'"}


@dataclass(frozen=True)
class CleanPost:
    """A post taken apart: readable text without handles, links and emoji, plus what was removed."""

    raw: str
    text: str  # handles, links, e-mail addresses and emoji removed; hashtags kept as plain words
    folded: str  # `text` lower-cased with umlauts folded, for lexicon matching
    language_text: str  # `text` without hashtag words either: tags are often English in any language
    emoji: tuple[str, ...]
    handles: int
    links: int
    short_links: int = 0  # links through a URL shortener (bit.ly, tinyurl, ...)
    hashtags: int = 0


def clean_post(raw: str) -> CleanPost:
    text = raw
    for entity, char in _HTML_ENTITIES.items():
        text = text.replace(entity, char)
    short_links = len(_SHORT_LINK.findall(text))
    text = _SHORT_LINK.sub(" ", text)
    links = len(URL.findall(text)) + short_links
    text = URL.sub(" ", text)
    links += len(_BARE_LINK.findall(text))
    text = _BARE_LINK.sub(" ", text)
    text = _EMAIL.sub(" ", text)
    handles = len(HANDLE.findall(text))
    text = HANDLE.sub(" ", text)
    emoji = tuple(e for e in _EMOJI.findall(text) if e not in ("\ufe0f", "\u200d", "\u20e3"))
    hashtags = len(_HASHTAG.findall(text))
    text = _EMOJI.sub(" ", text)
    language_text = _SPACES.sub(" ", _HASHTAG.sub(" ", text)).strip()
    text = _SPACES.sub(" ", _HASHTAG.sub(r"\1", text)).strip()
    return CleanPost(
        raw=raw,
        text=text,
        folded=_CONTRACTION.sub(lambda m: "can't" if m.group(1) == "can" else f"{m.group(1)}'t", fold(text)),
        language_text=language_text,
        emoji=emoji,
        handles=handles,
        links=links,
        short_links=short_links,
        hashtags=hashtags,
    )
