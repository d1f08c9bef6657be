"""Reads one post: does it need a reply, what does it want (intent), how does it feel, how urgent is it.

Rules over the word lists in `data/lexicon.toml`. Every intent gets a score from weighted cues; the
decision is a short cascade (bot or automated, spam, someone else's advert, complaint, feedback,
question/request, praise, acknowledgement, emoji only, small talk), written out in `_decide`. An advert's
hook and calls ("Stromanbieter zu teuer?", "Interesse?") are set aside before asking whether it asks
anything else (`_beside_the_ad`); a question between two users under the brand's post is no post to the
brand (`_written_to_someone_else`, from the brand's names); a post whose problem the customer calls solved
is read from that point on (`_resolved`), a rhetorical question of praise is praise, not a question.
A post the rules cannot place gets a reply: missing a customer costs more than one unneeded draft; only
a short caption or greeting that says nothing to the brand is taken as not needing one, softly (an LLM,
when configured, still decides it). Earlier posts of the thread may name the intent
of such a post; so may an optional nearest-neighbour vote over labelled examples (`nearest.py`), which
takes a reply away only when it finds praise or spam with a close example, or, where an LLM is
configured, its verdict (`decided_by` "llm"; the pipeline asks it only about such posts). A trained
reply model (`reply_model.py`, logistic regression on the embedding and `reply_features`) may take
the reply from a post the rules leave open and give one back to praise it reads as a complaint, when
it is sure (`MODEL_SURE`); it is never asked about a question, request or complaint the rules found,
nor about a post with a number, a word to the brand, the writer speaking of themself or thanks
that sign off a report. Urgency signals (danger, outage,
threats) always keep a reply.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from service.triage import lexicon
from service.triage.models import INTENTS, LLMVerdict
from service.triage.text import CleanPost, clean_post, fold

REPLY_INTENTS = frozenset({"question", "request", "complaint", "feedback"})
# Scores that decide on their own (one strong cue, or two weak ones).
DECISIVE = 2
# Spam needs more than one cue: a single "giveaway" may be a customer asking about ours.
SPAM_THRESHOLD = 3
SENTIMENT_THRESHOLD = 0.3
# Other posts by the same author in the last 48 h from which on we call it repeated contact.
REPEAT_CONTACT_MIN_POSTS = 2
# A nearest-example vote may take a reply away (praise, spam) only when the example is this close.
NO_REPLY_MIN_SIMILARITY = 0.6


@dataclass(frozen=True)
class NearestVote:
    """What the nearest labelled examples say about a post's intent."""

    intent: str
    share: float  # weighted share of the neighbours that agree
    similarity: float  # cosine similarity of the closest agreeing example
    example: str


NearestIntent = Callable[[str], NearestVote | None]
# The trained reply model's chance that a text needs no reply (`reply_model.py`), asked lazily: None
# asks about the whole post (by its embedding, when the caller has one), a string about that part of it.
NoReplyChance = Callable[[str | None], float | None]
# How sure the model must be to decide: where the rules leave a post open, it takes the reply away from
# this chance of "no reply" on (softly: an LLM, when configured, still decides); praise it reads as
# needing a reply this surely (a chance of none of at most 1 - MODEL_SURE) is opened again. At 0.5
# German reports without a problem word ("der Bote hat das Paket über den Zaun geworfen") lost their
# reply: the English embedder reads German loosely.
MODEL_SURE = 0.9
# A question the rules found on weak evidence alone (no more than DECISIVE question cues, e.g. a "?" and
# an opening "who"; no request, complaint or feedback cue; nothing the writer reports of their own) is
# the model's to read as promotion or rhetorical praise from this chance on; None: never.
MODEL_QUESTION_SURE: float | None = 0.9
# A post the rules leave open that may report something of the writer's own (first person, a number,
# words to the brand; not thanks that sign off a report) is the model's from this chance on; None: never.
MODEL_OPEN_REPORTED_SURE: float | None = None
# praise the model reads as needing a reply at most this surely is opened again (sarcastic thanks)
MODEL_GIVE_BACK = 0.1


@dataclass(frozen=True)
class Classification:
    needs_reply: bool
    intent: str
    sentiment: str
    sentiment_score: float
    urgency: tuple[str, ...]
    reasons: tuple[str, ...]
    decided_by: str
    uncertain: bool = False  # neither the rules nor the thread placed the post


@dataclass
class _Score:
    total: float = 0.0
    cues: list[str] = field(default_factory=list)
    strong: int = 0  # cues of weight >= DECISIVE

    def add(self, weight: float, cue: str, *, strong: bool | None = None) -> None:
        self.total += weight
        self.cues.append(cue)
        self.strong += (weight >= DECISIVE) if strong is None else strong


def _fold_pattern(pattern: str) -> str:
    # patterns are written lower-case; only umlauts and apostrophes need the text's folding
    return (
        pattern.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss").replace("’", "'")
    )


def _words_regex(patterns: Iterable[str]) -> re.Pattern[str]:
    body = "|".join(f"(?:{_fold_pattern(p)})" for p in patterns)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)")


def _any_regex(patterns: Iterable[str]) -> re.Pattern[str]:
    """The patterns as written, without word boundaries around them: for lists matched on the raw post,
    where they anchor themselves (a "#", a "^")."""
    return re.compile("|".join(f"(?:{_fold_pattern(p)})" for p in patterns))


def _praise_words() -> list[str]:
    """Words a marvelling question praises with: its own list and every positive word."""
    words = list(lexicon.MARVEL_PRAISE)
    for levels in lexicon.POSITIVE.values():
        for patterns in levels.values():
            words.extend(patterns)
    return words


class _WeightedCues:
    """One cue list (e.g. complaint) compiled per language and weight, strongest first."""

    def __init__(self, cues: lexicon.Cues) -> None:
        self._by_lang = {
            lang: [(weight, _words_regex(pats)) for weight, pats in sorted(levels.items(), reverse=True)]
            for lang, levels in cues.items()
        }

    def matches(self, text: str, langs: Iterable[str]) -> Iterator[tuple[int, re.Match[str]]]:
        """Every match with its weight, overlaps included (for sentiment, which looks at each word)."""
        for lang in langs:
            for weight, regex in self._by_lang.get(lang, ()):
                for match in regex.finditer(text):
                    yield weight, match

    def score(self, text: str, langs: Iterable[str]) -> _Score:
        """Sum of cue weights; a stretch of text counts once, for its strongest cue."""
        return self.score_and_mask(text, langs)[0]

    def score_and_mask(self, text: str, langs: Iterable[str]) -> tuple[_Score, str]:
        """The score, and the text with the matched cues blanked out (same length)."""
        result = _Score()
        for lang in langs:
            for weight, regex in self._by_lang.get(lang, ()):

                def take(match: re.Match[str], weight: int = weight) -> str:
                    result.add(weight, match.group(0).strip())
                    return " " * len(match.group(0))

                text = regex.sub(take, text)
        return result, text


