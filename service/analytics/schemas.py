"""Response shapes for analytics and knowledge gaps."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class Percentiles(BaseModel):
    p50: float | None
    p90: float | None


class SourceCount(BaseModel):
    source_id: str
    title: str | None
    posts: int


class IncidentCount(BaseModel):
    id: str
    title: str
    posts: int


class Topics(BaseModel):
    sources: list[SourceCount] = Field(description="the knowledge approved replies rested on most")
    incidents: list[IncidentCount] = Field(description="the incidents with the most posts")


class AnalyticsOut(BaseModel):
    brand: str
    from_date: date = Field(description="the period's first day (the `from` asked for)")
    to_date: date = Field(description="its last day, included")
    timezone: str
    posts_in: int
    needs_reply: int
    answered: int
    approved_unchanged: int
    approved_edited: int
    rejected: int
    first_reply_minutes: Percentiles
    sla_breaches: int
    edit_distance_mean: float | None
    intents: dict[str, int]
    needs_reply_share: float | None
    answered_share: float | None
    topics: Topics


class KnowledgeGap(BaseModel):
    question: str = Field(description="the most central post's text, cleaned")
    posts: int
    example_post_ids: list[str]
    last_post_at: datetime


class KnowledgeGaps(BaseModel):
    items: list[KnowledgeGap]
    since: datetime
