"""Request and response shapes for feeds."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class FeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(
        min_length=1,
        max_length=2048,
        pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+\S*$",
        description="http(s); the webhook URL rules apply",
    )
    channel: str = Field(default="forum", pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    interval_s: int | None = Field(
        default=None, le=7 * 24 * 3600, description="seconds between polls; default and minimum: settings"
    )


class FeedOut(BaseModel):
    id: str
    url: str
    channel: str
    interval_s: int
    last_polled_at: datetime | None
    last_status: int | None = Field(description="HTTP status of the last poll (304: unchanged)")
    last_error: str | None
    posts_created: int
    created_at: datetime


class FeedList(BaseModel):
    items: list[FeedOut]
