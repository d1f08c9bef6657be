"""Response shapes for incidents."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class IncidentOut(BaseModel):
    id: str
    brand: str
    title: str = Field(description="the text of the post that best says what the incident is about")
    status: str = Field(description="open, closed (by an agent, or quiet for hours), or merged")
    merged_into: str | None
    post_count: int
    author_count: int
    first_post_at: datetime
    last_post_at: datetime
    created_at: datetime
    closed_at: datetime | None


class IncidentPost(BaseModel):
    id: str
    external_id: str
    channel: str
    author: str
    text: str
    status: str
    priority: str | None
    due_at: datetime | None
    created_at: datetime


class IncidentDetail(IncidentOut):
    posts: list[IncidentPost] = Field(description="its posts, oldest first (at most 500)")


class IncidentList(BaseModel):
    items: list[IncidentOut]


class IncidentRedraft(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instruction: str | None = Field(default=None, max_length=2000)


class IncidentRedrafted(BaseModel):
    redrafting: int = Field(description="posts whose unedited drafts are being written again")
