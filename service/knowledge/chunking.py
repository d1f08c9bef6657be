"""Cuts a parsed document's sections into embedding-sized chunks along paragraphs, then sentences."""
# Own splitter, not pysbd: on the boundary tests pysbd got 5/8 (de), 4/8 (en), this 8/8, 1700x CPU.

from __future__ import annotations

import re
from dataclasses import dataclass

from service.knowledge.parsers import TITLE_SEPARATOR, ParsedDocument

# Why 600 characters: all-MiniLM-L6-v2 reads at most 256 word pieces and silently drops the rest. Its
# vocabulary is English: measured with its tokenizer, English support text runs at ~4.7 characters per word
# piece but German at ~2.7 (compounds and umlauts split into many pieces). 600 characters of German is ~225
# pieces, plus a title of up to MAX_TITLE_CHARS (~25 pieces) and 2 special tokens: just inside 256. The
# often-quoted 800-1000 characters holds for English only; German chunks of 800 measured ~290 pieces, so
# their last quarter would never be embedded. English chunks of 600 (~130 pieces) are still whole answers.
DEFAULT_MAX_CHARS = 600
MAX_TITLE_CHARS = 64


@dataclass(frozen=True)
class Chunk:
    """`title` is what the embedder puts before `text` (the heading path, shortened to MAX_TITLE_CHARS);
    `section` is the section's full heading path; `ordinal` counts the document's chunks from 0."""

    title: str
    text: str
    page: int | None
    section: str
    ordinal: int


def chunk_document(
    doc: ParsedDocument, *, max_chars: int = DEFAULT_MAX_CHARS, overlap_sentences: int = 1
) -> list[Chunk]:
    """Chunks of `doc.sections` (FAQ entries are indexed whole, one per entry, and are not chunked). A chunk
    never spans two sections; its text is at most `max_chars`; a chunk whose normalized text already occurred
    in the document (a footer repeated on every PDF page) is kept once."""
    if max_chars < 50:
        raise ValueError("max_chars must be at least 50")
    if overlap_sentences < 0:
        raise ValueError("overlap_sentences must not be negative")
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for section in doc.sections:
        title = _short_title(section.title)
        for text in chunk_text(section.text, max_chars=max_chars, overlap_sentences=overlap_sentences):
            key = " ".join(text.casefold().split())
            if key in seen:
                continue
            seen.add(key)
            chunk = Chunk(
                title=title, text=text, page=section.page, section=section.title, ordinal=len(chunks)
            )
            chunks.append(chunk)
    return chunks


@dataclass(frozen=True)
class _Unit:
    """A piece never split further: a whole paragraph, a sentence, or a fragment of an overlong sentence."""

    text: str
    separator: str  # what joins it to the previous unit: "\n\n" starts a paragraph
    fragment: bool = False


def chunk_text(text: str, *, max_chars: int = DEFAULT_MAX_CHARS, overlap_sentences: int = 1) -> list[str]:
    units = list(_units(text, max_chars))
    chunks: list[str] = []
    current: list[_Unit] = []
    for unit in units:
        if current and len(_render([*current, unit])) > max_chars:
            chunks.append(_render(current))
            overlap = _overlap(current, overlap_sentences)
            # Only when it leaves room for new content; a chunk that repeats all of the previous one is noise.
            fits = bool(overlap) and len(_render([*overlap, unit])) <= max_chars
            current = overlap if fits and len(_render(overlap)) * 2 <= max_chars else []
        current.append(unit)
    if current:
        chunks.append(_render(current))
    return chunks


def _render(units: list[_Unit]) -> str:
    return "".join(
        unit.text if i == 0 else unit.separator + unit.text for i, unit in enumerate(units)
    ).strip()


def _overlap(units: list[_Unit], count: int) -> list[_Unit]:
    """The last `count` sentences of a chunk, to start the next one with."""
    if count == 0 or units[-1].fragment:
        return []
    sentences: list[str] = []
    for unit in reversed(units):
        sentences = split_sentences(unit.text) + sentences
        if len(sentences) > count:
            break
    if len(sentences) <= count:
        return []  # the whole chunk would be repeated
    return [_Unit(sentence, " ") for sentence in sentences[-count:]]


def _units(text: str, max_chars: int) -> list[_Unit]:
    units: list[_Unit] = []
    for paragraph in re.split(r"\n[ \t]*\n", text.strip()):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph) <= max_chars:
            units.append(_Unit(paragraph, "\n\n"))
            continue
        separator = "\n\n"
        for sentence, following in _sentences_with_separators(paragraph):
            if len(sentence) <= max_chars:
                units.append(_Unit(sentence, separator))
            else:
                pieces = _split_words(sentence, max_chars)
                units.extend(
                    _Unit(piece, separator if i == 0 else " ", True) for i, piece in enumerate(pieces)
                )
            separator = following
    return units


def _split_words(text: str, max_chars: int) -> list[str]:
    """A sentence longer than a chunk is cut between words; a single word longer than a chunk (a URL, a
    token) is cut inside it, the only place text is ever cut mid-word."""
    pieces: list[str] = []
    current = ""
    for word in text.split():
        while len(word) > max_chars:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:max_chars])
            word = word[max_chars:]
        if current and len(current) + 1 + len(word) > max_chars:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        pieces.append(current)
    return pieces


