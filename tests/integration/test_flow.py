"""The whole path in-process on SQLite and PostgreSQL: brand, keys, FAQ upload, post, draft, edit,
approve, signed webhook, and the approved reply coming back as a past answer."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from standardwebhooks import WebhookVerificationError

from tests.conftest import VECTOR_BACKENDS, Api
from tests.fakes.receiver import WebhookReceiver, verified

pytestmark = VECTOR_BACKENDS  # each test on Qdrant Edge and on qdrant-client local mode

FAQ = [
    {
        "id": "faq-return",
        "question": "How do I return a product?",
        "answer": "Start your return at example.com/returns within 30 days; the label is free.",
    },
    {
        "id": "faq-password",
        "question": "How do I reset my password?",
        "answer": "Choose 'Forgot password' on the login page and follow the emailed link.",
    },
    {
        "id": "faq-shipping",
        "question": "Do you ship to Switzerland?",
        "answer": "Yes, we ship to Switzerland; duties are included at checkout.",
    },
]


async def post_question(api: Api, headers: dict[str, str], external_id: str, text: str, **extra: Any) -> str:
    body = {
        "brand": "shop",
        "channel": "twitter",
        "external_id": external_id,
        "text": text,
        "author": {"handle": "jane", "name": "Jane Doe", "followers": 120},
        **extra,
    }
    response = await api.client.post("/v1/posts", json=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "accepted"
    return str(response.json()["id"])


async def test_whole_path(api: Api, receiver: WebhookReceiver) -> None:
    brand = await api.brand("shop", webhook={"url": receiver.url})
    secret = brand["webhook"]["secret"]
    assert secret.startswith("whsec_")
    integration = await api.key("integration", ["shop"])
    agent = await api.key("agent", ["shop"])

    doc = await api.upload("shop", "faq.json", json.dumps(FAQ).encode(), kind="faq")
    doc = await api.wait_document("shop", doc["id"])
    assert doc["status"] == "ready" and doc["chunks"] == 3

    post_id = await post_question(api, integration, "t-1", "hey, how can I return the headphones I bought?")
    post = await api.wait_post(post_id, integration)
    assert post["status"] == "drafted", post
    assert post["triage"]["needs_reply"] is True
    draft = post["draft"]
    assert draft["sources"][0]["source_id"] == "faq-return"
    assert draft["sources"][0]["kind"] == "faq"
    assert "template" in draft["flags"]
    assert "returns" in draft["text"]

    # The agent edits, then approves with the version it saw.
    edited = await api.client.patch(
        f"/v1/drafts/{draft['id']}",
        json={"text": draft["text"] + " Thanks!"},
        headers={**agent, "If-Match": str(draft["version"])},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == draft["version"] + 1
    approved = await api.client.post(
        f"/v1/drafts/{draft['id']}/approve",
        json={},
        headers={**agent, "If-Match": str(edited.json()["version"])},
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"

    deliveries = await receiver.wait_for_async(3)  # post.triaged, draft.ready, reply.approved
    events = {json.loads(d["body"])["type"]: d for d in deliveries}
    assert set(events) == {"post.triaged", "draft.ready", "reply.approved"}
    approved_event = events["reply.approved"]
    data = verified(secret, approved_event)["data"]
    with pytest.raises(WebhookVerificationError):
        verified("whsec_" + base64.b64encode(b"x" * 32).decode(), approved_event)
    assert data["external_id"] == "t-1" and data["text"].endswith("Thanks!") and data["channel"] == "twitter"

    # The approved reply becomes a past answer that the next similar post finds.
    past_id = f"past:{draft['id']}"
    search = await api.poll(
        "/v1/brands/shop/knowledge/search?q=how+do+I+return+my+headphones&limit=5",
        agent,
        lambda body: any(h["source_id"] == past_id for h in body["hits"]),
        20,
    )
    assert any(h["kind"] == "past_answer" for h in search["hits"])
    second = await post_question(
        api, integration, "t-2", "how do I return headphones that I bought last week?"
    )
    post2 = await api.wait_post(second, integration)
    assert past_id in [s["source_id"] for s in post2["draft"]["sources"]]

    published = await api.client.post(
        f"/v1/posts/{post_id}/published", json={"external_reply_id": "r-1"}, headers=integration
    )
    assert published.status_code == 200 and published.json()["status"] == "published"


async def test_no_knowledge_gives_holding_reply(api: Api) -> None:
    await api.brand("shop", language="de")
    integration = await api.key("integration", ["shop"])
    post_id = await post_question(api, integration, "t-9", "Warum ist meine Lieferung noch nicht da?")
    post = await api.wait_post(post_id, integration)
    assert post["status"] == "drafted"
    assert "no_knowledge" in post["draft"]["flags"]
    assert post["draft"]["sources"] == [] and post["draft"]["confidence"] == 0.0
    assert "melden uns" in post["draft"]["text"]


async def test_duplicate_post_returns_same(api: Api) -> None:
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    first = await post_question(api, integration, "dup-1", "Where is my order?")
    again = await api.client.post(
        "/v1/posts",
        headers=integration,
        json={
            "brand": "shop",
            "channel": "twitter",
            "external_id": "dup-1",
            "text": "Where is my order?",
            "author": {"handle": "jane"},
        },
    )
    assert again.status_code == 200 and again.json()["id"] == first


async def test_reject_and_regenerate(api: Api) -> None:
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    agent = await api.key("agent", ["shop"])
    await api.upload("shop", "faq.json", json.dumps(FAQ).encode())
    post_id = await post_question(api, integration, "t-3", "I forgot my password, help?")
    draft = (await api.wait_post(post_id, integration))["draft"]
    regen = await api.client.post(
        f"/v1/drafts/{draft['id']}/regenerate", json={"instruction": "shorter"}, headers=agent
    )
    assert regen.status_code == 202, regen.text
    post = await api.poll(
        f"/v1/posts/{post_id}",
        agent,
        lambda p: p["status"] == "drafted" and p["draft"]["id"] != draft["id"],
        20,
    )
    assert post["draft"]["generation"] == 2
    old = await api.client.get(f"/v1/drafts/{draft['id']}", headers=agent)
    assert old.json()["status"] == "superseded"
    rejected = await api.client.post(
        f"/v1/drafts/{post['draft']['id']}/reject", json={"reason": "off"}, headers=agent
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert (await api.client.get(f"/v1/posts/{post_id}", headers=agent)).json()["status"] == "rejected"
