"""Codes and numbers in posts: found, left out of the dense query, kept for keywords; quantities stay."""

from __future__ import annotations

import pytest

from service.knowledge import retrieval
from service.knowledge.codes import find_codes, mask_codes
from service.text import strip_handles_and_links


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("Mein Schirm liegt noch im RE 7, Abfahrt Kiel", ["RE 7"]),
        ("ICE1045 fällt aus", ["ICE1045"]),
        ("Where is order #A-55812?", ["A-55812"]),
        ("Bestellung 10293847 ist nicht da", ["10293847"]),
        ("Flight LH 2034 was cancelled", ["LH 2034"]),
        ("meter 1ESY1234567 shows nonsense", ["1ESY1234567"]),
        ("my SP-200 speaker has no sound", ["SP-200"]),
        ("Buchung NB-4821-X stornieren", ["NB-4821-X"]),
        ("Kundennummer 4711 bitte prüfen", ["4711"]),
        ("login for jane.doe88 fails", ["jane.doe88"]),
        ("Bus 5 kam nicht", ["5"]),
    ],
)
def test_codes_are_found(text: str, codes: list[str]) -> None:
    assert find_codes(text) == codes


@pytest.mark.parametrize(
    "text",
    [
        "75 Minuten Verspätung",
        "640 € Nachzahlung",
        "my 65W charger is hot",
        "5G does not work",
        "am 14.3. um 14:32",
        "the PS5 controller",
        "Windows 10 update",
    ],
)
def test_quantities_dates_and_short_names_stay(text: str) -> None:
    assert find_codes(text) == []
    assert mask_codes(text) == text


def test_masking_reads_a_line_as_a_train_in_the_posts_language() -> None:
    assert mask_codes("Mein Rucksack ist im RB 33 geblieben", "de") == "Mein Rucksack ist im Zug geblieben"
    assert mask_codes("My bag is still on the RE 7", "en") == "My bag is still on the train"
    assert mask_codes("Flight LH2034 was late", "en") == "Flight was late"
    assert mask_codes("LH2034 was late", "en") == "flight was late"
    assert mask_codes("Where is my order #A-558120?") == "Where is my order?"
    assert mask_codes("Wo ist Bestellung Nr. 55812?") == "Wo ist Bestellung Nr.?"
    assert mask_codes("RE 7") == "RE 7"  # nothing else: keep what there is


def test_the_dense_query_masks_the_keyword_query_keeps() -> None:
    post = "@NordbahnHilfe Rucksack im RB 33 vergessen https://t.co/x"
    assert retrieval.clean_text(post, "de") == "Rucksack im Zug vergessen"
    assert strip_handles_and_links(post) == "Rucksack im RB 33 vergessen"