_QUESTION = _WeightedCues(lexicon.QUESTION)
_REQUEST = _WeightedCues(lexicon.REQUEST)
_COMPLAINT = _WeightedCues(lexicon.COMPLAINT)
_FEEDBACK = _WeightedCues(lexicon.FEEDBACK)
_POSITIVE = _WeightedCues(lexicon.POSITIVE)
_NEGATIVE = _WeightedCues(lexicon.NEGATIVE)
_SPAM = _WeightedCues(lexicon.SPAM)
_PROMOTION = _WeightedCues(lexicon.PROMOTION)
_OPENERS = {
    lang: re.compile(rf"^(?:{_fold_pattern('|'.join(p))})(?!\w)")
    for lang, p in lexicon.QUESTION_OPENERS.items()
}
_NOT_OPENERS = re.compile(rf"^(?:{_fold_pattern('|'.join(lexicon.NOT_QUESTION_OPENERS))})(?!\w)")
_PREFIX = re.compile(rf"^(?:(?:{_fold_pattern('|'.join(lexicon.SENTENCE_PREFIXES))})(?!\w)[\s,.:!-]*)+")
_NOT_A_COMPLAINT = _words_regex(p for pats in lexicon.NOT_A_COMPLAINT.values() for p in pats)
_THANKS = {lang: _words_regex(p) for lang, p in lexicon.THANKS.items()}
_ADDRESS = _words_regex(p for pats in lexicon.ADDRESS.values() for p in pats)
_FIRST_PERSON = _words_regex(lexicon.FIRST_PERSON)
_SERVICE = _words_regex(p for pats in lexicon.SERVICE_TERMS.values() for p in pats)
_AUTOMATED = _any_regex(lexicon.AUTOMATED)
_AUTO_REPLY = _any_regex(lexicon.AUTO_REPLY)
_OFFER_VOICE = _words_regex(lexicon.OFFER_VOICE)
_AD_DISCLOSURE = _any_regex(lexicon.AD_DISCLOSURE)
_AUTOMATED_OPENER = _any_regex(lexicon.AUTOMATED_OPENERS)
_RESOLVED = _WeightedCues(lexicon.RESOLVED)
_RHETORICAL = _words_regex(p for pats in lexicon.RHETORICAL_PRAISE.values() for p in pats)
# the whole sentence after a question, its own answer ("Bester Support? Ihr!"); modifiers allowed around it
_SELF_ANSWER = re.compile(
    rf"^(?:(?:ganz|na|also|aber|ja|so|really|honestly|well|erm|oh)\s+)?"
    rf"(?:{_fold_pattern('|'.join(sorted(lexicon.RHETORICAL_ANSWERS, key=len, reverse=True)))})"
    rf"(?:\s+(?:ja|yes|nein|no|schon|doch|natürlich|of course|obviously|guys|lot|folks|leute))?[\s!.…]*$"
)
_CHIT_CHAT = _words_regex(lexicon.CHIT_CHAT)
_CROWD_QUESTION = _words_regex(lexicon.CROWD_QUESTIONS)
# "Wer hat nie Stress? Genau, wir, seit ...": the next sentence opens with the answer, then goes on
_SELF_ANSWER_LEAD = re.compile(
    r"^(?:(?:genau|eben|exactly|yep|yes|ja)\s*,?\s*)?(?:ich|wir|me|us|we)\s*(?:,|!|$)"
)
_MARVEL_OPENER = re.compile(rf"^(?:{_fold_pattern('|'.join(lexicon.MARVEL_OPENERS))})(?!\w)")
_MARVEL = re.compile(
    rf"(?<!\w)(?:{_fold_pattern('|'.join(lexicon.MARVEL_INTENSIFIERS))})\s+(?:[\w-]+\s+){{0,3}}?"
    rf"(?:{_fold_pattern('|'.join(_praise_words()))})(?!\w)"
)
_PHOTO_WORDS = _words_regex(lexicon.PHOTO_WORDS)
_REVIEW = _words_regex(lexicon.REVIEW)
_SUSPICIOUS_MESSAGE = _words_regex(lexicon.SUSPICIOUS_MESSAGE)
_DIGITS = re.compile(r"\d")
_LEADING_HANDLE = re.compile(r"^\s*@\w+")
# The people a post opens with: "@mel_ontour sehen wir uns?", "@Tina Hagedorn hast du ...?" (Facebook
# tags a name with its space)
_LEADING_MENTIONS = re.compile(r"^\s*((?:@[\w.]+(?:\s+[A-ZÄÖÜ][\w-]+(?=\s))?[\s,:]*)+)")
_MENTION = re.compile(r"(?<![\w@])@([\w.]+)")
# Second person plural and the polite form: the brand is spoken to ("habt ihr", "euer Shop", "Ihnen")
_BRAND_ADDRESS = re.compile(r"(?<!\w)(?:ihr|euch|ihnen|you guys|y'all)(?!\w)")
# "euer Shop" speaks to the brand; "passt der in euren Flur?" after "schau mal" to a friend and theirs
_BRAND_POSSESSIVE = re.compile(r"(?<!\w)(?:euer|eure[nmrs]?)(?!\w)")
# Words between two people: "du" or "wir" ("hast du ...?", "sehen wir uns?"), where a brand is "ihr"
_PERSON_ADDRESS = re.compile(r"(?<!\w)(?:du|dich|dir|dein\w*|wir|uns|you|your|we|us)(?!\w)")
_GERMAN_PERSON = re.compile(r"(?<!\w)(?:du|dich|dir|dein\w*|wir|uns)(?!\w)")
_BETWEEN_USERS = _words_regex(lexicon.BETWEEN_USERS)
_IRONY = _words_regex(lexicon.IRONY)
_IRONY_WEAK = _words_regex(lexicon.IRONY_WEAK)
# Scare quotes: a short term (2-40 characters) in quotes, the opening one at the start or after a space,
# the closing one not followed by a letter ("the 'quick' refund", "der „schnelle“ Versand"); the term
# holds no quote or apostrophe of its own, so "don't" and "customers' 'help'" open nothing.
_QUOTE_PAIRS = {'"': '"', "“": "”“", "„": "“”", "'": "'’", "‘": "’'", "‚": "‘’", "»": "«", "«": "»"}
_QUOTE_CHARS = re.escape("".join(_QUOTE_PAIRS) + "’")
_SCARE_QUOTE = re.compile(
    "|".join(
        rf"(?<!\S){re.escape(opening)}(?!\s)([^{_QUOTE_CHARS}\n]{{2,40}}?)(?<!\s)[{re.escape(closing)}](?![^\W_])"
        for opening, closing in _QUOTE_PAIRS.items()
    )
)
_BANTER = _words_regex(lexicon.BANTER)
# A bare domain ("tarifblitz.example/strom") is a link the URL pattern (scheme or www) leaves in the text
_DOMAIN = re.compile(
    r"(?<![@\w.])[a-z0-9][a-z0-9-]*\.(?:example|com|de|net|org|shop|store|io|co|eu|uk|at|ch|app|info|online)"
    r"(?:/\S*)?(?![\w.])",
    re.IGNORECASE,
)
# A caption says a few words; longer texts without any cue still get a reply (or the LLM's reading).
CAPTION_MAX_WORDS = 12
# Thanks without a kind word in a post longer than this signs off a report; it is no praise.
SIGN_OFF_MIN_WORDS = 8
# Hashtags, emoji and shortened links are spam only beside a spam phrase, and add at most this much.
SPAM_FORMAT_MAX = 2
# Someone else's advertisement from this much evidence on (business voice 2, a call to action, an offer,
# a link each 1); spam and promotion cues add up, as "DM me for a collab" is both.
PROMOTION_THRESHOLD = 3
# An ad's opening question ("Stromanbieter zu teuer?", "Love fashion?") is a hook, not a question: a
# first sentence this short, or one holding the ad's own words, when nobody speaks of themself in it.
HOOK_MAX_WORDS = 8
AD_CALL_MAX_WORDS = 3
_ACK = re.compile(rf"^(?:(?:{_fold_pattern('|'.join(lexicon.ACKNOWLEDGEMENTS))})[\s,.!]*)+$")
_THANKS_FOR_HELP = _words_regex([lexicon.THANKS_FOR_HELP])
_THANKS_ANY = _words_regex(p for pats in lexicon.THANKS.values() for p in pats)
_HYPOTHETICAL = _words_regex(lexicon.HYPOTHETICAL)
_CONTRAST = _words_regex(lexicon.CONTRAST)
_POSITIVE_EMOTICON = re.compile("|".join(rf"(?<!\S){re.escape(e)}(?!\w)" for e in lexicon.POSITIVE_EMOTICONS))
_NEGATIVE_EMOTICON = re.compile("|".join(rf"(?<!\S){re.escape(e)}(?!\w)" for e in lexicon.NEGATIVE_EMOTICONS))
_URGENCY = {
    signal: {lang: _words_regex(pats) for lang, pats in by_lang.items()}
    for signal, by_lang in lexicon.URGENCY.items()
}
_SENTENCES = re.compile(r"[^.!?\n;]+[.!?\n;]*")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
# four capitals and more: shouting, where three-letter words are mostly acronyms (USB, DSL, PIN)
_CAPS_WORD = re.compile(r"\b[A-ZÄÖÜ]{4,}\b")


