"""Triage rules on German and English posts: reply decision, intent, sentiment, urgency and language."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from service.triage import TRIAGE_VERSION, BrandPolicy, TriageInput, Triager
from service.triage.classify import NearestVote, classify_post
from service.triage.language import detect_language
from service.triage.nearest import IntentExample

NOW = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
GERMAN_BRAND = BrandPolicy(language="de", timezone="Europe/Berlin")
ENGLISH_BRAND = BrandPolicy(language="en", timezone="Europe/London")

# (text, intent, needs_reply): written for these tests, not taken from any evaluation set
CASES_DE = [
    ("@Netzwerk24 Wie kann ich meinen Tarif wechseln?", "question", True),
    ("Habt ihr am Samstag geöffnet?", "question", True),
    ("Gibt es die Karte auch für Studenten", "question", True),
    ("Welche Unterlagen brauche ich für den Umzug?", "question", True),
    ("Meine Rechnung ist doppelt abgebucht worden, das ist eine Frechheit!!", "complaint", True),
    ("Die App funktioniert seit dem Update nicht mehr 😡", "complaint", True),
    ("Seit drei Tagen kein Internet. Ich warte immer noch auf den Techniker", "complaint", True),
    ("Bitte schickt mir die Rechnung noch einmal per Mail", "request", True),
    ("Ich möchte meine Bankverbindung ändern, Kundennummer 4711", "request", True),
    ("Ihr solltet die Hotline am Wochenende länger besetzen", "feedback", True),
    ("Vielen Dank, hat super geklappt! 👍", "praise", False),
    ("Danke für eure Geduld am Telefon!", "praise", False),
    ("Toller Service, der Monteur war pünktlich und freundlich", "praise", False),
    ("Nebenjob von zu Hause: 400€ pro Tag verdienen!!! Link im Profil 💰💰", "spam", False),
    ("Follower kaufen? Check out my profile 🔥 https://spam.example", "spam", False),
    ("Was für ein herrlicher Sonnenuntergang heute 😍", "other", False),
    ("Alles klar 👍", "other", False),
]
CASES_EN = [
    ("@ShopCo do you ship to Ireland?", "question", True),
    ("how do i reset my password", "question", True),
    ("Is there a way to pause my subscription", "question", True),
    ("Anyone else having trouble logging in today?", "question", True),
    ("My order still hasn't arrived after 3 weeks. Worst service ever", "complaint", True),
    ("You charged me twice for the same flight!! Unacceptable", "complaint", True),
    ("the app keeps crashing when I open my cart", "complaint", True),
    ("Please cancel my order #55123", "request", True),
    ("I need a copy of my invoice for March", "request", True),
    ("You should add a dark mode to the app", "feedback", True),
    ("Thanks so much, that fixed it! 🙏", "praise", False),
    ("Shoutout to Anna at the Leeds store, amazing help today", "praise", False),
    ("You guys are awesome ❤️", "praise", False),
    ("Make $500 a day from home!!! DM me for details 💸💸", "spam", False),
    ("Bitcoin investment opportunity with guaranteed profit, click here https://x.example", "spam", False),
    ("Beautiful sunset at the beach tonight 😍", "other", False),
    ("I liked a @YouTube video https://youtu.be/abc", "other", False),
    ("ok", "other", False),
]


@pytest.mark.parametrize(("text", "intent", "needs_reply"), CASES_DE)
def test_german_posts(text: str, intent: str, needs_reply: bool) -> None:
    result = classify_post(text, "de")
    assert (result.intent, result.needs_reply) == (intent, needs_reply), result.reasons


@pytest.mark.parametrize(("text", "intent", "needs_reply"), CASES_EN)
def test_english_posts(text: str, intent: str, needs_reply: bool) -> None:
    result = classify_post(text, "en")
    assert (result.intent, result.needs_reply) == (intent, needs_reply), result.reasons


def test_a_question_with_a_mild_problem_stays_a_question() -> None:
    assert (
        classify_post("Die Überweisung geht nicht, oder muss ich das anders machen?", "de").intent
        == "question"
    )
    # with shouting and a threat it becomes a complaint
    angry = classify_post("Die Überweisung geht schon wieder nicht?! Ich kündige jetzt!", "de")
    assert angry.intent == "complaint"
    assert "cancellation_threat" in angry.urgency


def test_praise_with_a_but_is_not_praise() -> None:
    result = classify_post("Danke für die Antwort, aber das Problem besteht weiter", "de")
    assert result.needs_reply
    assert result.intent == "complaint"


def test_praise_gets_a_reply_when_the_brand_wants_one() -> None:
    assert classify_post("Thanks, great service!", "en", reply_to_praise=True).needs_reply is True
    assert classify_post("Thanks, great service!", "en", reply_to_praise=False).needs_reply is False


def test_unclear_post_gets_a_reply() -> None:
    result = classify_post("Ab Juni wohnen wir in Leipzig.", "de")
    assert result.needs_reply is True
    assert result.intent == "other"
    assert "no clear intent" in result.reasons[0]


def test_complaining_about_spam_is_not_spam() -> None:
    result = classify_post("I keep getting spam texts claiming I won a giveaway, is this you?", "en")
    assert result.intent != "spam"
    assert result.needs_reply


def test_sentiment_sign_and_labels() -> None:
    negative = classify_post("Absolute Frechheit, schon wieder falsch abgerechnet!!", "de")
    positive = classify_post("Super freundlicher Service, vielen Dank!", "de")
    neutral = classify_post("Wann öffnet die Filiale in Mitte?", "de")
    assert negative.sentiment == "negative" and negative.sentiment_score <= -0.5
    assert positive.sentiment == "positive" and positive.sentiment_score >= 0.5
    assert neutral.sentiment == "neutral" and abs(neutral.sentiment_score) < 0.3
    # a negated positive word is negative
    assert classify_post("not happy with the new update at all", "en").sentiment == "negative"


@pytest.mark.parametrize(
    ("text", "language", "signal"),
    [
        ("Im Keller riecht es nach Gas, was soll ich tun?", "de", "safety"),
        ("The charger started smoking and melted, this is dangerous", "en", "safety"),
        ("Seit heute Morgen kein Strom in der ganzen Straße", "de", "outage"),
        ("Is the app down? Nothing loads for anyone here", "en", "outage"),
        ("Wenn das nicht bis Freitag geklärt ist, geht das an meinen Anwalt", "de", "legal_threat"),
        ("I will be contacting my lawyer about these charges", "en", "legal_threat"),
        ("Noch so ein Fehler und ich kündige meinen Vertrag", "de", "cancellation_threat"),
        ("Fix this or I'm switching to another provider", "en", "cancellation_threat"),
        ("Ich schreibe euch jetzt zum dritten Mal und keine Antwort", "de", "repeat_contact"),
        ("This is the third time I'm asking, still no response", "en", "repeat_contact"),
        ("Ich werde das überall posten, damit alle Bescheid wissen", "de", "public_escalation"),
        ("Unless this is fixed today I'll tell everyone what you did", "en", "public_escalation"),
    ],
)
def test_urgency_signals(text: str, language: str, signal: str) -> None:
    result = classify_post(text, language)
    assert signal in result.urgency, result.reasons
    assert result.needs_reply


def test_no_urgency_in_plain_questions_and_hypotheticals() -> None:
    assert classify_post("Wie viele Tage vorher muss ich kündigen?", "de").urgency == ()
    assert classify_post("Was passiert, wenn es einen Stromausfall gibt?", "de").urgency == ()
    assert classify_post("How do I cancel my subscription?", "en").urgency == ()


def test_repeat_contact_from_the_authors_recent_posts() -> None:
    assert classify_post("Wo bleibt mein Paket?", "de", author_recent_posts=1).urgency == ()
    assert classify_post("Wo bleibt mein Paket?", "de", author_recent_posts=3).urgency == ("repeat_contact",)


def test_spam_and_bots_carry_no_urgency() -> None:
    spam = classify_post(
        "Schnell reich werden: 3000€ die Woche, schreib mir per DM!!! Notfall? Egal 💸💸", "de"
    )
    assert spam.intent == "spam"
    assert spam.urgency == ()


def test_thread_context_names_the_intent_of_a_bare_answer() -> None:
    alone = classify_post("Bestellnummer 88123", "de")
    assert (alone.intent, alone.needs_reply) == ("other", True)
    in_thread = classify_post(
        "Bestellnummer 88123", "de", thread_texts=("Mein Paket ist nicht angekommen, was ist da los?",)
    )
    assert in_thread.intent == "complaint"
    assert in_thread.needs_reply


@pytest.mark.parametrize(
    ("text", "brand", "expected"),
    [
        ("@Stadtwerke Danke!! 🙏", "de", "de"),
        ("@Brand Geht nicht 😡 #fail", "de", "de"),
        ("@AcmeHelp thanks! 🙌", "en", "en"),
        ("@AcmeHelp not working https://t.co/abc", "en", "en"),
        ("@Brand where is my order??? 📦", "de", "en"),
        ("@Marke wo bleibt meine Bestellung??? https://t.co/xyz", "en", "de"),
        ("@Boutique Bonjour, ma commande n'est pas arrivée 😞", "de", "fr"),
        ("¿Dónde está mi pedido? @tienda", "de", "es"),
        ("@negozio Il mio ordine non è arrivato", "de", "it"),
        ("@winkel Mijn bestelling is niet aangekomen #boos", "de", "nl"),
        ("@sklep Gdzie jest moja paczka? 😤", "de", "pl"),
        ("@magaza Siparişim hala gelmedi", "de", "tr"),
        ("Grazie mille! 😊", "de", "it"),
        ("Dziękuję!", "de", "pl"),
        ("merci 😊", "de", "fr"),
    ],
)
def test_language_of_short_posts_with_handles_and_emoji(text: str, brand: str, expected: str) -> None:
    assert detect_language(text, brand).language == expected


def test_language_falls_back_to_the_brand_when_unsure() -> None:
    for brand in ("de", "en"):
        guess = detect_language("ok 👍 @Brand https://t.co/x", brand)
        assert (guess.language, guess.source) == (brand, "brand default")
    assert detect_language("🙏🙏🙏", "de").language == "de"


def test_triager_result_and_json() -> None:
    result = Triager().triage(
        TriageInput(
            text="@Netzwerk24 Seit gestern kein Internet!! Was ist da los???",
            channel="twitter",
            created_at=NOW,
            author_followers=12_000,
        ),
        GERMAN_BRAND,
    )
    assert result.needs_reply and result.intent == "complaint"
    assert result.language == "de"
    assert "outage" in result.urgency
    assert result.decided_by == "rules"
    assert result.version == TRIAGE_VERSION
    data = result.to_dict()
    assert data["due_at"].endswith("Z")
    assert datetime.fromisoformat(data["due_at"].replace("Z", "+00:00")) == result.due_at
    assert data["urgency"] == list(result.urgency)
    assert all(isinstance(r, str) for r in data["reasons"])


def test_triage_is_deterministic() -> None:
    triager = Triager()
    post = TriageInput(text="Wo bleibt meine Erstattung?", channel="facebook", created_at=NOW)
    assert triager.triage(post, GERMAN_BRAND) == triager.triage(post, GERMAN_BRAND)


def _bag_of_words_embed(texts: list[str]) -> np.ndarray:
    """A tiny deterministic stand-in for the sentence embedder: hashed word counts, L2-normalised."""
    rows = np.zeros((len(texts), 64), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in text.lower().split():
            rows[i, sum(map(ord, word)) % 64] += 1.0
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms == 0, 1.0, norms)


def test_nearest_examples_decide_only_what_the_rules_left_open() -> None:
    examples = [
        IntentExample("the parcel number is here", "complaint", "en"),
        IntentExample("parcel number is below", "complaint", "en"),
        IntentExample("weather at the lake", "other", "en"),
    ]
    triager = Triager(embed=_bag_of_words_embed, examples=examples)
    unclear = TriageInput(text="the parcel number is 4711", channel="x", created_at=NOW)
    result = triager.triage(unclear, ENGLISH_BRAND)
    assert (result.intent, result.decided_by, result.needs_reply) == ("complaint", "rules+embedding", True)
    # a post the rules place is not touched
    clear = TriageInput(text="where is my missing parcel?", channel="x", created_at=NOW)
    assert triager.triage(clear, ENGLISH_BRAND).decided_by == "rules"


def test_a_weak_nearest_vote_cannot_take_a_reply_away() -> None:
    def weak_praise(text: str) -> NearestVote:
        return NearestVote(intent="praise", share=1.0, similarity=0.55, example="thanks")

    def strong_praise(text: str) -> NearestVote:
        return NearestVote(intent="praise", share=1.0, similarity=0.9, example="thanks")

    text = "the parcel came today"
    assert classify_post(text, "en", nearest=weak_praise).needs_reply is True
    strong = classify_post(text, "en", nearest=strong_praise)
    assert (strong.intent, strong.needs_reply, strong.decided_by) == ("praise", False, "rules+embedding")


def test_a_failing_embedder_falls_back_to_rules() -> None:
    def broken(texts: list[str]) -> np.ndarray:
        raise RuntimeError("model gone")

    result = Triager(embed=broken).triage(
        TriageInput(text="Ab Juni wohnen wir in Leipzig.", channel="forum", created_at=NOW), GERMAN_BRAND
    )
    assert result.needs_reply and result.decided_by == "rules"
