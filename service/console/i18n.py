"""The console's UI text in German and English: one TOML file per language under strings/, chosen by the
`console_lang` cookie (the switch in the header) or else the browser's Accept-Language."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib.resources import files
from typing import Any

LANGUAGES = ("en", "de")
DEFAULT = "en"
COOKIE = "console_lang"


@cache
def strings(language: str) -> dict[str, str]:
    text = files("service.console").joinpath(f"strings/{language}.toml").read_text(encoding="utf-8")
    return dict(tomllib.loads(text))


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The cookie when it names a language we have, else the first of Accept-Language we have."""
    if cookie in LANGUAGES:
        return str(cookie)
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.strip().lower()[:2]))
    for _, _, code in sorted(ranked):
        if code in LANGUAGES:
            return code
    return DEFAULT


class Translator:
    """`t("key")` in templates; a missing key shows as itself rather than failing the page."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._strings = strings(language)

    def __call__(self, key: str, **values: Any) -> str:
        text = self._strings.get(key, key)
        return text.format(**values) if values else text