def _langs(language: str) -> tuple[str, ...]:
    return ("de", "en") if language in ("de", "en") else ("de", "en", language)


def _question_score(folded: str, langs: tuple[str, ...]) -> _Score:
    # openers are looked for after the phrase cues are blanked: "wie geht das" counts once
    has_mark = "?" in folded
    score, folded = _QUESTION.score_and_mask(folded, langs)
    if has_mark:
        score.add(2, "?")
    openers = [_OPENERS[lang] for lang in langs if lang in _OPENERS]
    for sentence in _SENTENCES.findall(folded):
        # a comma clause may open the question ("Ich will das Abo kündigen, wie mache ich das?")
        clauses = sentence.split(",") if sentence.rstrip().endswith("?") else [sentence]
        for clause in clauses:
            clause = _PREFIX.sub("", clause.strip())
            if not clause or _NOT_OPENERS.match(clause):
                continue
            opener = next((m.group(0) for o in openers if (m := o.match(clause))), None)
            if opener is None:
                opener = _german_verb_first(clause)
            if opener:
                score.add(2, f"opens with '{opener}'")
                return score
    return score


def _german_verb_first(clause: str) -> str | None:
    """'Habt ihr ...', 'Geht das ...': a finite verb, then a subject pronoun, asks a yes/no question."""
    words = _WORD.findall(clause)
    if len(words) < 2:
        return None
    verb, subject = words[0], words[1]
    if verb in lexicon.GERMAN_NOT_VERBS or subject not in lexicon.GERMAN_SUBJECT_PRONOUNS:
        return None
    if len(words) > 2 and words[2] in lexicon.GERMAN_VOCATIVE_VERBS:
        return None  # "Lindenhain ich liebe euch": a name, then a feeling
    modal = verb in {"kann", "muss", "darf", "soll", "will", "mag", "weiss", "gibt's", "gibts"}
    if modal or re.search(r"(?:t|st|en|n|e)$", verb):
        return f"{verb} {subject}"
    return None


def _intensity(post: CleanPost) -> _Score:
    """Shouting: repeated or mixed punctuation, capitals, angry emoji."""
    score = _Score()
    if re.search(r"!{2,}", post.text):
        score.add(1, "!!")
    if re.search(r"\?!|!\?", post.text):
        score.add(1, "?!")
    elif re.search(r"\?{3,}", post.text):
        score.add(1, "???")
    if len(_CAPS_WORD.findall(post.text)) >= 3:
        score.add(1, "CAPITALS")
    if any(e in lexicon.ANGRY_EMOJI for e in post.emoji):
        score.add(1, "angry emoji")
    return score


def _sentiment(
    folded: str, post: CleanPost, complaint: _Score, thanks: int, rhetorical: int = 0, review: int = 0
) -> tuple[float, float, float]:
    """(score in [-1, 1], positive mass, negative mass)."""
    langs = ("de", "en")
    positive = 2.0 * rhetorical  # "can it get any better?" is as positive as "great"
    negative = 0.0
    counted: list[tuple[int, int]] = []  # a stretch of text counts once, for its strongest cue
    for weight, match in _NEGATIVE.matches(folded, langs):
        if any(match.start() < end and start < match.end() for start, end in counted):
            continue
        counted.append(match.span())
        before = _WORD.findall(folded[: match.start()])[-3:]
        if any(w in lexicon.NEVER for w in before) and not any(w in lexicon.SUCH for w in before):
            positive += weight  # "never had a bad one"; "never had such bad service" stays negative
        else:
            negative += weight
    for weight, match in _POSITIVE.matches(folded, langs):
        before = _WORD.findall(folded[: match.start()])[-3:]
        if any(w in lexicon.NEGATIONS or w.endswith("n't") for w in before) and not _asks_for_yes(
            folded, match.start()
        ):
            negative += weight  # "nicht gut", "not happy"
        else:
            positive += weight
    positive += thanks
    positive += 2.0 * review  # "10/10 would go again", blanked from `folded` before
    positive += min(1.5, 0.5 * sum(e in lexicon.POSITIVE_EMOJI for e in post.emoji))
    negative += min(1.5, 0.5 * sum(e in lexicon.NEGATIVE_EMOJI for e in post.emoji))
    positive += min(1.5, 0.5 * len(_POSITIVE_EMOTICON.findall(folded)))
    negative += min(1.5, 0.5 * len(_NEGATIVE_EMOTICON.findall(folded)))
    # problem reports are negative even without a negative word: each strong cue counts fully
    negative += complaint.strong + 0.2 * (len(complaint.cues) - complaint.strong)
    score = (positive - negative) / (positive + negative + 1.0)
    return round(score, 3), positive, negative


def _asks_for_yes(folded: str, start: int) -> bool:
    """'Passt der nicht perfekt in euren Flur?', "isn't it lovely?": a yes/no question with a negation
    expects a yes; its negation does not turn the word after it negative."""
    sentence_start = max(folded.rfind(c, 0, start) for c in ".!?;\n") + 1
    end = min((i for i in (folded.find(c, start) for c in ".!?;\n") if i >= 0), default=len(folded))
    if folded[end : end + 1] != "?":
        return False
    words = _WORD.findall(folded[sentence_start:start])
    return bool(words) and words[0] in lexicon.YES_QUESTION_VERBS


