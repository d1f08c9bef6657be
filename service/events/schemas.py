"""The `data` of each outbound event, built in one place. Every event's data carries its `post_id`; no
event carries post text, only the reply text an agent approved (or the admin-approved holding reply).
`webhook.test` (an admin's test send from the console) is the exception: no post, no text, no reply."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from service.models import Brand, Draft, Post


def _post_ref(post: Post) -> dict[str, Any]:
    return {"post_id": post.id, "external_id": post.external_id, "channel": post.channel}


def post_triaged(post: Post, *, retriaged: bool = False) -> dict[str, Any]:
    data = {**_post_ref(post), "status": post.status, "triage": post.triage, "incident_id": post.incident_id}
    if retriaged:
        data["retriaged"] = True
    return data


def draft_ready(post: Post, draft: Draft) -> dict[str, Any]:
    return {**_post_ref(post), "draft_id": draft.id, "flags": list(draft.flags)}


def reply_approved(brand: Brand, post: Post, draft: Draft) -> dict[str, Any]:
    return {
        **_post_ref(post),
        "draft_id": draft.id,
        "brand": brand.slug,
        "in_reply_to": post.external_id,
        "author": {"handle": (post.author or {}).get("handle")},
        "text": draft.text,
        "language": draft.language,
        "approved_at": draft.decided_at.isoformat() if draft.decided_at else None,
    }


def holding_reply(
    brand: Brand, post: Post, text: str, opens_at: datetime, approved_by: str | None
) -> dict[str, Any]:
    return {
        **_post_ref(post),
        "brand": brand.slug,
        "in_reply_to": post.external_id,
        "author": {"handle": (post.author or {}).get("handle")},
        "text": text,
        "opens_at": opens_at.isoformat(),
        "approved_by": approved_by,
    }


class DeliveryOut(BaseModel):
    """One outbound event as its delivery record. `id` is the event's id, the `webhook-id` every attempt
    (and every replay) carries; `event_id` repeats it, as the contract names both."""

    id: str
    event_id: str
    type: str
    status: Literal["pending", "delivered", "failed", "skipped"]
    attempts: int
    last_status_code: int | None = Field(description="the receiver's last HTTP status; null: no answer yet")
    next_attempt_at: datetime | None = Field(description="when the next attempt is due; null unless pending")
    last_error: str | None = None
    post_id: str | None = None
    created_at: datetime
    delivered_at: datetime | None = None
    replayed_at: datetime | None = None


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page")


class DeliveryReplayed(BaseModel):
    id: str
    status: Literal["pending"]


def webhook_test(brand: Brand, key_id: str) -> dict[str, Any]:
    """A signed test delivery to check the receiver end to end; nothing in it can be posted."""
    return {"post_id": None, "brand": brand.slug, "test": True, "sent_by": key_id}
