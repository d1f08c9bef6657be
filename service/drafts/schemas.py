"""Request and response shapes for drafts and review."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

# An agent's reply text: long enough for a forum answer, short enough to read.
MAX_REPLY_CHARS = 20000


class SourceOut(BaseModel):
    source_id: str
    kind: str
    title: str
    score: float


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


class DraftEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=MAX_REPLY_CHARS)


class DraftApprove(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(default=None, max_length=MAX_REPLY_CHARS)


class DraftReject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)


class DraftRegenerate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instruction: str | None = Field(default=None, max_length=2000)
