"""Triage inputs, brand policy and results: plain frozen dataclasses, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from service.triage.hours import parse_business_hours

INTENTS = ("question", "complaint", "request", "praise", "feedback", "spam", "other")
SENTIMENTS = ("negative", "neutral", "positive")
PRIORITIES = ("urgent", "high", "normal", "low")
URGENCY_SIGNALS = (
    "safety",
    "outage",
    "legal_threat",
    "cancellation_threat",
    "repeat_contact",
    "public_escalation",
)

DEFAULT_SLA_MINUTES: dict[str, int] = {"urgent": 60, "high": 240, "normal": 720, "low": 2880}

# {"mon": [["08:00", "20:00"]], ...}: local times in the brand's timezone. None means open 24/7;
# a dict without a weekday means closed on that day.
BusinessHours = dict[str, list[list[str]]]


@dataclass(frozen=True)
class TriageInput:
    """One incoming post with what we know about its author and thread."""

    text: str
    channel: str
    created_at: datetime
    author_followers: int | None = None
    author_verified: bool = False
    # earlier posts of the same in_reply_to chain, oldest first
    thread_texts: tuple[str, ...] = ()
    # other posts by the same author to the brand in the last 48 h
    author_recent_posts: int = 0
    # the helpdesk flags the account as a bot (author.bot): its posts get no reply
    author_bot: bool = False

    def __post_init__(self) -> None:
        if self.created_at.tzinfo is None or self.created_at.utcoffset() is None:
            raise ValueError("created_at must be timezone-aware")
        if self.author_followers is not None and self.author_followers < 0:
            raise ValueError("author_followers must be >= 0")
        if self.author_recent_posts < 0:
            raise ValueError("author_recent_posts must be >= 0")


@dataclass(frozen=True)
class BrandPolicy:
    """What a brand decides about replies: its language, opening hours and reply deadlines."""

    language: str
    timezone: str
    business_hours: BusinessHours | None = None
    holidays: tuple[date, ...] = ()
    sla_minutes: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_SLA_MINUTES))
    reply_to_praise: bool = False
    # the brand's slug, name and social handles: a post that opens with another user's handle is theirs
    names: tuple[str, ...] = ()
    # urgent posts (safety, or enough points) are due in wall-clock minutes, nights and holidays included
    urgent_around_the_clock: bool = True
    # the brand's policy version, stored with each result so re-triage knows what is stale
    version: int = 0

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {self.timezone!r}") from exc
        missing = [p for p in PRIORITIES if p not in self.sla_minutes]
        if missing:
            raise ValueError(f"sla_minutes lacks {', '.join(missing)}")
        if any(m < 0 for m in self.sla_minutes.values()):
            raise ValueError("sla_minutes must be >= 0")
        if self.business_hours is not None:
            # fail when the policy is made, not at the first post: bad times, no open hours at all
            parse_business_hours(self.business_hours)


@dataclass(frozen=True)
class LLMVerdict:
    """What the LLM said about a post the rules could not place."""

    intent: str
    needs_reply: bool
    reason: str
    model: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "needs_reply": self.needs_reply,
            "reason": self.reason,
            "model": self.model,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LLMVerdict:
        return cls(
            intent=str(data["intent"]),
            needs_reply=bool(data["needs_reply"]),
            reason=str(data.get("reason", "")),
            model=str(data.get("model", "")),
        )


@dataclass(frozen=True)
class TriageResult:
    """The triage decision for one post; `reasons` are sentences a care agent can read."""

    needs_reply: bool
    intent: str
    sentiment: str
    sentiment_score: float
    language: str
    influence: float
    urgency: tuple[str, ...]
    priority: str
    due_at: datetime
    reasons: tuple[str, ...]
    decided_by: str  # "rules", "rules+embedding" or "llm"
    version: str
    # the rules alone (and the thread) could not place the post: where an LLM, if configured, decides
    uncertain: bool = False
    policy_version: int = 0
    llm: LLMVerdict | None = None

    def to_dict(self) -> dict[str, Any]:
        due = self.due_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return {
            "needs_reply": self.needs_reply,
            "intent": self.intent,
            "sentiment": self.sentiment,
            "sentiment_score": round(self.sentiment_score, 3),
            "language": self.language,
            "influence": round(self.influence, 3),
            "urgency": list(self.urgency),
            "priority": self.priority,
            "due_at": due,
            "reasons": list(self.reasons),
            "decided_by": self.decided_by,
            "version": self.version,
            "policy_version": self.policy_version,
            "uncertain": self.uncertain,
            "llm": self.llm.to_dict() if self.llm else None,
        }
