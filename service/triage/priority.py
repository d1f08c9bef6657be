"""Influence of a post's author and the reply priority that follows from intent, mood, reach and urgency.

Influence, in [0, 1]:

    reach     = min(1, log10(1 + followers) / 6)        0 -> 0, 1k -> 0.50, 48k -> 0.78, 1M and up -> 1
    reach     = min(1, reach + 0.2) if verified
    influence = reach * CHANNEL_WEIGHTS[channel]         public feeds 1.0 ... private e-mail/chat 0.2

Unknown followers count as 0; an unknown channel weighs 0.6. Influence never falls as followers rise.

Priority points:

    intent       complaint 3, question 2, request 2, feedback 1, other 1, praise 0, spam 0
    sentiment    negative +1; strongly negative (score <= -0.6) +2
    influence    round(3 * influence)                                   0 .. 3
    urgency      outage +3, legal_threat +3, cancellation_threat +2,
                 public_escalation +2, repeat_contact +2                 (each, summed)

    urgent >= 9 > high >= 6 > normal >= 2 > low

A safety signal is always urgent, whatever the points. A post that needs no reply is always low.

Due time: the brand's SLA minutes for the level, counted in business hours (hours.py): a question at
night is due the morning after. Urgent posts are the exception: their minutes are wall-clock minutes,
nights, weekends and holidays included (BrandPolicy.urgent_around_the_clock, on by default; brand
setting `urgent_around_the_clock`). A customer reporting a gas smell or a burning charger at 23:00
must not wait for the 08:00 opening, and a team that promises an urgent SLA keeps someone on call; a
brand with nobody on call can switch it off, and urgent posts then wait for opening like the rest.
Example: a negative complaint from a Twitter account with 48k followers scores 3 + 1 + 2 = 6 -> high;
a neutral question from an account with 200 followers scores 2 + 0 + 1 = 3 -> normal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CHANNEL_WEIGHTS: dict[str, float] = {
    # public feeds: everyone following the author sees how the brand treats them
    "twitter": 1.0,
    "x": 1.0,
    "instagram": 1.0,
    "tiktok": 1.0,
    "youtube": 1.0,
    "facebook": 0.9,
    "threads": 0.9,
    "bluesky": 0.9,
    "mastodon": 0.9,
    "linkedin": 0.8,
    "reddit": 0.8,
    "trustpilot": 0.8,
    "google_reviews": 0.8,
    "review": 0.8,
    # communities: public, but a small audience that rarely follows the author
    "forum": 0.5,
    "community": 0.5,
    # private: the author is the only reader
    "email": 0.2,
    "chat": 0.2,
    "dm": 0.2,
    "whatsapp": 0.2,
    "sms": 0.2,
}
UNKNOWN_CHANNEL_WEIGHT = 0.6
FOLLOWERS_FOR_FULL_REACH = 1_000_000  # log10 of it is the 6 in the formula
VERIFIED_BONUS = 0.2

INTENT_POINTS = {
    "complaint": 3,
    "question": 2,
    "request": 2,
    "feedback": 1,
    "other": 1,
    "praise": 0,
    "spam": 0,
}
NEGATIVE_POINTS = 1
STRONGLY_NEGATIVE_POINTS = 2
STRONGLY_NEGATIVE_SCORE = -0.6
INFLUENCE_POINTS = 3
URGENCY_POINTS = {
    "outage": 3,
    "legal_threat": 3,
    "cancellation_threat": 2,
    "public_escalation": 2,
    "repeat_contact": 2,
}
THRESHOLDS = (("urgent", 9), ("high", 6), ("normal", 2))


def influence_score(followers: int | None, verified: bool, channel: str) -> float:
    """The author's reach on this channel, in [0, 1]; see the module docstring for the formula."""
    reach = min(1.0, math.log10(1 + max(followers or 0, 0)) / math.log10(FOLLOWERS_FOR_FULL_REACH))
    if verified:
        reach = min(1.0, reach + VERIFIED_BONUS)
    weight = CHANNEL_WEIGHTS.get(channel.strip().lower(), UNKNOWN_CHANNEL_WEIGHT)
    return round(reach * weight, 4)


@dataclass(frozen=True)
class Priority:
    level: str
    points: int
    reason: str


def format_followers(followers: int | None) -> str:
    if followers is None:
        return "followers unknown"
    if followers >= 1_000_000:
        return f"{followers / 1_000_000:.1f}".rstrip("0").rstrip(".") + "M followers"
    if followers >= 1_000:
        return f"{followers / 1_000:.1f}".rstrip("0").rstrip(".") + "k followers"
    return f"{followers} follower" + ("" if followers == 1 else "s")


def priority_points(
    intent: str, sentiment: str, sentiment_score: float, influence: float, urgency: tuple[str, ...]
) -> int:
    points = INTENT_POINTS.get(intent, INTENT_POINTS["other"])
    if sentiment == "negative":
        points += STRONGLY_NEGATIVE_POINTS if sentiment_score <= STRONGLY_NEGATIVE_SCORE else NEGATIVE_POINTS
    points += round(INFLUENCE_POINTS * influence)
    points += sum(URGENCY_POINTS.get(signal, 0) for signal in urgency)
    return points


def decide_priority(
    *,
    needs_reply: bool,
    intent: str,
    sentiment: str,
    sentiment_score: float,
    influence: float,
    urgency: tuple[str, ...],
    followers: int | None,
    verified: bool = False,
) -> Priority:
    points = priority_points(intent, sentiment, sentiment_score, influence, urgency)
    if not needs_reply:
        level = "low"
    elif "safety" in urgency:
        level = "urgent"
    else:
        level = next((name for name, minimum in THRESHOLDS if points >= minimum), "low")
    parts = [intent, sentiment, format_followers(followers)]
    if verified:
        parts.append("verified")
    parts.extend(signal.replace("_", " ") for signal in urgency)
    note = "no reply needed" if not needs_reply else "safety" if "safety" in urgency else f"{points} points"
    return Priority(level=level, points=points, reason=f"{', '.join(parts)}: {level} ({note})")
