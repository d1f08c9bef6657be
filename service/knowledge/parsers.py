"""Turns an uploaded knowledge file (FAQ JSON/CSV, Markdown, text, HTML, PDF) into FAQ entries or sections."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import math
import re
import subprocess
import sys
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bs4 import BeautifulSoup
from bs4.element import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag

from service.errors import InvalidDocument

FORMATS = ("json", "csv", "markdown", "text", "html", "pdf")
TITLE_SEPARATOR = " › "


@dataclass(frozen=True)
class FaqEntry:
    source_id: str
    question: str
    answer: str
    url: str | None = None


@dataclass(frozen=True)
class Section:
    title: str
    text: str
    page: int | None = None
    url: str | None = None


@dataclass
class ParsedDocument:
    """`faqs` are indexed one point per entry. `sections` are prose for `chunk_document`; in an FAQ document
    they hold whatever sits outside the questions (an intro, a non-question heading) and may be empty."""

    kind: Literal["faq", "doc"]
    faqs: list[FaqEntry] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)


@dataclass(frozen=True)
class ParseLimits:
    max_bytes: int = 25 * 1024 * 1024
    pdf_max_pages: int = 500
    pdf_timeout_s: float = 20.0
    pdf_max_memory_mb: int = 512
    max_text_chars: int = 5_000_000


# ----------------------------------------------------------------------------------------------------------
# Format detection

# Checked before the extension: a renamed file must not reach a parser that trusts the name.
_REFUSED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (this includes .docx, .xlsx and .pptx)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"PK\x07\x08", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office file (.doc/.xls)"),
    (b"{\\rtf", "an RTF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x7fELF", "a program (ELF binary)"),
)
_EXTENSIONS = {
    ".json": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdown": "markdown",
    ".mkd": "markdown",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
}
_CONTENT_TYPES = {
    "application/json": "json",
    "text/json": "json",
    "text/csv": "csv",
    "application/csv": "csv",
    "text/tab-separated-values": "csv",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/plain": "text",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
}
_ACCEPTED = "FAQ JSON, FAQ CSV, Markdown (.md), plain text (.txt), HTML or PDF"


def _file_name(filename: str) -> str:
    # Browsers on Windows may send the full client path.
    return re.split(r"[\\/]", filename or "")[-1]


def _stem(filename: str) -> str:
    name = _file_name(filename)
    stem = Path(name).stem if "." in name.strip(".") else name
    return stem.strip() or "Document"


def detect_format(filename: str, data: bytes, content_type: str | None) -> str:
    """One of FORMATS: magic bytes first, then the file extension, then the declared content type."""
    head = data[:1024]
    suffix = Path(_file_name(filename)).suffix.lower()
    # Readers accept junk before the header; only a file named .pdf gets that leeway, so a text file that
    # merely mentions "%PDF-" is not taken for one.
    if head.lstrip().startswith(b"%PDF-") or (suffix == ".pdf" and b"%PDF-" in head):
        return "pdf"
    for magic, what in _REFUSED_MAGIC:
        if data.startswith(magic):
            raise InvalidDocument(f"The file is {what}, which is not accepted. Upload {_ACCEPTED}.")
    by_extension = _EXTENSIONS.get(suffix)
    if by_extension == "pdf":
        raise InvalidDocument("The file is named .pdf but is not a PDF (it does not start with %PDF-).")
    if by_extension:
        return by_extension
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type in _CONTENT_TYPES:
        by_type = _CONTENT_TYPES[media_type]
        if by_type == "pdf":
            raise InvalidDocument("The file was sent as application/pdf but is not a PDF.")
        return by_type
    sniffed = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if sniffed.startswith((b"<!doctype html", b"<html")):
        return "html"
    shown = f'"{suffix}"' if suffix else "no extension"
    declared = media_type or "none"
    raise InvalidDocument(f"Unknown file type ({shown}, content type {declared}). Upload {_ACCEPTED}.")


# ----------------------------------------------------------------------------------------------------------
# Entry point


def parse_document(
    filename: str,
    data: bytes,
    *,
    content_type: str | None = None,
    kind: str | None = None,
    limits: ParseLimits = ParseLimits(),
) -> ParsedDocument:
    """Parse one upload. Blocking (a PDF runs in a child process for up to `pdf_timeout_s`): call it from a
    worker or `asyncio.to_thread`. Raises InvalidDocument with a message meant for the uploader."""
    if kind not in (None, "faq", "doc"):
        raise InvalidDocument(f'Unknown document kind "{kind}"; use "faq" or "doc".')
    if len(data) > limits.max_bytes:
        raise InvalidDocument(
            f"The file is {_mib(len(data))} MiB; the limit is {_mib(limits.max_bytes)} MiB. Split it into "
            "smaller files."
        )
    if not data.strip():
        raise InvalidDocument(_NO_TEXT)
    fmt = detect_format(filename, data, content_type)
    stem = _stem(filename)
    if fmt in ("json", "csv"):
        if kind == "doc":
            raise InvalidDocument(f"{fmt.upper()} files are read as FAQ lists; they cannot be a doc.")
        text = _check_text(_decode_utf8(data), limits)
        faqs = _parse_faq_json(text) if fmt == "json" else _parse_faq_csv(text)
        return ParsedDocument(kind="faq", faqs=faqs, sections=[])
    if fmt == "pdf":
        if kind == "faq":
            raise InvalidDocument(_NOT_FAQ.format(what="A PDF"))
        return ParsedDocument(kind="doc", sections=_parse_pdf(data, stem, limits))
    if fmt == "text":
        if kind == "faq":
            raise InvalidDocument(_NOT_FAQ.format(what="Plain text"))
        body = _clean_text(_check_text(_decode_utf8(data), limits))
        return ParsedDocument(kind="doc", sections=[Section(title=stem, text=body)])
    if fmt == "markdown":
        text = _check_text(_decode_utf8(data), limits)
        doc_title, blocks = _markdown_blocks(text)
        return _assemble(blocks, doc_title or stem, kind, explicit_anchors=True, url=None)
    text = _check_text(_decode_html(data, content_type), limits)
    doc_title, blocks, url = _html_blocks(text)
    return _assemble(blocks, doc_title or stem, kind, explicit_anchors=False, url=url)


_NO_TEXT = "The file has no text (it is empty or only whitespace)."
_NOT_FAQ = (
    "{what} cannot be read as an FAQ. Upload FAQs as JSON, CSV, or Markdown/HTML whose headings are the "
    "questions, or upload this file as a doc."
)


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:.1f}".removesuffix(".0")


def _check_text(text: str, limits: ParseLimits) -> str:
    if not _clean_text(text):
        raise InvalidDocument(_NO_TEXT)
    if len(text) > limits.max_text_chars:
        raise InvalidDocument(
            f"The file has {len(text):,} characters of text; the limit is {limits.max_text_chars:,}. "
            "Split it into smaller files."
        )
    return text


# ----------------------------------------------------------------------------------------------------------
# Text decoding and cleaning


def _decode_utf8(data: bytes) -> str:
    """Strict UTF-8 (BOM allowed). A wrong guess at another encoding would silently corrupt the knowledge the
    drafts quote, so the uploader is told where the file breaks instead."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Unambiguous by its BOM; Excel's "Unicode text" export produces this.
        return _decode(data, "utf-16")
    return _decode(data, "utf-8")


