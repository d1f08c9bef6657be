"""Audit log output."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ActorOut(BaseModel):
    key_id: str | None = Field(description="the API key that made the change (null: the service itself)")
    name: str | None


class AuditEntryOut(BaseModel):
    at: datetime
    actor: ActorOut
    action: str = Field(
        description="create, update, upload, delete, edit, approve, reject, regenerate or erase"
    )
    target: str = Field(
        description="what changed: brand:<slug>, api_key:<id>, document:<id>, draft:<id>, ..."
    )
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class AuditOut(BaseModel):
    items: list[AuditEntryOut]
    next: str | None = Field(default=None, description="pass as `before=` for the next (older) page")
