"""Loads the triage word lists from `data/lexicon.toml` into typed constants; edit the TOML, not this file.

Entries are regular-expression fragments (see the TOML's header for how they are written and matched).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

LEXICON_PATH = Path(__file__).parent / "data" / "lexicon.toml"

# {language: {weight: (pattern, ...)}}; language "any" applies to every post
Cues = dict[str, dict[int, tuple[str, ...]]]
ByLanguage = dict[str, tuple[str, ...]]


def _entry(value: Any) -> str:
    # a long pattern may be written as an array of pieces
    return "".join(value) if isinstance(value, list) else str(value)


def _list(values: list[Any]) -> tuple[str, ...]:
    return tuple(_entry(v) for v in values)


def _by_language(table: dict[str, Any]) -> ByLanguage:
    return {lang: _list(values) for lang, values in table.items()}


def _cues(table: dict[str, Any]) -> Cues:
    return {lang: {int(w): _list(values) for w, values in levels.items()} for lang, levels in table.items()}


with LEXICON_PATH.open("rb") as _file:
    _raw = tomllib.load(_file)

QUESTION_OPENERS: ByLanguage = _by_language(_raw["question_openers"])
NOT_QUESTION_OPENERS: tuple[str, ...] = _list(_raw["not_question_openers"]["any"])
SENTENCE_PREFIXES: tuple[str, ...] = _list(_raw["sentence_prefixes"]["any"])
GERMAN_NOT_VERBS: frozenset[str] = frozenset(_raw["german_verb_first"]["not_verbs"])
GERMAN_SUBJECT_PRONOUNS: frozenset[str] = frozenset(_raw["german_verb_first"]["pronouns"])
GERMAN_VOCATIVE_VERBS: frozenset[str] = frozenset(_raw["german_verb_first"]["vocative_verbs"])

QUESTION: Cues = _cues(_raw["question"])
REQUEST: Cues = _cues(_raw["request"])
COMPLAINT: Cues = _cues(_raw["complaint"])
NOT_A_COMPLAINT: ByLanguage = _by_language(_raw["not_a_complaint"])
FEEDBACK: Cues = _cues(_raw["feedback"])
THANKS_FOR_HELP: str = _entry(_raw["thanks_for_help"]["any"])
THANKS: ByLanguage = _by_language(_raw["thanks"])

POSITIVE: Cues = _cues(_raw["positive"])
REVIEW: tuple[str, ...] = _list(_raw["review"]["any"])
NEGATIVE: Cues = _cues(_raw["negative"])
NEGATIONS: frozenset[str] = frozenset(_raw["negations"]["any"])
NEVER: frozenset[str] = frozenset(_raw["negations"]["never"])
SUCH: frozenset[str] = frozenset(_raw["negations"]["such"])
YES_QUESTION_VERBS: frozenset[str] = frozenset(_raw["negations"]["yes_question_verbs"])
CONTRAST: tuple[str, ...] = _list(_raw["contrast"]["any"])
POSITIVE_EMOTICONS: tuple[str, ...] = _list(_raw["emoticons"]["positive"])
NEGATIVE_EMOTICONS: tuple[str, ...] = _list(_raw["emoticons"]["negative"])
POSITIVE_EMOJI: frozenset[str] = frozenset(_raw["emoji"]["positive"])
NEGATIVE_EMOJI: frozenset[str] = frozenset(_raw["emoji"]["negative"])
ANGRY_EMOJI: frozenset[str] = frozenset(_raw["emoji"]["angry"])
MONEY_EMOJI: frozenset[str] = frozenset(_raw["emoji"]["money"])

SPAM: Cues = _cues(_raw["spam"])
SUSPICIOUS_MESSAGE: tuple[str, ...] = _list(_raw["suspicious_message"]["any"])
AUTOMATED: tuple[str, ...] = _list(_raw["automated"]["any"])
AUTOMATED_OPENERS: tuple[str, ...] = _list(_raw["automated_openers"]["any"])
AUTO_REPLY: tuple[str, ...] = _list(_raw["auto_reply"]["any"])
RESOLVED: Cues = _cues(_raw["resolved"])
NOT_RESOLVED_BEFORE: frozenset[str] = frozenset(_raw["not_resolved_before"]["any"])
RHETORICAL_PRAISE: ByLanguage = _by_language(_raw["rhetorical_praise"])
RHETORICAL_ANSWERS: tuple[str, ...] = _list(_raw["rhetorical_answers"]["any"])
MARVEL_OPENERS: tuple[str, ...] = _list(_raw["rhetorical_intensified"]["openers"])
MARVEL_INTENSIFIERS: tuple[str, ...] = _list(_raw["rhetorical_intensified"]["intensifiers"])
MARVEL_PRAISE: tuple[str, ...] = _list(_raw["rhetorical_intensified"]["praise"])
PROMOTION: Cues = {"any": {int(w): _list(v) for w, v in _raw["promotion"].items()}}
AD_DISCLOSURE: tuple[str, ...] = _list(_raw["ad_disclosure"]["any"])
OFFER_VOICE: tuple[str, ...] = _list(_raw["offer_voice"]["any"])
CHIT_CHAT: tuple[str, ...] = _list(_raw["chit_chat"]["any"])
CROWD_QUESTIONS: tuple[str, ...] = _list(_raw["chit_chat"]["crowd_questions"])
PHOTO_EMOJI: frozenset[str] = frozenset(_raw["chit_chat"]["photo_emoji"])
PHOTO_WORDS: tuple[str, ...] = _list(_raw["chit_chat"]["photo_words"])
BETWEEN_USERS: tuple[str, ...] = _list(_raw["chit_chat"]["between_users"])
BANTER: tuple[str, ...] = _list(_raw["chit_chat"]["banter"])
IRONY: tuple[str, ...] = _list(_raw["irony"]["any"])
IRONY_WEAK: tuple[str, ...] = _list(_raw["irony"]["weak"])
IRONY_EMOJI: frozenset[str] = frozenset(_raw["irony"]["emoji"])
LAUGHING_EMOJI: frozenset[str] = frozenset(_raw["chit_chat"]["laughing_emoji"])
ACKNOWLEDGEMENTS: tuple[str, ...] = _list(_raw["acknowledgements"]["any"])
ADDRESS: ByLanguage = _by_language(_raw["address"])
FIRST_PERSON: tuple[str, ...] = _list(_raw["first_person"]["any"])
SERVICE_TERMS: ByLanguage = _by_language(_raw["service_terms"])

HYPOTHETICAL: tuple[str, ...] = _list(_raw["hypothetical"]["any"])
# {signal: {language: (pattern, ...)}}: safety, outage, legal_threat, cancellation_threat, ...
URGENCY: dict[str, ByLanguage] = {signal: _by_language(table) for signal, table in _raw["urgency"].items()}

# {language: "word word ..."}: words that point to one language, for short posts
LANGUAGE_MARKERS: dict[str, str] = {
    lang: " ".join(words.split()) for lang, words in _raw["language_markers"].items()
}

del _raw, _file
