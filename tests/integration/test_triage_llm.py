"""Triage with an LLM configured (fake OpenAI-compatible server; SQLite and PostgreSQL): asked only for
posts the rules leave open, says so in `decided_by`, falls back to the rules when the LLM fails, and is
not asked again when the brand's settings change."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Api
from tests.fakes.llm_server import FakeLLMServer, default_reply, last_user_text, parse_prompt

UNCLEAR_CHATTER = "hmm, interesting 🤔"
UNCLEAR_PROBLEM = "the parcel number is 4711"
QUESTION = "Do you ship to Switzerland?"
VERDICTS = {
    UNCLEAR_CHATTER: {"intent": "other", "needs_reply": False, "reason": "small talk, no request"},
    UNCLEAR_PROBLEM: {"intent": "complaint", "needs_reply": True, "reason": "a parcel problem"},
}


def is_triage(body: dict[str, Any]) -> bool:
    return "You sort social media posts" in str(body["messages"][0]["content"])


def reply(body: dict[str, Any]) -> str:
    if not is_triage(body):
        return default_reply(body)
    post = parse_prompt(last_user_text(body))["post"]
    return json.dumps(VERDICTS.get(post, {"intent": "no idea"}))


def triage_prompts(server: FakeLLMServer) -> list[str]:
    return [str(parse_prompt(last_user_text(b))["post"]) for b in server.chat_requests if is_triage(b)]


async def llm_api(make_client: Any, server: FakeLLMServer, **overrides: Any) -> Api:
    return await make_client(
        llm_base_url=server.base_url,
        llm_model="fake-model",
        llm_api_key="k",
        llm_timeout_s=2.0,
        llm_max_backoff_s=0.05,
        **overrides,
    )


async def send(api: Api, headers: dict[str, str], external_id: str, text: str) -> dict[str, Any]:
    body = {
        "brand": "shop",
        "channel": "twitter",
        "external_id": external_id,
        "text": text,
        "author": {"handle": external_id},
    }
    response = await api.client.post("/v1/posts", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return await api.wait_post(response.json()["id"], headers, timeout=40)


async def test_the_llm_decides_only_unclear_posts(make_client: Any, fake_llm: FakeLLMServer) -> None:
    fake_llm.set_reply(reply)
    api = await llm_api(make_client, fake_llm)
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    agent = await api.key("agent", ["shop"])

    chatter = await send(api, integration, "c1", UNCLEAR_CHATTER)
    assert chatter["status"] == "no_reply_needed"
    assert chatter["triage"]["decided_by"] == "llm"
    assert chatter["triage"]["llm"] == {
        "intent": "other",
        "needs_reply": False,
        "reason": "small talk, no request",
        "model": "fake-model",
    }
    assert "decided by the LLM" in chatter["triage"]["reasons"][0]

    problem = await send(api, integration, "c2", UNCLEAR_PROBLEM)
    assert problem["status"] == "drafted"
    assert (problem["triage"]["intent"], problem["triage"]["decided_by"]) == ("complaint", "llm")

    question = await send(api, integration, "c3", QUESTION)
    assert question["triage"]["decided_by"] == "rules" and question["status"] == "drafted"
    assert triage_prompts(fake_llm) == [UNCLEAR_CHATTER, UNCLEAR_PROBLEM]  # the clear question: no call

    # re-triage after a settings change reuses the verdict instead of asking again
    patched = await api.client.patch(
        "/v1/brands/shop", json={"sla_minutes": {"normal": 30}}, headers=api.admin
    )
    assert patched.status_code == 200
    again = await api.poll(
        f"/v1/posts/{problem['id']}", agent, lambda p: p["triage"]["policy_version"] == 2, 30
    )
    assert again["triage"]["decided_by"] == "llm" and again["triage"]["llm"]["reason"] == "a parcel problem"
    assert len(triage_prompts(fake_llm)) == 2


async def test_without_a_usable_llm_answer_the_rules_decide(
    make_client: Any, fake_llm: FakeLLMServer
) -> None:
    fake_llm.set_reply(reply)
    api = await llm_api(make_client, fake_llm, llm_attempts=2)
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    # an intent the service does not know, twice: the post keeps the rules' cautious "needs a reply"
    post = await send(api, integration, "u1", "well well well")
    assert post["status"] == "drafted"
    assert post["triage"]["needs_reply"] is True and post["triage"]["decided_by"] != "llm"
    assert "the LLM gave no usable answer" in post["triage"]["reasons"][-1]
    assert len(triage_prompts(fake_llm)) == 2
    # the LLM down altogether (HTTP 500): the same
    fake_llm.inject_many("500", 2)  # both attempts of the triage call
    down = await send(api, integration, "u2", UNCLEAR_CHATTER)
    assert down["triage"]["needs_reply"] is True and down["triage"]["decided_by"] != "llm"


async def test_bot_flag_and_captions_through_the_api(make_client: Any, fake_llm: FakeLLMServer) -> None:
    """author.bot (the helpdesk's flag): no reply and no LLM call. A photo caption is a soft no-reply
    of the rules: with an LLM configured, the LLM is asked and decides."""
    caption = "Abendlicht am Hafen 📷 #sommer"
    verdicts = {caption: {"intent": "question", "needs_reply": True, "reason": "asks where this is"}}

    def answer(body: dict[str, Any]) -> str:
        if not is_triage(body):
            return default_reply(body)
        return json.dumps(verdicts.get(parse_prompt(last_user_text(body))["post"], {"intent": "no idea"}))

    fake_llm.set_reply(answer)
    api = await llm_api(make_client, fake_llm)
    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    body = {
        "brand": "shop",
        "channel": "twitter",
        "external_id": "b1",
        "text": "Do you ship to Switzerland?",
        "author": {"handle": "deals_bot", "bot": True},
    }
    response = await api.client.post("/v1/posts", json=body, headers=integration)
    assert response.status_code == 202, response.text
    bot = await api.wait_post(response.json()["id"], integration, timeout=40)
    assert bot["status"] == "no_reply_needed"
    assert bot["triage"]["reasons"][0] == "no reply: the helpdesk flags the author as a bot"
    assert bot["author"]["bot"] is True
    bad = await api.client.post(
        "/v1/posts",
        json={**body, "external_id": "b2", "author": {"handle": "x", "bot": "maybe"}},
        headers=integration,
    )
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")

    decided = await send(api, integration, "c1", caption)
    assert decided["triage"]["decided_by"] == "llm" and decided["status"] == "drafted"
    assert triage_prompts(fake_llm) == [caption]  # the bot's post was not sent to the LLM
