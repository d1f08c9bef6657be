"""Triage of incoming posts: needs a reply?, intent, sentiment, language, urgency, priority and due time.

Pure, synchronous and deterministic (given the same embedder); the service calls `Triager.triage` from a
worker thread. Bump TRIAGE_VERSION whenever a rule, lexicon, weight or example changes, so stored
results can be told apart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from service.triage.classify import NearestVote, classify_post
from service.triage.hours import add_business_minutes
from service.triage.language import detect_language
from service.triage.models import BrandPolicy, LLMVerdict, TriageInput, TriageResult
from service.triage.nearest import IntentExample, NearestIntent
from service.triage.priority import decide_priority, influence_score
from service.triage.reply_model import ReplyModel
from service.triage.text import clean_post

__all__ = ["TRIAGE_VERSION", "BrandPolicy", "LLMVerdict", "TriageInput", "TriageResult", "Triager"]

# 1.1.0: urgent posts due in wall-clock minutes; the LLM's verdict for posts the rules leave open
# 1.2.0: no reply for bot-flagged authors, auto-replies, solved problems, rhetorical praise, captions;
#        wider spam (follower selling, crypto, strangers' offers, shorteners, hashtags)
# 1.3.0: questions of praise the poster answers at once, regret of not coming sooner, sarcastic love
#        of paying or waiting; the trained reply model (reply_model.py, off unless asked for)
# 1.4.0: someone else's adverts (hook questions, calls to action, offers, links), marvelling questions
#        of praise, crowd questions, posts between two users (BrandPolicy.names), dated out-of-office
#        notes, deal and news feeds, wrong-item complaints signed off with thanks
# 1.5.0: phishing and income-claim spam (a quoted message a customer asks about stays a question),
#        craft and shop adverts (prices, free slots, calls to come by, write or book), sarcastic thanks
#        after a report (broken in everyday words, a promise in scare quotes, the staff's shrug),
#        posts between users (imperatives, a friend's name, tagged friends, banter), a review's verdict,
#        doubting self-answers, how-do-you-do-it praise, "never had a bad one"
# 1.6.0: ironic thanks or praise is a complaint: scare quotes around a term, 🙃 or 🙄, mocking phrases
#        (lexicon [irony]; a capitalised quoted term or an often sincere phrase only beside a negative)
# 1.7.0: an ad's disclosure tag (#anzeige, #werbung, #ad: lost its "#" before matching) and offers to
#        everyone ("bekommt ihr 15 %", "£20 off your first box") mark an ad; prices of more than one digit
#        match; auto-replies that announce a closure are automated (lexicon [auto_reply]); prizes
#        nobody entered for ("du wurdest heute als einer von 10 Gewinnern ausgewählt", "claim yours here");
#        a business offering its service ("Wir reparieren ...", "I'm a qualified tutor", lexicon
#        [offer_voice]) is a business voice that is no strong cue: beside a question or report it keeps
#        the reply (so does "Ich bin Fotografin und ..." now, which was strong before); thanks for a cost
#        or a wait ("cheers for the £40 cancellation fee") and thanks that something happened without a
#        word to anyone ("danke, dass der Kurs einfach ausfällt und keiner Bescheid sagt") are ironic
TRIAGE_VERSION = "1.7.0"

logger = logging.getLogger(__name__)


class Triager:
    """One per process. `embed` (normalised rows, e.g. the service embedder's `encode`) is optional:
    without it every decision comes from the rules."""

    def __init__(
        self,
        embed: Callable[[list[str]], np.ndarray] | None = None,
        *,
        examples: list[IntentExample] | None = None,
        reply_examples: list[tuple[str, str, bool]] | None = None,
        reply_model: bool | ReplyModel = False,
    ) -> None:
        # examples: the labelled posts for the nearest-neighbour vote; default data/intent_examples.jsonl
        self._nearest = NearestIntent(embed, examples) if embed is not None else None
        # the trained reply model (reply_model.py), for posts the rules leave open or call praise: True
        # fits one over `embed`; the service passes the process's shared one over the multilingual model
        # (reply_model.shared_reply_model), which embeds the post itself
        self._reply_model: ReplyModel | None = None
        self._reply_embeds_itself = isinstance(reply_model, ReplyModel)
        if isinstance(reply_model, ReplyModel):
            self._reply_model = reply_model
        elif reply_model and embed is not None:
            self._reply_model = ReplyModel(embed, reply_examples)

    def _nearest_vote(self, text: str, vector: np.ndarray | None) -> NearestVote | None:
        assert self._nearest is not None
        try:
            return self._nearest(text) if vector is None else self._nearest.vote(vector)
        except Exception:
            # the vote only refines posts the rules could not place; triage must not fail for it
            logger.warning("nearest-example vote failed; deciding by rules alone", exc_info=True)
            return None

    def _no_reply_chance(self, raw: str, language: str, vector: np.ndarray | None) -> float | None:
        assert self._reply_model is not None
        try:
            return self._reply_model.no_reply_probability(raw, language, vector)
        except Exception:
            logger.warning("reply model failed; deciding by rules alone", exc_info=True)
            return None

    def triage(
        self,
        inp: TriageInput,
        policy: BrandPolicy,
        *,
        verdict: LLMVerdict | None = None,
        vector: np.ndarray | None = None,
    ) -> TriageResult:
        """`verdict`: the LLM's reading, used only when the rules and the thread leave the post open
        (`TriageResult.uncertain`); the caller asks the LLM after a first pass without it. `vector`: the
        post's embedding by the triager's model, when the caller has it (else the vote embeds the text)."""
        post = clean_post(inp.text)
        guess = detect_language(inp.text, policy.language)
        if guess.source == "brand default" and inp.thread_texts:
            # "ok, merci" alone says little; the thread it answers says more
            guess = detect_language(" ".join((*inp.thread_texts[-3:], inp.text)), policy.language)
        found = classify_post(
            post,
            guess.language,
            thread_texts=inp.thread_texts,
            author_recent_posts=inp.author_recent_posts,
            reply_to_praise=policy.reply_to_praise,
            nearest=(lambda text: self._nearest_vote(text, vector)) if self._nearest is not None else None,
            verdict=verdict,
            author_bot=inp.author_bot,
            brand_names=policy.names,
            no_reply_chance=(
                (
                    lambda part: self._no_reply_chance(
                        inp.text if part is None else part,
                        guess.language,
                        vector if part is None and not self._reply_embeds_itself else None,
                    )
                )
                if self._reply_model is not None
                else None
            ),
        )
        influence = influence_score(inp.author_followers, inp.author_verified, inp.channel)
        priority = decide_priority(
            needs_reply=found.needs_reply,
            intent=found.intent,
            sentiment=found.sentiment,
            sentiment_score=found.sentiment_score,
            influence=influence,
            urgency=found.urgency,
            followers=inp.author_followers,
            verified=inp.author_verified,
        )
        sla = policy.sla_minutes[priority.level]
        # urgent posts (danger, outages with threats...) cannot wait for the morning: see priority.py
        around_the_clock = policy.business_hours is None or (
            priority.level == "urgent" and policy.urgent_around_the_clock
        )
        due_at = add_business_minutes(
            inp.created_at,
            sla,
            policy.timezone,
            None if around_the_clock else policy.business_hours,
            policy.holidays,
        )
        language_note = (
            f"language {guess.language} ({guess.confidence:.2f})"
            if guess.source == "detected"
            else f"language {guess.language}: the brand's, the text is too short or unclear"
        )
        if policy.business_hours is None:
            hours_note = "around the clock"
        elif around_the_clock:
            hours_note = "around the clock (urgent: the clock does not stop at closing time)"
        else:
            hours_note = "in business hours"
        reasons = (
            *found.reasons,
            language_note,
            f"priority: {priority.reason}",
            f"due within {sla} minutes {hours_note}",
        )
        return TriageResult(
            needs_reply=found.needs_reply,
            intent=found.intent,
            sentiment=found.sentiment,
            sentiment_score=found.sentiment_score,
            language=guess.language,
            influence=influence,
            urgency=found.urgency,
            priority=priority.level,
            due_at=due_at,
            reasons=reasons,
            decided_by=found.decided_by,
            version=TRIAGE_VERSION,
            uncertain=found.uncertain,
            policy_version=policy.version,
            llm=verdict if found.decided_by == "llm" else None,
        )
