"""Knowledge file parsing against real files built by the tests: PDF, HTML, Markdown, text, CSV, JSON."""

from __future__ import annotations

import io
import json
import resource
import time
import zipfile
import zlib

import pytest
from fpdf import FPDF

from service.errors import InvalidDocument
from service.knowledge.parsers import (
    FaqEntry,
    ParsedDocument,
    ParseLimits,
    Section,
    detect_format,
    parse_document,
)

# ----------------------------------------------------------------------------------------------------------
# Helpers that build real files


def make_pdf(pages: list[str], *, title: str | None = None, user_password: str | None = None) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    if title:
        pdf.set_title(title)
    if user_password is not None:
        pdf.set_encryption(owner_password="owner-secret", user_password=user_password)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 8, text)
        else:
            pdf.rect(20, 20, 100, 100)  # a page with drawing only, like a scan without OCR
    return bytes(pdf.output())


def raw_pdf(content: bytes, *, flate: bool = True) -> bytes:
    """A minimal one-page PDF written by hand, for content fpdf2 would never produce."""
    filters = b"/Filter /FlateDecode " if flate else b""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d %s>>\nstream\n" % (len(content), filters) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def flate_bomb(megabytes: int) -> bytes:
    """A zlib stream that inflates to `megabytes` MiB of spaces at about 1000:1, built without compressing
    all of it: one fully flushed deflate block repeated, then an empty final block and the right checksum."""
    block = b" " * (1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(megabytes):
        adler = zlib.adler32(block, adler)
    return b"\x78\xda" + piece * megabytes + b"\x01\x00\x00\xff\xff" + adler.to_bytes(4, "big")


def parse_text(filename: str, text: str, **kwargs: object) -> ParsedDocument:
    return parse_document(filename, text.encode("utf-8"), **kwargs)  # type: ignore[arg-type]


def rejected(filename: str, data: bytes, **kwargs: object) -> str:
    with pytest.raises(InvalidDocument) as caught:
        parse_document(filename, data, **kwargs)  # type: ignore[arg-type]
    return caught.value.detail


# ----------------------------------------------------------------------------------------------------------
# Format detection


def test_detect_format_magic_beats_extension_then_extension_then_content_type() -> None:
    pdf = make_pdf(["hello"])
    assert detect_format("notes.txt", pdf, "text/plain") == "pdf"
    assert detect_format("faq.JSON", b"[]", None) == "json"
    assert detect_format("C:\\Users\\me\\help.md", b"# x", None) == "markdown"
    assert detect_format("upload", b"a,b", "text/csv; charset=utf-8") == "csv"
    assert detect_format("page", b"<!DOCTYPE html><html></html>", None) == "html"
    assert detect_format("about-pdfs.md", b"# PDF\n\nA PDF starts with %PDF-1.7.", None) == "markdown"
    with pytest.raises(InvalidDocument, match="Unknown file type"):
        detect_format("data.bin", b"\x01\x02", "application/octet-stream")
    with pytest.raises(InvalidDocument, match="not a PDF"):
        detect_format("fake.pdf", b"just text", None)


def test_zip_renamed_to_pdf_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    detail = rejected("handbook.pdf", buffer.getvalue())
    assert "ZIP archive" in detail and "not accepted" in detail


# ----------------------------------------------------------------------------------------------------------
# PDF


def test_pdf_pages_keep_their_numbers_and_blank_pages_are_skipped() -> None:
    data = make_pdf(
        ["Refunds take five days.", "", "Shipping is free above 50 EUR.\nDie Rück-\nerstattung kommt."],
        title="Returns policy",
    )
    doc = parse_document("returns.pdf", data)
    assert doc.kind == "doc" and doc.faqs == []
    assert [section.page for section in doc.sections] == [1, 3]
    assert all(section.title == "Returns policy" for section in doc.sections)
    assert doc.sections[0].text == "Refunds take five days."
    assert "Shipping is free above 50 EUR." in doc.sections[1].text
    assert "Rückerstattung" in doc.sections[1].text  # line-break hyphen joined


def test_pdf_title_falls_back_to_file_name_and_bookmarks_name_the_pages() -> None:
    doc = parse_document(
        "uploads/shipping-guide.pdf", make_pdf(["Some text"], title="Microsoft Word - a.docx")
    )
    assert doc.sections == [Section(title="shipping-guide", text="Some text", page=1)]
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for level, name in [(0, "Returns"), (1, "Refunds"), (0, "Shipping")]:
        pdf.add_page()
        pdf.start_section(name, level=level)
        pdf.multi_cell(0, 8, f"About {name}.")
    titles = [(s.page, s.title) for s in parse_document("Guide.pdf", bytes(pdf.output())).sections]
    assert titles == [(1, "Guide › Returns"), (2, "Guide › Returns › Refunds"), (3, "Guide › Shipping")]


def test_encrypted_pdf_is_refused() -> None:
    detail = rejected("secret.pdf", make_pdf(["Top secret"], user_password="letmein"))
    assert "encrypted" in detail


def test_pdf_with_only_an_owner_password_opens_like_in_any_viewer() -> None:
    doc = parse_document("restricted.pdf", make_pdf(["Readable text"], user_password=""))
    assert doc.sections[0].text == "Readable text"


def test_pdf_without_text_is_refused_as_no_text() -> None:
    assert "no text" in rejected("scan.pdf", make_pdf(["", ""]))


def test_broken_pdf_is_refused_with_a_reason() -> None:
    detail = rejected("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >> garbage")
    assert detail.startswith("The PDF")
    truncated = make_pdf(["Some text that will be cut off"])[:200]
    assert rejected("cut.pdf", truncated).startswith("The PDF")


def test_pdf_page_cap() -> None:
    data = make_pdf([f"Page {n}" for n in range(1, 13)])
    detail = rejected("long.pdf", data, limits=ParseLimits(pdf_max_pages=10))
    assert "12 pages" in detail and "at most 10" in detail
    assert len(parse_document("long.pdf", data, limits=ParseLimits(pdf_max_pages=12)).sections) == 12


def _parent_peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_decompression_bomb_is_stopped_in_the_child_and_the_parent_is_unharmed() -> None:
    # 1 GiB of content in a 1 MiB file: pypdf's own inflate limit or the child's address-space cap stops it.
    bomb = raw_pdf(flate_bomb(1024))
    assert len(bomb) < 2 * 1024 * 1024
    peak_before = _parent_peak_rss_mib()
    started = time.monotonic()
    detail = rejected("bomb.pdf", bomb, limits=ParseLimits(pdf_max_memory_mb=256, pdf_timeout_s=10))
    assert time.monotonic() - started < 10
    assert "decompression bomb" in detail
    assert _parent_peak_rss_mib() - peak_before < 100  # the 1 GiB never reached this process
    # The parent still parses the next file normally.
    assert parse_document("ok.pdf", make_pdf(["Still working"])).sections[0].text == "Still working"


def test_memory_cap_in_the_child_is_what_stops_a_bomb_below_pypdf_limits() -> None:
    # 70 MiB inflated is under pypdf's own 75 MB limit, so here RLIMIT_AS must be the thing that triggers.
    bomb = raw_pdf(flate_bomb(70))
    detail = rejected("bomb.pdf", bomb, limits=ParseLimits(pdf_max_memory_mb=96))
    assert "more memory" in detail and "96 MB" in detail


def test_cpu_bomb_is_killed_within_the_time_limit() -> None:
    # 2 million text operators compress to ~50 KB and take pypdf far longer than a second to interpret.
    content = b"BT /F1 12 Tf 72 712 Td " + b"(a) Tj 1 0 Td " * 2_000_000 + b"ET"
    bomb = raw_pdf(zlib.compress(content, 9))
    assert len(bomb) < 100_000
    started = time.monotonic()
    detail = rejected("slow.pdf", bomb, limits=ParseLimits(pdf_timeout_s=1))
    elapsed = time.monotonic() - started
    assert elapsed < 4, elapsed
    assert "was stopped" in detail


def test_pdf_text_limit() -> None:
    detail = rejected("long.pdf", make_pdf(["x " * 400]), limits=ParseLimits(max_text_chars=300))
    assert "characters of text" in detail


# ----------------------------------------------------------------------------------------------------------
# HTML

HTML_PAGE = """<!DOCTYPE html>
<html lang="de"><head>
  <meta charset="utf-8"><title>Versand | Acme Hilfe</title>
  <link rel="canonical" href="https://help.acme.test/versand">
  <style>.x { color: red }</style>
  <script>var tracking = "SCRIPT-SECRET";</script>
</head><body>
  <header><a href="/">Acme Logo HEADER-TEXT</a></header>
  <nav><ul><li>Home NAV-TEXT</li><li>Login</li></ul></nav>
  <main>
    <h1>Versand</h1>
    <p>Wir liefern in ganz Europa.</p>
    <h2 id="kosten">Kosten</h2>
    <p>Ab 50&nbsp;EUR ist der Versand <b>kostenlos</b>.<br>Darunter 4,90 EUR.</p>
    <ul><li>DHL</li><li>DPD</li></ul>
    <table><tr><th>Land</th><th>Preis</th></tr><tr><td>AT</td><td>5 EUR</td></tr></table>
    <h3>Express</h3>
    <p>Express kostet 9,90 EUR.</p>
    <div hidden>HIDDEN-TEXT</div>
    <form><label>Newsletter FORM-TEXT</label><input name="e"></form>
    <script>document.write("INLINE-SCRIPT")</script>
  </main>
  <aside>Related ASIDE-TEXT</aside>
  <footer>© Acme FOOTER-TEXT</footer>
</body></html>"""


def test_html_keeps_main_content_only_and_builds_heading_paths() -> None:
    doc = parse_text("versand.html", HTML_PAGE)
    assert doc.kind == "doc"
    everything = " ".join(f"{s.title} {s.text}" for s in doc.sections)
    for leaked in (
        "SCRIPT",
        "NAV-TEXT",
        "HEADER-TEXT",
        "FOOTER-TEXT",
        "ASIDE-TEXT",
        "FORM-TEXT",
        "HIDDEN",
        "color",
    ):
        assert leaked not in everything
    assert [(s.title, s.text) for s in doc.sections] == [
        ("Versand", "Wir liefern in ganz Europa."),
        (
            "Kosten",
            "Ab 50 EUR ist der Versand kostenlos.\nDarunter 4,90 EUR.\n\n- DHL\n- DPD\n\n"
            "Land Preis\nAT 5 EUR",
        ),
        ("Kosten › Express", "Express kostet 9,90 EUR."),
    ]
    assert doc.sections[1].url == "https://help.acme.test/versand#kosten"


def test_html_declared_charset_is_honoured() -> None:
    page = '<html><head><meta charset="windows-1252"></head><body><p>Grüße aus Köln</p></body></html>'
    doc = parse_document("gruss.htm", page.encode("cp1252"))
    assert doc.sections[0].text == "Grüße aus Köln"
    undeclared = rejected("gruss.html", b"<html><body><p>Gr\xfc\xdfe</p></body></html>")
    assert "byte 0xFC at offset 17" in undeclared


def test_html_faq_from_details_and_definition_lists() -> None:
    page = """<html><head><title>FAQ</title></head><body><main>
      <p>Antworten auf häufige Fragen.</p>
      <details id="lieferzeit"><summary>Wie lange dauert die Lieferung?</summary>
        <p>2 bis 3 Werktage.</p></details>
      <details><summary>Kann ich zurückgeben?</summary><p>Ja, 30 Tage lang.</p></details>
      <dl><dt>Wo ist meine Bestellung?</dt><dd>Im Kundenkonto unter Bestellungen.</dd></dl>
    </main></body></html>"""
    doc = parse_text("faq.html", page)
    assert doc.kind == "faq"
    assert [(f.source_id, f.question, f.answer) for f in doc.faqs] == [
        ("lieferzeit", "Wie lange dauert die Lieferung?", "2 bis 3 Werktage."),
        ("kann-ich-zurueckgeben", "Kann ich zurückgeben?", "Ja, 30 Tage lang."),
        ("wo-ist-meine-bestellung", "Wo ist meine Bestellung?", "Im Kundenkonto unter Bestellungen."),
    ]
    assert doc.sections == [Section(title="FAQ", text="Antworten auf häufige Fragen.")]
    # As a doc the same page keeps the questions as text.
    as_doc = parse_text("faq.html", page, kind="doc")
    assert "Kann ich zurückgeben?\nJa, 30 Tage lang." in as_doc.sections[0].text


def test_deeply_nested_html_does_not_crash() -> None:
    page = "<html><body>" + "<div>" * 20_000 + "<p>Deep text.</p>" + "</div>" * 20_000 + "</body></html>"
    assert parse_text("deep.html", page).sections[0].text == "Deep text."


# ----------------------------------------------------------------------------------------------------------
# Markdown

MARKDOWN_DOC = """---
title: Acme Handbook
---
# Acme Handbook

Intro text with a [link](https://acme.test/help) and **bold** words.

## Billing

General billing info.

### Refunds

Refunds take *five* days.

```
code stays: a  b
```

## Shipping
Ships in 2 days.

Setext heading
--------------

Under setext.
"""


def test_markdown_headings_become_section_paths() -> None:
    doc = parse_text("handbook.md", MARKDOWN_DOC)
    assert doc.kind == "doc"
    assert [(s.title, s.text) for s in doc.sections] == [
        ("Acme Handbook", "Intro text with a link (https://acme.test/help) and bold words."),
        ("Billing", "General billing info."),
        ("Billing › Refunds", "Refunds take five days.\n\ncode stays: a b"),
        ("Shipping", "Ships in 2 days."),
        ("Setext heading", "Under setext."),
    ]


MARKDOWN_FAQ = """# Häufige Fragen

Willkommen im Hilfe-Center.

## Wie lange dauert die Rückerstattung?

Etwa 5 Werktage.

### Schritt 1

Antrag stellen.

## Can I change my address? {#address-change}

Yes, in your account.

## Kontakt

Schreiben Sie uns.

## Was kostet der Versand?

Ab 50 EUR nichts.
"""


def test_markdown_question_headings_become_faq_entries() -> None:
    doc = parse_text("faq.md", MARKDOWN_FAQ)
    assert doc.kind == "faq"
    assert doc.faqs == [
        FaqEntry(
            "wie-lange-dauert-die-rueckerstattung",
            "Wie lange dauert die Rückerstattung?",
            "Etwa 5 Werktage.\n\nSchritt 1\nAntrag stellen.",
            None,
        ),
        FaqEntry("address-change", "Can I change my address?", "Yes, in your account.", None),
        FaqEntry("was-kostet-der-versand", "Was kostet der Versand?", "Ab 50 EUR nichts.", None),
    ]
    # Prose outside the questions is kept as sections, not lost.
    assert [s.title for s in doc.sections] == ["Häufige Fragen", "Kontakt"]


def test_markdown_kind_forcing() -> None:
    assert parse_text("faq.md", MARKDOWN_FAQ, kind="doc").kind == "doc"
    detail = rejected("handbook.md", MARKDOWN_DOC.encode(), kind="faq")
    assert "No FAQ entries found" in detail
    one_question = "# Guide\n\nText.\n\n## Why us?\n\nBecause.\n\n## Pricing\n\nCheap.\n"
    assert parse_text("guide.md", one_question).kind == "doc"  # one question heading is not an FAQ
    forced = parse_text("guide.md", one_question, kind="faq")
    assert [f.source_id for f in forced.faqs] == ["why-us"]


def test_markdown_duplicate_questions_get_distinct_ids_but_duplicate_anchors_are_refused() -> None:
    text = "## Wie?\n\nSo.\n\n## Wie?\n\nAnders.\n"
    assert [f.source_id for f in parse_text("faq.md", text).faqs] == ["wie", "wie-2"]
    detail = rejected("faq.md", b"## A? {#x}\n\nOne.\n\n## B? {#x}\n\nTwo.\n")
    assert "{#x}" in detail and "twice" in detail


def sections(text: str) -> list[tuple[str, str]]:
    return [(s.title, s.text) for s in parse_text("guide.md", text).sections]


def test_markdown_hash_inside_fenced_code_is_code_not_a_heading() -> None:
    text = (
        "# Setup\n\nRun:\n\n```sh\n# install first\npip install acme\n```\n\n"
        "- then\n\n  ~~~\n  ## not a heading either\n  ~~~\n\n## Next\n\nDone.\n"
    )
    assert sections(text) == [
        ("Setup", "Run:\n\n# install first\npip install acme\n\n- then\n## not a heading either"),
        ("Next", "Done."),
    ]


def test_markdown_setext_headings_make_sections_and_faq_entries() -> None:
    assert sections("Billing\n=======\n\nPay monthly.\n\nRefunds\n-------\n\nFive days.\n") == [
        ("Billing", "Pay monthly."),
        ("Refunds", "Five days."),
    ]
    faq = "Hilfe\n=====\n\nWie kündige ich?\n---\n\nIm Konto.\n\nWas kostet es? {#kosten}\n---\n\nNichts.\n"
    doc = parse_text("faq.md", faq)
    assert doc.kind == "faq"
    assert [(f.source_id, f.question, f.answer) for f in doc.faqs] == [
        ("wie-kuendige-ich", "Wie kündige ich?", "Im Konto."),
        ("kosten", "Was kostet es?", "Nichts."),
    ]


def test_markdown_lists_keep_one_item_a_line_with_their_numbers() -> None:
    text = "# Steps\n\n* one\n* two\n  + nested\n\n3. three\n1. four\n\n- loose\n\n  second paragraph\n"
    assert sections(text) == [
        ("Steps", "- one\n- two\n- nested\n\n3. three\n4. four\n\n- loose\nsecond paragraph")
    ]


def test_markdown_links_are_their_text_and_absolute_targets_stay_for_citing() -> None:
    text = (
        "# Links\n\nSee [help](https://acme.test/hilfe?a=1&b=ü), [the form](/kontakt), "
        "[mail us](mailto:care@acme.test), <https://acme.test/status>, [terms][t] and "
        "![Acme logo](logo.png).\n\n"
        "[t]: https://acme.test/agb\n"
    )
    assert sections(text) == [
        (
            "Links",
            "See help (https://acme.test/hilfe?a=1&b=ü), the form, mail us, https://acme.test/status, "
            "terms (https://acme.test/agb) and Acme logo.",
        )
    ]


def test_markdown_html_blocks_are_dropped_and_inline_tags_removed() -> None:
    text = (
        '# Page\n\n<div class="banner">\n<img src="promo.png"> PROMO-BANNER\n</div>\n\n'
        "Text with <b>inline</b> tags.\n\n<!-- draft\n\nHIDDEN-NOTE -->\n\nAfter, 5 \\* 3 &amp; more.\n"
    )
    assert sections(text) == [("Page", "Text with inline tags.\n\nAfter, 5 * 3 & more.")]


def test_markdown_tables_become_rows_of_cells() -> None:
    text = "# Prices\n\n| Plan | Price |\n|:-----|------:|\n| Basic | 5 € |\n| *Pro* | `12` € |\n\nMonthly.\n"
    assert sections(text) == [("Prices", "Plan | Price\nBasic | 5 €\nPro | 12 €\n\nMonthly.")]


def test_markdown_heading_inside_a_quote_is_text_not_a_section() -> None:
    text = "# Notes\n\n> ## Tip\n> Restart first.\n\n## Contact\n\nWrite to us.\n"
    assert sections(text) == [("Notes", "Tip\nRestart first."), ("Contact", "Write to us.")]


# ----------------------------------------------------------------------------------------------------------
# Plain text


def test_plain_text_is_one_section_titled_by_file_name() -> None:
    text = "\ufeffFirst paragraph\r\nstill first.\r\n\r\n\r\n\r\nSecond   paragraph.\t\r\n"
    doc = parse_document("Opening hours.txt", text.encode("utf-8"))
    assert doc == ParsedDocument(
        kind="doc",
        faqs=[],
        sections=[Section(title="Opening hours", text="First paragraph\nstill first.\n\nSecond paragraph.")],
    )
    assert "cannot be read as an FAQ" in rejected("notes.txt", b"hello", kind="faq")


# ----------------------------------------------------------------------------------------------------------
# FAQ JSON and CSV


def test_faq_json_list_and_object_shapes() -> None:
    entries = [
        {"id": "refund-time", "question": "How long do refunds take?", "answer": "5 days.", "url": None},
        {"id": 42, "question": "Do you ship to Austria?", "answer": "Yes.", "url": "https://acme.test/ship"},
    ]
    as_list = parse_text("faq.json", json.dumps(entries))
    as_object = parse_text("faq.json", json.dumps({"brand": "acme", "language": "en", "faqs": entries}))
    expected = [
        FaqEntry("refund-time", "How long do refunds take?", "5 days.", None),
        FaqEntry("42", "Do you ship to Austria?", "Yes.", "https://acme.test/ship"),
    ]
    assert as_list == as_object == ParsedDocument(kind="faq", faqs=expected, sections=[])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            [{"id": "a", "question": "Q?", "answer": "A"}, {"id": "b", "answer": "A"}],
            'index 1 (id "b") has no "question"',
        ),
        ([{"id": "a", "question": "Q?", "answer": " "}], 'no "answer"'),
        ([{"question": "Q?", "answer": "A"}], 'index 0 needs an "id"'),
        ([{"id": True, "question": "Q?", "answer": "A"}], 'index 0 needs an "id"'),
        (
            [{"id": 1, "question": "Q?", "answer": "A"}, {"id": "1", "question": "Q?", "answer": "B"}],
            "repeats the id",
        ),
        ([{"id": 1, "question": "Q?", "answer": "A", "url": "javascript:x"}], "not an http(s) address"),
        ({"items": []}, '"faqs" list'),
        ([], "no entries"),
        ([1, 2], "index 0 is not an object"),
    ],
)
def test_faq_json_errors_name_the_entry(payload: object, message: str) -> None:
    assert message in rejected("faq.json", json.dumps(payload).encode())


