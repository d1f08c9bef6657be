"""Decoding uploads as text, cleaning text for indexing, and plain-text files as one section."""

from __future__ import annotations

import codecs
import re
import unicodedata

from service.errors import InvalidDocument
from service.knowledge.parsers.document import NO_TEXT, ParsedDocument, ParseLimits, Section


def parse_text(text: str, stem: str) -> ParsedDocument:
    """A plain-text file has no structure to read: one section, titled by the file name."""
    return ParsedDocument(kind="doc", sections=[Section(title=stem, text=clean_text(text))])


def check_text(text: str, limits: ParseLimits) -> str:
    if not clean_text(text):
        raise InvalidDocument(NO_TEXT)
    if len(text) > limits.max_text_chars:
        raise InvalidDocument(
            f"The file has {len(text):,} characters of text; the limit is {limits.max_text_chars:,}. "
            "Split it into smaller files."
        )
    return text


def decode_utf8(data: bytes) -> str:
    """Strict UTF-8 (BOM allowed). A wrong guess at another encoding would silently corrupt the knowledge the
    drafts quote, so the uploader is told where the file breaks instead."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Unambiguous by its BOM; Excel's "Unicode text" export produces this.
        return decode(data, "utf-16")
    return decode(data, "utf-8")


def decode(data: bytes, encoding: str) -> str:
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


_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    """NFC, no invisible/control characters, single spaces, at most one blank line between paragraphs."""
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text).replace("\t", " ").replace("\u00a0", " ")
    lines = [re.sub(r" {2,}", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def one_line(text: str) -> str:
    return " ".join(clean_text(text).split())
