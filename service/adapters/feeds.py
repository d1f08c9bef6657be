"""RSS and Atom feeds: the only module that knows feedparser. Parses bytes already fetched (the service
fetches through the webhook rules, adapters/webhooks.py), never a URL, so feedparser opens no
connection of its own."""

from __future__ import annotations

import calendar
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser
from bs4 import BeautifulSoup

MAX_TEXT = 20000
MAX_ID = 200
MAX_HANDLE = 100


@dataclass(frozen=True)
class FeedEntry:
    external_id: str  # the entry's id (guid), or its link; hashed when longer than a post's external id
    text: str  # title and body as plain text
    author_handle: str
    author_name: str | None
    url: str | None
    published: datetime | None


class InvalidFeed(ValueError):
    """The document is neither RSS nor Atom (or too broken to read any entry from)."""


_SPACE_BEFORE_PUNCTUATION = re.compile(r" ([.,;:!?)])")


def _plain(html: str) -> str:
    """Text without markup; tags become spaces (so paragraphs do not run together), except before
    punctuation ("<b>late</b>." is "late.")."""
    text = " ".join(BeautifulSoup(html, "html.parser").get_text(" ").split())
    return _SPACE_BEFORE_PUNCTUATION.sub(r"\1", text)


def _when(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    return datetime.fromtimestamp(calendar.timegm(parsed), UTC)


def _external_id(entry: Any) -> str | None:
    raw = entry.get("id") or entry.get("link")
    if not raw:
        return None
    raw = str(raw).strip()
    return raw if len(raw) <= MAX_ID else "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def _text(entry: Any) -> str:
    title = _plain(entry.get("title") or "")
    contents = entry.get("content") or []
    body = _plain(contents[0].get("value", "") if contents else entry.get("summary") or "")
    if body.startswith(title):
        title = ""
    return "\n\n".join(part for part in (title, body) if part)[:MAX_TEXT]


def parse(content: bytes, *, base_url: str, headers: dict[str, str] | None = None) -> list[FeedEntry]:
    """The feed's entries, in document order. Entries without an id or link, or without text, are left
    out (they cannot become a post once). Raises InvalidFeed for a document that is no feed."""
    parsed = feedparser.parse(content, response_headers={"content-location": base_url, **(headers or {})})
    if parsed.get("bozo") and not parsed.get("entries") and not parsed.get("version"):
        raise InvalidFeed(f"not an RSS or Atom feed: {parsed.get('bozo_exception')}")
    entries: list[FeedEntry] = []
    for entry in parsed.get("entries", []):
        external_id, text = _external_id(entry), _text(entry)
        if not external_id or not text:
            continue
        detail = entry.get("author_detail") or {}
        name = (detail.get("name") or entry.get("author") or "").strip() or None
        handle = (name or detail.get("email") or "feed").strip()[:MAX_HANDLE]
        entries.append(
            FeedEntry(
                external_id=external_id,
                text=text,
                author_handle=handle,
                author_name=name[:200] if name else None,
                url=(entry.get("link") or None),
                published=_when(entry),
            )
        )
    return entries
