"""Analytics and knowledge gaps on SQLite and PostgreSQL, over posts seeded with explicit timestamps:
every figure below is worked out by hand from the fixture (the definitions: service/analytics/service.py).
Knowledge gaps group paraphrases in English and German with the service's real embedding model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from service.models import Brand, Draft, Incident, Post, utcnow
from service.runtime import Runtime
from tests.conftest import Api


def runtime_of(api: Api) -> Runtime:
    runtime: Runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def triage(intent: str, needs_reply: bool) -> dict[str, Any]:
    return {"needs_reply": needs_reply, "intent": intent, "priority": "normal"}


# Berlin is UTC+1 in early March: the period 2026-03-02..2026-03-03 runs 03-01 23:00 to 03-03 23:00 UTC.
# (id, posted_at UTC, intent, needs_reply, status, due_at UTC, incident)
POSTS = [
    (
        "p0",
        "2026-03-01T22:59",
        "question",
        True,
        "approved",
        "2026-03-02T01:00",
        None,
    ),  # 23:59 the day before
    ("p1", "2026-03-01T23:00", "question", True, "approved", "2026-03-02T01:00", None),  # 00:00 on the 2nd
    ("p2", "2026-03-02T10:00", "complaint", True, "approved", "2026-03-02T10:30", "inc"),
    ("p3", "2026-03-02T12:00", "question", True, "approved", "2026-03-02T14:00", "inc"),
    ("p4", "2026-03-03T08:00", "question", True, "drafted", "2026-03-03T09:00", None),  # open, past due
    ("p5", "2026-03-03T09:00", "praise", False, "no_reply_needed", None, None),
    ("p6", "2026-03-03T10:00", "complaint", True, "rejected", "2026-03-03T11:00", None),
    ("p7", "2026-03-03T22:59", "spam", False, "no_reply_needed", None, None),  # 23:59 on the 3rd
    ("p8", "2026-03-03T23:00", "question", True, "drafted", "2026-03-04T00:00", None),  # 00:00 on the 4th
    ("p9", "2026-03-02T13:00", "question", True, "published", "2026-03-02T13:30", None),
    ("p10", "2026-03-02T14:00", None, False, "accepted", None, None),  # not triaged yet
]
# (post, draft status, decided_at UTC, edit distance, first source id)
DRAFTS = [
    ("p0", "approved", "2026-03-02T00:00", 0, "faq-1"),
    ("p1", "approved", "2026-03-02T00:00", 0, "faq-1"),  # 60 min, unchanged, on time
    ("p2", "approved", "2026-03-02T10:45", 12, "faq-1"),  # 45 min, edited, after due: breach
    ("p3", "approved", "2026-03-02T12:10", 4, "faq-2"),  # 10 min, edited, on time
    ("p4", "pending", None, 0, None),
    ("p6", "rejected", "2026-03-03T11:30", 0, None),  # rejected: no breach
    ("p9", "approved", "2026-03-02T15:00", 0, "faq-1"),  # 120 min, unchanged, after due: breach
]


async def seed(runtime: Runtime) -> None:
    async with runtime.transaction() as session:
        brand_id = await session.scalar(sa.select(Brand.id).where(Brand.slug == "shop"))
        assert brand_id
        session.add(Incident(id="inc", brand_id=brand_id, title="Checkout outage"))
        await session.flush()
        for pid, posted, intent, needs, status, due, incident in POSTS:
            session.add(
                Post(
                    id=pid,
                    brand_id=brand_id,
                    channel="twitter",
                    external_id=pid,
                    text=f"post {pid}",
                    posted_at=utc(posted),
                    status=status,
                    triage=triage(intent, needs) if intent else None,
                    due_at=utc(due) if due else None,
                    incident_id=incident,
                )
            )
        await session.flush()
        for pid, status, decided, distance, source in DRAFTS:
            session.add(
                Draft(
                    post_id=pid,
                    text="final",
                    generated_text="final" if distance == 0 else "generated",
                    language="en",
                    status=status,
                    decided_at=utc(decided) if decided else None,
                    edit={"distance": distance, "unchanged": distance == 0} if status == "approved" else None,
                    sources=[{"source_id": source, "kind": "faq", "title": source.upper(), "score": 0.9}]
                    if source
                    else [],
                )
            )


async def test_figures_of_a_period(make_client: Any) -> None:
    api = await make_client(workers=0)
    await api.brand("shop", timezone="Europe/Berlin")
    await api.brand("other")
    await seed(runtime_of(api))
    agent = await api.key("agent", ["shop"])

    response = await api.client.get("/v1/brands/shop/analytics?from=2026-03-02&to=2026-03-03", headers=agent)
    assert response.status_code == 200, response.text
    body = response.json()
    # in the period: p1..p7, p9, p10 (p0 and p8 fall a minute outside, in Berlin time)
    assert (body["from_date"], body["to_date"]) == ("2026-03-02", "2026-03-03")
    assert body["posts_in"] == 9
    assert body["needs_reply"] == 6  # p1 p2 p3 p4 p6 p9
    assert body["answered"] == 4  # p1 p2 p3 p9
    assert (body["approved_unchanged"], body["approved_edited"], body["rejected"]) == (2, 2, 1)
    # first replies 60, 45, 10, 120 min -> sorted 10 45 60 120: p50 = 2nd (ceil(2)), p90 = 4th (ceil(3.6))
    assert body["first_reply_minutes"] == {"p50": 45.0, "p90": 120.0}
    assert body["sla_breaches"] == 3  # p2 and p9 approved late, p4 still open past due
    assert body["edit_distance_mean"] == 4.0  # (0 + 12 + 4 + 0) / 4
    assert body["intents"] == {"question": 4, "complaint": 2, "praise": 1, "spam": 1}
    assert (body["needs_reply_share"], body["answered_share"]) == (round(6 / 9, 4), round(4 / 6, 4))
    assert body["topics"]["sources"] == [
        {"source_id": "faq-1", "title": "FAQ-1", "posts": 3},
        {"source_id": "faq-2", "title": "FAQ-2", "posts": 1},
    ]
    assert body["topics"]["incidents"] == [{"id": "inc", "title": "Checkout outage", "posts": 2}]

    one_day = (
        await api.client.get("/v1/brands/shop/analytics?from=2026-03-01&to=2026-03-01", headers=agent)
    ).json()
    assert (one_day["posts_in"], one_day["answered"], one_day["first_reply_minutes"]["p50"]) == (
        1,
        1,
        61.0,
    )  # p0: 22:59 to 00:00
    empty = (await api.client.get("/v1/brands/other/analytics", headers=api.admin)).json()
    assert (empty["posts_in"], empty["first_reply_minutes"], empty["edit_distance_mean"]) == (
        0, {"p50": None, "p90": None}, None
    )  # fmt: skip
    today = utcnow().astimezone(UTC).date()
    assert abs((datetime.fromisoformat(empty["to_date"]).date() - today).days) <= 1
    assert (datetime.fromisoformat(empty["to_date"]) - datetime.fromisoformat(empty["from_date"])).days == 6


async def test_analytics_input_and_access(make_client: Any) -> None:
    api = await make_client(workers=0)
    await api.brand("shop")
    await api.brand("other")
    agent = await api.key("agent", ["shop"])
    integration = await api.key("integration", ["shop"])
    for query, field in (("from=2026-03-05&to=2026-03-01", "from"), ("from=2024-01-01&to=2026-01-01", "to")):
        bad = await api.client.get(f"/v1/brands/shop/analytics?{query}", headers=agent)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == field, bad.text
    malformed = await api.client.get("/v1/brands/shop/analytics?from=March", headers=agent)
    assert malformed.status_code in (400, 422) and "from" in malformed.text
    assert (await api.client.get("/v1/brands/other/analytics", headers=agent)).status_code == 403
    assert (await api.client.get("/v1/brands/shop/analytics", headers=integration)).status_code == 403
    assert (await api.client.get("/v1/brands/other/knowledge-gaps", headers=agent)).status_code == 403
    assert (await api.client.get("/v1/brands/nope/knowledge-gaps", headers=api.admin)).status_code == 404


# Three questions asked in English and German, most often first, then two asked once.
GAPS = {
    "paypal": [
        "Can I pay with PayPal?",
        "Kann ich mit PayPal bezahlen?",
        "Is PayPal accepted as payment?",
        "Nimmt ihr PayPal?",
    ],
    "password": [
        "How do I reset my password?",
        "@shop I forgot my password, how can I change it? https://t.co/x1",
        "Wie kann ich mein Passwort zurücksetzen?",
    ],
    "switzerland": ["Do you ship to Switzerland?", "Liefert ihr auch in die Schweiz?"],
    "hamburg": ["Where is your store in Hamburg?"],
    "voucher": ["Was kostet ein Geschenkgutschein?"],
}


async def test_knowledge_gaps_group_paraphrases_across_languages(make_client: Any) -> None:
    api = await make_client(workers=0)
    await api.brand("shop", language="de")
    await api.brand("other")
    agent = await api.key("agent", ["shop"])
    runtime = runtime_of(api)
    now = utcnow()
    expected: dict[str, set[str]] = {}
    questions: dict[str, str] = {}  # post id -> its text as a gap's question shows it (no handle, no link)
    async with runtime.transaction() as session:
        ids = dict((await session.execute(sa.select(Brand.slug, Brand.id))).all())
        rows: list[tuple[str, str, str, list[list[str]], str, bool]] = []  # id, brand, text, flags, status
        n = 0
        for topic, texts in GAPS.items():
            for text in texts:
                n += 1
                rows.append((f"g{n}", "shop", text, [["template", "no_knowledge"]], "drafted", True))
                expected.setdefault(topic, set()).add(f"g{n}")
                questions[f"g{n}"] = text.replace("@shop ", "").replace(" https://t.co/x1", "")
        rows += [
            # the latest draft found knowledge (an earlier one did not): no gap any more
            ("k1", "shop", "Can I pay with PayPal?", [["no_knowledge"], ["template"]], "drafted", True),
            ("k2", "shop", "Kann ich mit PayPal bezahlen?", [["no_knowledge"]], "no_reply_needed", False),
            ("k3", "other", "Can I pay with PayPal?", [["no_knowledge"]], "drafted", True),
        ]
        for i, (pid, slug, text, _, status, needs) in enumerate(rows):
            session.add(
                Post(
                    id=pid,
                    brand_id=ids[slug],
                    channel="twitter",
                    external_id=pid,
                    text=text,
                    status=status,
                    posted_at=now - timedelta(hours=i),
                    triage=triage("question", needs),
                )
            )
        await session.flush()
        for pid, _, _, generations, _, _ in rows:
            for generation, flags in enumerate(generations, start=1):
                session.add(Draft(post_id=pid, generation=generation, text="t", language="en", flags=flags))
        # a gap older than the window asked for
        session.add(Post(id="old", brand_id=ids["shop"], channel="twitter", external_id="old",
                         text="Do you ship to Austria?", status="drafted", posted_at=now - timedelta(days=40),
                         triage=triage("question", True)))  # fmt: skip
        await session.flush()
        session.add(Draft(post_id="old", text="t", language="en", flags=["no_knowledge"]))

    response = await api.client.get("/v1/brands/shop/knowledge-gaps", headers=agent)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    groups = [set(item["example_post_ids"]) for item in items]
    assert [item["posts"] for item in items] == [4, 3, 2, 1, 1], items
    assert groups[:3] == [expected["paypal"], expected["password"], expected["switzerland"]]
    # singletons: the more recent first (voucher was seeded after hamburg, one hour older)
    assert groups[3:] == [expected["hamburg"], expected["voucher"]]
    for item, topic in zip(items, ["paypal", "password", "switzerland", "hamburg", "voucher"], strict=True):
        central = item["example_post_ids"][0]  # the most central post comes first, its text is the question
        assert item["question"] == questions[central] and central in expected[topic]
    assert "@shop" not in response.text and "t.co" not in response.text

    limited = (await api.client.get("/v1/brands/shop/knowledge-gaps?limit=2", headers=agent)).json()["items"]
    assert [i["posts"] for i in limited] == [4, 3]
    wide = (await api.client.get("/v1/brands/shop/knowledge-gaps?days=60", headers=agent)).json()["items"]
    assert sum(i["posts"] for i in wide) == 12  # the Austria post joins (alone or with Switzerland)