def _urgency(folded: str, langs: tuple[str, ...], author_recent_posts: int) -> tuple[list[str], list[str]]:
    signals: list[str] = []
    reasons: list[str] = []
    for signal, by_lang in _URGENCY.items():
        for lang in langs:
            regex = by_lang.get(lang)
            if regex is None:
                continue
            hit = next((m for m in regex.finditer(folded) if not _hypothetical(folded, m.start())), None)
            if hit:
                signals.append(signal)
                reasons.append(f"urgency {signal.replace('_', ' ')}: '{hit.group(0).strip()}'")
                break
    if author_recent_posts >= REPEAT_CONTACT_MIN_POSTS and "repeat_contact" not in signals:
        signals.append("repeat_contact")
        reasons.append(f"urgency repeat contact: {author_recent_posts} other posts in 48 h")
    return signals, reasons


def _hypothetical(folded: str, start: int) -> bool:
    """'ob gerade irgendwo Stromausfall ist', 'what if it catches fire': no event, a question about one."""
    clause = re.split(r"[.!?;\n]", folded[:start])[-1]
    return bool(_HYPOTHETICAL.search(" ".join(_WORD.findall(clause)[-6:])))


def _cue_list(score: _Score, limit: int = 3) -> str:
    return ", ".join(f"'{c}'" for c in score.cues[:limit])


def _marks(marks: tuple[str, ...], limit: int = 3) -> str:
    """Irony's marks for a reason: "'quick' in quotes, '🙃', 'na toll'"."""
    return ", ".join(m if m.endswith(" in quotes") else f"'{m}'" for m in marks[:limit])


@dataclass
class _Reading:
    """All scores of one text, before a decision."""

    question: _Score
    request: _Score
    complaint: _Score
    feedback: _Score
    spam: _Score
    thanks: int
    positive_words: float
    positive_mass: float  # positive words, thanks and emoji together
    contrast: bool
    sentiment_score: float
    addressed: bool
    service: bool
    automated: bool
    acknowledgement: bool
    automated_opener: bool = False
    auto_reply: bool = False  # an auto-reply that announces a closure (lexicon [auto_reply])
    rhetorical: tuple[str, ...] = ()
    pronoun_address: bool = False
    chit_chat: bool = False
    words: int = 0
    # thanks that only sign off a longer text ("Got 1 burger instead of 2. Thanks."): no praise
    sign_off_thanks: bool = False
    promotion: _Score = field(default_factory=_Score)
    # nothing but emoji (and handles, hashtags): "🔥🔥🔥 @brand"; none of them negative or angry
    emoji_only: bool = False
    # the strongest of question, request and complaint once an ad's hook and its own words are set aside
    beside_the_ad: float = 0.0
    # a review's verdict ("10/10 would go again"): praise of the brand without naming it
    review: bool = False
    # asks whether a message is genuine, or tells of one received: its spam words are quoted
    suspicious_message: bool = False
    # marks of irony beside thanks or praise ("danke für die 'schnelle' Hilfe 🙃"); empty when the thanks
    # or praise carries none, or only one that is as often sincere (`_irony`)
    irony: tuple[str, ...] = ()


def _blank_not_a_complaint(folded: str) -> str:
    """Blanks "kein Problem", "works again"...; not after a wish ("I want the problem resolved")."""
    return _NOT_A_COMPLAINT.sub(
        lambda m: m.group(0) if _wished(folded, m.start()) else " " * len(m.group(0)), folded
    )


def _spam_format(post: CleanPost) -> _Score:
    """Form that spam takes: shortened links, heaps of hashtags, emoji and money emoji."""
    score = _Score()
    if post.short_links:
        score.add(1, "link shortener")
    if post.hashtags >= 4:
        score.add(1, f"{post.hashtags} hashtags")
    if len(post.emoji) >= 5:
        score.add(1, f"{len(post.emoji)} emoji")
    if sum(e in lexicon.MONEY_EMOJI for e in post.emoji) >= 2:
        score.add(1, "money emoji")
    return score


def _blank_rhetorical(folded: str) -> tuple[str, list[str]]:
    """Blanks each sentence holding a rhetorical question of praise; returns the text and the cues."""
    found: list[str] = []

    def blank(sentence: re.Match[str]) -> str:
        if match := _RHETORICAL.search(sentence.group(0)):
            found.append(match.group(0).strip())
            return " " * len(sentence.group(0))
        if marvel := _marvel(sentence.group(0)):
            found.append(marvel)
            return " " * len(sentence.group(0))
        return sentence.group(0)

    original = folded
    folded = _SENTENCES.sub(blank, folded)
    # a question the poster answers at once ("Bester Support? Ihr!", "Gibt es was Schöneres? Glaube
    # nicht"): both sentences are the cue, also when the question was blanked as rhetorical above
    sentences = list(_SENTENCES.finditer(original))
    for question, answer in itertools.pairwise(sentences):
        q, a = question.group(0), answer.group(0)
        answered = _SELF_ANSWER.match(a.strip()) or _SELF_ANSWER_LEAD.match(a.strip())
        if q.rstrip().endswith("?") and not a.rstrip().endswith("?") and answered:
            if folded[question.start() : question.end()].strip():  # not yet counted as rhetorical
                found.append(f"{q.strip()} {a.strip()}")
            folded = (
                folded[: question.start()] + " " * (answer.end() - question.start()) + folded[answer.end() :]
            )
    return folded, found


def _marvel(sentence: str) -> str | None:
    """'Wie kann man nur so pünktlich sein?!', 'how is everything this soft???': a wh-question that
    marvels at a quality, without a negation; the decision still asks for a positive tone elsewhere."""
    if "?" not in sentence:
        return None
    clause = _PREFIX.sub("", sentence.strip())
    if not _MARVEL_OPENER.match(clause):
        return None
    match = _MARVEL.search(clause)
    if match is None or any(w in lexicon.NEGATIONS or w.endswith("n't") for w in _WORD.findall(clause)):
        return None
    return match.group(0)


def _thanks_at_the_end(folded: str, langs: tuple[str, ...]) -> bool:
    """Thanks in the last sentence: a sign-off. "Shoutout to @x for ..." opens a post of praise."""
    sentences = [m.group(0) for m in _SENTENCES.finditer(folded) if _WORD.search(m.group(0))]
    last = sentences[-1] if sentences else ""
    return any(_THANKS[lang].search(last) for lang in langs if lang in _THANKS)


