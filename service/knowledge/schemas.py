"""Response shapes for knowledge documents and search."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class DocumentOut(BaseModel):
    id: str
    filename: str
    kind: str | None
    status: Literal["processing", "ready", "failed"]
    version: int
    chunks: int
    chunks_done: int
    chunks_total: int
    error: str | None = None
    created_at: datetime
    updated_at: datetime


class DocumentList(BaseModel):
    items: list[DocumentOut]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page")


class SearchHitOut(BaseModel):
    source_id: str
    kind: Literal["faq", "doc", "past_answer"]
    title: str
    text: str
    score: float
    url: str | None = None
    page: int | None = None


class SearchOut(BaseModel):
    hits: list[SearchHitOut]
