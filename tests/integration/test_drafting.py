"""Drafting through the running app with the fake OpenAI-compatible server: output modes, repair and
fallback, the checks (citations, invented facts, length, language, form of address), thread and voice
in the prompt, abstention with near misses, budget, breaker, versions and edits, metrics."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Api
from tests.fakes.llm_server import FakeLLMServer, last_user_text, system_text

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

FAQ = [
    {
        "id": "faq-return",
        "question": "How do I return a product?",
        "answer": "Returns are free within 30 days at shop.example/returns.",
    },
    {"id": "faq-ship", "question": "Do you ship to Norway?", "answer": "Yes, we ship to Norway."},
]
DE_FAQ = [
    {
        "id": "de-erstattung",
        "question": "Mein Zug hatte Verspätung. Bekomme ich Geld zurück?",
        "answer": "Ab 60 Minuten Verspätung erstatten wir 25 Prozent des Fahrpreises. Den Antrag stellen "
        "Sie online im Fahrgastrechte-Formular.",
    }
]


def reply(text: str, *ids: str) -> str:
    return json.dumps({"reply": text, "source_ids": list(ids)}, ensure_ascii=False)


async def setup(
    make_client: Any,
    server: FakeLLMServer,
    *,
    brand: dict[str, Any] | None = None,
    faq: list[dict[str, Any]] | None = None,
    **overrides: Any,
) -> Api:
    settings = {
        "llm_base_url": server.base_url,
        "llm_model": "fake-model",
        "llm_api_key": "k",
        "llm_timeout_s": 1.0,
        "llm_max_backoff_s": 0.05,
        "llm_output_mode": "json_schema",
        **overrides,
    }
    api = await make_client(**settings)
    await api.brand("shop", **(brand or {}))
    if faq is not None:
        doc = await api.upload("shop", "faq.json", json.dumps(faq).encode())
        assert (await api.wait_document("shop", doc["id"]))["status"] == "ready"
    return api


async def ask(
    api: Api,
    external_id: str,
    text: str,
    *,
    channel: str = "twitter",
    in_reply_to: str | None = None,
    author: dict[str, Any] | None = None,
) -> dict[str, Any]:
    integration = await api.key("integration", ["shop"])
    body: dict[str, Any] = {
        "brand": "shop",
        "channel": channel,
        "external_id": external_id,
        "text": text,
        "author": author or {"handle": "kim", "name": "Kim"},
    }
    if in_reply_to:
        body["in_reply_to"] = in_reply_to
    response = await api.client.post("/v1/posts", json=body, headers=integration)
    assert response.status_code == 202, response.text
    post = await api.wait_post(response.json()["id"], integration, timeout=40)
    assert post["status"] == "drafted", post
    return post


def draft_prompt(server: FakeLLMServer) -> tuple[str, str]:
    body = next(b for b in server.chat_requests if "draft replies" in system_text(b))
    return system_text(body), last_user_text(body)


@pytest.mark.parametrize(
    ("mode", "capabilities", "found"),
    [
        ("json_schema", {}, "json_schema"),
        ("auto", {"supports_json_schema": False}, "json_object"),  # llama.cpp: 500 on json_schema
        ("auto", {"supports_response_format": False}, "text"),
        ("text", {}, "text"),
    ],
)
async def test_every_output_mode_drafts_the_same_grounded_reply(
    make_client: Any, fake_llm: FakeLLMServer, mode: str, capabilities: dict[str, bool], found: str
) -> None:
    for name, value in capabilities.items():
        setattr(fake_llm, name, value)
    api = await setup(make_client, fake_llm, faq=FAQ, llm_output_mode=mode)
    post = await ask(api, "m-1", "How can I return my order?")
    draft = post["draft"]
    assert draft["flags"] == ["llm"] and draft["checks"] == []
    assert draft["sources"][0]["source_id"] == "faq-return"
    assert draft["usage"]["output_mode"] == found and draft["usage"]["total_tokens"] > 0
    assert len(draft["prompt_version"]) == 12


async def test_malformed_json_is_repaired_once(make_client: Any, fake_llm: FakeLLMServer) -> None:
    api = await setup(make_client, fake_llm, faq=FAQ)
    fake_llm.inject("malformed")
    post = await ask(api, "r-1", "Do you ship to Norway?")
    assert post["draft"]["flags"] == ["llm"]
    repair = fake_llm.chat_requests[-1]["messages"]
    assert [m["role"] for m in repair] == ["system", "user", "assistant", "user"]
    assert "not JSON" in repair[-1]["content"] and repair[2]["content"] == '{"reply": "unterminated'
    assert post["draft"]["usage"]["calls"] == 2


async def test_malformed_twice_falls_back_to_template_at_once(
    make_client: Any, fake_llm: FakeLLMServer
) -> None:
    api = await setup(make_client, fake_llm, faq=FAQ)
    fake_llm.inject_many("bad_schema", 2)
    post = await ask(api, "r-2", "Do you ship to Norway?")
    draft = post["draft"]
    assert draft["flags"][:2] == ["template", "llm_failed"]
    assert "Yes, we ship to Norway." in draft["text"]
    assert len(fake_llm.chat_requests) == 2  # no job retry: the repair was the one second chance


async def test_a_source_it_was_not_given_is_dropped(make_client: Any, fake_llm: FakeLLMServer) -> None:
    api = await setup(make_client, fake_llm, faq=FAQ)
    fake_llm.set_reply(lambda body: reply("Yes, we ship to Norway.", "faq-secret", "faq-ship"))
    draft = (await ask(api, "c-1", "Do you ship to Norway?"))["draft"]
    assert draft["flags"] == ["llm", "unknown_source_cited"]
    assert "faq-secret" not in [s["source_id"] for s in draft["sources"]]
    assert draft["sources"][0]["source_id"] == "faq-ship"
    assert "faq-secret" in draft["checks"][0]["detail"]


async def test_an_invented_price_is_flagged_with_its_span(make_client: Any, fake_llm: FakeLLMServer) -> None:
    api = await setup(make_client, fake_llm, faq=FAQ)
    text = "Returns are free within 30 days, but the pick-up costs 49,99 €. Call 030 1234567."
    fake_llm.set_reply(lambda body: reply(text, "faq-return"))
    draft = (await ask(api, "p-1", "How do I return a product?"))["draft"]
    assert draft["flags"] == ["llm", "unsupported_claim"]
    spans = draft["checks"][0]["spans"]
    start = text.index("49,99 €")
    assert [start, start + len("49,99 €"), "49,99 €"] in spans
    assert [s[2] for s in spans] == ["49,99 €", "030 1234567"]  # 30 days is in the source


async def test_a_600_character_draft_for_x_is_shortened_by_the_model(
    make_client: Any, fake_llm: FakeLLMServer
) -> None:
    api = await setup(make_client, fake_llm, faq=FAQ)
    long = "Yes, we ship to Norway. " + "We really do ship there and we love it. " * 15

    def answer(body: dict[str, Any]) -> str:
        asked = body["messages"][-1]["content"]
        return reply("Yes, we ship to Norway.", "faq-ship") if "shorter" in asked else reply(long, "faq-ship")

    fake_llm.set_reply(answer)
    draft = (await ask(api, "x-1", "Do you ship to Norway?"))["draft"]
    assert len(long) > 590 and draft["text"] == "Yes, we ship to Norway."
    assert draft["flags"] == ["llm"] and draft["usage"]["calls"] == 2
    system, _ = draft_prompt(fake_llm)
    assert "at most 275 characters" in system  # 280 less "@kim " that X puts in front


async def test_a_600_character_draft_is_cut_at_a_sentence_when_the_model_will_not(
    make_client: Any, fake_llm: FakeLLMServer
) -> None:
    api = await setup(make_client, fake_llm, faq=FAQ)
    long = "Yes, we ship to Norway. " + "We really do ship there and we love it. " * 15
    fake_llm.set_reply(lambda body: reply(long, "faq-ship"))
    draft = (await ask(api, "x-2", "Do you ship to Norway?"))["draft"]
    assert "truncated" in draft["flags"] and len(draft["text"]) <= 275
    assert draft["text"].endswith(".")


async def test_markdown_is_removed_where_the_channel_shows_none(
    make_client: Any, fake_llm: FakeLLMServer
) -> None:
    api = await setup(make_client, fake_llm, faq=FAQ)
    fake_llm.set_reply(lambda body: reply("**Yes**, we ship to *Norway*.", "faq-ship"))
    draft = (await ask(api, "md-1", "Do you ship to Norway?"))["draft"]
    assert draft["text"] == "Yes, we ship to Norway." and draft["flags"] == ["llm"]


async def test_an_english_post_to_a_german_brand_is_answered_in_english(
    make_client: Any, fake_llm: FakeLLMServer
) -> None:
    api = await setup(
        make_client,
        fake_llm,
        brand={"language": "de", "settings": {"retrieval_min_score": 0.05}},
        faq=DE_FAQ,
    )
    english = (
        "From a delay of 60 minutes we refund 25 percent of the fare. You can apply online with the "
        "passenger rights form."
    )
    fake_llm.set_reply(lambda body: reply(english, "de-erstattung"))
    post = await ask(api, "en-1", "My train was more than an hour late, do I get money back?")
    draft = post["draft"]
    assert post["triage"]["language"] == "en"
    assert draft["language"] == "en" and draft["flags"] == ["llm"]
    system, user = draft_prompt(fake_llm)
    assert "Write in English" in system and "LANGUAGE: en" in user


async def test_a_german_reply_to_an_english_post_is_flagged(
    make_client: Any, fake_llm: FakeLLMServer
) -> None:
    api = await setup(
        make_client,
        fake_llm,
        brand={"language": "de", "settings": {"retrieval_min_score": 0.05}},
        faq=DE_FAQ,
    )
    german = (
        "Ab 60 Minuten Verspätung erstatten wir 25 Prozent des Fahrpreises. Den Antrag stellen Sie online."
    )
    fake_llm.set_reply(lambda body: reply(german, "de-erstattung"))
    draft = (await ask(api, "en-2", "My train was more than an hour late, do I get money back?"))["draft"]
    assert "wrong_language" in draft["flags"] and draft["language"] == "de"


async def test_the_brand_can_insist_on_its_own_language(make_client: Any, fake_llm: FakeLLMServer) -> None:
    api = await setup(
        make_client,
        fake_llm,
        brand={"language": "de", "settings": {"retrieval_min_score": 0.05, "reply_language": "brand"}},
        faq=DE_FAQ,
    )
    draft = (await ask(api, "en-3", "My train was more than an hour late, do I get money back?"))["draft"]
    system, user = draft_prompt(fake_llm)
    assert "Write in German" in system and "LANGUAGE: de" in user
    assert draft["language"] == "de"


async def test_template_for_an_english_post_with_only_german_knowledge_is_flagged(
    make_client: Any,
) -> None:
    api = await make_client()
    await api.brand(
        "shop", language="de", voice={"formality": "informal"}, settings={"retrieval_min_score": 0.05}
    )
    doc = await api.upload("shop", "faq.json", json.dumps(DE_FAQ).encode())
    await api.wait_document("shop", doc["id"])
    draft = (
        await ask(
            api,
            "t-1",
            "My train was an hour late, do I get money back?",
            author={"handle": "lena", "name": "Lena"},
        )
    )["draft"]
    assert draft["flags"][:1] == ["template"] and "wrong_language" in draft["flags"]
    assert draft["text"].startswith("Hi Lena,")
    check = next(c for c in draft["checks"] if c["flag"] == "wrong_language")
    assert "German" in check["detail"] and "English" in check["detail"]


@pytest.mark.parametrize(
    ("formality", "prompt_needle"),
    [("formal", 'formally with "Sie"'), ("informal", 'informally with "du"')],
)
async def test_formal_and_informal_german(
    make_client: Any, fake_llm: FakeLLMServer, formality: str, prompt_needle: str
) -> None:
    api = await setup(make_client, fake_llm, brand={"language": "de", "voice": {"formality": formality}})
    draft = (await ask(api, "f-1", "Warum ist meine Lieferung noch nicht da?"))["draft"]
    system, _ = draft_prompt(fake_llm)
    assert prompt_needle in system
    assert "no_knowledge" in draft["flags"]


@pytest.mark.parametrize(
    ("formality", "needles"),
    [
        ("formal", ("Hallo Kim", "bei Ihnen", "Schicken Sie uns bitte Ihre Bestellnummer")),
        ("informal", ("Hi Kim", "bei dir", "Schick uns bitte deine Bestellnummer")),
    ],
)
async def test_template_holding_reply_keeps_the_form_of_address_and_asks_for_the_order_number(
    make_client: Any, formality: str, needles: tuple[str, ...]
) -> None:
    api = await make_client()
    await api.brand("shop", language="de", voice={"formality": formality})
    draft = (await ask(api, "f-2", "Wo bleibt meine Bestellung? Seit zwei Wochen nichts, eine Frechheit!"))[
        "draft"
    ]
    assert all(n in draft["text"] for n in needles), draft["text"]
    assert "Das tut uns leid" in draft["text"]  # a negative post gets empathy first
    assert draft["flags"] == ["template", "no_knowledge"]


async def test_du_from_the_model_for_a_formal_brand_is_flagged(
    make_client: Any, fake_llm: FakeLLMServer
) -> None:
    api = await setup(make_client, fake_llm, brand={"language": "de", "voice": {"formality": "formal"}})
    fake_llm.set_reply(lambda body: reply("Hallo Kim, schick uns bitte deine Bestellnummer per DM."))
    draft = (await ask(api, "f-3", "Warum ist meine Lieferung noch nicht da?"))["draft"]
    assert "wrong_formality" in draft["flags"]
    assert [s[2] for s in draft["checks"][-1]["spans"]] == ["deine"]


async def test_a_thread_of_three_posts_reaches_the_prompt(make_client: Any, fake_llm: FakeLLMServer) -> None:
    api = await setup(make_client, fake_llm, faq=FAQ)
    await ask(api, "th-1", "I ordered headphones last week.")
    await ask(api, "th-2", "They arrived broken.", in_reply_to="th-1")
    fake_llm.clear_requests()
    post = await ask(api, "th-3", "How do I send them back?", in_reply_to="th-2")
    _, user = draft_prompt(fake_llm)
    lines = [line for line in user.splitlines() if line.startswith(("THREAD:", "POST:"))]
    assert lines == [
        "THREAD: I ordered headphones last week.",
        "THREAD: They arrived broken.",
        "POST: How do I send them back?",
    ]
    assert post["draft"]["flags"] == ["llm"]


async def test_voice_triage_and_data_fences_reach_the_prompt(
    make_client: Any, fake_llm: FakeLLMServer
) -> None:
    voice = {
        "formality": "informal",
        "persona": "Alex, cheerful",
        "signature": "– Team Shop",
        "banned_phrases": ["unfortunately"],
    }
    api = await setup(make_client, fake_llm, faq=FAQ, brand={"voice": voice})
    fake_llm.set_reply(lambda body: reply("Unfortunately we only ship to Norway. – Team Shop", "faq-ship"))
    draft = (
        await ask(
            api,
            "v-1",
            "My parcel never arrived and nobody answers. Terrible service! Do you even ship to Norway?",
        )
    )["draft"]
    system, user = draft_prompt(fake_llm)
    assert "Alex, cheerful" in system and "– Team Shop" in system and "unfortunately" in system
    assert "sentiment negative" in user and "start with one honest sentence of empathy" in system
    nonce = user.split("<<", 1)[1].split(">>", 1)[0]
    assert nonce.startswith("data-") and f"<</{nonce}>>" in user and nonce in system
    assert "Confidential marker: cnry-" in system
    assert "banned_phrase" in draft["flags"]
    assert next(c for c in draft["checks"] if c["flag"] == "banned_phrase")["spans"][0][2] == "Unfortunately"


async def test_a_supported_reply_stays_unflagged(make_client: Any, fake_llm: FakeLLMServer) -> None:
    api = await setup(make_client, fake_llm, faq=FAQ, brand={"voice": {"signature": "Shop team, 24/7"}})
    fake_llm.set_reply(
        lambda body: reply(
            "Hi Kim! Returns are free within 30 days: https://shop.example/returns. Shop team, 24/7",
            "faq-return",
        )
    )
    draft = (await ask(api, "s-1", "Can I return the 2 lamps I bought?"))["draft"]
    assert draft["flags"] == ["llm"] and draft["checks"] == []


async def test_abstention_keeps_the_near_misses_with_real_scores(
    make_client: Any, fake_llm: FakeLLMServer
) -> None:
    api = await setup(make_client, fake_llm, faq=FAQ, brand={"settings": {"retrieval_min_score": 0.99}})
    draft = (await ask(api, "n-1", "Where is my parcel? I ordered 2 weeks ago."))["draft"]
    assert "no_knowledge" in draft["flags"]
    scores = [s["score"] for s in draft["sources"]]
    assert scores and 0 < scores[0] < 0.99 and scores == sorted(scores, reverse=True)
    assert draft["confidence"] == round(scores[0], 4)
    system, user = draft_prompt(fake_llm)
    assert "(no sources fit this post)" in user and "their order number" in system


async def test_budget_exhausted_uses_the_template_and_shows_on_the_brand(
    make_client: Any, fake_llm: FakeLLMServer
) -> None:
    api = await setup(make_client, fake_llm, faq=FAQ, brand={"settings": {"monthly_token_budget": 1}})
    first = (await ask(api, "b-1", "Do you ship to Norway?"))["draft"]
    assert first["flags"] == ["llm"] and first["usage"]["total_tokens"] > 1
    second = (await ask(api, "b-2", "How do I return a product?"))["draft"]
    assert second["flags"][:2] == ["template", "budget_exhausted"]
    brand = (await api.client.get("/v1/brands/shop", headers=api.admin)).json()
    assert brand["token_budget"]["status"] == "exhausted"
    assert brand["token_budget"]["used"] == first["usage"]["total_tokens"]
    assert brand["settings"]["monthly_token_budget"] == 1


async def test_an_open_breaker_sends_drafts_to_templates_at_once(
    make_client: Any, fake_llm: FakeLLMServer
) -> None:
    api = await setup(
        make_client,
        fake_llm,
        faq=FAQ,
        llm_attempts=1,
        llm_breaker_failures=1,
        llm_breaker_reset_s=600,
        job_max_attempts=1,
    )
    fake_llm.inject_many("500", 20)
    first = (await ask(api, "o-1", "Do you ship to Norway?"))["draft"]
    second = (await ask(api, "o-2", "How do I return a product?"))["draft"]
    assert first["flags"][:2] == ["template", "llm_failed"] == second["flags"][:2]
    assert "circuit breaker" in next(c for c in second["checks"] if c["flag"] == "llm_failed")["detail"]
    assert len([b for b in fake_llm.chat_requests if "draft replies" in system_text(b)]) == 1
    metrics = (await api.client.get("/metrics")).text
    assert "reply_service_llm_breaker_open 1.0" in metrics


async def test_versions_instruction_edits_and_metrics(make_client: Any, fake_llm: FakeLLMServer) -> None:
    api = await setup(make_client, fake_llm, faq=FAQ)
    agent = await api.key("agent", ["shop"])
    post = await ask(api, "e-1", "Do you ship to Norway?")
    first = post["draft"]
    regen = await api.client.post(
        f"/v1/drafts/{first['id']}/regenerate", json={"instruction": "offer a call back"}, headers=agent
    )
    assert regen.status_code == 202
    post = await api.poll(
        f"/v1/posts/{post['id']}",
        agent,
        lambda p: p["status"] == "drafted" and p["draft"]["generation"] == 2,
        30,
    )
    user = last_user_text(fake_llm.chat_requests[-1])
    assert "Instruction from the care agent for this version (trusted): offer a call back" in user
    versions = (await api.client.get(f"/v1/drafts/{first['id']}/versions", headers=agent)).json()["items"]
    assert [(v["generation"], v["status"], v["instruction"]) for v in versions] == [
        (1, "superseded", None),
        (2, "pending", "offer a call back"),
    ]
    second = post["draft"]
    edited = await api.client.patch(
        f"/v1/drafts/{second['id']}",
        json={"text": second["text"] + " Call us back?"},
        headers={**agent, "If-Match": str(second["version"])},
    )
    assert edited.status_code == 200
    edit = edited.json()["edit"]
    assert edit["distance"] == len(" Call us back?") and not edit["unchanged"] and "+" in edit["diff"]
    approved = await api.client.post(
        f"/v1/drafts/{second['id']}/approve",
        json={"text": second["text"]},
        headers={**agent, "If-Match": str(edited.json()["version"])},
    )
    assert approved.status_code == 200 and approved.json()["edit"]["unchanged"] is True
    metrics = (await api.client.get("/metrics")).text
    assert 'reply_service_drafts_total{writer="llm"}' in metrics
    assert "reply_service_llm_tokens_total" in metrics and "reply_service_draft_seconds_bucket" in metrics
