"""Influence and priority: the formulas documented in service/triage/priority.py, end to end."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest

from service.triage import BrandPolicy, TriageInput, Triager
from service.triage.priority import (
    CHANNEL_WEIGHTS,
    decide_priority,
    format_followers,
    influence_score,
    priority_points,
)

RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
NOW = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)  # Monday noon in Berlin


def test_influence_is_monotone_in_followers_and_bounded() -> None:
    followers = [0, 1, 5, 10, 99, 100, 1_000, 48_000, 250_000, 999_999, 1_000_000, 50_000_000]
    for channel in ("twitter", "facebook", "forum", "email", "somewhere-new"):
        for verified in (False, True):
            scores = [influence_score(f, verified, channel) for f in followers]
            assert scores == sorted(scores), (channel, verified)
            assert all(0.0 <= s <= 1.0 for s in scores)
    # strictly rising below the cap, flat above it
    plain = [influence_score(f, False, "twitter") for f in followers]
    assert all(a < b for a, b in itertools.pairwise(plain[:9]))  # 0 .. 250k followers
    assert plain[9:] == [1.0, 1.0, 1.0]  # a million and more


def test_influence_formula_values() -> None:
    assert influence_score(0, False, "twitter") == 0.0
    assert influence_score(None, False, "twitter") == 0.0
    assert influence_score(999, False, "twitter") == pytest.approx(0.5, abs=1e-4)
    assert influence_score(48_000, False, "twitter") == pytest.approx(math.log10(48_001) / 6, abs=1e-4)
    assert influence_score(48_000, True, "twitter") == pytest.approx(math.log10(48_001) / 6 + 0.2, abs=1e-4)
    assert influence_score(48_000, False, "forum") == pytest.approx(0.5 * math.log10(48_001) / 6, abs=1e-4)
    assert influence_score(0, True, "instagram") == pytest.approx(0.2)


def test_public_channels_outweigh_forums_and_private_ones() -> None:
    def on(channel: str) -> float:
        return influence_score(10_000, False, channel)

    assert on("twitter") == on("instagram") > on("facebook") > on("forum") > on("email")
    assert on("Twitter ") == on("twitter")  # channel names are normalised
    assert on("unheard-of") == pytest.approx(0.6 * on("twitter"), abs=1e-4)
    assert CHANNEL_WEIGHTS["email"] < CHANNEL_WEIGHTS["forum"] < CHANNEL_WEIGHTS["twitter"]


def test_high_influence_negative_complaint_outranks_low_influence_question_by_the_formula() -> None:
    big = influence_score(48_000, False, "twitter")
    small = influence_score(200, False, "twitter")
    # complaint 3 + negative 1 + round(3 * 0.78) = 2  -> 6 -> high
    assert priority_points("complaint", "negative", -0.5, big, ()) == 3 + 1 + 2
    # question 2 + neutral 0 + round(3 * 0.38) = 1    -> 3 -> normal
    assert priority_points("question", "neutral", 0.0, small, ()) == 2 + 0 + 1
    complaint = decide_priority(
        needs_reply=True,
        intent="complaint",
        sentiment="negative",
        sentiment_score=-0.5,
        influence=big,
        urgency=(),
        followers=48_000,
    )
    question = decide_priority(
        needs_reply=True,
        intent="question",
        sentiment="neutral",
        sentiment_score=0.0,
        influence=small,
        urgency=(),
        followers=200,
    )
    assert (complaint.level, question.level) == ("high", "normal")
    assert complaint.reason == "complaint, negative, 48k followers: high (6 points)"
    assert question.reason == "question, neutral, 200 followers: normal (3 points)"


def _angry_complaint(urgency: tuple[str, ...]) -> str:
    return decide_priority(
        needs_reply=True,
        intent="complaint",
        sentiment="negative",
        sentiment_score=-0.8,
        influence=0.0,
        urgency=urgency,
        followers=0,
    ).level


def test_urgency_points_and_thresholds() -> None:
    # strongly negative complaint, 0 followers, outage + legal threat: 3 + 2 + 0 + 3 + 3 = 11 -> urgent
    assert priority_points("complaint", "negative", -0.8, 0.0, ("outage", "legal_threat")) == 11
    assert _angry_complaint(("outage", "legal_threat")) == "urgent"
    # repeat contact lifts a plain, strongly negative complaint (3 + 2 = 5, normal) to high (7)
    assert _angry_complaint(()) == "normal"
    assert _angry_complaint(("repeat_contact",)) == "high"


def test_safety_is_urgent_and_no_reply_is_low() -> None:
    safety = decide_priority(
        needs_reply=True,
        intent="question",
        sentiment="neutral",
        sentiment_score=0.0,
        influence=0.0,
        urgency=("safety",),
        followers=3,
    )
    assert safety.level == "urgent"
    assert "safety" in safety.reason
    praise = decide_priority(
        needs_reply=False,
        intent="praise",
        sentiment="positive",
        sentiment_score=0.9,
        influence=1.0,
        urgency=(),
        followers=2_000_000,
    )
    assert praise.level == "low"
    assert praise.reason.endswith("low (no reply needed)")


def test_follower_formatting() -> None:
    assert format_followers(None) == "followers unknown"
    assert format_followers(1) == "1 follower"
    assert format_followers(999) == "999 followers"
    assert format_followers(18_500) == "18.5k followers"
    assert format_followers(48_000) == "48k followers"
    assert format_followers(1_250_000) == "1.2M followers"


def test_triager_orders_and_dates_by_priority() -> None:
    policy = BrandPolicy(
        language="en",
        timezone="Europe/Berlin",
        business_hours={day: [["08:00", "20:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    )
    triager = Triager()
    complaint = triager.triage(
        TriageInput(
            text="@Acme my order arrived broken. Terrible service!",
            channel="twitter",
            created_at=NOW,
            author_followers=48_000,
        ),
        policy,
    )
    question = triager.triage(
        TriageInput(
            text="@Acme do you deliver on Saturdays?", channel="twitter", created_at=NOW, author_followers=200
        ),
        policy,
    )
    assert (complaint.intent, complaint.sentiment, question.intent) == ("complaint", "negative", "question")
    assert RANK[complaint.priority] > RANK[question.priority]
    assert complaint.due_at < question.due_at
    # 12:00 Berlin + 240 business minutes (high) = 16:00 Berlin = 14:00 UTC
    assert complaint.priority == "high"
    assert complaint.due_at == NOW + timedelta(hours=4)
    assert any(r.startswith("priority: complaint, negative, 48k followers: high") for r in complaint.reasons)
