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
        # German compounds ending in -nummer/-nr, and a sentence's full stop after the number
        ("Vertragsnummer 4017738291. Wir sind zu zweit", ["4017738291"]),
        ("Zählernummer 1ESY1161028847, Stand 48213", ["1ESY1161028847", "48213"]),
        ("Lerchenmeilen-Nr. 7712 45. Toll.", ["7712 45"]),
        ("my order number is 12345, please check", ["12345"]),
        # IBANs, grouped or not
        ("Neue IBAN DE44 5003 0100 0712 4489 03, wo ändern?", ["DE44 5003 0100 0712 4489 03"]),
        ("new IBAN GB29NWBK60161331926819 please update", ["GB29NWBK60161331926819"]),
        # flight numbers, also of airlines whose code holds a digit
        ("Flug LH 123 gestrichen", ["LH 123"]),
        ("my flight LF1234 is late", ["LF1234"]),
        ("Flug U2 1234 nach Basel", ["U2 1234"]),
        ("flight 4U 812 delayed", ["4U 812"]),
        # booking codes of six capitals, when named as one
        ("Buchungscode QXRTPL, bitte Namen ändern", ["QXRTPL"]),
        ("booking ref KLMNOP: can I change the date?", ["KLMNOP"]),
        ("Buchung M8KD3V umbuchen", ["M8KD3V"]),
        # card endings
        ("Meine Karte endet auf 4821 und wird abgelehnt", ["4821"]),
        ("card ending in 48 keeps getting declined", ["48"]),
        # postcodes (UK, Eircode; German: five digits) and licence plates
        ("next day delivery to LS6 2AB?", ["LS6 2AB"]),
        ("Do you ship to Eircode D04 X2K7?", ["D04 X2K7"]),
        ("kein Netz in 44137", ["44137"]),
        ("Kennzeichen HB-AB 1234, Unfall", ["HB-AB 1234"]),
        ("Tarifcode FM-ALL-M24, was kostet Roaming?", ["FM-ALL-M24"]),  # one code, not a plate in it
        ("my car AB12 CDE was hit", ["AB12 CDE"]),
        # tracking numbers and e-mail addresses
        ("Sendungsnummer 00340434161234567890 hängt", ["00340434161234567890"]),
        ("tracking EV73911804GB hasn't moved", ["EV73911804GB"]),
        ("Login mit ellie.morgan@post.example geht nicht", ["ellie.morgan@post.example"]),
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
        "Rechnung 29,99 € statt 19,99 €",
        "Verbrauch ca. 7.200 kWh",
        "Lastschrift vom 03.11.2026 zurück",
        "WHERE IS MY ORDER, PLEASE REFUND",
        "Buchung storniert, BITTE melden",
        "mit der S-Bahn 4 Stationen",
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
    assert mask_codes("Flug U2 1234 fällt aus", "de") == "Flug fällt aus"
    assert mask_codes("U2 1234 is late", "en") == "flight is late"
    assert mask_codes("Mit der U2 zum Zoo", "de") == "Mit der Zug zum Zoo"  # an underground line
    assert mask_codes("Vertragsnummer 4017738291. Danke!") == "Vertragsnummer. Danke!"


def test_the_dense_query_masks_the_keyword_query_keeps() -> None:
    post = "@NordbahnHilfe Rucksack im RB 33 vergessen https://t.co/x"
    assert retrieval.clean_text(post, "de") == "Rucksack im Zug vergessen"
    assert strip_handles_and_links(post) == "Rucksack im RB 33 vergessen"
