"""PDF files, read by pypdf in a child process (pdf_worker.py) under memory, CPU and wall-clock limits; one
section per page, titled by the bookmark that starts on or before it."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from service.errors import InvalidDocument
from service.knowledge.parsers.document import TITLE_SEPARATOR, ParseLimits, Section
from service.knowledge.parsers.text import clean_text

_WORKER = Path(__file__).parent.parent / "pdf_worker.py"
_PDF_FAILURES = {
    "encrypted": "The PDF is encrypted (password-protected). Remove the password and upload it again.",
    "memory": "The PDF needs more memory to read than allowed ({memory} MB); it may be a decompression bomb.",
    "limit": "The PDF exceeds a safety limit of the PDF reader ({detail}); it may be a decompression bomb.",
}


def parse_pdf(data: bytes, stem: str, limits: ParseLimits) -> list[Section]:
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
        text = clean_text(_join_pdf_hyphenation(raw))
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
