"""Markdown files: headings cut the text into sections; question headings become FAQ entries."""

from __future__ import annotations

import re

from service.knowledge.parsers.document import ParsedDocument
from service.knowledge.parsers.structure import Block, assemble
from service.knowledge.parsers.text import one_line


def parse_markdown(text: str, stem: str, kind: str | None) -> ParsedDocument:
    doc_title, blocks = _markdown_blocks(text)
    return assemble(blocks, doc_title or stem, kind, explicit_anchors=True, url=None)


_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_ANCHOR = re.compile(r"\s*\{#([A-Za-z0-9_.:-]+)\}\s*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)


def _markdown_blocks(text: str) -> tuple[str | None, list[Block]]:
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    doc_title = None
    front = _FRONT_MATTER.match(text)
    if front:
        title = re.search(r"^title:\s*[\"']?(.*?)[\"']?\s*$", front.group(1), re.MULTILINE)
        doc_title = title.group(1).strip() if title else None
        text = text[front.end() :]
    text = _without_comments(text)
    blocks = [Block(level=0, heading="")]
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks[-1].parts.append(_markdown_inline("\n".join(paragraph)))
            paragraph.clear()

    fence: str | None = None
    for line in text.split("\n"):
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
                flush()
            else:
                paragraph.append(line)  # code is kept verbatim: it can be the answer (a setting, a command)
            continue
        opening = _FENCE.match(line)
        if opening:
            flush()
            fence = opening.group(1)
            continue
        atx = _ATX.match(line)
        if atx:
            flush()
            heading = re.sub(r"[ \t]+#+$", "", atx.group(2) or "").strip()
            anchor_match = _ANCHOR.search(heading)
            anchor = anchor_match.group(1) if anchor_match else None
            heading = one_line(_markdown_inline(_ANCHOR.sub("", heading)))
            blocks.append(Block(level=len(atx.group(1)), heading=heading, anchor=anchor))
            continue
        setext = re.match(r"^ {0,3}(=+|-+)[ \t]*$", line)
        if setext and len(paragraph) == 1 and not re.match(r"^\s*([-*+>]|\d+[.)])\s", paragraph[0]):
            heading_text = paragraph.pop()
            anchor_match = _ANCHOR.search(heading_text)
            blocks.append(
                Block(
                    level=1 if setext.group(1)[0] == "=" else 2,
                    heading=one_line(_markdown_inline(_ANCHOR.sub("", heading_text))),
                    anchor=anchor_match.group(1) if anchor_match else None,
                )
            )
            continue
        if not line.strip():
            flush()
        elif re.match(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$", line) or re.match(
            r"^ {0,3}([-*_])( ?\1){2,}\s*$", line
        ):
            flush()  # table separator row or thematic break: layout, not content
        else:
            paragraph.append(line)
    flush()
    return doc_title, blocks


def _without_comments(text: str) -> str:
    """HTML comments removed with str.find: a regex would rescan to the end for every unclosed "<!--"."""
    parts: list[str] = []
    position = 0
    while (start := text.find("<!--", position)) != -1:
        end = text.find("-->", start + 4)
        if end == -1:
            break
        parts.append(text[position:start])
        position = end + 3
    parts.append(text[position:])
    return "".join(parts)


_INLINE_MARKUP = [
    (re.compile(pattern, flags), replacement)
    for pattern, replacement, flags in [
        (r"!\[([^\[\]\n]{0,500})\]\(([^()\s]{0,2000})\)", r"\1", 0),
        (r"\[([^\[\]\n]{1,500})\]\((https?://[^()\s]{1,2000})\)", r"\1 (\2)", 0),
        (r"\[([^\[\]\n]{1,500})\]\([^()\n]{0,2000}\)", r"\1", 0),
        (r"\[([^\[\]\n]{1,500})\]\[[^\[\]\n]{0,500}\]", r"\1", 0),
        (r"<(https?://[^<>\s]{1,2000})>", r"\1", 0),
        (r"</?[A-Za-z][A-Za-z0-9-]{0,30}(\s[^<>\n]{0,500})?/?>", "", 0),
        (r"\*\*(?=[^\s*])([^*\n]{1,500})(?<=\S)\*\*", r"\1", 0),
        (r"(?<!\w)__(?=[^\s_])([^_\n]{1,500})(?<=\S)__(?!\w)", r"\1", 0),
        (r"(?<![\w*])\*(?=[^\s*])([^*\n]{1,500})(?<=\S)\*(?![\w*])", r"\1", 0),
        (r"(?<!\w)_(?=[^\s_])([^_\n]{1,500})(?<=\S)_(?!\w)", r"\1", 0),
        (r"~~([^~\n]{1,500})~~", r"\1", 0),
        (r"`([^`\n]{1,500})`", r"\1", 0),
        (r"^ {0,3}>[ \t]?", "", re.MULTILINE),
        (r"^(\s*)[*+][ \t]+", r"\1- ", re.MULTILINE),
    ]
]
_MARKUP_CHARACTERS = re.compile(r"[\[<*_~`>+]")


def _markdown_inline(text: str) -> str:
    """Markup removed, content kept: link targets stay when absolute, because answers cite them. No span may
    contain its own opening marker, so a hostile paragraph of unclosed markers stays linear, not quadratic."""
    if not _MARKUP_CHARACTERS.search(text):
        return text
    for pattern, replacement in _INLINE_MARKUP:
        text = pattern.sub(replacement, text)
    return text
