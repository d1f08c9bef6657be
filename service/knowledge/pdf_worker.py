"""Child process that reads one PDF under hard resource limits, so a hostile file can only kill itself."""

# Protocol: the parent runs `python -I pdf_worker.py MAX_PAGES MAX_CHARS MEMORY_MB CPU_S`, writes the PDF to
# stdin and reads one JSON object from stdout:
#   {"ok": true, "title": str | null, "outlines": [[page, [title, ...]], ...], "pages": [[page, text], ...]}
#   {"ok": false, "reason": "encrypted" | "too_many_pages" | "too_much_text" | "memory" | "limit" | "broken",
#    "detail": str}
# Only the standard library and pypdf are imported: the worker runs by file path with `-I`, so it does not
# depend on how the service package is installed, and the parent's environment cannot inject modules.

from __future__ import annotations

import io
import json
import logging
import os
import sys
import warnings
from typing import Any

# Prepared before any work so that reporting an out-of-memory error does not itself need memory.
_MEMORY_FAILURE = b'{"ok": false, "reason": "memory", "detail": "memory limit reached"}'
_OUTLINE_MAX_ITEMS = 2_000
_OUTLINE_MAX_DEPTH = 6


def _apply_limits(memory_mb: int, cpu_s: int) -> None:
    import resource

    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # The soft limit sends SIGXCPU (which kills); the hard limit one second later is SIGKILL.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # The worker has no reason to write files; stdout is a pipe and is not affected.
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def _failure(reason: str, detail: str) -> dict[str, Any]:
    return {"ok": False, "reason": reason, "detail": detail}


def _outlines(reader: Any) -> list[list[Any]]:
    """Bookmarks as (1-based page, title path); a broken outline is ignored, it only improves titles."""
    found: list[list[Any]] = []

    def walk(items: list[Any], parent: list[str], depth: int) -> None:
        last = parent
        for item in items:
            if len(found) >= _OUTLINE_MAX_ITEMS:
                return
            if isinstance(item, list):
                if depth < _OUTLINE_MAX_DEPTH:
                    walk(item, last, depth + 1)
                continue
            title = " ".join(str(getattr(item, "title", "") or "").split())
            if not title:
                continue
            page = reader.get_destination_page_number(item)
            last = [*parent, title[:200]]
            if page is not None and page >= 0:
                found.append([page + 1, last])

    try:
        walk(list(reader.outline), [], 0)
    except Exception:
        return []
    return sorted(found, key=lambda entry: entry[0])


def _title(reader: Any) -> str | None:
    try:
        metadata = reader.metadata
        title = str(metadata.title) if metadata is not None and metadata.title else ""
    except Exception:
        return None
    title = " ".join(title.split())
    return title or None


def extract(data: bytes, max_pages: int, max_chars: int) -> dict[str, Any]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        # A PDF with only an owner password (copy/print restrictions) opens without a prompt in every
        # viewer; the empty user password decrypts it. Anything else needs a password we do not have.
        try:
            decrypted = bool(reader.decrypt(""))
        except (DependencyError, FileNotDecryptedError, NotImplementedError):
            # pypdf raises NotImplementedError for encryption algorithms it cannot handle: still "encrypted".
            decrypted = False
        if not decrypted:
            return _failure("encrypted", "the PDF is encrypted (password-protected)")
    # For an untouched page tree pypdf reads /Count here without walking it, so a forged huge count is
    # refused before any page is touched.
    page_count = len(reader.pages)
    if page_count > max_pages:
        return _failure("too_many_pages", f"the PDF has {page_count} pages; at most {max_pages} are accepted")
    pages: list[list[Any]] = []
    total = 0
    for index in range(page_count):
        text = reader.pages[index].extract_text() or ""
        total += len(text)
        if total > max_chars:
            return _failure(
                "too_much_text", f"the PDF has more than {max_chars:,} characters of text (limit reached)"
            )
        pages.append([index + 1, text])
    return {"ok": True, "title": _title(reader), "outlines": _outlines(reader), "pages": pages}


def main(argv: list[str]) -> int:
    max_pages, max_chars, memory_mb, cpu_s = (int(value) for value in argv[1:5])
    _apply_limits(memory_mb, cpu_s)
    # pypdf logs a warning per malformed object; a hostile file could flood the parent's pipe with them.
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    out = os.fdopen(os.dup(1), "wb")
    sys.stdout = sys.stderr  # anything the library prints must not corrupt the JSON answer
    try:
        data = sys.stdin.buffer.read()
        result = extract(data, max_pages, max_chars)
        answer = json.dumps(result, ensure_ascii=False).encode("utf-8")
    except MemoryError:
        answer = _MEMORY_FAILURE
    except RecursionError:
        answer = json.dumps(_failure("broken", "the PDF structure is nested too deeply")).encode()
    except Exception as error:
        answer = _describe(error)
    out.write(answer)
    out.flush()
    return 0


def _describe(error: Exception) -> bytes:
    """Failure answer for a parser exception; pypdf's own safety limits get their own reason."""
    detail = f"{type(error).__name__}: {error}"[:300]
    reason = "limit" if type(error).__name__ == "LimitReachedError" else "broken"
    return json.dumps(_failure(reason, detail), ensure_ascii=False).encode("utf-8")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
