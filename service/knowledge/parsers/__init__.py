"""Turns an uploaded knowledge file (FAQ JSON/CSV, Markdown, text, HTML, PDF) into FAQ entries or sections:
detects the format, applies the limits and the requested kind, and hands the file to its format's parser."""

from __future__ import annotations

from service.errors import InvalidDocument
from service.knowledge.parsers.detect import detect_format, file_stem
from service.knowledge.parsers.document import (
    FORMATS,
    NO_TEXT,
    NOT_FAQ,
    TITLE_SEPARATOR,
    FaqEntry,
    ParsedDocument,
    ParseLimits,
    Section,
)
from service.knowledge.parsers.faq import parse_faq_csv, parse_faq_json
from service.knowledge.parsers.html import decode_html, parse_html
from service.knowledge.parsers.markdown import parse_markdown
from service.knowledge.parsers.pdf import parse_pdf
from service.knowledge.parsers.text import check_text, decode_utf8, parse_text

__all__ = [
    "FORMATS",
    "TITLE_SEPARATOR",
    "FaqEntry",
    "ParseLimits",
    "ParsedDocument",
    "Section",
    "detect_format",
    "parse_document",
]


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
        raise InvalidDocument(NO_TEXT)
    fmt = detect_format(filename, data, content_type)
    stem = file_stem(filename)
    if fmt in ("json", "csv"):
        if kind == "doc":
            raise InvalidDocument(f"{fmt.upper()} files are read as FAQ lists; they cannot be a doc.")
        text = check_text(decode_utf8(data), limits)
        faqs = parse_faq_json(text) if fmt == "json" else parse_faq_csv(text)
        return ParsedDocument(kind="faq", faqs=faqs, sections=[])
    if fmt == "pdf":
        if kind == "faq":
            raise InvalidDocument(NOT_FAQ.format(what="A PDF"))
        return ParsedDocument(kind="doc", sections=parse_pdf(data, stem, limits))
    if fmt == "text":
        if kind == "faq":
            raise InvalidDocument(NOT_FAQ.format(what="Plain text"))
        return parse_text(check_text(decode_utf8(data), limits), stem)
    if fmt == "markdown":
        return parse_markdown(check_text(decode_utf8(data), limits), stem, kind)
    return parse_html(check_text(decode_html(data, content_type), limits), stem, kind)


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:.1f}".removesuffix(".0")
