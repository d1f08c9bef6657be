"""The triage result as the API shows it (`triage` of a post)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Intent = Literal["question", "complaint", "request", "praise", "feedback", "spam", "other"]
Priority = Literal["urgent", "high", "normal", "low"]


class LLMVerdictOut(BaseModel):
    intent: str
    needs_reply: bool
    reason: str
    model: str


class TriageOut(BaseModel):
    needs_reply: bool
    intent: Intent
    sentiment: Literal["negative", "neutral", "positive"]
    sentiment_score: float = Field(default=0.0, description="-1 (angry) .. 1 (delighted)")
    language: str = Field(description="the post's language (ISO 639-1), the brand's when unclear")
    influence: float = Field(ge=0.0, description="reach of the author, 0..1+: followers, verified, channel")
    urgency: list[str] = Field(
        default_factory=list, description="signals: safety, outage, legal_threat, cancellation_threat, ..."
    )
    priority: Priority
    due_at: datetime = Field(description="first reply due, counted in the brand's business hours")
    reasons: list[str] = Field(description="why, in sentences an agent can read")
    decided_by: str = Field(default="rules", description="rules, rules+embedding or llm")
    version: str | None = Field(default=None, description="the triage rules version")
    policy_version: int | None = Field(
        default=None, description="the brand policy version the post was triaged under"
    )
    uncertain: bool = Field(default=False, description="the rules alone could not place the post")
    llm: LLMVerdictOut | None = None