def _beside_the_ad(folded: str, masked: str, langs: tuple[str, ...]) -> float:
    """What an ad asks or reports besides itself: `masked` is `folded` with its spam and promotion cues
    blanked. A question holding the ad's own words ("Want 5k real followers?") is set aside, and so are a
    short opening hook ("Stromanbieter zu teuer?") and a short call ("Interesse?"), unless the writer
    speaks of themself in it."""
    for index, sentence in enumerate(_SENTENCES.finditer(masked)):
        start, end = sentence.span()
        text = sentence.group(0)
        if _FIRST_PERSON.search(folded[start:end]):
            continue  # "ich habe beim Gewinnspiel mitgemacht, wann ...?" asks for the writer
        own_words = folded[start:end] != text
        words = len(_WORD.findall(text))
        asks = text.rstrip().endswith("?")
        # "Interesse?", "Wollt ihr Details?", "why wait??": an ad's closing call, wherever it stands
        if asks and (own_words or words <= AD_CALL_MAX_WORDS or (index < 2 and words <= HOOK_MAX_WORDS)):
            masked = masked[:start] + " " * (end - start) + masked[end:]
        elif own_words and not asks and not _ADDRESS.search(folded[start:end]):
            # the ad's own sentence names the pain it sells against ("We help with all the annoying
            # paperwork"): nobody reports a problem of their own in it, nor speaks to the brand
            masked = masked[:start] + " " * (end - start) + masked[end:]
    return max(
        _question_score(masked, langs).total,
        _REQUEST.score(masked, langs).total,
        _COMPLAINT.score(masked, langs).total,
    )


def _blank_crowd(folded: str) -> tuple[str, bool]:
    """Blanks a question to everyone about their evening ("Who's staying up for the meteor shower?")
    that names no problem and no product; True when one was found."""
    found = False

    def blank(sentence: re.Match[str]) -> str:
        nonlocal found
        text = sentence.group(0)
        crowd = "?" in text and _CROWD_QUESTION.search(text)
        if crowd and not _SERVICE.search(text) and not _COMPLAINT.score(text, ("de", "en")).total:
            found = True
            return " " * len(text)
        return text

    return _SENTENCES.sub(blank, folded), found


def _irony(post: CleanPost, negative: bool) -> tuple[str, ...]:
    """The marks of irony in a post whose thanks or praise carries them: scare quotes around a term
    ("the 'quick' refund"), 🙃 or 🙄, a mocking phrase ("na toll", "love that for me"). Thanks or a
    positive word must stand outside the quotes ("'spacious' means tiny" praises nothing). A quoted term
    that opens with a capital may be a name ("das Set 'Winterzauber'", "the 'Old Mill' branch") and
    some phrases are said sincerely as often ("really helpful"): those are marks only where something
    negative stands beside the praise (`negative`: a negative word or emoji, a complaint cue). Empty
    when nothing is ironic."""
    strong: list[str] = []
    weak: list[str] = []
    for match in _SCARE_QUOTE.finditer(post.text):
        term = next(group for group in match.groups() if group)
        (strong if term[0].islower() else weak).append(f"'{term}' in quotes")
    strong += [e for e in dict.fromkeys(post.emoji) if e in lexicon.IRONY_EMOJI]
    strong += [m.group(0).strip() for m in _IRONY.finditer(post.folded)]
    weak += [m.group(0).strip() for m in _IRONY_WEAK.finditer(post.folded)]
    if not strong and not (weak and negative):
        return ()
    # what carries the irony: thanks or praise outside the quoted terms
    outside = fold(_SCARE_QUOTE.sub(" ", post.text))
    if not _THANKS_ANY.search(outside) and not _POSITIVE.score(outside, ("de", "en")).total:
        return ()
    return tuple(strong + weak)


def _read(post: CleanPost, language: str) -> _Reading:
    langs = _langs(language)
    folded = _blank_not_a_complaint(post.folded)
    folded, rhetorical = _blank_rhetorical(folded)
    folded, crowd = _blank_crowd(folded)
    # a review's verdict counts as praise; "would go again" reports nothing wrong
    review = len(_REVIEW.findall(folded))
    folded = _REVIEW.sub(lambda m: " " * len(m.group(0)), folded)
    question = _question_score(folded, langs)
    request = _REQUEST.score(_THANKS_FOR_HELP.sub(lambda m: " " * len(m.group(0)), folded), langs)
    complaint = _COMPLAINT.score(folded, langs)
    intensity = _intensity(post)
    feedback = _FEEDBACK.score(folded, langs)
    spam, masked = _SPAM.score_and_mask(folded, ("any",))
    if spam.total:
        form = _spam_format(post)
        if post.links and not post.short_links:
            form.add(1, "link")
        for weight, cue in zip([1] * SPAM_FORMAT_MAX, form.cues, strict=False):
            spam.add(weight, cue)
    promotion, masked = _PROMOTION.score_and_mask(masked, ("any",))
    raw = fold(post.raw)  # hashtags keep their "#" here, and the post its first words
    disclosure = _AD_DISCLOSURE.search(raw)
    if disclosure:
        # weighs as a business voice, but is no strong cue: a customer who quotes a disclosed ad and
        # asks or complains about it ("hab über euren #werbung-Post bestellt, nix kam an") still asks
        promotion.add(2, disclosure.group(0).strip(), strong=False)
    offer = _OFFER_VOICE.search(masked)  # the text without the cues counted above
    if offer:
        promotion.add(2, offer.group(0).strip(" .!?:;"), strong=False)  # not strong, as the disclosure
    if promotion.total:
        if post.links or _DOMAIN.search(post.text):
            promotion.add(1, "link")
        elif post.hashtags >= 4:
            promotion.add(1, f"{post.hashtags} hashtags")
    beside_the_ad = 0.0
    if spam.total + promotion.total >= min(SPAM_THRESHOLD, PROMOTION_THRESHOLD):
        beside_the_ad = _beside_the_ad(folded, masked, langs)
    thanks = sum(len(_THANKS[lang].findall(folded)) for lang in langs if lang in _THANKS)
    positive = _POSITIVE.score(folded, ("de", "en")).total + 2.0 * review
    sentiment_score, positive_mass, negative_mass = _sentiment(
        folded, post, complaint, thanks, len(rhetorical), review
    )
    irony = _irony(post, negative_mass > 0)
    if complaint.total or sentiment_score < 0:
        for cue in intensity.cues:
            complaint.add(1, cue)
    bare = re.sub(r"[^\w\s']", " ", post.folded)
    bare = _THANKS_ANY.sub(" ", bare).strip()
    return _Reading(
        question=question,
        request=request,
        complaint=complaint,
        feedback=feedback,
        spam=spam,
        thanks=thanks,
        positive_words=positive,
        positive_mass=positive_mass,
        contrast=bool(_CONTRAST.search(folded)),
        sentiment_score=sentiment_score,
        addressed=post.handles > 0 or bool(_ADDRESS.search(folded)),
        service=bool(_SERVICE.search(folded)),
        automated=bool(_AUTOMATED.search(raw)) or bool(_AUTOMATED.search(post.folded)),
        acknowledgement=bool(_ACK.match(bare)) or (not bare and thanks > 0),
        automated_opener=bool(_AUTOMATED_OPENER.match(post.folded)),
        auto_reply=bool(_AUTO_REPLY.search(raw)),
        rhetorical=tuple(rhetorical),
        pronoun_address=bool(_ADDRESS.search(folded)),
        chit_chat=crowd or bool(_CHIT_CHAT.search(folded)),
        words=len(_WORD.findall(post.folded)),
        sign_off_thanks=thanks > 0
        and _thanks_at_the_end(folded, langs)
        and positive == 0
        and not any(e in lexicon.POSITIVE_EMOJI for e in post.emoji)
        and not _THANKS_FOR_HELP.search(folded)
        and len(_WORD.findall(post.folded)) > SIGN_OFF_MIN_WORDS,
        promotion=promotion,
        beside_the_ad=beside_the_ad,
        review=review > 0,
        suspicious_message=bool(_SUSPICIOUS_MESSAGE.search(post.folded)),
        irony=irony,
        emoji_only=bool(post.emoji)
        and not _WORD.findall(post.language_text)
        and not _DIGITS.search(post.text)
        and not any(e in lexicon.NEGATIVE_EMOJI or e in lexicon.ANGRY_EMOJI for e in post.emoji),
    )