def test_malformed_json_says_where() -> None:
    assert "line 2, column" in rejected("faq.json", b'[\n{"id": 1,, }]')


def test_faq_csv_with_bom_semicolons_quoting_and_crlf() -> None:
    csv_text = (
        "\ufeffid;question;answer;url\r\n"
        '1;"Kann ich; bitte, stornieren?";"Ja.\r\nInnerhalb von ""14"" Tagen.";https://acme.test/storno\r\n'
        "\r\n"
        "abc;Wo ist mein Paket?;Im Konto.;\r\n"
    )
    doc = parse_text("faq.csv", csv_text)
    assert doc.faqs == [
        FaqEntry(
            "1", "Kann ich; bitte, stornieren?", 'Ja.\nInnerhalb von "14" Tagen.', "https://acme.test/storno"
        ),
        FaqEntry("abc", "Wo ist mein Paket?", "Im Konto.", None),
    ]
    comma = parse_text("faq.csv", 'ID,Question,Answer\n7,"Hello, there?",Hi\n')
    assert comma.faqs == [FaqEntry("7", "Hello, there?", "Hi", None)]


def test_faq_csv_errors() -> None:
    assert "missing: answer" in rejected("faq.csv", b"id,question\n1,Q\n")
    multiline = b'id,question,answer\n1,Q,"A\nstill A"\n2,Q,\n'
    assert 'CSV row on line 4 (id "2") has no "answer"' in rejected("faq.csv", multiline)
    assert "line 2 has 4 fields" in rejected("faq.csv", b"id,question,answer\n1,Q,A, or B\n")
    assert "cannot be a doc" in rejected("faq.csv", b"id,question,answer\n1,Q,A\n", kind="doc")


