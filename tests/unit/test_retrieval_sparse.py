"""Keyword terms for the sparse vector: folding, German umlauts and compounds, BM25 weights, coverage."""

from __future__ import annotations

from service.knowledge import sparse


def dot(a: sparse.SparseVector, b: sparse.SparseVector) -> float:
    weights = dict(zip(a.indices, a.values, strict=True))
    return sum(v * weights.get(i, 0.0) for i, v in zip(b.indices, b.values, strict=True))


def test_fold_spells_out_umlauts_and_drops_accents() -> None:
    assert sparse.fold("Zählerstand") == "zaehlerstand"
    assert sparse.fold("Grüße aus Köln") == "gruesse aus koeln"
    assert sparse.fold("Café ÉCOLE") == "cafe ecole"


def test_umlaut_and_spelled_out_forms_meet() -> None:
    assert sparse.terms("Zählerstand") == sparse.terms("Zaehlerstand")
    assert sparse.terms("Gebühr") == sparse.terms("GEBUEHR")


def test_stop_words_handles_and_urls_are_dropped() -> None:
    words = sparse.words("@VerkehrsbundNord wie kann ich den Tarif ändern? https://example.com/x?y=1")
    assert words == ["tarif", "aendern"]
    assert sparse.words("Hi, how do I reset my password?") == ["reset", "password"]


def test_light_stemming_joins_inflections() -> None:
    assert sparse.stem("rechnungen") == sparse.stem("rechnung")
    assert sparse.stem("refunds") == sparse.stem("refund")
    assert sparse.stem("2024") == "2024"
    assert sparse.stem("gas") == "gas"  # too short to strip


def test_compound_parts_find_each_other() -> None:
    """ "Überweisung" shares no whole word with "Überweisungsformular" but shares its 4-grams."""
    query = sparse.query_vector("Ich möchte per Überweisung zahlen")
    compound = sparse.document_vector("Wo finde ich das Überweisungsformular?")
    unrelated = sparse.document_vector("Wann fährt der letzte Bus in die Stadt?")
    assert sparse.coverage(dot(compound, query), query) > 0.1
    assert dot(unrelated, query) == 0.0


def test_short_words_give_no_ngrams() -> None:
    assert not any(t.startswith("~") for t in sparse.terms("my card was charged twice"))
    assert any(t.startswith("~") for t in sparse.terms("Stromausfall"))


def test_document_weights_saturate_and_shrink_with_length() -> None:
    once = sparse.document_vector("refund")
    thrice = sparse.document_vector("refund refund refund")
    long = sparse.document_vector("refund " + " ".join(f"word{i}" for i in range(60)))
    term = sparse.term_id("refund")

    def weight(v: sparse.SparseVector) -> float:
        return v.values[v.indices.index(term)]

    assert weight(once) < weight(thrice) < 3 * weight(once)
    assert weight(thrice) < sparse.K1 + 1
    assert weight(long) < weight(once)


def test_coverage_is_the_share_of_query_keywords_matched() -> None:
    query = sparse.query_vector("cancel subscription refund")
    assert sparse.coverage(0.0, query) == 0.0
    full = sparse.coverage(dot(sparse.document_vector("Cancel a subscription, get a refund"), query), query)
    part = sparse.coverage(dot(sparse.document_vector("How to cancel"), query), query)
    none = sparse.coverage(dot(sparse.document_vector("Opening hours"), query), query)
    assert 1.0 >= full > part > none == 0.0
    assert part < full / 2
    assert sparse.coverage(1.0, sparse.query_vector("the and of")) == 0.0  # only stop words


def test_term_ids_are_stable_and_vectors_sorted() -> None:
    assert sparse.term_id("rechnung") == sparse.term_id("rechnung") < 2**32  # crc32: same in every process
    vector = sparse.document_vector("Rechnung Abschlag Zählerstand")
    assert vector.indices == sorted(vector.indices)
    assert len(set(vector.indices)) == len(vector.indices)
    assert not sparse.query_vector("!!! ???")