def reply_features(post: CleanPost, language: str) -> tuple[float, ...]:
    """The rules' readings the reply model sees beside the embedding, each on a scale of about 0..1."""
    r = _read(post, language)
    return (
        min(r.question.total, 4) / 4,
        float("?" in post.text),
        min(r.request.total, 4) / 4,
        min(r.complaint.total, 4) / 4,
        min(r.feedback.total, 4) / 4,
        min(r.spam.total, 4) / 4,
        r.sentiment_score,
        min(r.positive_mass, 4) / 4,
        float(r.thanks > 0),
        float(r.addressed),
        float(r.service),
        min(r.words, 40) / 40,
        float(post.hashtags > 0),
        min(len(post.emoji), 5) / 5,
        float(post.links > 0),
        float(bool(_DIGITS.search(post.text))),
    )


def _sentiment_label(score: float) -> str:
    if score <= -SENTIMENT_THRESHOLD:
        return "negative"
    if score >= SENTIMENT_THRESHOLD:
        return "positive"
    return "neutral"


def _decide(r: _Reading, reply_to_praise: bool) -> tuple[str, bool | None, str]:
    """(intent, needs_reply or None when unsure, reason). The order of the checks is the policy."""
    q, rq, c, f, s = r.question, r.request, r.complaint, r.feedback, r.spam
    if r.automated:
        return "other", False, "no reply: automated post (an auto-reply or machine notice)"
    if r.auto_reply and c.strong == 0 and q.total < DECISIVE:
        # its "bitte"/"please" points the reader elsewhere ("please call 111"): no request to the brand
        return "other", False, "no reply: automated post (an auto-reply announcing a closure)"
    if r.automated_opener and c.strong == 0 and q.total < DECISIVE and rq.total < DECISIVE:
        return "other", False, "no reply: automated post (opens like a machine notice, asks nothing)"
    # spam that asks ("Willst du 10.000 Follower?") asks nothing beside its offer; a customer's question
    # with a spam word in it ("wann werden die Gewinner des Gewinnspiels benachrichtigt?") still asks
    overwhelming = s.total >= 2 * max(q.total, rq.total, c.total)
    # "Got this SMS: '... confirm your details within 24h' Is it really you?" quotes the spam it asks about
    quoted = r.suspicious_message
    if s.total >= SPAM_THRESHOLD and (r.beside_the_ad < DECISIVE or overwhelming) and not quoted:
        return "spam", False, f"no reply: spam ({_cue_list(s)})"
    ad = r.promotion
    beside = ad.strong or r.beside_the_ad < DECISIVE
    if ad.total + s.total >= PROMOTION_THRESHOLD and ad.total and beside and not quoted:
        return "spam", False, f"no reply: an advertisement for someone else ({_cue_list(ad)})"
    if c.total >= DECISIVE and c.total > q.total:
        return "complaint", True, f"needs reply: complaint ({_cue_list(c)})"
    if f.total >= DECISIVE and f.total >= max(q.total, rq.total):
        return "feedback", True, f"needs reply: feedback ({_cue_list(f)})"
    if q.total >= DECISIVE or rq.total >= DECISIVE:
        if q.total >= rq.total:
            return "question", True, f"needs reply: question ({_cue_list(q)})"
        return "request", True, f"needs reply: request ({_cue_list(rq)})"
    label = _sentiment_label(r.sentiment_score)
    # praise only when nothing else is said: "thanks, but ..." and "thx, can't log in" are not praise
    pure = c.total == 0 and not r.contrast and label != "negative"
    # without thanks, praise takes a strong positive word (or two mild ones) aimed at the brand
    warm = r.positive_words >= DECISIVE and label == "positive" and (r.addressed or r.service or r.review)
    if r.irony:
        # sarcastic thanks or praise ("danke für die 'schnelle' Hilfe", "really helpful 🙃") wraps a
        # complaint: never praise, never a resolved thanks
        return "complaint", True, f"needs reply: complaint in ironic thanks or praise ({_marks(r.irony)})"
    if pure and r.rhetorical and label == "positive":
        cue = f"a rhetorical question of praise ('{r.rhetorical[0]}')"
        if reply_to_praise:
            return "praise", True, f"needs reply: {cue}, and the brand replies to praise"
        return "praise", False, f"no reply: {cue}, nothing asked"
    if pure and ((r.thanks and not r.sign_off_thanks) or warm):
        if reply_to_praise:
            return "praise", True, "needs reply: praise, and the brand replies to praise"
        return "praise", False, "no reply: praise or thanks"
    if r.acknowledgement:
        return "other", False, "no reply: a short acknowledgement"
    if r.emoji_only:
        if label == "positive" and reply_to_praise:
            return "praise", True, "needs reply: emoji of praise, and the brand replies to praise"
        return ("praise" if label == "positive" else "other"), False, "no reply: only emoji, nothing said"
    # small talk needs clearly positive words ("Tolles Wetter heute ☀️"); one mild word is not enough
    if pure and r.positive_mass >= 1.5 and label == "positive" and not r.addressed and not r.service:
        return "other", False, "no reply: small talk, not about the brand"
    if c.total >= 1 and label == "negative":
        return "complaint", True, f"needs reply: complaint ({_cue_list(c)})"
    if r.chit_chat and q.total == 0 and rq.total == 0 and c.total == 0 and f.total == 0:
        return "other", False, "no reply: a greeting or wish to everyone, nothing asked"
    return "other", None, "needs reply: no clear intent, so a person should look"


