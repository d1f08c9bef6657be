"""FAQ lists as JSON (a list, or an object with "faqs") and CSV (id, question, answer and optionally url)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from typing import Any

from service.errors import InvalidDocument
from service.knowledge.parsers.document import FaqEntry
from service.knowledge.parsers.text import clean_text, one_line


def parse_faq_json(text: str) -> list[FaqEntry]:
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
            texts[name] = clean_text(value)
        url = entry.get("url")
        if isinstance(url, str) and not url.strip():
            url = None
        if url is not None and (not isinstance(url, str) or not re.match(r"https?://\S+$", url.strip())):
            raise InvalidDocument(f'{where} (id "{source_id}") has a "url" that is not an http(s) address.')
        faqs.append(
            FaqEntry(
                source_id=source_id,
                question=one_line(texts["question"]),
                answer=texts["answer"],
                url=url.strip() if url else None,
            )
        )
    if not faqs:
        raise InvalidDocument("The FAQ file has no entries.")
    return faqs


_CSV_REQUIRED = ("id", "question", "answer")


def parse_faq_csv(text: str) -> list[FaqEntry]:
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
