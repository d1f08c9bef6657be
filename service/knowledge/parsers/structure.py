"""Structured text (Markdown, HTML) cut into heading blocks → FAQ entries (question headings) or sections.

Shared by both formats, so they detect FAQs and build heading paths the same way: a document is an FAQ when
most headings that carry content are questions (two at least); a question's answer runs to the next heading
at the same or a higher level; everything else becomes sections titled by their heading path.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from service.errors import InvalidDocument
from service.knowledge.parsers.document import TITLE_SEPARATOR, FaqEntry, ParsedDocument, Section
from service.knowledge.parsers.text import clean_text


@dataclass
class Item:
    """A question/answer pair marked up explicitly (HTML <details>/<dl>)."""

    question: str
    answer: str
    anchor: str | None = None


@dataclass
class Block:
    """A heading and the content up to the next heading. Level 0 is the content before the first heading."""

    level: int
    heading: str
    anchor: str | None = None
    parts: list[str | Item] = field(default_factory=list)

    def body(self) -> str:
        rendered = [p if isinstance(p, str) else f"{p.question}\n{p.answer}" for p in self.parts]
        return "\n\n".join(text for text in rendered if text)

    def prose(self) -> str:
        return "\n\n".join(part for part in self.parts if isinstance(part, str) and part)


def _is_question(text: str) -> bool:
    return text.rstrip().endswith(("?", "？"))


def assemble(
    blocks: list[Block], doc_title: str, kind: str | None, *, explicit_anchors: bool, url: str | None
) -> ParsedDocument:
    """`kind` None detects it. `explicit_anchors`: the format's anchors are written by the author (Markdown
    `{#id}`), so they are the FAQ ids and must be unique; repeated HTML ids get a suffix. `url` is the page's,
    to which a section's anchor is appended."""
    blocks = [block for block in blocks if block.heading or block.parts]
    titles = _heading_paths(blocks, doc_title)
    question_blocks = {i for i, block in enumerate(blocks) if block.level and _is_question(block.heading)}
    items = [part for block in blocks for part in block.parts if isinstance(part, Item)]
    if kind is None:
        # An FAQ when most headings that carry content are questions (or most explicit Q/A items are);
        # two at least, so one rhetorical question heading does not turn a doc into an FAQ.
        questions, units = _count_questions(blocks, question_blocks, _title_block(blocks))
        questions += sum(_is_question(item.question) for item in items)
        units += len(items)
        kind = "faq" if questions >= 2 and questions * 2 > units else "doc"
    sections: list[Section] = []
    if kind == "doc":
        sections = [
            Section(title=titles[i], text=body, url=_with_anchor(url, block.anchor))
            for i, block in enumerate(blocks)
            if (body := clean_text(block.body()))
        ]
        if not sections:
            raise InvalidDocument("The file has no text (only headings or markup).")
        return ParsedDocument(kind="doc", faqs=[], sections=sections)

    ids = _FaqIds(explicit_anchors)
    pending: list[tuple[str, str, str | None]] = []  # question, answer, anchor; ids assigned after
    i = 0
    while i < len(blocks):
        block = blocks[i]
        if i in question_blocks:
            # The answer runs until the next heading at the same or a higher level; deeper headings in it
            # (e.g. "Step 1") stay part of the answer.
            answer = [block.body()]
            j = i + 1
            while j < len(blocks) and blocks[j].level > block.level:
                answer.append(f"{blocks[j].heading}\n{blocks[j].body()}".strip())
                j += 1
            text = clean_text("\n\n".join(answer))
            if text:
                pending.append((block.heading, text, block.anchor))
            i = j
            continue
        prose = clean_text(block.prose())
        if prose:
            sections.append(Section(title=titles[i], text=prose, url=_with_anchor(url, block.anchor)))
        for item in (part for part in block.parts if isinstance(part, Item)):
            if item.question and item.answer:
                pending.append((item.question, item.answer, item.anchor))
        i += 1
    if not pending:
        raise InvalidDocument(
            "No FAQ entries found: expected headings phrased as questions (ending with ?) followed by their "
            "answers. Upload the file as a doc, or as FAQ JSON/CSV."
        )
    ids.reserve(anchor for _, _, anchor in pending)
    faqs = [
        FaqEntry(
            source_id=ids.assign(question, anchor),
            question=question,
            answer=answer,
            url=_with_anchor(url, anchor),
        )
        for question, answer, anchor in pending
    ]
    return ParsedDocument(kind="faq", faqs=faqs, sections=sections)


def _count_questions(blocks: list[Block], question_blocks: set[int], title: Block | None) -> tuple[int, int]:
    """(question headings, headings with content), not counting the document title or headings inside an
    answer ("Step 1" under a question)."""
    questions = units = 0
    inside_level: int | None = None
    for i, block in enumerate(blocks):
        if inside_level is not None and block.level > inside_level:
            continue
        inside_level = block.level if i in question_blocks else None
        if block.level and block is not title and block.body():
            units += 1
            questions += i in question_blocks
    return questions, units


def _title_block(blocks: list[Block]) -> Block | None:
    """A single top-level heading that opens the document is the document's title."""
    top = [block for block in blocks if block.level == 1]
    first_heading = next((block for block in blocks if block.level), None)
    return top[0] if len(top) == 1 and top[0] is first_heading else None


def _heading_paths(blocks: list[Block], doc_title: str) -> list[str]:
    """Titles like "Billing › Refunds". The document's title names the content before the first subheading
    but is left out of deeper paths."""
    title_block = _title_block(blocks)
    titles: list[str] = []
    stack: list[tuple[int, str]] = []
    for block in blocks:
        if block.level == 0 or block is title_block:
            titles.append(block.heading or doc_title)
            continue
        while stack and stack[-1][0] >= block.level:
            stack.pop()
        stack.append((block.level, block.heading))
        titles.append(TITLE_SEPARATOR.join(heading for _, heading in stack))
    return titles


def _with_anchor(url: str | None, anchor: str | None) -> str | None:
    if not url:
        return None
    return f"{url.split('#')[0]}#{anchor}" if anchor else url


class _FaqIds:
    """Stable source ids for FAQ entries without an `id` field: the author's anchor, else a slug."""

    def __init__(self, explicit_anchors: bool) -> None:
        self.explicit = explicit_anchors
        self.used: set[str] = set()
        self.next_suffix: dict[str, int] = {}  # so many equal questions do not rescan from "-2" each time

    def reserve(self, anchors: Iterable[str | None]) -> None:
        if not self.explicit:
            return
        for anchor in anchors:
            if anchor is None:
                continue
            if anchor in self.used:
                raise InvalidDocument(f"The anchor {{#{anchor}}} is used twice; FAQ ids must be unique.")
            self.used.add(anchor)

    def assign(self, question: str, anchor: str | None) -> str:
        if anchor and self.explicit:
            return anchor
        base = anchor or _slug(question)
        candidate, n = base, self.next_suffix.get(base, 1)
        while candidate in self.used:
            n += 1
            candidate = f"{base}-{n}"
        self.next_suffix[base] = n
        self.used.add(candidate)
        return candidate


_TRANSLITERATE = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"})


def _slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.translate(_TRANSLITERATE))
    ascii_text = folded.encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:80].rstrip("-")
    # Questions in non-Latin scripts have no ASCII slug; a hash of the text is still stable across uploads.
    return slug or "q-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]