def _resolved(
    post: CleanPost, reading: _Reading, language: str, reply_to_praise: bool, in_thread: bool
) -> tuple[str, bool, str] | None:
    """A post that says the problem is over ("hat sich erledigt", "never mind, found it"): no reply,
    unless what follows the first such cue asks or reports something. A weak cue (it works again, it
    arrived, I found it) also needs nothing asked or reported before it, and thanks, a positive tone or
    a thread it closes: "the parcel came today" alone is news, not a goodbye. None when the post says
    nothing of the kind."""
    matches = sorted(
        (m.start(), m.end(), weight, m.group(0).strip())
        for weight, m in _RESOLVED.matches(post.folded, _langs(language))
        if not _wished(post.folded, m.start())
    )
    if not matches:
        return None
    start, end, _, cue = matches[0]
    strongest = max(weight for *_, weight, _ in matches)
    rest = post.folded[end:]
    for other_start, other_end, *_ in matches[1:]:
        if other_start >= end:
            rest = rest[: other_start - end] + " " * (other_end - other_start) + rest[other_end - end :]
    rest_post = clean_post(rest)
    rest_intent, _, _ = _decide(_read(rest_post, language), reply_to_praise)
    # "Hat geklappt! Kofferraum war nicht richtig zu 🤦 Danke für die Hilfe!": the cause, then thanks
    explained = (
        rest_intent == "complaint"
        and "?" not in rest
        and not _CONTRAST.search(rest)
        and bool(_THANKS_ANY.search(rest))
    )
    if rest_intent in REPLY_INTENTS and not explained:
        return None
    if strongest < DECISIVE:
        if not (in_thread or reading.thanks or _sentiment_label(reading.sentiment_score) == "positive"):
            return None
        before, _, _ = _decide(_read(clean_post(post.folded[:start]), language), reply_to_praise)
        if before in REPLY_INTENTS:
            return None
    thanked = bool(_THANKS_ANY.search(post.folded))
    intent = "praise" if thanked else "other"
    needs_reply = thanked and reply_to_praise
    verdict_word = "needs reply" if needs_reply else "no reply"
    tail = ", and the brand replies to thanks" if needs_reply else ""
    return intent, needs_reply, f"{verdict_word}: the customer says it is solved ('{cue}'){tail}"


def _wished(folded: str, start: int) -> bool:
    """'I want the problem resolved', 'not working again': the two words before a cue make it none."""
    before = _WORD.findall(folded[:start])[-2:]
    return any(w in lexicon.NOT_RESOLVED_BEFORE or w.endswith("n't") for w in before)


def _name_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", fold(name))


def _same_name(handle: str, brand: str) -> bool:
    """'TeamYouTube' and '@YouTube', 'AskeBay' and '@eBay_UK': brands post under many handles, so a
    handle that shares a long enough piece with one of the brand's names counts as the brand's."""
    match = SequenceMatcher(None, handle, brand).find_longest_match(0, len(handle), 0, len(brand))
    return match.size >= max(4, int(0.6 * min(len(handle), len(brand))))


def _written_to_someone_else(post: CleanPost, brand_names: tuple[str, ...]) -> tuple[str, int] | None:
    """The handle a post opens with when it is another user's, not the brand's, and the brand is not
    tagged anywhere in it ("@mel_ontour sehen wir uns am Gate?"), with the number of handles it opens
    with; None otherwise, or when the brand's names are not known. A handle is the brand's when it holds
    one of its names (slug, name, handles)."""
    opening = _LEADING_MENTIONS.match(post.raw)
    keys = {key for key in map(_name_key, brand_names) if len(key) >= 3}
    if opening is None or not keys:
        return None
    for handle in _MENTION.findall(post.raw):
        key = _name_key(handle)
        if any(_same_name(key, brand) for brand in keys):
            return None
    first = _MENTION.findall(opening.group(1))
    return (f"@{first[0]}", len(first)) if first else None


def _between_users(post: CleanPost, r: _Reading, tagged: int) -> tuple[bool, bool]:
    """(speaks to a person, banter) in a post that opens with another user's handle: "du"/"wir",
    an imperative or a name for a friend ("schau mal", "mate"), two friends tagged or more; banter is
    laughter without a question or any complaint or request ("@jo lol this is literally your courier")."""
    laughing = bool(_BANTER.search(post.folded)) or any(e in lexicon.LAUGHING_EMOJI for e in post.emoji)
    banter = laughing and "?" not in post.text and r.complaint.total == 0 and r.request.total == 0
    person = bool(_PERSON_ADDRESS.search(post.folded) or _BETWEEN_USERS.search(post.folded)) or tagged >= 2
    return person or banter, banter


def _caption(post: CleanPost, r: _Reading) -> bool:
    """A few words with a picture's marks (emoji, hashtags, 'photo'), asking, reporting and telling the
    brand nothing: a caption or chit-chat."""
    if r.question.total or r.request.total or r.complaint.total or r.feedback.total or r.spam.total:
        return False
    # the words of the caption itself: a row of hashtags under a photo is no longer text
    words = len(_WORD.findall(post.language_text))
    if r.pronoun_address or r.sentiment_score < 0 or not 0 < words <= CAPTION_MAX_WORDS:
        return False
    if _LEADING_HANDLE.match(post.raw):
        return False  # "@brand ...": written to the brand, not a caption that tags it
    if _DIGITS.search(post.text) and not post.hashtags:
        return False  # "Order 4711", "RE 7 at 8:15": numbers are what care teams are asked about
    photo = any(e in lexicon.PHOTO_EMOJI or _picture_emoji(e) for e in post.emoji)
    return bool(post.hashtags or photo or _PHOTO_WORDS.search(post.folded))


def _picture_emoji(emoji: str) -> bool:
    """Emoji of things (food, places, nature, animals, transport) show what a photo shows; faces and
    hands say how someone feels, which is no caption ("so that's comforting 🙃")."""
    code = ord(emoji[0])
    return (
        0x1F300 <= code <= 0x1F43F
        or 0x1F680 <= code <= 0x1F6FF
        or 0x1F950 <= code <= 0x1F96F
        or 0x1F980 <= code <= 0x1F9AF
    ) and emoji not in lexicon.MONEY_EMOJI


