"""Markdown files, read by markdown-it-py (CommonMark with tables and strikethrough): top-level headings cut
the text into sections, question headings become FAQ entries.

What each construct becomes, as plain text an answer can quote:
- headings, ATX (`## Title`) and setext (`Title` over `====`/`----`); `{#id}` at the end of one is its
  anchor, which names the FAQ entry. A heading inside a quote or a list is text, not a section.
- code (fenced or indented) verbatim: it can be the answer (a setting, a command); a `#` in it is code.
- lists one item a line, "- " or the item's number ("3. "); tables one row a line, cells joined by " | ".
- links as their text, followed by the target in parentheses when it is an absolute http(s) address,
  because drafts cite it; relative and mailto targets are dropped. Images as their alt text.
- HTML blocks are dropped (layout, embeds, comments); inline tags are removed and their text kept.
- YAML front matter is not content; its `title:` names the document.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token

from service.knowledge.parsers.document import ParsedDocument
from service.knowledge.parsers.structure import Block, assemble
from service.knowledge.parsers.text import one_line

_ANCHOR = re.compile(r"\s*\{#([A-Za-z0-9_.:-]+)\}\s*$")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_FRONT_MATTER_TITLE = re.compile(r"^title:\s*[\"']?(.*?)[\"']?\s*$", re.MULTILINE)
_CITED_LINK = re.compile(r"https?://\S+$", re.IGNORECASE)


class _Markdown(MarkdownIt):
    def normalizeLink(self, url: str) -> str:
        # A cited address stays as the author wrote it: no punycode hosts, no percent-encoded umlauts.
        return url


# html=True so that HTML is recognised, and then dropped, instead of showing up as literal tags.
_PARSER = _Markdown("commonmark", {"html": True}).enable(["table", "strikethrough"])


def parse_markdown(text: str, stem: str, kind: str | None) -> ParsedDocument:
    doc_title, blocks = _markdown_blocks(text)
    return assemble(blocks, doc_title or stem, kind, explicit_anchors=True, url=None)


def _markdown_blocks(text: str) -> tuple[str | None, list[Block]]:
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    doc_title = None
    front = _FRONT_MATTER.match(text)
    if front:
        title = _FRONT_MATTER_TITLE.search(front.group(1))
        doc_title = title.group(1).strip() if title else None
        text = text[front.end() :]
    collector = _BlockCollector()
    for token in _PARSER.parse(text):
        collector.add(token)
    collector.flush()
    return doc_title, collector.blocks


class _BlockCollector:
    """Walks markdown-it's flat token stream (containers are open/close pairs, never recursion) and turns
    each top-level block into one paragraph of its heading block."""

    def __init__(self) -> None:
        self.blocks = [Block(level=0, heading="")]
        self.lines: list[str] = []  # of the top-level block being read
        self.in_heading = False  # between a top-level heading_open and its heading_close
        self.lists: list[int | None] = []  # per open list: the next item's number, None for bullets
        self.marker = ""  # an item's "- " or "3. ", put before the first line of that item
        self.cells: list[str] | None = None  # the table row being read

    def add(self, token: Token) -> None:
        kind = token.type
        if kind == "heading_open" and token.level == 0:
            self.flush()
            self.blocks.append(Block(level=int(token.tag[1]), heading=""))
            self.in_heading = True
        elif kind == "heading_close" and token.level == 0:
            self.in_heading = False
        elif kind == "inline":
            self._inline(token)
        elif kind == "bullet_list_open":
            self.lists.append(None)
        elif kind == "ordered_list_open":
            start = token.attrs.get("start", 1)  # an int, set when the list does not start at 1
            self.lists.append(start if isinstance(start, int) else 1)
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
        elif kind == "list_item_open":
            number = self.lists[-1] if self.lists else None
            if number is None:
                self.marker = "- "
            else:
                self.marker = f"{number}{token.markup or '.'} "
                self.lists[-1] = number + 1
        elif kind == "tr_open":
            self.cells = []
        elif kind == "tr_close":
            self._line(" | ".join(self.cells or []))
            self.cells = None
        elif kind in ("fence", "code_block"):
            self._line(token.content.rstrip("\n"))
        # html_block is dropped; other tokens (paragraph_open, hr, …) are structure without text.
        if token.level == 0 and token.nesting <= 0:
            self.flush()  # a top-level block ends here

    def _inline(self, token: Token) -> None:
        text = _inline_text(token.children or [])
        if self.in_heading:
            anchor = _ANCHOR.search(token.content)
            self.blocks[-1].heading = one_line(_ANCHOR.sub("", text))
            self.blocks[-1].anchor = anchor.group(1) if anchor else None
        elif self.cells is not None:
            self.cells.append(one_line(text))
        else:
            self._line(text)

    def _line(self, text: str) -> None:
        self.lines.append(self.marker + text)
        self.marker = ""

    def flush(self) -> None:
        text = "\n".join(self.lines)
        if text.strip():
            self.blocks[-1].parts.append(text)
        self.lines = []
        self.marker = ""


def _inline_text(children: Sequence[Token]) -> str:
    """The text of a paragraph or heading: markup dropped, absolute link targets kept after the link text."""
    out: list[str] = []
    links: list[tuple[str, int]] = []  # open links: target and where their text starts in `out`
    for child in children:
        kind = child.type
        if kind in ("text", "text_special", "code_inline"):
            out.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind == "image":
            out.append(_inline_text(child.children or []))
        elif kind == "link_open":
            links.append((str(child.attrs.get("href") or ""), len(out)))
        elif kind == "link_close" and links:
            href, start = links.pop()
            label = "".join(out[start:]).strip()
            if _CITED_LINK.match(href) and label != href:
                out.append(f" ({href})")
        # html_inline (tags, comments) and emphasis/strikethrough markers carry no text.
    return "".join(out)
