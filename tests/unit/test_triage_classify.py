"""Triage rules on German and English posts: reply decision, intent, sentiment, urgency and language."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pytest

from service.triage import TRIAGE_VERSION, BrandPolicy, TriageInput, Triager, classify
from service.triage.classify import NearestVote, classify_post
from service.triage.language import detect_language
from service.triage.models import LLMVerdict
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


# --- no-reply reasons (triage 1.2): each reason, in both languages, and the posts that must keep a reply.
# Written for these tests; none is taken from an evaluation set.
NO_REPLY = [
    # spam: crypto gains with a shortened link and hashtags
    ("spam", "Aus 500€ wurden 7.000€ mit Bitcoin 🚀 Alle Infos: bit.ly/3abc #krypto #btc #reich #frei", "de"),
    ("spam", "I turned $150 into $4,000 trading crypto 🚀 tinyurl.com/x7y #crypto #btc #gains #money", "en"),
    # spam: follower selling phrased as a question
    ("spam", "Mehr Reichweite gefällig? 2000 echte Follower ab 9€, schreib mir!", "de"),
    ("spam", "Need more reach? Get 5k real followers today, cheap, DM now", "en"),
    # spam: a stranger's offer of services
    ("spam", "Hallo! Ich bin Online-Marketing-Experte und biete euch ein kostenloses Erstgespräch an.", "de"),
    ("spam", "Hello, I'm an SEO expert. I can help your brand rank higher, free audit, message me!", "en"),
    # automated: auto-replies and machine notices
    ("automated", "Automatische Nachricht: Ich bin bis Montag nicht im Büro.", "de"),
    ("automated", "Auto-reply: I'm currently out of the office and will answer after the holidays.", "en"),
    ("automated", "Service alert: scheduled maintenance tonight between 1 and 3 am.", "en"),
    # resolved, with thanks
    ("resolved", "Vergesst es, die Bestellung ist heute doch noch angekommen. Danke trotzdem!", "de"),
    ("resolved", "Never mind, I figured it out myself. Thanks!", "en"),
    # praise phrased as a rhetorical question
    ("rhetorical", "Geht es noch besser? Der Techniker war nach einer Stunde da, danke!", "de"),
    ("rhetorical", "What more could you ask for? Fast delivery and a lovely handwritten note 😊", "en"),
    # promotion by third parties, collabs, digests
    ("spam", "Check out our shop for phone cases, save 30% this week only!", "en"),
    ("spam", "Coole Idee! Schreibt mir eine DM für eine Collab 💫", "de"),
    ("automated", "Weekly digest: 8 new mentions of your brand this week", "en"),
    # captions and greetings to nobody in particular
    ("caption", "Abendstimmung am Hafen 🌅 #sonnenuntergang", "de"),
    ("caption", "Weekend vibes by the lake 📷 #summer", "en"),
    ("chitchat", "Guten Morgen und einen schönen Tag!", "de"),
    # a question of praise the poster answers at once, and regret of not coming sooner (triage 1.3)
    ("rhetorical", "Schnellste Lieferung der Stadt? Ganz klar ihr! 😍", "de"),
    ("rhetorical", "Friendliest staff in town? Easy. You lot 💛", "en"),
    ("rhetorical", "Warum bin ich nicht schon vor Jahren zu euch gewechselt? So entspannt 😊", "de"),
    ("rhetorical", "Why didn't I switch to you years ago? So much cheaper and so friendly 😍", "en"),
    # someone else's advertisement: a hook question, a call to action, an offer, a link (triage 1.4)
    (
        "advert",
        "Handyvertrag zu teuer? 📱 Jetzt bei spartarif.example wechseln und bis zu 300 € sparen!",
        "de",
    ),
    (
        "advert",
        "Tired of queues? Book now at fastlane-parking.example and save up to 25% 🚗 #travel #parking",
        "en",
    ),
    (
        "advert",
        "Wir sind eine Agentur für Influencer-Marketing und hätten eine Idee für euch. Wann habt ihr Zeit?",
        "de",
    ),
    ("advert", "Selling my unused gift voucher for 40, message me if interested", "en"),
    ("spam", "Willst du 5.000 echte Follower für dein Profil? Schreib uns einfach eine DM", "de"),
    # a question that marvels at a quality, in a positive post
    ("rhetorical", "Wie kann eine Hotline nur so geduldig sein?! Danke an Frau Weber 🙏", "de"),
    ("rhetorical", "why is everything you make this comfy??? obsessed ❤️", "en"),
    ("rhetorical", "Kann man einen Stromanbieter lieben? Offenbar ja 😍", "de"),
    ("rhetorical", "Wer hatte heute die schnellste Reparatur der Welt? Genau, ich 😎", "de"),
    # out-of-office notes with dates, deal and news feeds
    (
        "automated",
        "Danke für Ihre E-Mail. Ich bin bis zum 3. März nicht im Büro und lese keine Nachrichten.",
        "de",
    ),
    ("automated", "PRICE DROP 🔔 Trail Runner 2 now £49 (was £80) → shoealerts.example/r/1 #deals", "en"),
    (
        "automated",
        "Neuer Beitrag auf Stromblog: Wie sich die Netzentgelte 2027 ändern → stromblog.example/n/5",
        "de",
    ),
    # a caption under a photo, however many hashtags it carries
    ("caption", "Frühstück auf dem Balkon ☕🥐 #sonntag #fruehstueck #balkonliebe #kaffee #gemuetlich", "de"),
    # a giveaway entry, emoji only, a creator's newest video, a referral link
    ("chitchat", "Ich bin dabei! @lisa_m @tom.k Daumen sind gedrückt 🍀", "de"),
    ("emoji", "🔥🔥🔥 @brand", "en"),
    ("advert", "Mein neues Video zum Update ist online, schaut rein! 👉 clips.example/v/12 #gaming", "de"),
    ("advert", "Get 3 months free with my referral link 👉 refer.example/abc123", "en"),
    # questions to everyone about the evening
    ("chitchat", "Wer schaut heute auch das Finale? 🍿", "de"),
    ("chitchat", "Anyone else heading to the fireworks tonight? 🎆", "en"),
    # phishing and income claims (triage 1.5)
    (
        "spam",
        "Glückwunsch, Sie wurden ausgelost! Bestätigen Sie jetzt Ihre Daten: preis-info.example/x",
        "de",
    ),
    (
        "spam",
        "Your order is on hold. Please confirm your payment details within 12 hours: pay-fix.example/a",
        "en",
    ),
    (
        "spam",
        "I earned $3,200 a month from home with this easy trick 💸💸 DM me 'YES' and I'll show you how",
        "en",
    ),
    ("spam", "Ich verdiene 2.500 € im Monat von zu Hause 💰💰 ich zeig dir wie, schreib mir eine DM", "de"),
    # a stranger's craft business or shop: prices, free slots, calls to come by, write or book
    (
        "advert",
        "Malerarbeiten und Tapezieren – Meisterbetrieb aus Kassel. Faire Preise, Termine frei 📞 0561 998877",
        "de",
    ),
    (
        "advert",
        "Family-run bakery in town? Pop into Crumb & Co on Mill Lane, 15% off with code CRUMB15!",
        "en",
    ),
    (
        "advert",
        "Wer noch Gartenstühle sucht: wir verkaufen das 4er-Set für 49,90 €. Schreibt uns einfach!",
        "de",
    ),
    (
        "advert",
        "New in town? We help newcomers with flat hunting and all the boring forms. "
        "Book a free intro call: hi.example",
        "en",
    ),
    # a doubting self-answer, how-do-you-do-it praise, a comparison that praises (triage 1.5)
    ("rhetorical", "Gibt es was Besseres als ein frisches Brötchen am Sonntag? Glaube kaum 😌", "de"),
    ("rhetorical", "Is there anything better than your Sunday brunch box? Don't think so 😍", "en"),
    ("rhetorical", "Wie schafft ihr es eigentlich, dass jede Lieferung pünktlich ist? 😄 Klasse Team!", "de"),
    ("rhetorical", "How do you guys do it? Best support team ever 🙌", "en"),
    ("rhetorical", "How does your courier get here quicker than my pizza? 😂 legends", "en"),
]
KEEP_REPLY = [
    # a complaint that ends with thanks
    ("Die Lieferung ist jetzt zwei Wochen überfällig. Danke.", "de", "complaint"),
    ("My refund still hasn't arrived. Thanks.", "en", "complaint"),
    ("Zweimal abgebucht und keiner meldet sich. Danke für nichts!", "de", "complaint"),
    # thanks that only signs off a report without any problem word: not praise (a person looks)
    ("Bestellt hatte ich zwei Hüllen, im Paket lag nur eine einzige. Danke.", "de", "other"),
    ("Ordered the blue case and the parcel had a green one inside. Thanks", "en", "other"),
    # a question inside praise
    ("Toller Service gestern, danke! Kann ich die Rechnung auch per Post bekommen?", "de", "question"),
    ("Love the new app, great job! Is there a way to export my data?", "en", "question"),
    # solved, then a new question
    ("Hat sich erledigt, danke! Wie ändere ich jetzt noch meine Adresse?", "de", "question"),
    ("Never mind, found the invoice. But why was I charged twice?", "en", "question"),
    # a wish or a negation is no resolution
    ("I just want the problem resolved, it has been three weeks", "en", "request"),
    ("Läuft immer noch nicht wieder, wann ist das behoben?", "de", "question"),
    # spam words in a customer's real question, machine-like openings with a real problem
    ("Kann ich bei euch auch mit Bitcoin bezahlen?", "de", "question"),
    ("Do you accept crypto for orders?", "en", "question"),
    ("Status update: still no refund after 3 weeks?!", "en", "complaint"),
    ("Essen kam eiskalt an 🍕", "de", "complaint"),
    ("Can I DM you my order number?", "en", "question"),
    ("how about an out of office mode for the app? would be great", "en", "question"),
    # sarcasm: love of paying or waiting is a complaint (triage 1.3)
    ("Love paying £6 delivery for a parcel that sat in the depot all week 🙃", "en", "complaint"),
    ("I just love waiting 50 minutes on hold, great service", "en", "complaint"),
    ("Ich liebe es, jeden Morgen eine halbe Stunde am Gleis zu warten 🙃", "de", "complaint"),
    # a question followed by thanks or praise is no self-answered question
    ("Habt ihr am Sonntag geöffnet? Danke!", "de", "question"),
    ("Do you deliver to Leeds? Love you guys", "en", "question"),
    ("Kann ich mit Karte zahlen? Ja oder nein?", "de", "question"),
    ("Can I still change my seat? Yes?", "en", "question"),
    # a customer asking about an offer, a code or a link is no advert (triage 1.4)
    ("Gilt euer 20% Rabatt auch im Onlineshop? Jetzt bestellen geht bei mir nicht", "de", "question"),
    ("Your promo code SAVE10 doesn't work at checkout, link: shop.example/cart", "en", "complaint"),
    (
        "Ich habe beim Gewinnspiel mitgemacht, wann werden die Gewinner benachrichtigt? #gewinnspiel",
        "de",
        "question",
    ),
    # a marvelling question about a fault, or with a negation, is a question or a complaint
    ("Wie kann man nur so unfreundlich sein?! Ich warte seit 40 Minuten", "de", "question"),
    ("Why is the app so slow since the update?", "en", "question"),
    ("Warum ist die Lieferung nicht so schnell wie versprochen?", "de", "question"),
    # the wrong item, signed off with thanks
    ("Ordered a black coat, got a pink scarf. Cheers 👍", "en", "complaint"),
    # a customer away from home or without e-mail is no auto-reply; a customer's channel is no advert
    ("Ich bin gerade im Urlaub und meine Karte wurde gesperrt!", "de", "complaint"),
    ("I am on holiday until the 5th, can I still pay by card abroad?", "en", "question"),
    (
        "Dear team, my channel has been suspended for a week and nobody answers, link: studio.example/c/1",
        "en",
        "complaint",
    ),
    ("Great update guys, shame it deleted my save file.", "en", "other"),
    # a crowd question that names a problem
    ("Anyone else watching the app crash every five minutes tonight?", "en", "question"),
    # sarcastic thanks after a report: broken in everyday words, a promise in scare quotes, the staff's
    # shrug, "danke auch." (triage 1.5)
    ("Die Kaffeemaschine ist nach 8 Monaten hinüber. Klasse, danke 👍", "de", "complaint"),
    ("Eure 'Expresslieferung' hat neun Tage gebraucht. Super Service, danke auch.", "de", "complaint"),
    ("Im Laden hieß es nur, da kann man nichts machen. Toll, danke euch!", "de", "other"),
    ("My kettle gave up the ghost after two months. Brilliant, thanks 👍", "en", "complaint"),
    ("Your 'next day delivery' took a whole week. Great job, thanks", "en", "complaint"),
    # a customer asking about a message they got is no spam, whatever it quotes
    (
        "Got this text: 'Your parcel could not be delivered, update your details within 24h: "
        "parcel-fix.example/x'. Is this really from you?",
        "en",
        "question",
    ),
    (
        "Hab diese SMS bekommen: 'Sie wurden ausgewählt! Bestätigen Sie jetzt Ihre Adresse'. "
        "Ist das echt von euch?",
        "de",
        "question",
    ),
    # a business's name with a question of its own is still a question; a review's words with a problem
    ("Ich bin Meisterbetrieb und brauche 40 Fliesen, gibt es Mengenrabatt?", "de", "question"),
    ("10/10 would book again, but can I get the invoice with my company name?", "en", "question"),
]

# A review's verdict, a praise that marvels, a pleasant surprise (triage 1.5): praise, no reply
PRAISE_1_5 = [
    (
        "Back from a weekend at the lake house, the view was even better than the photos. "
        "10/10 would go again",
        "en",
    ),
    ("Das Ferienhaus war ein Traum, würde jederzeit wieder buchen. Klare Empfehlung! 🥰", "de"),
    ("Why are your sandwiches always this fresh? Never had a bad one 😋", "en"),
    ("Paket um 8 bestellt, um 14 Uhr war's da. Nordwind ich liebe euch ❤️", "de"),
    ("Shoutout to the night team for fixing my card at 2am. Did not expect that tbh 👏", "en"),
    ("Hab mein Passwort zurückbekommen, danke für die schnelle Hilfe! 👍", "de"),
]


@pytest.mark.parametrize(("text", "language"), PRAISE_1_5)
def test_praise_in_reviews_and_marvels_needs_no_reply(text: str, language: str) -> None:
    result = classify_post(text, language)
    assert result.needs_reply is False, result.reasons
    assert result.intent == "praise", result.reasons


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Würde nie wieder buchen, das Zimmer war dreckig", "de"),
        ("Kann nicht empfehlen, der Tisch wackelt seit dem ersten Tag", "de"),
        ("Die Spülmaschine ist sofort wieder kaputt gegangen", "de"),
        ("Would never book again, the room was filthy", "en"),
        ("Highly recommend staying away, the heating never worked", "en"),
    ],
)
def test_a_negated_or_broken_review_keeps_its_reply(text: str, language: str) -> None:
    assert classify_post(text, language).needs_reply is True


# Sarcastic thanks or praise wraps a complaint (triage 1.6): scare quotes around a term, 🙃 or 🙄, a
# mocking phrase; an often sincere phrase or a capitalised quoted term beside a negative emoji
IRONIC_1_6 = [
    ("Na toll, danke euch 👍", "de"),
    ("Ganz großes Kino heute an der Kasse, danke 👏", "de"),
    ("Vielen Dank für die „kurze“ Bearbeitung 😊", "de"),
    ("Danke für den „Rückruf“ 🙄", "de"),
    ("Man gönnt sich ja sonst nichts. Danke für die Gebühr 👍", "de"),
    ("Das nennt sich dann Kundenservice. Danke 👍", "de"),
    ("Danke für gar nichts, echt", "de"),
    ("Herzlichen Dank auch für die Info 👍", "de"),
    ("Echt klasse, danke für die ‚Beratung‘ 😤", "de"),
    ("Super, danke für den »schnellen« Versand", "de"),
    ("Cheers for the 'quick' refund, lovely stuff 👍", "en"),
    ("Really helpful, thanks 🙃", "en"),
    ("Great service... not!", "en"),
    ("Fantastic support as always (not). Thanks guys", "en"),
    ("Thanks for the “free” upgrade that costs £5 a month 👍", "en"),
    ("Love that for me. Cheers guys 👍", "en"),
    ("Lovely stuff, thanks 😒", "en"),
    ('"helpful" advice from your chat bot again, thanks a lot', "en"),
]
# Sincere thanks and praise, with a product's name or an earlier reply in quotes, or emoji: no reply
NOT_IRONIC_1_6 = [
    ("Danke für das Set „Winterzauber“, sieht wunderschön aus 😍", "de"),
    ("Thanks so much for the 'Winter Glow' candle, love it! ❤️", "en"),
    ("Ich liebe den neuen Tarif 'Flex M', danke euch! 👍", "de"),
    ('Wir haben das Modell "Lisa" gekauft und sind begeistert, danke! 😍', "de"),
    ("Shoutout to the team at the 'Old Mill' branch, so helpful today 👏", "en"),
    ("Thanks, that was really helpful! 🙏", "en"),
    ("Vielen Dank, echt klasse Service! 👍", "de"),
    ("Great service as always, thank you 😊", "en"),
    ("Danke, der Tipp mit „Neu starten“ hat geholfen 👍", "de"),
    ('Your agent said "No problem, leave it with me" and sorted it in five minutes. Thank you!', "en"),
    ("Thanks for the quick reply! 😊", "en"),
    ("Haha danke, ihr seid die Besten 😂", "de"),
]


# 1.7: thanks for a cost or a wait, and thanks that something happened without a word to anyone
IRONIC_1_6 += [
    ("Danke, dass der Zug schon wieder ausfällt und niemand eine Durchsage macht 👏", "de"),
    ("Thanks for the £25 late fee when your own app was down all weekend. Brilliant.", "en"),
    ("Danke für die Mahngebühr von 5 €, obwohl ich pünktlich überwiesen habe 👍", "de"),
    ("Cheers for the delay, again, and no one told us anything", "en"),
]
NOT_IRONIC_1_6 += [
    ("Danke für die Erstattung der Gebühr, ging super schnell!", "de"),
    ("Danke, dass ihr mir einfach so geholfen habt 😊", "de"),
    ("Thanks for waiving the fee, really appreciate it!", "en"),
]


@pytest.mark.parametrize(("text", "language"), IRONIC_1_6)
def test_ironic_thanks_or_praise_is_a_complaint(text: str, language: str) -> None:
    result = classify_post(text, language)
    assert (result.needs_reply, result.intent) == (True, "complaint"), result.reasons


@pytest.mark.parametrize(("text", "language"), NOT_IRONIC_1_6)
def test_sincere_thanks_with_quotes_or_emoji_needs_no_reply(text: str, language: str) -> None:
    result = classify_post(text, language)
    assert result.needs_reply is False, result.reasons


def test_irony_is_named_in_the_reason() -> None:
    result = classify_post("Cheers for the 'quick' refund 🙃", "en")
    assert result.reasons[0] == (
        "needs reply: complaint in ironic thanks or praise ('quick' in quotes, '🙃')"
    )


def test_irony_needs_thanks_or_praise_outside_the_quotes() -> None:
    # the quoted word praises nothing: no irony, the rules leave the post open as before
    result = classify_post("Apparently 'spacious' means you can just about turn round", "en")
    assert "ironic" not in result.reasons[0]


def test_the_model_is_not_asked_about_ironic_thanks() -> None:
    asked: list[str | None] = []

    def chance(part: str | None) -> float:
        asked.append(part)
        return 0.99

    result = classify_post("Really helpful, thanks 🙃", "en", no_reply_chance=chance)
    assert (result.needs_reply, asked) == (True, [])


def test_a_negated_bad_word_after_such_stays_negative() -> None:
    assert classify_post("Never had such bad service in my life", "en").needs_reply is True
    assert classify_post("Noch nie so schlecht beraten worden", "de").needs_reply is True


# Triage 1.7: cues that never matched (an ad's disclosure tag lost its "#" in the cleaned text; prices
# with more than one digit), auto-replies that announce a closure, prizes nobody entered for.
NO_REPLY_1_7 = [
    (
        "advert",
        "Mit meinem Code LENA20 bekommt ihr 20 % auf alles im Shop 💕 nur bis Freitag #anzeige "
        "#lieblingsstücke",
        "de",
    ),
    ("advert", "Mit meinem Gutscheincode TOMTOM spart ihr 12 € auf eure erste Box 😋 #werbung #foodie", "de"),
    ("advert", "£20 off your first box with my code JESS20 🥗 link in bio #ad #mealprep", "en"),
    (
        "advert",
        "Sofa stained? 🛋️ Professional upholstery cleaning from £45, booked in 2 minutes. Book now "
        "at freshseat.example",
        "en",
    ),
    (
        "automated",
        "Vielen Dank für Ihre Nachricht. Unsere Kanzlei ist vom 23.12. bis 06.01. geschlossen. In "
        "dringenden Fällen wenden Sie sich bitte an 0711 000000.",
        "de",
    ),
    (
        "automated",
        "Vielen Dank für Ihre E-Mail. Das Büro ist in den Osterferien nicht besetzt. Ab dem 14.04. "
        "sind wir wieder für Sie da.",
        "de",
    ),
    (
        "automated",
        "Thank you for your message. Our surgery is closed over the bank holiday and will reopen on "
        "Tuesday. For emergencies please call 111.",
        "en",
    ),
    (
        "spam",
        "🎉 Glückwunsch! Du wurdest heute als einer von 10 Gewinnern eines Tablets ausgewählt 📱 "
        "Bestätige hier innerhalb von 24h: tab-gewinn.example",
        "de",
    ),
    (
        "spam",
        "🎁 Northwind Air is giving away 300 free flights! Claim yours here before midnight → "
        "nw-flights-free.example",
        "en",
    ),
]
# A business offering its service to the reader, after a hook question (lexicon [offer_voice])
NO_REPLY_1_7 += [
    (
        "advert",
        "Handy-Display gesprungen? 📱 Wir reparieren alle Modelle in 30 Minuten. Handydoc am "
        "Bahnhof, kommt vorbei!",
        "de",
    ),
    (
        "advert",
        "Garden a jungle? 🌿 We offer weekly garden care across Leeds, first visit free. Book at "
        "greenhands.example",
        "en",
    ),
    (
        "advert",
        "Hochzeit geplant? 💍 Ich bin freiberufliche Fotografin in Köln, Pakete ab 490 €. Portfolio: "
        "linsenliebe.example",
        "de",
    ),
]
# ...and what looks like them but asks the brand or reports a problem: it keeps its reply.
KEEP_REPLY_1_7 = [
    ("Wir reparieren das Rad gerade selbst, aber der Akku lädt nicht mehr. Ist das ein Garantiefall?", "de"),
    (
        "Wir liefern euch seit Jahren Kunden, aber eure App zeigt seit gestern keine Buchungen "
        "mehr. Was ist da los? shot.example",
        "de",
    ),
    (
        "I teach at a primary school and the school discount stopped working, first lesson free "
        "offer too. Can you help?",
        "en",
    ),
    (
        "Ich bin freiberufliche Fotografin und euer Abo ab 49 € wurde zweimal abgebucht. Bitte "
        "erstattet das!",
        "de",
    ),
    (
        "We fix bikes for a living and your spare part arrived broken. Who do I contact for a replacement?",
        "en",
    ),
    (
        "Mein Code LENA20 bekommt ihr angeblich 20 % auf alles, bei mir geht er nicht. Was mache ich falsch?",
        "de",
    ),
    ("Gilt der Code aus dem #anzeige-Post auch für Bettwäsche?", "de"),
    (
        "Hab über euren #werbung Post bestellt, 15 % auf alles, und seit 3 Wochen kommt nichts an. "
        "Wo ist mein Paket?",
        "de",
    ),
    ("I saw the #ad with £20 off your first box, does it work for existing customers too?", "en"),
    (
        "Vielen Dank für Ihre Nachricht. Leider ist die Filiale trotzdem geschlossen, obwohl die App "
        "sie als offen zeigt. Wann öffnet sie?",
        "de",
    ),
    (
        "Thank you for your email, but my account is still closed and I can't log in. Can someone call me?",
        "en",
    ),
    ("Ich wurde als Gewinner eures Gewinnspiels ausgewählt, wann kommt der Preis?", "de"),
    ("Your app says I've been selected for the giveaway, is that real? Nobody has contacted me.", "en"),
]


@pytest.mark.parametrize(("reason", "text", "language"), NO_REPLY_1_7)
def test_no_reply_reasons_1_7(reason: str, text: str, language: str) -> None:
    test_no_reply_reasons(reason, text, language)


@pytest.mark.parametrize(("text", "language"), KEEP_REPLY_1_7)
def test_what_looks_like_an_ad_a_notice_or_a_prize_keeps_its_reply(text: str, language: str) -> None:
    result = classify_post(text, language)
    assert result.needs_reply is True, result.reasons


@pytest.mark.parametrize(("reason", "text", "language"), NO_REPLY)
def test_no_reply_reasons(reason: str, text: str, language: str) -> None:
    result = classify_post(text, language)
    assert result.needs_reply is False, result.reasons
    words = {
        "spam": "spam",
        "automated": "automated post",
        "resolved": "says it is solved",
        "rhetorical": "rhetorical question of praise",
        "caption": "caption or chit-chat",
        "chitchat": "greeting or wish",
        "advert": "advertisement for someone else",
        "emoji": "only emoji",
    }
    assert words[reason] in result.reasons[0], result.reasons
    assert result.reasons[0].startswith("no reply: ")


@pytest.mark.parametrize(("text", "language", "intent"), KEEP_REPLY)
def test_questions_and_complaints_keep_their_reply(text: str, language: str, intent: str) -> None:
    result = classify_post(text, language)
    assert (result.needs_reply, result.intent) == (True, intent), result.reasons


BRAND = ("kiebitz-mobil", "Kiebitz Mobil", "KiebitzHilfe")


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("@jonas_hh sehen wir uns nachher am Bahnhof? Ich bring Brötchen mit 😄", "de"),
        ("@Lena Brandt hast du den Tarif jetzt genommen, den ich dir gezeigt hab?", "de"),
        ("@mike_t are you still coming to the barbecue on Saturday? 🍔", "en"),
        # an imperative or a friend's name, two friends tagged, banter (triage 1.5)
        (
            "@anni.k schau mal, die Lampe von der ich erzählt hab! passt die nicht super in eure Küche? 😍",
            "de",
        ),
        ("@tom_b @jule.s 🍀 ich will die Hängematte so sehr 😍", "de"),
        ("@benni_l komm einfach mit dem Rad rüber, ich mach Kaffee 😂", "de"),
        ("@Karin Weiss ja wir nehmen die auch immer. Wie geht's ihr denn nach dem Umzug?", "de"),
        ("@sam_r yeah mate 'spacious' means you can just about turn round, trust me 😂", "en"),
        ("@lucy_p lol that's literally your postman, the one who always sings 😂", "en"),
    ],
)
def test_a_question_to_another_user_needs_no_reply(text: str, language: str) -> None:
    result = classify_post(text, language, brand_names=BRAND)
    assert result.needs_reply is False, result.reasons
    assert "another user" in result.reasons[0]


@pytest.mark.parametrize(
    ("text", "language"),
    [
        # the brand is tagged too, or spoken to, or a problem is reported
        ("@jonas_hh hast du auch kein Netz? @KiebitzHilfe was ist da los?", "de"),
        ("@jonas_hh habt ihr auch die neue Rechnung bekommen? Ihr müsst das prüfen", "de"),
        ("@mike_t did your bill from them double too? mine is broken", "en"),
        # a handle that is the brand's: slug, name or configured handle
        ("@kiebitz_mobil kannst du mir sagen, wann mein Vertrag endet?", "de"),
        ("@KiebitzHilfe can you tell me when my contract ends?", "en"),
        # banter that reports a problem, or asks the brand, keeps its reply (triage 1.5)
        ("@lucy_p lol my parcel is still missing after two weeks 😂", "en"),
        ("@tom_b @jule.s habt ihr auch keine Rechnung bekommen? 😂", "de"),
        ("@anni.k schau mal, eure App zeigt bei mir seit gestern einen Fehler", "de"),
    ],
)
def test_a_post_to_the_brand_or_about_a_problem_keeps_its_reply(text: str, language: str) -> None:
    assert classify_post(text, language, brand_names=BRAND).needs_reply is True


def test_without_the_brands_names_a_leading_handle_proves_nothing() -> None:
    assert classify_post("@jonas_hh sehen wir uns nachher am Bahnhof?", "de").needs_reply is True


def test_a_bot_flagged_author_gets_no_reply_with_a_reason() -> None:
    text = "Neue Störung gemeldet: Linie 4"
    inp = TriageInput(text=text, channel="twitter", created_at=NOW, author_bot=True)
    result = Triager().triage(inp, GERMAN_BRAND)
    assert result.needs_reply is False
    assert result.reasons[0] == "no reply: the helpdesk flags the author as a bot"
    assert result.urgency == ()  # a bot's "Störung" is no outage report by a customer
    unflagged = Triager().triage(TriageInput(text=text, channel="twitter", created_at=NOW), GERMAN_BRAND)
    assert unflagged.needs_reply is True
    assert TRIAGE_VERSION == "1.7.0"


def test_a_caption_is_soft_the_llm_still_decides_it() -> None:
    caption = "Sunday morning at the harbour 📸 #weekend"
    rules = classify_post(caption, "en")
    assert (rules.needs_reply, rules.uncertain) == (False, True)  # uncertain: a configured LLM is asked
    verdict = LLMVerdict(intent="question", needs_reply=True, reason="asks about the ferry", model="m")
    with_llm = classify_post(caption, "en", verdict=verdict)
    assert (with_llm.needs_reply, with_llm.decided_by) == (True, "llm")
    # addressed to the brand ("@brand ..."), in a thread, or with a number: not a caption
    assert classify_post("@ShopCo my setup 📸", "en").needs_reply is True
    assert classify_post(caption, "en", thread_texts=("where is my parcel?",)).needs_reply is True
    assert classify_post("Order 4711 📦", "en").needs_reply is True


def test_resolved_follows_the_brand_policy_on_thanks() -> None:
    text = "Problem solved, the app works again. Thanks a lot!"
    assert classify_post(text, "en").needs_reply is False
    replied = classify_post(text, "en", reply_to_praise=True)
    assert (replied.needs_reply, replied.intent) == (True, "praise")
    # a weak cue alone is news, not a goodbye; with thanks or in a thread it closes the matter
    assert classify_post("the parcel came today", "en").needs_reply is True
    assert classify_post("the parcel came today, thanks", "en").needs_reply is False
    assert classify_post("the parcel came today", "en", thread_texts=("where is it?",)).needs_reply is False


# --- the trained reply model (triage 1.3): where it may speak. A stand-in chance shows the gates: even a
# model certain that nothing needs a reply cannot take one from what the rules found.
def _certain(value: float) -> Callable[[str | None], float]:
    return lambda part: value


@pytest.mark.parametrize(("text", "language", "intent"), KEEP_REPLY)
def test_a_certain_model_cannot_take_a_reply_the_rules_found(text: str, language: str, intent: str) -> None:
    result = classify_post(text, language, no_reply_chance=_certain(1.0))
    assert (result.needs_reply, result.intent) == (True, intent), result.reasons


@pytest.mark.parametrize(
    ("text", "language"),
    [
        # a number (order, day count) and thanks that sign off a report keep the reply the rules gave
        ("Ab dem 3. Juni wohnen wir in Leipzig.", "de"),
        ("Parcel 55123 was left in the rain", "en"),
        ("Bestellt hatte ich zwei Hüllen, im Paket lag nur eine einzige. Danke.", "de"),
        ("Ordered the blue case and the parcel had a green one inside. Thanks", "en"),
    ],
)
def test_the_model_leaves_numbers_and_signed_off_reports_alone(text: str, language: str) -> None:
    result = classify_post(text, language, no_reply_chance=_certain(1.0))
    assert result.needs_reply is True, result.reasons


def test_the_wider_gate_lets_the_model_read_open_posts_that_report(monkeypatch: pytest.MonkeyPatch) -> None:
    # bench/reply_model_cv.py --open-reported-sure: off (None) in the service
    text = "Tag 1 mit dem neuen Rad, 40 km geschafft"  # a number: the model is not asked by default
    asked: list[str | None] = []

    def chance(part: str | None) -> float:
        asked.append(part)
        return 0.95

    assert classify_post(text, "de", no_reply_chance=chance).needs_reply is True and asked == []
    monkeypatch.setattr(classify, "MODEL_OPEN_REPORTED_SURE", 0.9)
    wider = classify_post(text, "de", no_reply_chance=chance)
    assert (wider.needs_reply, wider.uncertain) == (False, True) and asked == [None]
    monkeypatch.setattr(classify, "MODEL_OPEN_REPORTED_SURE", 0.99)
    assert classify_post(text, "de", no_reply_chance=chance).needs_reply is True
    # thanks that sign off a report stay out of it
    report = "Bestellt hatte ich zwei Hüllen, im Paket lag nur eine einzige. Danke."
    assert classify_post(report, "de", no_reply_chance=_certain(1.0)).needs_reply is True


def test_the_model_decides_an_open_post_softly_and_only_when_sure() -> None:
    text = "Ab Juni wohnen wir in Leipzig."
    assert classify_post(text, "de", no_reply_chance=_certain(0.7)).needs_reply is True
    sure = classify_post(text, "de", no_reply_chance=_certain(0.9))
    assert (sure.needs_reply, sure.uncertain, sure.decided_by) == (False, True, "rules+embedding")
    assert sure.reasons[0] == "no reply: reads like a post that needs none (model 0.90)"
    verdict = LLMVerdict(intent="request", needs_reply=True, reason="a change of address", model="m")
    with_llm = classify_post(text, "de", no_reply_chance=_certain(0.9), verdict=verdict)
    assert (with_llm.needs_reply, with_llm.decided_by) == (True, "llm")
    # in a thread the earlier posts decide, not the model
    threaded = classify_post(text, "de", no_reply_chance=_certain(0.9), thread_texts=("Adresse?",))
    assert threaded.needs_reply is True


def test_the_model_reopens_praise_it_reads_as_needing_a_reply() -> None:
    text = "Danke für eure Geduld am Telefon!"
    assert classify_post(text, "de", no_reply_chance=_certain(0.5)).needs_reply is False
    reopened = classify_post(text, "de", no_reply_chance=_certain(0.1))
    assert (reopened.needs_reply, reopened.uncertain, reopened.intent) == (True, True, "other")
    assert reopened.reasons[0].startswith("needs reply: reads like a post that needs one (model 0.10)")


def test_the_model_is_not_asked_about_decided_posts() -> None:
    asked: list[str | None] = []

    def chance(part: str | None) -> float:
        asked.append(part)
        return 1.0

    for text in ("Wo bleibt meine Erstattung?", "Die App stürzt ständig ab!", "Bitte kündigt mein Abo"):
        classify_post(text, "de", no_reply_chance=chance)
    assert asked == []


def test_the_model_may_read_a_weakly_found_question_as_an_advert() -> None:
    # one "?" and nothing asked of the brand: the rules call it a question, the model may read an advert
    advert = "Rasen zu hoch? Gartenprofi Meier mäht in Lindau und Umgebung 🌿"
    taken = classify_post(advert, "de", no_reply_chance=_certain(0.95))
    assert (taken.needs_reply, taken.uncertain) == (False, True)
    assert taken.reasons[0] == "no reply: reads like promotion or praise, not a question (model 0.95)"
    assert classify_post(advert, "de", no_reply_chance=_certain(0.85)).needs_reply is True
    # a configured LLM still decides: it reads a question, so the post keeps its reply
    verdict = LLMVerdict(intent="question", needs_reply=True, reason="asks about mowing", model="m")
    assert classify_post(advert, "de", no_reply_chance=_certain(0.95), verdict=verdict).needs_reply is True
    # a question with more to it, or the writer's own, is never the model's
    for text, language in (("Is the shop open?", "en"), ("Wo finde ich meine Rechnung?", "de")):
        assert classify_post(text, language, no_reply_chance=_certain(1.0)).needs_reply is True