# ----------------------------------------------------------------------------------------------------------
# Sentences (German and English)

# A period after these does not end a sentence. Single letters ("z. B.", "u. a.", "d. h.", initials) and
# dotted forms ("z.B.", "e.g.") are recognised by shape, so they are not listed. "etc." and "usw." are left
# out on purpose: they end sentences at least as often as they sit inside one.
_ABBREVIATIONS = frozenset({
    "abs", "abt", "allg", "bzgl", "bzw", "ca", "co", "dipl", "dr", "ehem", "einschl", "entspr", "evtl",
    "exkl", "fa", "ff", "geb", "gem", "ggf", "hr", "hrn", "inkl", "ing", "jh", "jhd", "kap", "lt", "max",
    "mind", "mio", "mrd", "nr", "prof", "sog", "st", "str", "tel", "vgl", "zzgl", "zzt", "bspw", "bsp",
    "sen", "jun", "mr", "mrs", "ms", "vs", "approx", "dept", "est", "fig", "vol"
})  # fmt: skip
_MONTHS = frozenset({
    "januar", "jänner", "februar", "feber", "märz", "april", "mai", "juni", "juli", "august", "september",
    "oktober", "november", "dezember", "jan", "feb", "mär", "mrz", "apr", "jun", "jul", "aug", "sep",
    "sept", "okt", "nov", "dez", "january", "february", "march", "may", "june", "july", "october",
    "december", "mar", "oct", "dec"
})  # fmt: skip
# Words that put an ordinal number after them: "am 3. Oktober", "im 2. Stock", "zum 1. Mal".
_BEFORE_ORDINAL = frozenset({
    "am", "im", "vom", "zum", "zur", "bis", "ab", "seit", "der", "die", "das", "den", "dem", "des",
    "jeden", "jedem", "jeder", "jedes", "ihr", "ihre", "ihrem", "ihren", "ihrer", "ihres", "unser",
    "unsere", "unserem", "unseren"
})  # fmt: skip
_BOUNDARY = re.compile(r"([.!?…]+)([\"'»«“”‘’)\]]*)(\s+)")
_LIST_ITEM = re.compile(r"\n(?=[ \t]*(?:[-*•·–]|\d{1,3}[.)])[ \t])")
_OPENERS = "\"'«»„“‘([¿¡"


def split_sentences(text: str) -> list[str]:
    return [sentence for sentence, _ in _sentences_with_separators(text)]


def _sentences_with_separators(text: str) -> list[tuple[str, str]]:
    """Sentences, each with the whitespace that followed it ("\n" or " "), so lists keep their lines."""
    result: list[tuple[str, str]] = []
    lines = _LIST_ITEM.split(text.strip())  # each list item starts a sentence
    for line_index, line in enumerate(lines):
        start = 0
        for match in _BOUNDARY.finditer(line):
            end = match.end()
            if end >= len(line) or not _ends_sentence(line, start, match):
                continue
            whitespace = match.group(3)
            result.append((line[start : match.end(2)].strip(), "\n" if "\n" in whitespace else " "))
            start = end
        rest = line[start:].strip()
        if rest:
            result.append((rest, "\n" if line_index < len(lines) - 1 else " "))
    return [(sentence, separator) for sentence, separator in result if sentence]


def _ends_sentence(line: str, start: int, match: re.Match[str]) -> bool:
    following = line[match.end() : match.end() + 40]  # a slice to the end would make this quadratic
    if not (following[0].isupper() or following[0].isdigit() or following[0] in _OPENERS):
        return False  # "ca. die Hälfte", "etc. and so on": a lower-case word continues the sentence
    if match.group(1) != "." or match.group(2):
        return True
    # Only the last two words matter; a bounded window keeps long runs of "A. B. C." linear.
    window_start = max(start, match.start() - 200)
    before = line[window_start : match.start()].split()[-2:]
    if not before:
        return False  # a lone "1." at the start is list numbering, not a sentence
    token = before[-1].lstrip(_OPENERS)
    if len(token) == 1 and token.isalpha():
        return False  # "z. B.", "u. a.", "J. Smith"
    if token.lower() in _ABBREVIATIONS or re.fullmatch(r"(?:\w\.)+\w", token):
        return False
    if token == "No" and following[0].isdigit():
        return False  # "No. 5"
    if token.isdigit() and len(token) <= 3:
        next_word = re.match(r"[\w]+", following)
        previous = before[-2].lower() if len(before) > 1 else ""
        first_word = len(before) == 1 and window_start == start
        if first_word or previous in _BEFORE_ORDINAL:
            return False
        if next_word and next_word.group(0).lower().rstrip(".") in _MONTHS:
            return False  # "1. Januar"
    return True


def _short_title(title: str) -> str:
    """Deep heading paths lose their leading parts first: the nearest headings say most about the text."""
    if len(title) <= MAX_TITLE_CHARS:
        return title
    parts = title.split(TITLE_SEPARATOR)
    while len(parts) > 1 and len(TITLE_SEPARATOR.join(["…", *parts])) > MAX_TITLE_CHARS:
        parts.pop(0)
    short = (
        TITLE_SEPARATOR.join(["…", *parts]) if len(parts) < len(title.split(TITLE_SEPARATOR)) else parts[0]
    )
    return short if len(short) <= MAX_TITLE_CHARS else short[: MAX_TITLE_CHARS - 1].rstrip() + "…"
