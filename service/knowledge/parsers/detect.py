"""Which parser reads an upload: magic bytes, then the file name, then the declared content type."""

from __future__ import annotations

import re
from pathlib import Path

from service.errors import InvalidDocument

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
ACCEPTED = "FAQ JSON, FAQ CSV, Markdown (.md), plain text (.txt), HTML or PDF"


def file_name(filename: str) -> str:
    # Browsers on Windows may send the full client path.
    return re.split(r"[\\/]", filename or "")[-1]


def file_stem(filename: str) -> str:
    """The file name without its extension: the title of a document that names none itself."""
    name = file_name(filename)
    stem = Path(name).stem if "." in name.strip(".") else name
    return stem.strip() or "Document"


def detect_format(filename: str, data: bytes, content_type: str | None) -> str:
    """One of FORMATS: magic bytes first, then the file extension, then the declared content type."""
    head = data[:1024]
    suffix = Path(file_name(filename)).suffix.lower()
    # Readers accept junk before the header; only a file named .pdf gets that leeway, so a text file that
    # merely mentions "%PDF-" is not taken for one.
    if head.lstrip().startswith(b"%PDF-") or (suffix == ".pdf" and b"%PDF-" in head):
        return "pdf"
    for magic, what in _REFUSED_MAGIC:
        if data.startswith(magic):
            raise InvalidDocument(f"The file is {what}, which is not accepted. Upload {ACCEPTED}.")
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
    raise InvalidDocument(f"Unknown file type ({shown}, content type {declared}). Upload {ACCEPTED}.")