def _decode(data: bytes, encoding: str) -> str:
    bom = codecs.BOM_UTF8 if encoding == "utf-8" and data.startswith(codecs.BOM_UTF8) else b""
    try:
        text = data[len(bom) :].decode(encoding)
    except UnicodeDecodeError as error:
        offset = error.start + len(bom)  # counted in the uploaded file, as a hex editor shows it
        line = data[:offset].count(b"\n") + 1
        raise InvalidDocument(
            f"The file is not valid {encoding.upper()} text: byte 0x{data[offset]:02X} at offset {offset} "
            f"(line {line}) cannot be decoded. Save the file as UTF-8 and upload it again."
        ) from None
    except LookupError:
        raise InvalidDocument(f'The file declares an unknown character encoding "{encoding}".') from None
    if "\x00" in text:
        raise InvalidDocument("The file contains NUL bytes; it looks like a binary file, not text.")
    return text


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def _decode_html(data: bytes, content_type: str | None) -> str:
    """HTML may declare its encoding (HTTP header or <meta>); a BOM wins, as in browsers."""
    if data.startswith(codecs.BOM_UTF8):
        return _decode(data, "utf-8")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode(data, "utf-16")
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
    return _decode(data, encoding)


_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean_text(text: str) -> str:
    """NFC, no invisible/control characters, single spaces, at most one blank line between paragraphs."""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text).replace("\t", " ").replace("\u00a0", " ")
    lines = [re.sub(r" {2,}", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _one_line(text: str) -> str:
    return " ".join(_clean_text(text).split())


# ----------------------------------------------------------------------------------------------------------
# FAQ JSON and CSV


def _parse_faq_json(text: str) -> list[FaqEntry]:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidDocument(
            f"The JSON is malformed: {error.msg} at line {error.lineno}, column {error.colno}."
        ) from None
    except RecursionError:
        raise InvalidDocument("The JSON is nested too deeply.") from None
    if isinstance(payload, dict):
        entries = payload.get("faqs")
        if not isinstance(entries, list):
            raise InvalidDocument('An FAQ JSON object needs a "faqs" list, e.g. {"faqs": [{"id": ...}]}.')
    elif isinstance(payload, list):
        entries = payload
    else:
        raise InvalidDocument('FAQ JSON must be a list of entries or an object with a "faqs" list.')
    rows: list[tuple[str, dict[str, Any]]] = []
    for index, entry in enumerate(entries):
        where = f"FAQ entry at index {index}"
        if not isinstance(entry, dict):
            raise InvalidDocument(f'{where} is not an object with "id", "question" and "answer".')
        rows.append((where, entry))
    return _faq_entries(rows)


def _faq_entries(rows: Iterable[tuple[str, dict[str, Any]]]) -> list[FaqEntry]:
    """Shared validation for JSON and CSV: `where` names the entry in error messages."""
    faqs: list[FaqEntry] = []
    seen: dict[str, str] = {}
    for where, entry in rows:
        raw_id = entry.get("id")
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            raise InvalidDocument(f'{where} needs an "id" (a string or an integer).')
        source_id = str(raw_id).strip()
        if not source_id:
            raise InvalidDocument(f'{where} has an empty "id".')
        if source_id in seen:
            first = seen[source_id]
            raise InvalidDocument(f'{where} repeats the id "{source_id}" of {first}; ids must be unique.')
        seen[source_id] = where
        texts = {}
        for name in ("question", "answer"):
            value = entry.get(name)
            if not isinstance(value, str) or not value.strip():
                raise InvalidDocument(f'{where} (id "{source_id}") has no "{name}".')
            texts[name] = _clean_text(value)
        url = entry.get("url")
        if isinstance(url, str) and not url.strip():
            url = None
        if url is not None and (not isinstance(url, str) or not re.match(r"https?://\S+$", url.strip())):
            raise InvalidDocument(f'{where} (id "{source_id}") has a "url" that is not an http(s) address.')
        faqs.append(
            FaqEntry(
                source_id=source_id,
                question=_one_line(texts["question"]),
                answer=texts["answer"],
                url=url.strip() if url else None,
            )
        )
    if not faqs:
        raise InvalidDocument("The FAQ file has no entries.")
    return faqs


_CSV_REQUIRED = ("id", "question", "answer")


def _parse_faq_csv(text: str) -> list[FaqEntry]:
    header_line = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = _csv_delimiter(header_line)
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter)
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        missing = [name for name in _CSV_REQUIRED if name not in header]
        if missing:
            raise InvalidDocument(
                f"The CSV header must contain id, question and answer (and optionally url); missing: "
                f"{', '.join(missing)}. Found: {', '.join(header) or 'nothing'}."
            )
        rows: list[tuple[str, dict[str, Any]]] = []
        first_line = reader.line_num + 1
        for record in reader:
            # A quoted value can span lines; name the line the record starts on, as an editor shows it.
            where, first_line = f"CSV row on line {first_line}", reader.line_num + 1
            if not any(value.strip() for value in record):
                continue
            if len(record) > len(header):
                raise InvalidDocument(
                    f"{where} has {len(record)} fields but the header has {len(header)}; a value with a "
                    f'"{delimiter}" needs quotes.'
                )
            rows.append((where, dict(zip(header, record, strict=False))))
    except csv.Error as error:
        raise InvalidDocument(f"The CSV is malformed near line {reader.line_num}: {error}.") from None
    return _faq_entries(rows)


def _csv_delimiter(header_line: str) -> str:
    """The delimiter that makes the header hold the required columns (Excel in German locales writes ';')."""
    for delimiter in (",", ";", "\t", "|"):
        names = {name.strip().strip('"').lower() for name in header_line.split(delimiter)}
        if all(name in names for name in _CSV_REQUIRED):
            return delimiter
    return ","


# ----------------------------------------------------------------------------------------------------------
# Structured text (Markdown, HTML) → FAQ entries or sections


@dataclass
class _Item:
    """A question/answer pair marked up explicitly (HTML <details>/<dl>)."""

    question: str
    answer: str
    anchor: str | None = None


@dataclass
class _Block:
    """A heading and the content up to the next heading. Level 0 is the content before the first heading."""

    level: int
    heading: str
    anchor: str | None = None
    parts: list[str | _Item] = field(default_factory=list)

    def body(self) -> str:
        rendered = [p if isinstance(p, str) else f"{p.question}\n{p.answer}" for p in self.parts]
        return "\n\n".join(text for text in rendered if text)

    def prose(self) -> str:
        return "\n\n".join(part for part in self.parts if isinstance(part, str) and part)


def _is_question(text: str) -> bool:
    return text.rstrip().endswith(("?", "？"))


def _assemble(
    blocks: list[_Block], doc_title: str, kind: str | None, *, explicit_anchors: bool, url: str | None
) -> ParsedDocument:
    """Shared by Markdown and HTML, so both detect FAQs and build heading paths the same way."""
    blocks = [block for block in blocks if block.heading or block.parts]
    titles = _heading_paths(blocks, doc_title)
    question_blocks = {i for i, block in enumerate(blocks) if block.level and _is_question(block.heading)}
    items = [part for block in blocks for part in block.parts if isinstance(part, _Item)]
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
            if (body := _clean_text(block.body()))
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
            text = _clean_text("\n\n".join(answer))
            if text:
                pending.append((block.heading, text, block.anchor))
            i = j
            continue
        prose = _clean_text(block.prose())
        if prose:
            sections.append(Section(title=titles[i], text=prose, url=_with_anchor(url, block.anchor)))
        for item in (part for part in block.parts if isinstance(part, _Item)):
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


def _count_questions(
    blocks: list[_Block], question_blocks: set[int], title: _Block | None
) -> tuple[int, int]:
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


def _title_block(blocks: list[_Block]) -> _Block | None:
    """A single top-level heading that opens the document is the document's title."""
    top = [block for block in blocks if block.level == 1]
    first_heading = next((block for block in blocks if block.level), None)
    return top[0] if len(top) == 1 and top[0] is first_heading else None


def _heading_paths(blocks: list[_Block], doc_title: str) -> list[str]:
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


# ----------------------------------------------------------------------------------------------------------
# Markdown

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_ANCHOR = re.compile(r"\s*\{#([A-Za-z0-9_.:-]+)\}\s*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)


def _markdown_blocks(text: str) -> tuple[str | None, list[_Block]]:
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    doc_title = None
    front = _FRONT_MATTER.match(text)
    if front:
        title = re.search(r"^title:\s*[\"']?(.*?)[\"']?\s*$", front.group(1), re.MULTILINE)
        doc_title = title.group(1).strip() if title else None
        text = text[front.end() :]
    text = _without_comments(text)
    blocks = [_Block(level=0, heading="")]
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
            heading = _one_line(_markdown_inline(_ANCHOR.sub("", heading)))
            blocks.append(_Block(level=len(atx.group(1)), heading=heading, anchor=anchor))
            continue
        setext = re.match(r"^ {0,3}(=+|-+)[ \t]*$", line)
        if setext and len(paragraph) == 1 and not re.match(r"^\s*([-*+>]|\d+[.)])\s", paragraph[0]):
            heading_text = paragraph.pop()
            anchor_match = _ANCHOR.search(heading_text)
            blocks.append(
                _Block(
                    level=1 if setext.group(1)[0] == "=" else 2,
                    heading=_one_line(_markdown_inline(_ANCHOR.sub("", heading_text))),
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


# ----------------------------------------------------------------------------------------------------------
# HTML

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


def _html_blocks(text: str) -> tuple[str | None, list[_Block], str | None]:
    soup = BeautifulSoup(text, "html.parser")
    title_tag = soup.find("title")
    page_title = _PERMALINK.sub("", _one_line(title_tag.get_text(" "))) if title_tag else ""
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
        self.blocks = [_Block(level=0, heading="")]
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
        heading = _PERMALINK.sub("", _one_line(node.get_text(" ")))
        anchor = node.get("id")
        if not anchor:
            inner = node.find(True, attrs={"id": True}) or node.find("a", attrs={"name": True})
            anchor = (inner.get("id") or inner.get("name")) if isinstance(inner, Tag) else None
        if not heading:
            return
        level = _HEADINGS[node.name]
        self.blocks.append(_Block(level=level, heading=heading, anchor=str(anchor) if anchor else None))

    def _details(self, node: Tag) -> None:
        self._paragraph_break()
        summary = node.find("summary")
        assert isinstance(summary, Tag)
        question = _PERMALINK.sub("", _one_line(summary.get_text(" ")))
        answer = self._render_children(node, skip=summary)
        anchor = node.get("id") or summary.get("id")
        self.blocks[-1].parts.append(_Item(question, answer, str(anchor) if anchor else None))

    def _definition_list(self, node: Tag) -> None:
        self._paragraph_break()
        question: Tag | None = None
        answers: list[str] = []

        def emit() -> None:
            if question is not None:
                anchor = question.get("id")
                item = _Item(_one_line(question.get_text(" ")), "\n\n".join(answers))
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

    def finish(self) -> list[_Block]:
        self._paragraph_break()
        return self.blocks


# ----------------------------------------------------------------------------------------------------------
# PDF (in a child process)

_WORKER = Path(__file__).with_name("pdf_worker.py")
_PDF_FAILURES = {
    "encrypted": "The PDF is encrypted (password-protected). Remove the password and upload it again.",
    "memory": "The PDF needs more memory to read than allowed ({memory} MB); it may be a decompression bomb.",
    "limit": "The PDF exceeds a safety limit of the PDF reader ({detail}); it may be a decompression bomb.",
}


def _parse_pdf(data: bytes, stem: str, limits: ParseLimits) -> list[Section]:
    """pypdf is pure Python and hostile PDFs can make it allocate or loop without bound, so it runs in a
    separate interpreter with an address-space cap, a CPU-time cap and a wall-clock kill; the worst a file can
    do is kill that process."""
    cpu_s = max(1, math.ceil(limits.pdf_timeout_s))
    command = [
        sys.executable,
        "-I",  # no user site, no PYTHON* variables, no cwd on sys.path
        str(_WORKER),
        str(limits.pdf_max_pages),
        str(limits.max_text_chars),
        str(limits.pdf_max_memory_mb),
        str(cpu_s),
    ]
    try:
        completed = subprocess.run(
            command,
            input=data,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=limits.pdf_timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        # subprocess.run has already killed and reaped the child.
        raise InvalidDocument(
            f"Reading the PDF took longer than {limits.pdf_timeout_s:g} s and was stopped; the file may be "
            "malformed or built to exhaust the reader."
        ) from None
    if completed.returncode < 0 or not completed.stdout:
        if completed.returncode in (-24, -9):  # SIGXCPU / SIGKILL from RLIMIT_CPU
            raise InvalidDocument(
                f"Reading the PDF used more than {cpu_s} s of CPU time and was stopped; the file may be "
                "malformed or built to exhaust the reader."
            )
        raise InvalidDocument(
            f"The PDF reader crashed on this file (exit status {completed.returncode}); it may be corrupt."
        )
    try:
        result = json.loads(completed.stdout)
    except ValueError:
        raise InvalidDocument("The PDF reader returned no usable result; the file may be corrupt.") from None
    if not result.get("ok"):
        reason, detail = result.get("reason"), result.get("detail", "")
        if reason in _PDF_FAILURES:
            message = _PDF_FAILURES[reason].format(memory=limits.pdf_max_memory_mb, detail=detail)
            raise InvalidDocument(message)
        if reason in ("too_many_pages", "too_much_text"):
            raise InvalidDocument(f"{detail[0].upper()}{detail[1:]}. Split it into smaller files.")
        raise InvalidDocument(f"The PDF is broken and cannot be read ({detail}).")
    return _pdf_sections(result, stem)


def _pdf_sections(result: dict[str, Any], stem: str) -> list[Section]:
    title = _document_title(result.get("title"), stem)
    outlines: list[tuple[int, list[str]]] = [(int(page), path) for page, path in result.get("outlines", [])]
    sections = []
    for page, raw in result["pages"]:
        text = _clean_text(_join_pdf_hyphenation(raw))
        if not text:
            continue
        # The bookmark that starts on or before this page names it.
        path = next((path for start, path in reversed(outlines) if start <= page), None)
        page_title = TITLE_SEPARATOR.join([title, *path[-2:]]) if path else title
        sections.append(Section(title=page_title, text=text, page=int(page)))
    if not sections:
        raise InvalidDocument(
            "The PDF has no text that can be extracted (no text: is it a scan? Scanned pages need OCR first)."
        )
    return sections


def _document_title(metadata_title: str | None, stem: str) -> str:
    title = (metadata_title or "").strip()
    # Authoring tools often store junk like "Microsoft Word - draft2.docx" or "untitled".
    if (
        not title
        or len(title) > 150
        or title.lower() in ("untitled", "unbenannt", "document", "dokument")
        or re.search(r"\.(docx?|pdf|odt|pages|indd)$", title, re.IGNORECASE)
        or title.lower().startswith("microsoft ")
    ):
        return stem
    return title


def _join_pdf_hyphenation(text: str) -> str:
    # "Rück-\nerstattung" is a line-break hyphen; "E-\nMail" (capital after the hyphen) is a real one.
    return re.sub(r"(\w)-\n(?=[a-zäöüß])", r"\1", text)
