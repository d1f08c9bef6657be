"""The console's UI text: every language has every key, every key a template uses exists, and the
language is chosen by the switch's cookie, else by Accept-Language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.console import i18n
from service.console.pages import NAV
from service.console.templating import compact

TEMPLATES = Path(i18n.__file__).parent / "templates"


def test_every_language_has_every_key() -> None:
    keys = {language: set(i18n.strings(language)) for language in i18n.LANGUAGES}
    assert keys["en"] == keys["de"]
    assert all(i18n.strings("de")[k] for k in keys["de"])


def test_every_key_used_exists() -> None:
    from service.console import review

    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""t\(["']([a-z_]+)["']\)""", template.read_text()))
    used |= {entry.label for entry in NAV} | set(review.NOTICES)
    assert used, "no keys found: the pattern no longer matches the templates"
    assert used - set(i18n.strings("en")) == set()


@pytest.mark.parametrize(
    ("cookie", "accept", "expected"),
    [
        ("de", "en-US,en;q=0.9", "de"),
        (None, "de-DE,de;q=0.9,en;q=0.5", "de"),
        (None, "fr-FR,fr;q=0.9,de;q=0.8,en;q=0.7", "de"),
        (None, "en;q=0.3,de;q=0.8", "de"),
        (None, "fr", "en"),
        (None, None, "en"),
        ("xx", "de;q=bad, en", "en"),
    ],
)
def test_language_choice(cookie: str | None, accept: str | None, expected: str) -> None:
    assert i18n.choose(cookie, accept) == expected


def test_follower_badges() -> None:
    assert [compact(n) for n in (0, 999, 1000, 12345, 250000, 3_400_000, 2e9)] == [
        "0",
        "999",
        "1k",
        "12.3k",
        "250k",
        "3.4M",
        "2B",
    ]
    assert compact(None) == ""


def test_check_spans_are_marked_once() -> None:
    from service.console.review import highlighted

    text = "Call 0800 123 or see http://x.example today"
    phone, url = (text.index("0800"), text.index("0800") + 8), (text.index("http"), text.index(" today"))
    checks = [
        {"flag": "unsupported_claim", "spans": [[*phone, "0800 123"], [*url, "http://x.example"]]},
        {
            "flag": "injection_suspected",
            "spans": [[phone[0] + 5, url[0] + 2, "overlap"], [40, 99, "past the end"]],
        },
    ]
    pieces = highlighted(text, checks)
    assert "".join(p for p, _ in pieces) == text
    # overlapping spans: the first marks the shared part; a span past the text's end is left out
    assert [(p, f) for p, f in pieces if f] == [
        ("0800 123", "unsupported_claim"),
        (" or see ht", "injection_suspected"),
        ("tp://x.example", "unsupported_claim"),
    ]
