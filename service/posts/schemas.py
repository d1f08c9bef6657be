"""Request and response shapes for posts and drafts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.brands.schemas import SLUG_PATTERN


class Author(BaseModel):
    model_config = ConfigDict(extra="forbid")
    handle: str = Field(min_length=1, max_length=100)
    name: str | None = Field(default=None, max_length=200)
    followers: int | None = Field(default=None, ge=0)
    verified: bool = False


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


class PublishedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    external_reply_id: str = Field(min_length=1, max_length=200)
    url: str | None = Field(default=None, max_length=2048)


class SourceOut(BaseModel):
    source_id: str
    kind: str
    title: str
    score: float


class CheckOut(BaseModel):
    flag: str
    spans: list[tuple[int, int, str]] = Field(
        default_factory=list, description="[start, end, text] of the draft text the agent should look at"
    )
    detail: str | None = None


class DraftEditOut(BaseModel):
    distance: int = Field(description="Levenshtein distance from the generated text to the current one")
    ratio: float = Field(description="similarity 0..1 of the two texts")
    unchanged: bool
    diff: str = Field(description="unified diff, generated -> current")


class DraftOut(BaseModel):
    id: str
    post_id: str
    text: str
    language: str
    sources: list[SourceOut]
    confidence: float
    flags: list[str]
    version: int
    status: str
    generation: int
    created_at: datetime
    updated_at: datetime
    prompt_version: str | None = Field(default=None, description="hash of the prompt templates used")
    checks: list[CheckOut] = Field(default_factory=list, description="what the checks found, with spans")
    usage: dict[str, Any] | None = Field(default=None, description="tokens, calls, latency of this draft")
    instruction: str | None = Field(default=None, description="the agent's instruction for this generation")
    edit: DraftEditOut | None = Field(default=None, description="the agent's change to the generated text")


class DraftVersionsOut(BaseModel):
    items: list[DraftOut]


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
    triage: dict[str, Any] | None
    draft: DraftOut | None
    published: dict[str, Any] | None = None
    error: str | None = None
    incident_id: str | None = Field(
        default=None, description="the incident (many authors, one problem) this post belongs to"
    )
    holding_reply_at: datetime | None = Field(
        default=None, description="when the brand's approved out-of-hours reply went out for it"
    )


class PostAccepted(BaseModel):
    id: str
    status: str


class QueueOut(BaseModel):
    items: list[PostOut]
