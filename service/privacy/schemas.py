"""Erasure requests and their state."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ErasureIn(BaseModel):
    channel: str = Field(min_length=1, max_length=32, description="the channel the author posts on")
    handle: str = Field(
        min_length=1, max_length=100, description="the author's handle; case and a leading @ do not matter"
    )


class ErasureOut(BaseModel):
    id: str
    status: Literal["pending", "done"]
    posts_deleted: int = 0
