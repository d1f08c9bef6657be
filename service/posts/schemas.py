"""Request and response shapes for posts and the review queue."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.brands.schemas import SLUG_PATTERN
from service.drafts.schemas import DraftOut
from service.team.schemas import AssigneeOut
from service.triage.schemas import TriageOut


class Author(BaseModel):
    model_config = ConfigDict(extra="forbid")
    handle: str = Field(min_length=1, max_length=100)
    name: str | None = Field(default=None, max_length=200)
    # bounded: the largest accounts have ~10**9 followers; beyond fits no database integer safely
    followers: int | None = Field(default=None, ge=0, le=10**12)
    verified: bool = False
    bot: bool = Field(default=False, description="the helpdesk flags this account as a bot: no reply")


class PostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    brand: str = Field(pattern=SLUG_PATTERN)
    channel: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    external_id: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=20000)
    author: Author
    url: str | None = Field(default=None, max_length=2048)
    created_at: datetime | None = None
    in_reply_to: str | None = Field(default=None, max_length=200)

    @field_validator("created_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        """Stored in UTC: a time near the ends of the calendar (9999-12-31T23:59:59-23:59) may have none."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError("this time cannot be expressed in UTC") from exc


class PublishedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    external_reply_id: str = Field(min_length=1, max_length=200)
    url: str | None = Field(default=None, max_length=2048)


class PostOut(BaseModel):
    id: str
    brand: str
    channel: str
    external_id: str
    status: str
    text: str
    author: dict[str, Any]
    url: str | None
    in_reply_to: str | None
    created_at: datetime
    received_at: datetime
    triage: TriageOut | None = Field(description="null until the post is triaged")
    draft: DraftOut | None = Field(description="the draft an agent works with: null until drafted")
    published: dict[str, Any] | None = None
    error: str | None = None
    incident_id: str | None = Field(
        default=None, description="the incident (many authors, one problem) this post belongs to"
    )
    holding_reply_at: datetime | None = Field(
        default=None, description="when the brand's approved out-of-hours reply went out for it"
    )
    assignee: AssigneeOut | None = Field(
        default=None, description="the team member working on it: assigned at triage, claimed or assigned"
    )


class PostAccepted(BaseModel):
    id: str
    status: str


class QueueOut(BaseModel):
    items: list[PostOut]
