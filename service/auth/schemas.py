"""Request and response shapes for API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    role: Literal["admin", "integration", "agent"]
    brands: list[str] | Literal["*"] = Field(description='brand slugs, or "*" for all brands')


class ApiKeyOut(BaseModel):
    id: str
    name: str
    role: str
    brands: list[str] | Literal["*"]
    key: str = Field(description="the secret: shown once, here, and never again")
    created_at: datetime
