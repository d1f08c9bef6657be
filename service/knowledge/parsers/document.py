"""What every parser returns (FAQ entries, sections, the parsed document), the limits and shared messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

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


# Parsers raise service.errors.InvalidDocument with messages meant for the uploader; these are shared.
NO_TEXT = "The file has no text (it is empty or only whitespace)."
NOT_FAQ = (
    "{what} cannot be read as an FAQ. Upload FAQs as JSON, CSV, or Markdown/HTML whose headings are the "
    "questions, or upload this file as a doc."
)