# ----------------------------------------------------------------------------------------------------------
# Encoding, emptiness and size


def test_invalid_utf8_names_the_byte_offset() -> None:
    data = "Zeile eins\nGrüße".encode() + b"\xe4 kaputt"
    detail = rejected("notes.txt", data)
    assert "not valid UTF-8" in detail and "0xE4 at offset 18 (line 2)" in detail
    # With a BOM the offset still counts from the start of the file.
    assert "offset 5" in rejected("notes.md", b"\xef\xbb\xbfab\xffcd")


def test_utf16_with_bom_is_read() -> None:
    doc = parse_document("notes.txt", "Grüße\n".encode("utf-16"))
    assert doc.sections[0].text == "Grüße"


@pytest.mark.parametrize("data", [b"", b"  \n\t\r\n ", "\ufeff \u200b\n".encode()])
@pytest.mark.parametrize("filename", ["empty.txt", "empty.json", "empty.csv", "empty.md", "empty.html"])
def test_empty_or_whitespace_file_has_no_text(filename: str, data: bytes) -> None:
    assert "no text" in rejected(filename, data)


def test_markdown_with_only_headings_has_no_text() -> None:
    assert "no text" in rejected("empty.md", b"# Title\n\n## Sub\n")


def test_50_mb_file_is_refused_fast_before_parsing() -> None:
    data = b"a" * (50 * 1024 * 1024)
    started = time.monotonic()
    detail = rejected("huge.txt", data)
    assert time.monotonic() - started < 0.5
    assert "50 MiB" in detail and "limit is 25 MiB" in detail


