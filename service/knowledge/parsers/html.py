"""HTML help pages: the main content only (no navigation, scripts, banners), cut at its headings; <details>
and <dl> are explicit FAQ entries."""

from __future__ import annotations

import codecs
import re
from typing import Any

from bs4 import BeautifulSoup
from bs4.element import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag

from service.knowledge.parsers.document import ParsedDocument
from service.knowledge.parsers.structure import Block, Item, assemble
from service.knowledge.parsers.text import decode, one_line


def parse_html(text: str, stem: str, kind: str | None) -> ParsedDocument:
    doc_title, blocks, url = _html_blocks(text)
    return assemble(blocks, doc_title or stem, kind, explicit_anchors=False, url=url)


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def decode_html(data: bytes, content_type: str | None) -> str:
    """HTML may declare its encoding (HTTP header or <meta>); a BOM wins, as in browsers."""
    if data.startswith(codecs.BOM_UTF8):
        return decode(data, "utf-8")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return decode(data, "utf-16")
    declared = None
    match = re.search(r"charset\s*=\s*\"?([A-Za-z0-9_.:-]+)", content_type or "", re.IGNORECASE)
    if match:
        declared = match.group(1)
    else:
        meta = _META_CHARSET.search(data[:4096])
        if meta:
            declared = meta.group(1).decode("ascii")
    encoding = (declared or "utf-8").lower()
    if encoding.startswith(("utf-16", "utf-32", "unicode")):
        encoding = "utf-8"  # an ASCII-readable <meta> cannot be UTF-16; browsers treat it as UTF-8
    if encoding in ("iso-8859-1", "latin1", "latin-1", "us-ascii", "ascii"):
        encoding = "cp1252"  # what browsers actually use for these labels
    return decode(data, encoding)


_DROPPED_TAGS = frozenset(
    {"script", "style", "nav", "aside", "form", "noscript", "template", "svg", "iframe", "button", "select",
     "input", "textarea", "head", "object", "embed", "canvas", "dialog", "menu"}
)  # fmt: skip
_DROPPED_ROLES = frozenset(
    {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "dialog"}
)  # fmt: skip
_BLOCK_TAGS = frozenset(
    {"p", "div", "section", "article", "main", "ul", "ol", "table", "pre", "blockquote", "figure",
     "figcaption", "address", "hr", "dl", "details", "summary", "caption", "center", "body", "html",
     "fieldset", "legend"}
)  # fmt: skip
# These start a new line but not a new paragraph, so a list or a table stays together.
_LINE_TAGS = frozenset({"li", "tr", "dt", "dd"})
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_PERMALINK = re.compile(r"\s*[¶#§🔗]+\s*$")


def _html_blocks(text: str) -> tuple[str | None, list[Block], str | None]:
    soup = BeautifulSoup(text, "html.parser")
    title_tag = soup.find("title")
    page_title = _PERMALINK.sub("", one_line(title_tag.get_text(" "))) if title_tag else ""
    canonical = soup.find("link", rel="canonical")
    href = canonical.get("href") if isinstance(canonical, Tag) else None
    url = href if isinstance(href, str) and re.match(r"https?://", href) else None
    root, inside_main = _main_content(soup)
    collector = _HtmlCollector(inside_main=inside_main)
    collector.walk(root)
    blocks = collector.finish()
    h1 = next((block.heading for block in blocks if block.level == 1), None)
    return h1 or page_title or None, blocks, url


def _main_content(soup: BeautifulSoup) -> tuple[Tag, bool]:
    for candidate in (soup.find("main"), soup.find(True, attrs={"role": "main"})):
        if isinstance(candidate, Tag):
            return candidate, True
    articles = soup.find_all("article")
    if len(articles) == 1 and isinstance(articles[0], Tag):
        return articles[0], True
    body = soup.find("body")
    return (body if isinstance(body, Tag) else soup), False


