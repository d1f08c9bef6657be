"""Erasing an author (SQLite and PostgreSQL): their posts, drafts, edits, past answers (database and
Qdrant), events (a pending reply is never sent), Idempotency-Key answers and audit texts go; reads are
404, knowledge search no longer finds the past answer, and no column of any table holds the handle or
the post text (checked by reading every row of every table, a check shown to find them before)."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tests.conftest import Api
from tests.fakes.receiver import WebhookReceiver

FAQ = [
    {
        "id": "faq-refund",
        "question": "How do I get a refund for a missing parcel?",
        "answer": "Report the missing parcel at example.com/claims and we refund it within 5 days.",
    }
]
HANDLE = "Jo_Erase"
TEXT_1 = "my parcel QX-5521 is missing, how do I get a refund for the missing parcel"
TEXT_2 = "also my second order WV-7730 never came, refund please"
KEEPER_TEXT = "how do I get a refund for my missing parcel from last week"
REPLY = f"Hi @{HANDLE}, report the missing parcel QX-5521 at example.com/claims."


def _dump(connection: Connection) -> list[tuple[str, str, str]]:
    """(table, column, value as lower-case text) for every value of every row of every table."""
    metadata = sa.MetaData()
    metadata.reflect(connection)
    found = []
    for table in metadata.sorted_tables:
        for row in connection.execute(sa.select(table)):
            for column, value in row._mapping.items():
                if value is None:
                    continue
                if isinstance(value, bytes | memoryview):
                    text = bytes(value).decode("utf-8", "ignore")
                elif isinstance(value, str):
                    text = value
                else:
                    text = json.dumps(value, ensure_ascii=False, default=str)
                found.append((table.name, str(column), text.lower()))
    return found


async def _holding(api: Api, needles: list[str]) -> set[tuple[str, str]]:
    runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.engine.connect() as conn:
        values = await conn.run_sync(_dump)
    lowered = [n.lower() for n in needles]
    return {(table, column) for table, column, text in values if any(n in text for n in lowered)}


async def _post(
    api: Api, headers: dict[str, str], external_id: str, text: str, handle: str, **kw: Any
) -> Any:
    body = {"brand": "shop", "channel": "twitter", "external_id": external_id, "text": text}
    body["author"] = {"handle": handle, "name": "Jo E."}
    return await api.client.post("/v1/posts", json=body, headers={**headers, **kw})


async def test_erasure_removes_every_trace(make_client: Any, receiver: WebhookReceiver) -> None:
    api: Api = await make_client(job_backoff_base_s=0.05, job_backoff_cap_s=0.3)
    await api.brand("shop", webhook={"url": receiver.url})
    integration = await api.key("integration", ["shop"])
    agent = await api.key("agent", ["shop"])
    doc = await api.upload("shop", "faq.json", json.dumps(FAQ).encode(), kind="faq")
    assert (await api.wait_document("shop", doc["id"]))["status"] == "ready"

    # The author posts twice, spelled two ways; an Idempotency-Key replay stores a whole post with text.
    first = await _post(api, integration, "e-1", TEXT_1, f"@{HANDLE}", **{"Idempotency-Key": "k-1"})
    assert first.status_code == 202, first.text
    p1 = first.json()["id"]
    p2 = (await _post(api, integration, "e-2", TEXT_2, HANDLE.lower())).json()["id"]
    repeat = await _post(api, integration, "e-1", TEXT_1, f"@{HANDLE}", **{"Idempotency-Key": "k-2"})
    assert repeat.status_code == 200 and repeat.json()["text"] == TEXT_1
    d1 = (await api.wait_post(p1, integration))["draft"]
    d2 = (await api.wait_post(p2, integration))["draft"]

    # The agent edits the first reply to greet them by name and approves it: an event, a past answer.
    edited = await api.client.patch(
        f"/v1/drafts/{d1['id']}", json={"text": REPLY}, headers={**agent, "If-Match": str(d1["version"])}
    )
    assert edited.status_code == 200, edited.text
    approved = await api.client.post(
        f"/v1/drafts/{d1['id']}/approve", headers={**agent, "If-Match": str(edited.json()["version"])}
    )
    assert approved.status_code == 200, approved.text
    past = f"past:{d1['id']}"
    await api.poll(
        "/v1/brands/shop/knowledge/search?q=" + KEEPER_TEXT.replace(" ", "+"),
        agent,
        lambda body: any(h["source_id"] == past for h in body["hits"]),
        30,
    )
    # Another author's draft is grounded on that past answer (its title is the erased post's text).
    keeper = (await _post(api, integration, "k-1", KEEPER_TEXT, "keeper")).json()["id"]
    keeper_post = await api.wait_post(keeper, integration)
    assert past in [s["source_id"] for s in keeper_post["draft"]["sources"]], keeper_post["draft"]

    # The second reply is approved while the receiver fails: its event stays pending, retried.
    await api.settled_jobs()
    receiver.statuses.extend([500] * 100_000)
    approved2 = await api.client.post(
        f"/v1/drafts/{d2['id']}/approve", headers={**agent, "If-Match": str(d2["version"])}
    )
    assert approved2.status_code == 200, approved2.text

    def p2_replies() -> int:
        return sum(
            1
            for d in receiver.received
            if json.loads(d["body"])["type"] == "reply.approved"
            and json.loads(d["body"])["data"]["post_id"] == p2
        )

    await api.poll("/health", {}, lambda _: p2_replies() >= 1, 20)

    needles = [HANDLE, TEXT_1, TEXT_2, "QX-5521"]
    before = await _holding(api, needles)
    # the check sees the data where it lies (it could fail): posts, drafts, events, idempotency, audit
    for table in ("posts", "drafts", "events", "idempotency_keys", "audit_log"):
        assert any(t == table for t, _ in before), (table, before)

    requested = await api.client.post(
        "/v1/brands/shop/erasures", json={"channel": "twitter", "handle": "@JO_ERASE"}, headers=api.admin
    )
    assert requested.status_code == 202, requested.text
    assert requested.json()["status"] == "pending"
    erasure_id = requested.json()["id"]
    done = await api.poll(
        f"/v1/brands/shop/erasures/{erasure_id}", api.admin, lambda e: e["status"] == "done", 30
    )
    assert done == {"id": erasure_id, "status": "done", "posts_deleted": 2}

    # Reads are 404; the other author's post stays, its source kept without the erased title.
    for path in (f"/v1/posts/{p1}", f"/v1/posts/{p2}"):
        assert (await api.client.get(path, headers=agent)).status_code == 404
    for draft_id in (d1["id"], d2["id"]):
        assert (await api.client.get(f"/v1/drafts/{draft_id}", headers=agent)).status_code == 404
    kept = await api.client.get(f"/v1/posts/{keeper}", headers=agent)
    assert kept.status_code == 200
    assert [s["title"] for s in kept.json()["draft"]["sources"] if s["source_id"] == past] == [""]

    # Knowledge search no longer finds the past answer; Qdrant holds no point of theirs.
    search = await api.client.get(
        "/v1/brands/shop/knowledge/search", params={"q": TEXT_1, "limit": 20}, headers=agent
    )
    assert search.status_code == 200 and past not in [h["source_id"] for h in search.json()["hits"]]
    runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    points, _ = await runtime.vectors._client.scroll(
        runtime.vectors.collection, limit=10_000, with_payload=True
    )
    assert points and not [p for p in points if p.payload.get("post_id") in (p1, p2)]
    payloads = json.dumps([p.payload for p in points]).lower()
    assert all(n.lower() not in payloads for n in needles)

    # No row of any table holds the handle or their text any more.
    assert await _holding(api, needles) == set()

    # The pending reply is never sent: the receiver answers again, another reply goes, theirs does not.
    await api.settled_jobs()
    attempts = p2_replies()
    receiver.statuses.clear()
    keeper_draft = keeper_post["draft"]
    ok = await api.client.post(
        f"/v1/drafts/{keeper_draft['id']}/approve",
        headers={**agent, "If-Match": str(keeper_draft["version"])},
    )
    assert ok.status_code == 200, ok.text
    await api.poll(
        "/health",
        {},
        lambda _: any(
            json.loads(d["body"])["type"] == "reply.approved"
            and json.loads(d["body"])["data"]["post_id"] == keeper
            for d in receiver.received
        ),
        20,
    )
    await api.settled_jobs()
    assert p2_replies() == attempts

    # The erasure is audited by a hash of the handle, and the texts of their drafts' audit are gone.
    audit = (await api.client.get("/v1/brands/shop/audit", headers=api.admin)).json()["items"]
    erase = next(i for i in audit if i["action"] == "erase")
    assert erase["target"].startswith("author:twitter:") and HANDLE.lower() not in json.dumps(erase).lower()
    theirs = [i for i in audit if i["target"] in (f"draft:{d1['id']}", f"draft:{d2['id']}")]
    assert {i["action"] for i in theirs} == {"edit", "approve"}
    assert all(i["before"] == {"erased": True} and i["after"] == {"erased": True} for i in theirs)


async def test_erasure_input_and_scope(api: Api) -> None:
    await api.brand("shop")
    await api.brand("other")
    other_admin = await api.key("admin", ["other"])
    agent = await api.key("agent", ["shop"])
    cases = [
        ({"channel": "twitter"}, "handle"),
        ({"channel": "twitter", "handle": "@"}, "handle"),
        ({"handle": "jo"}, "channel"),
        ({"channel": "twitter", "handle": "x" * 101}, "handle"),
    ]
    for body, field in cases:
        response = await api.client.post("/v1/brands/shop/erasures", json=body, headers=api.admin)
        assert response.status_code == 422, (body, response.text)
        assert field in json.dumps(response.json()["errors"]), response.json()
    body = {"channel": "twitter", "handle": "jo"}
    assert (await api.client.post("/v1/brands/shop/erasures", json=body, headers=agent)).status_code == 403
    assert (
        await api.client.post("/v1/brands/shop/erasures", json=body, headers=other_admin)
    ).status_code == 403
    assert (
        await api.client.post("/v1/brands/nope/erasures", json=body, headers=api.admin)
    ).status_code == 404
    made = await api.client.post("/v1/brands/shop/erasures", json=body, headers=api.admin)
    assert made.status_code == 202
    wrong_brand = await api.client.get(f"/v1/brands/other/erasures/{made.json()['id']}", headers=api.admin)
    assert wrong_brand.status_code == 404
    done = await api.poll(
        f"/v1/brands/shop/erasures/{made.json()['id']}", api.admin, lambda e: e["status"] == "done", 20
    )
    assert done["posts_deleted"] == 0


async def test_incidents_lose_the_erased_posts_and_their_words(api: Api) -> None:
    from service.incidents.service import _title
    from service.models import Brand, Incident, Post

    await api.brand("shop")
    integration = await api.key("integration", ["shop"])
    erased_text = "the app login fails with error LX-4410 since this morning"
    kept_text = "cannot log in to the app this morning"
    mine = (await _post(api, integration, "i-1", erased_text, HANDLE)).json()["id"]
    alone = (await _post(api, integration, "i-2", "login broken LX-4410 again", HANDLE)).json()["id"]
    theirs = (await _post(api, integration, "i-3", kept_text, "someone_else")).json()["id"]
    await api.settled_jobs(timeout=90)
    runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.transaction() as session:
        brand_id = await session.scalar(sa.select(Brand.id).where(Brand.slug == "shop"))
        shared = Incident(brand_id=brand_id, title=_title(erased_text), post_count=2, author_count=2)
        only_theirs = Incident(brand_id=brand_id, title="login broken", post_count=1, author_count=1)
        session.add_all([shared, only_theirs])
        await session.flush()
        shared_id, only_id = shared.id, only_theirs.id
        await session.execute(
            sa.update(Post).where(Post.id.in_([mine, theirs])).values(incident_id=shared_id)
        )
        await session.execute(sa.update(Post).where(Post.id == alone).values(incident_id=only_id))
    made = await api.client.post(
        "/v1/brands/shop/erasures", json={"channel": "twitter", "handle": HANDLE}, headers=api.admin
    )
    assert made.status_code == 202
    await api.poll(
        f"/v1/brands/shop/erasures/{made.json()['id']}", api.admin, lambda e: e["status"] == "done", 20
    )
    async with runtime.sessionmaker() as session:
        shared = await session.get(Incident, shared_id)
        assert shared is not None and shared.title == _title(kept_text)
        assert (shared.post_count, shared.author_count) == (1, 1)
        assert await session.get(Incident, only_id) is None  # nobody's post is left in it
    assert await _holding(api, ["LX-4410", HANDLE]) == set()
