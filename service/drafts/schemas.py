"""Request and response shapes for drafts and review."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# An agent's reply text: long enough for a forum answer, short enough to read.
MAX_REPLY_CHARS = 20000


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