class _HtmlCollector:
    """Cuts the tree into heading blocks of paragraphs. Iterative, because hostile HTML can nest deeper than
    Python's recursion limit."""

    def __init__(self, *, inside_main: bool, headings: bool = True) -> None:
        # Inside <main>/<article> a <header> holds the page's own title; elsewhere it is the site banner.
        self.inside_main = inside_main
        self.headings = headings
        self.blocks = [Block(level=0, heading="")]
        self.line: list[str] = []
        self.lines: list[str] = []

    def walk(self, root: Tag) -> None:
        stack: list[tuple[Any, bool]] = [(root, False)]
        while stack:
            node, leaving = stack.pop()
            if leaving:
                if node.name in _LINE_TAGS:
                    self._new_line()
                else:
                    self._paragraph_break()
                continue
            if isinstance(node, (Comment, Doctype, Declaration, ProcessingInstruction)):
                continue
            if isinstance(node, NavigableString):
                self.line.append(str(node))
                continue
            if not isinstance(node, Tag) or self._dropped(node):
                continue
            name = node.name
            if name == "br":
                self._new_line()
                continue
            if name in _HEADINGS and self.headings:
                self._heading(node)
                continue
            if name == "details" and isinstance(node.find("summary"), Tag):
                self._details(node)
                continue
            if name == "dl" and node.find("dt", recursive=False) and node.find("dd", recursive=False):
                self._definition_list(node)
                continue
            if name in _BLOCK_TAGS or name in _HEADINGS:
                self._paragraph_break()
                stack.append((node, True))
            elif name in _LINE_TAGS:
                self._new_line()
                if name == "li":
                    self.line.append("- ")
                stack.append((node, True))
            elif name in ("td", "th"):
                self.line.append(" ")
            for child in reversed(node.contents):
                stack.append((child, False))

    def _dropped(self, tag: Tag) -> bool:
        if tag.name in _DROPPED_TAGS or tag.name == "footer":
            return True
        if tag.name == "header" and not self.inside_main:
            return True
        role = str(tag.get("role") or "").lower()
        hidden = tag.has_attr("hidden") or str(tag.get("aria-hidden") or "").lower() == "true"
        style = re.sub(r"\s", "", str(tag.get("style") or "")).lower()
        return hidden or role in _DROPPED_ROLES or "display:none" in style or "visibility:hidden" in style

    def _heading(self, node: Tag) -> None:
        self._paragraph_break()
        heading = _PERMALINK.sub("", one_line(node.get_text(" ")))
        anchor = node.get("id")
        if not anchor:
            inner = node.find(True, attrs={"id": True}) or node.find("a", attrs={"name": True})
            anchor = (inner.get("id") or inner.get("name")) if isinstance(inner, Tag) else None
        if not heading:
            return
        level = _HEADINGS[node.name]
        self.blocks.append(Block(level=level, heading=heading, anchor=str(anchor) if anchor else None))

    def _details(self, node: Tag) -> None:
        self._paragraph_break()
        summary = node.find("summary")
        assert isinstance(summary, Tag)
        question = _PERMALINK.sub("", one_line(summary.get_text(" ")))
        answer = self._render_children(node, skip=summary)
        anchor = node.get("id") or summary.get("id")
        self.blocks[-1].parts.append(Item(question, answer, str(anchor) if anchor else None))

    def _definition_list(self, node: Tag) -> None:
        self._paragraph_break()
        question: Tag | None = None
        answers: list[str] = []

        def emit() -> None:
            if question is not None:
                anchor = question.get("id")
                item = Item(one_line(question.get_text(" ")), "\n\n".join(answers))
                item.anchor = str(anchor) if anchor else None
                self.blocks[-1].parts.append(item)

        for child in node.find_all(["dt", "dd"], recursive=False):
            if child.name == "dt":
                emit()
                question, answers = child, []
            else:
                answers.append(self._render_children(child))
        emit()

    def _render_children(self, node: Tag, skip: Tag | None = None) -> str:
        inner = _HtmlCollector(inside_main=True, headings=False)
        for child in node.contents:
            if child is not skip:
                inner.walk(child)  # type: ignore[arg-type]
        return "\n\n".join(block.body() for block in inner.finish() if block.parts)

    def _new_line(self) -> None:
        self.lines.append(" ".join("".join(self.line).split()))
        self.line = []

    def _paragraph_break(self) -> None:
        self._new_line()
        text = "\n".join(line for line in self.lines if line and line != "-")
        if text.strip():
            self.blocks[-1].parts.append(text)
        self.lines = []

    def finish(self) -> list[Block]:
        self._paragraph_break()
        return self.blocks
