"""Guards against two kinds of lexicon entry that can never match (both were found in triage 1.6): a
pattern that ends in a single digit class, which the word boundary after it stops at the first of two
digits ("from £5" matched, "from £55" never did), and a "#" in a list matched on the cleaned text, which
has no "#" (hashtags keep only their word)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from typing import Any

from service.triage import classify, lexicon
from service.triage.text import clean_post

# the lists matched on the raw post, where a hashtag keeps its "#"
RAW_SECTIONS = {"automated", "ad_disclosure", "auto_reply"}


def _patterns(node: Any, path: str) -> Iterator[tuple[str, str]]:
    """(where, pattern) of every entry; a list inside a list is one long pattern written in pieces."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _patterns(value, f"{path}.{key}")
    elif isinstance(node, list):
        for value in node:
            yield (path, "".join(value)) if isinstance(value, list) else (path, str(value))
    elif isinstance(node, str):
        yield path, node


def _all() -> list[tuple[str, str]]:
    with lexicon.LEXICON_PATH.open("rb") as file:
        raw = tomllib.load(file)
    return [item for section, table in raw.items() for item in _patterns(table, section)]


def test_no_pattern_ends_in_a_single_digit() -> None:
    # a lookahead at the end consumes nothing: "(?= (?:two |\d))" is fine
    ends = [(path, re.sub(r"\(\?=[^()]*(?:\([^()]*\))?[^()]*\)$", "", p)) for path, p in _all()]
    bad = [(path, p) for path, p in ends if re.search(r"(?<!\\)\\d\)*$", p)]
    assert bad == [], "end with \\d+ or \\d[\\d.,]*: a single \\d before the word boundary never matches 55"


def test_no_hash_in_lists_matched_on_the_cleaned_text() -> None:
    bad = [(path, p) for path, p in _all() if "#" in p and path.split(".")[0] not in RAW_SECTIONS]
    assert bad == []


def test_the_fixed_patterns_match_what_they_were_written_for() -> None:
    prices = clean_post("Professional oven valeting from £55, save 20 %, up to 30 € off")
    cues = classify._read(prices, "en").promotion.cues
    assert any(cue.startswith("from £55") for cue in cues), cues
    tagged = classify._read(clean_post("Neue Kollektion ist da #anzeige #mode"), "de").promotion.cues
    assert "#anzeige" in tagged