def classify_post(
    post: CleanPost | str,
    language: str,
    *,
    thread_texts: tuple[str, ...] = (),
    author_recent_posts: int = 0,
    reply_to_praise: bool = False,
    nearest: NearestIntent | None = None,
    verdict: LLMVerdict | None = None,
    author_bot: bool = False,
    no_reply_chance: NoReplyChance | None = None,
    brand_names: tuple[str, ...] = (),
) -> Classification:
    """Classify one post; `language` is its detected language (lexicons of de and en always apply).

    `verdict` (the LLM's reading) is used only for a post that the rules and its thread leave open, in
    place of the nearest-example vote; like the vote, it never outweighs an urgency signal.
    `author_bot`: the helpdesk flags the account as a bot; nobody is there to answer.
    `no_reply_chance`: the trained reply model (`reply_model.py`), asked only about a post the rules
    leave open or call praise; it takes a reply away only from an open post that reports no number
    and signs off no report, and opens praise it reads as needing a reply (a configured LLM decides
    both). It is never asked about a question, request or complaint the rules found.
    `brand_names`: the brand's slug, name and social handles, to tell a post to another user from one
    to the brand."""
    if isinstance(post, str):
        post = clean_post(post)
    reading = _read(post, language)
    intent, needs_reply, reason = _decide(reading, reply_to_praise)
    if author_bot:
        intent, needs_reply, reason = "other", False, "no reply: the helpdesk flags the author as a bot"
    elif intent not in ("spam",) and not reading.automated:
        resolved = _resolved(post, reading, language, reply_to_praise, bool(thread_texts))
        if resolved is not None:
            intent, needs_reply, reason = resolved
    if needs_reply is not False and not thread_texts and intent in ("question", "other"):
        # a question between two users under the brand's post ("@mel sehen wir uns am Gate?"): they talk
        # to each other ("du", "wir"), not to the brand ("ihr"), and report nothing
        opening = _written_to_someone_else(post, brand_names)
        other, tagged = opening or ("", 0)
        person, banter = _between_users(post, reading, tagged) if opening else (False, False)
        quiet = (
            max(reading.complaint.total, reading.feedback.total, reading.request.total) < DECISIVE
            and _sentiment_label(reading.sentiment_score) != "negative"
        )
        # English "you" may be the brand under a handle we do not know: there, nothing of the service
        # either, unless it is banter (laughter, nothing asked, nothing wrong)
        english = language == "en" and not _GERMAN_PERSON.search(post.folded)
        quiet = quiet and not (english and reading.service and not banter)
        # "euer"/"eure" is the friend's household once the post speaks to one person ("schau mal", "du")
        singular = bool(_GERMAN_PERSON.search(post.folded) or _BETWEEN_USERS.search(post.folded))
        # "wie geht's ihr?" asks after her, not the brand ("ihr")
        spoken = _BETWEEN_USERS.sub(lambda m: " " * len(m.group(0)), post.folded)
        brand = bool(_BRAND_ADDRESS.search(spoken)) or (
            not singular and bool(_BRAND_POSSESSIVE.search(spoken))
        )
        if opening and quiet and person and not brand:
            intent, needs_reply = "other", False
            reason = f"no reply: written to {other}, another user, not to the brand"
    reasons: list[str] = []
    decided_by = "rules"
    if needs_reply is None and thread_texts:
        # "Order 4711" or "still nothing" mean something only after the earlier posts of the thread
        context = clean_post(" \n".join((*thread_texts[-3:], post.raw)))
        ctx_intent, _, ctx_reason = _decide(_read(context, language), reply_to_praise)
        if ctx_intent in REPLY_INTENTS:
            intent, needs_reply = ctx_intent, True
            reason = f"{ctx_reason}, read with the thread"
    chance: float | None = None
    model_says_no = False
    if no_reply_chance is not None and not thread_texts and not author_bot and not reading.automated:
        praise = intent == "praise" and needs_reply is False and reason == "no reply: praise or thanks"
        # not for what may be a report of the writer's own: thanks that sign off a text, a number (an
        # order, a day count), the writer speaking of themself ("someone signed into my account, that's
        # comforting"), or words to the brand ("u guys r so funny"). Measured: at 0.86-0.98 the model
        # read such sarcasm and rants on twitter-cdp dev as small talk.
        reported = (
            reading.sign_off_thanks
            or bool(_DIGITS.search(post.text))
            or reading.pronoun_address
            or bool(_FIRST_PERSON.search(post.folded))
        )
        weak_question = (
            MODEL_QUESTION_SURE is not None
            and intent == "question"
            and needs_reply is True
            and reason.startswith("needs reply: question")
            and reading.question.total <= DECISIVE
            and reading.request.total == 0
            and reading.complaint.total == 0
            and reading.feedback.total == 0
            and not reported
        )
        open_reported = (
            MODEL_OPEN_REPORTED_SURE is not None
            and needs_reply is None
            and reported
            and not reading.sign_off_thanks
        )
        if (needs_reply is None and not reported) or praise or weak_question or open_reported:
            chance = no_reply_chance(None)
        if chance is not None and weak_question and MODEL_QUESTION_SURE is not None:
            if chance >= MODEL_QUESTION_SURE:
                # soft: left open for a configured LLM, and otherwise taken by the model below
                intent, needs_reply = "other", None
                model_says_no = True
                reason = f"no reply: reads like promotion or praise, not a question (model {chance:.2f})"
        elif chance is not None and needs_reply is None:
            sure = MODEL_OPEN_REPORTED_SURE if open_reported else MODEL_SURE
            model_says_no = sure is not None and chance >= sure
        elif chance is not None and praise and chance <= MODEL_GIVE_BACK:
            # praise that reads like a complaint or a question (sarcasm, a report signed off kindly)
            intent, needs_reply, decided_by = "other", None, "rules+embedding"
            reason = f"needs reply: reads like a post that needs one (model {chance:.2f}), though it thanks"
    uncertain = needs_reply is None
    if needs_reply is None and verdict is not None and verdict.intent in INTENTS:
        decided_by = "llm"
        intent = verdict.intent
        if intent in REPLY_INTENTS:
            needs_reply = True  # a question the LLM recognises is a question, whatever it says
        elif intent == "praise":
            needs_reply = reply_to_praise  # the brand's policy, not the LLM's taste
        elif intent == "spam":
            needs_reply = False
        else:
            needs_reply = verdict.needs_reply
        verdict_word = "needs reply" if needs_reply else "no reply"
        reason = f"{verdict_word}: {intent}, decided by the LLM ({verdict.reason[:120]})"
    if needs_reply is None and not thread_texts and _caption(post, reading):
        # soft: the post stays `uncertain`, so a configured LLM is asked and decides instead
        needs_reply = False
        reason = "no reply: a caption or chit-chat, nothing asked, reported or said to the brand"
    if needs_reply is None and model_says_no and chance is not None:
        # soft, as the caption rule: the post stays `uncertain`, so a configured LLM decides instead
        needs_reply = False
        decided_by = "rules+embedding"  # the model reads the post's embedding
        if intent == "other" and reading.sentiment_score >= SENTIMENT_THRESHOLD:
            intent = "praise"
        if not reason.startswith("no reply: reads like"):
            reason = f"no reply: reads like a post that needs none (model {chance:.2f})"
    if needs_reply is None and nearest is not None and post.text:
        vote = nearest(post.text)
        if (
            vote is not None
            and vote.intent in ("praise", "spam")
            and vote.similarity < NO_REPLY_MIN_SIMILARITY
        ):
            vote = None
        if vote is not None:
            decided_by = "rules+embedding"
            intent = vote.intent
            if intent in ("praise", "spam"):
                needs_reply = intent == "praise" and reply_to_praise
                verdict_word = "needs reply" if needs_reply else "no reply"
            else:
                verdict_word = "needs reply"
            reason = (
                f"{verdict_word}: {intent}, like the example '{vote.example[:60]}'"
                f" (similarity {vote.similarity:.2f}, {vote.share:.0%} of neighbours)"
            )
    if needs_reply is None:
        needs_reply = True
    reasons.append(reason)
    score = reading.sentiment_score
    reasons.append(f"sentiment {_sentiment_label(score)} ({score:+.2f})")
    urgency: list[str] = []
    # an auto-reply's "for emergencies call ..." is its notice, not a customer's danger
    notice = reading.automated or (reading.auto_reply and needs_reply is False)
    if intent != "spam" and not notice and not author_bot:
        urgency, urgency_reasons = _urgency(
            _blank_not_a_complaint(post.folded), _langs(language), author_recent_posts
        )
        if urgency and not needs_reply:
            # danger, outages and threats are never small talk, however friendly the words around them
            needs_reply = True
            intent = "complaint" if intent in ("praise", "other") else intent
            reasons[0] = f"needs reply: {urgency[0].replace('_', ' ')} outweighs '{reason}'"
        reasons.extend(urgency_reasons)
    return Classification(
        needs_reply=needs_reply,
        intent=intent,
        sentiment=_sentiment_label(score),
        sentiment_score=score,
        urgency=tuple(urgency),
        reasons=tuple(reasons),
        decided_by=decided_by,
        uncertain=uncertain,
    )