def test_text_length_limit() -> None:
    assert "limit is 100" in rejected("long.md", b"word " * 100, limits=ParseLimits(max_text_chars=100))


def test_unknown_kind_is_refused() -> None:
    assert "Unknown document kind" in rejected("a.txt", b"x", kind="manual")


def test_hostile_markdown_is_parsed_in_linear_time() -> None:
    # Unclosed emphasis, links, tags and comments: naive lazy regexes rescan to the end for every marker.
    # markdown-it-py is linear but pure Python: ~2 µs of CPU per character of text this dense in markup
    # (prose: ~0.7 µs), so the bound is on growth, in CPU time because the suite shares its cores: four
    # times the input may cost at most eight times as much (quadratic would be sixteen).
    unit = b"**a [b <c __d `e <!-- f "

    def cpu_seconds(repeats: int) -> tuple[float, ParsedDocument]:
        started = time.process_time()
        doc = parse_document("hostile.md", unit * repeats)
        return time.process_time() - started, doc

    small, _ = cpu_seconds(5_000)  # 120 kB
    large, doc = cpu_seconds(20_000)  # 480 kB
    assert large < 8 * max(small, 0.05) and large < 10
    text = doc.sections[0].text
    assert text.startswith("**a [b <c __d ") and text.count("**a [b <c __d ") == 20_000
