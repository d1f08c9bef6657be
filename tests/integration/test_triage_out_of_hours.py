"""The out-of-hours holding reply (SQLite and PostgreSQL): off by default; written and approved by an
admin, each on its own; sent as a `post.holding_reply` event only for posts that need a reply while the
team is off, once per author; a changed text needs approving again."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tests.conftest import Api
from tests.fakes.receiver import WebhookReceiver

TZ = "Europe/Berlin"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOLDING = "Thanks for your message! Our team is back at 9:00 and will answer you then."


def closed_now_hours() -> dict[str, list[list[str]]]:
    """Opening hours that are closed now and for the next two days: one hour, three days from today."""
    today = datetime.now(ZoneInfo(TZ)).weekday()
    return {DAYS[(today + 3) % 7]: [["09:00", "10:00"]]}


async def send(
    api: Api, headers: dict[str, str], brand: str, external_id: str, text: str, handle: str
) -> str:
    body = {
        "brand": brand,
        "channel": "twitter",
        "external_id": external_id,
        "text": text,
        "author": {"handle": handle},
    }
    response = await api.client.post("/v1/posts", json=body, headers=headers)
    assert response.status_code == 202, response.text
    post = await api.wait_post(response.json()["id"], headers)
    assert post["status"] in ("drafted", "no_reply_needed"), post
    return str(post["id"])


async def holding_replies(api: Api, receiver: WebhookReceiver, expected_total: int) -> list[dict[str, Any]]:
    """Every post.holding_reply delivered, once every job (deliveries included) has finished: then the
    `expected_total` events are all there is, not just all that had arrived so far."""
    jobs = await api.settled_jobs()
    assert all(job.status == "done" for job in jobs), [(j.kind, j.status, j.last_error) for j in jobs]
    events = [json.loads(d["body"]) for d in receiver.received]
    assert len(events) == expected_total, [e["type"] for e in events]
    return [e for e in events if e["type"] == "post.holding_reply"]


async def test_holding_reply_is_off_by_default_and_needs_an_admins_approval(
    api: Api, receiver: WebhookReceiver
) -> None:
    await api.brand("shop", timezone=TZ, business_hours=closed_now_hours(), webhook={"url": receiver.url})
    integration = await api.key("integration", ["shop"])
    agent = await api.key("agent", ["shop"])
    scoped_admin = await api.key("admin", ["shop"])
    events = 0

    # off by default: a question at night gets a draft for the morning, nothing goes out
    first = await send(api, integration, "shop", "p1", "Do you ship to Switzerland?", "ann")
    events += 2  # post.triaged, draft.ready
    assert (await api.client.get(f"/v1/posts/{first}", headers=agent)).json()["holding_reply_at"] is None

    # only admins write it, and writing is not approving
    body = {"settings": {"out_of_hours_reply": {"text": HOLDING}}}
    assert (await api.client.patch("/v1/brands/shop", json=body, headers=agent)).status_code == 403
    approve_self = {"settings": {"out_of_hours_reply": {"text": HOLDING, "approved": True}}}
    refused = await api.client.patch("/v1/brands/shop", json=approve_self, headers=api.admin)
    assert refused.status_code == 422
    written = await api.client.patch("/v1/brands/shop", json=body, headers=api.admin)
    assert written.status_code == 200, written.text
    reply = written.json()["settings"]["out_of_hours_reply"]
    assert (reply["text"], reply["enabled"], reply["approved"]) == (HOLDING, True, False)
    assert written.json()["policy_version"] == 1  # not a triage change

    await send(api, integration, "shop", "p2", "Can I pay with PayPal?", "ben")
    events += 2  # written but not approved: still nothing

    approve = "/v1/brands/shop/out-of-hours-reply/approve"
    assert (await api.client.post(approve, headers=agent)).status_code == 403
    approved = await api.client.post(approve, headers=scoped_admin)
    assert approved.status_code == 200, approved.text
    reply = approved.json()["settings"]["out_of_hours_reply"]
    assert reply["approved"] is True and reply["approved_by"] and reply["approved_at"]

    question = await send(api, integration, "shop", "p3", "How long does delivery to Austria take?", "cleo")
    events += 3  # post.triaged, draft.ready, post.holding_reply
    again = await send(api, integration, "shop", "p4", "Hello?? Anyone there? Still waiting", "cleo")
    events += 2  # the same author again the same night: one holding reply is enough
    await send(api, integration, "shop", "p5", "Thank you so much, you are the best! 😊", "dana")
    events += 1  # praise needs no reply: no holding reply, no draft
    post = (await api.client.get(f"/v1/posts/{question}", headers=agent)).json()
    assert post["holding_reply_at"] is not None and post["draft"]["status"] == "pending"
    assert (await api.client.get(f"/v1/posts/{again}", headers=agent)).json()["holding_reply_at"] is None

    # new words withdraw the approval; switching it off and on with the same words keeps it
    changed = {"settings": {"out_of_hours_reply": {"text": HOLDING + " Have a good night!"}}}
    response = await api.client.patch("/v1/brands/shop", json=changed, headers=api.admin)
    assert response.json()["settings"]["out_of_hours_reply"]["approved"] is False
    await send(api, integration, "shop", "p6", "Is the blue jacket available in M?", "eve")
    events += 2
    assert (await api.client.post(approve, headers=api.admin)).status_code == 200
    off = {"settings": {"out_of_hours_reply": {"text": HOLDING + " Have a good night!", "enabled": False}}}
    response = await api.client.patch("/v1/brands/shop", json=off, headers=api.admin)
    assert response.json()["settings"]["out_of_hours_reply"]["approved"] is True
    await send(api, integration, "shop", "p7", "Do you have gift cards?", "fay")
    events += 2

    sent = await holding_replies(api, receiver, events)
    assert len(sent) == 1
    data = sent[0]["data"]
    assert (data["post_id"], data["external_id"], data["text"]) == (question, "p3", HOLDING)
    assert data["in_reply_to"] == "p3" and data["author"] == {"handle": "cleo"}
    opens = datetime.fromisoformat(data["opens_at"]).astimezone(ZoneInfo(TZ))
    assert (opens.hour, opens.minute, DAYS[opens.weekday()]) == (9, 0, next(iter(closed_now_hours())))


async def test_no_holding_reply_while_the_team_is_in(api: Api, receiver: WebhookReceiver) -> None:
    # open around the clock: never out of hours, approved reply or not
    await api.brand("shop", timezone=TZ, webhook={"url": receiver.url})
    nothing = await api.client.post("/v1/brands/shop/out-of-hours-reply/approve", headers=api.admin)
    assert nothing.status_code == 409  # no text to approve yet
    body = {"settings": {"out_of_hours_reply": {"text": HOLDING}}}
    assert (await api.client.patch("/v1/brands/shop", json=body, headers=api.admin)).status_code == 200
    no_text = await api.client.post("/v1/brands/nope/out-of-hours-reply/approve", headers=api.admin)
    assert no_text.status_code == 404
    assert (await api.client.post("/v1/brands/shop/out-of-hours-reply/approve", headers=api.admin)).is_success
    integration = await api.key("integration", ["shop"])
    await send(api, integration, "shop", "p1", "Do you ship to Switzerland?", "ann")
    assert await holding_replies(api, receiver, 2) == []
